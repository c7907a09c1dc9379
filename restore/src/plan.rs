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
        let mut x = id;
        while let Some(n) = self.nodes.get(&x) {
            if n.new_pidns {
                return x;
            }
            x = n.creator;
        }
        1
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

/// Turn a skeleton into ops: creation (depth first, each creator's setsid
/// between the children born in its old session and those born in its
/// own), process groups, helper exits with the reparenting they are for
/// (deepest first, the target made a child subreaper for the moment),
/// final subreaper flags, zombies' exits, threads.
pub fn lower(t: &Tree, sk: &Skeleton, alloc: &mut Alloc) -> Result<Plan, Refusal> {
    let mut ops = vec![];
    let mut helpers = BTreeMap::new();
    for n in sk.nodes.values() {
        if let Role::Helper(why) = &n.role {
            helpers.insert(n.id, why.clone());
        }
        if n.role == Role::InitHelper {
            helpers.insert(n.id, "init of the restored pid namespace".into());
        }
    }
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
    fn create(
        sk: &Skeleton,
        actor: Id,
        ops: &mut Vec<Op>,
        bg: &dyn Fn(Id) -> Option<(Id, usize)>,
    ) {
        let kids = sk.kids(actor);
        let setsid = sk.nodes.get(&actor).is_some_and(|n| n.setsid);
        let (mut before, after): (Vec<Id>, Vec<Id>) = kids
            .iter()
            .partition(|k| !(setsid && sk.nodes[k].birth == Some(actor)));
        // Children that inherit a group from outside the namespace come
        // before the creator joins any group for the others.
        before.sort_by_key(|k| match bg(*k) {
            Some((OUTSIDE, _)) => 0,
            None => 1,
            Some(_) => 2,
        });
        let fork = |k: Id, ops: &mut Vec<Op>| {
            let n = &sk.nodes[&k];
            if let Some((g, glen)) = bg(k) {
                let nameable = sk.nodes.get(&actor).is_some_and(|a| a.pids.len() <= glen);
                let leads = sk.nodes.get(&actor).is_some_and(|a| a.setsid) && g == actor;
                if nameable && !leads {
                    let forked = |x: Id, ops: &Vec<Op>| {
                        ops.iter().any(|o| matches!(o, Op::Fork { child, .. } if *child == x))
                    };
                    let founded = ops
                        .iter()
                        .any(|o| matches!(o, Op::Setpgid { actor: a, pgid: p } if *a == g && *p == g));
                    if g != actor && !founded && forked(g, ops) && !sk.nodes[&g].setsid {
                        ops.push(Op::Setpgid { actor: g, pgid: g });
                    }
                    ops.push(Op::Setpgid { actor, pgid: g });
                }
            }
            ops.push(Op::Fork {
                actor,
                child: k,
                pids: n.pids.clone(),
                new_pidns: n.new_pidns,
                clone_parent: false,
            });
        };
        for k in before {
            fork(k, ops);
            create(sk, k, ops, bg);
        }
        if setsid {
            ops.push(Op::Setsid { actor });
        }
        for k in after {
            fork(k, ops);
            create(sk, k, ops, bg);
        }
    }
    create(sk, OUTSIDE, &mut ops, &birth_group);

    // B. process groups
    let mut group_helpers = vec![];
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
        if sk.nodes.get(&g).is_some_and(|n| n.setsid) {
            continue; // a session helper leads group g already
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
