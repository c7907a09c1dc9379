// SPDX-License-Identifier: GPL-2.0
//! Real processes that a scenario drives by name, and the check that
//! compares what /proc shows with the model after every step.
//!
//! Every scenario process is an "agent": this same program, started with
//! --agent, that reads one command a line from a FIFO and answers on
//! another. Threads are agents too. For every pid namespace the scenario
//! makes there is a "reader" agent in it, with a procfs of that namespace,
//! so the check also sees what a reader inside sees.

use crate::model::{Model, Ns, Pid, State, RUNNER};
use crate::status::Status;
use crate::sys;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;

const REPLY_TIMEOUT_MS: i32 = 30_000;

/// One end of an agent's pair of FIFOs.
pub struct Chan {
    rd: BufReader<File>,
    wr: File,
}

fn open_rw(path: &str) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))
}

impl Chan {
    /// The runner's side: it writes commands to NAME.in, reads NAME.out.
    pub fn runner(dir: &str, name: &str) -> Result<Chan, String> {
        for sfx in ["in", "out"] {
            sys::make_fifo(&format!("{dir}/{name}.{sfx}"))
                .map_err(|e| format!("mkfifo {name}.{sfx}: {e}"))?;
        }
        Ok(Chan {
            rd: BufReader::new(open_rw(&format!("{dir}/{name}.out"))?),
            wr: open_rw(&format!("{dir}/{name}.in"))?,
        })
    }

    pub fn agent(dir: &str, name: &str) -> Result<Chan, String> {
        Ok(Chan {
            rd: BufReader::new(open_rw(&format!("{dir}/{name}.in"))?),
            wr: open_rw(&format!("{dir}/{name}.out"))?,
        })
    }

    pub fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.wr, "{line}").map_err(|e| format!("send '{line}': {e}"))
    }

    /// The next line, waiting at most `ms` (forever if negative).
    pub fn recv(&mut self, ms: i32) -> Result<String, String> {
        if self.rd.buffer().is_empty()
            && !sys::readable(self.rd.get_ref().as_raw_fd(), ms).map_err(|e| e.to_string())?
        {
            return Err(format!("no answer within {} s", ms / 1000));
        }
        let mut line = String::new();
        self.rd.read_line(&mut line).map_err(|e| e.to_string())?;
        Ok(line.trim_end().to_string())
    }

    /// Wait for "ok ..." (or "ready ...") and return the rest.
    pub fn expect(&mut self, what: &str) -> Result<String, String> {
        let line = self.recv(REPLY_TIMEOUT_MS)?;
        match line.split_once(' ').unwrap_or((&line, "")) {
            (w, rest) if w == what => Ok(rest.to_string()),
            _ => Err(format!("expected '{what}', got '{line}'")),
        }
    }
}

pub struct Flags {
    pub clone_parent: bool,
    pub new_pid_ns: bool,
}

pub const PLAIN: Flags = Flags {
    clone_parent: false,
    new_pid_ns: false,
};
pub const CLONE_PARENT: Flags = Flags {
    clone_parent: true,
    new_pid_ns: false,
};
pub const NEW_PID_NS: Flags = Flags {
    clone_parent: false,
    new_pid_ns: true,
};

struct Reader {
    pid: i32, // in the runner's namespace
    chan: Chan,
}

pub struct World {
    pub m: Model,
    dir: String,
    exe: String,
    chans: HashMap<String, Chan>,
    /// Thread agents: name -> (process, tid in the root namespace).
    threads: HashMap<String, (Pid, i32)>,
    readers: HashMap<Ns, Reader>,
    pub steps: Vec<String>,
    /// Status lines compared with the model, over the world's life.
    pub compared: usize,
}

fn nspid_of(s: &str) -> Result<Vec<i32>, String> {
    let v: Result<Vec<i32>, _> = s.split_whitespace().map(|w| w.parse::<i32>()).collect();
    v.map_err(|e| format!("bad pid list '{s}': {e}"))
}

impl World {
    pub fn new() -> Result<World, String> {
        let dir = format!("/tmp/caba_test.{}.{}", sys::my_pid(), next_id());
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        sys::set_subreaper(true).map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
        let me = Status::read("/proc/self/status")?;
        let exe = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        Ok(World {
            m: Model::new(me.nspid[0]),
            dir,
            exe,
            chans: HashMap::new(),
            threads: HashMap::new(),
            readers: HashMap::new(),
            steps: vec![],
            compared: 0,
        })
    }

    fn agent_args(&self, mode: &str, name: &str) -> sys::Exec {
        sys::Exec::new(&[self.exe.clone(), mode.into(), self.dir.clone(), name.into()])
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

    pub fn pid(&self, name: &str) -> Pid {
        self.m
            .find(name)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// Root-namespace tgid of a named process.
    pub fn root_pid(&self, name: &str) -> i32 {
        self.m.procs[self.pid(name)].nspid[0]
    }

    fn chan(&mut self, name: &str) -> Result<&mut Chan, String> {
        self.chans
            .get_mut(name)
            .ok_or_else(|| format!("'{name}' has no agent (exited?)"))
    }

    fn command(&mut self, agent: &str, cmd: &str) -> Result<String, String> {
        let c = self.chan(agent)?;
        c.send(cmd)?;
        c.expect("ok").map_err(|e| format!("{agent}: {cmd}: {e}"))
    }

    fn step(&mut self, what: String) -> Result<(), String> {
        self.steps.push(what);
        self.check()
    }

    /// `creator` (a process or one of its threads) forks `name`.
    pub fn spawn(&mut self, creator: &str, name: &str, f: Flags) -> Result<(), String> {
        let mut chan = Chan::runner(&self.dir, name)?;
        let bits =
            (f.clone_parent as u64 * sys::CLONE_PARENT) | (f.new_pid_ns as u64 * sys::CLONE_NEWPID);
        let c = if creator == "runner" {
            let exec = self.agent_args("--agent", name);
            sys::spawn(bits, &exec).map_err(|e| format!("runner: clone3({bits:#x}): {e}"))?;
            RUNNER
        } else {
            self.command(creator, &format!("fork {name} {bits}"))?;
            self.owner(creator)?
        };
        let nspid = nspid_of(&chan.expect("ready").map_err(|e| format!("{name}: {e}"))?)?;
        let from_thread = self.threads.contains_key(creator);
        let id = self
            .m
            .fork(c, from_thread, name, f.clone_parent, f.new_pid_ns);
        let want_cols = self.m.ns[self.m.procs[id].ns].level + 1;
        let got_cols = nspid.len();
        self.m.procs[id].nspid = nspid;
        if got_cols != want_cols {
            return Err(format!(
                "{name} has {got_cols} pid numbers, the model expects {want_cols}"
            ));
        }
        self.chans.insert(name.into(), chan);
        let ns = self.m.procs[id].ns;
        if self.m.ns[ns].init == Some(id) {
            self.start_reader(ns, id)?;
        }
        self.step(format!(
            "{creator} forks {name}{}{}",
            if f.clone_parent { " CLONE_PARENT" } else { "" },
            if f.new_pid_ns { " CLONE_NEWPID" } else { "" }
        ))
    }

    /// A reader agent in `ns`, whose init `init` has just been created.
    fn start_reader(&mut self, ns: Ns, init: Pid) -> Result<(), String> {
        let name = format!("reader{ns}");
        let mut chan = Chan::runner(&self.dir, &name)?;
        let exec = self.agent_args("--reader", &name);
        let init_pid = self.m.procs[init].nspid[0];
        sys::enter_pid_ns(&format!("/proc/{init_pid}/ns/pid"))
            .map_err(|e| format!("setns into {init_pid}'s pid ns: {e}"))?;
        let spawned = sys::spawn(0, &exec);
        sys::enter_pid_ns("/proc/self/ns/pid").map_err(|e| format!("setns back: {e}"))?;
        let pid = spawned.map_err(|e| format!("reader for ns {ns}: {e}"))?;
        chan.expect("ready").map_err(|e| format!("{name}: {e}"))?;
        self.readers.insert(ns, Reader { pid, chan });
        Ok(())
    }

    fn stop_reader(&mut self, ns: Ns) {
        if let Some(r) = self.readers.remove(&ns) {
            let _ = sys::kill_pid(r.pid, sys::SIGKILL);
            let _ = sys::wait_pid(r.pid, 0);
        }
    }

    /// `proc_name` creates a thread agent `name`.
    pub fn thread(&mut self, proc_name: &str, name: &str) -> Result<(), String> {
        let mut chan = Chan::runner(&self.dir, name)?;
        self.command(proc_name, &format!("thread {name}"))?;
        let tids = nspid_of(&chan.expect("ready").map_err(|e| format!("{name}: {e}"))?)?;
        let p = self.pid(proc_name);
        self.m.procs[p].threads.push(name.into());
        self.threads.insert(name.into(), (p, tids[0]));
        self.chans.insert(name.into(), chan);
        self.step(format!("{proc_name} creates thread {name}"))
    }

    /// Thread `name` exits; its process goes on.
    pub fn thread_exit(&mut self, name: &str) -> Result<(), String> {
        let (p, tid) = *self
            .threads
            .get(name)
            .ok_or_else(|| format!("no thread {name}"))?;
        self.command(name, "texit")?;
        let path = format!("/proc/{}/task/{tid}", self.m.procs[p].nspid[0]);
        wait_until(
            || !std::path::Path::new(&path).exists(),
            &format!("thread {name} to go"),
        )?;
        self.forget_thread(name);
        self.step(format!("thread {name} exits"))
    }

    fn forget_thread(&mut self, name: &str) {
        if let Some((p, _)) = self.threads.remove(name) {
            self.m.procs[p].threads.retain(|t| t != name);
        }
        self.chans.remove(name);
    }

    /// The whole process exits (exit_group) and stays a zombie.
    pub fn exit(&mut self, name: &str) -> Result<(), String> {
        let p = self.pid(name);
        if self.m.is_ns_init(p) {
            if self.m.ns_has_others(self.m.procs[p].ns, p) {
                return Err(format!(
                    "{name} is a namespace init with processes left: its exit would kill them"
                ));
            }
            self.stop_reader(self.m.procs[p].ns);
        }
        self.chan(name)?.send("exit")?;
        let pid = self.m.procs[p].nspid[0];
        wait_until(
            || is_zombie(pid),
            &format!("{name} ({pid}) to become a zombie"),
        )?;
        for t in self.m.procs[p].threads.clone() {
            self.forget_thread(&t);
        }
        self.chans.remove(name);
        self.m.exit(p);
        self.step(format!("{name} exits"))
    }

    /// The zombie `name` is reaped by its real parent.
    pub fn reap(&mut self, name: &str) -> Result<(), String> {
        let p = self.pid(name);
        if self.m.procs[p].state != State::Zombie {
            return Err(format!("{name} is not a zombie"));
        }
        let parent = self.m.procs[p].parent.ok_or("no parent")?;
        let parent_ns = self.m.procs[parent].ns;
        let pid_there = self.m.pid_in(Some(p), parent_ns);
        if parent == RUNNER {
            sys::wait_pid(pid_there, 0)
                .map_err(|e| format!("runner: waitpid({pid_there}): {e}"))?;
        } else {
            let pname = self.m.procs[parent].name.clone();
            self.command(&pname, &format!("reap {pid_there}"))?;
        }
        self.m.reap(p);
        self.step(format!("{name} is reaped by {}", self.m.procs[parent].name))
    }

    /// A command that changes nothing CABA depends on (setsid, setpgid, ...);
    /// with `must`, its failure fails the scenario.
    fn simple(&mut self, agent: &str, cmd: &str, must: bool) -> Result<bool, String> {
        let c = self.chan(agent)?;
        c.send(cmd)?;
        let line = c.recv(REPLY_TIMEOUT_MS)?;
        let ok = line.starts_with("ok");
        if must && !ok {
            return Err(format!("{agent}: {cmd}: {line}"));
        }
        self.step(format!(
            "{agent}: {cmd}{}",
            if ok { "" } else { " (failed)" }
        ))?;
        Ok(ok)
    }

    pub fn setsid(&mut self, name: &str, must: bool) -> Result<bool, String> {
        self.simple(name, "setsid", must)
    }

    pub fn setpgid(&mut self, name: &str, must: bool) -> Result<bool, String> {
        self.simple(name, "setpgid", must)
    }

    pub fn subreaper(&mut self, name: &str, on: bool) -> Result<(), String> {
        let p = self.pid(name);
        self.m.procs[p].subreaper = on;
        self.simple(name, &format!("subreaper {}", on as u8), true)
            .map(drop)
    }

    /// `agent` (the process or one of its threads) execs; the new image
    /// carries on as the process's agent.
    pub fn exec(&mut self, agent: &str) -> Result<(), String> {
        let p = self.owner(agent)?;
        let pname = self.m.procs[p].name.clone();
        self.chan(agent)?.send(&format!("exec {pname}"))?;
        self.chan(&pname)?
            .expect("ready")
            .map_err(|e| format!("{pname} after exec: {e}"))?;
        if agent != pname {
            // de_thread(): the thread, with its own nsproxy, is the leader now.
            self.m.procs[p].ns_for_children = self.m.procs[p].ns;
        }
        for t in self.m.procs[p].threads.clone() {
            self.forget_thread(&t);
        }
        self.step(format!("{agent} execs"))
    }

    /// `name` enters the pid namespace of `target` for its future children.
    pub fn setns(&mut self, name: &str, target: &str) -> Result<(), String> {
        let (p, t) = (self.pid(name), self.pid(target));
        let path = format!("/proc/{}/ns/pid", self.m.procs[t].nspid[0]);
        self.simple(name, &format!("setns {path}"), true)?;
        self.m.procs[p].ns_for_children = self.m.procs[t].ns;
        Ok(())
    }

    /// unshare(CLONE_NEWPID): `name`'s next child is the init of a new namespace.
    pub fn unshare_pid_ns(&mut self, name: &str) -> Result<(), String> {
        let p = self.pid(name);
        self.simple(name, "unshare", true)?;
        self.m.unshare_pid_ns(p);
        Ok(())
    }

    /// NScaba of `name` in the root view, as the kernel shows it.
    pub fn nscaba(&self, name: &str) -> Result<Vec<i32>, String> {
        let pid = self.root_pid(name);
        Status::read(&format!("/proc/{pid}/status"))?
            .nscaba
            .ok_or_else(|| "no NScaba".into())
    }

    fn mismatch(&self, p: Pid, view: &str, what: &str, got: &[i32], want: &[i32]) -> String {
        let caba = self
            .m
            .caba(p)
            .map(|c| self.m.procs[c].name.clone())
            .unwrap_or("none".into());
        let parent = self.m.procs[p]
            .parent
            .map(|c| self.m.procs[c].name.clone())
            .unwrap_or("none".into());
        format!(
            "after step {} '{}': {} (pid {:?}) seen from {view}: \
             {what} is {got:?}, the model says {want:?} (CABA {caba}, parent {parent})",
            self.steps.len(),
            self.steps.last().map(String::as_str).unwrap_or(""),
            self.m.procs[p].name,
            self.m.procs[p].nspid,
        )
    }

    /// Compare NScaba and PPid of every present process, and NScaba of every
    /// thread, with the model: from the root and from every namespace made.
    pub fn check(&mut self) -> Result<(), String> {
        for p in self.m.present_procs().collect::<Vec<_>>() {
            let pid = self.m.procs[p].nspid[0];
            let st = Status::read(&format!("/proc/{pid}/status"))?;
            let got = st.nscaba.clone().ok_or("NScaba missing")?;
            let want = self.m.expected_nscaba(p, 0);
            if got != want {
                return Err(self.mismatch(p, "the root", "NScaba", &got, &want));
            }
            let want_ppid = self.m.expected_ppid(p, 0);
            if st.ppid != want_ppid {
                return Err(self.mismatch(p, "the root", "PPid", &[st.ppid], &[want_ppid]));
            }
            self.compared += 1;
            // Every thread agrees with its process.
            let tasks =
                std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
            for t in tasks.flatten() {
                let path = t.path().join("status");
                let Ok(ts) = Status::read(&path.to_string_lossy()) else {
                    continue;
                }; // raced with thread exit
                if ts.nscaba.as_ref() != Some(&got) {
                    return Err(self.mismatch(
                        p,
                        &format!("thread {}", path.display()),
                        "NScaba",
                        ts.nscaba.as_deref().unwrap_or(&[]),
                        &got,
                    ));
                }
                self.compared += 1;
            }
        }
        let views: Vec<Ns> = self.readers.keys().copied().collect();
        for ns in views {
            let procs: Vec<Pid> = self
                .m
                .present_procs()
                .filter(|&p| self.m.visible_in(p, ns))
                .collect();
            let pids: Vec<String> = procs
                .iter()
                .map(|&p| self.m.pid_in(Some(p), ns).to_string())
                .collect();
            let r = self.readers.get_mut(&ns).ok_or("reader vanished")?;
            r.chan.send(&format!("read {}", pids.join(" ")))?;
            let answer = r.chan.expect("ok")?;
            let lines: Vec<&str> = answer.split(';').filter(|s| !s.is_empty()).collect();
            if lines.len() != procs.len() {
                return Err(format!(
                    "reader of namespace {ns} answered {} of {} processes: {answer}",
                    lines.len(),
                    procs.len()
                ));
            }
            for (&p, line) in procs.iter().zip(lines) {
                let nums = nspid_of(line)?;
                let view = format!("namespace {ns} (level {})", self.m.ns[ns].level);
                let (ppid, nscaba) = nums.split_first().ok_or("empty reader line")?;
                let want = self.m.expected_nscaba(p, ns);
                if nscaba != want.as_slice() {
                    return Err(self.mismatch(p, &view, "NScaba", nscaba, &want));
                }
                let want_ppid = self.m.expected_ppid(p, ns);
                if *ppid != want_ppid {
                    return Err(self.mismatch(p, &view, "PPid", &[*ppid], &[want_ppid]));
                }
                self.compared += 1;
            }
        }
        Ok(())
    }
}

impl Drop for World {
    /// Kill everything the scenario made and reap it all: every orphan comes
    /// to the runner, a subreaper.
    fn drop(&mut self) {
        for ns in self.readers.keys().copied().collect::<Vec<_>>() {
            self.stop_reader(ns);
        }
        for p in self.m.present_procs().collect::<Vec<_>>() {
            if let Some(&pid) = self.m.procs[p].nspid.first() {
                let _ = sys::kill_pid(pid, sys::SIGKILL);
            }
        }
        reap_all_children();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reap every child (and orphan) of the runner, for at most 30 s.
pub fn reap_all_children() {
    reap(-1)
}

/// Reap the runner's children that `selector` names (waitpid()'s first
/// argument: -1 for all, -pgid for a process group) until none is left,
/// for at most 30 s.
pub fn reap(selector: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match sys::wait_pid(selector, sys::WNOHANG) {
            Ok(0) => std::thread::sleep(std::time::Duration::from_millis(2)),
            Ok(_) => {}
            Err(_) => return, // ECHILD: nothing left
        }
    }
}

fn next_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        .unwrap_or(false);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0);
    state && threads == 1
}

pub fn wait_until(mut cond: impl FnMut() -> bool, what: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        if std::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// The agent side: carry out commands; returns when a thread agent is told
/// to exit, and never for a process agent.
pub fn agent_loop(mut chan: Chan, dir: &str, exe: &str, is_thread: bool) {
    loop {
        let line = match chan.recv(-1) {
            Ok(l) if !l.is_empty() => l,
            _ => sys::exit_group(3),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["fork", name, bits] => {
                let exec =
                    sys::Exec::new(&[exe.into(), "--agent".into(), dir.into(), (*name).into()]);
                let bits: u64 = bits.parse().unwrap_or(0);
                sys::spawn(bits, &exec)
                    .map(|pid| format!("ok {pid}"))
                    .map_err(|e| e.to_string())
            }
            ["thread", name] => {
                let (name, dir, exe) = (name.to_string(), dir.to_string(), exe.to_string());
                std::thread::Builder::new()
                    .spawn(move || thread_agent(&dir, &name, &exe))
                    .map(|_| "ok".into())
                    .map_err(|e| e.to_string())
            }
            ["texit"] if is_thread => {
                let _ = chan.send("ok");
                return;
            }
            ["exit"] => sys::exit_group(0),
            ["reap", pid] => sys::wait_pid(pid.parse().unwrap_or(-1), 0)
                .map(|_| "ok".into())
                .map_err(|e| e.to_string()),
            ["setsid"] => sys::new_session()
                .map(|_| "ok".into())
                .map_err(|e| e.to_string()),
            ["setpgid"] => sys::set_pgid(0, 0)
                .map(|_| "ok".into())
                .map_err(|e| e.to_string()),
            ["subreaper", on] => sys::set_subreaper(*on == "1")
                .map(|_| "ok".into())
                .map_err(|e| e.to_string()),
            ["setns", path] => sys::enter_pid_ns(path)
                .map(|_| "ok".into())
                .map_err(|e| e.to_string()),
            ["unshare"] => sys::unshare_flags(sys::CLONE_NEWPID as i32)
                .map(|_| "ok".into())
                .map_err(|e| e.to_string()),
            ["exec", pname] => {
                let exec =
                    sys::Exec::new(&[exe.into(), "--agent".into(), dir.into(), (*pname).into()]);
                Err(exec.exec().to_string())
            }
            _ => Err(format!("unknown command '{line}'")),
        };
        let _ = chan.send(&reply.unwrap_or_else(|e| format!("err {e}")));
    }
}

fn thread_agent(dir: &str, name: &str, exe: &str) {
    let Ok(mut chan) = Chan::agent(dir, name) else {
        return;
    };
    let Ok(st) = Status::read("/proc/thread-self/status") else {
        return;
    };
    let tids: Vec<String> = st.nspid.iter().map(|n| n.to_string()).collect();
    if chan.send(&format!("ready {}", tids.join(" "))).is_err() {
        return;
    }
    agent_loop(chan, dir, exe, true)
}

/// A process agent: announce its pid numbers, then serve.
pub fn agent_main(dir: &str, name: &str) -> ! {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(mut chan) = Chan::agent(dir, name) else {
        sys::exit_group(2)
    };
    let Ok(st) = Status::read("/proc/self/status") else {
        sys::exit_group(2)
    };
    let pids: Vec<String> = st.nspid.iter().map(|n| n.to_string()).collect();
    if chan.send(&format!("ready {}", pids.join(" "))).is_err() {
        sys::exit_group(2);
    }
    agent_loop(chan, dir, &exe, false);
    sys::exit_group(0)
}

/// A reader: a procfs of its own pid namespace, and "read PID..." answered
/// with "PPID NSCABA..." per pid, ';'-separated.
pub fn reader_main(dir: &str, name: &str) -> ! {
    let Ok(mut chan) = Chan::agent(dir, name) else {
        sys::exit_group(2)
    };
    if let Err(e) = sys::private_proc() {
        let _ = chan.send(&format!("err private /proc: {e}"));
        sys::exit_group(2);
    }
    let _ = chan.send("ready");
    loop {
        let Ok(line) = chan.recv(-1) else {
            sys::exit_group(3)
        };
        let mut out = String::from("ok ");
        for pid in line.split_whitespace().skip(1) {
            match Status::read(&format!("/proc/{pid}/status")) {
                Ok(Status {
                    ppid,
                    nscaba: Some(c),
                    ..
                }) => {
                    out.push_str(&ppid.to_string());
                    for n in c {
                        out.push_str(&format!(" {n}"));
                    }
                }
                _ => out.push_str("gone"),
            }
            out.push(';');
        }
        let _ = chan.send(&out);
    }
}
