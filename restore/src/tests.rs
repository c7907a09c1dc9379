// SPDX-License-Identifier: GPL-2.0
//! Planner tests on the kernel model.

use crate::compare::{compare, fields};
use crate::dump::{Dump, Tree};
use crate::history::{complex_sessions, random, Shape};
use crate::plan::{simulate, Refusal};
use crate::{planner_caba, planner_nocaba};

fn tree_of(h: &crate::history::History) -> Tree {
    let d = h.world.dump(h.root).expect("dump");
    Tree::new(&d).unwrap_or_else(|e| panic!("model dump rejected: {e}\n{}", d.to_json()))
}

#[test]
fn complex_sessions_caba_planner_exact() {
    let h = complex_sessions();
    let t = tree_of(&h);
    let caba = |id| t.caba(id).unwrap();
    assert_eq!((caba(2), caba(4), caba(5), caba(7)), (1, 2, 4, 4));
    assert_eq!(t.p(7).ppid, 2);
    assert_eq!(t.p(7).sid_id(), 4);
    let plan = planner_caba::plan(&t).expect("caba plan");
    for op in &plan.ops {
        println!("{op}");
    }
    assert!(simulate(&t, &plan).unwrap().is_empty());
}

#[test]
fn complex_sessions_nocaba_planner_fails_like_criu() {
    let t = tree_of(&complex_sessions());
    match planner_nocaba::plan(&t) {
        Err(Refusal::Unrestorable(r)) => assert!(r.contains("Can't find a session leader for 4"), "{r}"),
        other => panic!("expected CRIU's refusal, got {other:?}"),
    }
}

#[test]
fn random_trees_caba_planner_always_exact() {
    let mut stats = (0, 0, 0);
    for seed in 0..3000u64 {
        let shape = Shape {
            root_is_init: seed % 3 != 0,
            ..Shape::small(10 + (seed % 40) as usize)
        };
        let h = random(seed, shape);
        let t = tree_of(&h);
        match planner_caba::plan(&t) {
            Ok(p) => {
                assert!(simulate(&t, &p).unwrap().is_empty());
                stats.0 += 1;
            }
            Err(Refusal::Unrestorable(r)) => {
                stats.1 += 1;
                println!("seed {seed}: unrestorable: {r}");
            }
            Err(e) => panic!("seed {seed}: {e}\n{}\n{:#?}", t.dump.to_json(), h.ops),
        }
        match planner_nocaba::plan(&t) {
            Ok(p) => match simulate(&t, &p) {
                Ok(d) if d.is_empty() => {}
                _ => stats.2 += 1,
            },
            Err(_) => stats.2 += 1,
        }
    }
    println!("caba ok {} unrestorable {}; nocaba not exact {}", stats.0, stats.1, stats.2);
}

#[test]
#[ignore]
fn show_seed() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let shape = Shape { root_is_init: seed % 3 != 0, ..Shape::small(10 + (seed % 40) as usize) };
    let h = random(seed, shape);
    for op in &h.ops { println!("H {op}"); }
    let t = tree_of(&h);
    for p in &t.dump.processes { println!("P {:?} ppid {} pgid {:?} sid {:?} caba {:?} z {}", p.pids, p.ppid, p.pgid, p.sid, p.caba, p.zombie); }
    let _ = (compare, fields, Dump::from_json);
    match planner_caba::plan(&t) { Ok(p) => for op in &p.ops { println!("C {op}"); }, Err(e) => println!("{e}") }
}
