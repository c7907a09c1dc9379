// SPDX-License-Identifier: GPL-2.0
//! Field-by-field comparison of two dumps of the same tree.

use crate::dump::{Dump, Id, Proc, OUTSIDE};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    pub pid: Id,
    pub field: &'static str,
    pub want: String,
    pub got: String,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}: {}: dump {} restored {}", self.pid, self.field, self.want, self.got)
    }
}

/// The CABA of a process as a node of the tree, or "outside".
fn caba_node(d: &Dump, p: &Proc) -> Option<String> {
    let c = p.caba.as_ref()?;
    let ids: BTreeSet<Id> = d.processes.iter().map(|q| q.pids[0]).collect();
    Some(if c[0] != OUTSIDE && ids.contains(&c[0]) {
        format!("{c:?}")
    } else {
        "outside the tree".into()
    })
}

/// Every difference between `want` (the original) and `got` (the
/// restored tree). CABA is compared only where both dumps have it.
pub fn compare(want: &Dump, got: &Dump) -> Vec<Diff> {
    let mut diffs = vec![];
    let index = |d: &Dump| -> BTreeMap<Id, Proc> {
        d.processes.iter().map(|p| (p.pids[0], p.clone())).collect()
    };
    let (w, g) = (index(want), index(got));
    let root_w = want.processes.first().map(|p| p.pids[0]);
    let root_g = got.processes.first().map(|p| p.pids[0]);
    if root_w != root_g {
        diffs.push(Diff {
            pid: root_w.unwrap_or(0),
            field: "root",
            want: format!("{root_w:?}"),
            got: format!("{root_g:?}"),
        });
    }
    for (id, a) in &w {
        let Some(b) = g.get(id) else {
            diffs.push(Diff {
                pid: *id,
                field: "present",
                want: "yes".into(),
                got: "missing".into(),
            });
            continue;
        };
        let mut field = |name: &'static str, x: String, y: String| {
            if x != y {
                diffs.push(Diff {
                    pid: *id,
                    field: name,
                    want: x,
                    got: y,
                });
            }
        };
        field("pids", format!("{:?}", a.pids), format!("{:?}", b.pids));
        field("ppid", a.ppid.to_string(), b.ppid.to_string());
        field("pgid", format!("{:?}", a.pgid), format!("{:?}", b.pgid));
        field("sid", format!("{:?}", a.sid), format!("{:?}", b.sid));
        if let (Some(x), Some(y)) = (caba_node(want, a), caba_node(got, b)) {
            field("caba", x, y);
        }
        field("zombie", a.zombie.to_string(), b.zombie.to_string());
        field("subreaper", a.subreaper.to_string(), b.subreaper.to_string());
        let ts = |p: &Proc| format!("{:?}", p.threads.iter().collect::<BTreeSet<_>>());
        field("threads", ts(a), ts(b));
        field("pidns", format!("{:?}", a.nsinits), format!("{:?}", b.nsinits));
    }
    for id in g.keys() {
        if !w.contains_key(id) {
            diffs.push(Diff {
                pid: *id,
                field: "present",
                want: "missing".into(),
                got: "yes".into(),
            });
        }
    }
    diffs
}

/// The distinct field names of a list of differences.
pub fn fields(diffs: &[Diff]) -> Vec<&'static str> {
    let set: BTreeSet<&'static str> = diffs.iter().map(|d| d.field).collect();
    set.into_iter().collect()
}
