// SPDX-License-Identifier: GPL-2.0
//! A model of what the kernel does to the process tree: fork (clone3 with
//! set_tid, CLONE_PARENT, CLONE_NEWPID), setsid, setpgid, child subreapers,
//! exit with reparenting (kernel/exit.c find_new_reaper()), reaping, and
//! CABA as the spec defines it (first present process on the creator chain).
//!
//! It checks a plan before anything runs (the planner simulates its own
//! plan and compares the result with the dump), and it generates the
//! random histories the planner tests run on.

use crate::dump::{Dump, Id, Proc, OUTSIDE};
use crate::plan::Op;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Alive,
    Zombie,
    Released,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub pids: Vec<i32>,
    /// Namespace key per level (root-level pid of the namespace's init).
    pub nss: Vec<Id>,
    pub parent: Id,
    pub creator: Id,
    pub state: State,
    pub sid: Id,
    pub pgid: Id,
    pub subreaper: bool,
    pub has_child_subreaper: bool,
    /// Threads other than the leader.
    pub threads: Vec<Vec<i32>>,
    /// Namespace chain new children are born in, after setns/unshare.
    pub for_children: Option<Vec<Id>>,
    /// The main thread has exited, others run.
    pub leader_gone: bool,
}

/// The world below the restorer (OUTSIDE, id 0), in the restored
/// namespace's numbering: level 0 is the namespace whose init has id 1.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub tasks: BTreeMap<Id, Task>,
    /// Pid vectors of every task ever made (session and group ids outlive
    /// their leaders).
    pub pids_of: BTreeMap<Id, Vec<i32>>,
    /// (namespace key, number) in use.
    used: BTreeSet<(Id, i32)>,
    /// Number of Fork ops applied (creation order).
    pub forks: usize,
}

pub type R = Result<(), String>;

impl World {
    pub fn new() -> World {
        World::default()
    }

    pub fn task(&self, id: Id) -> Result<&Task, String> {
        self.tasks.get(&id).ok_or_else(|| format!("no task {id}"))
    }

    fn alive(&self, id: Id) -> Result<&Task, String> {
        let t = self.task(id)?;
        if t.state != State::Alive {
            return Err(format!("task {id} is not alive ({:?})", t.state));
        }
        if t.leader_gone {
            return Err(format!("the main thread of {id} is gone"));
        }
        Ok(t)
    }

    /// The namespace chain of the namespace whose init is `ns`.
    fn ns_chain(&self, ns: Id) -> Result<Vec<Id>, String> {
        let t = self.task(ns)?;
        if t.nss.last() != Some(&ns) {
            return Err(format!("{ns} is not a namespace init"));
        }
        Ok(t.nss.clone())
    }

    pub fn setns(&mut self, actor: Id, ns: Id) -> R {
        let a = self.alive(actor)?;
        let chain = self.ns_chain(ns)?;
        if !chain.starts_with(&a.nss) {
            return Err(format!("namespace of {ns} is not below the actor's (EINVAL)"));
        }
        let own = chain == a.nss;
        self.tasks.get_mut(&actor).ok_or("lost")?.for_children = if own { None } else { Some(chain) };
        Ok(())
    }

    pub fn leader_exit(&mut self, actor: Id) -> R {
        let a = self.alive(actor)?;
        if a.threads.is_empty() {
            return Err("the main thread is the last one: that is an exit".into());
        }
        self.tasks.get_mut(&actor).ok_or("lost")?.leader_gone = true;
        Ok(())
    }

    pub fn apply(&mut self, op: &Op) -> R {
        match op {
            Op::Fork {
                actor,
                child,
                pids,
                new_pidns,
                clone_parent,
            } => self.fork(*actor, *child, pids, *new_pidns, *clone_parent),
            Op::Setsid { actor } => self.setsid(*actor),
            Op::Setpgid { actor, pgid } => self.setpgid(*actor, *actor, *pgid),
            Op::Subreaper { actor, on } => self.set_subreaper(*actor, *on),
            Op::Exit { actor } => self.exit(*actor),
            Op::Reap { actor, child } => self.reap(*actor, *child),
            Op::Thread { actor, tids } => self.thread(*actor, tids),
            Op::Setns { actor, ns } => self.setns(*actor, *ns),
            Op::LeaderExit { actor } => self.leader_exit(*actor),
        }
        .map_err(|e| format!("{op}: {e}"))
    }

    pub fn fork(&mut self, actor: Id, child: Id, pids: &[i32], newpid: bool, cparent: bool) -> R {
        if pids.is_empty() || pids[0] != child {
            return Err(format!("pids {pids:?} do not start with {child}"));
        }
        if self.tasks.contains_key(&child) {
            return Err(format!("pid {child} exists (EEXIST)"));
        }
        let (nss, parent, sid, pgid, has_sub) = if actor == OUTSIDE {
            if !newpid || pids != [1] || cparent {
                return Err("the restorer only makes the namespace init".into());
            }
            (vec![child], OUTSIDE, OUTSIDE, OUTSIDE, false)
        } else {
            let a = self.alive(actor)?;
            let mut nss = a.for_children.clone().unwrap_or_else(|| a.nss.clone());
            let born_in = *nss.last().ok_or("no namespace")?;
            if self.task(born_in)?.state != State::Alive {
                return Err(format!("the init {born_in} of the namespace is dead (ENOMEM)"));
            }
            if newpid {
                // copy_pid_ns(): CLONE_NEWPID only from a process whose
                // pid_for_children is its own namespace (not after setns()
                // or unshare(CLONE_NEWPID)).
                if a.for_children.as_ref().is_some_and(|f| *f != a.nss) {
                    return Err("CLONE_NEWPID after setns or unshare (EINVAL)".into());
                }
                if pids.len() != nss.len() + 1 || *pids.last().unwrap_or(&0) != 1 {
                    return Err(format!("new namespace init must get pid 1 one level down, not {pids:?}"));
                }
                nss.push(child);
            } else if pids.len() != nss.len() {
                return Err(format!("pids {pids:?} not at the level of the namespace {actor} forks into"));
            }
            let parent = if cparent {
                if self.is_ns_init(actor) {
                    return Err("CLONE_PARENT from a namespace init (EINVAL)".into());
                }
                a.parent
            } else {
                actor
            };
            let has_sub = if parent == OUTSIDE {
                false
            } else {
                let p = self.task(parent)?;
                p.subreaper || p.has_child_subreaper
            };
            (nss, parent, a.sid, a.pgid, has_sub)
        };
        for (lvl, &n) in pids.iter().enumerate() {
            if n <= 0 || self.used.contains(&(nss[lvl], n)) {
                return Err(format!("pid {n} at level {lvl} is taken (EEXIST)"));
            }
        }
        for (lvl, &n) in pids.iter().enumerate() {
            self.used.insert((nss[lvl], n));
        }
        self.pids_of.insert(child, pids.to_vec());
        self.tasks.insert(
            child,
            Task {
                pids: pids.to_vec(),
                nss,
                parent,
                creator: actor,
                state: State::Alive,
                sid,
                pgid,
                subreaper: false,
                has_child_subreaper: has_sub,
                threads: vec![],
                for_children: None,
                leader_gone: false,
            },
        );
        self.forks += 1;
        Ok(())
    }

    pub fn is_ns_init(&self, id: Id) -> bool {
        self.tasks
            .get(&id)
            .is_some_and(|t| t.nss.last() == Some(&id))
    }

    fn group_exists(&self, g: Id) -> Option<Id> {
        self.tasks
            .values()
            .find(|t| t.state != State::Released && t.pgid == g)
            .map(|t| t.sid)
    }

    pub fn setsid(&mut self, actor: Id) -> R {
        self.alive(actor)?;
        if self.group_exists(actor).is_some() {
            return Err("a group with the caller's id exists (EPERM)".into());
        }
        let t = self.tasks.get_mut(&actor).ok_or("lost")?;
        t.sid = actor;
        t.pgid = actor;
        Ok(())
    }

    /// setpgid(target, pgid) called by `caller`; pgid == target: new group.
    pub fn setpgid(&mut self, caller: Id, target: Id, pgid: Id) -> R {
        let c = self.alive(caller)?.clone();
        let t = self.alive(target)?.clone();
        if target != caller && t.parent != caller {
            return Err("target is neither the caller nor its child (ESRCH)".into());
        }
        if t.sid != c.sid {
            return Err("target in another session (EPERM)".into());
        }
        if t.sid == target {
            return Err("target is a session leader (EPERM)".into());
        }
        if pgid != target {
            let lvl = c.pids.len() - 1;
            let named = self.tasks.get(&pgid).is_some_and(|g| g.nss.get(lvl) == c.nss.get(lvl));
            if !named {
                return Err(format!("group {pgid} has no pid in the caller's namespace (ESRCH)"));
            }
            match self.group_exists(pgid) {
                None => return Err(format!("no group {pgid} (EPERM)")),
                Some(s) if s != t.sid => {
                    return Err(format!("group {pgid} is in another session (EPERM)"))
                }
                _ => {}
            }
        }
        self.tasks.get_mut(&target).ok_or("lost")?.pgid = pgid;
        Ok(())
    }

    pub fn set_subreaper(&mut self, actor: Id, on: bool) -> R {
        self.alive(actor)?;
        self.tasks.get_mut(&actor).ok_or("lost")?.subreaper = on;
        if on {
            // walk_process_tree(propagate_has_child_subreaper)
            let mut stack = vec![actor];
            while let Some(x) = stack.pop() {
                let kids: Vec<Id> = self.children(x);
                for k in kids {
                    if let Some(t) = self.tasks.get_mut(&k) {
                        t.has_child_subreaper = true;
                    }
                    stack.push(k);
                }
            }
        }
        Ok(())
    }

    pub fn children(&self, id: Id) -> Vec<Id> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.state != State::Released && t.parent == id)
            .map(|(&k, _)| k)
            .collect()
    }

    /// kernel/exit.c: find_child_reaper() and find_new_reaper() for a
    /// process whose last thread exits (no other live thread).
    pub fn new_reaper(&self, father: Id) -> Result<Id, String> {
        let f = self.task(father)?;
        let child_reaper = *f.nss.last().ok_or("no ns")?;
        if child_reaper == father {
            return Err("namespace init exit is not modelled".into());
        }
        if f.has_child_subreaper {
            let level = f.pids.len();
            let mut r = f.parent;
            while r != OUTSIDE {
                let t = self.task(r)?;
                if t.pids.len() != level {
                    break;
                }
                if t.subreaper && t.state == State::Alive {
                    return Ok(r);
                }
                r = t.parent;
            }
        }
        Ok(child_reaper)
    }

    pub fn exit(&mut self, actor: Id) -> R {
        self.alive(actor)?;
        if self.is_ns_init(actor) {
            let inside = self
                .tasks
                .iter()
                .any(|(&k, t)| k != actor && t.state != State::Released && t.nss.contains(&actor));
            if inside {
                return Err("namespace init exit with processes inside is not modelled".into());
            }
        }
        let kids = self.children(actor);
        if !kids.is_empty() {
            let r = self.new_reaper(actor)?;
            for k in kids {
                self.tasks.get_mut(&k).ok_or("lost")?.parent = r;
            }
        }
        let t = self.tasks.get_mut(&actor).ok_or("lost")?;
        t.state = State::Zombie;
        let threads = std::mem::take(&mut t.threads);
        let nss = t.nss.clone();
        for th in threads {
            for (lvl, n) in th.iter().enumerate() {
                self.used.remove(&(nss[lvl], *n));
            }
        }
        Ok(())
    }

    pub fn reap(&mut self, actor: Id, child: Id) -> R {
        self.alive(actor)?;
        let c = self.task(child)?;
        if c.parent != actor {
            return Err(format!("{child} is not a child of {actor} (ECHILD)"));
        }
        if c.state != State::Zombie {
            return Err(format!("{child} is not a zombie (would block)"));
        }
        let (pids, nss) = (c.pids.clone(), c.nss.clone());
        self.tasks.get_mut(&child).ok_or("lost")?.state = State::Released;
        self.release_numbers(child, &pids, &nss);
        Ok(())
    }

    /// A pid number stays taken while a present task uses it as pid,
    /// session or group.
    fn release_numbers(&mut self, id: Id, pids: &[i32], nss: &[Id]) {
        let referenced = self
            .tasks
            .values()
            .any(|t| t.state != State::Released && (t.sid == id || t.pgid == id));
        if !referenced {
            for (lvl, n) in pids.iter().enumerate() {
                self.used.remove(&(nss[lvl], *n));
            }
        }
    }

    pub fn thread(&mut self, actor: Id, tids: &[i32]) -> R {
        let a = self.alive(actor)?.clone();
        if tids.len() != a.pids.len() {
            return Err(format!("tids {tids:?} not at the process's levels"));
        }
        for (lvl, &n) in tids.iter().enumerate() {
            if self.used.contains(&(a.nss[lvl], n)) {
                return Err(format!("tid {n} taken (EEXIST)"));
            }
        }
        for (lvl, &n) in tids.iter().enumerate() {
            self.used.insert((a.nss[lvl], n));
        }
        self.tasks.get_mut(&actor).ok_or("lost")?.threads.push(tids.to_vec());
        Ok(())
    }

    /// First present task on the creator chain (OUTSIDE past the top).
    pub fn caba(&self, id: Id) -> Id {
        let mut c = self.tasks.get(&id).map_or(OUTSIDE, |t| t.creator);
        while c != OUTSIDE {
            match self.tasks.get(&c) {
                Some(t) if t.state == State::Released => c = t.creator,
                _ => break,
            }
        }
        c
    }

    /// Columns of `who` as seen from a process in the namespaces `nss`:
    /// its pid at each level where it is in that same namespace, else 0
    /// (pid_nr_ns()).
    fn cols(&self, who: Id, nss: &[Id]) -> Vec<i32> {
        let v = self.pids_of.get(&who).cloned().unwrap_or_default();
        let wns = self.tasks.get(&who).map(|t| t.nss.clone()).unwrap_or_default();
        (0..nss.len())
            .map(|l| if wns.get(l) == Some(&nss[l]) { *v.get(l).unwrap_or(&0) } else { 0 })
            .collect()
    }

    /// What a dump of the tree below `root` (a level-0 task) shows.
    pub fn dump(&self, root: Id) -> Result<Dump, String> {
        let r = self.task(root)?;
        if r.pids.len() != 1 || r.state == State::Released {
            return Err(format!("cannot dump below {root}"));
        }
        let mut order = vec![root];
        let mut i = 0;
        while i < order.len() {
            order.extend(self.children(order[i]));
            i += 1;
        }
        let mut processes = vec![];
        for id in order {
            let t = self.task(id)?;
            let mut threads = vec![];
            if t.state == State::Alive {
                if !t.leader_gone {
                    threads.push(t.pids.clone());
                }
                threads.extend(t.threads.iter().cloned());
            }
            // Namespaces that do not follow from the parent's.
            let derived = if id == root {
                t.nss.clone()
            } else {
                let mut pn = self.task(t.parent)?.nss.clone();
                if t.nss.len() == pn.len() + 1 && t.nss.last() == Some(&id) {
                    pn.push(id);
                }
                pn
            };
            let nsinits = if derived == t.nss { vec![] } else { t.nss.clone() };
            processes.push(Proc {
                pids: t.pids.clone(),
                ppid: if id == root { OUTSIDE } else { t.parent },
                pgid: self.cols(t.pgid, &t.nss),
                sid: self.cols(t.sid, &t.nss),
                caba: Some(self.cols(self.caba(id), &t.nss)),
                zombie: t.state == State::Zombie,
                subreaper: t.subreaper,
                threads,
                nsinits,
                leader_gone: t.leader_gone && t.state == State::Alive,
            });
        }
        Ok(Dump {
            version: 1,
            caba_source: "model".into(),
            processes,
        })
    }
}
