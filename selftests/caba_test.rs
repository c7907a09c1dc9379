// SPDX-License-Identifier: GPL-2.0
//! Selftests for CABA, the closest alive born ancestor shown as NScaba in
//! /proc/<pid>/status. Every scenario drives real processes and, after
//! every step, compares NScaba and PPid of every process, from the root pid
//! namespace and from inside every namespace the scenario made, with a
//! model of Documentation/filesystems/proc.rst's definition.
//!
//! Standard library only; KTAP output. Environment:
//!   CABA_SEED=<n>         first seed of the randomized test (default: time)
//!   CABA_RANDOM_RUNS=<n>  number of random sequences (default 200)
//!   CABA_TEST_AFTER_EACH=<shell command>
//!                         run after every test (for scenarios: before their
//!                         processes are torn down), e.g. loading a checker
//!                         module; its failure fails the test

mod model;
mod random;
mod scenarios;
mod status;
mod sys;
mod world;

use scenarios::TestResult;

type Test = (&'static str, fn() -> TestResult);

/// Run CABA_TEST_AFTER_EACH, if set.
pub fn after_each_hook() -> Result<(), String> {
    let Ok(cmd) = std::env::var("CABA_TEST_AFTER_EACH") else {
        return Ok(());
    };
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .output()
        .map_err(|e| format!("after-each hook: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "after-each hook '{cmd}' failed ({}): {}",
        out.status,
        text.trim().replace('\n', " | ")
    ))
}

/// Tests that do not end in World scenarios run the hook afterwards.
fn with_hook(result: TestResult) -> TestResult {
    let note = result?;
    after_each_hook()?;
    Ok(note)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn randomized() -> TestResult {
    let seed = env_u64("CABA_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let runs = env_u64("CABA_RANDOM_RUNS").unwrap_or(200);
    println!("# randomized: CABA_SEED={seed} CABA_RANDOM_RUNS={runs}");
    random::run(seed, runs, 14)
}

const TESTS: &[Test] = &[
    (
        "chain_middle_dies_to_subreaper",
        scenarios::chain_middle_dies_subreaper,
    ),
    (
        "chain_middle_dies_to_pidns_init",
        scenarios::chain_middle_dies_init,
    ),
    (
        "zombie_stays_caba_until_reaped",
        scenarios::zombie_stays_caba,
    ),
    ("clone_parent", scenarios::clone_parent),
    (
        "clone_parent_after_reparent",
        scenarios::clone_parent_after_reparent,
    ),
    (
        "thread_forks_then_exits",
        scenarios::thread_forks_then_exits,
    ),
    (
        "thread_created_after_reparent",
        scenarios::thread_after_reparent,
    ),
    (
        "exec_from_non_leader_thread",
        scenarios::exec_from_non_leader,
    ),
    ("nested_pid_namespaces", scenarios::nested_pid_ns),
    (
        "setns_caba_outside_namespace",
        scenarios::setns_caba_outside,
    ),
    ("unshare_pid_ns_then_fork", scenarios::unshare_then_fork),
    ("deepest_nesting_32_levels", scenarios::deepest_nesting),
    ("release_1000_descendants", || {
        with_hook(scenarios::release_many(1000))
    }),
    ("racing_readers", || {
        with_hook(scenarios::racing_readers(4, 40, 4))
    }),
    ("access_other_uid_sees_zeros", || {
        with_hook(scenarios::access())
    }),
    ("complex_sessions", scenarios::complex_sessions),
    ("randomized", || with_hook(randomized())),
];

/// Why the tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    // SAFETY: geteuid() has no preconditions.
    if unsafe { geteuid() } != 0 {
        return Some("needs root (pid namespaces, other uids)".into());
    }
    match status::Status::read("/proc/self/status") {
        Err(e) => Some(format!("cannot read /proc/self/status: {e}")),
        Ok(st) if st.nscaba.is_none() => {
            Some("this kernel has no NScaba in /proc/self/status (no CABA support)".into())
        }
        Ok(_) => None,
    }
}

extern "C" {
    fn geteuid() -> u32;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--agent") if args.len() == 4 => world::agent_main(&args[2], &args[3]),
        Some("--reader") if args.len() == 4 => world::reader_main(&args[2], &args[3]),
        _ => {}
    }
    let only = args.get(1).cloned();
    let tests: Vec<&Test> = TESTS
        .iter()
        .filter(|(n, _)| only.as_deref().map_or(true, |o| o == *n))
        .collect();

    println!("TAP version 13");
    println!("1..{}", tests.len());
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    let reason = skip_reason();
    for (i, (name, test)) in tests.iter().enumerate() {
        if let Some(r) = &reason {
            println!("ok {} {name} # SKIP {r}", i + 1);
            skip += 1;
            continue;
        }
        let start = std::time::Instant::now();
        let result = std::panic::catch_unwind(test).unwrap_or_else(|_| Err("panicked".into()));
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(note) => {
                println!("# {name}: {note} ({secs:.1} s)");
                println!("ok {} {name}", i + 1);
                pass += 1;
            }
            Err(e) => {
                println!("# {name}: {e}");
                println!("not ok {} {name}", i + 1);
                fail += 1;
            }
        }
    }
    println!("# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0");
    // kselftest exit codes: 0 pass, 1 fail, 4 skip.
    std::process::exit(if fail > 0 {
        1
    } else if skip > 0 && pass == 0 {
        4
    } else {
        0
    });
}
