// SPDX-License-Identifier: GPL-2.0
//! The specification as a model: which process is each process's CABA and
//! real parent, which are zombies and which are released, and what a
//! reader in a given pid namespace must see. Pure bookkeeping, never fed
//! from the kernel: only the pid numbers are the ones the kernel gave.
//!
//! Besides CABA it keeps what decides the real parent and the release of
//! a process (subreapers, SIGCHLD ignored, CLONE_AUTOREAP, ptrace) and the
//! sessions and process groups, so that the tests can check those too and
//! know which operations must succeed.

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
    /// The process whose thread forked this one; None for the root only.
    pub creator: Option<Pid>,
    /// The real parent (PPid), after CLONE_PARENT and reparenting.
    pub parent: Option<Pid>,
    /// Whether the real parent changed after creation (a reaper took it).
    pub reparented: bool,
    pub state: State,
    /// The pid namespace the process lives in.
    pub ns: Ns,
    /// Where the children its main thread forks go: changed by setns() and
    /// unshare(CLONE_NEWPID), which act on the calling thread only. Other
    /// threads always fork into `ns` (they cannot be created once the two
    /// differ, and the tests do not setns from them).
    pub ns_for_children: Ns,
    pub subreaper: bool,
    /// SIGCHLD set to SIG_IGN: its exiting children are reaped at once.
    /// Inherited at fork, kept by exec.
    pub ignores_sigchld: bool,
    /// Made with CLONE_AUTOREAP: reaped at once when it exits.
    pub autoreap: bool,
    pub tracer: Option<Pid>,
    /// Session and process group, named by the process whose pid they are.
    pub sid: Pid,
    pub pgid: Pid,
    /// The tgid in every namespace from the root down to `ns` (NSpid).
    pub nspid: Vec<i32>,
    pub threads: Vec<String>,
    /// False once the main thread exited alone (a zombie leader).
    pub leader_alive: bool,
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

/// The root agent: every process of a test descends from it. It is a
/// subreaper and a session leader, in the test runner's namespace.
pub const ROOT: Pid = 0;

/// How a process is created, as far as the model cares (CLONE_VM and
/// CLONE_VFORK change nothing here).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Clone {
    pub clone_parent: bool,
    pub new_pid_ns: bool,
    pub autoreap: bool,
}

impl Model {
    pub fn new(root_pid: i32) -> Model {
        Model {
            procs: vec![Proc {
                name: "root".into(),
                creator: None,
                parent: None,
                reparented: false,
                state: State::Alive,
                ns: 0,
                ns_for_children: 0,
                subreaper: true,
                ignores_sigchld: false,
                autoreap: false,
                tracer: None,
                sid: ROOT,
                pgid: ROOT,
                nspid: vec![root_pid],
                threads: vec![],
                leader_alive: true,
            }],
            // The root namespace's real init is outside the model; its
            // orphans all meet the root agent, a subreaper, which stands in
            // for it.
            ns: vec![PidNs {
                parent: None,
                level: 0,
                init: Some(ROOT),
            }],
        }
    }

    pub fn find(&self, name: &str) -> Option<Pid> {
        self.procs.iter().position(|p| p.name == name)
    }

    pub fn present(&self, p: Pid) -> bool {
        self.procs[p].state != State::Released
    }

    pub fn alive(&self, p: Pid) -> bool {
        self.procs[p].state == State::Alive
    }

    /// The test's processes that are still present (the root excluded).
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

    pub fn level(&self, p: Pid) -> usize {
        self.ns[self.procs[p].ns].level
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

    /// An NSxxx line of `p` naming process `q`, as a reader whose /proc
    /// belongs to `view` must see it.
    fn ns_line(&self, p: Pid, q: Option<Pid>, view: Ns) -> Vec<i32> {
        self.columns(p, view)
            .into_iter()
            .map(|ns| self.pid_in(q, ns))
            .collect()
    }

    pub fn expected_nscaba(&self, p: Pid, view: Ns) -> Vec<i32> {
        self.ns_line(p, self.caba(p), view)
    }

    pub fn expected_nspid(&self, p: Pid, view: Ns) -> Vec<i32> {
        self.ns_line(p, Some(p), view)
    }

    pub fn expected_nssid(&self, p: Pid, view: Ns) -> Vec<i32> {
        self.ns_line(p, Some(self.procs[p].sid), view)
    }

    pub fn expected_nspgid(&self, p: Pid, view: Ns) -> Vec<i32> {
        self.ns_line(p, Some(self.procs[p].pgid), view)
    }

    pub fn expected_ppid(&self, p: Pid, view: Ns) -> i32 {
        self.pid_in(self.procs[p].parent, view)
    }

    /// Why the kernel refuses this creation, if it does (or the tests do:
    /// the root's siblings would leave the test's tree).
    pub fn fork_refused(
        &self,
        creator: Pid,
        from_thread: bool,
        how: Clone,
    ) -> Option<&'static str> {
        let c = &self.procs[creator];
        let into = if from_thread { c.ns } else { c.ns_for_children };
        if self.ns[into].init.is_some_and(|i| !self.alive(i)) {
            return Some("its children's pid namespace has lost its init");
        }
        if how.clone_parent && creator == ROOT {
            return Some("CLONE_PARENT from the root would leave the test's tree");
        }
        if how.clone_parent && self.is_ns_init(creator) {
            return Some("CLONE_PARENT from a namespace init (EINVAL)");
        }
        if how.clone_parent && (how.autoreap || c.autoreap) {
            return Some("CLONE_PARENT with CLONE_AUTOREAP, or from an autoreap process (EINVAL)");
        }
        if how.new_pid_ns && into != c.ns {
            return Some("CLONE_NEWPID after setns or unshare (EINVAL)");
        }
        None
    }

    /// Record a new process; its pid numbers are filled in by the caller.
    pub fn fork(&mut self, creator: Pid, from_thread: bool, name: &str, how: Clone) -> Pid {
        let c = &self.procs[creator];
        let parent = if how.clone_parent {
            c.parent
        } else {
            Some(creator)
        };
        let (sid, pgid, ignores) = (c.sid, c.pgid, c.ignores_sigchld);
        let mut ns = if from_thread { c.ns } else { c.ns_for_children };
        if how.new_pid_ns {
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
            reparented: false,
            state: State::Alive,
            ns,
            ns_for_children: ns,
            subreaper: false,
            ignores_sigchld: ignores,
            autoreap: how.autoreap,
            tracer: None,
            sid,
            pgid,
            nspid: vec![],
            threads: vec![],
            leader_alive: true,
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
    pub fn reaper(&self, father: Pid) -> Pid {
        let level = self.level(father);
        let mut r = self.procs[father].parent;
        while let Some(q) = r {
            if self.level(q) != level {
                break;
            }
            if self.procs[q].subreaper && self.alive(q) {
                return q;
            }
            r = self.procs[q].parent;
        }
        self.ns[self.procs[father].ns].init.unwrap_or(ROOT)
    }

    /// Whether the kernel reaps `p` itself when its parent is notified of
    /// its death (do_notify_parent() returning true).
    fn autoreaped(&self, p: Pid) -> bool {
        let pr = &self.procs[p];
        pr.tracer.is_none()
            && (pr.autoreap || pr.parent.is_some_and(|q| self.procs[q].ignores_sigchld))
    }

    fn release(&mut self, p: Pid, released: &mut Vec<Pid>) {
        self.procs[p].state = State::Released;
        self.procs[p].tracer = None;
        released.push(p);
    }

    /// The whole process exits: its tracees are detached, its children go
    /// to their reaper, and it becomes a zombie, unless the kernel reaps it
    /// (or a reparented zombie child) at once. CABA changes only through
    /// those releases. Returns the processes released.
    pub fn exit(&mut self, p: Pid) -> Vec<Pid> {
        let mut released = vec![];
        // exit_ptrace(): a zombie tracee goes back to its real parent,
        // which may not want it.
        for t in 1..self.procs.len() {
            if self.procs[t].tracer != Some(p) || !self.present(t) {
                continue;
            }
            self.procs[t].tracer = None;
            if self.procs[t].state == State::Zombie {
                let own_child = self.procs[t].parent == Some(p);
                let dead = if own_child {
                    self.procs[p].ignores_sigchld || self.procs[t].autoreap
                } else {
                    self.autoreaped(t)
                };
                if dead {
                    self.release(t, &mut released);
                }
            }
        }
        let reaper = self.reaper(p);
        self.procs[p].state = State::Zombie;
        self.procs[p].threads.clear();
        self.procs[p].leader_alive = false;
        for c in 1..self.procs.len() {
            if self.procs[c].parent == Some(p) && self.present(c) {
                self.procs[c].parent = Some(reaper);
                self.procs[c].reparented = true;
                // reparent_leader(): the new parent is told of a zombie.
                if self.procs[c].state == State::Zombie && self.autoreaped(c) {
                    self.release(c, &mut released);
                }
            }
        }
        if self.autoreaped(p) {
            self.release(p, &mut released);
        }
        released
    }

    /// The zombie is reaped (waited for by its real parent): released, it
    /// stops being anybody's CABA.
    pub fn reap(&mut self, p: Pid) {
        assert_eq!(
            self.procs[p].state,
            State::Zombie,
            "only zombies are reaped"
        );
        assert!(
            self.procs[p].tracer.is_none(),
            "a traced zombie is its tracer's"
        );
        self.procs[p].state = State::Released;
    }

    /// The tracer waits for its zombie tracee: released if the real parent
    /// is the tracer or does not want it, else handed to the real parent.
    pub fn tracer_wait(&mut self, p: Pid) -> bool {
        let tracer = self.procs[p].tracer.expect("a traced zombie");
        assert_eq!(self.procs[p].state, State::Zombie);
        self.procs[p].tracer = None;
        if self.procs[p].parent == Some(tracer) || self.autoreaped(p) {
            self.procs[p].state = State::Released;
            true
        } else {
            false
        }
    }

    /// setsid(): refused (EPERM) while a process group has p's pid.
    pub fn setsid(&mut self, p: Pid) -> bool {
        if (0..self.procs.len()).any(|q| self.present(q) && self.procs[q].pgid == p) {
            return false;
        }
        self.procs[p].sid = p;
        self.procs[p].pgid = p;
        true
    }

    /// Process groups `p` may join with setpgid(0, pgid): in its session,
    /// with a member left, and a pid in p's namespace to name them by.
    pub fn joinable_groups(&self, p: Pid) -> Vec<Pid> {
        if self.procs[p].sid == p {
            return vec![]; // a session leader cannot move
        }
        let mut groups: Vec<Pid> = (0..self.procs.len())
            .filter(|&q| self.present(q) && self.procs[q].sid == self.procs[p].sid)
            .map(|q| self.procs[q].pgid)
            .filter(|&g| g != self.procs[p].pgid && self.visible_in(g, self.procs[p].ns))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// setpgid(0, pgid of `group`), or setpgid(0, 0) for None.
    pub fn setpgid(&mut self, p: Pid, group: Option<Pid>) -> bool {
        let ok = match group {
            None | Some(_) if self.procs[p].sid == p => false,
            None => true,
            Some(g) => g == p || self.joinable_groups(p).contains(&g),
        };
        if ok {
            self.procs[p].pgid = group.unwrap_or(p);
        }
        ok
    }

    /// exec: threads go, the exec'ing thread is the leader; ignored signals
    /// stay ignored.
    pub fn exec(&mut self, p: Pid, from_thread: bool) {
        if from_thread {
            // de_thread(): the thread, with its own nsproxy, is the leader now.
            self.procs[p].ns_for_children = self.procs[p].ns;
        }
        self.procs[p].threads.clear();
        self.procs[p].leader_alive = true;
    }

    /// Namespaces that a reader can still be put into: they have a live init.
    pub fn live_namespaces(&self) -> Vec<Ns> {
        (1..self.ns.len())
            .filter(|&n| self.ns[n].init.is_some_and(|i| self.alive(i)))
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

    /// Live processes (the root included) with PR_SET_CHILD_SUBREAPER on.
    pub fn subreapers(&self) -> Vec<Pid> {
        (0..self.procs.len())
            .filter(|&p| self.alive(p) && self.procs[p].subreaper)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fork `name` from `creator` with made-up pid numbers.
    fn fork(m: &mut Model, creator: &str, name: &str, how: Clone) -> Pid {
        let c = m.find(creator).unwrap();
        assert_eq!(m.fork_refused(c, false, how), None);
        let id = m.fork(c, false, name, how);
        let levels = m.level(id) + 1;
        m.procs[id].nspid = (0..levels).map(|l| (100 * id + l) as i32).collect();
        id
    }

    fn plain(m: &mut Model, creator: &str, name: &str) -> Pid {
        fork(m, creator, name, Clone::default())
    }

    fn caba(m: &Model, name: &str) -> String {
        let p = m.find(name).unwrap();
        m.caba(p).map_or("-".into(), |c| m.procs[c].name.clone())
    }

    fn parent(m: &Model, name: &str) -> String {
        let p = m.find(name).unwrap();
        m.procs[m.procs[p].parent.unwrap()].name.clone()
    }

    #[test]
    fn complex_sessions_as_the_spec_states_it() {
        let mut m = Model::new(10);
        plain(&mut m, "root", "P0");
        let p1 = fork(
            &mut m,
            "P0",
            "P1",
            Clone {
                new_pid_ns: true,
                ..Default::default()
            },
        );
        assert!(m.setsid(p1));
        let p2 = plain(&mut m, "P1", "P2");
        assert!(m.setsid(p2));
        plain(&mut m, "P2", "P3");
        let p4 = plain(&mut m, "P3", "P4");
        plain(&mut m, "P4", "P5");
        assert!(m.setsid(p4));
        let p6 = plain(&mut m, "P4", "P6");
        plain(&mut m, "P6", "P7");
        m.procs[p2].subreaper = true;
        assert!(m.exit(p6).is_empty());
        m.reap(p6);
        m.procs[p2].subreaper = false;
        let p3 = m.find("P3").unwrap();
        m.exit(p3);
        m.reap(p3);
        for (p, c) in [("P2", "P1"), ("P4", "P2"), ("P5", "P4"), ("P7", "P4")] {
            assert_eq!(caba(&m, p), c, "CABA({p})");
        }
        assert_eq!(parent(&m, "P7"), "P2");
        assert_eq!(parent(&m, "P4"), "P1");
        // P7 lives in P4's session, which P2 (its parent) is not in.
        let p7 = m.find("P7").unwrap();
        assert_eq!(m.procs[p7].sid, p4);
        // Seen from P1's namespace (level 1): P1 is pid 101 there.
        assert_eq!(
            m.expected_nscaba(p2, m.procs[p1].ns),
            vec![m.procs[p1].nspid[1]]
        );
    }

    #[test]
    fn subreaper_inside_a_nested_namespace_takes_the_orphans() {
        let mut m = Model::new(10);
        let nsflag = Clone {
            new_pid_ns: true,
            ..Default::default()
        };
        fork(&mut m, "root", "I", nsflag);
        let s = plain(&mut m, "I", "S");
        let a = plain(&mut m, "S", "A");
        plain(&mut m, "A", "B");
        m.procs[s].subreaper = true;
        m.exit(a);
        assert_eq!(parent(&m, "B"), "S");
        assert_eq!(caba(&m, "B"), "A");
        m.procs[s].subreaper = false; // toggled off: the next orphan goes to I
        let b = m.find("B").unwrap();
        plain(&mut m, "B", "C");
        m.exit(b);
        assert_eq!(parent(&m, "C"), "I");
    }

    #[test]
    fn sigchld_ignored_releases_at_exit_and_on_reparenting() {
        let mut m = Model::new(10);
        let a = plain(&mut m, "root", "A");
        let b = plain(&mut m, "A", "B");
        let c = plain(&mut m, "B", "C");
        m.procs[a].ignores_sigchld = true;
        assert_eq!(m.exit(c), Vec::<Pid>::new()); // B does not ignore it
        assert_eq!(m.exit(b), vec![b]); // A does: B is gone at once
        assert_eq!(m.procs[c].state, State::Zombie);
        assert_eq!(parent(&m, "C"), "root");
        assert_eq!(caba(&m, "C"), "A");
        // A child forked now inherits SIG_IGN.
        let d = plain(&mut m, "A", "D");
        assert!(m.procs[d].ignores_sigchld);
    }

    #[test]
    fn zombie_reparented_to_an_ignoring_reaper_is_released() {
        let mut m = Model::new(10);
        let s = plain(&mut m, "root", "S");
        let a = plain(&mut m, "S", "A");
        let z = plain(&mut m, "A", "Z");
        m.procs[s].subreaper = true;
        m.procs[s].ignores_sigchld = true;
        m.exit(z);
        assert_eq!(m.procs[z].state, State::Zombie);
        let gone = m.exit(a);
        assert_eq!(gone, vec![z, a]);
    }

    #[test]
    fn traced_zombie_released_by_tracer_exit_or_wait() {
        let mut m = Model::new(10);
        let t = plain(&mut m, "root", "T");
        let a = plain(&mut m, "T", "A");
        let p = plain(&mut m, "A", "P");
        plain(&mut m, "P", "Q");
        m.procs[a].ignores_sigchld = true;
        m.procs[p].tracer = Some(t);
        assert!(m.exit(p).is_empty(), "a traced process is never autoreaped");
        assert_eq!(caba(&m, "Q"), "P");
        assert_eq!(
            m.exit(t),
            vec![p],
            "the tracer's exit detaches and releases"
        );
        assert_eq!(caba(&m, "Q"), "A");

        let mut m = Model::new(10);
        let t = plain(&mut m, "root", "T");
        let a = plain(&mut m, "root", "A");
        let p = plain(&mut m, "A", "P");
        m.procs[p].tracer = Some(t);
        m.exit(p);
        assert!(!m.tracer_wait(p), "A wants its child: still a zombie");
        assert_eq!(m.procs[p].state, State::Zombie);
        m.procs[a].ignores_sigchld = true;
        let p2 = plain(&mut m, "A", "P2");
        m.procs[p2].tracer = Some(t);
        m.exit(p2);
        assert!(
            m.tracer_wait(p2),
            "A ignores SIGCHLD: the tracer's wait releases"
        );
    }

    #[test]
    fn sessions_and_groups() {
        let mut m = Model::new(10);
        let a = plain(&mut m, "root", "A");
        let b = plain(&mut m, "A", "B");
        assert!(m.setpgid(a, None));
        assert!(!m.setsid(a), "a group leader cannot start a session");
        assert_eq!(
            m.joinable_groups(b),
            vec![a],
            "B is in the root's group already"
        );
        assert!(m.setpgid(b, Some(a)));
        let c = plain(&mut m, "B", "C");
        assert_eq!(m.procs[c].pgid, a);
        assert!(m.setsid(c));
        assert!(!m.setpgid(c, None), "a session leader cannot move");
        assert!(m.joinable_groups(c).is_empty());
    }

    #[test]
    fn refusals() {
        let mut m = Model::new(10);
        let i = fork(
            &mut m,
            "root",
            "I",
            Clone {
                new_pid_ns: true,
                ..Default::default()
            },
        );
        let cp = Clone {
            clone_parent: true,
            ..Default::default()
        };
        assert!(m.fork_refused(i, false, cp).is_some());
        assert!(m.fork_refused(ROOT, false, cp).is_some());
        let a = plain(&mut m, "root", "A");
        m.unshare_pid_ns(a);
        let nsflag = Clone {
            new_pid_ns: true,
            ..Default::default()
        };
        assert!(m.fork_refused(a, false, nsflag).is_some());
        assert!(m.fork_refused(a, true, nsflag).is_none());
    }
}
