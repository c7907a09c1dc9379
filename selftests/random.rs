// SPDX-License-Identifier: GPL-2.0
//! Seeded random operation sequences, each step checked against the model.
//! The seed of a failing sequence is printed; CABA_SEED=<seed> replays it.

use crate::model::{State, RUNNER};
use crate::world::{Flags, World};

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

const MAX_LEVEL: usize = 3;
const MAX_PROCS: usize = 12;

/// One sequence of `ops` random operations.
pub fn sequence(seed: u64, ops: usize) -> Result<usize, String> {
    let mut w = World::new()?;
    let mut rng = Rng::new(seed);
    let mut names = 0;
    let mut threads = 0;
    w.spawn(
        "runner",
        "p0",
        Flags {
            clone_parent: false,
            new_pid_ns: false,
        },
    )?;
    for _ in 0..ops {
        let m = &w.m;
        let alive: Vec<usize> = m
            .present_procs()
            .filter(|&p| m.procs[p].state == State::Alive)
            .collect();
        let zombies: Vec<usize> = m
            .present_procs()
            .filter(|&p| m.procs[p].state == State::Zombie)
            .collect();
        let Some(p) = rng.pick(&alive) else { break };
        let name = m.procs[p].name.clone();
        let pr = &m.procs[p];
        // A creator whose children would land in a namespace that is gone
        // (its init exited) cannot fork.
        let child_ns_ok = m.ns[pr.ns_for_children]
            .init
            .map_or(true, |i| m.procs[i].state == State::Alive);
        match rng.below(12) {
            0..=3 if child_ns_ok && m.present_procs().count() < MAX_PROCS => {
                let creator = match rng.pick(&pr.threads) {
                    Some(t) if rng.chance(40) => t,
                    _ => name.clone(),
                };
                // CLONE_NEWPID only from a process whose children land in
                // its own namespace (else EINVAL), and not too deep.
                let new_pid_ns =
                    pr.ns_for_children == pr.ns && m.ns[pr.ns].level < MAX_LEVEL && rng.chance(15);
                // CLONE_PARENT is refused to namespace inits.
                let clone_parent = !m.is_ns_init(p) && rng.chance(20);
                let child = format!("p{}", {
                    names += 1;
                    names
                });
                w.spawn(
                    &creator,
                    &child,
                    Flags {
                        clone_parent,
                        new_pid_ns,
                    },
                )?;
            }
            // No CLONE_THREAD once children go to another pid namespace (EINVAL).
            4 if pr.threads.len() < 2 && pr.ns_for_children == pr.ns => {
                let t = format!("t{}", {
                    threads += 1;
                    threads
                });
                w.thread(&name, &t)?;
            }
            5 if !pr.threads.is_empty() => {
                let t = rng.pick(&pr.threads).unwrap_or_default();
                w.thread_exit(&t)?;
            }
            6 | 7 if !(m.is_ns_init(p) && m.ns_has_others(pr.ns, p)) => w.exit(&name)?,
            8 => {
                if let Some(z) = rng.pick(&zombies) {
                    let z = m.procs[z].name.clone();
                    w.reap(&z)?;
                }
            }
            9 => match rng.below(3) {
                0 => drop(w.setsid(&name, false)?),
                1 => drop(w.setpgid(&name, false)?),
                _ => {
                    let on = !pr.subreaper;
                    w.subreaper(&name, on)?;
                }
            },
            10 => {
                let agent = rng
                    .pick(&pr.threads)
                    .filter(|_| rng.chance(60))
                    .unwrap_or(name.clone());
                w.exec(&agent)?;
            }
            11 => {
                // setns into a live namespace below p's own, or unshare.
                let own_level = m.ns[pr.ns].level;
                let targets: Vec<usize> = m
                    .live_namespaces()
                    .into_iter()
                    .filter(|&n| m.ns[n].level > own_level && m.ns_at(n, own_level) == Some(pr.ns))
                    .collect();
                if let Some(n) = rng.pick(&targets).filter(|_| rng.chance(50)) {
                    let init = m.procs[m.ns[n].init.unwrap_or(RUNNER)].name.clone();
                    w.setns(&name, &init)?;
                } else if pr.ns_for_children == pr.ns && own_level < MAX_LEVEL {
                    w.unshare_pid_ns(&name)?;
                }
            }
            _ => {}
        }
    }
    Ok(w.steps.len())
}

/// `count` sequences from consecutive seeds starting at `first`.
pub fn run(first: u64, count: u64, ops: usize) -> Result<String, String> {
    let mut steps = 0;
    for seed in first..first + count {
        steps += sequence(seed, ops).map_err(|e| {
            format!("seed {seed} (replay: CABA_SEED={seed} CABA_RANDOM_RUNS=1): {e}")
        })?;
    }
    Ok(format!(
        "{count} sequences from seed {first}, {steps} steps"
    ))
}
