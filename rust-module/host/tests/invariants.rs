//! The checker's logic against hand-built snapshots: valid ones it must
//! accept, and one broken snapshot per invariant that it must reject.

use caba_invariants::*;

/// A snapshot under construction: processes with keys 1.., the root is key 1
/// (init_task, tgid 0) in the initial namespace (key 1000).
struct Builder {
    procs: Vec<Proc>,
    entries: Vec<Entry>,
    ns: Vec<Ns>,
}

const ROOT: usize = 1;
const INIT_NS: usize = 1000;

impl Builder {
    fn new() -> Builder {
        Builder {
            procs: vec![Proc {
                key: ROOT,
                caba: 0,
                tgid: 0,
                level: 0,
                ns: INIT_NS,
                start: 0,
                present: true,
            }],
            entries: vec![],
            ns: vec![Ns {
                key: INIT_NS,
                parent: 0,
                level: 0,
            }],
        }
    }

    /// A new namespace below `parent`; returns its key.
    fn ns(&mut self, parent: usize) -> usize {
        let level = self.ns.iter().find(|n| n.key == parent).unwrap().level + 1;
        let key = INIT_NS + self.ns.len();
        self.ns.push(Ns { key, parent, level });
        key
    }

    /// A process born of `caba` in namespace `ns`, linked as the kernel would.
    fn proc_in(&mut self, caba: usize, ns: usize) -> usize {
        let key = self.procs.len() + 1;
        let level = self.ns.iter().find(|n| n.key == ns).unwrap().level;
        self.procs.push(Proc {
            key,
            caba,
            tgid: key as i32,
            level,
            ns,
            start: key as u64,
            present: true,
        });
        self.entries.push(Entry {
            list: caba,
            member: key,
        });
        key
    }

    fn proc(&mut self, caba: usize) -> usize {
        let ns = self.procs[caba - 1].ns;
        self.proc_in(caba, ns)
    }

    /// Release `x` as v7's release_task() does, stopped after moving the
    /// first `moved` of its CABA-descendants to its ->caba: its tgid pid is
    /// gone (so are its tgid, namespace and start time, as far as the
    /// module can tell), it stays on its CABA's list with ->caba set.
    fn release(&mut self, x: usize, moved: usize) {
        let to = self.get(x).caba;
        let mut n = 0;
        for e in self.entries.iter_mut() {
            if e.list == x && n < moved {
                e.list = to;
                n += 1;
            }
        }
        assert_eq!(n, moved, "{x} has fewer than {moved} descendants");
        for p in self.procs.iter_mut() {
            if self
                .entries
                .iter()
                .any(|e| e.member == p.key && e.list == to)
                && p.caba == x
            {
                p.caba = to;
            }
        }
        let p = self.get(x);
        *p = Proc {
            key: x,
            caba: p.caba,
            ..Proc::default()
        };
    }

    fn get(&mut self, key: usize) -> &mut Proc {
        self.procs.iter_mut().find(|p| p.key == key).unwrap()
    }

    fn check(&self) -> (Summary, Vec<Violation>) {
        let mut procs = self.procs.clone();
        sort(&mut procs);
        let mut ns = self.ns.clone();
        sort_ns(&mut ns);
        let snap = Snapshot {
            root: ROOT,
            procs: &procs,
            entries: &self.entries,
            ns: &ns,
        };
        let mut scratch = vec![0u32; scratch_len(procs.len())];
        let mut found = vec![];
        let sum = check(&snap, &mut scratch, &mut |v| found.push(*v));
        (sum, found)
    }

    /// Corrupt the snapshot as the module's `inject=` does, adding what
    /// `inject` asks its caller to add.
    fn inject(&mut self, mutant: Mutant) -> Option<Injected> {
        sort(&mut self.procs);
        sort_ns(&mut self.ns);
        let mut scratch = vec![0u32; self.procs.len()];
        let inj = inject(
            mutant,
            ROOT,
            &mut self.procs,
            &mut self.entries,
            &self.ns,
            &mut scratch,
        )?;
        self.entries.extend(inj.add_entry);
        if let Some(made) = inj.add_ns {
            let at = ns_position(&self.ns, made.key).unwrap_err();
            self.ns.insert(at, made);
        }
        Some(inj)
    }

    fn assert_valid(&self) -> Summary {
        let (sum, found) = self.check();
        assert!(
            found.is_empty(),
            "valid snapshot rejected: {}",
            found
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        );
        sum
    }

    /// Must be rejected, with at least one violation of `invariant`.
    fn assert_rejected(&self, invariant: &str) -> Vec<Violation> {
        let (sum, found) = self.check();
        assert!(
            sum.violations > 0 && !found.is_empty(),
            "broken snapshot accepted ({invariant})"
        );
        assert!(
            found.iter().any(|v| v.invariant().contains(invariant)),
            "expected a violation of {invariant}, got: {}",
            found
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        );
        found
    }
}

/// A small valid tree: init_task -> {init, kthreadd}, init -> a -> b, a -> c.
fn small() -> (Builder, [usize; 5]) {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    let kthreadd = b.proc(ROOT);
    let a = b.proc(init);
    let x = b.proc(a);
    let c = b.proc(a);
    (b, [init, kthreadd, a, x, c])
}

#[test]
fn empty_system_is_valid() {
    let s = Builder::new().assert_valid();
    assert_eq!((s.processes, s.entries, s.deepest), (1, 0, 0));
}

#[test]
fn small_tree_is_valid() {
    let (b, _) = small();
    let s = b.assert_valid();
    assert_eq!((s.processes, s.entries, s.deepest), (6, 5, 3));
}

#[test]
fn chain_10000_deep_is_valid() {
    let mut b = Builder::new();
    let mut last = ROOT;
    for _ in 0..10_000 {
        last = b.proc(last);
    }
    let s = b.assert_valid();
    assert_eq!(s.deepest, 10_000);
    assert_eq!(s.entries, 10_000);
}

#[test]
fn siblings_10000_are_valid() {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    for _ in 0..10_000 {
        b.proc(init);
    }
    let s = b.assert_valid();
    assert_eq!((s.deepest, s.entries), (2, 10_001));
}

#[test]
fn nested_namespaces_are_valid() {
    let mut b = Builder::new();
    let mut ns = INIT_NS;
    let mut last = b.proc(ROOT);
    for _ in 0..32 {
        ns = b.ns(ns);
        last = b.proc_in(last, ns); // the init of each level, born outside it
        b.proc(last); // and a process inside
    }
    b.assert_valid();
}

#[test]
fn i1_no_caba() {
    let (mut b, [_, _, _, x, _]) = small();
    b.get(x).caba = 0;
    b.entries.retain(|e| e.member != x);
    let v = b.assert_rejected("I1");
    assert!(v
        .iter()
        .any(|v| v.tgid == x as i32 && v.kind == Kind::NoCaba));
}

#[test]
fn i1_caba_released() {
    let (mut b, [_, _, a, x, _]) = small();
    // x still points at a process that is gone from the snapshot.
    b.get(x).caba = 999;
    b.entries.retain(|e| e.member != x);
    b.entries.push(Entry { list: a, member: x });
    b.assert_rejected("I1");
}

#[test]
fn i2_listed_twice() {
    let (mut b, [_, _, a, x, _]) = small();
    b.entries.push(Entry { list: a, member: x });
    b.assert_rejected("I2");
}

#[test]
fn i2_on_the_wrong_list() {
    let (mut b, [init, _, _, x, _]) = small();
    for e in b.entries.iter_mut().filter(|e| e.member == x) {
        e.list = init;
    }
    let v = b.assert_rejected("I2");
    assert!(v.iter().any(|v| matches!(v.kind, Kind::WrongList { .. })));
}

#[test]
fn i2_released_process_still_listed() {
    let (mut b, [_, _, a, _, _]) = small();
    b.entries.push(Entry {
        list: a,
        member: 4242,
    });
    b.assert_rejected("I2");
}

#[test]
fn i2_endless_list() {
    let (mut b, [_, _, a, _, _]) = small();
    b.entries.push(Entry { list: a, member: 0 });
    b.assert_rejected("I2");
}

#[test]
fn i3_cycle() {
    let (mut b, [_, _, a, x, c]) = small();
    // a <- x <- c <- a: a loop that never reaches init_task.
    b.get(a).caba = c;
    b.get(c).caba = x;
    b.entries.retain(|e| e.member != a && e.member != c);
    b.entries.push(Entry { list: c, member: a });
    b.entries.push(Entry { list: x, member: c });
    let v = b.assert_rejected("I3");
    let cycles: Vec<_> = v
        .iter()
        .filter(|v| matches!(v.kind, Kind::Cycle { .. }))
        .collect();
    assert_eq!(cycles.len(), 1, "one loop, reported once: {v:?}");
    let Kind::Cycle { next, len, .. } = cycles[0].kind else {
        unreachable!()
    };
    assert_eq!(len, 3, "{v:?}");
    let members = [a as i32, x as i32, c as i32];
    assert!(
        members.contains(&cycles[0].tgid) && members.contains(&next),
        "{v:?}"
    );
    let text = cycles[0].to_string();
    assert!(
        text.starts_with(&format!("I3 pid {}: ", cycles[0].tgid)),
        "{text}"
    );
}

#[test]
fn i3_self_loop() {
    let (mut b, [_, _, a, _, _]) = small();
    b.get(a).caba = a;
    b.entries.retain(|e| e.member != a);
    b.entries.push(Entry { list: a, member: a });
    let v = b.assert_rejected("I3");
    assert!(v.iter().any(|v| v.tgid == a as i32
        && matches!(v.kind, Kind::Cycle { next, len: 1, .. } if next == a as i32)));
}

#[test]
fn i4_caba_in_a_sibling_namespace() {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    let ns1 = b.ns(INIT_NS);
    let ns2 = b.ns(INIT_NS);
    let p1 = b.proc_in(init, ns1);
    let p2 = b.proc_in(init, ns2);
    b.assert_valid();
    // p2's CABA moved into ns1: same level, not an ancestor.
    b.get(p2).caba = p1;
    b.entries.retain(|e| e.member != p2);
    b.entries.push(Entry {
        list: p1,
        member: p2,
    });
    b.assert_rejected("I4");
}

#[test]
fn i4_caba_in_a_deeper_namespace() {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    let ns1 = b.ns(INIT_NS);
    let inner = b.proc_in(init, ns1);
    let outer = b.proc(init);
    b.get(outer).caba = inner;
    b.entries.retain(|e| e.member != outer);
    b.entries.push(Entry {
        list: inner,
        member: outer,
    });
    b.assert_rejected("I4");
}

#[test]
fn i6_entry_missing() {
    let (mut b, [_, _, _, x, _]) = small();
    b.entries.retain(|e| e.member != x);
    let v = b.assert_rejected("I6");
    assert!(v.iter().any(|v| v.kind
        == Kind::Count {
            entries: 4,
            processes: 5
        }));
}

#[test]
fn i7_caba_born_later() {
    let (mut b, [_, _, a, x, _]) = small();
    b.get(a).start = 100;
    b.get(x).start = 50;
    b.assert_rejected("I7");
}

#[test]
fn i8_root_has_caba() {
    let (mut b, [init, ..]) = small();
    b.get(ROOT).caba = init;
    b.assert_rejected("I8");
}

#[test]
fn i8_process_on_no_list() {
    let (mut b, [_, _, _, _, c]) = small();
    b.entries.retain(|e| e.member != c);
    let v = b.assert_rejected("I8");
    assert!(v
        .iter()
        .any(|v| v.tgid == c as i32 && matches!(v.kind, Kind::NotListed { .. })));
}

#[test]
fn violations_say_what_and_where() {
    let (mut b, [_, _, a, x, _]) = small();
    b.get(a).start = 100;
    b.get(x).start = 50;
    let (_, v) = b.check();
    let text = v[0].to_string();
    assert!(text.starts_with(&format!("I7 pid {x}: ")), "{text}");
    assert!(text.contains("expected"), "{text}");
}

#[test]
fn sort_orders_by_key() {
    let mut v: Vec<Proc> = [5usize, 3, 9, 1, 1, 7, 2, 8, 0, 6]
        .iter()
        .map(|&k| Proc {
            key: k,
            ..Proc::default()
        })
        .collect();
    sort(&mut v);
    assert!(v.windows(2).all(|w| w[0].key <= w[1].key), "{v:?}");
    let mut big: Vec<Proc> = (0..10_000usize)
        .map(|i| Proc {
            key: (i * 7919) % 10_007,
            ..Proc::default()
        })
        .collect();
    sort(&mut big);
    assert!(big.windows(2).all(|w| w[0].key <= w[1].key));
    sort(&mut []);
}

/// The invariants a report names, each once, in order.
fn invariants_of(v: &[Violation]) -> Vec<&'static str> {
    let mut names: Vec<_> = v.iter().map(|v| v.invariant()).collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn mutant_values() {
    assert_eq!(Mutant::from_param(0), Ok(None));
    assert_eq!(Mutant::from_param(1), Ok(Some(Mutant::TwoLists)));
    assert_eq!(Mutant::from_param(2), Ok(Some(Mutant::Cycle)));
    assert_eq!(Mutant::from_param(3), Ok(Some(Mutant::ForeignNs)));
    assert_eq!(Mutant::from_param(4), Err(4));
}

#[test]
fn mutant_two_lists_names_both_lists() {
    let (mut b, [init, _, a, _, c]) = small();
    let inj = b.inject(Mutant::TwoLists).unwrap();
    // The newest process with a CABA other than init_task: c, CABA a,
    // put on the list of a's CABA, init, as well.
    assert_eq!(
        (inj.tgid, inj.was, inj.other),
        (c as i32, a as i32, init as i32)
    );
    let v = b.assert_rejected("I2");
    assert_eq!(invariants_of(&v), ["I2", "I6"], "{v:?}");
    assert!(v.iter().any(|v| v.tgid == c as i32
        && v.kind
            == Kind::WrongList {
                owner_tgid: init as i32
            }));
    assert!(inj.to_string().starts_with("two-lists: "), "{inj}");
    assert!(inj.to_string().contains("expect I2"), "{inj}");
}

#[test]
fn mutant_cycle_loops_two_processes() {
    let (mut b, [init, _, a, _, c]) = small();
    let inj = b.inject(Mutant::Cycle).unwrap();
    // a's CABA becomes c, which a created: a -> c -> a.
    assert_eq!(
        (inj.tgid, inj.other, inj.was),
        (a as i32, c as i32, init as i32)
    );
    let v = b.assert_rejected("I3");
    // c started after a, so I7 comes with the loop; nothing else does.
    assert_eq!(invariants_of(&v), ["I3", "I7"], "{v:?}");
    assert!(v
        .iter()
        .any(|v| matches!(v.kind, Kind::Cycle { len: 2, .. })
            && [a as i32, c as i32].contains(&v.tgid)));
}

#[test]
fn mutant_foreign_ns_makes_up_a_namespace_when_there_is_one() {
    let (mut b, [_, _, a, x, c]) = small();
    let inj = b.inject(Mutant::ForeignNs).unwrap();
    // Leaves c (newest) and x: c's CABA becomes x, moved to a new namespace.
    assert_eq!(
        (inj.tgid, inj.other, inj.was),
        (c as i32, x as i32, a as i32)
    );
    assert!(inj.add_ns.is_some());
    let (_, v) = b.check();
    assert_eq!(v.len(), 1, "only the mutant: {v:?}");
    assert_eq!(v[0].tgid, c as i32);
    assert!(matches!(v[0].kind, Kind::ForeignNs { caba_tgid, .. } if caba_tgid == x as i32));
    assert!(inj.to_string().contains("made up"), "{inj}");
}

#[test]
fn mutant_foreign_ns_prefers_real_namespaces() {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    let ns1 = b.ns(INIT_NS);
    let inner = b.proc_in(init, ns1); // a container's init, a leaf
    let outer = b.proc(init); // born later, in the initial namespace
    b.assert_valid();
    let inj = b.inject(Mutant::ForeignNs).unwrap();
    assert_eq!((inj.tgid, inj.other), (outer as i32, inner as i32));
    assert_eq!(inj.add_ns, None);
    let (_, v) = b.check();
    assert_eq!(v.len(), 1, "only the mutant: {v:?}");
    assert!(matches!(
        v[0].kind,
        Kind::ForeignNs {
            caba_level: 1,
            level: 0,
            ..
        }
    ));
}

#[test]
fn mutants_need_processes_to_corrupt() {
    for m in [Mutant::TwoLists, Mutant::Cycle, Mutant::ForeignNs] {
        assert_eq!(Builder::new().inject(m), None, "{m:?}");
    }
}

#[test]
fn mutants_on_a_large_tree_report_their_invariant() {
    // A tree like a real system's: init, kthreadd and its leaves, shells,
    // and a few containers. Every mutant must show up as its invariant.
    for m in [Mutant::TwoLists, Mutant::Cycle, Mutant::ForeignNs] {
        let mut b = Builder::new();
        let init = b.proc(ROOT);
        let kthreadd = b.proc(ROOT);
        for _ in 0..50 {
            b.proc(kthreadd);
        }
        let mut last = init;
        for i in 0..200 {
            last = b.proc(if i % 3 == 0 { init } else { last });
            if i % 40 == 0 {
                let ns = b.ns(INIT_NS);
                let cinit = b.proc_in(last, ns);
                b.proc(cinit);
            }
        }
        b.assert_valid();
        let inj = b.inject(m).unwrap();
        let v = b.assert_rejected(m.invariant());
        assert!(
            v.iter().any(|v| v.invariant().contains(m.invariant())
                && (v.tgid == inj.tgid || v.tgid == inj.other)),
            "{m:?}: {inj}: {v:?}"
        );
    }
}

#[test]
fn namespaces_inserted_as_the_module_does_stay_sorted() {
    // The module inserts each new namespace at ns_position() while it walks;
    // the result must be what sort_ns() gives and what check() searches.
    let mut b = Builder::new();
    let mut ns = INIT_NS;
    let init = b.proc(ROOT);
    for _ in 0..40 {
        ns = b.ns(ns);
        b.proc_in(init, ns);
    }
    let mut inserted: Vec<Ns> = vec![];
    for i in 0..b.ns.len() {
        let n = b.ns[(i * 17) % b.ns.len()]; // 17 is prime to 41: every one, once
        match ns_position(&inserted, n.key) {
            Ok(_) => panic!("{n:?} twice"),
            Err(at) => inserted.insert(at, n),
        }
    }
    let mut sorted = b.ns.clone();
    sort_ns(&mut sorted);
    assert_eq!(inserted, sorted);
    b.ns = inserted;
    b.assert_valid();
}

/// init -> sh -> unshare -> sleep, the sleep alone in a new namespace and
/// the newest process, as when a test runs `unshare -pf sleep` first.
fn with_a_container() -> (Builder, [usize; 4]) {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    let kthreadd = b.proc(ROOT);
    b.proc(kthreadd);
    let sh = b.proc(init);
    let unshare = b.proc(sh);
    let ns1 = b.ns(INIT_NS);
    let sleep = b.proc_in(unshare, ns1);
    b.assert_valid();
    (b, [init, sh, unshare, sleep])
}

#[test]
fn mutant_cycle_stays_within_a_namespace() {
    let (mut b, [_, sh, unshare, _]) = with_a_container();
    let inj = b.inject(Mutant::Cycle).unwrap();
    // Not the sleep (its CABA is in another namespace): unshare, CABA sh.
    assert_eq!((inj.tgid, inj.other), (sh as i32, unshare as i32));
    let v = b.assert_rejected("I3");
    assert_eq!(invariants_of(&v), ["I3", "I7"], "{v:?}");
}

#[test]
fn mutant_foreign_ns_without_an_older_container_makes_one_up() {
    let (mut b, [_, _, _, sleep]) = with_a_container();
    let inj = b.inject(Mutant::ForeignNs).unwrap();
    assert!(inj.add_ns.is_some(), "{inj}");
    assert_eq!(inj.tgid, sleep as i32);
    let (_, v) = b.check();
    assert_eq!(v.len(), 1, "only the mutant: {v:?}");
    assert_eq!(v[0].invariant(), "I4");
}

#[test]
fn mutant_foreign_ns_uses_an_older_container() {
    let (mut b, [_, sh, _, sleep]) = with_a_container();
    let late = b.proc(sh); // a leaf in the initial namespace, born after the sleep
    let inj = b.inject(Mutant::ForeignNs).unwrap();
    assert_eq!(
        (inj.tgid, inj.other, inj.add_ns),
        (late as i32, sleep as i32, None)
    );
    let (_, v) = b.check();
    assert_eq!(v.len(), 1, "only the mutant: {v:?}");
    assert!(matches!(
        v[0].kind,
        Kind::ForeignNs {
            caba_level: 1,
            level: 0,
            ..
        }
    ));
}

// The v7 release: releasing nodes (released, tgid pid detached, still
// linked while release_task() moves their descendants in chunks).

/// init -> A -> X -> {D1..D5}, D5 -> E; X released with 2 of its 5
/// descendants (D1, D2) moved to A so far. Returns A, X, D5 (still on
/// X's list) and E.
fn releasing() -> (Builder, [usize; 4]) {
    let mut b = Builder::new();
    let init = b.proc(ROOT);
    let a = b.proc(init);
    let x = b.proc(a);
    let mut d5 = 0;
    for _ in 0..5 {
        d5 = b.proc(x);
    }
    let e = b.proc(d5);
    b.assert_valid();
    b.release(x, 2);
    assert_eq!(b.get(d5).caba, x);
    (b, [a, x, d5, e])
}

#[test]
fn releasing_node_is_valid() {
    let (b, [a, x, _, _]) = releasing();
    let s = b.assert_valid();
    // 9 present (init_task, init, A, D1..D5, E), 1 releasing; entries:
    // 8 present less init_task, and X on A's list.
    assert_eq!((s.processes, s.releasing, s.entries), (9, 1, 9));
    let moved = b.procs.iter().filter(|p| p.caba == a).count();
    let left = b.procs.iter().filter(|p| p.caba == x).count();
    assert_eq!((moved, left), (3, 3), "X itself and 2 moved; 3 left");
}

#[test]
fn releasing_chain_is_valid() {
    // X's CABA A is released too while X's walk runs: D under X under A,
    // each releasing, the effective CABA of the Ds is init.
    let (mut b, [a, _, _, _]) = releasing();
    b.release(a, 0);
    let s = b.assert_valid();
    assert_eq!(s.releasing, 2);
}

#[test]
fn releasing_node_on_a_releasing_list_is_valid() {
    // D5 is released while still on the list of releasing X.
    let (mut b, [_, _, d1, _]) = releasing();
    b.release(d1, 0);
    let s = b.assert_valid();
    assert_eq!(s.releasing, 2);
}

#[test]
fn releasing_node_with_an_empty_list_is_valid() {
    // X's last descendants were released between two of its chunks (each
    // left X's list), and X's next chunk, which unlinks it, has not run.
    let (mut b, [a, x, _, _]) = releasing();
    for e in b.entries.iter_mut().filter(|e| e.list == x) {
        e.list = a;
    }
    for p in b.procs.iter_mut().filter(|p| p.caba == x) {
        p.caba = a;
    }
    let s = b.assert_valid();
    assert_eq!(s.releasing, 1);
}

#[test]
fn i2_releasing_node_not_on_its_cabas_list() {
    let (mut b, [a, x, _, _]) = releasing();
    b.entries.retain(|e| !(e.member == x && e.list == a));
    let v = b.assert_rejected("I2");
    assert!(
        v.iter()
            .any(|v| v.node == x && v.kind == Kind::ReleasingNotListed { caba: a, times: 0 }),
        "{v:?}"
    );
    assert!(invariants_of(&v).contains(&"I6"), "one entry short: {v:?}");
}

#[test]
fn i2_releasing_node_without_caba() {
    let (mut b, [a, x, d1, _]) = releasing();
    b.get(x).caba = 0;
    b.entries.retain(|e| !(e.member == x && e.list == a));
    let v = b.assert_rejected("I2");
    assert!(
        v.iter()
            .any(|v| v.node == x && v.kind == Kind::ReleasingNoCaba),
        "{v:?}"
    );
    // And the processes left on X's list have lost their CABA (I1).
    assert!(
        v.iter()
            .any(|v| v.tgid == d1 as i32 && v.kind == Kind::CabaNotPresent { caba: x }),
        "{v:?}"
    );
}

#[test]
fn i1_effective_caba_released() {
    // X's CABA A finished its own release and is gone (unlinked, ->caba
    // NULL, freed), but X still points at it: X's descendants lead to a
    // released process.
    let (mut b, [a, x, d1, _]) = releasing();
    b.procs.retain(|p| p.key != a);
    b.entries.retain(|e| e.member != a && e.list != a);
    let v = b.assert_rejected("I1");
    assert!(
        v.iter()
            .any(|v| v.tgid == d1 as i32 && v.kind == Kind::CabaNotPresent { caba: a }),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|v| v.node == x
                && matches!(v.kind, Kind::ReleasingNotListed { caba, .. } if caba == a)),
        "{v:?}"
    );
}

#[test]
fn i1_present_process_whose_stored_caba_is_gone() {
    // A process left behind by the walk: its ->caba is a node that is
    // neither present nor releasing.
    let (mut b, [_, x, d1, _]) = releasing();
    b.get(d1).caba = 4242;
    b.entries.retain(|e| !(e.member == d1 && e.list == x));
    b.entries.push(Entry {
        list: 4242,
        member: d1,
    });
    let v = b.assert_rejected("I1");
    assert!(v
        .iter()
        .any(|v| v.tgid == d1 as i32 && v.kind == Kind::CabaNotPresent { caba: 4242 }));
}

#[test]
fn i3_loop_through_releasing_nodes() {
    let (mut b, [a, x, _, _]) = releasing();
    b.release(a, 0);
    // A's ->caba now points at X: A -> X -> A, neither reaches init_task.
    let init = b.get(a).caba;
    b.get(a).caba = x;
    for e in b
        .entries
        .iter_mut()
        .filter(|e| e.member == a && e.list == init)
    {
        e.list = x;
    }
    let v = b.assert_rejected("I3");
    assert!(v
        .iter()
        .any(|v| matches!(v.kind, Kind::Cycle { len: 2, .. }) && [a, x].contains(&v.node)));
}

#[test]
fn i7_checked_through_a_releasing_node() {
    // D5's stored ->caba is the releasing X, whose start time is unknown;
    // its effective CABA A started after it.
    let (mut b, [a, _, d1, _]) = releasing();
    b.get(a).start = 1000;
    let v = b.assert_rejected("I7");
    assert!(v.iter().any(|v| v.tgid == d1 as i32
        && matches!(v.kind, Kind::StartedLater { caba_tgid, .. } if caba_tgid == a as i32)));
}

#[test]
fn i4_checked_through_a_releasing_node() {
    // A in a namespace that the processes under X do not live below.
    let (mut b, [a, _, d1, _]) = releasing();
    let ns1 = b.ns(INIT_NS);
    b.get(a).ns = ns1;
    b.get(a).level = 1;
    let v = b.assert_rejected("I4");
    assert!(v.iter().any(|v| v.tgid == d1 as i32));
}

#[test]
fn i6_counts_releasing_nodes() {
    let (mut b, [_, x, d1, _]) = releasing();
    // D5 listed twice, on X's list: one entry too many.
    b.entries.push(Entry {
        list: x,
        member: d1,
    });
    let v = b.assert_rejected("I6");
    assert!(v.iter().any(|v| v.kind
        == Kind::Count {
            entries: 10,
            processes: 9
        }));
}

#[test]
fn mutants_leave_releasing_nodes_alone() {
    for m in [Mutant::TwoLists, Mutant::Cycle, Mutant::ForeignNs] {
        let (mut b, [_, x, _, _]) = releasing();
        let inj = b.inject(m).unwrap();
        assert!(inj.tgid != 0 && inj.other != 0, "{m:?}: {inj}");
        let v = b.assert_rejected(m.invariant());
        assert!(v.iter().all(|v| v.node != x), "{m:?}: {v:?}");
    }
}
