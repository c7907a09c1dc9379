// SPDX-License-Identifier: GPL-2.0
//! Seeded random operation sequences, each step checked against the model.
//!
//! choose() picks the next operation from the model alone (a pure
//! function of the model and the generator), so a seed always gives the
//! same sequence and the host unit tests can measure which operations a
//! seed range covers without a kernel. Every sequence's seed is printed;
//! CABA_SEED=<seed> CABA_RANDOM_RUNS=1 replays it.

use crate::model::{Model, Pid, State, ROOT};
use crate::world::{Flags, Vm, World, PLAIN};
use std::collections::BTreeMap;

/// xorshift64*: small, seedable, no crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            Some(v[self.below(v.len())].clone())
        }
    }
}

pub const MAX_LEVEL: usize = 3;
pub const MAX_PROCS: usize = 12;

#[derive(Clone, Debug)]
pub enum Op {
    /// `creator` is a process or thread agent name.
    Fork {
        creator: String,
        child: String,
        flags: Flags,
    },
    Thread {
        proc_name: String,
        name: String,
    },
    ThreadExit {
        name: String,
    },
    LeaderExit {
        name: String,
    },
    Exit {
        name: String,
    },
    Reap {
        name: String,
    },
    Setsid {
        name: String,
    },
    Setpgid {
        name: String,
        group: Option<String>,
    },
    Subreaper {
        name: String,
        on: bool,
    },
    Sigchld {
        name: String,
        ignore: bool,
    },
    Exec {
        agent: String,
    },
    Setns {
        name: String,
        target: String,
    },
    Unshare {
        name: String,
    },
}

/// What a sequence may do: namespaces need root.
#[derive(Clone, Copy)]
pub struct Caps {
    pub namespaces: bool,
}

/// Names for new processes and threads within one sequence.
#[derive(Default)]
pub struct Names {
    procs: usize,
    threads: usize,
}

impl Names {
    fn proc_name(&mut self) -> String {
        self.procs += 1;
        format!("p{}", self.procs)
    }
    fn thread_name(&mut self) -> String {
        self.threads += 1;
        format!("t{}", self.threads)
    }
}

/// One candidate: the kind it counts as, and the operation.
type Cand = (&'static str, Op);

/// How often each kind is drawn, when possible.
fn weight(kind: &str) -> u32 {
    match kind {
        // Possible only in rare states: when they are, likely.
        "clone_parent_after_reparent" | "exit_orphans_in_nested_ns" | "last_thread_exits" => 10,
        "exit_zombie_of_zombie" => 6,
        "fork" | "reap" | "exit" | "leader_exits" => 4,
        "vfork" | "clone_vm" => 1,
        "fork_from_thread" | "clone_newpid" | "clone_parent" | "thread" | "setpgid_join"
        | "subreaper_off" | "sigchld_default" | "setns" => 3,
        _ => 2,
    }
}

/// The candidate operations in this state of the model.
fn candidates(m: &Model, rng: &mut Rng, names: &mut Names, caps: Caps) -> Vec<Cand> {
    let mut c: Vec<Cand> = vec![];
    let count = m.present_procs().count();
    let alive: Vec<Pid> = m.present_procs().filter(|&p| m.alive(p)).collect();
    // Every way `creator` can make a child, one candidate each.
    let forks = |names: &mut Names,
                 creator: Pid,
                 from_thread: bool,
                 agent: String,
                 reparented_only: bool|
     -> Vec<Cand> {
        if count >= MAX_PROCS {
            return vec![];
        }
        let pr = &m.procs[creator];
        let lands = if from_thread {
            pr.ns
        } else {
            pr.ns_for_children
        };
        let mut out = vec![];
        let flavors: &[(&'static str, Flags)] = &[
            ("fork", PLAIN),
            (
                "vfork",
                Flags {
                    vm: Vm::Vfork,
                    ..PLAIN
                },
            ),
            (
                "clone_vm",
                Flags {
                    vm: Vm::Shared,
                    ..PLAIN
                },
            ),
            (
                "clone_newpid",
                Flags {
                    new_pid_ns: true,
                    ..PLAIN
                },
            ),
            (
                "clone_parent",
                Flags {
                    clone_parent: true,
                    ..PLAIN
                },
            ),
            (
                "clone_parent",
                Flags {
                    clone_parent: true,
                    vm: Vm::Vfork,
                    ..PLAIN
                },
            ),
        ];
        for &(kind, f) in flavors {
            if f.new_pid_ns && (!caps.namespaces || m.ns[lands].level >= MAX_LEVEL) {
                continue;
            }
            if m.fork_refused(creator, from_thread, f.model()).is_some() {
                continue;
            }
            let kind = match kind {
                "clone_parent" if pr.reparented => "clone_parent_after_reparent",
                _ if reparented_only => continue,
                "fork" if from_thread => "fork_from_thread",
                k => k,
            };
            out.push((
                kind,
                Op::Fork {
                    creator: agent.clone(),
                    child: names.proc_name(),
                    flags: f,
                },
            ));
        }
        out
    };
    if count == 0 {
        // A sequence starts with the root making the first process.
        return forks(names, ROOT, false, "root".into(), false)
            .into_iter()
            .filter(|(k, _)| *k == "fork")
            .collect();
    }
    if count < 3 {
        c.extend(forks(names, ROOT, false, "root".into(), false));
    }
    for &p in &alive {
        let pr = &m.procs[p];
        let name = pr.name.clone();
        // The agent that acts for the process: its main thread, else a thread.
        let leader = pr.leader_alive;
        if leader {
            c.extend(forks(names, p, false, name.clone(), false));
        }
        if let Some(t) = rng.pick(&pr.threads) {
            c.extend(forks(names, p, true, t, false));
        }
        // No CLONE_THREAD once children go to another pid namespace (EINVAL).
        if pr.threads.len() < 2 && (pr.ns_for_children == pr.ns || !leader) {
            c.push((
                "thread",
                Op::Thread {
                    proc_name: name.clone(),
                    name: names.thread_name(),
                },
            ));
        }
        let init_with_others = m.is_ns_init(p) && m.ns_has_others(pr.ns, p);
        if let Some(t) = rng.pick(&pr.threads) {
            let last = !leader && pr.threads.len() == 1;
            if !(last && init_with_others) {
                let kind = if last {
                    "last_thread_exits"
                } else {
                    "thread_exit"
                };
                c.push((kind, Op::ThreadExit { name: t }));
            }
        }
        if leader && !pr.threads.is_empty() {
            c.push(("leader_exits", Op::LeaderExit { name: name.clone() }));
        }
        if !init_with_others {
            let caba_zombie = m.caba(p).is_some_and(|q| m.procs[q].state == State::Zombie);
            let has_children = m.present_procs().any(|q| m.procs[q].parent == Some(p));
            let nested_orphans = m.level(p) > 0 && !m.is_ns_init(p) && has_children;
            let kind = if caba_zombie {
                "exit_zombie_of_zombie"
            } else if nested_orphans {
                "exit_orphans_in_nested_ns"
            } else {
                "exit"
            };
            c.push((kind, Op::Exit { name: name.clone() }));
        }
        c.push(("setsid", Op::Setsid { name: name.clone() }));
        c.push((
            "setpgid_own",
            Op::Setpgid {
                name: name.clone(),
                group: None,
            },
        ));
        // Not for a pid namespace init: any group it can name has a pid in
        // its namespace, which its PGID link keeps allocated until its own
        // release_task(). zap_pid_ns_processes() would wait for that pid
        // forever, whether the init exits during the sequence or is killed
        // after it, and every later sequence would spend
        // kill_descendants()'s 60 s on it.
        let joinable = if m.is_ns_init(p) {
            vec![]
        } else {
            m.joinable_groups(p)
        };
        if let Some(g) = rng.pick(&joinable) {
            c.push((
                "setpgid_join",
                Op::Setpgid {
                    name: name.clone(),
                    group: Some(m.procs[g].name.clone()),
                },
            ));
        }
        let kind = if pr.subreaper {
            "subreaper_off"
        } else {
            "subreaper_on"
        };
        c.push((
            kind,
            Op::Subreaper {
                name: name.clone(),
                on: !pr.subreaper,
            },
        ));
        let kind = if pr.ignores_sigchld {
            "sigchld_default"
        } else {
            "sigchld_ignore"
        };
        c.push((
            kind,
            Op::Sigchld {
                name: name.clone(),
                ignore: !pr.ignores_sigchld,
            },
        ));
        let exec_agent = match rng.pick(&pr.threads) {
            Some(t) if rng.chance(60) || !leader => t,
            _ => name.clone(),
        };
        let kind = if exec_agent == name {
            "exec"
        } else {
            "exec_from_thread"
        };
        c.push((kind, Op::Exec { agent: exec_agent }));
        if caps.namespaces && leader {
            // setns into a live namespace below p's own, or unshare.
            let own = m.ns[pr.ns].level;
            let targets: Vec<usize> = m
                .live_namespaces()
                .into_iter()
                .filter(|&n| m.ns[n].level > own && m.ns_at(n, own) == Some(pr.ns))
                .filter(|&n| m.ns[n].init.is_some_and(|i| m.procs[i].leader_alive))
                .collect();
            if let Some(n) = rng.pick(&targets) {
                let init = m.ns[n].init.unwrap_or(ROOT);
                c.push((
                    "setns",
                    Op::Setns {
                        name: name.clone(),
                        target: m.procs[init].name.clone(),
                    },
                ));
            }
            if pr.ns_for_children == pr.ns && own < MAX_LEVEL {
                c.push(("unshare", Op::Unshare { name: name.clone() }));
            }
        }
    }
    for p in m
        .present_procs()
        .filter(|&p| m.procs[p].state == State::Zombie)
    {
        let pr = &m.procs[p];
        let parent_can_wait = pr.parent.is_some_and(|q| q == ROOT || m.alive(q));
        if pr.tracer.is_none() && parent_can_wait {
            c.push((
                "reap",
                Op::Reap {
                    name: pr.name.clone(),
                },
            ));
        }
    }
    c
}

/// The next operation and the kind it counts as, or None if nothing is
/// possible. A kind is drawn first (each possible kind with its weight,
/// however many processes offer it), then one of its candidates: so rare
/// states get their operations too.
pub fn choose(
    m: &Model,
    rng: &mut Rng,
    names: &mut Names,
    caps: Caps,
) -> Option<(&'static str, Op)> {
    let c = candidates(m, rng, names, caps);
    let mut kinds: Vec<(&'static str, u32)> = vec![];
    for (kind, _) in &c {
        if !kinds.iter().any(|(k, _)| k == kind) {
            kinds.push((kind, weight(kind)));
        }
    }
    let total: u32 = kinds.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut x = rng.below(total as usize) as u32;
    let kind = kinds
        .iter()
        .find(|(_, w)| {
            let hit = x < *w;
            x = x.saturating_sub(*w);
            hit
        })?
        .0;
    let of_kind: Vec<Op> = c
        .into_iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, op)| op)
        .collect();
    rng.pick(&of_kind).map(|op| (kind, op))
}

/// Carry out `op` on real processes (each World method checks afterwards).
pub fn apply(w: &mut World, op: &Op) -> Result<(), String> {
    match op {
        Op::Fork {
            creator,
            child,
            flags,
        } => w.spawn(creator, child, *flags),
        Op::Thread { proc_name, name } => w.thread(proc_name, name),
        Op::ThreadExit { name } => w.thread_exit(name),
        Op::LeaderExit { name } => w.leader_exit(name),
        Op::Exit { name } => w.exit(name),
        Op::Reap { name } => w.reap(name).map(drop),
        Op::Setsid { name } => w.setsid(name).map(drop),
        Op::Setpgid { name, group } => w.setpgid(name, group.as_deref()).map(drop),
        Op::Subreaper { name, on } => w.subreaper(name, *on),
        Op::Sigchld { name, ignore } => w.ignore_sigchld(name, *ignore),
        Op::Exec { agent } => w.exec(agent),
        Op::Setns { name, target } => w.setns(name, target),
        Op::Unshare { name } => w.unshare_pid_ns(name),
    }
}

/// One sequence of at most `ops` operations from `seed`.
pub fn sequence(
    seed: u64,
    ops: usize,
    caps: Caps,
    kinds: &mut BTreeMap<&'static str, usize>,
) -> Result<String, String> {
    let mut w = World::labelled(&format!("randomized:seed={seed}"))?;
    let mut rng = Rng::new(seed);
    let mut names = Names::default();
    for _ in 0..ops {
        let Some((kind, op)) = choose(&w.m, &mut rng, &mut names, caps) else {
            break;
        };
        *kinds.entry(kind).or_default() += 1;
        apply(&mut w, &op)?;
    }
    w.done()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Apply `op` to the model alone, with made-up pid numbers: what the
    /// World does, less the kernel.
    fn simulate(m: &mut Model, threads: &mut BTreeMap<String, Pid>, op: &Op) {
        let find = |m: &Model, n: &str| m.find(n).unwrap();
        match op {
            Op::Fork {
                creator,
                child,
                flags,
            } => {
                let (c, from_thread) = match threads.get(creator) {
                    Some(&p) => (p, true),
                    None => (find(m, creator), false),
                };
                assert_eq!(
                    m.fork_refused(c, from_thread, flags.model()),
                    None,
                    "{op:?}"
                );
                let id = m.fork(c, from_thread, child, flags.model());
                m.procs[id].nspid = (0..=m.level(id)).map(|l| (id * 100 + l) as i32).collect();
            }
            Op::Thread { proc_name, name } => {
                let p = find(m, proc_name);
                m.procs[p].threads.push(name.clone());
                threads.insert(name.clone(), p);
            }
            Op::ThreadExit { name } => {
                let p = threads.remove(name).unwrap();
                let last = !m.procs[p].leader_alive && m.procs[p].threads.len() == 1;
                m.procs[p].threads.retain(|t| t != name);
                if last {
                    m.exit(p);
                }
            }
            Op::LeaderExit { name } => {
                let p = find(m, name);
                m.procs[p].leader_alive = false;
            }
            Op::Exit { name } => {
                let p = find(m, name);
                m.exit(p);
            }
            Op::Reap { name } => {
                let p = find(m, name);
                m.reap(p);
            }
            Op::Setsid { name } => {
                let p = find(m, name);
                m.setsid(p);
            }
            Op::Setpgid { name, group } => {
                let p = find(m, name);
                let g = group.as_deref().map(|g| find(m, g));
                m.setpgid(p, g);
            }
            Op::Subreaper { name, on } => {
                let p = find(m, name);
                m.procs[p].subreaper = *on;
            }
            Op::Sigchld { name, ignore } => {
                let p = find(m, name);
                m.procs[p].ignores_sigchld = *ignore;
            }
            Op::Exec { agent } => {
                let (p, from_thread) = match threads.get(agent) {
                    Some(&p) => (p, true),
                    None => (find(m, agent), false),
                };
                m.exec(p, from_thread);
            }
            Op::Setns { name, target } => {
                let (p, t) = (find(m, name), find(m, target));
                m.procs[p].ns_for_children = m.procs[t].ns;
            }
            Op::Unshare { name } => {
                let p = find(m, name);
                m.unshare_pid_ns(p);
            }
        }
        // Threads of processes that exited or exec'd are gone.
        threads.retain(|t, p| m.procs[*p].threads.contains(t));
    }

    /// The kinds `runs` sequences from `first` cover, in the model alone.
    pub fn coverage(
        first: u64,
        runs: u64,
        ops: usize,
        caps: Caps,
    ) -> BTreeMap<&'static str, usize> {
        let mut kinds = BTreeMap::new();
        for seed in first..first + runs {
            let mut m = Model::new(1000);
            let mut rng = Rng::new(seed);
            let mut names = Names::default();
            let mut threads = BTreeMap::new();
            for _ in 0..ops {
                let Some((kind, op)) = choose(&m, &mut rng, &mut names, caps) else {
                    break;
                };
                *kinds.entry(kind).or_default() += 1;
                simulate(&mut m, &mut threads, &op);
                // No namespace init in a group with a pid in its namespace:
                // it could never finish dying (see candidates()).
                for p in m.present_procs() {
                    let g = m.procs[p].pgid;
                    assert!(
                        !m.is_ns_init(p) || g == p || !m.visible_in(g, m.procs[p].ns),
                        "seed {seed}, {op:?}: namespace init {} in group {}",
                        m.procs[p].name,
                        m.procs[g].name
                    );
                }
            }
        }
        kinds
    }

    pub const ALL_KINDS: &[&str] = &[
        "fork",
        "fork_from_thread",
        "vfork",
        "clone_vm",
        "clone_newpid",
        "clone_parent",
        "clone_parent_after_reparent",
        "thread",
        "thread_exit",
        "last_thread_exits",
        "leader_exits",
        "exit",
        "exit_zombie_of_zombie",
        "exit_orphans_in_nested_ns",
        "reap",
        "setsid",
        "setpgid_own",
        "setpgid_join",
        "subreaper_on",
        "subreaper_off",
        "sigchld_ignore",
        "sigchld_default",
        "exec",
        "exec_from_thread",
        "setns",
        "unshare",
    ];

    #[test]
    fn default_runs_cover_every_kind() {
        let (seed, runs, ops) = crate::RANDOM_DEFAULTS;
        let kinds = coverage(seed, runs, ops, Caps { namespaces: true });
        eprintln!("defaults {seed} {runs} {ops}: {kinds:?}");
        let missing: Vec<&&str> = ALL_KINDS
            .iter()
            .filter(|k| !kinds.contains_key(*k))
            .collect();
        assert!(missing.is_empty(), "never chosen: {missing:?} in {kinds:?}");
        for k in kinds.keys() {
            assert!(ALL_KINDS.contains(k), "{k} missing from ALL_KINDS");
        }
    }

    #[test]
    fn many_seeds_keep_the_model_consistent() {
        // simulate() asserts what the kernel would refuse; the model's own
        // asserts guard reaps. Thousands of sequences in milliseconds.
        coverage(1, 2000, 40, Caps { namespaces: true });
        coverage(1, 500, 40, Caps { namespaces: false });
    }

    #[test]
    fn same_seed_same_sequence() {
        let a = coverage(77, 1, 30, Caps { namespaces: true });
        let b = coverage(77, 1, 30, Caps { namespaces: true });
        assert_eq!(a, b);
    }
}
