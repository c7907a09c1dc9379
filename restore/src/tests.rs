// SPDX-License-Identifier: GPL-2.0
//! Planner tests on the kernel model.

use crate::dump::{Dump, Tree};
use crate::model::World;
use crate::plan::Op;
use crate::history::complex_sessions;
use crate::history::random::{random, Shape};
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
    let mut stats = (0, 0);
    let mut nocaba = (0, 0, 0);
    let mut nocaba_fields = std::collections::BTreeMap::new();
    for seed in 0..3000u64 {
        let shape = Shape {
            root_is_init: !seed.is_multiple_of(3),
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
                Ok(d) if d.is_empty() => nocaba.0 += 1,
                Ok(d) => {
                    nocaba.1 += 1;
                    for f in crate::compare::fields(&d) {
                        *nocaba_fields.entry(f).or_insert(0) += 1;
                    }
                }
                Err(_) => nocaba.2 += 1,
            },
            Err(_) => nocaba.2 += 1,
        }
    }
    println!("caba: exact {} unrestorable {}", stats.0, stats.1);
    println!(
        "nocaba: exact {} differs {} {:?} unrestorable {}",
        nocaba.0, nocaba.1, nocaba_fields, nocaba.2
    );
}


fn fork(a: i32, c: i32) -> Op {
    Op::Fork { actor: a, child: c, pids: vec![c], new_pidns: false, clone_parent: false }
}

fn world(ops: &[Op]) -> World {
    let mut w = World::new();
    w.apply(&Op::Fork { actor: 0, child: 1, pids: vec![1], new_pidns: true, clone_parent: false })
        .unwrap();
    for op in ops {
        w.apply(op).unwrap();
    }
    w
}

fn outcome(t: &Tree, planner: &str) -> String {
    let p = if planner == "caba" { planner_caba::plan(t) } else { planner_nocaba::plan(t) };
    match p {
        Ok(p) => match simulate(t, &p) {
            Ok(d) if d.is_empty() => "ok".into(),
            Ok(d) => format!("differs: {}", d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("; ")),
            Err(e) => format!("fails: {e}"),
        },
        Err(e) => e.to_string(),
    }
}

/// The selftests' chain_middle_dies_to_subreaper: A (subreaper) -> B -> C
/// -> D, C exits and stays a zombie, D goes to A. CRIU's rules fork D from
/// A: PPid right, CABA(D) = A instead of the zombie C.
#[test]
fn zombie_caba_nocaba_differs_caba_exact() {
    let w = world(&[
        fork(1, 2),
        Op::Subreaper { actor: 2, on: true },
        fork(2, 3),
        fork(3, 4),
        fork(4, 5),
        Op::Exit { actor: 4 },
    ]);
    let t = Tree::new(&w.dump(1).unwrap()).unwrap();
    assert_eq!((t.p(5).ppid, t.caba(5)), (2, Some(4)));
    assert_eq!(outcome(&t, "caba"), "ok");
    let n = outcome(&t, "nocaba");
    assert!(n.starts_with("differs") && n.contains("pid 5: caba"), "{n}");
}

#[test]
fn complex_sessions_plan_shape() {
    let t = tree_of(&complex_sessions());
    let p = planner_caba::plan(&t).unwrap();
    // P7 is created on P4's side through a helper that then exits with
    // P2 a subreaper for that moment.
    let h = p.ops.iter().find_map(|o| match o {
        Op::Fork { actor: 4, child, .. } if *child != 5 && *child != 7 => Some(*child),
        _ => None,
    });
    let h = h.expect("a helper forked by P4");
    assert!(p.ops.contains(&fork(h, 7)));
    let i = p.ops.iter().position(|o| *o == Op::Exit { actor: h }).unwrap();
    assert_eq!(p.ops[i - 1], Op::Subreaper { actor: 2, on: true });
    assert_eq!(p.ops[i + 1], Op::Reap { actor: 4, child: h });
    assert!(p.helpers.len() == 2, "{:?}", p.helpers);
}

#[test]
fn dead_session_leader_gets_a_helper_with_its_pid() {
    // 2 setsid, forks 3 and 4, exits and is reaped: session 2 has no leader.
    let w = world(&[
        fork(1, 2),
        Op::Setsid { actor: 2 },
        fork(2, 3),
        fork(2, 4),
        Op::Exit { actor: 2 },
        Op::Reap { actor: 1, child: 2 },
    ]);
    let t = Tree::new(&w.dump(1).unwrap()).unwrap();
    let p = planner_caba::plan(&t).unwrap();
    assert!(p.ops.contains(&Op::Setsid { actor: 2 }));
    assert!(p.helpers[&2].contains("session 2"));
    assert_eq!(outcome(&t, "nocaba"), "ok");
}

fn base() -> Dump {
    world(&[fork(1, 2), Op::Setsid { actor: 2 }, fork(2, 3)]).dump(1).unwrap()
}

#[test]
fn inconsistent_dumps_rejected() {
    assert!(Tree::new(&base()).is_ok());
    let bad = |f: &dyn Fn(&mut Dump), want: &str| {
        let mut d = base();
        f(&mut d);
        let e = Tree::new(&d).err().unwrap_or_else(|| panic!("accepted: {want}"));
        assert!(e.contains(want), "{e} !~ {want}");
    };
    bad(&|d| d.processes[2].pids = vec![2], "twice");
    bad(&|d| d.processes[2].ppid = 9, "not in the dump");
    bad(&|d| d.processes[1].zombie = true, "zombie");
    bad(&|d| d.processes[1].pgid = vec![1], "session leader");
    bad(&|d| d.processes[2].sid = vec![1], "spans sessions");
    bad(&|d| d.processes[2].caba = Some(vec![3]), "cycle");
    bad(&|d| d.processes[0].caba = Some(vec![2]), "own subtree");
    bad(&|d| d.processes[2].pgid = vec![2, 0], "columns");
    bad(&|d| d.processes.clear(), "no process");
    bad(&|d| d.processes[2].threads = vec![vec![3], vec![2]], "used twice");
    bad(&|d| d.processes[1].caba = None, "some processes only");
    // Consistent structure, but the parent is not on the CABA chain.
    let mut d = base();
    d.processes[2].caba = Some(vec![1]);
    d.processes[2].ppid = 2;
    let t = Tree::new(&d).unwrap();
    assert!(matches!(planner_caba::plan(&t), Err(Refusal::Inconsistent(r)) if r.contains("CABA chain")));
    // Session rules that only CABA can check.
    let mut d = base();
    d.processes[2].caba = Some(vec![1]); // 3 in session 2, but born from 1
    d.processes[2].ppid = 1;
    let t = Tree::new(&d).unwrap();
    assert!(matches!(planner_caba::plan(&t), Err(Refusal::Inconsistent(r)) if r.contains("leader")));
}

#[test]
fn no_caba_dump_refused_by_caba_planner() {
    let mut d = base();
    for p in &mut d.processes {
        p.caba = None;
    }
    let t = Tree::new(&d).unwrap();
    assert_eq!(planner_caba::plan(&t), Err(Refusal::NoCaba));
    assert!(planner_nocaba::plan(&t).is_ok());
}

/// A group inherited into a nested pid namespace from a dead leader (the
/// smallest tree refused before group helpers on the creator chain): 2
/// joins its own group, forks 3 with CLONE_NEWPID, dies and is reaped; 3's
/// group 2 has no pid in 3's namespace. A helper with pid 2 made by the
/// creator founds the group again.
#[test]
fn group_inherited_across_namespaces_from_dead_leader() {
    let w = world(&[
        fork(1, 2),
        Op::Setpgid { actor: 2, pgid: 2 },
        Op::Fork { actor: 2, child: 3, pids: vec![3, 1], new_pidns: true, clone_parent: false },
        Op::Exit { actor: 2 },
        Op::Reap { actor: 1, child: 2 },
    ]);
    let t = Tree::new(&w.dump(1).unwrap()).unwrap();
    assert_eq!(t.dump.processes.len(), 2);
    assert_eq!(outcome(&t, "caba"), "ok");
    let p = planner_caba::plan(&t).unwrap();
    assert!(p.helpers.get(&2).is_some_and(|why| why.contains("group 2")), "{:?}", p.helpers);
}

/// The smallest tree the CABA planner refuses, with its reason: a process
/// in a pid namespace whose init left the dumped subtree (2 setns()es into
/// the namespace of 5, whose parent 3 dies, so 5 goes to the init 1 that
/// the dump of the subtree of 2 does not hold).
#[test]
fn smallest_unrestorable() {
    let w = world(&[
        fork(1, 2),
        fork(2, 3),
        Op::Fork { actor: 3, child: 5, pids: vec![5, 1], new_pidns: true, clone_parent: false },
        Op::Setns { actor: 2, ns: 5 },
        Op::Fork { actor: 2, child: 6, pids: vec![6, 2], new_pidns: false, clone_parent: false },
        Op::Setns { actor: 2, ns: 1 },
        Op::Exit { actor: 3 },
        Op::Reap { actor: 2, child: 3 },
    ]);
    let t = Tree::new(&w.dump(2).unwrap()).unwrap();
    assert_eq!(t.dump.processes.len(), 2);
    match planner_caba::plan(&t) {
        Err(Refusal::Unrestorable(r)) => assert!(r.contains("whose init is not in the tree"), "{r}"),
        o => panic!("{o:?}"),
    }
    // Every random tree with a namespace init for root is restored.
    for seed in 0..3000u64 {
        let h = random(seed, Shape::small(6 + (seed % 30) as usize));
        let t = tree_of(&h);
        assert!(planner_caba::plan(&t).is_ok(), "seed {seed}");
    }
}

/// What the selftests' trees hold: a reader made by setns() from the root
/// into a nested namespace, a second child after unshare(), a main thread
/// that exited alone.
#[test]
fn setns_readers_unshare_and_zombie_leaders() {
    let w = world(&[
        fork(1, 2),
        Op::Subreaper { actor: 2, on: true },
        fork(2, 3),
        Op::Fork { actor: 3, child: 4, pids: vec![4, 1], new_pidns: true, clone_parent: false },
        // The reader: the root enters the namespace of 4 and forks.
        Op::Setns { actor: 2, ns: 4 },
        Op::Fork { actor: 2, child: 5, pids: vec![5, 2], new_pidns: false, clone_parent: false },
        Op::Setns { actor: 2, ns: 1 },
        // unshare(CLONE_NEWPID) in 6, then two children: the init, then 2.
        fork(2, 6),
        Op::Fork { actor: 6, child: 7, pids: vec![7, 1], new_pidns: true, clone_parent: false },
        Op::Setns { actor: 6, ns: 7 },
        Op::Fork { actor: 6, child: 8, pids: vec![8, 2], new_pidns: false, clone_parent: false },
        // 8's creator dies: 8 goes to the init of its namespace.
        Op::Exit { actor: 6 },
        Op::Reap { actor: 2, child: 6 },
        Op::Thread { actor: 3, tids: vec![9] },
        Op::LeaderExit { actor: 3 },
    ]);
    let t = Tree::new(&w.dump(1).unwrap()).unwrap();
    assert_eq!(t.p(5).nsinits, vec![1, 4]);
    assert_eq!(t.p(8).ppid, 2, "8 went to the subreaper above its creator, outside its namespace");
    assert!(t.p(3).leader_gone && t.p(3).threads == vec![vec![9]]);
    assert_eq!(outcome(&t, "caba"), "ok");
    let p = planner_caba::plan(&t).unwrap();
    assert!(p.ops.contains(&Op::Setns { actor: 2, ns: 4 }), "{:?}", p.ops);
    assert!(p.ops.contains(&Op::LeaderExit { actor: 3 }));
}

#[test]
fn thousand_processes_plan() {
    // `caba-restore gen --seed 1 --procs 1000`, the tree restored in the
    // VM for the README's timing, and its flat variant (--no-nested).
    for nested in [true, false] {
        let shape = Shape {
            steps: 6000,
            max_procs: 1000,
            nested_ns: nested,
            setns: nested,
            ..Shape::small(0)
        };
        let t = tree_of(&random(if nested { 1 } else { 7 }, shape));
        assert!(t.dump.processes.len() > 900, "{}", t.dump.processes.len());
        let p = planner_caba::plan(&t).unwrap_or_else(|e| panic!("{e}"));
        assert!(simulate(&t, &p).unwrap().is_empty());
    }
}

/// Print one random history, its dump and both plans:
/// CABA_SEED=N cargo test show_seed -- --ignored --nocapture
#[test]
#[ignore]
fn show_seed() {
    let seed: u64 = std::env::var("CABA_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut shape = Shape {
        root_is_init: !seed.is_multiple_of(3),
        ..Shape::small(10 + (seed % 40) as usize)
    };
    if let Some(procs) = std::env::var("CABA_PROCS").ok().and_then(|v| v.parse::<usize>().ok()) {
        // The shapes of big_random.
        shape = Shape { steps: procs * 5, max_procs: procs, ..shape };
    }
    if std::env::var_os("CABA_SMALL").is_some() {
        // The shapes of smallest_refused.
        shape.max_procs = 3 + (seed % 10) as usize;
        shape.steps = 6 + (seed % 40) as usize;
    }
    let h = random(seed, shape);
    for op in &h.ops {
        println!("{op}");
    }
    let t = tree_of(&h);
    for p in &t.dump.processes {
        println!(
            "{:?} ppid {} pgid {:?} sid {:?} caba {:?} z {} sr {} ns {:?}{}",
            p.pids, p.ppid, p.pgid, p.sid, p.caba, p.zombie, p.subreaper, t.ns[&p.id()],
            if p.leader_gone { " leader gone" } else { "" }
        );
    }
    for name in ["caba", "nocaba"] {
        let p = if name == "caba" { planner_caba::plan_unverified(&t) } else { planner_nocaba::plan(&t) };
        match p {
            Ok(p) => {
                println!("{name} plan:");
                for op in &p.ops {
                    println!("  {op}");
                }
                println!("  -> {:?}", simulate(&t, &p).map(|d| d.iter().map(|x| x.to_string()).collect::<Vec<_>>()));
            }
            Err(e) => println!("{name}: {e}"),
        }
    }
}

/// The smallest random trees each planner refuses, by reason:
/// cargo test smallest_refused -- --ignored --nocapture
#[test]
#[ignore]
fn smallest_refused() {
    let mut best: std::collections::BTreeMap<String, (usize, u64)> = Default::default();
    for seed in 0..40000u64 {
        let shape = Shape {
            root_is_init: !seed.is_multiple_of(3),
            max_procs: 3 + (seed % 10) as usize,
            ..Shape::small(6 + (seed % 40) as usize)
        };
        let h = random(seed, shape);
        let t = tree_of(&h);
        if let Err(Refusal::Unrestorable(r)) = planner_caba::plan(&t) {
            let key: String = r.chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).collect();
            let n = t.dump.processes.len();
            let e = best.entry(key).or_insert((n, seed));
            if n < e.0 {
                *e = (n, seed);
            }
        }
    }
    for (k, (n, seed)) in best {
        println!("{n} processes (seed {seed}): {k}");
    }
}

/// Bigger random trees, refusals and planner bugs by reason:
/// CABA_PROCS=60 CABA_COUNT=500 cargo test big_random -- --ignored --nocapture
#[test]
#[ignore]
fn big_random() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (procs, count, first) = (env("CABA_PROCS", 60), env("CABA_COUNT", 300), env("CABA_SEED", 0));
    let mut by: std::collections::BTreeMap<String, (usize, u64)> = Default::default();
    for seed in first..first + count {
        let shape = Shape {
            steps: procs as usize * 5,
            max_procs: procs as usize,
            root_is_init: !seed.is_multiple_of(3),
            ..Shape::small(0)
        };
        let t = tree_of(&random(seed, shape));
        let key = match planner_caba::plan(&t) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string().chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).take(150).collect(),
        };
        let e = by.entry(key).or_insert((0, seed));
        e.0 += 1;
    }
    for (k, (n, seed)) in by {
        println!("{n:5} (first seed {seed}): {k}");
    }
}

/// copy_pid_ns(): CLONE_NEWPID only where pid_for_children is the
/// caller's own namespace. Seed 251 of the selftests' generator: the
/// no-CABA planner made a namespace init from its parent after setns(),
/// which the kernel refused with EINVAL; the model now refuses it too, so
/// that planner reports the tree unrestorable instead of failing.
#[test]
fn clone_newpid_after_setns_is_refused() {
    let mut w = world(&[
        fork(1, 2),
        Op::Fork { actor: 2, child: 3, pids: vec![3, 1], new_pidns: true, clone_parent: false },
        Op::Setns { actor: 2, ns: 3 },
    ]);
    let e = w
        .apply(&Op::Fork { actor: 2, child: 4, pids: vec![4, 2, 1], new_pidns: true, clone_parent: false })
        .unwrap_err();
    assert!(e.contains("CLONE_NEWPID after setns"), "{e}");
    // Back in its own namespace, it may.
    w.apply(&Op::Setns { actor: 2, ns: 1 }).unwrap();
    w.apply(&Op::Fork { actor: 2, child: 5, pids: vec![5, 1], new_pidns: true, clone_parent: false }).unwrap();
}
