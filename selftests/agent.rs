// SPDX-License-Identifier: GPL-2.0
//! Code that runs in processes other than the test runner: every function
//! here runs in an agent (this program started with --agent or --reader),
//! in one of an agent's threads, or in a child an agent fork()s.
//!
//! An agent reads one command a line from its FIFO and answers "ok ..."
//! or "err ..."; a new agent first announces "ready <NSpid>". A reader is
//! an agent with a private mount namespace and a procfs of its own pid
//! namespace on /proc, started inside each namespace a test makes.

use crate::chan::Chan;
use crate::look;
use crate::status::Status;
use crate::sys;
use std::io::{BufRead, BufReader, Write};

/// This program, found once at start: /proc/self/exe stops working when
/// the main thread has exited (a zombie leader has no mm).
fn exe() -> String {
    static EXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
    .clone()
}

fn agent_exec(mode: &str, dir: &str, name: &str) -> sys::Exec {
    sys::Exec::new(&[exe(), mode.into(), dir.into(), name.into()])
}

/// The NSpid of the caller (a thread's own with `thread`), from /proc.
fn my_nspid(thread: bool) -> Result<String, String> {
    let path = if thread {
        "/proc/thread-self/status"
    } else {
        "/proc/self/status"
    };
    let st = Status::read(path)?;
    Ok(st
        .nspid
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" "))
}

/// A process agent: announce its pid numbers, then serve.
pub fn agent_main(dir: &str, name: &str) -> ! {
    exe();
    let Ok(mut chan) = Chan::agent(dir, name) else {
        sys::exit_group(2)
    };
    let Ok(pids) = my_nspid(false) else {
        sys::exit_group(2)
    };
    if chan.send(&format!("ready {pids}")).is_err() {
        sys::exit_group(2);
    }
    agent_loop(chan, dir, false);
    sys::exit_group(0)
}

/// A reader: an agent with a procfs of its own pid namespace.
pub fn reader_main(dir: &str, name: &str) -> ! {
    exe();
    let Ok(mut chan) = Chan::agent(dir, name) else {
        sys::exit_group(2)
    };
    if let Err(e) = sys::private_proc() {
        let _ = chan.send(&format!("err private /proc: {e}"));
        sys::exit_group(2);
    }
    let Ok(pids) = my_nspid(false) else {
        sys::exit_group(2)
    };
    let _ = chan.send(&format!("ready {pids}"));
    agent_loop(chan, dir, false);
    sys::exit_group(0)
}

fn thread_agent(dir: &str, name: &str) {
    let Ok(mut chan) = Chan::agent(dir, name) else {
        return;
    };
    let Ok(tids) = my_nspid(true) else { return };
    if chan.send(&format!("ready {tids}")).is_err() {
        return;
    }
    agent_loop(chan, dir, true)
}

fn ok(r: std::io::Result<()>) -> Result<String, String> {
    r.map(|_| String::new()).map_err(|e| e.to_string())
}

/// What an agent remembers between commands.
#[derive(Default)]
struct State {
    chain: Option<Chain>,
}

/// Carry out commands; returns when a thread agent is told to exit, and
/// never for a process agent.
fn agent_loop(mut chan: Chan, dir: &str, is_thread: bool) {
    let mut state = State::default();
    loop {
        let line = match chan.recv(-1) {
            Ok(l) if !l.is_empty() => l,
            _ => sys::exit_group(3),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["fork", name, bits, how] => fork(dir, name, bits, how),
            ["thread", name] => {
                let (name, dir) = (name.to_string(), dir.to_string());
                std::thread::Builder::new()
                    .spawn(move || thread_agent(&dir, &name))
                    .map(|_| String::new())
                    .map_err(|e| e.to_string())
            }
            ["texit"] if is_thread => {
                let _ = chan.send("ok");
                return;
            }
            ["lexit"] if !is_thread => {
                let _ = chan.send("ok");
                sys::exit_thread()
            }
            ["exit"] => sys::exit_group(0),
            ["reap", pid] => reap(pid),
            ["reapall", stagger, pids @ ..] => reap_all(stagger, pids),
            ["setsid"] => ok(sys::new_session()),
            ["setpgid", pgid] => ok(sys::set_pgid(0, pgid.parse().unwrap_or(-1))),
            ["subreaper", on] => ok(sys::set_subreaper(*on == "1")),
            ["sigchld", how] => ok(sys::ignore_sigchld(*how == "ign")),
            ["setns", path] => ok(sys::enter_pid_ns(path)),
            ["unshare"] => ok(sys::unshare_flags(sys::CLONE_NEWPID)),
            ["uid", uid] => ok(sys::drop_privileges(uid.parse().unwrap_or(65534))),
            ["trace", pid] => ok(sys::ptrace_seize(pid.parse().unwrap_or(-1))),
            ["exec", pname] => Err(agent_exec("--agent", dir, pname).exec().to_string()),
            ["reader", name, ns] => start_reader(dir, name, ns),
            ["look", proc, pids @ ..] => Ok(pids
                .iter()
                .map(|p| look::encode(&look::look(proc, p.parse().unwrap_or(-1), true)))
                .collect::<Vec<_>>()
                .join(";")),
            ["holders", n] => holders(n.parse().unwrap_or(0)),
            ["pausers", n] => pausers(n.parse().unwrap_or(0)),
            ["chain", depth, targets] => {
                Chain::build(depth.parse().unwrap_or(1), targets.parse().unwrap_or(1)).map(|c| {
                    let r = c.report.clone();
                    state.chain = Some(c);
                    r
                })
            }
            ["go"] => match state.chain.take() {
                Some(c) => c.go(),
                None => Err("no chain".into()),
            },
            _ => Err(format!("unknown command '{line}'")),
        };
        let _ = chan.send(&match reply {
            Ok(s) if s.is_empty() => "ok".to_string(),
            Ok(s) => format!("ok {s}"),
            Err(e) => format!("err {e}"),
        });
    }
}

/// Make a child agent NAME with clone3() (or clone() with CLONE_VM, with
/// CLONE_VM|CLONE_VFORK as vfork() and posix_spawn() do, or plain fork()).
fn fork(dir: &str, name: &str, bits: &str, how: &str) -> Result<String, String> {
    let bits: u64 = bits.parse().map_err(|_| format!("bad flags '{bits}'"))?;
    let exec = agent_exec("--agent", dir, name);
    let pid = match how {
        "clone3" => sys::spawn(bits, &exec),
        // For agents that dropped their privileges: this program may not
        // be executable by them (it may live under /root). The caller has
        // no thread agents, so fork() without exec is safe.
        "fork" if bits == 0 => sys::fork_run(|| agent_main(dir, name)),
        "vfork" => sys::spawn_vm(bits, true, exec),
        "vm" => sys::spawn_vm(bits, false, exec),
        _ => return Err(format!("bad mode '{how}'")),
    };
    pid.map(|p| p.to_string())
        .map_err(|e| format!("clone({bits:#x}, {how}): {e}"))
}

/// waitpid() for one child (or tracee); answers the time it took in
/// microseconds and how the process ended.
fn reap(pid: &str) -> Result<String, String> {
    let pid: i32 = pid.parse().map_err(|_| format!("bad pid '{pid}'"))?;
    let t = std::time::Instant::now();
    let e = sys::wait_exit(pid).map_err(|e| format!("waitpid({pid}): {e}"))?;
    Ok(format!("{} {e}", t.elapsed().as_micros()))
}

/// waitpid() for several children at once, one thread each, so that their
/// releases may overlap. The threads for the later ones are started first
/// (SCHED_FIFO where allowed, so that they run on time on a busy system)
/// and spin until this thread is about to wait for the first; then the
/// i-th waits i times `stagger_us` (spinning: a sleep under TCG lasts
/// milliseconds) and waits too, so that it starts while the first release
/// still runs. Every waitpid() runs at nice 19. Answers "pid:start:end"
/// per child, CLOCK_MONOTONIC
/// nanoseconds (sys::monotonic_ns()), in the order given.
fn reap_all(stagger_us: &str, pids: &[&str]) -> Result<String, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let stagger: u64 = stagger_us
        .parse()
        .map_err(|_| format!("bad stagger '{stagger_us}'"))?;
    let pids: Vec<i32> = pids
        .iter()
        .map(|p| p.parse().map_err(|_| format!("bad pid '{p}'")))
        .collect::<Result<_, String>>()?;
    let (first, rest) = pids.split_first().ok_or("no pid")?;
    // Each waitpid() runs at nice 19 (set by its thread beforehand), so
    // that the racing readers (nice 0) take the CPU from the release
    // between its chunks and read meanwhile.
    let timed = |pid: i32| -> Result<String, String> {
        let start = sys::monotonic_ns();
        let r = sys::wait_exit(pid).map_err(|e| format!("waitpid({pid}): {e}"));
        let end = sys::monotonic_ns();
        r.map(|_| format!("{pid}:{start}:{end}"))
    };
    // 0 until this thread is about to wait: then the time it started.
    let go = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let others: Vec<_> = rest
        .iter()
        .enumerate()
        .map(|(i, &pid)| {
            let (go, ready) = (go.clone(), ready.clone());
            std::thread::spawn(move || {
                // Ahead of the racing readers, so that it starts on time
                // (where allowed: root; else it starts when it can); back
                // to normal for its waitpid().
                let _ = sys::realtime_thread(true);
                ready.fetch_add(1, Ordering::SeqCst);
                let t = loop {
                    match go.load(Ordering::SeqCst) {
                        0 => std::hint::spin_loop(),
                        t => break t,
                    }
                };
                while sys::monotonic_ns() < t + (i as u64 + 1) * stagger * 1000 {
                    std::hint::spin_loop();
                }
                let _ = sys::realtime_thread(false);
                let _ = sys::thread_nice(19);
                timed(pid)
            })
        })
        .collect();
    while ready.load(Ordering::SeqCst) < rest.len() as u64 {
        std::thread::yield_now();
    }
    // Lowered before the others are let go: a thread lowered to nice 19 may
    // wait a while for the CPU, and that wait must not let the later
    // releases start first.
    let _ = sys::thread_nice(19);
    std::thread::yield_now();
    go.store(sys::monotonic_ns(), Ordering::SeqCst);
    let mut out = vec![timed(*first)];
    let _ = sys::thread_nice(0);
    for t in others {
        out.push(
            t.join()
                .unwrap_or_else(|_| Err("reaper thread panicked".into())),
        );
    }
    Ok(out.into_iter().collect::<Result<Vec<_>, _>>()?.join(" "))
}

/// Start a reader inside the pid namespace at `ns` (a /proc/PID/ns/pid
/// path): setns() for our children, one clone3(), setns() back.
fn start_reader(dir: &str, name: &str, ns: &str) -> Result<String, String> {
    sys::enter_pid_ns(ns).map_err(|e| format!("setns {ns}: {e}"))?;
    let pid = sys::spawn(0, &agent_exec("--reader", dir, name));
    sys::enter_pid_ns("/proc/self/ns/pid").map_err(|e| format!("setns back: {e}"))?;
    pid.map(|p| p.to_string()).map_err(|e| e.to_string())
}

/// `n` children that do nothing until killed; answers their pids.
fn holders(n: usize) -> Result<String, String> {
    let mut pids = Vec::with_capacity(n);
    for _ in 0..n {
        pids.push(sys::fork_run(|| sys::pause_forever()).map_err(|e| e.to_string())?);
    }
    Ok(pids
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" "))
}

/// caba_test --pausers N FILE: `N` pausers, then "ready" and their pids,
/// a line each, in FILE.ready, then exit once FILE exists (for a checker
/// run during the release).
pub fn pausers_main(n: &str, file: &str) -> ! {
    let Ok(n) = n.parse::<usize>() else {
        sys::exit_group(2)
    };
    let Ok(pids) = pausers(n) else {
        sys::exit_group(1)
    };
    if std::fs::write(
        format!("{file}.ready"),
        format!("ready\n{}\n", pids.replace(' ', "\n")),
    )
    .is_err()
    {
        sys::exit_group(1);
    }
    while !std::path::Path::new(file).exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    sys::exit_group(0)
}

/// `n` children that share our memory and pause until killed
/// (sys::spawn_pauser()); answers their pids.
fn pausers(n: usize) -> Result<String, String> {
    let mut pids = Vec::with_capacity(n);
    for _ in 0..n {
        match sys::spawn_pauser() {
            Ok(p) => pids.push(p),
            Err(e) => {
                // Leave none behind.
                for &p in &pids {
                    let _ = sys::kill_pid(p, sys::SIGKILL);
                }
                return Err(format!("after {} pausers: {e}", pids.len()));
            }
        }
    }
    Ok(pids
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" "))
}

/// The racing-readers chain, built under this agent X:
/// X -> B1 -> B2 -> ... -> Bdepth -> C1..Ctargets. On "go", Bdepth exits;
/// each Bi reaps B(i+1) and then exits; X reaps B1. CABA(C) walks up one
/// link at a time while the runner reads it. Every member reports
/// "depth NSpid..." (the Cs with depth -1) through a pipe.
struct Chain {
    b1: i32,
    go: std::fs::File,
    report: String,
}

impl Chain {
    fn build(depth: usize, targets: usize) -> Result<Chain, String> {
        let (rep_r, rep_w) = sys::make_pipe().map_err(|e| e.to_string())?;
        let (go_r, go_w) = sys::make_pipe().map_err(|e| e.to_string())?;
        let b1 = sys::fork_run(|| chain_link(1, depth, targets, &rep_w, &go_r))
            .map_err(|e| e.to_string())?;
        drop(rep_w);
        drop(go_r);
        let mut lines = BufReader::new(rep_r);
        let mut report = vec![];
        for _ in 0..depth + targets {
            let mut l = String::new();
            if lines.read_line(&mut l).map_err(|e| e.to_string())? == 0 {
                return Err(format!(
                    "the chain reported {} of {} members",
                    report.len(),
                    depth + targets
                ));
            }
            report.push(l.trim().replace(' ', ":"));
        }
        Ok(Chain {
            b1,
            go: go_w,
            report: report.join(" "),
        })
    }

    fn go(mut self) -> Result<String, String> {
        self.go.write_all(&[1]).map_err(|e| e.to_string())?;
        sys::wait_exit(self.b1)
            .map(|_| String::new())
            .map_err(|e| format!("waitpid(B1): {e}"))
    }
}

/// Link `d` of the chain (1-based): report, make the next link (the last
/// makes the targets and waits for "go"), reap it, and exit.
fn chain_link(
    d: usize,
    depth: usize,
    targets: usize,
    report: &std::fs::File,
    go: &std::fs::File,
) -> i32 {
    let say = |d: i64| {
        let Ok(pids) = my_nspid(false) else { return };
        // One write() below PIPE_BUF: lines from many writers never mix.
        let _ = (&*report).write_all(format!("{d} {pids}\n").as_bytes());
    };
    say(d as i64);
    if d == depth {
        for _ in 0..targets {
            if sys::fork_run(|| {
                say(-1);
                sys::pause_forever()
            })
            .is_err()
            {
                return 1;
            }
        }
        let mut b = [0u8; 1];
        let _ = std::io::Read::read(&mut &*go, &mut b);
        return 0;
    }
    let Ok(next) = sys::fork_run(|| chain_link(d + 1, depth, targets, report, go)) else {
        return 1;
    };
    let _ = sys::wait_exit(next);
    std::thread::sleep(std::time::Duration::from_micros(500));
    0
}
