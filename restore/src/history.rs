// SPDX-License-Identifier: GPL-2.0
//! Histories: op lists that build a tree the way real programs do (fork,
//! setsid, setpgid, subreapers, exit, reap, threads), with pids handed out
//! in order like the kernel does. complex_sessions() is the spec's tree,
//! which `demo` builds on a real kernel (its dump then carries the kernel's
//! own CABA). random::random() feeds only the host unit tests of the
//! planners on the model: every tree the restorer is measured on in the VM
//! comes from the selftests' scenarios and random generator.

use crate::dump::{Id, OUTSIDE};
use crate::model::World;
use crate::plan::Op;

pub struct History {
    pub ops: Vec<Op>,
    pub root: Id,
    pub world: World,
}

/// The spec's "complex sessions" scenario (the 2022 selftest): P1 is the
/// namespace init (pid 1), P2..P7 get pids 2..7.
pub fn complex_sessions() -> History {
    let fork = |a: Id, c: Id| Op::Fork {
        actor: a,
        child: c,
        pids: vec![c],
        new_pidns: false,
        clone_parent: false,
    };
    let ops = vec![
        Op::Fork {
            actor: OUTSIDE,
            child: 1,
            pids: vec![1],
            new_pidns: true,
            clone_parent: false,
        },
        Op::Setsid { actor: 1 },
        fork(1, 2),
        Op::Setsid { actor: 2 },
        fork(2, 3),
        fork(3, 4),
        fork(4, 5),
        Op::Setsid { actor: 4 },
        fork(4, 6),
        fork(6, 7),
        Op::Subreaper { actor: 2, on: true },
        Op::Exit { actor: 6 },
        Op::Reap { actor: 4, child: 6 },
        Op::Subreaper { actor: 2, on: false },
        Op::Exit { actor: 3 },
        Op::Reap { actor: 2, child: 3 },
    ];
    let mut world = World::new();
    for op in &ops {
        world.apply(op).expect("complex_sessions runs on the model");
    }
    History { ops, root: 1, world }
}

/// Random histories for the host unit tests of the planners (model only).
#[cfg(test)]
pub mod random {
    use super::*;
    use crate::model::State;
    use std::collections::BTreeMap;

    /// xorshift64*: small, deterministic, good enough for test shapes.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        pub fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
        pub fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
            if v.is_empty() {
                None
            } else {
                Some(v[self.below(v.len())])
            }
        }
    }

    #[derive(Clone, Copy, Debug)]
    pub struct Shape {
        /// Operations to attempt.
        pub steps: usize,
        /// Stop forking at this many present processes.
        pub max_procs: usize,
        /// The root is the namespace init (else a child of a non-dumped init,
        /// like the selftests' hook root).
        pub root_is_init: bool,
        pub nested_ns: bool,
        pub threads: bool,
        /// Forks into a descendant pid namespace after setns() (as readers
        /// and unshare(CLONE_NEWPID) make), and main threads that exit alone.
        pub setns: bool,
    }

    #[cfg(test)]
    impl Shape {
        pub fn small(steps: usize) -> Shape {
            Shape {
                steps,
                max_procs: 12,
                root_is_init: true,
                nested_ns: true,
                threads: true,
                setns: true,
            }
        }
    }

    /// A random history under one root.
    pub fn random(seed: u64, shape: Shape) -> History {
        let mut rng = Rng::new(seed);
        let mut w = World::new();
        let mut ops = vec![];
        let mut next: BTreeMap<Id, i32> = BTreeMap::new(); // ns key -> next pid
        let apply = |w: &mut World, ops: &mut Vec<Op>, op: Op| -> bool {
            if w.apply(&op).is_ok() {
                ops.push(op);
                true
            } else {
                false
            }
        };
        apply(
            &mut w,
            &mut ops,
            Op::Fork {
                actor: OUTSIDE,
                child: 1,
                pids: vec![1],
                new_pidns: true,
                clone_parent: false,
            },
        );
        next.insert(1, 2);
        let root = if shape.root_is_init {
            1
        } else {
            if rng.chance(30) {
                apply(&mut w, &mut ops, Op::Setsid { actor: 1 });
            }
            next.insert(1, 3);
            apply(
                &mut w,
                &mut ops,
                Op::Fork {
                    actor: 1,
                    child: 2,
                    pids: vec![2],
                    new_pidns: false,
                    clone_parent: false,
                },
            );
            2
        };
        let in_tree = |w: &World, id: Id| -> bool {
            let mut x = id;
            loop {
                if x == root {
                    return true;
                }
                match w.tasks.get(&x) {
                    Some(t) if t.state != State::Released && x != OUTSIDE => x = t.parent,
                    _ => return false,
                }
            }
        };
        for _ in 0..shape.steps {
            let alive: Vec<Id> = w
                .tasks
                .iter()
                .filter(|(&k, t)| t.state == State::Alive && !t.leader_gone && in_tree(&w, k))
                .map(|(&k, _)| k)
                .collect();
            let present = w
                .tasks
                .iter()
                .filter(|(&k, t)| t.state != State::Released && in_tree(&w, k))
                .count();
            let Some(a) = rng.pick(&alive) else { break };
            let r = rng.below(100);
            if shape.setns && r < 6 {
                // Fork into a namespace below the actor's own (setns).
                if present >= shape.max_procs {
                    continue;
                }
                let own = w.tasks[&a].nss.clone();
                let inner: Vec<Id> = w
                    .tasks
                    .iter()
                    .filter(|(&k, t)| {
                        t.state == State::Alive
                            && in_tree(&w, k)
                            && t.nss.last() == Some(&k)
                            && t.nss.len() > own.len()
                            && t.nss.starts_with(&own)
                    })
                    .map(|(&k, _)| k)
                    .collect();
                let Some(k) = rng.pick(&inner) else { continue };
                let chain = w.tasks[&k].nss.clone();
                let mut pids = vec![];
                for &ns in &chain {
                    let n = next.entry(ns).or_insert(2);
                    pids.push(*n);
                    *n += 1;
                }
                let child = pids[0];
                let own_key = *own.last().unwrap_or(&1);
                if apply(&mut w, &mut ops, Op::Setns { actor: a, ns: k }) {
                    apply(
                        &mut w,
                        &mut ops,
                        Op::Fork {
                            actor: a,
                            child,
                            pids,
                            new_pidns: false,
                            clone_parent: false,
                        },
                    );
                    apply(&mut w, &mut ops, Op::Setns { actor: a, ns: own_key });
                }
                continue;
            }
            if shape.setns && r == 6 && rng.chance(30) {
                if a != root && !w.tasks[&a].threads.is_empty() {
                    apply(&mut w, &mut ops, Op::LeaderExit { actor: a });
                }
                continue;
            }
            if r < 40 {
                if present >= shape.max_procs {
                    continue;
                }
                let at = w.tasks[&a].clone();
                let newpid = shape.nested_ns && at.pids.len() < 4 && rng.chance(8);
                let cparent = !newpid && a != root && rng.chance(10);
                let mut pids = vec![];
                for (lvl, &ns) in at.nss.iter().enumerate() {
                    let n = next.entry(ns).or_insert(2);
                    // A fresh namespace hands out 1 first.
                    let _ = lvl;
                    pids.push(*n);
                    *n += 1;
                }
                if newpid {
                    pids.push(1);
                }
                let child = pids[0];
                if apply(
                    &mut w,
                    &mut ops,
                    Op::Fork {
                        actor: a,
                        child,
                        pids,
                        new_pidns: newpid,
                        clone_parent: cparent,
                    },
                ) && newpid
                {
                    next.insert(child, 2);
                }
            } else if r < 50 {
                apply(&mut w, &mut ops, Op::Setsid { actor: a });
            } else if r < 60 {
                let t = w.tasks[&a].clone();
                let groups: Vec<Id> = w
                    .tasks
                    .values()
                    .filter(|o| o.state != State::Released && o.sid == t.sid)
                    .map(|o| o.pgid)
                    .collect();
                let g = if rng.chance(40) {
                    a
                } else {
                    rng.pick(&groups).unwrap_or(a)
                };
                apply(&mut w, &mut ops, Op::Setpgid { actor: a, pgid: g });
            } else if r < 68 {
                let on = !w.tasks[&a].subreaper;
                apply(&mut w, &mut ops, Op::Subreaper { actor: a, on });
            } else if r < 86 {
                if a != root && !w.is_ns_init(a) {
                    apply(&mut w, &mut ops, Op::Exit { actor: a });
                }
            } else if r < 96 {
                let zombies: Vec<(Id, Id)> = w
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.state == State::Zombie)
                    .map(|(&k, t)| (t.parent, k))
                    .collect();
                if let Some((p, z)) = rng.pick(&zombies) {
                    apply(&mut w, &mut ops, Op::Reap { actor: p, child: z });
                }
            } else if shape.threads {
                let t = w.tasks[&a].clone();
                let mut tids = vec![];
                for &ns in &t.nss {
                    let n = next.entry(ns).or_insert(2);
                    tids.push(*n);
                    *n += 1;
                }
                apply(&mut w, &mut ops, Op::Thread { actor: a, tids });
            }
        }
        History {
            ops,
            root,
            world: w,
        }
    }
}
