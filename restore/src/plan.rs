// SPDX-License-Identifier: GPL-2.0
//! The plan: an ordered list of operations, each done by one process of
//! the tree being built (or by the restorer, actor 0). Processes are named
//! by their root-level pid, helpers included (every helper gets its pids
//! through set_tid too, so nothing the kernel picks can collide with a pid
//! restored later).
//!
//! Both planners describe what they want as a [`Skeleton`]: who creates
//! whom, who calls setsid, in which session each process must be born.
//! [`lower`] turns a skeleton into the op list, the same way for both, so
//! the measured difference between them is the creation tree alone.

use crate::compare::{compare, Diff};
use crate::dump::{leader_pids, Id, Tree, OUTSIDE};
use crate::model::World;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `actor` calls clone3() with set_tid = reverse(pids); the child is
    /// named `child` (= pids[0]).
    Fork {
        actor: Id,
        child: Id,
        pids: Vec<i32>,
        new_pidns: bool,
        clone_parent: bool,
    },
    Setsid {
        actor: Id,
    },
    /// setpgid(0, pgid): pgid == actor makes a new group.
    Setpgid {
        actor: Id,
        pgid: Id,
    },
    /// prctl(PR_SET_CHILD_SUBREAPER, on).
    Subreaper {
        actor: Id,
        on: bool,
    },
    /// The whole process exits (a helper, or a process that stays a zombie).
    Exit {
        actor: Id,
    },
    /// waitpid(child): releases a helper.
    Reap {
        actor: Id,
        child: Id,
    },
    /// A thread with the given tid columns.
    Thread {
        actor: Id,
        tids: Vec<i32>,
    },
    /// setns(CLONE_NEWPID) into the namespace whose init is `ns` (1: the
    /// restored namespace): the actor's next children are born there. With
    /// the actor's own namespace, back to normal.
    Setns {
        actor: Id,
        ns: Id,
    },
    /// The main thread exits alone; the other threads keep the process
    /// (a zombie leader). The process does nothing after this.
    LeaderExit {
        actor: Id,
    },
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Fork {
                actor,
                child,
                pids,
                new_pidns,
                clone_parent,
            } => {
                write!(f, "{actor}: fork {child} set_tid {pids:?}")?;
                if *new_pidns {
                    write!(f, " CLONE_NEWPID")?;
                }
                if *clone_parent {
                    write!(f, " CLONE_PARENT")?;
                }
                Ok(())
            }
            Op::Setsid { actor } => write!(f, "{actor}: setsid"),
            Op::Setpgid { actor, pgid } => write!(f, "{actor}: setpgid(0, {pgid})"),
            Op::Subreaper { actor, on } => write!(f, "{actor}: subreaper {}", *on as u8),
            Op::Exit { actor } => write!(f, "{actor}: exit"),
            Op::Reap { actor, child } => write!(f, "{actor}: reap {child}"),
            Op::Thread { actor, tids } => write!(f, "{actor}: thread {tids:?}"),
            Op::Setns { actor, ns } => write!(f, "{actor}: setns to the pid namespace of {ns}"),
            Op::LeaderExit { actor } => write!(f, "{actor}: main thread exits"),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub planner: String,
    pub root: Id,
    /// Helpers and why each exists.
    pub helpers: BTreeMap<Id, String>,
    pub ops: Vec<Op>,
}

/// Why a planner gives no plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The dump has no CABA (kernel without the series).
    NoCaba,
    /// No kernel produces this dump.
    Inconsistent(String),
    /// A consistent tree this planner cannot re-create, with the reason.
    Unrestorable(String),
    /// The planner's own simulation disagrees with the dump: a bug.
    Bug(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoCaba => write!(f, "the dump has no CABA (kernel without NScaba)"),
            Refusal::Inconsistent(s) => write!(f, "inconsistent dump: {s}"),
            Refusal::Unrestorable(s) => write!(f, "unrestorable: {s}"),
            Refusal::Bug(s) => write!(f, "planner bug: {s}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Present,
    /// Stands in for the init of the restored namespace when the root is
    /// not one; never exits.
    InitHelper,
    /// Dead session leader (setsid with its pid), or a plain helper.
    Helper(String),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: Id,
    pub pids: Vec<i32>,
    pub role: Role,
    pub creator: Id,
    pub setsid: bool,
    /// The session the node must be born in (orders its creator's setsid).
    pub birth: Option<Id>,
    pub new_pidns: bool,
    /// Forked with CLONE_PARENT: its parent is its creator's parent.
    pub clone_parent: bool,
    /// The node's pid namespaces, outermost first, each named by the id of
    /// its init (1 for the restored namespace); the node's own last. When
    /// the namespace it is born in is not its creator's, the creator forks
    /// it after setns() there.
    pub ns: Vec<Id>,
}

#[derive(Clone, Debug, Default)]
pub struct Skeleton {
    pub nodes: BTreeMap<Id, Node>,
    /// Insertion order, for a deterministic plan.
    pub order: Vec<Id>,
}

impl Skeleton {
    pub fn add(&mut self, n: Node) -> Result<(), Refusal> {
        if self.nodes.contains_key(&n.id) {
            return Err(Refusal::Bug(format!("node {} added twice", n.id)));
        }
        self.order.push(n.id);
        self.nodes.insert(n.id, n);
        Ok(())
    }
    fn kids(&self, id: Id) -> Vec<Id> {
        self.order
            .iter()
            .copied()
            .filter(|k| self.nodes[k].creator == id)
            .collect()
    }
    fn depth(&self, id: Id) -> usize {
        let mut d = 0;
        let mut x = id;
        while x != OUTSIDE {
            x = self.nodes.get(&x).map_or(OUTSIDE, |n| n.creator);
            d += 1;
        }
        d
    }
    /// Namespace key of the node's own namespace.
    fn own_ns(&self, id: Id) -> Id {
        self.nodes.get(&id).and_then(|n| n.ns.last().copied()).unwrap_or(1)
    }
    /// Namespace key of the namespace the node is born in: its own, or for
    /// the init of a new namespace the one above (OUTSIDE at the top).
    fn birth_ns(&self, id: Id) -> Id {
        match self.nodes.get(&id) {
            Some(n) if n.new_pidns => n.ns.len().checked_sub(2).map_or(OUTSIDE, |i| n.ns[i]),
            Some(n) => n.ns.last().copied().unwrap_or(OUTSIDE),
            None => OUTSIDE,
        }
    }
}

/// Free pid numbers for helpers: never a number the dump uses anywhere.
pub struct Alloc {
    used: BTreeSet<i32>,
    next: i32,
}

impl Alloc {
    pub fn new(used: BTreeSet<i32>) -> Alloc {
        Alloc { used, next: 2 }
    }
    pub fn take(&mut self) -> i32 {
        while self.used.contains(&self.next) {
            self.next += 1;
        }
        self.used.insert(self.next);
        self.next
    }
    pub fn pids(&mut self, levels: usize) -> Vec<i32> {
        (0..levels).map(|_| self.take()).collect()
    }
}

enum Step {
    Fork(Id),
    Setsid,
}

/// Phase A of [`lower`]: every creator runs its program (forks of the
/// children born in its old session, its setsid, forks of those born in
/// the new one), depth first. A fork into another pid namespace (setns)
/// whose init is not created yet suspends its creator's program.
struct Creation<'a> {
    t: &'a Tree,
    sk: Skeleton,
    /// Pids and namespaces of the dead leader of every group without a
    /// leader in the tree.
    dead_groups: BTreeMap<Id, (Vec<i32>, Vec<Id>)>,
    /// Group helpers made during creation, and their creators.
    group_helpers: BTreeMap<Id, Id>,
    bg: &'a dyn Fn(Id) -> Option<(Id, usize)>,
    progs: BTreeMap<Id, Vec<(Step, bool)>>,
    created: BTreeSet<Id>,
    setsid_done: BTreeSet<Id>,
    pending: Vec<Id>,
    carriers: BTreeSet<Id>,
    /// Processes that have called setpgid(0, 0) during creation.
    founded: BTreeSet<Id>,
}

impl Creation<'_> {
    fn program(&self, actor: Id) -> Vec<Step> {
        let sk = &self.sk;
        let kids = sk.kids(actor);
        let setsid = sk.nodes.get(&actor).is_some_and(|n| n.setsid);
        let (mut before, after): (Vec<Id>, Vec<Id>) = kids
            .iter()
            .partition(|k| !(setsid && sk.nodes[k].birth == Some(actor)));
        // Children that inherit a group the creator cannot join (it can
        // only be in it since its own birth) come before the creator joins
        // any group for the others.
        let levels = sk.nodes.get(&actor).map_or(0, |a| a.pids.len());
        let key = |k: &Id| match (self.bg)(*k) {
            Some((OUTSIDE, _)) => 0,
            Some((_, glen)) if glen < levels => 0,
            None => 1,
            Some(_) => 2,
        };
        before.sort_by_key(key);
        let mut v: Vec<Step> = before.into_iter().map(Step::Fork).collect();
        if setsid {
            v.push(Step::Setsid);
        }
        v.extend(after.into_iter().map(Step::Fork));
        v
    }

    fn run(&mut self, actor: Id, ops: &mut Vec<Op>) {
        if !self.progs.contains_key(&actor) {
            let p = self.program(actor);
            self.progs.insert(actor, p.into_iter().map(|s| (s, false)).collect());
        }
        loop {
            let prog = &self.progs[&actor];
            let Some(i) = prog.iter().position(|(_, done)| !done) else {
                return;
            };
            // The step to take: the first one left, or, when that is a
            // fork that must wait, a later fork of the same segment
            // (before the next setsid) that can go now, unless the group it
            // joins first would change what a waiting one must inherit.
            let pick = match prog[i].0 {
                Step::Setsid => Some(i),
                Step::Fork(k) if !self.blocked(actor, k) => Some(i),
                Step::Fork(_) => {
                    let mut found = None;
                    for (j, (st, done)) in prog.iter().enumerate().skip(i + 1) {
                        if *done {
                            continue;
                        }
                        let Step::Fork(k) = st else {
                            // The setsid may come first if no fork still
                            // waiting before it cares about its birth
                            // session or group.
                            let free = prog[i..j].iter().all(|(st, done)| match st {
                                Step::Fork(w) if !done => {
                                    self.sk.nodes[w].birth.is_none() && (self.bg)(*w).is_none()
                                }
                                _ => true,
                            });
                            if free {
                                found = Some(j);
                            }
                            break;
                        };
                        if self.blocked(actor, *k) {
                            continue;
                        }
                        let ok = match self.group_to_join(actor, *k) {
                            None => true,
                            Some((g, _)) => prog[i..j].iter().all(|(st, done)| match st {
                                Step::Fork(w) if !done => {
                                    (self.bg)(*w).is_none_or(|(wg, _)| wg == g)
                                }
                                _ => true,
                            }),
                        };
                        if ok {
                            found = Some(j);
                            break;
                        }
                    }
                    found
                }
            };
            let Some(j) = pick else {
                self.pending.push(actor);
                return;
            };
            let step = match self.progs[&actor][j].0 {
                Step::Setsid => None,
                Step::Fork(k) => Some(k),
            };
            if let Some(e) = self.progs.get_mut(&actor) {
                e[j].1 = true;
            }
            match step {
                None => {
                    ops.push(Op::Setsid { actor });
                    self.setsid_done.insert(actor);
                }
                Some(k) => {
                    self.fork(actor, k, ops);
                    self.created.insert(k);
                    self.run(k, ops);
                }
            }
        }
    }

    /// Stuck: `actor` must fork `k` into a namespace whose init comes
    /// only later (after the actor's setsid, say). A helper forked now, in
    /// the actor's present session and group, forks `k` later in its
    /// place, and exits in phase D, handing `k` to its parent.
    fn carry(&mut self, actor: Id, alloc: &mut Alloc) -> bool {
        let Some(prog) = self.progs.get(&actor) else { return false };
        let Some(i) = prog.iter().position(|(_, done)| !done) else { return false };
        let Step::Fork(k) = prog[i].0 else { return false };
        let into = self.sk.birth_ns(k);
        let ns_blocked = into != OUTSIDE && into != actor && !self.created.contains(&into);
        let Some(an) = self.sk.nodes.get(&actor) else { return false };
        if !ns_blocked || self.sk.nodes[&k].clone_parent || self.carriers.contains(&actor) {
            return false;
        }
        // Only for a fork that must come before a setsid still to do.
        if !prog[i..].iter().any(|(st, done)| !done && matches!(st, Step::Setsid)) {
            return false;
        }
        let pids = alloc.pids(an.pids.len());
        let h = pids[0];
        let node = Node {
            id: h,
            pids,
            role: Role::Helper(format!("forks {k} into the namespace of {into} for {actor}, later")),
            creator: actor,
            setsid: false,
            birth: self.sk.nodes[&k].birth,
            new_pidns: false,
            clone_parent: false,
            ns: an.ns.clone(),
        };
        let at = self.sk.order.iter().position(|&x| x == k).unwrap_or(self.sk.order.len());
        if self.sk.add(node).is_err() {
            return false;
        }
        self.sk.order.pop();
        self.sk.order.insert(at, h);
        if let Some(n) = self.sk.nodes.get_mut(&k) {
            n.creator = h;
        }
        if let Some(p) = self.progs.get_mut(&actor) {
            p[i].0 = Step::Fork(h);
        }
        self.carriers.insert(h);
        true
    }

    /// Can `actor` not fork `k` yet? The namespace it is born in must
    /// have its init, and a group it must inherit must exist.
    fn blocked(&self, actor: Id, k: Id) -> bool {
        let into = self.sk.birth_ns(k);
        if into != OUTSIDE && into != actor && !self.created.contains(&into) {
            return true;
        }
        if let Some((g, _)) = self.group_to_join(actor, k) {
            if g != actor && self.sk.nodes.contains_key(&g) {
                let setsid = self.sk.nodes[&g].setsid;
                if !self.created.contains(&g) || (setsid && !self.setsid_done.contains(&g)) {
                    return true;
                }
                // g founds its group here; not while it still has to pass
                // another group on to children of its own.
                if !setsid && !self.founded.contains(&g) {
                    let passes_other = self.progs.get(&g).map_or_else(
                        || self.sk.kids(g).iter().any(|w| (self.bg)(*w).is_some_and(|(wg, _)| wg != g)),
                        |p| {
                            p.iter().any(|(st, done)| {
                                !done
                                    && matches!(st, Step::Fork(w)
                                        if (self.bg)(*w).is_some_and(|(wg, _)| wg != g))
                            })
                        },
                    );
                    if passes_other {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// The group `actor` joins right before forking `k`, if any.
    fn group_to_join(&self, actor: Id, k: Id) -> Option<(Id, usize)> {
        let sk = &self.sk;
        let (g, glen) = (self.bg)(k)?;
        let nameable = sk.nodes.get(&actor).is_some_and(|a| a.pids.len() <= glen);
        let leads = sk.nodes.get(&actor).is_some_and(|a| a.setsid) && g == actor;
        (nameable && !leads).then_some((g, glen))
    }

    fn fork(&mut self, actor: Id, k: Id, ops: &mut Vec<Op>) {
        let n = self.sk.nodes[&k].clone();
        if let Some((g, _)) = self.group_to_join(actor, k) {
            let setsid = self.sk.nodes.get(&g).is_some_and(|n| n.setsid);
            if g != actor && !self.founded.contains(&g) && self.created.contains(&g) && !setsid {
                ops.push(Op::Setpgid { actor: g, pgid: g });
                self.founded.insert(g);
            }
            // A group whose leader is dead and that only processes of
            // nested namespaces (which cannot name it) are in: a helper with
            // the leader's pid, made by the creator, founds it (it goes in
            // phase C).
            let dead = g != actor && !self.sk.nodes.contains_key(&g) && !self.t.contains(g);
            if dead && !self.group_helpers.contains_key(&g) {
                if let Some((pids, chain)) = self.dead_groups.get(&g).cloned() {
                    let own = self.sk.nodes.get(&actor).map(|a| a.ns.clone()).unwrap_or_default();
                    if chain.starts_with(&own) {
                        // In the leader's namespace, entered if deeper.
                        let enter = chain.len() > own.len();
                        if enter {
                            ops.push(Op::Setns { actor, ns: *chain.last().unwrap_or(&1) });
                        }
                        ops.push(Op::Fork {
                            actor,
                            child: g,
                            pids,
                            new_pidns: false,
                            clone_parent: false,
                        });
                        if enter {
                            ops.push(Op::Setns { actor, ns: *own.last().unwrap_or(&1) });
                        }
                        ops.push(Op::Setpgid { actor: g, pgid: g });
                        self.founded.insert(g);
                        self.group_helpers.insert(g, actor);
                    }
                }
            }
            ops.push(Op::Setpgid { actor, pgid: g });
        }
        let own = self.sk.nodes.get(&actor).and_then(|a| a.ns.last().copied()).unwrap_or(OUTSIDE);
        let into = self.sk.birth_ns(k);
        let setns = actor != OUTSIDE && into != own;
        if setns {
            ops.push(Op::Setns { actor, ns: into });
        }
        ops.push(Op::Fork {
            actor,
            child: k,
            pids: n.pids.clone(),
            new_pidns: n.new_pidns,
            clone_parent: n.clone_parent,
        });
        if setns {
            ops.push(Op::Setns { actor, ns: own });
        }
    }
}

/// A process whose group cannot be named in its own namespace (the leader
/// lives further out) inherits it at birth from its creator, which joins
/// the group right before the fork (see [`lower`]). Where that creator is a
/// process of the tree that could not leave the group again (it is a
/// session leader, or its own group cannot be named from its namespace
/// either), a helper in its place joins the group and forks, then exits
/// and leaves the child to it.
fn group_carriers(t: &Tree, sk: &Skeleton, alloc: &mut Alloc) -> Result<Skeleton, Refusal> {
    let mut sk = sk.clone();
    for k in t.ids() {
        let p = t.p(k);
        let g = p.pgid_id();
        if p.pgid[p.level()] != 0 || g == OUTSIDE {
            continue;
        }
        let glen = leader_pids(&p.pgid).len();
        let (mut child, mut c) = (k, sk.nodes[&k].creator);
        while let Some(n) = sk.nodes.get(&c) {
            if n.pids.len() <= glen {
                break;
            }
            (child, c) = (c, n.creator);
        }
        let Some(cn) = sk.nodes.get(&c) else { continue };
        let stuck = if cn.role == Role::Present && t.contains(c) {
            let cp = t.p(c);
            cp.pgid_id() != g && (cp.sid_id() == c || cp.pgid[cp.level()] == 0)
        } else {
            // A dead session leader's helper leads its session.
            cn.setsid && g != c
        };
        if !stuck {
            continue;
        }
        let pids = alloc.pids(cn.pids.len());
        let h = pids[0];
        let node = Node {
            id: h,
            pids,
            role: Role::Helper(format!("joins group {g} to pass it on to {child}, for {c}")),
            creator: c,
            setsid: false,
            birth: sk.nodes[&child].birth,
            new_pidns: false,
            clone_parent: false,
            ns: cn.ns.clone(),
        };
        let at = sk.order.iter().position(|&x| x == child).unwrap_or(sk.order.len());
        sk.add(node)?;
        sk.order.pop();
        sk.order.insert(at, h);
        if let Some(n) = sk.nodes.get_mut(&child) {
            n.creator = h;
        }
    }
    Ok(sk)
}

/// Turn a skeleton into ops: creation (depth first, each creator's setsid
/// between the children born in its old session and those born in its
/// own), process groups, helper exits with the reparenting they are for
/// (deepest first, the target made a child subreaper for the moment),
/// final subreaper flags, zombies' exits, threads.
pub fn lower(t: &Tree, sk: &Skeleton, alloc: &mut Alloc) -> Result<Plan, Refusal> {
    let sk = &group_carriers(t, sk, alloc)?;
    let mut ops = vec![];
    // A. creation. A process whose group is not nameable in its own
    // namespace (its leader lives further out) can only inherit it: its
    // creator joins that group just before the fork.
    let mut req: BTreeMap<Id, (Id, usize)> = BTreeMap::new();
    for k in t.ids() {
        let p = t.p(k);
        if p.pgid[p.level()] != 0 {
            continue;
        }
        let g = (p.pgid_id(), leader_pids(&p.pgid).len());
        req.insert(k, g);
        // Up the creators until one can name the group.
        let mut c = sk.nodes[&k].creator;
        while let Some(n) = sk.nodes.get(&c) {
            if n.pids.len() <= g.1 {
                break;
            }
            req.insert(c, g);
            c = n.creator;
        }
    }
    let birth_group = |k: Id| req.get(&k).copied();
    let mut dead_groups: BTreeMap<Id, (Vec<i32>, Vec<Id>)> = BTreeMap::new();
    for k in t.ids() {
        let p = t.p(k);
        let g = p.pgid_id();
        if g != OUTSIDE && !t.contains(g) && !sk.nodes.contains_key(&g) {
            let pids = leader_pids(&p.pgid);
            let chain = t.ns[&k][..pids.len()].to_vec();
            let e = dead_groups.entry(g).or_default();
            if pids.len() > e.0.len() {
                *e = (pids, chain);
            }
        }
    }
    let mut cr = Creation {
        t,
        sk: sk.clone(),
        dead_groups,
        group_helpers: BTreeMap::new(),
        bg: &birth_group,
        progs: BTreeMap::new(),
        created: BTreeSet::new(),
        setsid_done: BTreeSet::new(),
        pending: vec![],
        carriers: BTreeSet::new(),
        founded: BTreeSet::new(),
    };
    cr.run(OUTSIDE, &mut ops);
    // Forks into a namespace (setns) whose init did not exist yet when
    // their creator came to them: resume until nothing is left.
    while !cr.pending.is_empty() {
        let waiting = std::mem::take(&mut cr.pending);
        let before = ops.len();
        for a in &waiting {
            cr.run(*a, &mut ops);
        }
        if ops.len() == before && waiting.iter().any(|a| cr.carry(*a, alloc)) {
            cr.pending = waiting;
            continue;
        }
        if ops.len() == before {
            let what: Vec<String> = waiting
                .iter()
                .map(|a| {
                    let left: Vec<String> = cr.progs[a]
                        .iter()
                        .filter(|(_, done)| !done)
                        .map(|(st, _)| match st {
                            Step::Setsid => "setsid".to_string(),
                            Step::Fork(k) => format!(
                                "fork {k} (in the namespace of {}{})",
                                cr.sk.birth_ns(*k),
                                cr.group_to_join(*a, *k)
                                    .map_or(String::new(), |(g, _)| format!(", in group {g}"))
                            ),
                        })
                        .collect();
                    format!("{a}: {}", left.join(", "))
                })
                .collect();
            return Err(Refusal::Unrestorable(format!(
                "no creation order: {} (a namespace or group it needs is made only later)",
                what.join("; ")
            )));
        }
    }

    // B. process groups
    let made_early = std::mem::take(&mut cr.group_helpers);
    let sk = &cr.sk;
    let mut helpers = BTreeMap::new();
    for n in sk.nodes.values() {
        if let Role::Helper(why) = &n.role {
            helpers.insert(n.id, why.clone());
        }
        if n.role == Role::InitHelper {
            helpers.insert(n.id, "init of the restored pid namespace".into());
        }
    }
    for g in made_early.keys() {
        helpers.insert(*g, format!("leader of group {g} (dead), inherited across a pid namespace"));
    }
    let mut group_helpers: Vec<(Id, Id)> = made_early.iter().map(|(&g, &c)| (c, g)).collect();
    let mut founders: BTreeSet<Id> = BTreeSet::new();
    let members: Vec<Id> = t.ids().collect();
    let mut groups: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    for &id in &members {
        let g = t.p(id).pgid_id();
        if g != OUTSIDE {
            groups.entry(g).or_default().push(id);
        }
    }
    for (&g, ms) in &groups {
        if t.contains(g) {
            founders.insert(g);
            if t.p(g).sid_id() != g {
                ops.push(Op::Setpgid { actor: g, pgid: g });
            }
            continue;
        }
        if sk.nodes.get(&g).is_some_and(|n| n.setsid) || made_early.contains_key(&g) {
            continue; // a session helper or a helper of phase A leads group g already
        }
        // A dead group leader: a helper with its pids, forked by a process
        // of the group's session in the helper's namespace.
        let deepest = ms
            .iter()
            .max_by_key(|m| leader_pids(&t.p(**m).pgid).len())
            .copied()
            .ok_or_else(|| Refusal::Bug("empty group".into()))?;
        let pids = leader_pids(&t.p(deepest).pgid);
        let hns = t.ns[&deepest][pids.len() - 1];
        let s = t.p(deepest).sid_id();
        let creator = members
            .iter()
            .copied()
            .find(|&y| t.p(y).sid_id() == s && t.own_ns(y) == hns && t.p(y).pids.len() == pids.len())
            .or_else(|| {
                sk.nodes
                    .get(&s)
                    .filter(|n| n.setsid && sk.own_ns(s) == hns && n.pids.len() == pids.len())
                    .map(|n| n.id)
            })
            .ok_or_else(|| {
                Refusal::Unrestorable(format!(
                    "no process of session {s} can create the dead leader of group {g}"
                ))
            })?;
        if sk.nodes.contains_key(&g) {
            return Err(Refusal::Unrestorable(format!(
                "group {g}'s leader pid is needed by another helper"
            )));
        }
        helpers.insert(g, format!("leader of group {g} (dead)"));
        ops.push(Op::Fork {
            actor: creator,
            child: g,
            pids,
            new_pidns: false,
            clone_parent: false,
        });
        ops.push(Op::Setpgid { actor: g, pgid: g });
        group_helpers.push((creator, g));
    }
    let joins = |founder: bool, ops: &mut Vec<Op>| {
        for &id in &members {
            let p = t.p(id);
            let g = p.pgid_id();
            if g == id || g == OUTSIDE || p.sid_id() == id || founders.contains(&id) != founder {
                continue;
            }
            if p.pgid[p.level()] == 0 {
                continue; // not nameable in its namespace: inherited at birth
            }
            ops.push(Op::Setpgid { actor: id, pgid: g });
        }
    };
    joins(false, &mut ops);
    joins(true, &mut ops);

    // C. group helpers go
    for (creator, g) in group_helpers {
        ops.push(Op::Exit { actor: g });
        ops.push(Op::Reap { actor: creator, child: g });
    }

    // D. helpers exit, deepest first; each exit hands its children to
    // their parent in the dump.
    let mut hs: Vec<Id> = sk
        .order
        .iter()
        .copied()
        .filter(|k| matches!(sk.nodes[k].role, Role::Helper(_)))
        .collect();
    hs.sort_by_key(|k| std::cmp::Reverse(sk.depth(*k)));
    for h in hs {
        let targets: BTreeSet<Id> = sk
            .kids(h)
            .into_iter()
            .filter(|k| sk.nodes[k].role == Role::Present)
            .map(|k| t.p(k).ppid)
            .collect();
        if targets.len() > 1 {
            return Err(Refusal::Unrestorable(format!(
                "helper {h}'s children need different parents {targets:?}"
            )));
        }
        let q = targets.into_iter().next().unwrap_or(OUTSIDE);
        let toggle = q != OUTSIDE && sk.own_ns(h) != q;
        if toggle {
            ops.push(Op::Subreaper { actor: q, on: true });
        }
        ops.push(Op::Exit { actor: h });
        ops.push(Op::Reap {
            actor: sk.nodes[&h].creator,
            child: h,
        });
        if toggle {
            ops.push(Op::Subreaper { actor: q, on: false });
        }
    }

    // E-G. subreaper flags, zombies, threads
    for &id in &members {
        if t.p(id).subreaper {
            ops.push(Op::Subreaper { actor: id, on: true });
        }
    }
    for &id in &members {
        if t.p(id).zombie {
            ops.push(Op::Exit { actor: id });
        }
    }
    for &id in &members {
        let p = t.p(id);
        for th in &p.threads {
            if *th != p.pids {
                ops.push(Op::Thread {
                    actor: id,
                    tids: th.clone(),
                });
            }
        }
    }
    for &id in &members {
        if t.p(id).leader_gone {
            ops.push(Op::LeaderExit { actor: id });
        }
    }
    let _ = alloc;
    Ok(Plan {
        planner: String::new(),
        root: t.root,
        helpers,
        ops,
    })
}

/// Run the plan on the kernel model; the differences from the dump, or
/// the op the kernel would refuse.
pub fn simulate(t: &Tree, plan: &Plan) -> Result<Vec<Diff>, String> {
    let mut w = World::new();
    for op in &plan.ops {
        w.apply(op)?;
    }
    let got = w.dump(plan.root)?;
    Ok(compare(&t.dump, &got))
}

/// Simulate and require an exact match (CABA included).
pub fn verify_exact(t: &Tree, plan: &Plan) -> Result<(), Refusal> {
    match simulate(t, plan) {
        Err(e) => Err(Refusal::Bug(format!("plan fails in the model: {e}"))),
        Ok(d) if d.is_empty() => Ok(()),
        Ok(d) => Err(Refusal::Bug(format!(
            "model result differs: {}",
            d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("; ")
        ))),
    }
}
