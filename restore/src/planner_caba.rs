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
    if !t.dump.has_caba() {
        return Err(Refusal::NoCaba);
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

    // 1. The parent is a proper CABA-ancestor.
    for id in t.ids() {
        if id == t.root {
            continue;
        }
        let q = t.p(id).ppid;
        if !chain(id).contains(&q) {
            return Err(Refusal::Unrestorable(format!(
                "parent {q} of {id} is not on its CABA chain {:?}: only setns() into the \
                 namespace makes that, and this restorer does not re-enact setns",
                chain(id)
            )));
        }
    }

    // A group whose leader has no pid in a member's namespace can only be
    // inherited at birth; from a dead leader that needs a helper on the
    // creator chain, which this planner does not place.
    for id in t.ids() {
        let p = t.p(id);
        let g = p.pgid_id();
        if p.pgid[p.level()] == 0 && g != OUTSIDE && !t.contains(g) {
            return Err(Refusal::Unrestorable(format!(
                "{id} inherited group {g} across a pid namespace from its dead leader \
                 (a group helper on the creator chain is not implemented)"
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
        let a = if ms.contains(&l) { caba(l) } else { l };
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
        let hns = t.ns[&deepest][pids.len() - 1];
        let (ans, alen) = if a == OUTSIDE {
            if t.root_is_init() {
                return Err(Refusal::Inconsistent(format!(
                    "session {s} has no leader inside the root's namespace"
                )));
            }
            (1, 1)
        } else {
            (t.own_ns(a), t.p(a).pids.len())
        };
        if hns != ans || alen != pids.len() {
            return Err(Refusal::Unrestorable(format!(
                "the dead leader {pids:?} of session {s} lives in another pid namespace \
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
                })?;
                continue;
            }
        } else if via != p.ppid {
            let levels = p.pids.len() - nested_init as usize;
            let h = alloc.pids(levels);
            sk.add(Node {
                id: h[0],
                pids: h.clone(),
                role: Role::Helper(format!("creates {id} and exits so that it goes to {}", p.ppid)),
                creator: via,
                setsid: false,
                birth,
                new_pidns: false,
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
        })?;
    }
    let mut plan = lower(t, &sk, &mut alloc)?;
    plan.planner = "caba".into();
    verify_exact(t, &plan)?;
    Ok(plan)
}
