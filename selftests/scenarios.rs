// SPDX-License-Identifier: GPL-2.0
//! The scenarios: a few lines each, in the spirit of the spec's numbered
//! steps. After every step World::check() compares the kernel with the
//! model; the explicit assertions are the values the spec itself states.

use crate::status::Status;
use crate::sys;
use crate::world::{self, World, CLONE_PARENT, NEW_PID_NS, PLAIN};

pub type TestResult = Result<String, String>;

/// End of a scenario: run the after-each hook while its processes are all
/// still there, then report what was compared.
fn done(w: &World) -> TestResult {
    crate::after_each_hook()?;
    Ok(format!(
        "{} steps, {} status lines compared",
        w.steps.len(),
        w.compared
    ))
}

/// NScaba of `name` (root view) must name `caba` at every level they share.
fn expect_caba(w: &World, name: &str, caba: &str) -> Result<(), String> {
    let got = w.nscaba(name)?;
    let want: Vec<i32> = {
        let p = w.pid(name);
        let c = w.pid(caba);
        let levels = w.m.procs[p].nspid.len();
        (0..levels)
            .map(|l| {
                if l < w.m.procs[c].nspid.len()
                    && w.m.ns_at(w.m.procs[p].ns, l) == w.m.ns_at(w.m.procs[c].ns, l)
                {
                    w.m.procs[c].nspid[l]
                } else {
                    0
                }
            })
            .collect()
    };
    if got != want {
        return Err(format!(
            "NScaba({name}) is {got:?}, the spec says CABA({name}) = {caba}, i.e. {want:?}"
        ));
    }
    Ok(())
}

pub fn chain_middle_dies_subreaper() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.subreaper("A", true)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.spawn("C", "D", PLAIN)?;
    w.exit("C")?; // D goes to the subreaper A; CABA(D) stays C, a zombie
    expect_caba(&w, "D", "C")?;
    w.reap("C")?; // now CABA(D) = B
    expect_caba(&w, "D", "B")?;
    w.exit("B")?;
    w.reap("B")?;
    expect_caba(&w, "D", "A")?;
    done(&w)
}

pub fn chain_middle_dies_init() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "I", NEW_PID_NS)?;
    w.spawn("I", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.spawn("C", "D", PLAIN)?;
    w.exit("B")?; // C goes to the namespace's init
    w.reap("B")?;
    expect_caba(&w, "C", "I")?;
    w.exit("C")?;
    w.reap("C")?;
    expect_caba(&w, "D", "I")?;
    done(&w)
}

pub fn zombie_stays_caba() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    for c in ["C1", "C2", "C3"] {
        w.spawn("B", c, PLAIN)?;
    }
    w.spawn("C1", "G", PLAIN)?;
    w.exit("B")?;
    w.exit("C1")?;
    expect_caba(&w, "C2", "B")?;
    expect_caba(&w, "G", "C1")?;
    w.reap("B")?; // C1, a zombie itself, is still CABA of G
    expect_caba(&w, "C2", "A")?;
    expect_caba(&w, "G", "C1")?;
    w.reap("C1")?;
    expect_caba(&w, "G", "A")?;
    done(&w)
}

pub fn clone_parent() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", CLONE_PARENT)?; // a child of A, born of B
    expect_caba(&w, "C", "B")?;
    w.exit("B")?;
    w.reap("B")?;
    expect_caba(&w, "C", "A")?;
    done(&w)
}

pub fn clone_parent_after_reparent() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.exit("B")?; // C is reparented to the runner
    w.spawn("C", "D", CLONE_PARENT)?; // a sibling of C under the runner
    expect_caba(&w, "D", "C")?;
    w.reap("B")?;
    w.spawn("C", "E", CLONE_PARENT)?;
    expect_caba(&w, "E", "C")?;
    w.exit("C")?;
    w.reap("C")?;
    expect_caba(&w, "D", "A")?;
    done(&w)
}

pub fn thread_forks_then_exits() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.thread("A", "A.t")?;
    w.spawn("A.t", "B", PLAIN)?;
    w.thread_exit("A.t")?; // B's parent moves to A's leader: same process
    expect_caba(&w, "B", "A")?;
    w.spawn("B", "C", PLAIN)?;
    done(&w)
}

pub fn thread_after_reparent() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.exit("B")?;
    w.thread("C", "C.t1")?; // a thread of a reparented process
    w.reap("B")?;
    w.thread("C", "C.t2")?;
    w.spawn("C.t2", "D", PLAIN)?;
    expect_caba(&w, "C", "A")?;
    expect_caba(&w, "D", "C")?;
    done(&w)
}

pub fn exec_from_non_leader() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.thread("B", "B.t1")?;
    w.exec("B.t1")?; // de_thread(): the thread becomes the leader
    expect_caba(&w, "B", "A")?;
    expect_caba(&w, "C", "B")?;
    w.exit("A")?;
    w.reap("A")?;
    w.thread("B", "B.t2")?;
    w.exec("B.t2")?;
    w.spawn("B", "D", PLAIN)?;
    expect_caba(&w, "D", "B")?;
    w.exit("B")?;
    w.reap("B")?;
    done(&w)
}

pub fn nested_pid_ns() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "I1", NEW_PID_NS)?;
    w.spawn("I1", "B", PLAIN)?;
    w.spawn("B", "I2", NEW_PID_NS)?;
    w.spawn("I2", "C", PLAIN)?;
    w.spawn("C", "D", PLAIN)?;
    w.exit("C")?;
    w.reap("C")?;
    expect_caba(&w, "D", "I2")?;
    w.exit("D")?;
    w.reap("D")?;
    w.exit("I2")?;
    w.reap("I2")?;
    done(&w)
}

pub fn setns_caba_outside() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "X", PLAIN)?;
    w.spawn("X", "I", NEW_PID_NS)?;
    w.setns("X", "I")?;
    w.spawn("X", "K", PLAIN)?; // lives in I's namespace, born of X outside it
    expect_caba(&w, "K", "X")?;
    w.spawn("K", "L", PLAIN)?;
    w.exit("X")?; // K is reparented to I
    w.reap("X")?;
    expect_caba(&w, "K", "runner")?;
    w.exit("K")?;
    w.reap("K")?;
    expect_caba(&w, "L", "runner")?;
    done(&w)
}

pub fn unshare_then_fork() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "Y", PLAIN)?;
    w.unshare_pid_ns("Y")?;
    w.spawn("Y", "Z", PLAIN)?; // init of the new namespace
    w.spawn("Z", "W", PLAIN)?;
    w.spawn("Y", "V", PLAIN)?;
    w.exit("Z")
        .and(Err(
            "the init of a namespace with processes left could exit".to_string(),
        ))
        .or_else(|e| {
            if e.contains("namespace init") {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    w.exit("W")?;
    w.reap("W")?;
    w.exit("V")?;
    w.reap("V")?;
    expect_caba(&w, "Z", "Y")?;
    done(&w)
}

pub fn deepest_nesting() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "L0", PLAIN)?;
    for level in 1..=32 {
        w.spawn(&format!("L{}", level - 1), &format!("L{level}"), NEW_PID_NS)?;
    }
    let st = Status::read(&format!("/proc/{}/status", w.root_pid("L32")))?;
    if st.nscaba.as_ref().map(Vec::len) != Some(33) {
        return Err(format!(
            "NScaba of the level-32 process has {:?} columns, want 33",
            st.nscaba.map(|c| c.len())
        ));
    }
    expect_caba(&w, "L32", "L31")?;
    w.spawn("L32", "M", PLAIN)?;
    w.exit("M")?;
    w.reap("M")?;
    done(&w)
}

/// 1,000 CABA-descendants move at once when their CABA is reaped.
pub fn release_many(n: usize) -> TestResult {
    sys::set_subreaper(true).map_err(|e| e.to_string())?;
    let (report_r, report_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let (hold_r, _hold_w) = pipe()?;
    let x = sys::fork_run(|| {
        if sys::set_pgid(0, 0).is_err() {
            return 1;
        }
        for _ in 0..n {
            let Ok(kid) = sys::fork_run(|| {
                let _ = read_byte(&hold_r); // blocks until the runner lets go
                0
            }) else {
                return 1;
            };
            let _ = write_pid(&report_w, kid);
        }
        let _ = read_byte(&go_r);
        0
    })
    .map_err(|e| e.to_string())?;
    let _group = Group(x);
    let kids = (0..n)
        .map(|_| read_pid(&report_r))
        .collect::<Result<Vec<i32>, String>>()?;
    let me = sys::my_pid();
    let all_caba = |want: i32| -> Result<(), String> {
        for &k in &kids {
            let st = Status::read(&format!("/proc/{k}/status"))?;
            if st.nscaba != Some(vec![want]) {
                return Err(format!("pid {k}: NScaba {:?}, want [{want}]", st.nscaba));
            }
        }
        Ok(())
    };
    all_caba(x)?;
    write_byte(&go_w)?;
    world::wait_until(|| world::is_zombie(x), "X to become a zombie")?;
    all_caba(x)?; // reparented to us, X a zombie: still their CABA
    let t = std::time::Instant::now();
    sys::wait_pid(x, 0).map_err(|e| e.to_string())?;
    let reap_us = t.elapsed().as_micros();
    all_caba(me)?;
    Ok(format!(
        "{n} CABA-descendants moved; the reap took {reap_us} us"
    ))
}

/// Readers loop on /proc/C/status while C's CABA is released again and again.
pub fn racing_readers(rounds: usize, depth: usize, targets: usize) -> TestResult {
    sys::set_subreaper(true).map_err(|e| e.to_string())?;
    let me = sys::my_pid();
    let mut reads = 0usize;
    for _ in 0..rounds {
        let (report_r, report_w) = pipe()?;
        let (go_r, go_w) = pipe()?;
        let (hold_r, _hold_w) = pipe()?;
        // B1 -> B2 -> ... -> Bdepth -> C1..Ctargets. Each Bi reaps B(i+1) and
        // then exits; the runner reaps B1. CABA(C) walks up one at a time.
        let b1 = sys::fork_run(|| {
            if sys::set_pgid(0, 0).is_err() {
                return 1;
            }
            chain_link(depth, depth, targets, &report_w, &go_r, &hold_r)
        })
        .map_err(|e| e.to_string())?;
        let _group = Group(b1);
        // Links report (depth, pid) in one write each, in whatever order
        // they run: chain[d] is the link at depth d, the runner at 0.
        let mut chain = vec![0; depth + 1];
        chain[0] = me;
        chain[1] = b1;
        let mut cs = vec![];
        for _ in 0..depth - 1 + targets {
            let (d, pid) = read_pair(&report_r)?;
            match d {
                2.. if (d as usize) <= depth => chain[d as usize] = pid,
                -1 => cs.push(pid),
                _ => return Err(format!("bad report ({d}, {pid})")),
            }
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (stop, chain, cs) = (stop.clone(), chain.clone(), cs.clone());
                std::thread::spawn(move || -> Result<usize, String> {
                    let mut last = vec![chain.len(); cs.len()];
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for (i, c) in cs.iter().enumerate() {
                            let st = Status::read(&format!("/proc/{c}/status"))?;
                            let v = st
                                .nscaba
                                .as_ref()
                                .and_then(|v| v.first().copied())
                                .unwrap_or(-1);
                            let Some(pos) = chain.iter().position(|&b| b == v) else {
                                return Err(format!(
                                    "pid {c}: NScaba {v}, not on its creator chain {chain:?}"
                                ));
                            };
                            if pos > last[i] {
                                return Err(format!(
                                    "pid {c}: NScaba went back down the chain to {v}"
                                ));
                            }
                            last[i] = pos;
                            n += 1;
                        }
                    }
                    Ok(n)
                })
            })
            .collect();
        write_byte(&go_w)?;
        sys::wait_pid(b1, 0).map_err(|e| e.to_string())?;
        std::thread::sleep(std::time::Duration::from_millis(5));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            reads += r.join().map_err(|_| "reader thread panicked")??;
        }
        for c in &cs {
            let st = Status::read(&format!("/proc/{c}/status"))?;
            if st.nscaba != Some(vec![me]) {
                return Err(format!(
                    "pid {c}: NScaba {:?} after the chain is gone, want [{me}]",
                    st.nscaba
                ));
            }
        }
    }
    Ok(format!(
        "{reads} reads checked over {rounds} rounds of {depth} releases"
    ))
}

/// The link at depth `total - left + 1` of the racing chain: it makes the
/// next link (or, as the last, the targets), reports it, and reaps it.
fn chain_link(total: usize, left: usize, targets: usize, report: &Fd, go: &Fd, hold: &Fd) -> i32 {
    if left == 1 {
        for _ in 0..targets {
            let Ok(pid) = sys::fork_run(|| {
                let _ = read_byte(hold);
                0
            }) else {
                return 1;
            };
            let _ = write_pair(report, -1, pid);
        }
        let _ = read_byte(go);
        return 0;
    }
    let Ok(next) = sys::fork_run(|| chain_link(total, left - 1, targets, report, go, hold)) else {
        return 1;
    };
    let _ = write_pair(report, (total - left + 2) as i32, next);
    let _ = sys::wait_pid(next, 0);
    std::thread::sleep(std::time::Duration::from_micros(500));
    0
}

/// Another uid without capabilities sees zeros; the owner and root see values.
pub fn access() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    let b = w.root_pid("B");
    let a = w.root_pid("A");
    let (rep_r, rep_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    let helper = sys::fork_run(|| {
        if sys::set_pgid(0, 0).is_err()
            || sys::drop_privileges(65534).is_err()
            || sys::set_dumpable().is_err()
        {
            return 10;
        }
        match Status::read(&format!("/proc/{b}/status")) {
            Ok(st) if st.nscaba == Some(vec![0]) && st.nspid == vec![b] => {}
            Ok(st) => {
                println!(
                    "# uid 65534 reads NScaba {:?} of root's pid {b}, want [0]",
                    st.nscaba
                );
                return 11;
            }
            Err(e) => {
                println!("# uid 65534: {e}");
                return 12;
            }
        }
        let Ok(own) = sys::fork_run(|| {
            let _ = read_byte(&hold_r);
            0
        }) else {
            return 13;
        };
        let me = sys::my_pid();
        match Status::read(&format!("/proc/{own}/status")) {
            Ok(st) if st.nscaba == Some(vec![me]) => {}
            Ok(st) => {
                println!(
                    "# uid 65534 reads NScaba {:?} of its own child, want [{me}]",
                    st.nscaba
                );
                return 14;
            }
            Err(e) => {
                println!("# uid 65534: {e}");
                return 15;
            }
        }
        let _ = write_pid(&rep_w, own);
        let _ = read_byte(&hold_r);
        0
    })
    .map_err(|e| e.to_string())?;
    let _group = Group(helper);
    drop(rep_w); // the helper's copy alone: its early exit is EOF here
    let own = read_pid(&rep_r).map_err(|_| {
        let code = wait_code(helper);
        format!("the unprivileged reader failed (exit {code})")
    })?;
    let st = Status::read(&format!("/proc/{own}/status"))?;
    if st.nscaba != Some(vec![helper]) {
        return Err(format!(
            "root reads NScaba {:?} of the helper's child, want [{helper}]",
            st.nscaba
        ));
    }
    expect_caba(&w, "B", "A")?;
    // Both the helper and its child wait on the pipe, and both hold its
    // write end: one byte each lets them go.
    write_byte(&hold_w)?;
    write_byte(&hold_w)?;
    let code = wait_code(helper);
    if code != 0 {
        return Err(format!("the unprivileged reader exited with {code}"));
    }
    Ok(format!(
        "uid 65534 saw zeros for root's {b} (CABA {a}) and its own child's CABA"
    ))
}

/// The 2022 cover letter's "complex sessions" tree, step by step.
pub fn complex_sessions() -> TestResult {
    let mut w = World::new()?;
    w.spawn("runner", "P0", PLAIN)?;
    w.spawn("P0", "P1", NEW_PID_NS)?;
    w.setsid("P1", true)?;
    w.spawn("P1", "P2", PLAIN)?;
    w.setsid("P2", true)?;
    w.spawn("P2", "P3", PLAIN)?;
    w.spawn("P3", "P4", PLAIN)?;
    w.spawn("P4", "P5", PLAIN)?;
    w.setsid("P4", true)?;
    w.spawn("P4", "P6", PLAIN)?;
    w.spawn("P6", "P7", PLAIN)?;
    w.subreaper("P2", true)?;
    w.exit("P6")?;
    w.reap("P6")?;
    w.subreaper("P2", false)?;
    w.exit("P3")?;
    w.reap("P3")?;
    expect_caba(&w, "P2", "P1")?;
    expect_caba(&w, "P4", "P2")?;
    expect_caba(&w, "P5", "P4")?;
    expect_caba(&w, "P7", "P4")?;
    let p7 = Status::read(&format!("/proc/{}/status", w.root_pid("P7")))?;
    if p7.ppid != w.root_pid("P2") {
        return Err(format!(
            "P7's parent is {}, the scenario makes it P2 ({})",
            p7.ppid,
            w.root_pid("P2")
        ));
    }
    done(&w)
}

/// A process group that a fork_run() scenario made (its first child calls
/// setpgid(0, 0) and everything below inherits it): killed and reaped on
/// every way out of the scenario, failures included. (The waiters all hold
/// the write end of the pipe they wait on, so closing ours is no EOF.)
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = sys::kill_pid(-self.0, sys::SIGKILL);
        world::reap(-self.0);
    }
}

// Small pipe helpers for the fork_run() scenarios.
pub struct Fd(std::fs::File);

fn pipe() -> Result<(Fd, Fd), String> {
    let (r, w) = sys::pipe().map_err(|e| format!("pipe: {e}"))?;
    Ok((Fd(r), Fd(w)))
}

fn read_byte(fd: &Fd) -> Result<(), String> {
    use std::io::Read;
    let mut b = [0u8; 1];
    match (&fd.0).read(&mut b) {
        Ok(1) => Ok(()),
        Ok(_) => Err("pipe closed".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn write_byte(fd: &Fd) -> Result<(), String> {
    use std::io::Write;
    (&fd.0).write_all(&[1]).map_err(|e| e.to_string())
}

fn write_pid(fd: &Fd, pid: i32) -> Result<(), String> {
    use std::io::Write;
    (&fd.0)
        .write_all(&pid.to_ne_bytes())
        .map_err(|e| e.to_string())
}

/// Two numbers in one write: atomic on a pipe, whoever else writes.
fn write_pair(fd: &Fd, a: i32, b: i32) -> Result<(), String> {
    use std::io::Write;
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&a.to_ne_bytes());
    buf[4..].copy_from_slice(&b.to_ne_bytes());
    (&fd.0).write_all(&buf).map_err(|e| e.to_string())
}

fn read_pair(fd: &Fd) -> Result<(i32, i32), String> {
    let a = read_pid(fd)?;
    let b = read_pid(fd)?;
    Ok((a, b))
}

fn read_pid(fd: &Fd) -> Result<i32, String> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    // Whoever should write may have died while another process still holds
    // the write end: never wait forever.
    if !sys::readable(fd.0.as_raw_fd(), 120_000).map_err(|e| e.to_string())? {
        return Err("no answer from the child within 120 s".into());
    }
    let mut b = [0u8; 4];
    (&fd.0).read_exact(&mut b).map_err(|e| e.to_string())?;
    Ok(i32::from_ne_bytes(b))
}

fn wait_code(pid: i32) -> i32 {
    extern "C" {
        fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    }
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    if unsafe { waitpid(pid, &mut status, 0) } != pid {
        return -1;
    }
    (status >> 8) & 0xff
}
