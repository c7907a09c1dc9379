// SPDX-License-Identifier: GPL-2.0
//! The CABA invariants I1-I8 of caba-spec.md as a pure function over a
//! snapshot of plain data. The kernel module fills the snapshot while the
//! system is frozen; the host tests (host/) build snapshots by hand. Only
//! `core` is used, and nothing here allocates: the caller lends scratch space.
//!
//! The rules are those of the v7 kernel design, where release_task() moves
//! a released process's CABA-descendants to its own CABA in bounded chunks.
//! A frozen system can then hold *releasing nodes* besides the present
//! processes: a process whose tgid pid is already detached (released, no
//! longer on the task list) but whose walk has not finished, so that it is
//! still linked on its CABA's list, ->caba still set. Its own list may be
//! empty: between two chunks its last descendants may have been released
//! (each leaves the list), and only its next chunk unlinks it. Readers
//! follow ->caba through such nodes to the first
//! present one, the *effective* CABA. The spec's numbering is kept; the
//! rules as checked here:
//!
//! - I1: every present process but init_task has an effective CABA, and it
//!   is present (the chain of ->caba through releasing nodes ends at a
//!   present process, not at a node that is gone or has no ->caba).
//! - I2: every entry on X's list has ->caba == X; a list holds only nodes of
//!   the snapshot (present processes and releasing nodes); every present
//!   process but init_task and every releasing node is on its ->caba's list
//!   exactly once; a releasing node has a non-NULL ->caba (the walk keeps it
//!   until the chunk that finds the list empty, which unlinks the node in
//!   the same hold; a NULL ->caba on a linked node is lost to the readers
//!   that reach it).
//! - I3: following ->caba from any node reaches init_task within N steps.
//! - I4, I7: on the stored pointers. A releasing node's tgid, pid namespace
//!   and start time went with its pid (signal_struct keeps none of them),
//!   so where ->caba points at a releasing node, the rule is checked
//!   against the next present node up the chain, the effective CABA.
//! - I5: vacuous: the CABA is stored once per process.
//! - I6: list entries == present processes less init_task + releasing nodes.
//! - I8: init_task has no CABA; every present process is on a list (I2).

use core::fmt;

/// One process (thread group) as the snapshot saw it. `key` and `caba` are
/// identities (the kernel's signal_struct addresses); nothing here follows
/// them as pointers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Proc {
    /// Identity of the process.
    pub key: usize,
    /// Identity of its CABA, 0 for none.
    pub caba: usize,
    /// The tgid in the initial pid namespace (0 for init_task).
    pub tgid: i32,
    /// Level of the process's own pid namespace.
    pub level: u32,
    /// Identity of the process's own pid namespace.
    pub ns: usize,
    /// start_boottime of the group leader.
    pub start: u64,
    /// A present process (on the task list, tgid pid attached; init_task
    /// too); `false` for a releasing node, found only on a list, whose
    /// `tgid`, `level`, `ns` and `start` are unknown (0).
    pub present: bool,
}

/// One entry on a CABA-descendants list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The process whose list this is.
    pub list: usize,
    /// The process found on it; 0 marks a list that did not end within the
    /// walk's bound.
    pub member: usize,
}

/// A pid namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ns {
    /// Identity of the namespace.
    pub key: usize,
    /// Identity of its parent, 0 for the initial namespace.
    pub parent: usize,
    /// Its level (0 for the initial namespace).
    pub level: u32,
}

/// What the checker is given.
pub struct Snapshot<'a> {
    /// Key of init_task's process, the root.
    pub root: usize,
    /// Every node, present processes and releasing nodes, sorted by key
    /// (see [`sort`]).
    pub procs: &'a [Proc],
    /// Every entry of every CABA-descendants list.
    pub entries: &'a [Entry],
    /// Every pid namespace a process lives in, with its ancestors, sorted
    /// by key (see [`sort_ns`]).
    pub ns: &'a [Ns],
}

/// What is wrong; the invariant is [`Violation::invariant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// I1: a process other than init_task has no CABA.
    NoCaba,
    /// I1: following ->caba (through releasing nodes) met this key, which
    /// is neither a present process nor a releasing node that leads on.
    CabaNotPresent {
        /// The key met on the chain.
        caba: usize,
    },
    /// I2, I8: not on its CABA's list.
    NotListed {
        /// The CABA's tgid (0 for a releasing node).
        caba_tgid: i32,
        /// The CABA's key.
        caba: usize,
    },
    /// I2: a releasing node is not on the list its ->caba points at.
    ReleasingNotListed {
        /// The key in its ->caba.
        caba: usize,
        /// How often it was found there.
        times: u32,
    },
    /// I2: a releasing node whose ->caba is NULL: the readers that reach
    /// it find no CABA.
    ReleasingNoCaba,
    /// I2: on its CABA's list more than once.
    ListedTimes {
        /// The CABA's tgid.
        caba_tgid: i32,
        /// How often it was found there.
        times: u32,
    },
    /// I2: on the list of another process than its CABA.
    WrongList {
        /// The tgid of the list's owner.
        owner_tgid: i32,
    },
    /// I2: a list holds an entry that is no present process.
    StrangerOnList {
        /// The key found on the list.
        entry: usize,
    },
    /// I2: the list did not end within the bound.
    EndlessList,
    /// I3: the CABA chain does not reach init_task: it loops. The
    /// violation's tgid is the process where the walk came back to itself.
    Cycle {
        /// The process whose chain was being followed.
        from: i32,
        /// The CABA of the process in the loop (the next one round it).
        next: i32,
        /// How many processes the loop holds.
        len: u32,
    },
    /// I4: the CABA's pid namespace is neither ours nor an ancestor.
    ForeignNs {
        /// The CABA's tgid.
        caba_tgid: i32,
        /// The CABA's namespace level.
        caba_level: u32,
        /// Our namespace level.
        level: u32,
    },
    /// I6: list entries and processes do not match in number.
    Count {
        /// List entries found.
        entries: usize,
        /// Processes less init_task.
        processes: usize,
    },
    /// I7: the CABA started after the process.
    StartedLater {
        /// The CABA's tgid.
        caba_tgid: i32,
        /// The CABA's start_boottime.
        caba_start: u64,
        /// Our start_boottime.
        start: u64,
    },
    /// I8: init_task has a CABA.
    RootHasCaba {
        /// The key found in init_task's ->caba.
        caba: usize,
    },
}

/// One violation of one invariant by one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// tgid of the process concerned (0 for global and root violations,
    /// and for a releasing node).
    pub tgid: i32,
    /// The key of the releasing node concerned, 0 for a present process
    /// and for global violations.
    pub node: usize,
    /// What is wrong.
    pub kind: Kind,
}

impl Violation {
    /// The invariant(s) of the spec that this violates, "I1" to "I8".
    pub fn invariant(&self) -> &'static str {
        match self.kind {
            Kind::NoCaba | Kind::CabaNotPresent { .. } => "I1",
            Kind::NotListed { .. } => "I2/I8",
            Kind::ReleasingNotListed { .. } | Kind::ReleasingNoCaba => "I2",
            Kind::ListedTimes { .. }
            | Kind::WrongList { .. }
            | Kind::StrangerOnList { .. }
            | Kind::EndlessList => "I2",
            Kind::Cycle { .. } => "I3",
            Kind::ForeignNs { .. } => "I4",
            Kind::Count { .. } => "I6",
            Kind::StartedLater { .. } => "I7",
            Kind::RootHasCaba { .. } => "I8",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.node != 0 {
            write!(f, "{} releasing node {:#x}: ", self.invariant(), self.node)?;
        } else {
            write!(f, "{} pid {}: ", self.invariant(), self.tgid)?;
        }
        match self.kind {
            Kind::NoCaba => write!(f, "found no CABA, expected one (only init_task has none)"),
            Kind::CabaNotPresent { caba } => write!(
                f,
                "following ->caba found {caba:#x}, neither present nor a releasing node that leads on, expected a present CABA"
            ),
            Kind::NotListed { caba_tgid, caba } => {
                write!(f, "found on no list, expected on the list of its CABA {caba_tgid} ({caba:#x})")
            }
            Kind::ReleasingNotListed { caba, times } => write!(
                f,
                "found {times} times on the list of its ->caba {caba:#x}, expected once (a releasing node stays linked until its list is empty)"
            ),
            Kind::ReleasingNoCaba => write!(f, "released with descendants left and no ->caba, expected ->caba set until its list is empty"),
            Kind::ListedTimes { caba_tgid, times } => {
                write!(f, "found {times} times on the list of {caba_tgid}, expected once")
            }
            Kind::WrongList { owner_tgid } => write!(f, "found on the list of {owner_tgid}, expected only on its CABA's"),
            Kind::StrangerOnList { entry } => write!(f, "list holds {entry:#x}, expected present processes only"),
            Kind::EndlessList => write!(f, "list did not end within the bound, expected a finite list"),
            Kind::Cycle { from, next, len } => write!(
                f,
                "CABA chain followed from pid {from} loops through here (CABA {next}, {len} processes in the loop), expected it to reach init_task"
            ),
            Kind::ForeignNs { caba_tgid, caba_level, level } => write!(
                f,
                "CABA {caba_tgid} (level {caba_level}) lives outside our namespace chain (level {level}), expected our namespace or an ancestor"
            ),
            Kind::Count { entries, processes } => write!(f, "found {entries} list entries, expected {processes} (processes less init_task)"),
            Kind::StartedLater { caba_tgid, caba_start, start } => {
                write!(f, "CABA {caba_tgid} started at {caba_start}, after us at {start}, expected no later")
            }
            Kind::RootHasCaba { caba } => write!(f, "init_task has CABA {caba:#x}, expected none"),
        }
    }
}

/// What a successful check measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Present processes checked, init_task included.
    pub processes: usize,
    /// Releasing nodes checked.
    pub releasing: usize,
    /// CABA-descendants list entries.
    pub entries: usize,
    /// The longest CABA chain, in steps to init_task.
    pub deepest: u32,
    /// Violations found.
    pub violations: usize,
}

/// Sort processes by key, as `check` needs them.
pub fn sort(procs: &mut [Proc]) {
    heapsort(procs, |p| p.key);
}

/// Sort namespaces by key, as `check` needs them.
pub fn sort_ns(ns: &mut [Ns]) {
    heapsort(ns, |n| n.key);
}

/// Where namespace `key` is in `ns` (sorted by key), or where it would go:
/// for a caller that keeps the slice sorted as it inserts.
pub fn ns_position(ns: &[Ns], key: usize) -> Result<usize, usize> {
    ns.binary_search_by_key(&key, |n| n.key)
}

/// A heapsort of our own: in place, no allocation, and unlike core's sort
/// no panic path (which objtool flags in kernel builds), since it runs with
/// the system frozen.
fn heapsort<T>(v: &mut [T], key: impl Fn(&T) -> usize) {
    fn sift_down<T>(v: &mut [T], key: &impl Fn(&T) -> usize, mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && key(&v[child]) < key(&v[child + 1]) {
                child += 1;
            }
            if key(&v[root]) >= key(&v[child]) {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, &key, start, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, &key, 0, end);
    }
}

impl Snapshot<'_> {
    fn index(&self, key: usize) -> Option<usize> {
        if key == 0 {
            return None;
        }
        self.procs.binary_search_by_key(&key, |p| p.key).ok()
    }

    fn ns(&self, key: usize) -> Option<&Ns> {
        ns_position(self.ns, key).ok().map(|i| &self.ns[i])
    }

    /// Whether namespace `inner` is `outer` or lies below it.
    fn ns_within(&self, inner: usize, outer: usize) -> bool {
        let mut cur = inner;
        for _ in 0..=64 {
            if cur == outer {
                return true;
            }
            match self.ns(cur) {
                Some(n) if n.parent != 0 => cur = n.parent,
                _ => return false,
            }
        }
        false
    }
}

/// Scratch space for `check`: three words per node.
pub fn scratch_len(nodes: usize) -> usize {
    3 * nodes
}

const UNSEEN: u32 = u32::MAX;
const ON_PATH: u32 = u32::MAX - 1;
/// `eff` of a releasing node on a ->caba loop of releasing nodes (I3's).
const LOOPS: u32 = u32::MAX - 2;
/// `eff` flag: the chain from this releasing node breaks at the releasing
/// node whose index is in the other bits (its ->caba is NULL or unknown).
const BROKEN: u32 = 1 << 31;

/// Where following ->caba from a node ends: its effective CABA.
enum Eff {
    /// At this present node.
    Present(usize),
    /// At this key, which is no node of the snapshot, or a releasing node
    /// without ->caba.
    Lost(usize),
    /// In a loop (reported under I3).
    Loops,
}

/// Fill `eff` for every releasing node: the index of its effective CABA,
/// `BROKEN | i` where the chain breaks at releasing node `i`, or `LOOPS`.
/// Memoized, so O(n) in all.
fn effective_all(snap: &Snapshot<'_>, eff: &mut [u32]) {
    let n = snap.procs.len();
    eff.fill(UNSEEN);
    for start in 0..n {
        if snap.procs[start].present || eff[start] != UNSEEN {
            continue;
        }
        let mut cur = start;
        let end = loop {
            match eff[cur] {
                ON_PATH => break LOOPS,
                UNSEEN => {}
                done => break done,
            }
            eff[cur] = ON_PATH;
            match snap.index(snap.procs[cur].caba) {
                Some(next) if snap.procs[next].present => break next as u32,
                Some(next) => cur = next,
                None => break BROKEN | cur as u32,
            }
        };
        let mut p = start;
        while eff[p] == ON_PATH {
            eff[p] = end;
            match snap.index(snap.procs[p].caba) {
                Some(next) if !snap.procs[next].present => p = next,
                _ => break,
            }
        }
    }
}

/// The effective CABA of a node whose stored ->caba is `caba`.
fn effective(snap: &Snapshot<'_>, eff: &[u32], caba: usize) -> Eff {
    let Some(c) = snap.index(caba) else {
        return Eff::Lost(caba);
    };
    if snap.procs[c].present {
        return Eff::Present(c);
    }
    match eff[c] {
        LOOPS | UNSEEN | ON_PATH => Eff::Loops,
        v if v & BROKEN != 0 => {
            let at = &snap.procs[(v & !BROKEN) as usize];
            Eff::Lost(if at.caba == 0 { at.key } else { at.caba })
        }
        v => Eff::Present(v as usize),
    }
}

/// Check every invariant; report each violation to `report`. `scratch` must
/// hold `scratch_len(snap.procs.len())` words.
pub fn check(
    snap: &Snapshot<'_>,
    scratch: &mut [u32],
    report: &mut dyn FnMut(&Violation),
) -> Summary {
    let n = snap.procs.len();
    let releasing = snap.procs.iter().filter(|p| !p.present).count();
    let mut sum = Summary {
        processes: n - releasing,
        releasing,
        ..Summary::default()
    };
    let mut bad = |v: Violation, sum: &mut Summary| {
        sum.violations += 1;
        report(&v);
    };
    // Who a violation is about: a present process by its tgid, a releasing
    // node by its key.
    let who = |p: &Proc, kind: Kind| Violation {
        tgid: p.tgid,
        node: if p.present { 0 } else { p.key },
        kind,
    };
    let global = |kind: Kind| Violation {
        tgid: 0,
        node: 0,
        kind,
    };
    if scratch.len() < scratch_len(n) {
        // Not a kernel state: a caller bug. Report it as a global violation.
        bad(
            global(Kind::Count {
                entries: scratch.len(),
                processes: n,
            }),
            &mut sum,
        );
        return sum;
    }
    let (listed, rest) = scratch.split_at_mut(n);
    let (depth, rest) = rest.split_at_mut(n);
    let eff = &mut rest[..n];
    listed.fill(0);

    // I2, I6, I8: list membership, counted per node.
    let mut entries = 0;
    for e in snap.entries {
        let owner = snap.index(e.list);
        let owner_tgid = owner.map_or(0, |i| snap.procs[i].tgid);
        let on = |kind: Kind| match owner {
            Some(i) => who(&snap.procs[i], kind),
            None => global(kind),
        };
        if e.member == 0 {
            bad(on(Kind::EndlessList), &mut sum);
            continue;
        }
        entries += 1;
        match snap.index(e.member) {
            // Neither present nor releasing: a node that is gone.
            None => bad(on(Kind::StrangerOnList { entry: e.member }), &mut sum),
            // Every entry on X's list has ->caba == X.
            Some(m) if snap.procs[m].caba != e.list => bad(
                who(&snap.procs[m], Kind::WrongList { owner_tgid }),
                &mut sum,
            ),
            Some(m) => listed[m] += 1,
        }
    }
    sum.entries = entries;
    // I6: one entry per present process but init_task, and one per
    // releasing node, which stays on its CABA's list until its own empties.
    let present_less_root = (n - releasing).saturating_sub(usize::from(
        snap.index(snap.root).is_some_and(|i| snap.procs[i].present),
    ));
    let expected = present_less_root + releasing;
    if entries != expected {
        bad(
            global(Kind::Count {
                entries,
                processes: expected,
            }),
            &mut sum,
        );
    }

    effective_all(snap, eff);
    for (i, p) in snap.procs.iter().enumerate() {
        if p.key == snap.root {
            // I8: init_task is the root: it has no CABA.
            if p.caba != 0 {
                bad(who(p, Kind::RootHasCaba { caba: p.caba }), &mut sum);
            }
            continue;
        }
        if !p.present {
            // I2 for a releasing node: its walk is in progress, so it has a
            // CABA to move its descendants to and stays on that CABA's
            // list, where readers pass through it. Its list may be empty:
            // its last descendants may have been released between two of
            // its chunks, and only its next chunk unlinks it.
            if p.caba == 0 {
                bad(who(p, Kind::ReleasingNoCaba), &mut sum);
            } else if listed[i] != 1 {
                bad(
                    who(
                        p,
                        Kind::ReleasingNotListed {
                            caba: p.caba,
                            times: listed[i],
                        },
                    ),
                    &mut sum,
                );
            }
            continue;
        }
        // I1: a present process has a CABA ...
        if p.caba == 0 {
            bad(who(p, Kind::NoCaba), &mut sum);
            continue;
        }
        let Some(c) = snap.index(p.caba) else {
            bad(who(p, Kind::CabaNotPresent { caba: p.caba }), &mut sum);
            continue;
        };
        // I2, I8: ... on whose list (present or releasing) it is, once ...
        let stored = &snap.procs[c];
        match listed[i] {
            1 => {}
            0 => bad(
                who(
                    p,
                    Kind::NotListed {
                        caba_tgid: stored.tgid,
                        caba: stored.key,
                    },
                ),
                &mut sum,
            ),
            times => bad(
                who(
                    p,
                    Kind::ListedTimes {
                        caba_tgid: stored.tgid,
                        times,
                    },
                ),
                &mut sum,
            ),
        }
        // I1: ... and following ->caba through releasing nodes ends at a
        // present process: what a reader reports.
        let caba = match effective(snap, eff, p.caba) {
            Eff::Present(e) => &snap.procs[e],
            Eff::Lost(at) => {
                bad(who(p, Kind::CabaNotPresent { caba: at }), &mut sum);
                continue;
            }
            Eff::Loops => continue, // I3 reports the loop
        };
        // I4: the CABA's namespace is ours or an ancestor of ours (the
        // stored pointer's, or the effective CABA's where that is a
        // releasing node, whose namespace is unknown).
        if caba.level > p.level || !snap.ns_within(p.ns, caba.ns) {
            bad(
                who(
                    p,
                    Kind::ForeignNs {
                        caba_tgid: caba.tgid,
                        caba_level: caba.level,
                        level: p.level,
                    },
                ),
                &mut sum,
            );
        }
        // I7: born no earlier than the CABA (likewise).
        if caba.start > p.start {
            bad(
                who(
                    p,
                    Kind::StartedLater {
                        caba_tgid: caba.tgid,
                        caba_start: caba.start,
                        start: p.start,
                    },
                ),
                &mut sum,
            );
        }
    }

    // I3: every chain, from present and releasing nodes alike, reaches the
    // root; depths memoized, so O(n) in all.
    enum End {
        Known(u32),
        Cycle(usize), // where the walk came back to its own path
        Broken,       // a missing CABA: reported under I1 or I2 already
    }
    depth.fill(UNSEEN);
    for start in 0..n {
        if depth[start] != UNSEEN {
            continue;
        }
        // Walk up, marking the path, until the root, a known depth or a break.
        let mut cur = start;
        let mut steps = 0u32;
        let end = loop {
            if snap.procs[cur].key == snap.root {
                depth[cur] = 0;
                break End::Known(0);
            }
            match depth[cur] {
                ON_PATH => break End::Cycle(cur),
                UNSEEN => {}
                d => break End::Known(d),
            }
            depth[cur] = ON_PATH;
            steps += 1;
            match snap.index(snap.procs[cur].caba) {
                Some(next) => cur = next,
                None => break End::Broken,
            }
        };
        let mut d = match end {
            End::Known(base) => Some(base + steps),
            End::Cycle(at) => {
                // Go round the loop once, to say how long it is.
                let mut len = 1u32;
                let mut p = snap.index(snap.procs[at].caba);
                while let Some(i) = p {
                    if i == at || len as usize > n {
                        break;
                    }
                    len += 1;
                    p = snap.index(snap.procs[i].caba);
                }
                let next = snap
                    .index(snap.procs[at].caba)
                    .map_or(0, |i| snap.procs[i].tgid);
                bad(
                    who(
                        &snap.procs[at],
                        Kind::Cycle {
                            from: snap.procs[start].tgid,
                            next,
                            len,
                        },
                    ),
                    &mut sum,
                );
                None
            }
            End::Broken => None,
        };
        // Unwind along the marked path, giving each node its depth.
        let mut p = start;
        while depth[p] == ON_PATH {
            depth[p] = match d {
                Some(v) => {
                    sum.deepest = sum.deepest.max(v);
                    d = Some(v - 1);
                    v
                }
                None => 0, // no depth: never report this path again
            };
            match snap.index(snap.procs[p].caba) {
                Some(next) => p = next,
                None => break,
            }
        }
    }
    sum
}

/// A corruption of the snapshot, never of the kernel, for testing only (the
/// module's `inject=` parameter): on a real kernel's snapshot it shows that
/// the checker reports a defect that the kernel, we hope, never has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// A process put on a second list besides its CABA's (I2, I6).
    TwoLists,
    /// A process's CABA set to its own CABA-descendant: a chain that loops
    /// instead of reaching init_task (I3).
    Cycle,
    /// A process's CABA set to a process in a pid namespace that is neither
    /// its own nor an ancestor of it (I4).
    ForeignNs,
}

impl Mutant {
    /// The mutant for an `inject=` value: 0 none, 1 two lists, 2 a cycle,
    /// 3 a foreign namespace; anything else is returned as the error.
    pub fn from_param(v: u32) -> Result<Option<Mutant>, u32> {
        match v {
            0 => Ok(None),
            1 => Ok(Some(Mutant::TwoLists)),
            2 => Ok(Some(Mutant::Cycle)),
            3 => Ok(Some(Mutant::ForeignNs)),
            _ => Err(v),
        }
    }

    /// The invariant the checker must report for this mutant.
    pub fn invariant(self) -> &'static str {
        match self {
            Mutant::TwoLists => "I2",
            Mutant::Cycle => "I3",
            Mutant::ForeignNs => "I4",
        }
    }
}

/// What [`inject`] did, and what its caller must still add to the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injected {
    /// The corruption.
    pub mutant: Mutant,
    /// tgid of the process corrupted.
    pub tgid: i32,
    /// tgid of the other process: the owner of the second list, or the new
    /// CABA.
    pub other: i32,
    /// tgid of the process's real CABA.
    pub was: i32,
    /// An entry to add to the lists (two lists).
    pub add_entry: Option<Entry>,
    /// A namespace to insert, in key order, into the namespaces (a foreign
    /// namespace, where the snapshot had no two processes in unrelated
    /// namespaces: one is then moved into a namespace made up for it).
    pub add_ns: Option<Ns>,
}

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Injected {
            tgid, other, was, ..
        } = *self;
        match self.mutant {
            Mutant::TwoLists => write!(
                f,
                "two-lists: pid {tgid} left on the list of its CABA {was} and also put on the list of pid {other}"
            )?,
            Mutant::Cycle => write!(
                f,
                "cycle: the CABA of pid {tgid} (really {was}) set to pid {other}, its CABA-descendant"
            )?,
            Mutant::ForeignNs => write!(
                f,
                "foreign-ns: the CABA of pid {tgid} (really {was}) set to pid {other}, in a pid namespace that is neither {tgid}'s nor an ancestor{}",
                if self.add_ns.is_some() {
                    " (a namespace made up for it in the snapshot)"
                } else {
                    ""
                }
            )?,
        }
        write!(
            f,
            "; expect {}, snapshot only, the kernel is untouched",
            self.mutant.invariant()
        )
    }
}

/// Corrupt a valid snapshot with `mutant`, choosing the processes itself
/// (the newest that fit, so a small test's own processes are picked).
/// `procs` is sorted by key, `ns` too; `scratch` holds at least one word
/// per process. Returns `None` when no process fits (a system too small).
pub fn inject(
    mutant: Mutant,
    root: usize,
    procs: &mut [Proc],
    entries: &mut [Entry],
    ns: &[Ns],
    scratch: &mut [u32],
) -> Option<Injected> {
    let n = procs.len();
    if scratch.len() < n {
        return None;
    }
    let index = |procs: &[Proc], key: usize| -> Option<usize> {
        if key == 0 {
            return None;
        }
        procs.binary_search_by_key(&key, |p| p.key).ok()
    };
    let tgid = |procs: &[Proc], key: usize| index(procs, key).map_or(0, |i| procs[i].tgid);
    // The newest process that `fits`, by start time, then key.
    let newest = |procs: &[Proc], fits: &dyn Fn(usize) -> bool| -> Option<usize> {
        (0..procs.len())
            .filter(|&i| fits(i))
            .max_by_key(|&i| (procs[i].start, procs[i].key))
    };
    // Move `member`'s entries from the list of `from` to the list of `to`.
    let relist = |entries: &mut [Entry], member: usize, from: usize, to: usize| {
        for e in entries.iter_mut() {
            if e.member == member && e.list == from {
                e.list = to;
            }
        }
    };

    match mutant {
        Mutant::TwoLists | Mutant::Cycle => {
            // A process whose CABA is a present process other than the
            // root; for a loop, in the same namespace, so that the loop is
            // all that is wrong but for I7 (its new CABA is younger).
            let p = {
                let procs_ro: &[Proc] = procs;
                newest(procs_ro, &|i| {
                    let p = &procs_ro[i];
                    p.key != root
                        && p.present
                        && p.caba != root
                        && index(procs_ro, p.caba).is_some_and(|c| {
                            // Present processes only (the second list, of
                            // the CABA's CABA, too): a releasing node has no
                            // tgid to name it by.
                            let grand = index(procs_ro, procs_ro[c].caba);
                            procs_ro[c].present
                                && match mutant {
                                    Mutant::TwoLists => grand.is_some_and(|g| procs_ro[g].present),
                                    _ => procs_ro[c].ns == p.ns,
                                }
                        })
                })?
            };
            let c = index(procs, procs[p].caba)?;
            if mutant == Mutant::TwoLists {
                let (member, list) = (procs[p].key, procs[c].caba);
                return Some(Injected {
                    mutant,
                    tgid: procs[p].tgid,
                    other: tgid(procs, list),
                    was: procs[c].tgid,
                    add_entry: Some(Entry { list, member }),
                    add_ns: None,
                });
            }
            // The CABA of c becomes p, which c created: c -> p -> c.
            let (ckey, old, pkey) = (procs[c].key, procs[c].caba, procs[p].key);
            procs[c].caba = pkey;
            relist(entries, ckey, old, pkey);
            Some(Injected {
                mutant,
                tgid: procs[c].tgid,
                other: procs[p].tgid,
                was: tgid(procs, old),
                add_entry: None,
                add_ns: None,
            })
        }
        Mutant::ForeignNs => {
            // Two leaves (nobody's CABA): relinking one below the other
            // touches no third process and cannot close a loop.
            let leaf = &mut scratch[..n];
            leaf.fill(1);
            for p in procs.iter() {
                if let Some(c) = index(procs, p.caba) {
                    leaf[c] = 0;
                }
            }
            let leaf: &[u32] = leaf;
            let procs_ro: &[Proc] = procs;
            // Present processes only: a releasing node's namespace and
            // start time are unknown.
            let is_leaf = |i: usize| leaf[i] == 1 && procs_ro[i].key != root && procs_ro[i].present;
            let movable = |i: usize| {
                is_leaf(i) && index(procs_ro, procs_ro[i].caba).is_some_and(|c| procs_ro[c].present)
            };
            let view = Snapshot {
                root,
                procs: &[],
                entries: &[],
                ns,
            };
            // A real pair if there is one: a leaf q in a namespace below the
            // initial one, and a leaf p born no earlier in a namespace that
            // is not q's or below it. Only the first few q are tried, so that
            // this stays cheap on a large system.
            let real = (0..n)
                .filter(|&q| is_leaf(q) && procs_ro[q].level > 0)
                .take(64)
                .find_map(|q| {
                    let p = newest(procs_ro, &|i| {
                        i != q
                            && movable(i)
                            && procs_ro[i].start >= procs_ro[q].start
                            && !view.ns_within(procs_ro[i].ns, procs_ro[q].ns)
                    })?;
                    Some((p, q))
                });
            // Else one made up: q is moved into a new namespace.
            let (p, q, add_ns) = match real {
                Some((p, q)) => (p, q, None),
                None => {
                    let p = newest(procs_ro, &movable)?;
                    let q = newest(procs_ro, &|i| {
                        i != p && is_leaf(i) && procs_ro[i].start <= procs_ro[p].start
                    })?;
                    let key = ns.iter().map(|n| n.key).max().unwrap_or(0).checked_add(1)?;
                    let made = Ns {
                        key,
                        parent: procs[q].ns,
                        level: procs[q].level + 1,
                    };
                    procs[q].ns = made.key;
                    procs[q].level = made.level;
                    (p, q, Some(made))
                }
            };
            let (pkey, old, qkey) = (procs[p].key, procs[p].caba, procs[q].key);
            procs[p].caba = qkey;
            relist(entries, pkey, old, qkey);
            Some(Injected {
                mutant,
                tgid: procs[p].tgid,
                other: procs[q].tgid,
                was: tgid(procs, old),
                add_entry: None,
                add_ns,
            })
        }
    }
}
