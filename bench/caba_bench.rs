// SPDX-License-Identifier: GPL-2.0
//! Micro-benchmarks for the CABA series, run in a VM on the patched and the
//! unpatched kernel by scripts/bench. Prints "metric,value" lines (and
//! "# ..." notes); report.py knows each metric's unit.
//!
//!   caba_bench [--smoke] [--aslr] [--fork-thread-only]
//!
//! --smoke: a few iterations of everything, for CI on the host.
//! --aslr: keep user-space address randomization on (by default the
//! benchmark re-execs itself without it; see sys::no_aslr_reexec()).
//! --fork-thread-only: fork+exit+wait and thread create+join only, to see
//! the boot-to-boot spread cheaply (with and without --aslr).
//!
//! Times are microseconds per operation. Under QEMU's -icount shift=0 they are
//! virtual: one guest instruction is one nanosecond, plus idle time skipped to
//! the next timer; they count guest work, not hardware time (QEMU models no
//! caches). "_cpu" metrics are the process's own CPU time
//! (CLOCK_PROCESS_CPUTIME_ID: sum_exec_runtime of all its threads, exited ones
//! included), which leaves out idle time and other tasks.

mod sys;

use std::fmt::Display;
use std::fs::File;
use std::io::{Read, Write};
use std::time::Instant;

/// The unprivileged user the "_user" benchmarks run as (nobody).
const USER: u32 = 65534;

fn emit(name: &str, value: impl Display) {
    println!("{name},{value}");
    let _ = std::io::stdout().flush();
}

fn note(text: &str) {
    println!("# {text}");
    let _ = std::io::stdout().flush();
}

fn cpu_ns() -> u64 {
    sys::clock_ns(sys::CLOCK_PROCESS_CPUTIME_ID).expect("process CPU clock")
}

/// Per operation: (wall microseconds, process CPU microseconds).
fn per_op(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm up
    let c = cpu_ns();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let wall = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let cpu = (cpu_ns() - c) as f64 / 1e3 / n as f64;
    (wall, cpu)
}

fn emit_op(name: &str, (wall, cpu): (f64, f64)) {
    emit(name, format!("{wall:.3}"));
    emit(&format!("{name}_cpu"), format!("{cpu:.3}"));
}

fn fork_exit_wait() {
    let pid = sys::fork_run(|| 0).expect("fork");
    sys::wait_pid(pid).expect("wait");
}

fn vfork_exit_wait() {
    let pid = sys::vfork_exit().expect("vfork");
    sys::wait_pid(pid).expect("wait");
}

fn thread_create_join() {
    std::thread::spawn(|| {}).join().expect("join");
}

/// The pids of all processes but us, from /proc.
fn other_pids() -> Vec<i32> {
    let me = sys::my_pid();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
            if pid != me {
                pids.push(pid);
            }
        }
    }
    pids
}

/// The CPU time of every other process (kernel threads included), by pid.
fn others_cpu(pids: &[i32]) -> Vec<Option<u64>> {
    pids.iter()
        .map(|&p| sys::clock_ns(sys::process_cpu_clock(p)))
        .collect()
}

/// System-wide context switches and interrupts since boot (/proc/stat).
fn proc_stat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("ctxt "), field("intr "))
}

/// Idle time of all CPUs so far, in microseconds: idle + iowait of /proc/stat,
/// sampled by the tick and shown in USER_HZ (100 per second) units.
fn idle_us() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    cpu.get(3)
        .zip(cpu.get(4))
        .map_or(0.0, |(i, w)| (i + w) as f64 * 1e4)
}

/// Thread create+join, with its wall (virtual) time split into the process's
/// own CPU time, the CPU time of every other task, and the rest: what runs
/// after an exiting thread has been released (its time is added to the
/// process clock in __exit_signal(), so what it runs later, to its last
/// schedule(), no process clock counts) plus idle. Idle is measured apart,
/// from the tick-sampled /proc/stat (resolution: 10 ms over all n ops).
/// Plus context switches (ours and system-wide), interrupts and page faults.
fn thread_breakdown(n: usize) {
    thread_create_join(); // warm up: the first thread maps its stack
    let pids = other_pids();
    let o0 = others_cpu(&pids);
    let (ctxt0, intr0) = proc_stat();
    let idle0 = idle_us();
    let (csw0, flt0) = sys::rusage_self();
    let c0 = cpu_ns();
    let t = Instant::now();
    for _ in 0..n {
        thread_create_join();
    }
    let wall = t.elapsed().as_secs_f64() * 1e6;
    let cpu = (cpu_ns() - c0) as f64 / 1e3;
    let (csw1, flt1) = sys::rusage_self();
    let idle1 = idle_us();
    let (ctxt1, intr1) = proc_stat();
    let o1 = others_cpu(&pids);
    let others: u64 = o0
        .iter()
        .zip(&o1)
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        })
        .sum();
    let others = others as f64 / 1e3;
    let per = |x: f64| format!("{:.3}", x / n as f64);
    emit("thread_create_join", per(wall));
    emit("thread_create_join_cpu", per(cpu));
    emit("thread_create_join_others", per(others));
    emit("thread_create_join_rest", per(wall - cpu - others));
    emit("thread_create_join_idle", per(idle1 - idle0));
    emit("thread_create_join_csw", per((csw1 - csw0) as f64));
    emit("thread_create_join_ctxt", per((ctxt1 - ctxt0) as f64));
    emit("thread_create_join_irqs", per((intr1 - intr0) as f64));
    emit("thread_create_join_faults", per((flt1 - flt0) as f64));
}

/// The smallest static x86-64 program: exit_group(0). 129 bytes, one PT_LOAD,
/// no interpreter, no libraries: exec costs the kernel's exec path only.
fn tiny_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    let code: [u8; 9] = [
        0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
        0x31, 0xff, // xor edi, edi
        0x0f, 0x05, // syscall
    ];
    let size = (64 + 56 + code.len()) as u64;
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + 120).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 0, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes()); // ehsize phentsize phnum sh*
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R X
    for v in [0, BASE, BASE, size, size, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&code);
    e
}

/// A tmpfs directory to exec from: in the VM our own tmpfs (the host's files
/// come over 9p, whose latency is host time), elsewhere the temp directory.
fn exec_dir() -> String {
    if let Ok(scratch) = std::env::var("CABA_VM_SCRATCH") {
        let dir = format!("{scratch}/tmpfs");
        if sys::is_root()
            && std::fs::create_dir_all(&dir).is_ok()
            && (sys::is_tmpfs(&dir) || sys::mount_tmpfs(&dir).is_ok())
        {
            return dir;
        }
    }
    std::env::temp_dir().to_string_lossy().into_owned()
}

/// The exec benchmark's program: the tiny ELF on a tmpfs, or /bin/true where
/// it cannot run.
fn exec_program() -> String {
    let path = format!("{}/caba_bench_exit0.{}", exec_dir(), sys::my_pid());
    let ok = (|| -> std::io::Result<bool> {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&path)?;
        f.write_all(&tiny_elf())?;
        drop(f);
        let pid = sys::Exec::new(&[&path]).vfork_exec()?;
        Ok(sys::wait_pid(pid)? == 0)
    })()
    .unwrap_or(false);
    if ok && cfg!(target_arch = "x86_64") {
        note(&format!(
            "exec: {path} ({} bytes, static, on {})",
            tiny_elf().len(),
            if sys::is_tmpfs(&path) {
                "tmpfs"
            } else {
                "not tmpfs"
            }
        ));
        path
    } else {
        note("exec: the tiny ELF does not run here; /bin/true instead");
        "/bin/true".into()
    }
}

fn read_into(path: &str, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .is_ok()
}

/// The first column of NScaba in a status file (None: no such line).
fn nscaba(status: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(status).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("NScaba:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// A child that blocks until `hold` has a byte (or EOF), optionally as USER
/// and dumpable (so that USER may ptrace-read it).
fn sleeper(hold: &File, as_user: bool) -> i32 {
    sys::fork_run(|| {
        if as_user && (sys::drop_privileges(USER, USER).is_err() || sys::set_dumpable().is_err()) {
            return 1;
        }
        let _ = (&*hold).read(&mut [0u8; 1]);
        0
    })
    .expect("fork sleeper")
}

/// Run `f` in a child that has become USER; its output, as text.
fn as_user(f: impl FnOnce() -> String) -> String {
    let (r, w) = sys::pipe().expect("pipe");
    let pid = sys::fork_run(|| {
        if let Err(e) = sys::drop_privileges(USER, USER) {
            let _ = (&w).write_all(format!("error: {e}").as_bytes());
            return 1;
        }
        let _ = (&w).write_all(f().as_bytes());
        0
    })
    .expect("fork");
    drop(w);
    let mut out = String::new();
    (&r).read_to_string(&mut out)
        .expect("read the child's result");
    sys::wait_pid(pid).expect("wait");
    out
}

fn fmt_op((wall, cpu): (f64, f64)) -> String {
    format!("{wall} {cpu}")
}

fn parse_op(s: &str) -> (f64, f64) {
    let v: Vec<f64> = s
        .split_whitespace()
        .map(|x| x.parse().unwrap_or_else(|_| panic!("child said: {s}")))
        .collect();
    (v[0], v[1])
}

/// ps/top: read every /proc/[0-9]*/status once; the number read.
fn sweep(buf: &mut Vec<u8>) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.bytes().all(|b| b.is_ascii_digit())
            && read_into(&format!("/proc/{name}/status"), buf)
        {
            n += 1;
        }
    }
    n
}

/// Status reads: our own, another process's as root and as USER (refused
/// and allowed), and a sweep over all processes as root and as USER, with
/// `children` sleeping children of ours alive. Every other process read here
/// is a child of ours, so its CABA is us, visible in our namespace: with the
/// series the ptrace check runs on every read (the worst case).
fn status_reads(n: usize, sweeps: usize, children: usize) {
    let mut buf = Vec::new();
    emit_op(
        "status_self",
        per_op(n, || {
            read_into("/proc/self/status", &mut buf);
        }),
    );

    // pid 1's CABA is init_task, which has no pid: the series prints the
    // NScaba line but runs no ptrace check. Against status_other_root, this
    // tells the check's cost from the line's.
    read_into("/proc/1/status", &mut buf);
    note(&format!(
        "status_init: NScaba of pid 1 read as root: {:?}",
        nscaba(&buf)
    ));
    emit_op(
        "status_init_root",
        per_op(n, || {
            read_into("/proc/1/status", &mut buf);
        }),
    );

    let (hold_r, hold_w) = sys::pipe().expect("pipe");
    let root_target = sleeper(&hold_r, false);
    let user_target = sleeper(&hold_r, true);
    let mut sleepers = vec![root_target, user_target];
    for _ in 0..children {
        sleepers.push(sleeper(&hold_r, false));
    }
    let root_path = format!("/proc/{root_target}/status");
    let user_path = format!("/proc/{user_target}/status");
    // Let the children reach their read() (and the user one its setuid).
    std::thread::sleep(std::time::Duration::from_millis(100));

    read_into(&root_path, &mut buf);
    note(&format!("status_other: target {root_target}, a sleeping child (CABA = us, pid {}); NScaba read as root: {:?}",
        sys::my_pid(), nscaba(&buf)));
    emit_op(
        "status_other_root",
        per_op(n, || {
            read_into(&root_path, &mut buf);
        }),
    );
    let (rp, up) = (root_path.clone(), user_path.clone());
    let out = as_user(move || {
        let mut buf = Vec::new();
        read_into(&rp, &mut buf);
        let seen = nscaba(&buf);
        let refused = per_op(n, || {
            read_into(&rp, &mut buf);
        });
        read_into(&up, &mut buf);
        let seen_own = nscaba(&buf);
        let allowed = per_op(n, || {
            read_into(&up, &mut buf);
        });
        format!(
            "{}\n{}\n{seen:?} {seen_own:?}",
            fmt_op(refused),
            fmt_op(allowed)
        )
    });
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() == 3, "user child: {out}");
    note(&format!("status_other_user: uid {USER} reads root-owned {root_target} (refused) and its own dumpable {user_target} (allowed); NScaba seen: {}", lines[2]));
    emit_op("status_other_user", parse_op(lines[0]));
    emit_op("status_other_user_allowed", parse_op(lines[1]));

    // The sweep, ps-style. Census first: how many processes, and how many
    // have a CABA with a pid here (those get the ptrace check).
    let mut procs = 0;
    let mut visible = 0;
    let mut kthreads = 0;
    let mut by_caba = std::collections::BTreeMap::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit())
            || !read_into(&format!("/proc/{name}/status"), &mut buf)
        {
            continue;
        }
        procs += 1;
        let caba = nscaba(&buf);
        if caba.is_some_and(|c| c != 0) {
            visible += 1;
        }
        let kthread = std::str::from_utf8(&buf).is_ok_and(|t| t.contains("\nKthread:\t1"));
        if kthread {
            kthreads += 1;
        }
        *by_caba.entry((caba, kthread)).or_insert(0) += 1;
    }
    note(&format!(
        "sweep census (CABA pid, kernel thread) -> processes: {by_caba:?}"
    ));
    emit("sweep_procs", procs);
    emit("sweep_kthreads", kthreads);
    emit("sweep_caba_visible", visible);
    let mut count = 0;
    emit_op(
        "sweep_root",
        per_op(sweeps, || {
            count = sweep(&mut buf);
        }),
    );
    note(&format!("sweep_root read {count} status files per sweep"));
    let out = as_user(move || {
        let mut buf = Vec::new();
        let mut count = 0;
        let op = per_op(sweeps, || {
            count = sweep(&mut buf);
        });
        format!("{}\n{count}", fmt_op(op))
    });
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() == 2, "user child: {out}");
    emit_op("sweep_user", parse_op(lines[0]));
    note(&format!(
        "sweep_user read {} status files per sweep",
        lines[1]
    ));

    (&hold_w)
        .write_all(&vec![0u8; sleepers.len()])
        .expect("release the sleepers");
    for pid in sleepers {
        sys::wait_pid(pid).expect("wait");
    }
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
    drop((ready_w, go_r));
    (&ready_r)
        .read_exact(&mut [0u8; 1])
        .expect("children ready");
    let t = Instant::now();
    (&go_w).write_all(b"g").expect("go");
    sys::wait_zombie(x).expect("waitid");
    let exit_us = t.elapsed().as_secs_f64() * 1e6;
    let t = Instant::now();
    sys::wait_pid(x).expect("reap");
    let reap_us = t.elapsed().as_secs_f64() * 1e6;
    // One byte per sleeper: they all hold the write end, so no EOF comes.
    (&hold_w)
        .write_all(&vec![0u8; n])
        .expect("release the sleepers");
    while sys::wait_pid(-1).is_ok() {}
    (exit_us, reap_us)
}

/// The pile moved up a chain: A1 (our child) creates A2 with CLONE_PARENT,
/// A2 creates A3 the same way, ..., and A`k` creates `n` sleepers, so all
/// are our children (as if we were init and A1 an orphan), while each Ai is
/// the CABA of the next and A`k` that of the sleepers. Then we kill and reap
/// A`k`, A`k-1`, ..., A1 in turn: every reap (release) walks the whole pile
/// again, and we, the reaper, pay for it in wait(); the Ai have no children,
/// so their exits walk nothing. Returns the reap times (A`k` first), us.
fn chain_reaps(k: usize, n: usize) -> Vec<f64> {
    let (pids_r, pids_w) = sys::pipe().expect("pipe");
    let (hold_r, hold_w) = sys::pipe().expect("pipe");
    fn level(i: usize, k: usize, n: usize, pids_w: &File, hold_r: &File) -> i32 {
        let _ = (&*pids_w).write_all(&sys::my_pid().to_le_bytes());
        let next = if i < k {
            sys::clone_parent_run(|| level(i + 1, k, n, pids_w, hold_r)).is_ok()
        } else {
            (0..n).all(|_| {
                sys::clone_parent_run(|| {
                    let _ = (&*hold_r).read(&mut [0u8; 1]);
                    0
                })
                .is_ok()
            })
        };
        if !next {
            return 1;
        }
        if i == k {
            let _ = (&*pids_w).write_all(&0i32.to_le_bytes()); // all there
        }
        sys::pause_forever()
    }
    let a1 = sys::fork_run(|| level(1, k, n, &pids_w, &hold_r)).expect("fork");
    drop(pids_w);
    let mut chain = vec![a1];
    loop {
        let mut b = [0u8; 4];
        (&pids_r).read_exact(&mut b).expect("chain pids");
        match i32::from_le_bytes(b) {
            0 => break,
            p if p == a1 => {}
            p => chain.push(p),
        }
    }
    assert_eq!(chain.len(), k, "chain");
    let mut times = Vec::new();
    for &a in chain.iter().rev() {
        sys::kill_pid(a, 9).expect("kill");
        sys::wait_zombie(a).expect("waitid");
        let t = Instant::now();
        sys::wait_pid(a).expect("reap");
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    (&hold_w)
        .write_all(&vec![0u8; n])
        .expect("release the sleepers");
    while sys::wait_pid(-1).is_ok() {}
    times
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// What bounds the number of processes (hence of CABA-descendants), and the
/// slab caches of the structures the series touches.
fn limits_and_slabs() {
    for (name, path) in [
        ("limit_threads_max", "/proc/sys/kernel/threads-max"),
        ("limit_pid_max", "/proc/sys/kernel/pid_max"),
    ] {
        if let Some(v) = read_number(path) {
            emit(name, v);
        }
    }
    let nproc = sys::nproc_limit();
    if nproc != u64::MAX {
        emit("limit_nproc", nproc);
    }
    for cache in ["signal_cache", "task_struct"] {
        for attr in [
            "object_size",
            "slab_size",
            "objs_per_slab",
            "order",
            "align",
        ] {
            if let Some(v) = read_number(&format!("/sys/kernel/slab/{cache}/{attr}")) {
                emit(&format!("slab_{cache}_{attr}"), v);
            }
        }
    }
}

fn main() {
    let arg = |name: &str| std::env::args().any(|a| a == name);
    let smoke = arg("--smoke");
    let scale = if smoke { 50 } else { 1 };
    if arg("--aslr") {
        note("--aslr: user-space address randomization on");
    } else if !sys::no_aslr_reexec() {
        note("user-space address randomization stays on: expect more noise between boots");
    }
    sys::set_subreaper().expect("subreaper");
    if let Ok(v) = std::fs::read_to_string("/proc/version") {
        note(v.trim());
    }
    limits_and_slabs();
    emit_op("fork_exit_wait", per_op(4000 / scale, fork_exit_wait));
    if arg("--fork-thread-only") {
        thread_breakdown(20000 / scale);
        return;
    }
    emit_op("vfork_exit_wait", per_op(4000 / scale, vfork_exit_wait));
    thread_breakdown(20000 / scale);
    let exec = sys::Exec::new(&[&exec_program()]);
    emit_op(
        "exec_exit_wait",
        per_op(2000 / scale, || {
            let pid = exec.vfork_exec().expect("vfork");
            assert_eq!(sys::wait_pid(pid).expect("wait"), 0, "exec");
        }),
    );
    if sys::is_root() {
        status_reads(20000 / scale, 100 / scale.min(20), 100);
    } else {
        note("not root: no status reads as another user");
    }
    // Release walks: N = 1,000 and 10,000, so the slope (per entry) can be
    // told from the fixed cost.
    let sizes: &[usize] = if smoke { &[20, 200] } else { &[1000, 10_000] };
    for &n in sizes {
        for _ in 0..(if smoke { 1 } else { 3 }) {
            let (exit_us, reap_us) = reparent_and_reap(n);
            emit(&format!("exit_reparent_{n}"), format!("{exit_us:.1}"));
            emit(&format!("reap_{n}"), format!("{reap_us:.1}"));
        }
    }
    // The same pile walked again at each release up a chain of creators.
    let (k, n) = if smoke { (5, 50) } else { (50, 1000) };
    let times = chain_reaps(k, n);
    let total: f64 = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    note(&format!(
        "chain: {k} creators, {n} sleepers under the last; reaps in us, bottom first: {:.1?}",
        times
    ));
    emit(
        &format!("chain{k}_reap_median_{n}"),
        format!("{:.1}", sorted[k / 2]),
    );
    emit(&format!("chain{k}_reap_total_{n}"), format!("{total:.1}"));
}
