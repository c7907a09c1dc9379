// SPDX-License-Identifier: GPL-2.0
//! The specification as a model: which process is each process's CABA and
//! real parent, and what a reader in a given pid namespace must see. Pure
//! bookkeeping; the pid numbers are the ones the kernel gave the processes.

pub type Pid = usize; // index into Model::procs
pub type Ns = usize; // index into Model::ns

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Alive,
    Zombie,
    Released,
}

#[derive(Clone, Debug)]
pub struct Proc {
    pub name: String,
    /// The process whose thread forked this one; None for the runner only.
    pub creator: Option<Pid>,
    /// The real parent (PPid), after CLONE_PARENT and reparenting.
    pub parent: Option<Pid>,
    pub state: State,
    /// The pid namespace the process lives in.
    pub ns: Ns,
    /// Where the children its main thread forks go: changed by setns() and
    /// unshare(CLONE_NEWPID), which act on the calling thread only. Other
    /// threads always fork into `ns` (they cannot be created once the two
    /// differ, and the scenarios do not setns from them).
    pub ns_for_children: Ns,
    pub subreaper: bool,
    /// The tgid in every namespace from the root down to `ns` (NSpid).
    pub nspid: Vec<i32>,
    pub threads: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct PidNs {
    pub parent: Option<Ns>,
    pub level: usize,
    /// Its init (child reaper), once created.
    pub init: Option<Pid>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub procs: Vec<Proc>,
    pub ns: Vec<PidNs>,
}

/// The runner: root of the model, a subreaper in the root namespace.
pub const RUNNER: Pid = 0;

impl Model {
    pub fn new(runner_pid: i32) -> Model {
        Model {
            procs: vec![Proc {
                name: "runner".into(),
                creator: None,
                parent: None,
                state: State::Alive,
                ns: 0,
                ns_for_children: 0,
                subreaper: true,
                nspid: vec![runner_pid],
                threads: vec![],
            }],
            // The root namespace's real init is outside the model; its orphans
            // all meet the runner, a subreaper, which stands in for it.
            ns: vec![PidNs {
                parent: None,
                level: 0,
                init: Some(RUNNER),
            }],
        }
    }

    pub fn find(&self, name: &str) -> Option<Pid> {
        self.procs.iter().position(|p| p.name == name)
    }

    pub fn present(&self, p: Pid) -> bool {
        self.procs[p].state != State::Released
    }

    /// The scenario's processes that are still present (the runner excluded).
    pub fn present_procs(&self) -> impl Iterator<Item = Pid> + '_ {
        (1..self.procs.len()).filter(|&p| self.present(p))
    }

    /// CABA(p): the first present process on the chain of creators.
    pub fn caba(&self, p: Pid) -> Option<Pid> {
        let mut c = self.procs[p].creator;
        while let Some(q) = c {
            if self.present(q) {
                return Some(q);
            }
            c = self.procs[q].creator;
        }
        None
    }

    /// The namespace at `level` on the chain from `ns` up to the root.
    pub fn ns_at(&self, mut ns: Ns, level: usize) -> Option<Ns> {
        if self.ns[ns].level < level {
            return None;
        }
        while self.ns[ns].level > level {
            ns = self.ns[ns].parent?;
        }
        Some(ns)
    }

    /// Whether `p` has a pid in `view` (lives in it or below it).
    pub fn visible_in(&self, p: Pid, view: Ns) -> bool {
        self.ns_at(self.procs[p].ns, self.ns[view].level) == Some(view)
    }

    /// The tgid of `q` in namespace `ns`, 0 where it has none there.
    pub fn pid_in(&self, q: Option<Pid>, ns: Ns) -> i32 {
        match q {
            Some(q) if self.visible_in(q, ns) => self.procs[q].nspid[self.ns[ns].level],
            _ => 0,
        }
    }

    /// The namespaces of `p` that a reader in `view` sees: NSpid's columns.
    fn columns(&self, p: Pid, view: Ns) -> Vec<Ns> {
        let own = self.procs[p].ns;
        (self.ns[view].level..=self.ns[own].level)
            .map(|l| {
                self.ns_at(own, l)
                    .expect("view is an ancestor of p's namespace")
            })
            .collect()
    }

    /// NScaba of `p` as a reader whose /proc belongs to `view` must see it.
    pub fn expected_nscaba(&self, p: Pid, view: Ns) -> Vec<i32> {
        let caba = self.caba(p);
        self.columns(p, view)
            .into_iter()
            .map(|ns| self.pid_in(caba, ns))
            .collect()
    }

    pub fn expected_ppid(&self, p: Pid, view: Ns) -> i32 {
        self.pid_in(self.procs[p].parent, view)
    }

    /// Record a new process; its pid numbers are filled in by the caller.
    pub fn fork(
        &mut self,
        creator: Pid,
        from_thread: bool,
        name: &str,
        clone_parent: bool,
        new_ns: bool,
    ) -> Pid {
        let c = &self.procs[creator];
        let parent = if clone_parent {
            c.parent
        } else {
            Some(creator)
        };
        let mut ns = if from_thread { c.ns } else { c.ns_for_children };
        if new_ns {
            self.ns.push(PidNs {
                parent: Some(ns),
                level: self.ns[ns].level + 1,
                init: None,
            });
            ns = self.ns.len() - 1;
        }
        let id = self.procs.len();
        if self.ns[ns].init.is_none() {
            // The first process of a namespace is its init.
            self.ns[ns].init = Some(id);
        }
        self.procs.push(Proc {
            name: name.into(),
            creator: Some(creator),
            parent,
            state: State::Alive,
            ns,
            ns_for_children: ns,
            subreaper: false,
            nspid: vec![],
            threads: vec![],
        });
        id
    }

    /// unshare(CLONE_NEWPID): the next child of `p` starts a new namespace.
    pub fn unshare_pid_ns(&mut self, p: Pid) {
        let parent = self.procs[p].ns_for_children;
        let level = self.ns[parent].level + 1;
        self.ns.push(PidNs {
            parent: Some(parent),
            level,
            init: None,
        });
        self.procs[p].ns_for_children = self.ns.len() - 1;
    }

    /// The reaper of `father`'s children when it dies (find_new_reaper()):
    /// the nearest live subreaper on the real-parent chain within the same
    /// namespace level, else the namespace's init.
    fn reaper(&self, father: Pid) -> Pid {
        let level = self.ns[self.procs[father].ns].level;
        let mut r = self.procs[father].parent;
        while let Some(q) = r {
            if self.ns[self.procs[q].ns].level != level {
                break;
            }
            if self.procs[q].subreaper && self.procs[q].state == State::Alive {
                return q;
            }
            r = self.procs[q].parent;
        }
        self.ns[self.procs[father].ns].init.unwrap_or(RUNNER)
    }

    /// The whole process exits: it becomes a zombie, its children move to
    /// their reaper. CABA changes nothing here.
    pub fn exit(&mut self, p: Pid) {
        let reaper = self.reaper(p);
        self.procs[p].state = State::Zombie;
        self.procs[p].threads.clear();
        for c in 1..self.procs.len() {
            if self.procs[c].parent == Some(p) && self.present(c) {
                self.procs[c].parent = Some(reaper);
            }
        }
    }

    /// The zombie is reaped: released, it stops being anybody's CABA.
    pub fn reap(&mut self, p: Pid) {
        assert_eq!(
            self.procs[p].state,
            State::Zombie,
            "only zombies are reaped"
        );
        self.procs[p].state = State::Released;
    }

    /// Namespaces that a reader can still be put into: they have a live init.
    pub fn live_namespaces(&self) -> Vec<Ns> {
        (1..self.ns.len())
            .filter(|&n| {
                self.ns[n]
                    .init
                    .is_some_and(|i| self.procs[i].state == State::Alive)
            })
            .collect()
    }

    /// Whether anything but `init` itself is present in `ns` or below it.
    pub fn ns_has_others(&self, ns: Ns, init: Pid) -> bool {
        self.present_procs()
            .any(|q| q != init && self.visible_in(q, ns))
    }

    /// Whether `p` is the init of its namespace (other than the root's).
    pub fn is_ns_init(&self, p: Pid) -> bool {
        let ns = self.procs[p].ns;
        ns != 0 && self.ns[ns].init == Some(p)
    }
}
