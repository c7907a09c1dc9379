// SPDX-License-Identifier: GPL-2.0
//! A bounded fork/exit/exec/namespace load for the CABA checker: while it
//! runs, caba_check is loaded again and again and must find no violation.
//!
//!   churn WORKERS SECONDS [SEED [STOPFILE]]
//!
//! It stops at the deadline or as soon as STOPFILE exists.
//!
//! Each worker is a process that loops over random operations until the
//! deadline: fork+exit, orphans (reparented to the worker or to init),
//! threads, exec from a non-leader thread, setsid, subreaper on/off,
//! CLONE_PARENT, new pid namespaces, and zombies reaped late. Every child
//! execs this program in a role, so nothing runs after fork in a
//! multi-threaded process. Prints the number of operations done.

#[allow(dead_code)] // churn needs only part of the selftests' syscall layer
#[path = "../../selftests/sys.rs"]
mod sys;

use std::time::{Duration, Instant};

fn exe() -> String {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn role(r: &str) -> sys::Exec {
    sys::Exec::new(&[exe(), "--role".into(), r.into()])
}

/// What a child does, by name.
fn run_role(r: &str) -> i32 {
    match r {
        "exit" => 0,
        "orphan" => sys::spawn(0, &role("linger")).map_or(1, |_| 0),
        "linger" => {
            std::thread::sleep(Duration::from_millis(20));
            0
        }
        "setsid" => sys::new_session().map_or(1, |_| 0),
        "threads" => {
            let ts: Vec<_> = (0..3)
                .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_millis(1))))
                .collect();
            ts.into_iter().all(|t| t.join().is_ok()) as i32 ^ 1
        }
        "thread-exec" => {
            let t = std::thread::spawn(|| role("exit").exec());
            let _ = t.join(); // only reached if execve() failed
            1
        }
        "clone-parent" => sys::spawn(sys::CLONE_PARENT, &role("exit")).map_or(1, |_| 0),
        "pidns-init" => {
            for _ in 0..2 {
                if sys::spawn(0, &role("orphan")).is_err() {
                    return 1;
                }
            }
            // Reap our children and the orphans that come to us as init.
            while sys::wait_pid(-1, 0).is_ok() {}
            0
        }
        _ => 2,
    }
}

/// Pause between a worker's operations.
const PACE_MS: u64 = 2;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn worker(seed: u64, deadline: Instant, stop: &str) -> u64 {
    let mut rng = Rng(seed | 1);
    let mut ops = 0u64;
    let mut unreaped = 0usize;
    while Instant::now() < deadline && !(ops % 16 == 0 && std::path::Path::new(stop).exists()) {
        let spawned = match rng.next() % 10 {
            0 | 1 => sys::spawn(0, &role("exit")),
            2 => sys::spawn(0, &role("orphan")),
            3 => sys::spawn(0, &role("threads")),
            4 => sys::spawn(0, &role("thread-exec")),
            5 => sys::spawn(0, &role("setsid")),
            6 => sys::spawn(0, &role("clone-parent")),
            7 => sys::spawn(sys::CLONE_NEWPID, &role("pidns-init")),
            8 => {
                let _ = sys::set_subreaper(rng.next() % 2 == 0);
                Ok(0)
            }
            _ => {
                // Reap late: let zombies pile up, then take them all.
                while sys::wait_pid(-1, sys::WNOHANG).is_ok_and(|r| r.is_some()) {
                    unreaped = unreaped.saturating_sub(1);
                }
                Ok(0)
            }
        };
        if spawned.is_ok_and(|p| p > 0) {
            unreaped += 1;
        }
        ops += 1;
        // Paced: the load is meant to interleave with the checker's loads,
        // not to starve them (under TCG two busy workers fill two vCPUs).
        std::thread::sleep(Duration::from_millis(PACE_MS));
        if unreaped > 32 {
            while unreaped > 8 && sys::wait_pid(-1, 0).is_ok() {
                unreaped -= 1;
            }
        }
    }
    while sys::wait_pid(-1, 0).is_ok() {}
    ops
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--role" {
        sys::exit_group(run_role(&args[2]));
    }
    let (Some(workers), Some(secs)) = (
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: churn WORKERS SECONDS [SEED [STOPFILE]]");
        std::process::exit(2);
    };
    let seed = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);
    let stop = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "/nonexistent".into());
    let deadline = Instant::now() + Duration::from_secs(secs);
    // Workers are processes: each reports its count through its exit pipe.
    let mut pipes: Vec<std::fs::File> = vec![];
    for w in 0..workers {
        let (r, wr) = sys::make_pipe().unwrap_or_else(|e| {
            eprintln!("churn: pipe: {e}");
            std::process::exit(1)
        });
        let stop = stop.clone();
        match sys::fork_run(move || {
            use std::io::Write;
            let n = worker(seed * 1000 + w, deadline, &stop);
            let mut wr = wr;
            let _ = writeln!(wr, "{n}");
            0
        }) {
            Ok(_) => pipes.push(r),
            Err(e) => {
                eprintln!("churn: fork: {e}");
                std::process::exit(1);
            }
        }
    }
    let mut total = 0u64;
    for r in pipes {
        let mut s = String::new();
        use std::io::Read;
        let _ = (&r).read_to_string(&mut s);
        total += s.trim().parse::<u64>().unwrap_or(0);
    }
    while sys::wait_pid(-1, 0).is_ok() {}
    println!("churn: {total} operations by {workers} workers in {secs} s");
}
