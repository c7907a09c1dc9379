// SPDX-License-Identifier: GPL-2.0
//! The planner for kernels without CABA: CRIU's rules (criu/pstree.c,
//! prepare_pstree_ids()), which never look at CABA.
//!
//! * Every process is created by its current parent.
//! * A child of the root in a session that is neither the root's nor its
//!   own is stacked on a helper: if the session leader is alive, a helper
//!   with a fresh pid created by the leader (after its setsid), else a
//!   helper with the leader's pid that calls setsid, created by the root.
//!   The helper exits and the children go to the root (CRIU relies on the
//!   root being the namespace init; where it is not, the root is made a
//!   child subreaper for that moment).
//! * A process whose parent is in another session marks every process on
//!   the way up to the session leader "born in that session" (so it forks
//!   the child before its own setsid); two different such sessions on one
//!   process is "Can't determinate with which sid ...", no leader above is
//!   "Can't find a session leader for S". Both are unrestorable outcomes.
//! * Dead group leaders get helpers (common to both planners).

use crate::dump::{Id, Tree, OUTSIDE};
use crate::plan::{lower, Alloc, Node, Plan, Refusal, Role, Skeleton};
use std::collections::BTreeMap;

pub fn plan(t: &Tree) -> Result<Plan, Refusal> {
    if let Some(why) = t.unsupported.first() {
        return Err(Refusal::Unrestorable(why.clone()));
    }
    let mut alloc = Alloc::new(t.used_numbers());
    let outside_actor = if t.root_is_init() { OUTSIDE } else { 1 };
    let sid = |id: Id| t.p(id).sid_id();
    // Restore parent of every process and helper; sid of helpers.
    let mut rp: BTreeMap<Id, Id> = BTreeMap::new();
    let mut helper_sid: BTreeMap<Id, Id> = BTreeMap::new();
    let mut helpers: Vec<Node> = vec![];
    let mut session_1_on_init = false;
    for id in t.ids() {
        rp.insert(id, if id == t.root { outside_actor } else { t.p(id).ppid });
    }
    let root_sid = sid(t.root);
    let mut by_session: BTreeMap<Id, Id> = BTreeMap::new(); // session -> helper
    for &c in t.children.get(&t.root).into_iter().flatten() {
        let s = sid(c);
        if s == root_sid || s == c || s == OUTSIDE {
            continue;
        }
        let h = if let Some(&h) = by_session.get(&s) {
            h
        } else if t.contains(s) {
            let pids = alloc.pids(t.p(s).pids.len());
            let h = pids[0];
            helpers.push(Node {
                id: h,
                pids,
                role: Role::Helper(format!("member of session {s}, stacks root's children")),
                creator: s,
                setsid: false,
                birth: Some(s),
                new_pidns: false,
                clone_parent: false,
                ns: t.ns[&s].clone(),
            });
            helper_sid.insert(h, s);
            rp.insert(h, s);
            h
        } else if s == 1 && !t.root_is_init() {
            session_1_on_init = true;
            1
        } else {
            let pids = crate::dump::leader_pids(&t.p(c).sid);
            let ns = t.ns[&c][..pids.len()].to_vec();
            helpers.push(Node {
                id: s,
                pids,
                role: Role::Helper(format!("leader of session {s} (dead), stacks root's children")),
                creator: t.root,
                setsid: true,
                birth: None,
                new_pidns: false,
                clone_parent: false,
                ns,
            });
            helper_sid.insert(s, s);
            rp.insert(s, t.root);
            s
        };
        by_session.insert(s, h);
        rp.insert(c, h);
    }
    // born_sid propagation up the restore tree.
    let sid_of = |x: Id, hs: &BTreeMap<Id, Id>| -> Id {
        if let Some(&s) = hs.get(&x) {
            s
        } else if t.contains(x) {
            sid(x)
        } else {
            OUTSIDE
        }
    };
    let mut born: BTreeMap<Id, Id> = BTreeMap::new();
    for id in t.ids() {
        if id == t.root {
            continue;
        }
        let s = sid(id);
        if s == id || sid_of(rp[&id], &helper_sid) == s {
            continue;
        }
        let mut parent = rp[&id];
        loop {
            if parent == s {
                break;
            }
            if parent == OUTSIDE || (parent == 1 && !t.root_is_init()) {
                if s == OUTSIDE || (s == 1 && parent == 1) {
                    break; // inherited from the restorer / its init
                }
                return Err(Refusal::Unrestorable(format!(
                    "Can't find a session leader for {s} (process {id})"
                )));
            }
            if let Some(&b) = born.get(&parent) {
                if b != s {
                    return Err(Refusal::Unrestorable(format!(
                        "Can't determinate with which sid ({b} or {s}) the process {parent} \
                         was born"
                    )));
                }
            }
            born.insert(parent, s);
            parent = *rp.get(&parent).unwrap_or(&OUTSIDE);
        }
    }
    let mut sk = Skeleton::default();
    if !t.root_is_init() {
        sk.add(Node {
            id: 1,
            pids: vec![1],
            role: Role::InitHelper,
            creator: OUTSIDE,
            setsid: session_1_on_init || t.ids().any(|i| sid(i) == 1),
            birth: None,
            new_pidns: true,
            clone_parent: false,
            ns: vec![1],
        })?;
    }
    for id in t.ids() {
        let p = t.p(id);
        let s = sid(id);
        let birth = born
            .get(&id)
            .copied()
            .or(if s != id { Some(s) } else { None });
        sk.add(Node {
            id,
            pids: p.pids.clone(),
            role: Role::Present,
            creator: rp[&id],
            setsid: s == id,
            birth,
            new_pidns: p.is_ns_init() && (p.pids.len() > 1 || id == t.root),
            clone_parent: false,
            ns: t.ns[&id].clone(),
        })?;
        for h in helpers.iter().filter(|h| h.creator == id) {
            sk.add(h.clone())?;
        }
    }
    let mut plan = lower(t, &sk, &mut alloc)?;
    plan.planner = "nocaba".into();
    Ok(plan)
}
