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

    fn get(&mut self, key: usize) -> &mut Proc {
        self.procs.iter_mut().find(|p| p.key == key).unwrap()
    }

    fn check(&self) -> (Summary, Vec<Violation>) {
        let mut procs = self.procs.clone();
        sort(&mut procs);
        let snap = Snapshot {
            root: ROOT,
            procs: &procs,
            entries: &self.entries,
            ns: &self.ns,
        };
        let mut scratch = vec![0u32; scratch_len(procs.len())];
        let mut found = vec![];
        let sum = check(&snap, &mut scratch, &mut |v| found.push(*v));
        (sum, found)
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
    b.assert_rejected("I3");
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
