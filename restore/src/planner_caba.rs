// SPDX-License-Identifier: GPL-2.0
//! The CABA planner: re-create every process from where its CABA says it
//! was born, then hand it to its parent.
//!
//! Why this works (and what it checks on the way):
//!
//! * Every ancestor a process ever has is on its creator chain (the parent
//!   is the creator or, with CLONE_PARENT, the creator's parent; reparenting
//!   only moves a child up to an ancestor of the dead parent or to the
//!   namespace init). So the parent of P in the dump is a present process on
//!   P's creator chain: a proper CABA-ancestor of P. The plan creates P from
//!   CABA(P) through one exit helper h(P); all helpers exit deepest first,
//!   and when h(P) exits, PPid(P) is still an ancestor of h(P), made a child
//!   subreaper for that moment (unless it is the namespace init), so P lands
//!   on it. Reaping h(P) makes CABA(P) = CABA(h(P)) = CABA(P) of the dump.
//! * A session S is inherited along creator chains from the process that
//!   called setsid with pid S. If S is present, it is a CABA-ancestor of
//!   every member, and every process between a member and S on the CABA
//!   chain was born in S (it is in S, or it called setsid later). If S is
//!   dead, a helper with pid S calls setsid; it sits below A(S), the lowest
//!   common CABA-ancestor of the members that is not a member, and creates
//!   the topmost member (or member's CABA-ancestor) on each member's path.
//!   A process that must be born in its creator's old session is created
//!   before its creator's setsid, one that must be born in the creator's
//!   own session after it.
//! * Groups are set last with setpgid(0, pgid), dead group leaders stood in
//!   for by helpers.
//!
//! The planner then runs its plan on the kernel model and refuses (as a
//! bug) a plan whose result differs from the dump in any field.

use crate::dump::{leader_pids, Id, Tree, OUTSIDE};
use crate::plan::{lower, verify_exact, Alloc, Node, Plan, Refusal, Role, Skeleton};
use std::collections::BTreeMap;

pub fn plan(t: &Tree) -> Result<Plan, Refusal> {
    let plan = plan_unverified(t)?;
    verify_exact(t, &plan)?;
    Ok(plan)
}

/// The plan, not yet checked on the model.
pub fn plan_unverified(t: &Tree) -> Result<Plan, Refusal> {
    if !t.dump.has_caba() {
        return Err(Refusal::NoCaba);
    }
    if let Some(why) = t.unsupported.first() {
        return Err(Refusal::Unrestorable(why.clone()));
    }
    let caba = |id: Id| t.caba(id).unwrap_or(OUTSIDE);
    // The CABA chain of every process, nearest first, ending with OUTSIDE.
    let chain = |id: Id| -> Vec<Id> {
        let mut v = vec![];
        let mut x = caba(id);
        loop {
            v.push(x);
            if x == OUTSIDE {
                return v;
            }
            x = caba(x);
        }
    };

    // Where the CABA chain of a process leaves the tree through a CABA that
    // is not in it (a process that left the dumped subtree).
    let left_tree = |id: Id| -> Option<(Id, Id)> {
        let mut x = id;
        while x != OUTSIDE && x != t.root {
            let c = t.p(x).caba.as_ref().map_or(0, |c| c[0]);
            if c != OUTSIDE && !t.contains(c) {
                return Some((x, c));
            }
            x = caba(x);
        }
        None
    };

    // 1. The parent is a proper CABA-ancestor, or the init of one of the
    // process's pid namespaces: a process whose creator entered the
    // namespace with setns() (or unshare()) goes to that namespace's init
    // when its parent dies, and that init need not be on its creator chain.
    for id in t.ids() {
        if id == t.root {
            continue;
        }
        let q = t.p(id).ppid;
        if !chain(id).contains(&q) && !t.ns[&id].contains(&q) {
            if let Some((x, c)) = left_tree(id) {
                return Err(Refusal::Unrestorable(format!(
                    "the CABA {c} of {x} is not in the tree (it left it, as a zombie \
                     reparented to a reaper outside, say), and {id}'s parent {q} is \
                     not on the part of the chain that is"
                )));
            }
            return Err(Refusal::Inconsistent(format!(
                "parent {q} of {id} is neither on its CABA chain {:?} nor the init of one of \
                 its pid namespaces",
                chain(id)
            )));
        }
    }

    // 2. Birth sessions.
    let mut bs: BTreeMap<Id, Id> = BTreeMap::new();
    let set_bs = |y: Id, s: Id, bs: &mut BTreeMap<Id, Id>| -> Result<(), Refusal> {
        match bs.insert(y, s) {
            Some(o) if o != s => Err(Refusal::Inconsistent(format!(
                "process {y} would have to be born in session {o} and in session {s}"
            ))),
            _ => Ok(()),
        }
    };
    // Walk from member `m` of session `s` up the CABA chain to `stop`;
    // returns the last process before `stop`.
    let walk = |m: Id, s: Id, stop: Id, bs: &mut BTreeMap<Id, Id>| -> Result<Id, Refusal> {
        set_bs(m, s, bs)?;
        let mut last = m;
        let mut y = caba(m);
        while y != stop {
            if y == OUTSIDE {
                if let Some((x, c)) = left_tree(m) {
                    return Err(Refusal::Unrestorable(format!(
                        "the CABA {c} of {x} is not in the tree (it left it, as a zombie \
                         reparented to a reaper outside, say), and {m}'s session {s} \
                         comes from beyond it"
                    )));
                }
                return Err(Refusal::Inconsistent(format!(
                    "{m} is in session {s}, whose leader is not on its CABA chain"
                )));
            }
            let sy = t.p(y).sid_id();
            if sy != s && sy != y {
                return Err(Refusal::Inconsistent(format!(
                    "{m} is in session {s} but {y}, between it and the session's leader on \
                     the CABA chain, is in session {sy}"
                )));
            }
            set_bs(y, s, bs)?;
            last = y;
            y = caba(y);
        }
        Ok(last)
    };
    let mut dead: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    for id in t.ids() {
        let s = t.p(id).sid_id();
        if s == id {
            continue;
        }
        if s == OUTSIDE || t.contains(s) {
            walk(id, s, s, &mut bs)?;
        } else if s == 1 && !t.root_is_init() {
            // The restored namespace's init helper leads session 1.
            walk(id, s, OUTSIDE, &mut bs)?;
        } else {
            dead.entry(s).or_default().push(id);
        }
    }
    // Dead session leaders: where their helpers go.
    let mut top: BTreeMap<Id, Id> = BTreeMap::new(); // process -> helper above it
    let mut anchor: BTreeMap<Id, Id> = BTreeMap::new(); // session -> creator of its helper
    for (&s, ms) in &dead {
        // Lowest common CABA-ancestor (OUTSIDE at the top).
        let path = |m: Id| {
            let mut v = vec![m];
            v.extend(chain(m));
            v.reverse();
            v
        };
        let mut lca = path(ms[0]);
        for &m in &ms[1..] {
            let p = path(m);
            let n = lca.iter().zip(&p).take_while(|(a, b)| a == b).count();
            lca.truncate(n);
        }
        let l = *lca.last().unwrap_or(&OUTSIDE);
        let mut a = if ms.contains(&l) { caba(l) } else { l };
        // The helper is born in the leader's namespace: move up to a
        // creator that can make it there (processes in between were born
        // in the session too, and left it with setsid).
        let deepest = ms
            .iter()
            .max_by_key(|m| leader_pids(&t.p(**m).sid).len())
            .copied()
            .ok_or_else(|| Refusal::Bug("empty session".into()))?;
        let hchain = t.ns[&deepest][..leader_pids(&t.p(deepest).sid).len()].to_vec();
        while a != OUTSIDE && !hchain.starts_with(&t.ns[&a]) {
            a = caba(a);
        }
        for &m in ms {
            let t_top = walk(m, s, a, &mut bs)?;
            if let Some(o) = top.insert(t_top, s) {
                if o != s {
                    return Err(Refusal::Inconsistent(format!(
                        "{t_top} would be born from dead session leaders {o} and {s}"
                    )));
                }
            }
        }
        anchor.insert(s, a);
    }

    // 3. The skeleton.
    let mut alloc = Alloc::new(t.used_numbers());
    let mut sk = Skeleton::default();
    let outside_actor = if t.root_is_init() { OUTSIDE } else { 1 };
    if !t.root_is_init() {
        sk.add(Node {
            id: 1,
            pids: vec![1],
            role: Role::InitHelper,
            creator: OUTSIDE,
            setsid: t.ids().any(|i| t.p(i).sid_id() == 1),
            birth: None,
            new_pidns: true,
            clone_parent: false,
            ns: vec![1],
        })?;
    }
    let actor_of = |x: Id| if x == OUTSIDE { outside_actor } else { x };
    for (&s, &a) in &anchor {
        let deepest = dead[&s]
            .iter()
            .max_by_key(|m| leader_pids(&t.p(**m).sid).len())
            .copied()
            .ok_or_else(|| Refusal::Bug("empty session".into()))?;
        let pids = leader_pids(&t.p(deepest).sid);
        let hchain = t.ns[&deepest][..pids.len()].to_vec();
        let achain = if a == OUTSIDE {
            if t.root_is_init() {
                return Err(Refusal::Inconsistent(format!(
                    "session {s} has no leader inside the root's namespace"
                )));
            }
            vec![1]
        } else {
            t.ns[&a].clone()
        };
        // The helper is born where the leader was: in the creator's
        // namespace, or (setns) in one below it.
        if !hchain.starts_with(&achain) {
            return Err(Refusal::Unrestorable(format!(
                "the dead leader {pids:?} of session {s} lives in an outer pid namespace \
                 than {a}, the process that must create it"
            )));
        }
        sk.add(Node {
            id: s,
            pids,
            role: Role::Helper(format!("leader of session {s} (dead)")),
            creator: actor_of(a),
            setsid: true,
            birth: None,
            new_pidns: false,
            clone_parent: false,
            ns: hchain,
        })?;
    }
    for id in t.ids() {
        let p = t.p(id);
        let nested_init = p.pids.len() > 1 && p.is_ns_init();
        let via = top.get(&id).copied().unwrap_or(actor_of(caba(id)));
        let birth = bs.get(&id).copied();
        let mut creator = via;
        if id == t.root {
            if t.root_is_init() {
                sk.add(Node {
                    id,
                    pids: p.pids.clone(),
                    role: Role::Present,
                    creator: OUTSIDE,
                    setsid: p.sid_id() == id,
                    birth,
                    new_pidns: true,
                    clone_parent: false,
                    ns: t.ns[&id].clone(),
                })?;
                continue;
            }
        } else if via != p.ppid {
            // The helper lives in the parent's namespace: its exit hands
            // its children to a subreaper ancestor at its own level or to
            // its namespace's init, the parent either way.
            let q = p.ppid;
            let hns = t.ns[&q].clone();
            let vns = sk.nodes.get(&via).map_or_else(|| t.ns[&via].clone(), |n| n.ns.clone());
            // via's parent while it creates: q itself or a helper that
            // hands its children to q (ppid(via) == q either way; a dead
            // session leader's helper is never a parent in the dump).
            // A dead session leader's helper has its creator as parent.
            let parent_then_q = if t.contains(via) {
                via != t.root && t.p(via).ppid == q && !t.p(via).is_ns_init()
            } else {
                sk.nodes
                    .get(&via)
                    .is_some_and(|n| n.setsid && matches!(n.role, Role::Helper(_)) && n.creator == q)
            };
            if !hns.starts_with(&vns) && parent_then_q {
                // No helper can be made in q's namespace from via's
                // (setns enters only namespaces below): CLONE_PARENT gives
                // the child via's parent q right away, as it did the first
                // time.
                sk.add(Node {
                    id,
                    pids: p.pids.clone(),
                    role: Role::Present,
                    creator: via,
                    setsid: p.sid_id() == id,
                    birth,
                    new_pidns: nested_init,
                    clone_parent: true,
                    ns: t.ns[&id].clone(),
                })?;
                continue;
            }
            if !hns.starts_with(&vns) {
                return Err(Refusal::Unrestorable(format!(
                    "the parent {q} of {id} is in an outer pid namespace than {via}, which \
                     must create {id}: no helper that {via} can create hands {id} to {q}"
                )));
            }
            let h = alloc.pids(hns.len());
            sk.add(Node {
                id: h[0],
                pids: h.clone(),
                role: Role::Helper(format!("creates {id} and exits so that it goes to {q}")),
                creator: via,
                setsid: false,
                birth,
                new_pidns: false,
                clone_parent: false,
                ns: hns,
            })?;
            creator = h[0];
        }
        sk.add(Node {
            id,
            pids: p.pids.clone(),
            role: Role::Present,
            creator,
            setsid: p.sid_id() == id,
            birth,
            new_pidns: nested_init,
            clone_parent: false,
            ns: t.ns[&id].clone(),
        })?;
    }
    let mut plan = lower(t, &sk, &mut alloc)?;
    plan.planner = "caba".into();
    Ok(plan)
}
