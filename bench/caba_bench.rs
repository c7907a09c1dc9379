// SPDX-License-Identifier: GPL-2.0
//! Micro-benchmarks for the CABA series, run in a VM on the patched and the
//! unpatched kernel by scripts/bench. Prints "metric,microseconds_per_op" lines.
//!
//!   caba_bench [--smoke]
//!
//! Under QEMU's -icount the microseconds are virtual: guest work, not wall time.

#[allow(dead_code)] // the benchmark needs only part of the selftests' syscall layer
#[path = "../selftests/sys.rs"]
mod sys;

use std::io::{Read, Write};
use std::time::Instant;

extern "C" {
    fn vfork() -> i32;
    fn _exit(code: i32) -> !;
}

fn per_op(n: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn fork_exit_wait() {
    let pid = sys::fork_run(|| 0).expect("fork");
    sys::wait_pid(pid, 0).expect("wait");
}

fn vfork_exit_wait() {
    // SAFETY: the child shares our memory and stack until it exits; it calls
    // nothing but _exit(), which is what vfork() allows.
    let pid = unsafe { vfork() };
    if pid == 0 {
        // SAFETY: see above.
        unsafe { _exit(0) };
    }
    assert!(pid > 0, "vfork failed");
    sys::wait_pid(pid, 0).expect("wait");
}

fn thread_create_join() {
    std::thread::spawn(|| {}).join().expect("join");
}

fn exec_exit_wait(exec: &sys::Exec) {
    let pid = sys::spawn(0, exec).expect("spawn");
    sys::wait_pid(pid, 0).expect("wait");
}

fn status_read(buf: &mut String) {
    buf.clear();
    std::fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(buf))
        .expect("status");
}

/// X forks `n` sleeping children and exits; they are reparented to us (a
/// subreaper), X becomes a zombie; then we reap X, which releases it and
/// (with the series) moves its `n` CABA-descendants to us. Returns
/// (exit-and-reparent time, reap time) in microseconds.
fn reparent_and_reap(n: usize) -> (f64, f64) {
    let (ready_r, ready_w) = sys::pipe().expect("pipe");
    let (go_r, go_w) = sys::pipe().expect("pipe");
    let (hold_r, hold_w) = sys::pipe().expect("pipe");
    let x = sys::fork_run(|| {
        for _ in 0..n {
            if sys::fork_run(|| {
                let _ = (&hold_r).read(&mut [0u8; 1]);
                0
            })
            .is_err()
            {
                return 1;
            }
        }
        let _ = (&ready_w).write_all(b"r");
        let _ = (&go_r).read(&mut [0u8; 1]);
        0 // exit: the kernel reparents all n children
    })
    .expect("fork");
    (&ready_r)
        .read_exact(&mut [0u8; 1])
        .expect("children ready");
    let t = Instant::now();
    (&go_w).write_all(b"g").expect("go");
    wait_zombie(x);
    let exit_us = t.elapsed().as_secs_f64() * 1e6;
    let t = Instant::now();
    sys::wait_pid(x, 0).expect("reap");
    let reap_us = t.elapsed().as_secs_f64() * 1e6;
    // One byte per sleeper: they all hold the write end, so no EOF comes.
    (&hold_w)
        .write_all(&vec![0u8; n])
        .expect("release the sleepers");
    while sys::wait_pid(-1, 0).is_ok() {}
    (exit_us, reap_us)
}

/// Block until `pid` is a zombie, without reaping it: waitid(WNOWAIT). A
/// polling loop would compete with the exit it measures on one vCPU.
fn wait_zombie(pid: i32) {
    extern "C" {
        fn waitid(idtype: i32, id: u32, info: *mut u8, options: i32) -> i32;
    }
    const P_PID: i32 = 1;
    const WEXITED: i32 = 4;
    const WNOWAIT: i32 = 0x0100_0000;
    // Room for a siginfo_t, which waitid() fills in.
    let mut info = [0u8; 128];
    // SAFETY: info is large enough for a siginfo_t.
    let ret = unsafe { waitid(P_PID, pid as u32, info.as_mut_ptr(), WEXITED | WNOWAIT) };
    assert_eq!(ret, 0, "waitid");
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let scale = if smoke { 50 } else { 1 };
    sys::set_subreaper(true).expect("subreaper");
    let exe = std::env::current_exe()
        .expect("exe")
        .to_string_lossy()
        .into_owned();
    if std::env::args().nth(1).as_deref() == Some("--noop") {
        return;
    }
    let noop = sys::Exec::new(&[exe, "--noop".into()]);
    let mut buf = String::new();
    let rows: Vec<(&str, f64)> = vec![
        ("fork_exit_wait", per_op(4000 / scale, fork_exit_wait)),
        ("vfork_exit_wait", per_op(4000 / scale, vfork_exit_wait)),
        (
            "thread_create_join",
            per_op(4000 / scale, thread_create_join),
        ),
        (
            "exec_exit_wait",
            per_op(1000 / scale, || exec_exit_wait(&noop)),
        ),
        (
            "status_read",
            per_op(20000 / scale, || status_read(&mut buf)),
        ),
    ];
    for (name, us) in rows {
        println!("{name},{us:.3}");
    }
    let n = if smoke { 200 } else { 10_000 };
    for _ in 0..3 {
        let (exit_us, reap_us) = reparent_and_reap(n);
        println!("exit_reparent_{n},{exit_us:.1}");
        println!("reap_{n}_descendants,{reap_us:.1}");
    }
}
