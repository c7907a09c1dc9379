// SPDX-License-Identifier: GPL-2.0
//! The executor: runs a plan with real processes.
//!
//! Every process of the tree being built is an agent: a copy of this
//! program that waits for commands on a SOCK_SEQPACKET socket to the
//! restorer and does them (fork with set_tid, setsid, setpgid, subreaper,
//! exit, reap, threads). A fork command carries the child's socket
//! (SCM_RIGHTS); the child greets with a pidfd of itself, which the
//! restorer keeps: it pins the process, tells its pid here, and waits for
//! its exit.
//!
//! Everything lives in one new pid namespace whose init is the restorer's
//! only child, with PR_SET_PDEATHSIG: killing it (teardown, any error, the
//! restorer's own death) kills the whole namespace, so no process is left
//! behind on any path. SIGTERM, SIGINT and SIGHUP make the restorer tear
//! down and exit; see `Restored::teardown` for the one way a namespace can
//! fail to die (an init in a group led from inside its namespace).

use crate::dump::Id;
use crate::plan::{Op, Plan};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};

const CHAN_FD: RawFd = 3;
/// What the restored namespace's init gets when the restorer dies.
const PARENT_DEATH_SIGNAL: libc::c_int = libc::SIGUSR2;

extern "C" fn init_on_parent_death(_: libc::c_int) {
    // SAFETY: async-signal-safe syscalls only. setpgid fails harmlessly
    // for a session leader, which leads its own group already.
    unsafe {
        libc::setpgid(0, 0);
        libc::_exit(10);
    }
}
const REPLY_MS: i32 = 120_000;

#[derive(Serialize, Deserialize, Debug)]
enum Cmd {
    Fork {
        pids: Vec<i32>,
        new_pidns: bool,
        clone_parent: bool,
    },
    Setsid,
    Setpgid {
        pgid: i32,
    },
    Subreaper {
        on: bool,
    },
    GetSubreaper,
    /// Before teardown, in a namespace init: leave a process group that
    /// is not its own (see `Restored::teardown`).
    OwnGroup,
    Exit,
    Reap {
        pid: i32,
    },
    Thread {
        tids: Vec<i32>,
    },
    /// setns(fd, CLONE_NEWPID) with the pidfd that comes with the command.
    Setns,
    /// The main thread exits alone (SYS_exit); the others keep running.
    LeaderExit,
}

#[derive(Serialize, Deserialize, Debug)]
enum Reply {
    Ok(i64),
    Err(String),
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// The agent's loop; never returns.
fn agent(chan: RawFd) -> ! {
    let hello = sys::pidfd_open(std::process::id() as i32)
        .and_then(|fd| sys::send(chan, b"hello", Some(fd.as_raw_fd())));
    if hello.is_err() {
        // SAFETY: _exit is always safe; nothing to clean up in an agent.
        unsafe { libc::_exit(3) };
    }
    loop {
        let Ok((msg, fd)) = sys::recv(chan) else {
            // SAFETY: as above.
            unsafe { libc::_exit(4) };
        };
        if msg.is_empty() {
            // The restorer is gone.
            // SAFETY: as above.
            unsafe { libc::_exit(5) };
        }
        let reply = match serde_json::from_slice::<Cmd>(&msg) {
            Err(e) => Reply::Err(format!("bad command: {e}")),
            Ok(Cmd::LeaderExit) => {
                let _ = sys::send(chan, &reply_bytes(&Reply::Ok(0)), None);
                // SAFETY: ends this thread only; the process lives on in its
                // other threads, which touch no memory of this one.
                unsafe { libc::syscall(libc::SYS_exit, 0) };
                // SAFETY: not reached.
                unsafe { libc::_exit(9) };
            }
            Ok(Cmd::Exit) => {
                let _ = sys::send(chan, &reply_bytes(&Reply::Ok(0)), None);
                // SAFETY: exiting the whole process is what was asked.
                unsafe { libc::_exit(0) };
            }
            Ok(cmd) => run_cmd(cmd, fd),
        };
        if sys::send(chan, &reply_bytes(&reply), None).is_err() {
            // SAFETY: as above.
            unsafe { libc::_exit(6) };
        }
    }
}

fn reply_bytes(r: &Reply) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_else(|_| b"{\"Err\":\"encode\"}".to_vec())
}

/// In a freshly forked agent: take `chan` as CHAN_FD, close everything
/// else, run the agent loop.
fn become_agent(chan: OwnedFd) -> ! {
    let raw = chan.into_raw_fd();
    // SAFETY: plain fd syscalls on fds this process owns; the agent owns
    // no Rust object that refers to the closed fds. The restorer's
    // termination handlers are not for agents.
    unsafe {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::signal(sig, libc::SIG_DFL);
        }
        if libc::dup2(raw, CHAN_FD) < 0 {
            libc::_exit(7);
        }
        libc::syscall(libc::SYS_close_range, (CHAN_FD + 1) as u32, u32::MAX, 0u32);
    }
    agent(CHAN_FD)
}

fn run_cmd(cmd: Cmd, fd: Option<OwnedFd>) -> Reply {
    let r: Result<i64, String> = match cmd {
        Cmd::Fork {
            pids,
            new_pidns,
            clone_parent,
        } => {
            let Some(child_chan) = fd else {
                return Reply::Err("fork without a channel".into());
            };
            let mut flags = 0u64;
            if new_pidns {
                flags |= libc::CLONE_NEWPID as u64;
            }
            if clone_parent {
                flags |= libc::CLONE_PARENT as u64;
            }
            match sys::clone3_process(flags, &pids) {
                Ok(0) => become_agent(child_chan),
                Ok(pid) => Ok(pid as i64),
                Err(e) => Err(format!(
                    "clone3 set_tid {pids:?}{}{}: {e}",
                    if new_pidns { " CLONE_NEWPID" } else { "" },
                    if clone_parent { " CLONE_PARENT" } else { "" }
                )),
            }
        }
        // SAFETY (all below): plain syscalls with integer arguments or a
        // pointer to a local int.
        Cmd::Setsid => sys::errno_result(unsafe { libc::setsid() })
            .map(|v| v as i64)
            .map_err(|e| format!("setsid: {e}")),
        Cmd::Setpgid { pgid } => sys::errno_result(unsafe { libc::setpgid(0, pgid) })
            .map(|v| v as i64)
            .map_err(|e| format!("setpgid(0, {pgid}): {e}")),
        Cmd::Subreaper { on } => sys::errno_result(unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, on as libc::c_ulong, 0, 0, 0)
        })
        .map(|v| v as i64)
        .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}")),
        Cmd::GetSubreaper => {
            let mut v: libc::c_int = 0;
            sys::errno_result(unsafe {
                libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut v as *mut libc::c_int, 0, 0, 0)
            })
            .map(|_| v as i64)
            .map_err(|e| format!("PR_GET_CHILD_SUBREAPER: {e}"))
        }
        Cmd::OwnGroup => {
            // In the namespace's own numbering: 0 for a group led from
            // outside the namespace, our own pid for our own group.
            // SAFETY: plain syscalls without pointers.
            let (me, pg, sid) = unsafe { (libc::getpid(), libc::getpgid(0), libc::getsid(0)) };
            if pg != 0 && pg != me && sid != me {
                sys::errno_result(unsafe { libc::setpgid(0, 0) })
                    .map(|_| pg as i64)
                    .map_err(|e| format!("setpgid(0, 0) in an init in group {pg}: {e}"))
            } else {
                Ok(0)
            }
        }
        Cmd::Reap { pid } => {
            let mut st = 0;
            sys::errno_result(unsafe { libc::waitpid(pid, &mut st, libc::__WALL) })
                .map(|v| v as i64)
                .map_err(|e| format!("waitpid({pid}): {e}"))
        }
        Cmd::Thread { tids } => sys::clone3_idle_thread(&tids)
            .map(|v| v as i64)
            .map_err(|e| format!("thread set_tid {tids:?}: {e}")),
        Cmd::Setns => match fd {
            // SAFETY: setns on a pidfd we own, with a flag constant.
            Some(fd) => sys::errno_result(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) })
                .map(|v| v as i64)
                .map_err(|e| format!("setns(CLONE_NEWPID): {e}")),
            None => Err("setns without a pidfd".into()),
        },
        Cmd::Exit | Cmd::LeaderExit => Ok(0),
    };
    match r {
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Err(e),
    }
}

struct Agent {
    chan: Option<OwnedFd>,
    pidfd: OwnedFd,
    /// Pid in the restorer's namespace.
    host_pid: i32,
}

/// A restored tree. Dropping it tears the tree down.
pub struct Restored {
    agents: BTreeMap<Id, Agent>,
    pids: BTreeMap<Id, Vec<i32>>,
    init: Option<(i32, OwnedFd)>,
    pub root: Id,
    /// Processes that ended as zombies, and whose subreaper flag we set.
    zombie_subreapers: BTreeSet<Id>,
    pub helpers: usize,
}

fn host_pid_of(pidfd: &OwnedFd) -> Result<i32, String> {
    // One ioctl where the kernel has PIDFD_GET_INFO (6.13), else fdinfo.
    if let Ok(info) = sys::pidfd_get_info(pidfd, 0) {
        if info.tgid > 0 {
            return Ok(info.tgid as i32);
        }
    }
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{path}: no Pid line"))
}

fn hello(chan: &OwnedFd) -> Result<(OwnedFd, i32), String> {
    if !sys::readable(chan.as_raw_fd(), REPLY_MS).map_err(|e| e.to_string())? {
        return Err("new process did not greet in time".into());
    }
    let (msg, fd) = sys::recv(chan.as_raw_fd()).map_err(|e| format!("hello: {e}"))?;
    match (msg.as_slice(), fd) {
        (b"hello", Some(fd)) => {
            let pid = host_pid_of(&fd)?;
            Ok((fd, pid))
        }
        _ => Err("new process died before greeting".into()),
    }
}

impl Restored {
    fn new(root: Id) -> Restored {
        Restored {
            agents: BTreeMap::new(),
            pids: BTreeMap::new(),
            init: None,
            root,
            zombie_subreapers: BTreeSet::new(),
            helpers: 0,
        }
    }

    /// Pid of the restored root in the restorer's namespace.
    pub fn root_host_pid(&self) -> Option<i32> {
        self.agents.get(&self.root).map(|a| a.host_pid)
    }

    fn ask(&mut self, actor: Id, cmd: &Cmd, fd: Option<RawFd>) -> Result<i64, String> {
        self.ask_within(actor, cmd, fd, REPLY_MS)
    }

    fn ask_within(&mut self, actor: Id, cmd: &Cmd, fd: Option<RawFd>, ms: i32) -> Result<i64, String> {
        let a = self
            .agents
            .get(&actor)
            .ok_or_else(|| format!("no process {actor}"))?;
        let chan = a.chan.as_ref().ok_or_else(|| format!("process {actor} has exited"))?;
        let bytes = serde_json::to_vec(cmd).map_err(|e| e.to_string())?;
        sys::send(chan.as_raw_fd(), &bytes, fd).map_err(|e| format!("to {actor}: {e}"))?;
        if !sys::readable(chan.as_raw_fd(), ms).map_err(|e| e.to_string())? {
            return Err(format!("process {actor} did not answer {cmd:?}"));
        }
        let (msg, _) = sys::recv(chan.as_raw_fd()).map_err(|e| format!("from {actor}: {e}"))?;
        if msg.is_empty() {
            return Err(format!("process {actor} died doing {cmd:?}"));
        }
        match serde_json::from_slice::<Reply>(&msg).map_err(|e| e.to_string())? {
            Reply::Ok(v) => Ok(v),
            Reply::Err(e) => Err(format!("process {actor}: {e}")),
        }
    }

    fn pid_at(&self, who: Id, level_of: Id) -> Result<i32, String> {
        let lvl = self.pids.get(&level_of).map_or(0, |v| v.len() - 1);
        self.pids
            .get(&who)
            .and_then(|v| v.get(lvl))
            .copied()
            .ok_or_else(|| format!("{who} has no pid in the namespace of {level_of}"))
    }

    fn make_init(&mut self, child: Id, pids: &[i32], userns: bool) -> Result<(), String> {
        let (ours, theirs) = sys::socketpair().map_err(|e| e.to_string())?;
        let mut flags = libc::CLONE_NEWPID as u64;
        if userns {
            flags |= libc::CLONE_NEWUSER as u64;
        }
        let pid = sys::clone3_process(flags, &[]).map_err(|e| {
            format!("clone3(CLONE_NEWPID{}): {e}", if userns { "|CLONE_NEWUSER" } else { "" })
        })?;
        if pid == 0 {
            // SAFETY: plain syscalls in the new child; on failure it exits.
            unsafe {
                // On the restorer's death: leave a foreign group first (see
                // teardown), then exit, which kills the namespace.
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = init_on_parent_death as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(PARENT_DEATH_SIGNAL, &sa, std::ptr::null_mut()) < 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL as libc::c_ulong, 0, 0, 0) < 0
                {
                    libc::_exit(8);
                }
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                }
            }
            drop(ours);
            become_agent(theirs);
        }
        drop(theirs);
        // SAFETY: pidfd_open right away; should it fail, kill by pid (our
        // own child, which we have not reaped, so the pid is still its).
        let early_kill = |pid: i32| unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        };
        if userns {
            if let Err(e) = write_maps(pid) {
                early_kill(pid);
                return Err(e);
            }
        }
        let (pidfd, host_pid) = match hello(&ours) {
            Ok(v) => v,
            Err(e) => {
                early_kill(pid);
                return Err(e);
            }
        };
        let keep = sys::pidfd_open(pid).map_err(|e| os_err(&format!("pidfd_open({pid}): {e}")));
        let keep = match keep {
            Ok(k) => k,
            Err(e) => {
                early_kill(pid);
                return Err(e);
            }
        };
        self.init = Some((pid, keep));
        self.pids.insert(child, pids.to_vec());
        self.agents.insert(
            child,
            Agent {
                chan: Some(ours),
                pidfd,
                host_pid,
            },
        );
        Ok(())
    }

    fn apply(&mut self, op: &Op, userns: bool) -> Result<(), String> {
        match op {
            Op::Fork {
                actor: 0,
                child,
                pids,
                ..
            } => self.make_init(*child, pids, userns),
            Op::Fork {
                actor,
                child,
                pids,
                new_pidns,
                clone_parent,
            } => {
                let (ours, theirs) = sys::socketpair().map_err(|e| e.to_string())?;
                let cmd = Cmd::Fork {
                    pids: pids.clone(),
                    new_pidns: *new_pidns,
                    clone_parent: *clone_parent,
                };
                self.ask(*actor, &cmd, Some(theirs.as_raw_fd()))?;
                drop(theirs);
                let (pidfd, host_pid) = hello(&ours)?;
                self.pids.insert(*child, pids.clone());
                self.agents.insert(
                    *child,
                    Agent {
                        chan: Some(ours),
                        pidfd,
                        host_pid,
                    },
                );
                Ok(())
            }
            Op::Setsid { actor } => self.ask(*actor, &Cmd::Setsid, None).map(|_| ()),
            Op::Setpgid { actor, pgid } => {
                let g = self.pid_at(*pgid, *actor)?;
                self.ask(*actor, &Cmd::Setpgid { pgid: g }, None).map(|_| ())
            }
            Op::Subreaper { actor, on } => self
                .ask(*actor, &Cmd::Subreaper { on: *on }, None)
                .map(|_| ()),
            Op::Exit { actor } => {
                let was_subreaper = self.ask(*actor, &Cmd::GetSubreaper, None)? != 0;
                self.ask(*actor, &Cmd::Exit, None)?;
                let a = self.agents.get_mut(actor).ok_or("lost agent")?;
                a.chan = None;
                // The pidfd polls readable once the exit (and the
                // reparenting of the children) is done.
                if !sys::readable(a.pidfd.as_raw_fd(), REPLY_MS).map_err(|e| e.to_string())? {
                    return Err(format!("process {actor} did not exit"));
                }
                if was_subreaper {
                    self.zombie_subreapers.insert(*actor);
                }
                Ok(())
            }
            Op::Reap { actor, child } => {
                let pid = self.pid_at(*child, *actor)?;
                self.ask(*actor, &Cmd::Reap { pid }, None)?;
                self.agents.remove(child);
                self.zombie_subreapers.remove(child);
                Ok(())
            }
            Op::Thread { actor, tids } => self
                .ask(*actor, &Cmd::Thread { tids: tids.clone() }, None)
                .map(|_| ()),
            Op::Setns { actor, ns } => {
                let fd = self
                    .agents
                    .get(ns)
                    .map(|a| a.pidfd.as_raw_fd())
                    .ok_or_else(|| format!("no init {ns} to take the namespace of"))?;
                self.ask(*actor, &Cmd::Setns, Some(fd)).map(|_| ())
            }
            Op::LeaderExit { actor } => {
                let was_subreaper = self.ask(*actor, &Cmd::GetSubreaper, None)? != 0;
                self.ask(*actor, &Cmd::LeaderExit, None)?;
                let a = self.agents.get_mut(actor).ok_or("lost agent")?;
                a.chan = None;
                // The reply comes before the thread is gone: wait for its
                // state to turn Z, so that a dump right after sees it.
                let path = format!("/proc/{}/stat", a.host_pid);
                let t0 = std::time::Instant::now();
                loop {
                    let st = std::fs::read_to_string(&path).unwrap_or_default();
                    let state = st.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
                    if state == Some('Z') {
                        break;
                    }
                    if t0.elapsed().as_millis() > REPLY_MS as u128 {
                        return Err(format!("the main thread of {actor} did not exit"));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                if was_subreaper {
                    self.zombie_subreapers.insert(*actor);
                }
                Ok(())
            }
        }
        .map_err(|e| format!("{op}: {e}"))
    }

    /// Host pids of the processes that are child subreapers now, asked of
    /// each live process (PR_GET_CHILD_SUBREAPER), zombies as they exited.
    pub fn subreapers(&mut self) -> Result<Vec<i32>, String> {
        let ids: Vec<Id> = self.agents.keys().copied().collect();
        let mut out = vec![];
        for id in ids {
            let live = self.agents[&id].chan.is_some();
            let on = if live {
                self.ask(id, &Cmd::GetSubreaper, None)? != 0
            } else {
                self.zombie_subreapers.contains(&id)
            };
            if on {
                out.push(self.agents[&id].host_pid);
            }
        }
        Ok(out)
    }

    /// Kill the namespace's init (and so everything in it) and reap it.
    ///
    /// A namespace init that belongs to a process group led by another
    /// pid of its own namespace (it called setpgid(0, g), as restored trees
    /// and real ones may) can never finish dying: zap_pid_ns_processes()
    /// waits until the namespace holds no pid but the init's own, and the
    /// group's struct pid stays allocated for as long as any task is
    /// attached to it as PGID, the dying init included (it is detached in
    /// release_task() of the init, which comes after). The init then sleeps
    /// in zap_pid_ns_processes forever, unkillable, with its parent waiting.
    /// (A session cannot cause it: an init cannot join a session led from
    /// inside its namespace.) So every live namespace init is first moved
    /// into a group of its own.
    pub fn teardown(&mut self) {
        let inits: Vec<Id> = self
            .agents
            .iter()
            .filter(|(id, a)| a.chan.is_some() && self.pids.get(id).and_then(|p| p.last()) == Some(&1))
            .map(|(&id, _)| id)
            .collect();
        for id in inits {
            if let Err(e) = self.ask_within(id, &Cmd::OwnGroup, None, 10_000) {
                eprintln!("caba-restore: teardown: namespace init {id}: {e}");
            }
        }
        // Drop the channels and pidfds: the agents exit on EOF.
        self.agents.clear();
        if let Some((pid, fd)) = self.init.take() {
            let _ = sys::pidfd_kill(&fd, libc::SIGKILL);
            // The pidfd polls readable when the init has exited, which is
            // after every process of the namespace is gone. Bounded: a
            // namespace that never empties must not hang the caller.
            if sys::readable(fd.as_raw_fd(), 30_000).unwrap_or(false) {
                // SAFETY: reaping our own child, which has exited.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            } else {
                eprintln!(
                    "caba-restore: the restored namespace's init (pid {pid}) did not finish \
                     dying in 30 s (stuck in zap_pid_ns_processes?); left to the kernel"
                );
            }
        }
        self.agents.clear();
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn write_maps(pid: i32) -> Result<(), String> {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let w = |f: &str, s: String| {
        std::fs::write(format!("/proc/{pid}/{f}"), s).map_err(|e| format!("/proc/{pid}/{f}: {e}"))
    };
    w("uid_map", format!("0 {uid} 1\n"))?;
    w("setgroups", "deny\n".into())?;
    w("gid_map", format!("0 {gid} 1\n"))
}

/// Level of this process's pid namespace (0: the initial one).
pub fn own_level() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|v| v.split_whitespace().count().saturating_sub(1))
        })
        .unwrap_or(0)
}

/// Pid namespaces nest at most this deep (MAX_PID_NS_LEVEL).
const MAX_PID_NS_LEVEL: usize = 32;

/// Why this plan cannot run here, where that is known in advance: the
/// restored namespace sits one level below ours, so a tree `n` namespaces
/// deep needs our level + n <= MAX_PID_NS_LEVEL.
pub fn cannot_run_here(plan: &Plan) -> Option<String> {
    let deepest = plan
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::Fork { pids, .. } => Some(pids.len()),
            _ => None,
        })
        .max()
        .unwrap_or(1);
    let here = own_level();
    (here + deepest > MAX_PID_NS_LEVEL).then(|| {
        format!(
            "the tree is {deepest} pid namespaces deep; restored in a new namespace below this \
             one (level {here}) it would need level {}, and the kernel stops at {MAX_PID_NS_LEVEL}",
            here + deepest
        )
    })
}

/// Allow as many open files as the system does (fs.nr_open) where the
/// restorer may raise its hard limit (CAP_SYS_RESOURCE), else as many as
/// the hard limit does: the restorer holds a channel and a pidfd for every
/// process it makes, and trees of thousands of processes pass the usual
/// hard limit of 4,096.
pub fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<libc::rlim_t>().ok());
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        if let Some(n) = nr_open.filter(|&n| n > r.rlim_max) {
            let all = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &all) == 0 {
                return;
            }
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Run a plan. On any error the partly built tree is torn down.
pub fn execute(plan: &Plan, userns: bool) -> Result<Restored, String> {
    if let Some(why) = cannot_run_here(plan) {
        return Err(why);
    }
    let mut r = Restored::new(plan.root);
    r.helpers = plan.helpers.len();
    let trace = std::env::var_os("CABA_RESTORE_TRACE").is_some();
    for op in &plan.ops {
        if trace {
            eprintln!("op {op}");
        }
        r.apply(op, userns)?; // `r` is dropped (torn down) on error
    }
    Ok(r)
}

/// Should the restore use a user namespace (not root)?
pub fn want_userns() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() != 0 }
}
