// SPDX-License-Identifier: GPL-2.0
//! The runner's side of a test: real processes driven by name, the model
//! kept in step with them, and the check that compares what the kernel
//! shows with the model after every step.
//!
//! Every process of a test descends from one root agent, a subreaper and
//! session leader that the runner starts first: orphans of the root
//! namespace go to it, it reaps them, and it starts a reader agent inside
//! every pid namespace the test makes. The check looks at every present
//! process from the root namespace (the runner itself) and from each
//! reader: NScaba of the process and of each thread, and PIDFD_GET_INFO
//! through a process pidfd and through a PIDFD_THREAD pidfd per thread,
//! besides PPid, NSpid, NSpgid and NSsid.

use crate::chan::Chan;
use crate::look::{self, Look, Pidfd};
use crate::model::{self, Model, Ns, Pid, State, ROOT};
use crate::sys;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::panic::Location;
use std::time::{Duration, Instant};

/// How long the kernel may take to reach the state the model predicts.
const SETTLE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Vm {
    #[default]
    No,
    /// CLONE_VM | CLONE_VFORK, as vfork() and posix_spawn().
    Vfork,
    /// CLONE_VM alone: the child shares the memory until it execs.
    Shared,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub clone_parent: bool,
    pub new_pid_ns: bool,
    pub autoreap: bool,
    pub vm: Vm,
}

pub const PLAIN: Flags = Flags {
    clone_parent: false,
    new_pid_ns: false,
    autoreap: false,
    vm: Vm::No,
};
pub const CLONE_PARENT: Flags = Flags {
    clone_parent: true,
    ..PLAIN
};
pub const NEW_PID_NS: Flags = Flags {
    new_pid_ns: true,
    ..PLAIN
};
pub const VFORK: Flags = Flags {
    vm: Vm::Vfork,
    ..PLAIN
};
pub const CLONE_VM: Flags = Flags {
    vm: Vm::Shared,
    ..PLAIN
};
pub const AUTOREAP: Flags = Flags {
    autoreap: true,
    ..PLAIN
};

impl Flags {
    fn bits(&self) -> u64 {
        (self.clone_parent as u64 * sys::CLONE_PARENT)
            | (self.new_pid_ns as u64 * sys::CLONE_NEWPID)
            | (self.autoreap as u64 * sys::CLONE_AUTOREAP)
    }

    fn mode(&self) -> &'static str {
        match self.vm {
            Vm::No => "clone3",
            Vm::Vfork => "vfork",
            Vm::Shared => "vm",
        }
    }

    pub fn model(&self) -> model::Clone {
        model::Clone {
            clone_parent: self.clone_parent,
            new_pid_ns: self.new_pid_ns,
            autoreap: self.autoreap,
        }
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (on, name) in [
            (self.clone_parent, " CLONE_PARENT"),
            (self.new_pid_ns, " CLONE_NEWPID"),
            (self.autoreap, " CLONE_AUTOREAP"),
            (self.vm == Vm::Vfork, " CLONE_VM|CLONE_VFORK"),
            (self.vm == Vm::Shared, " CLONE_VM"),
        ] {
            if on {
                s += name;
            }
        }
        s
    }
}

/// A reader agent; its channel is in World::chans as "reader<ns>".
struct Reader {
    pid: i32, // in the root namespace
}

/// What the checks compared, over the world's life.
#[derive(Default, Debug, Clone, Copy)]
pub struct Compared {
    pub nscaba: usize,
    pub pidfd: usize,
    /// pidfd CABAs whose caba_ino was checked against the model's CABA.
    pub ino: usize,
    pub other: usize,
}

pub struct World {
    pub m: Model,
    /// CABA_HOOK_TEST for this world.
    label: String,
    dir: String,
    chans: HashMap<String, Chan>,
    /// Thread agents: name -> (process, tid in the root namespace).
    threads: HashMap<String, (Pid, i32)>,
    readers: HashMap<Ns, Reader>,
    /// A pidfd per process, opened at its birth: tells when it is released.
    pidfds: HashMap<Pid, OwnedFd>,
    /// Processes that dropped their privileges, and their children: they
    /// make children with fork() alone (they may not exec this program).
    unprivileged: Vec<Pid>,
    pub steps: Vec<String>,
    /// The test line that asked for the current step.
    at: &'static Location<'static>,
    pub compared: Compared,
}

fn nspid_of(s: &str) -> Result<Vec<i32>, String> {
    s.split_whitespace()
        .map(|w| {
            w.parse::<i32>()
                .map_err(|e| format!("bad pid list '{s}': {e}"))
        })
        .collect()
}

fn next_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl World {
    /// A world named for the test being run (or `label`).
    #[track_caller]
    pub fn new() -> Result<World, String> {
        World::labelled(&crate::current_test())
    }

    #[track_caller]
    pub fn labelled(label: &str) -> Result<World, String> {
        let at = Location::caller();
        let dir = format!("/tmp/caba_test.{}.{}", sys::my_pid(), next_id());
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        // Whatever the root agent leaves behind comes to us when it dies.
        sys::set_subreaper(true).map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
        let mut chan = Chan::runner(&dir, "root")?;
        let exe = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let exec = sys::Exec::new(&[exe, "--agent".into(), dir.clone(), "root".into()]);
        sys::spawn(0, &exec).map_err(|e| format!("runner: clone3 of the root agent: {e}"))?;
        let nspid = nspid_of(
            &chan
                .expect("ready")
                .map_err(|e| format!("root agent: {e}"))?,
        )?;
        let mut w = World {
            m: Model::new(nspid[0]),
            label: label.into(),
            dir,
            chans: HashMap::from([("root".to_string(), chan)]),
            threads: HashMap::new(),
            readers: HashMap::new(),
            pidfds: HashMap::new(),
            unprivileged: vec![],
            steps: vec![],
            at,
            compared: Compared::default(),
        };
        let fd = sys::pidfd_open(nspid[0], false).map_err(|e| format!("pidfd_open(root): {e}"))?;
        w.pidfds.insert(ROOT, fd);
        w.ask("root", "setsid")?;
        w.ask("root", "subreaper 1")?;
        Ok(w)
    }

    fn located(&self, e: String) -> String {
        format!("{}:{}: {e}", self.at.file(), self.at.line())
    }

    pub fn pid(&self, name: &str) -> Pid {
        self.m
            .find(name)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// Root-namespace tgid of a named process.
    pub fn root_pid(&self, name: &str) -> i32 {
        self.m.procs[self.pid(name)].nspid[0]
    }

    fn name(&self, p: Pid) -> String {
        self.m.procs[p].name.clone()
    }

    /// The process a (process or thread) agent name belongs to.
    fn owner(&self, name: &str) -> Result<Pid, String> {
        if let Some(&(p, _)) = self.threads.get(name) {
            return Ok(p);
        }
        self.m
            .find(name)
            .ok_or_else(|| format!("no process or thread '{name}'"))
    }

    /// The agent that acts for `name`: the process's main thread, or, once
    /// that exited alone, one of its other threads.
    fn agent_for(&self, name: &str) -> Result<String, String> {
        if self.threads.contains_key(name) {
            return Ok(name.into());
        }
        let p = self.owner(name)?;
        let pr = &self.m.procs[p];
        if pr.leader_alive {
            return Ok(name.into());
        }
        pr.threads
            .first()
            .cloned()
            .ok_or_else(|| format!("{name} has no live thread to act"))
    }

    /// How a process that did not answer is doing, from /proc/PID/stat.
    fn describe(&self, pid: i32) -> String {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return format!("pid {pid} is gone");
        };
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let state = f.first().copied().unwrap_or("?");
        // Field 52 of stat, the exit code as waitpid() reports it.
        match (state, f.get(49).and_then(|c| c.parse::<i32>().ok())) {
            ("Z", Some(code)) => format!(
                "pid {pid} is a zombie that {}",
                sys::Exit::from_status(code)
            ),
            (s, _) => format!("pid {pid} is in state {s}"),
        }
    }

    /// Send `cmd` to agent `agent` and wait for "ok"; the rest of the
    /// answer is returned.
    pub fn ask(&mut self, agent: &str, cmd: &str) -> Result<String, String> {
        let r = {
            let c = self
                .chans
                .get_mut(agent)
                .ok_or_else(|| format!("'{agent}' has no agent (exited?)"))?;
            c.send(cmd).and_then(|_| c.expect("ok"))
        };
        r.map_err(|e| {
            let pid = self
                .threads
                .get(agent)
                .map(|&(_, tid)| tid)
                .or_else(|| self.m.find(agent).map(|p| self.m.procs[p].nspid[0]))
                .or_else(|| Some(self.root_pid_of_reader(agent)).filter(|&p| p != 0));
            let how = pid
                .map(|p| format!(" ({})", self.describe(p)))
                .unwrap_or_default();
            format!("{agent}: '{cmd}': {e}{how}")
        })
    }

    fn step(&mut self, what: String) -> Result<(), String> {
        self.steps.push(what);
        self.check()
    }

    /// Wait until the kernel shows every process in the state `next`
    /// gives it (zombie, or released), then make `next` the model.
    fn settle(&mut self, next: Model) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE;
        for p in 0..next.procs.len() {
            let (was, now) = (self.m.procs.get(p).map(|q| q.state), next.procs[p].state);
            if was == Some(now) || now == State::Alive {
                continue;
            }
            let pid = next.procs[p].nspid[0];
            loop {
                let done = match now {
                    State::Zombie => is_zombie(pid),
                    _ => self.released(p),
                };
                if done {
                    break;
                }
                if Instant::now() > deadline {
                    let q = &next.procs[p];
                    let parent = q
                        .parent
                        .map(|r| next.procs[r].name.clone())
                        .unwrap_or_default();
                    return Err(format!(
                        "{} ({pid}) is not {} after {} s, as the model expects \
                         (parent {parent}, which ignores SIGCHLD: {}; \
                         CLONE_AUTOREAP: {}; traced: {}): {}",
                        q.name,
                        if now == State::Zombie {
                            "a zombie"
                        } else {
                            "released"
                        },
                        SETTLE.as_secs(),
                        q.parent.is_some_and(|r| next.procs[r].ignores_sigchld),
                        q.autoreap,
                        q.tracer.is_some(),
                        self.describe(pid)
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.m = next;
        Ok(())
    }

    /// Whether process `p` has been released: its pidfd finds no task.
    fn released(&self, p: Pid) -> bool {
        match self.pidfds.get(&p) {
            Some(fd) => matches!(
                sys::pidfd_get_info(fd, 0),
                Err(e) if e.raw_os_error() == Some(sys::ESRCH)
            ),
            None => true,
        }
    }

    /// `creator` (a process or one of its threads) makes `name`.
    #[track_caller]
    pub fn spawn(&mut self, creator: &str, name: &str, f: Flags) -> Result<(), String> {
        self.at = Location::caller();
        self.spawn_(creator, name, f).map_err(|e| self.located(e))
    }

    fn spawn_(&mut self, creator: &str, name: &str, f: Flags) -> Result<(), String> {
        let c = self.owner(creator)?;
        let agent = self.agent_for(creator)?;
        let from_thread = self.threads.contains_key(&agent);
        if let Some(why) = self.m.fork_refused(c, from_thread, f.model()) {
            return Err(format!("{creator} cannot make {name}: {why}"));
        }
        let mut chan = Chan::runner(&self.dir, name)?;
        let unprivileged = self.unprivileged.contains(&c);
        let mode = if unprivileged {
            if f.bits() != 0 || f.vm != Vm::No || from_thread {
                return Err(format!(
                    "{creator} dropped its privileges: it can only fork() plainly"
                ));
            }
            "fork"
        } else {
            f.mode()
        };
        self.ask(&agent, &format!("fork {name} {} {mode}", f.bits()))?;
        let nspid = nspid_of(&chan.expect("ready").map_err(|e| format!("{name}: {e}"))?)?;
        let id = self.m.fork(c, from_thread, name, f.model());
        let want_cols = self.m.level(id) + 1;
        let got_cols = nspid.len();
        self.m.procs[id].nspid = nspid;
        if got_cols != want_cols {
            return Err(format!(
                "{name} has {got_cols} pid numbers, the model expects {want_cols}"
            ));
        }
        let fd = sys::pidfd_open(self.m.procs[id].nspid[0], false)
            .map_err(|e| format!("runner: pidfd_open({name}): {e}"))?;
        self.pidfds.insert(id, fd);
        if unprivileged {
            self.unprivileged.push(id);
        }
        self.chans.insert(name.into(), chan);
        let ns = self.m.procs[id].ns;
        if self.m.ns[ns].init == Some(id) {
            self.start_reader(ns, id)?;
        }
        self.step(format!("{creator} makes {name}{}", f.describe()))
    }

    /// A reader agent in `ns`, whose init `init` has just been created.
    fn start_reader(&mut self, ns: Ns, init: Pid) -> Result<(), String> {
        let name = format!("reader{ns}");
        let mut chan = Chan::runner(&self.dir, &name)?;
        let init_pid = self.m.procs[init].nspid[0];
        let pid = self.ask("root", &format!("reader {name} /proc/{init_pid}/ns/pid"))?;
        let pid = pid.parse().map_err(|_| format!("reader pid '{pid}'"))?;
        chan.expect("ready").map_err(|e| format!("{name}: {e}"))?;
        self.readers.insert(ns, Reader { pid });
        self.chans.insert(name, chan);
        Ok(())
    }

    fn stop_reader(&mut self, ns: Ns) -> Result<(), String> {
        if let Some(r) = self.readers.remove(&ns) {
            self.chans.remove(&format!("reader{ns}"));
            let _ = sys::kill_pid(r.pid, sys::SIGKILL);
            self.ask("root", &format!("reap {}", r.pid))?;
        }
        Ok(())
    }

    /// `proc_name` (through its main thread, or another if that is gone)
    /// creates a thread agent `name`.
    #[track_caller]
    pub fn thread(&mut self, proc_name: &str, name: &str) -> Result<(), String> {
        self.at = Location::caller();
        self.thread_(proc_name, name).map_err(|e| self.located(e))
    }

    fn thread_(&mut self, proc_name: &str, name: &str) -> Result<(), String> {
        let p = self.owner(proc_name)?;
        let agent = self.agent_for(proc_name)?;
        let mut chan = Chan::runner(&self.dir, name)?;
        self.ask(&agent, &format!("thread {name}"))?;
        let tids = nspid_of(&chan.expect("ready").map_err(|e| format!("{name}: {e}"))?)?;
        self.m.procs[p].threads.push(name.into());
        self.threads.insert(name.into(), (p, tids[0]));
        self.chans.insert(name.into(), chan);
        self.step(format!("{proc_name} creates thread {name}"))
    }

    /// Thread `name` exits; the process goes on, unless it was its last
    /// thread after the main thread had exited: then the process exits.
    #[track_caller]
    pub fn thread_exit(&mut self, name: &str) -> Result<(), String> {
        self.at = Location::caller();
        self.thread_exit_(name).map_err(|e| self.located(e))
    }

    fn thread_exit_(&mut self, name: &str) -> Result<(), String> {
        let (p, tid) = *self
            .threads
            .get(name)
            .ok_or_else(|| format!("no thread {name}"))?;
        let last = !self.m.procs[p].leader_alive && self.m.procs[p].threads.len() == 1;
        if last {
            self.before_exit(p)?;
        }
        self.ask(name, "texit")?;
        if last {
            let mut next = self.m.clone();
            next.exit(p);
            self.settle(next)?;
            self.forget_threads(p);
            return self.step(format!(
                "{name}, the last thread of {}, exits",
                self.name(p)
            ));
        }
        let path = format!("/proc/{}/task/{tid}", self.m.procs[p].nspid[0]);
        wait_until(
            || !std::path::Path::new(&path).exists(),
            &format!("thread {name} to go"),
        )?;
        self.threads.remove(name);
        self.m.procs[p].threads.retain(|t| t != name);
        self.chans.remove(name);
        self.step(format!("thread {name} exits"))
    }

    fn forget_threads(&mut self, p: Pid) {
        for (t, _) in self.threads.clone().iter().filter(|(_, &(q, _))| q == p) {
            self.threads.remove(t);
            self.chans.remove(t);
        }
        self.m.procs[p].threads.clear();
    }

    /// The main thread of `name` exits alone: a zombie group leader whose
    /// other threads go on.
    #[track_caller]
    pub fn leader_exit(&mut self, name: &str) -> Result<(), String> {
        self.at = Location::caller();
        self.leader_exit_(name).map_err(|e| self.located(e))
    }

    fn leader_exit_(&mut self, name: &str) -> Result<(), String> {
        let p = self.pid(name);
        if self.m.procs[p].threads.is_empty() {
            return Err(format!(
                "{name} has no other thread: its main thread's exit would end it"
            ));
        }
        self.ask(name, "lexit")?;
        let pid = self.m.procs[p].nspid[0];
        wait_until(
            || stat_state(&format!("/proc/{pid}/task/{pid}/stat")) == Some('Z'),
            &format!("the main thread of {name} ({pid}) to become a zombie"),
        )?;
        self.m.procs[p].leader_alive = false;
        self.step(format!("the main thread of {name} exits"))
    }

    /// The whole process exits (exit_group): a zombie, or released at
    /// once if the kernel reaps it (the model says when).
    #[track_caller]
    pub fn exit(&mut self, name: &str) -> Result<(), String> {
        self.at = Location::caller();
        self.exit_(name).map_err(|e| self.located(e))
    }

    fn exit_(&mut self, name: &str) -> Result<(), String> {
        let p = self.pid(name);
        self.before_exit(p)?;
        let agent = self.agent_for(name)?;
        self.chans
            .get_mut(&agent)
            .ok_or("no channel")?
            .send("exit")?;
        let mut next = self.m.clone();
        let released = next.exit(p);
        self.settle(next)?;
        self.forget_threads(p);
        self.chans.remove(name);
        let also: Vec<String> = released
            .iter()
            .filter(|&&q| q != p)
            .map(|&q| self.name(q))
            .collect();
        self.step(format!(
            "{name} exits{}{}",
            if released.contains(&p) {
                " and is reaped at once"
            } else {
                ""
            },
            if also.is_empty() {
                String::new()
            } else {
                format!(", releasing {}", also.join(", "))
            }
        ))
    }

    /// A namespace init may exit only alone; its namespace's reader goes
    /// first (zap_pid_ns_processes() would wait for its zombie).
    fn before_exit(&mut self, p: Pid) -> Result<(), String> {
        if self.m.is_ns_init(p) {
            if self.m.ns_has_others(self.m.procs[p].ns, p) {
                return Err(format!(
                    "{} is a namespace init with processes left: its exit would kill them",
                    self.name(p)
                ));
            }
            self.stop_reader(self.m.procs[p].ns)?;
        }
        Ok(())
    }

    /// The zombie `name` is reaped by its real parent; returns how long the
    /// waitpid() took, in microseconds.
    #[track_caller]
    pub fn reap(&mut self, name: &str) -> Result<u64, String> {
        self.at = Location::caller();
        self.reap_(name).map_err(|e| self.located(e))
    }

    fn reap_(&mut self, name: &str) -> Result<u64, String> {
        let p = self.pid(name);
        let pr = &self.m.procs[p];
        if pr.state != State::Zombie || pr.tracer.is_some() {
            return Err(format!("{name} is not an untraced zombie"));
        }
        let parent = pr.parent.ok_or("no parent")?;
        let pid_there = self.m.pid_in(Some(p), self.m.procs[parent].ns);
        let pname = self.name(parent);
        let agent = self.agent_for(&pname)?;
        let answer = self.ask(&agent, &format!("reap {pid_there}"))?;
        // "<microseconds> <how it ended>", e.g. "812 exited with 0".
        let (us, how) = answer.split_once(' ').unwrap_or((&answer, ""));
        let us = us.parse().unwrap_or(0);
        let mut next = self.m.clone();
        next.reap(p);
        self.settle(next)?;
        self.step(format!("{name} is reaped by {pname} ({how})"))?;
        Ok(us)
    }

    /// The zombies `names`, children of one parent, are reaped at once,
    /// each in a thread of the parent's agent: the first right away, the
    /// i-th i times `stagger_us` later, so that their releases may
    /// overlap. `around(true)` runs right before the command goes out and
    /// `around(false)` right after the answer. Returns each waitpid()'s
    /// start and end, CLOCK_MONOTONIC nanoseconds (sys::monotonic_ns()).
    #[track_caller]
    pub fn reap_together(
        &mut self,
        names: &[&str],
        stagger_us: u64,
        around: impl FnMut(bool),
    ) -> Result<Vec<(u64, u64)>, String> {
        self.at = Location::caller();
        self.reap_together_(names, stagger_us, around)
            .map_err(|e| self.located(e))
    }

    fn reap_together_(
        &mut self,
        names: &[&str],
        stagger_us: u64,
        mut around: impl FnMut(bool),
    ) -> Result<Vec<(u64, u64)>, String> {
        let ps: Vec<Pid> = names.iter().map(|n| self.pid(n)).collect();
        let parent = self.m.procs[ps[0]].parent.ok_or("no parent")?;
        for (&p, n) in ps.iter().zip(names) {
            let pr = &self.m.procs[p];
            if pr.state != State::Zombie || pr.tracer.is_some() || pr.parent != Some(parent) {
                return Err(format!(
                    "{n} is not an untraced zombie child of {}",
                    self.name(parent)
                ));
            }
        }
        let ns = self.m.procs[parent].ns;
        let pids: Vec<String> = ps
            .iter()
            .map(|&p| self.m.pid_in(Some(p), ns).to_string())
            .collect();
        let pname = self.name(parent);
        let agent = self.agent_for(&pname)?;
        around(true);
        let answer = self.ask(&agent, &format!("reapall {stagger_us} {}", pids.join(" ")));
        around(false);
        let times = answer?
            .split_whitespace()
            .map(|t| {
                let f: Vec<u64> = t.split(':').filter_map(|n| n.parse().ok()).collect();
                match f[..] {
                    [_, start, end] => Ok((start, end)),
                    _ => Err(format!("bad reapall answer '{t}'")),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut next = self.m.clone();
        for &p in &ps {
            next.reap(p);
        }
        self.settle(next)?;
        self.step(format!(
            "{} reaped together by {pname}",
            names.join(" and ")
        ))?;
        Ok(times)
    }

    /// `tracer` attaches to `tracee` with PTRACE_SEIZE.
    #[track_caller]
    pub fn trace(&mut self, tracer: &str, tracee: &str) -> Result<(), String> {
        self.at = Location::caller();
        let (t, p) = (self.pid(tracer), self.pid(tracee));
        let pid = self.m.pid_in(Some(p), self.m.procs[t].ns);
        let r = self.ask(tracer, &format!("trace {pid}"));
        r.map_err(|e| self.located(e))?;
        self.m.procs[p].tracer = Some(t);
        self.step(format!("{tracer} traces {tracee}"))
            .map_err(|e| self.located(e))
    }

    /// The tracer waits for its zombie tracee; returns whether that
    /// released it.
    #[track_caller]
    pub fn tracer_wait(&mut self, tracee: &str) -> Result<bool, String> {
        self.at = Location::caller();
        self.tracer_wait_(tracee).map_err(|e| self.located(e))
    }

    fn tracer_wait_(&mut self, tracee: &str) -> Result<bool, String> {
        let p = self.pid(tracee);
        let t = self.m.procs[p]
            .tracer
            .ok_or(format!("{tracee} is not traced"))?;
        let pid = self.m.pid_in(Some(p), self.m.procs[t].ns);
        let tname = self.name(t);
        let agent = self.agent_for(&tname)?;
        self.ask(&agent, &format!("reap {pid}"))?;
        let mut next = self.m.clone();
        let released = next.tracer_wait(p);
        self.settle(next)?;
        self.step(format!(
            "{tname} waits for its tracee {tracee}{}",
            if released { ", which is released" } else { "" }
        ))?;
        Ok(released)
    }

    /// A command that CABA must not depend on: the model says whether it
    /// succeeds, and the kernel must agree.
    fn simple(&mut self, name: &str, cmd: &str, expect_ok: bool) -> Result<(), String> {
        let agent = self.agent_for(name)?;
        let c = self.chans.get_mut(&agent).ok_or("no channel")?;
        c.send(cmd)?;
        let line = c.recv(crate::chan::REPLY_TIMEOUT_MS)?;
        let ok = line == "ok" || line.starts_with("ok ");
        if ok != expect_ok {
            return Err(format!(
                "{name}: '{cmd}' answered '{line}', the model expects it to {}",
                if expect_ok { "succeed" } else { "fail" }
            ));
        }
        self.step(format!(
            "{name}: {cmd}{}",
            if ok { "" } else { " (refused)" }
        ))
    }

    /// setsid(); returns whether it succeeded (the model decides, the
    /// kernel must agree).
    #[track_caller]
    pub fn setsid(&mut self, name: &str) -> Result<bool, String> {
        self.at = Location::caller();
        let p = self.pid(name);
        let mut next = self.m.clone();
        let ok = next.setsid(p);
        self.m = next;
        self.simple(name, "setsid", ok)
            .map_err(|e| self.located(e))?;
        Ok(ok)
    }

    /// setpgid(0, 0) for None, else into the process group of `group`.
    #[track_caller]
    pub fn setpgid(&mut self, name: &str, group: Option<&str>) -> Result<bool, String> {
        self.at = Location::caller();
        let p = self.pid(name);
        let g = group.map(|g| self.pid(g));
        let number = g.map_or(0, |g| self.m.pid_in(Some(g), self.m.procs[p].ns));
        let mut next = self.m.clone();
        let ok = next.setpgid(p, g);
        self.m = next;
        self.simple(name, &format!("setpgid {number}"), ok)
            .map_err(|e| self.located(e))?;
        Ok(ok)
    }

    #[track_caller]
    pub fn subreaper(&mut self, name: &str, on: bool) -> Result<(), String> {
        self.at = Location::caller();
        let p = self.pid(name);
        self.m.procs[p].subreaper = on;
        self.simple(name, &format!("subreaper {}", on as u8), true)
            .map_err(|e| self.located(e))
    }

    /// SIGCHLD to SIG_IGN (the kernel reaps `name`'s children) or back.
    #[track_caller]
    pub fn ignore_sigchld(&mut self, name: &str, ignore: bool) -> Result<(), String> {
        self.at = Location::caller();
        let p = self.pid(name);
        self.m.procs[p].ignores_sigchld = ignore;
        let how = if ignore { "ign" } else { "dfl" };
        self.simple(name, &format!("sigchld {how}"), true)
            .map_err(|e| self.located(e))
    }

    /// Drop to `uid` with no capabilities.
    #[track_caller]
    pub fn become_user(&mut self, name: &str, uid: u32) -> Result<(), String> {
        self.at = Location::caller();
        let p = self.pid(name);
        self.unprivileged.push(p);
        self.simple(name, &format!("uid {uid}"), true)
            .map_err(|e| self.located(e))
    }

    /// `agent` (the process or one of its threads) execs; the new image
    /// carries on as the process's agent.
    #[track_caller]
    pub fn exec(&mut self, agent: &str) -> Result<(), String> {
        self.at = Location::caller();
        self.exec_(agent).map_err(|e| self.located(e))
    }

    fn exec_(&mut self, agent: &str) -> Result<(), String> {
        let p = self.owner(agent)?;
        let pname = self.name(p);
        let agent = self.agent_for(agent)?;
        let from_thread = self.threads.contains_key(&agent);
        self.chans
            .get_mut(&agent)
            .ok_or("no channel")?
            .send(&format!("exec {pname}"))?;
        self.chans
            .get_mut(&pname)
            .ok_or("no channel")?
            .expect("ready")
            .map_err(|e| format!("{pname} after exec: {e}"))?;
        self.forget_threads(p);
        self.m.exec(p, from_thread);
        self.step(format!("{agent} execs"))
    }

    /// `name` enters the pid namespace of `target` for its future children.
    #[track_caller]
    pub fn setns(&mut self, name: &str, target: &str) -> Result<(), String> {
        self.at = Location::caller();
        let (p, t) = (self.pid(name), self.pid(target));
        let path = format!("/proc/{}/ns/pid", self.m.procs[t].nspid[0]);
        self.m.procs[p].ns_for_children = self.m.procs[t].ns;
        self.simple(name, &format!("setns {path}"), true)
            .map_err(|e| self.located(e))
    }

    /// unshare(CLONE_NEWPID): `name`'s next child is the init of a new namespace.
    #[track_caller]
    pub fn unshare_pid_ns(&mut self, name: &str) -> Result<(), String> {
        self.at = Location::caller();
        let p = self.pid(name);
        self.m.unshare_pid_ns(p);
        self.simple(name, "unshare", true)
            .map_err(|e| self.located(e))
    }

    /// NScaba of `name` as the runner (root namespace) reads it.
    pub fn nscaba(&self, name: &str) -> Result<Vec<i32>, String> {
        let pid = self.root_pid(name);
        crate::status::Status::read(&format!("/proc/{pid}/status"))?
            .nscaba
            .ok_or_else(|| "no NScaba".into())
    }

    /// PIDFD_GET_INFO (asking for the CABA) of `name` by the runner.
    pub fn pidfd(&self, name: &str) -> Pidfd {
        look::pidfd_info(self.root_pid(name), false)
    }

    /// What agent `agent` sees of `targets` (pid numbers in its namespace)
    /// through the procfs at `proc` (its own /proc, usually).
    pub fn look_from(
        &mut self,
        agent: &str,
        proc: &str,
        targets: &[i32],
    ) -> Result<Vec<Look>, String> {
        let list: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        let answer = self.ask(agent, &format!("look {proc} {}", list.join(" ")))?;
        answer.split(';').map(look::decode).collect()
    }

    /// The reader agent of the namespace `name` is the init of.
    pub fn reader_of(&self, init: &str) -> Option<String> {
        let ns = self.m.procs[self.pid(init)].ns;
        self.readers
            .contains_key(&ns)
            .then(|| format!("reader{ns}"))
    }

    /// The root-namespace pid of a reader agent ("reader<ns>").
    pub fn root_pid_of_reader(&self, reader: &str) -> i32 {
        reader
            .strip_prefix("reader")
            .and_then(|n| n.parse::<Ns>().ok())
            .and_then(|ns| self.readers.get(&ns))
            .map_or(0, |r| r.pid)
    }

    fn view_name(&self, ns: Ns) -> String {
        if ns == 0 {
            return "the root namespace".into();
        }
        let init = self.m.ns[ns].init.map(|i| self.name(i)).unwrap_or_default();
        format!(
            "namespace {ns} (level {}, init {init})",
            self.m.ns[ns].level
        )
    }

    /// The message for a value the kernel shows and the model disagrees with.
    #[allow(clippy::too_many_arguments)]
    fn mismatch(
        &self,
        p: Pid,
        task: Option<i32>,
        view: Ns,
        source: &str,
        what: &str,
        got: String,
        want: String,
    ) -> String {
        let m = &self.m;
        let caba = m.caba(p).map(|c| self.name(c)).unwrap_or("none".into());
        let parent = m.procs[p]
            .parent
            .map(|c| self.name(c))
            .unwrap_or("none".into());
        format!(
            "after step {} '{}': {} (NSpid {:?}{}) seen from {} through {source}: \
             {what} is {got}, the model says {want} (CABA {caba}, parent {parent}, {:?})",
            self.steps.len(),
            self.steps.last().map(String::as_str).unwrap_or("start"),
            m.procs[p].name,
            m.procs[p].nspid,
            task.map(|t| format!(", thread {t}")).unwrap_or_default(),
            self.view_name(view),
            m.procs[p].state,
        )
    }

    /// Which columns of two NSxxx lines differ, for the message.
    fn columns_differ(got: &[i32], want: &[i32]) -> String {
        let bad: Vec<String> = (0..got.len().max(want.len()))
            .filter(|&i| got.get(i) != want.get(i))
            .map(|i| i.to_string())
            .collect();
        if bad.len() == 1 {
            format!("{got:?} (column {} differs)", bad[0])
        } else {
            format!("{got:?} (columns {} differ)", bad.join(", "))
        }
    }

    /// Compare one look (from namespace `view`) at process `p` with the model.
    fn compare(&mut self, p: Pid, view: Ns, l: &Look) -> Result<(), String> {
        let feat = crate::features();
        let m = &self.m;
        let proc_src = format!("/proc/{}/status", l.pid);
        let st = l.status.as_ref().map_err(|e| {
            self.mismatch(
                p,
                None,
                view,
                &proc_src,
                "the status file",
                format!("unreadable ({e})"),
                "readable".into(),
            )
        })?;
        let lines = [
            ("NSpid", &st.nspid, m.expected_nspid(p, view)),
            ("NSsid", &st.nssid, m.expected_nssid(p, view)),
            ("NSpgid", &st.nspgid, m.expected_nspgid(p, view)),
        ];
        for (what, got, want) in lines {
            if *got != want {
                return Err(self.mismatch(
                    p,
                    None,
                    view,
                    &proc_src,
                    what,
                    Self::columns_differ(got, &want),
                    format!("{want:?}"),
                ));
            }
        }
        let want_ppid = m.expected_ppid(p, view);
        if st.ppid != want_ppid {
            return Err(self.mismatch(
                p,
                None,
                view,
                &proc_src,
                "PPid",
                st.ppid.to_string(),
                want_ppid.to_string(),
            ));
        }
        if m.procs[p].state == State::Zombie && st.state != 'Z' {
            return Err(self.mismatch(
                p,
                None,
                view,
                &proc_src,
                "State",
                st.state.to_string(),
                "Z".into(),
            ));
        }
        self.compared.other += 5;
        let want_caba = m.expected_nscaba(p, view);
        if feat.nscaba {
            match &st.nscaba {
                Some(got) if *got == want_caba => self.compared.nscaba += 1,
                got => {
                    let got = got
                        .as_deref()
                        .map_or("missing".into(), |g| Self::columns_differ(g, &want_caba));
                    return Err(self.mismatch(
                        p,
                        None,
                        view,
                        &proc_src,
                        "NScaba",
                        got,
                        format!("{want_caba:?}"),
                    ));
                }
            }
        }
        let want_pid = m.pid_in(Some(p), view) as u32;
        let model_caba = m.caba(p);
        let want_pidfd_caba = m.pid_in(model_caba, view) as u32;
        self.compare_pidfd(
            p,
            None,
            view,
            &l.pidfd,
            want_pid,
            want_ppid as u32,
            (want_pidfd_caba, model_caba),
        )?;
        for t in &l.tasks {
            let src = format!("/proc/{}/task/{}/status", l.pid, t.tid);
            match &t.nscaba {
                Err(_) => continue, // raced with the thread's exit
                Ok(got) if feat.nscaba && got.as_ref() != Some(&want_caba) => {
                    let got = got
                        .as_deref()
                        .map_or("missing".into(), |g| Self::columns_differ(g, &want_caba));
                    return Err(self.mismatch(
                        p,
                        Some(t.tid),
                        view,
                        &src,
                        "NScaba",
                        got,
                        format!("{want_caba:?}"),
                    ));
                }
                Ok(_) => self.compared.nscaba += feat.nscaba as usize,
            }
            if t.pidfd != Pidfd::Errno(sys::ESRCH) {
                self.compare_pidfd(
                    p,
                    Some(t.tid),
                    view,
                    &t.pidfd,
                    want_pid,
                    want_ppid as u32,
                    (want_pidfd_caba, model_caba),
                )?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_pidfd(
        &mut self,
        p: Pid,
        task: Option<i32>,
        view: Ns,
        got: &Pidfd,
        pid: u32,
        ppid: u32,
        (caba, model_caba): (u32, Option<Pid>),
    ) -> Result<(), String> {
        let src = match task {
            Some(t) => format!("a PIDFD_THREAD pidfd of {t} (PIDFD_GET_INFO)"),
            None => "a pidfd (PIDFD_GET_INFO)".to_string(),
        };
        let Pidfd::Info {
            mask,
            caba: got_caba,
            ppid: got_ppid,
            tgid,
            caba_ino,
            caba_open,
        } = *got
        else {
            return Err(self.mismatch(
                p,
                task,
                view,
                &src,
                "the call",
                format!("{got:?}"),
                "success".into(),
            ));
        };
        if mask & sys::PIDFD_INFO_PID == 0 || tgid != pid || got_ppid != ppid {
            return Err(self.mismatch(
                p,
                task,
                view,
                &src,
                "mask/tgid/ppid",
                format!("{mask:#x}/{tgid}/{got_ppid}"),
                format!("PIDFD_INFO_PID set/{pid}/{ppid}"),
            ));
        }
        if crate::features().pidfd_caba.is_ok() {
            if mask & sys::PIDFD_INFO_CABA == 0 {
                return Err(self.mismatch(
                    p,
                    task,
                    view,
                    &src,
                    "PIDFD_INFO_CABA",
                    format!("clear (mask {mask:#x})"),
                    "set".into(),
                ));
            }
            if got_caba != caba {
                return Err(self.mismatch(
                    p,
                    task,
                    view,
                    &src,
                    "caba",
                    got_caba.to_string(),
                    caba.to_string(),
                ));
            }
            self.compared.pidfd += 1;
            self.compare_caba_ino(
                p, task, view, &src, got_caba, caba_ino, caba_open, model_caba,
            )?;
        }
        Ok(())
    }

    /// The identity that comes with the pidfd CABA: caba_ino is 0 exactly
    /// when caba is 0; otherwise it is the pidfs inode number of the
    /// model's CABA (st_ino of the pidfd the runner holds for it), and a
    /// pidfd that the looker opened for the number `caba` right after
    /// shows the same (the number named the same process).
    #[allow(clippy::too_many_arguments)]
    fn compare_caba_ino(
        &mut self,
        p: Pid,
        task: Option<i32>,
        view: Ns,
        src: &str,
        caba: u32,
        caba_ino: u64,
        caba_open: i64,
        model_caba: Option<Pid>,
    ) -> Result<(), String> {
        if caba == 0 {
            if caba_ino != 0 {
                return Err(self.mismatch(
                    p,
                    task,
                    view,
                    src,
                    "caba_ino (with caba 0)",
                    caba_ino.to_string(),
                    "0".into(),
                ));
            }
            self.compared.ino += 1;
            return Ok(());
        }
        let c = model_caba.ok_or_else(|| {
            self.mismatch(
                p,
                task,
                view,
                src,
                "caba",
                caba.to_string(),
                "0 (the model has no CABA)".into(),
            )
        })?;
        let fd = self
            .pidfds
            .get(&c)
            .ok_or_else(|| format!("runner: no pidfd of {}", self.name(c)))?;
        let want = sys::pidfd_ino(fd)
            .map_err(|e| format!("runner: fstat of the pidfd of {}: {e}", self.name(c)))?;
        if caba_ino != want {
            return Err(self.mismatch(
                p,
                task,
                view,
                src,
                "caba_ino",
                caba_ino.to_string(),
                format!("{want} (st_ino of a pidfd of {})", self.name(c)),
            ));
        }
        if caba_open != caba_ino as i64 {
            return Err(self.mismatch(
                p,
                task,
                view,
                src,
                &format!("st_ino of pidfd_open({caba}) (negative: -errno)"),
                caba_open.to_string(),
                format!("{caba_ino}, the caba_ino"),
            ));
        }
        self.compared.ino += 1;
        Ok(())
    }

    /// The pidfs inode number of `name` (st_ino of the runner's pidfd).
    pub fn ino(&self, name: &str) -> Result<u64, String> {
        let fd = self
            .pidfds
            .get(&self.pid(name))
            .ok_or_else(|| format!("runner: no pidfd of {name}"))?;
        sys::pidfd_ino(fd).map_err(|e| format!("runner: fstat of the pidfd of {name}: {e}"))
    }

    /// Compare every present process, and each of its threads, with the
    /// model: from the root and from every namespace made.
    pub fn check(&mut self) -> Result<(), String> {
        let procs: Vec<Pid> = self.m.present_procs().collect();
        for &p in &procs {
            let l = look::look("/proc", self.m.procs[p].nspid[0], true);
            self.compare(p, 0, &l)?;
        }
        let mut views: Vec<Ns> = self.readers.keys().copied().collect();
        views.sort_unstable();
        for ns in views {
            let seen: Vec<Pid> = procs
                .iter()
                .copied()
                .filter(|&p| self.m.visible_in(p, ns))
                .collect();
            let pids: Vec<i32> = seen.iter().map(|&p| self.m.pid_in(Some(p), ns)).collect();
            let reader = format!("reader{ns}");
            let looks = self.look_from(&reader, "/proc", &pids)?;
            if looks.len() != seen.len() {
                return Err(format!(
                    "{reader} answered {} of {} looks",
                    looks.len(),
                    seen.len()
                ));
            }
            for (&p, l) in seen.iter().zip(&looks) {
                self.compare(p, ns, l)?;
            }
        }
        Ok(())
    }

    /// End of a test: run the after-each hook while all its processes are
    /// there, check that the hook changed nothing, and say what was compared.
    #[track_caller]
    pub fn done(mut self) -> Result<String, String> {
        self.at = Location::caller();
        let subreapers: Vec<String> = self
            .m
            .subreapers()
            .iter()
            .map(|&p| self.m.procs[p].nspid[0].to_string())
            .collect();
        crate::after_each_hook(
            &self.label,
            self.m.procs[ROOT].nspid[0],
            &subreapers.join(","),
        )
        .map_err(|e| self.located(e))?;
        self.steps.push("the after-each hook".into());
        self.check().map_err(|e| self.located(e))?;
        let c = self.compared;
        Ok(format!(
            "{} steps; compared {} NScaba lines, {} pidfd CABAs ({} with caba_ino), \
             {} other values, from {} namespaces",
            self.steps.len() - 1,
            c.nscaba,
            c.pidfd,
            c.ino,
            c.other,
            self.m.ns.len()
        ))
    }
}

impl Drop for World {
    /// Kill everything the test made and reap it all: every orphan comes
    /// to the runner, a subreaper.
    fn drop(&mut self) {
        self.chans.clear();
        kill_descendants();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every process below the runner, from the PPid of every /proc entry.
fn descendants(of: i32) -> Vec<i32> {
    let mut parent = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|w| w.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parent.insert(pid, ppid);
            }
        }
    }
    let mut out = vec![];
    let mut todo = vec![of];
    while let Some(q) = todo.pop() {
        for (&c, &pp) in &parent {
            if pp == q {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// SIGKILL every descendant of the runner and reap them, until none is
/// left (at most 60 s).
pub fn kill_descendants() {
    let me = sys::my_pid();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let d = descendants(me);
        for &pid in &d {
            let _ = sys::kill_pid(pid, sys::SIGKILL);
        }
        while let Ok(Some(_)) = sys::wait_pid(-1, sys::WNOHANG) {}
        if d.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The state letter of a /proc/.../stat file.
fn stat_state(path: &str) -> Option<char> {
    let stat = std::fs::read_to_string(path).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// A zombie process: state Z and no thread left but the leader.
pub fn is_zombie(pid: i32) -> bool {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0);
    stat_state(&format!("/proc/{pid}/stat")) == Some('Z') && threads == 1
}

pub fn wait_until(mut cond: impl FnMut() -> bool, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!(
                "timed out after {} s waiting for {what}",
                SETTLE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
