// SPDX-License-Identifier: GPL-2.0
//! Selftests for CABA, the closest alive born ancestor, shown as NScaba in
//! /proc/<pid>/status and as PIDFD_INFO_CABA by PIDFD_GET_INFO. Every test
//! drives real processes and, after every step, compares NScaba, the pidfd
//! CABA, PPid, NSpid, NSpgid and NSsid of every process and thread, from
//! the root pid namespace and from inside every namespace the test made,
//! with a model of the definition (model.rs).
//!
//! Standard library only; KTAP output. Usage: caba_test [TEST...] (all by
//! default; an unknown name is an error), caba_test --list.
//! caba_test --pausers N FILE (a tool, not a test): make N children that
//! pause until killed, write "ready" to FILE.ready, wait until FILE exists,
//! exit; whoever reaps it releases a process with N CABA-descendants.
//!
//! Environment:
//!   CABA_SEED=<n>|random  first seed of the randomized test (default 1;
//!                         "random" takes one from the clock; always printed)
//!   CABA_RANDOM_RUNS=<n>  number of random sequences (default 10)
//!   CABA_RANDOM_OPS=<n>   operations per sequence (default 30)
//!   CABA_TEST_AFTER_EACH=<shell command>
//!       optional; run by /bin/sh after every test and every random
//!       sequence, while the test's processes are all still there (a
//!       checker module, a dump/restore round trip). Its environment:
//!         CABA_HOOK_ROOT         pid (initial pid namespace) of the root
//!                                agent: every process of the test is in
//!                                its subtree, the runner and the hook are not
//!         CABA_HOOK_SUBREAPERS   comma-separated pids (initial namespace)
//!                                of the live processes with
//!                                PR_SET_CHILD_SUBREAPER on; may be empty
//!         CABA_HOOK_TEST         the test's name; "randomized:seed=<n>"
//!                                for a random sequence
//!       A non-zero exit fails the test, and so does a tree that the hook
//!       left different from the model.
//!   CABA_WITHOUT_NSCABA=1 on a kernel without the series, run the tests
//!       anyway and compare everything but the CABA (for working on the
//!       tests themselves; the CABA-only tests skip).

mod agent;
mod chan;
mod look;
mod model;
mod random;
mod scenarios;
mod status;
mod sys;
mod world;

use std::sync::{Mutex, OnceLock};

/// Why a test did not pass.
#[derive(Debug)]
pub enum Failure {
    Fail(String),
    Skip(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Fail(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::Fail(s.into())
    }
}

/// Ok carries what the test compared, for its "# name: ..." line.
pub type TestResult = Result<String, Failure>;

/// Fail with the caller's file:line, like kselftest_harness.h's ASSERTs.
#[track_caller]
pub fn fail(msg: impl std::fmt::Display) -> Failure {
    let at = std::panic::Location::caller();
    Failure::Fail(format!("{}:{}: {msg}", at.file(), at.line()))
}

/// Compare `got` with `want`; the failure names both and the caller's line.
#[track_caller]
pub fn ensure_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: T,
    want: T,
) -> Result<(), Failure> {
    if got == want {
        Ok(())
    } else {
        Err(fail(format!("{what}: got {got:?}, want {want:?}")))
    }
}

/// What this kernel offers, found once.
pub struct Features {
    /// NScaba in /proc/PID/status (else CABA_WITHOUT_NSCABA=1 was given).
    pub nscaba: bool,
    /// Err: why the pidfd CABA checks are skipped.
    pub pidfd_caba: Result<(), String>,
    /// Why no test can run, if none can.
    pub skip_all: Option<String>,
}

fn probe_pidfd_caba() -> Result<(), String> {
    const NO: &str = "PIDFD_INFO_CABA not supported";
    let fd =
        sys::pidfd_open(sys::my_pid(), false).map_err(|e| format!("{NO} (pidfd_open: {e})"))?;
    let info = sys::pidfd_get_info(&fd, sys::PIDFD_INFO_SUPPORTED_MASK | sys::PIDFD_INFO_CABA)
        .map_err(|e| format!("{NO} (PIDFD_GET_INFO: {e})"))?;
    if info.mask & sys::PIDFD_INFO_SUPPORTED_MASK == 0 {
        return Err(format!("{NO} (no PIDFD_INFO_SUPPORTED_MASK)"));
    }
    if info.supported_mask & sys::PIDFD_INFO_CABA == 0 {
        return Err(NO.into());
    }
    Ok(())
}

pub fn features() -> &'static Features {
    static F: OnceLock<Features> = OnceLock::new();
    F.get_or_init(|| {
        let without = std::env::var("CABA_WITHOUT_NSCABA").is_ok_and(|v| v == "1");
        let (nscaba, skip_all) = match status::Status::read("/proc/self/status") {
            Err(e) => (false, Some(format!("cannot read /proc/self/status: {e}"))),
            Ok(st) if st.nscaba.is_some() => (true, None),
            Ok(_) if without => (false, None),
            Ok(_) => (
                false,
                Some("this kernel has no NScaba in /proc/self/status (no CABA support)".into()),
            ),
        };
        Features {
            nscaba,
            pidfd_caba: probe_pidfd_caba(),
            skip_all,
        }
    })
}

/// SKIP the calling test unless we are root.
pub fn need_root(what: &str) -> Result<(), Failure> {
    if sys::is_root() {
        Ok(())
    } else {
        Err(Failure::Skip(format!("needs root: {what}")))
    }
}

/// SKIP the calling test unless PIDFD_GET_INFO reports the CABA.
pub fn need_pidfd_caba() -> Result<(), Failure> {
    features().pidfd_caba.clone().map_err(Failure::Skip)
}

/// SKIP the calling test where it checks nothing but NScaba.
pub fn need_nscaba() -> Result<(), Failure> {
    if features().nscaba {
        Ok(())
    } else {
        Err(Failure::Skip(
            "checks only NScaba (CABA_WITHOUT_NSCABA=1)".into(),
        ))
    }
}

fn current() -> &'static Mutex<String> {
    static CURRENT: OnceLock<Mutex<String>> = OnceLock::new();
    CURRENT.get_or_init(|| Mutex::new(String::new()))
}

/// The name of the test being run.
pub fn current_test() -> String {
    current().lock().map(|s| s.clone()).unwrap_or_default()
}

/// Run CABA_TEST_AFTER_EACH, if set, with the CABA_HOOK_* variables.
pub fn after_each_hook(test: &str, root: i32, subreapers: &str) -> Result<(), String> {
    let Ok(cmd) = std::env::var("CABA_TEST_AFTER_EACH") else {
        return Ok(());
    };
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .env("CABA_HOOK_ROOT", root.to_string())
        .env("CABA_HOOK_SUBREAPERS", subreapers)
        .env("CABA_HOOK_TEST", test)
        .output()
        .map_err(|e| format!("after-each hook: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "after-each hook '{cmd}' (CABA_HOOK_ROOT={root} CABA_HOOK_SUBREAPERS={subreapers} \
         CABA_HOOK_TEST={test}) failed ({}): {}",
        out.status,
        text.trim().replace('\n', " | ")
    ))
}

/// Default (first seed, sequences, operations per sequence) of the
/// randomized test: fixed, so that CI runs are reproducible.
pub const RANDOM_DEFAULTS: (u64, u64, usize) = (1, 10, 30);

/// The randomized test's settings from the environment.
pub fn random_settings() -> Result<(u64, u64, usize), String> {
    let (mut seed, mut runs, mut ops) = RANDOM_DEFAULTS;
    if let Ok(v) = std::env::var("CABA_SEED") {
        seed = if v == "random" {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        } else {
            v.parse()
                .map_err(|_| format!("CABA_SEED='{v}': want a number or 'random'"))?
        };
    }
    if let Ok(v) = std::env::var("CABA_RANDOM_RUNS") {
        runs = v
            .parse()
            .map_err(|_| format!("CABA_RANDOM_RUNS='{v}': want a number"))?;
    }
    if let Ok(v) = std::env::var("CABA_RANDOM_OPS") {
        ops = v
            .parse()
            .map_err(|_| format!("CABA_RANDOM_OPS='{v}': want a number"))?;
    }
    Ok((seed, runs, ops))
}

struct Test {
    name: &'static str,
    run: fn() -> TestResult,
}

/// The test table: each KTAP name is its function's name in scenarios.rs.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        const TESTS: &[Test] = &[$(Test { name: stringify!($name), run: scenarios::$name }),*];
    };
}

tests![
    chain_middle_dies_to_subreaper,
    chain_middle_dies_to_pidns_init,
    zombie_stays_caba_until_reaped,
    clone_parent,
    clone_parent_after_reparent,
    thread_forks_then_exits,
    thread_created_after_reparent,
    exec_from_non_leader_thread,
    zombie_leader_threads_fork,
    vfork_and_clone_vm,
    release_by_tracer_exit,
    release_by_tracer_wait,
    autoreap_sigchld_ignored,
    autoreap_clone_flag,
    nested_pid_namespaces,
    setns_caba_outside_namespace,
    unshare_pid_ns_then_fork,
    deepest_nesting_32_levels,
    procfs_of_another_namespace,
    status_line_layout,
    init_and_kthreadd,
    access_other_uid_sees_zeros,
    access_other_uid_nested_namespace,
    pidfd_info_caba_supported,
    pidfd_held_across_release,
    pidfd_caba_outside_namespace_is_zero,
    release_1000_descendants,
    racing_readers,
    racing_readers_big_release,
    racing_readers_two_big_releases,
    complex_sessions,
    randomized,
];

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--agent") if args.len() == 4 => agent::agent_main(&args[2], &args[3]),
        Some("--reader") if args.len() == 4 => agent::reader_main(&args[2], &args[3]),
        Some("--pausers") if args.len() == 4 => agent::pausers_main(&args[2], &args[3]),
        Some("--list") => {
            for t in TESTS {
                println!("{}", t.name);
            }
            return;
        }
        _ => {}
    }
    let wanted = &args[1..];
    let unknown: Vec<&String> = wanted
        .iter()
        .filter(|w| !TESTS.iter().any(|t| t.name == w.as_str()))
        .collect();
    if !unknown.is_empty() {
        eprintln!("caba_test: unknown test {unknown:?}; caba_test --list shows them");
        std::process::exit(1);
    }
    let tests: Vec<&Test> = TESTS
        .iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|w| w == t.name))
        .collect();

    println!("TAP version 13");
    println!("1..{}", tests.len());
    let feat = features();
    if let Err(why) = &feat.pidfd_caba {
        println!("# pidfd CABA checks off: {why}");
    }
    if !feat.nscaba && feat.skip_all.is_none() {
        println!("# CABA_WITHOUT_NSCABA=1: NScaba is not compared");
    }
    let (mut pass, mut failed, mut skip) = (0, 0, 0);
    for (i, t) in tests.iter().enumerate() {
        println!("# RUN {}", t.name);
        if let Ok(mut c) = current().lock() {
            *c = t.name.to_string();
        }
        let start = std::time::Instant::now();
        let result = match &feat.skip_all {
            Some(r) => Err(Failure::Skip(r.clone())),
            None => std::panic::catch_unwind(t.run)
                .unwrap_or_else(|p| Err(fail(format!("panicked: {}", panic_text(p))))),
        };
        // Whatever a failed test left behind goes before the next one.
        world::kill_descendants();
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(note) => {
                println!("# {}: {note} ({secs:.1} s)", t.name);
                println!("ok {} {}", i + 1, t.name);
                pass += 1;
            }
            Err(Failure::Skip(why)) => {
                println!("ok {} {} # SKIP {why}", i + 1, t.name);
                skip += 1;
            }
            Err(Failure::Fail(e)) => {
                for line in e.lines() {
                    println!("# {}: {line}", t.name);
                }
                println!("not ok {} {}", i + 1, t.name);
                failed += 1;
            }
        }
    }
    println!("# Totals: pass:{pass} fail:{failed} xfail:0 xpass:0 skip:{skip} error:0");
    // kselftest exit codes: 0 pass, 1 fail, 4 skip.
    std::process::exit(if failed > 0 {
        1
    } else if skip > 0 && pass == 0 {
        4
    } else {
        0
    });
}
