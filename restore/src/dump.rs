// SPDX-License-Identifier: GPL-2.0
//! The dump format and its self-consistency check.
//!
//! A dump describes the processes of one tree, the root first. Every pid
//! is given as a column vector like `NSpid`: index 0 is the root's own pid
//! namespace, the last index the process's own namespace. A process is
//! named in the plan and in this module by its root-level pid (`pids[0]`),
//! which is unique in the whole tree; 0 stands for "outside": the
//! restorer, or anything not in the tree.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A root-level pid; 0 = outside the tree (or outside the root's namespace).
pub type Id = i32;
pub const OUTSIDE: Id = 0;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    pub version: u32,
    /// Where the CABA columns come from: "pidfd", "nscaba", "model" or
    /// "none" (kernel without the CABA series).
    pub caba_source: String,
    /// The root first.
    pub processes: Vec<Proc>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    /// NSpid from the root's namespace down to the process's own.
    pub pids: Vec<i32>,
    /// Root-level pid of the parent; 0 for the root.
    pub ppid: Id,
    /// NSpgid columns (same levels as `pids`).
    pub pgid: Vec<i32>,
    /// NSsid columns.
    pub sid: Vec<i32>,
    /// NScaba columns; None where the kernel does not have CABA.
    pub caba: Option<Vec<i32>>,
    #[serde(default)]
    pub zombie: bool,
    #[serde(default)]
    pub subreaper: bool,
    /// Every thread, the leader included, as tid columns; empty for a zombie.
    #[serde(default)]
    pub threads: Vec<Vec<i32>>,
    /// The pid namespace at every level, named by the root-level pid of its
    /// init (1 for the root's namespace), where it does not follow from the
    /// parent: a process that a creator made after setns() or unshare()
    /// into another namespace (or reparented out of it). 0 names a
    /// namespace whose init is not in the tree. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nsinits: Vec<Id>,
    /// The main thread has exited (zombie leader) while other threads run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leader_gone: bool,
}

impl Proc {
    pub fn id(&self) -> Id {
        self.pids[0]
    }
    pub fn level(&self) -> usize {
        self.pids.len() - 1
    }
    pub fn sid_id(&self) -> Id {
        self.sid[0]
    }
    pub fn pgid_id(&self) -> Id {
        self.pgid[0]
    }
    pub fn is_ns_init(&self) -> bool {
        *self.pids.last().unwrap_or(&0) == 1
    }
}

impl Dump {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
    pub fn from_json(text: &str) -> Result<Dump, String> {
        serde_json::from_str(text).map_err(|e| format!("not a dump: {e}"))
    }
    pub fn has_caba(&self) -> bool {
        self.processes.iter().all(|p| p.caba.is_some())
    }
}

/// The leader named by an NSsid/NSpgid/NScaba column vector: its pids are
/// the non-zero prefix (it lives in the process's namespace or an outer one).
pub fn leader_pids(cols: &[i32]) -> Vec<i32> {
    cols.iter().take_while(|&&v| v != 0).copied().collect()
}

/// A validated dump with indexes. Construction fails on a dump that no
/// kernel can produce.
#[derive(Clone, Debug)]
pub struct Tree {
    pub dump: Dump,
    pub root: Id,
    pub by_id: BTreeMap<Id, usize>,
    /// Parent-tree children, in dump order.
    pub children: BTreeMap<Id, Vec<Id>>,
    /// Pid-namespace key of every level of every process: the root-level
    /// pid of that namespace's init (1 for the root's namespace).
    pub ns: BTreeMap<Id, Vec<Id>>,
    /// What the dump holds that no planner here re-creates, each with the
    /// reason; the planners refuse such a tree as unrestorable.
    pub unsupported: Vec<String>,
}

impl Tree {
    pub fn new(dump: &Dump) -> Result<Tree, String> {
        let procs = &dump.processes;
        let Some(root) = procs.first() else {
            return Err("dump has no process".into());
        };
        if root.pids.len() != 1 {
            return Err(format!(
                "root has {} pid columns; a dump is relative to the root's namespace, so 1",
                root.pids.len()
            ));
        }
        if root.ppid != OUTSIDE {
            return Err(format!("root {} has ppid {}, expected 0", root.id(), root.ppid));
        }
        let mut by_id = BTreeMap::new();
        for (i, p) in procs.iter().enumerate() {
            if p.pids.is_empty() || p.pids.iter().any(|&v| v <= 0) {
                return Err(format!("process #{i}: bad pids {:?}", p.pids));
            }
            let n = p.pids.len();
            if p.pgid.len() != n || p.sid.len() != n {
                return Err(format!(
                    "process {}: NSpgid/NSsid have {}/{} columns, NSpid {}",
                    p.id(),
                    p.pgid.len(),
                    p.sid.len(),
                    n
                ));
            }
            if let Some(c) = &p.caba {
                if c.len() != n {
                    return Err(format!(
                        "process {}: NScaba has {} columns, NSpid {}",
                        p.id(),
                        c.len(),
                        n
                    ));
                }
            }
            if by_id.insert(p.id(), i).is_some() {
                return Err(format!("pid {} appears twice", p.id()));
            }
        }
        let get = |id: Id| by_id.get(&id).map(|&i| &procs[i]);
        let mut children: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
        for p in &procs[1..] {
            let Some(parent) = get(p.ppid) else {
                return Err(format!(
                    "process {}: parent {} is not in the dump",
                    p.id(),
                    p.ppid
                ));
            };
            if parent.zombie {
                return Err(format!(
                    "process {}: parent {} is a zombie (zombies have no children)",
                    p.id(),
                    p.ppid
                ));
            }
            children.entry(p.ppid).or_default().push(p.id());
        }
        // Every process must hang below the root (no parent cycles).
        let mut unsupported = vec![];
        let mut ns: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
        let root_ns = 1;
        ns.insert(root.id(), vec![if root.pids[0] == 1 { root.id() } else { root_ns }]);
        let mut queue = vec![root.id()];
        while let Some(id) = queue.pop() {
            for &c in children.get(&id).into_iter().flatten() {
                let child = get(c).ok_or("internal: child lost")?;
                let parent = get(id).ok_or("internal: parent lost")?;
                let pns = ns[&id].clone();
                let cns = if !child.nsinits.is_empty() {
                    if child.nsinits.len() != child.pids.len() {
                        return Err(format!(
                            "process {c}: {} namespaces for {} pid columns",
                            child.nsinits.len(),
                            child.pids.len()
                        ));
                    }
                    if !child.nsinits.starts_with(&pns) {
                        return Err(format!(
                            "process {c} in namespaces {:?} has its parent {id} in {pns:?}, \
                             which is not one of them",
                            child.nsinits
                        ));
                    }
                    child.nsinits.clone()
                } else if child.pids.len() == parent.pids.len() + 1 && child.is_ns_init() {
                    let mut v = pns;
                    v.push(c);
                    v
                } else if child.pids.len() == parent.pids.len() {
                    pns
                } else {
                    return Err(format!(
                        "process {c} ({} levels) is a child of {id} ({} levels) without being \
                         the init of a new pid namespace, and the dump does not say which \
                         namespace it entered (no nsinits)",
                        child.pids.len(),
                        parent.pids.len()
                    ));
                };
                if child.pids.len() > 1 && child.is_ns_init() && cns.last() != Some(&c) {
                    return Err(format!("process {c}: pid 1 in a namespace it did not create"));
                }
                ns.insert(c, cns);
                queue.push(c);
            }
        }
        if ns.len() != procs.len() {
            let lost: Vec<Id> = procs
                .iter()
                .map(|p| p.id())
                .filter(|i| !ns.contains_key(i))
                .collect();
            return Err(format!("processes {lost:?} are not below the root (parent cycle)"));
        }
        // Namespaces named explicitly must be those of inits in the tree.
        for p in procs {
            if p.nsinits.is_empty() {
                continue;
            }
            let chain = &ns[&p.id()];
            for (lvl, &k) in chain.iter().enumerate().skip(1) {
                if k == p.id() {
                    continue;
                }
                if k == OUTSIDE || !by_id.contains_key(&k) {
                    unsupported.push(format!(
                        "process {} is in a pid namespace (level {lvl} below the root's) whose \
                         init is not in the tree: it cannot be re-created without it",
                        p.id()
                    ));
                    break;
                }
                let ok = get(k).is_some_and(|i| i.is_ns_init() && ns.get(&k).is_some_and(|v| v[..] == chain[..=lvl]));
                if !ok {
                    return Err(format!(
                        "process {}: namespace {k} at level {lvl} is not the namespace of an \
                         init {k} of the tree",
                        p.id()
                    ));
                }
            }
        }
        let tree = Tree {
            dump: dump.clone(),
            root: root.id(),
            by_id,
            children,
            ns,
            unsupported,
        };
        tree.check_pids()?;
        tree.check_sessions()?;
        tree.check_threads()?;
        tree.check_caba()?;
        Ok(tree)
    }

    pub fn get(&self, id: Id) -> Option<&Proc> {
        self.by_id.get(&id).map(|&i| &self.dump.processes[i])
    }
    pub fn p(&self, id: Id) -> &Proc {
        &self.dump.processes[self.by_id[&id]]
    }
    pub fn contains(&self, id: Id) -> bool {
        self.by_id.contains_key(&id)
    }
    pub fn ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.dump.processes.iter().map(|p| p.id())
    }
    pub fn root_is_init(&self) -> bool {
        self.root == 1
    }
    /// The namespace key of a process's own namespace.
    pub fn own_ns(&self, id: Id) -> Id {
        *self.ns[&id].last().unwrap_or(&1)
    }

    /// CABA as a node: a process of the tree, or OUTSIDE.
    pub fn caba(&self, id: Id) -> Option<Id> {
        let c = self.p(id).caba.as_ref()?;
        Some(if self.contains(c[0]) { c[0] } else { OUTSIDE })
    }

    /// Every pid number that appears anywhere in the dump, at any level.
    pub fn used_numbers(&self) -> BTreeSet<i32> {
        let mut s = BTreeSet::new();
        for p in &self.dump.processes {
            s.extend(p.pids.iter().copied());
            s.extend(p.pgid.iter().copied());
            s.extend(p.sid.iter().copied());
            if let Some(c) = &p.caba {
                s.extend(c.iter().copied());
            }
            for t in &p.threads {
                s.extend(t.iter().copied());
            }
        }
        s.insert(1);
        s
    }

    fn check_pids(&self) -> Result<(), String> {
        // (namespace key, number) pairs must be unique over pids and tids.
        let mut seen: HashMap<(Id, i32), Id> = HashMap::new();
        for p in &self.dump.processes {
            let nss = &self.ns[&p.id()];
            let mut vectors = vec![p.pids.clone()];
            vectors.extend(p.threads.iter().filter(|t| **t != p.pids).cloned());
            for v in vectors {
                if v.len() != p.pids.len() {
                    return Err(format!(
                        "process {}: thread {:?} has not the process's levels",
                        p.id(),
                        v
                    ));
                }
                for (lvl, &num) in v.iter().enumerate() {
                    if let Some(other) = seen.insert((nss[lvl], num), p.id()) {
                        return Err(format!(
                            "pid {num} is used twice in one namespace (processes {other} and {})",
                            p.id()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_sessions(&self) -> Result<(), String> {
        let mut group_session: BTreeMap<Id, Id> = BTreeMap::new();
        for p in &self.dump.processes {
            let (id, s, g) = (p.id(), p.sid_id(), p.pgid_id());
            if s == id && g != id {
                return Err(format!(
                    "process {id} leads session {id} but is in group {g} (a session leader \
                     cannot leave its group)"
                ));
            }
            if g == 0 && s != 0 {
                return Err(format!(
                    "process {id}: group outside the root's namespace but session {s} inside"
                ));
            }
            if let Some(&other) = group_session.get(&g) {
                if other != s && g != 0 {
                    return Err(format!("group {g} spans sessions {other} and {s}"));
                }
            }
            group_session.insert(g, s);
            for (col, what) in [(&p.sid, "NSsid"), (&p.pgid, "NSpgid")] {
                let lead = leader_pids(col);
                if col[lead.len()..].iter().any(|&v| v != 0) {
                    return Err(format!("process {id}: {what} {col:?} has a gap"));
                }
                if lead.len() > 1 && *lead.last().unwrap_or(&0) == 1 && lead.len() < col.len() {
                    // Leader is a namespace init: fine only if it is present.
                    if !self.contains(lead[0]) {
                        return Err(format!(
                            "process {id}: {what} names a dead namespace init {lead:?}"
                        ));
                    }
                }
            }
        }
        for p in &self.dump.processes {
            let id = p.id();
            if let Some(&s) = group_session.get(&id) {
                if p.sid_id() != s {
                    return Err(format!(
                        "process {id} is in session {} but its group {id} is in session {s}",
                        p.sid_id()
                    ));
                }
            }
            let leads_session = self.dump.processes.iter().any(|q| q.sid_id() == id);
            if leads_session && p.sid_id() != id {
                return Err(format!(
                    "session {id} exists but process {id} is in session {}",
                    p.sid_id()
                ));
            }
        }
        Ok(())
    }

    fn check_threads(&self) -> Result<(), String> {
        for p in &self.dump.processes {
            if p.zombie && !p.threads.is_empty() {
                return Err(format!("zombie {} has threads", p.id()));
            }
            if p.leader_gone && (p.zombie || p.threads.is_empty() || p.threads.contains(&p.pids)) {
                return Err(format!(
                    "process {}: leader_gone, but the threads {:?} say otherwise",
                    p.id(),
                    p.threads
                ));
            }
            if !p.zombie && !p.leader_gone && !p.threads.is_empty() && !p.threads.contains(&p.pids) {
                return Err(format!("process {}: the leader thread is missing", p.id()));
            }
        }
        Ok(())
    }

    fn check_caba(&self) -> Result<(), String> {
        let with = self.dump.processes.iter().filter(|p| p.caba.is_some()).count();
        if with == 0 {
            return Ok(());
        }
        if with != self.dump.processes.len() {
            return Err("CABA given for some processes only".into());
        }
        if self.caba(self.root) != Some(OUTSIDE) {
            return Err(format!(
                "the root's CABA {:?} is in its own subtree",
                self.p(self.root).caba
            ));
        }
        for p in &self.dump.processes {
            let c = p.caba.as_ref().ok_or("internal")?;
            let lead = leader_pids(c);
            if c[lead.len()..].iter().any(|&v| v != 0) {
                return Err(format!("process {}: NScaba {c:?} has a gap", p.id()));
            }
            if let Some(a) = self.get(c[0]) {
                // Its pid where it is in the same namespace, 0 below that.
                let (an, pn) = (&self.ns[&a.id()], &self.ns[&p.id()]);
                let want: Vec<i32> = (0..c.len())
                    .map(|l| if an.get(l) == pn.get(l) { *a.pids.get(l).unwrap_or(&0) } else { 0 })
                    .collect();
                if *c != want {
                    return Err(format!(
                        "process {}: NScaba {c:?} does not match the pids {:?} of {}",
                        p.id(),
                        a.pids,
                        a.id()
                    ));
                }
            }
            // No cycle: the chain must leave the tree within N steps.
            let mut x = p.id();
            for _ in 0..=self.dump.processes.len() {
                match self.caba(x) {
                    Some(OUTSIDE) | None => break,
                    Some(y) => x = y,
                }
            }
            if x != OUTSIDE && self.caba(x) != Some(OUTSIDE) {
                return Err(format!("CABA chain of {} has a cycle", p.id()));
            }
        }
        Ok(())
    }
}
