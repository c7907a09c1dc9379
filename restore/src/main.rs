// SPDX-License-Identifier: GPL-2.0
//! caba-restore: dump a process tree (pids at every level, sessions,
//! groups, CABA, threads, zombies, subreapers) and re-create it in a new
//! pid namespace with clone3() and set_tid.

mod compare;
mod dump;
mod exec;
mod history;
mod model;
mod plan;
mod planner_caba;
mod planner_nocaba;
mod procdump;
mod stats;
mod sys;
#[cfg(test)]
mod tests;

use dump::{Dump, Tree};
use plan::{Plan, Refusal};
use procdump::CabaMode;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// --allow-no-caba: on a kernel without CABA, dump and compare the rest.
static ALLOW_NO_CABA: AtomicBool = AtomicBool::new(false);

const USAGE: &str = "\
usage:
  caba-restore dump --root PID [--subreapers PID,...] [-o FILE] [--allow-no-caba]
  caba-restore plan FILE [--planner caba|nocaba]
  caba-restore restore FILE [--planner caba|nocaba] [--check] [--until-signal]
  caba-restore roundtrip --root PID [--subreapers PID,...] [--planner caba|nocaba|both]
                         [--stats FILE] [--name NAME] [-o DUMP]
  caba-restore compare FILE FILE
  caba-restore stats FILE
  caba-restore demo complex-sessions [--model] [--planner P] [--stats FILE] [-o DUMP]
";

struct Args {
    pos: Vec<String>,
    opts: std::collections::BTreeMap<String, String>,
    flags: std::collections::BTreeSet<String>,
}

fn parse_args(v: &[String]) -> Result<Args, String> {
    const FLAGS: &[&str] = &[
        "--allow-no-caba",
        "--check",
        "--until-signal",
        "--model",
    ];
    let mut a = Args {
        pos: vec![],
        opts: Default::default(),
        flags: Default::default(),
    };
    let mut i = 0;
    while i < v.len() {
        let s = &v[i];
        if FLAGS.contains(&s.as_str()) {
            a.flags.insert(s.clone());
        } else if s.starts_with('-') {
            let val = v.get(i + 1).ok_or_else(|| format!("{s} needs a value"))?;
            a.opts.insert(s.clone(), val.clone());
            i += 1;
        } else {
            a.pos.push(s.clone());
        }
        i += 1;
    }
    Ok(a)
}

impl Args {
    fn opt(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(|s| s.as_str())
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.opt(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{k}: not a number: {v}")),
        }
    }
    fn pids(&self, k: &str) -> Result<Vec<i32>, String> {
        self.opt(k)
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse().map_err(|_| format!("{k}: bad pid {s}")))
            .collect()
    }
    fn planners(&self, default: &str) -> Result<Vec<&'static str>, String> {
        match self.opt("--planner").unwrap_or(default) {
            "caba" => Ok(vec!["caba"]),
            "nocaba" => Ok(vec!["nocaba"]),
            "both" => Ok(vec!["caba", "nocaba"]),
            p => Err(format!("unknown planner {p}")),
        }
    }
}

fn read_dump(path: &str) -> Result<Dump, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Dump::from_json(&text).map_err(|e| format!("{path}: {e}"))
}

fn make_plan(t: &Tree, planner: &str) -> Result<Plan, Refusal> {
    match planner {
        "caba" => planner_caba::plan(t),
        _ => planner_nocaba::plan(t),
    }
}

/// Outcome of one planner on one tree.
struct Outcome {
    planner: &'static str,
    outcome: &'static str,
    fields: Vec<&'static str>,
    reason: String,
    helpers: usize,
    ops: usize,
    plan_ms: f64,
    restore_ms: f64,
    total_ms: f64,
}

/// Plan, restore, dump the restored tree, compare, tear down.
fn run_one(d: &Dump, t: &Tree, planner: &'static str, verbose: bool) -> Outcome {
    let t0 = Instant::now();
    let mut o = Outcome {
        planner,
        outcome: "error",
        fields: vec![],
        reason: String::new(),
        helpers: 0,
        ops: 0,
        plan_ms: 0.0,
        restore_ms: 0.0,
        total_ms: 0.0,
    };
    let ms = |i: Instant| i.elapsed().as_secs_f64() * 1e3;
    let plan = make_plan(t, planner);
    o.plan_ms = ms(t0);
    let plan = match plan {
        Ok(p) => p,
        Err(Refusal::Unrestorable(r)) => {
            o.outcome = "unrestorable";
            o.reason = r;
            o.total_ms = ms(t0);
            return o;
        }
        Err(e) => {
            o.reason = e.to_string();
            o.total_ms = ms(t0);
            return o;
        }
    };
    o.helpers = plan.helpers.len();
    o.ops = plan.ops.len();
    if let Some(why) = exec::cannot_run_here(&plan) {
        o.outcome = "unrestorable";
        o.reason = format!("not here: {why}");
        o.total_ms = ms(t0);
        return o;
    }
    if planner == "nocaba" {
        if let Err(e) = plan::simulate(t, &plan) {
            o.outcome = "unrestorable";
            o.reason = format!("the restore would fail: {e}");
            o.total_ms = ms(t0);
            return o;
        }
    }
    let t1 = Instant::now();
    let mut restored = match exec::execute(&plan, exec::want_userns()) {
        Ok(r) => r,
        Err(e) => {
            o.reason = format!("restore failed: {e}");
            o.total_ms = ms(t0);
            return o;
        }
    };
    o.restore_ms = ms(t1);
    let got = restored.subreapers().and_then(|subs| {
        let root = restored.root_host_pid().ok_or("restored root lost")?;
        let mode = if d.has_caba() && !ALLOW_NO_CABA.load(Ordering::Relaxed) {
            CabaMode::Require
        } else {
            CabaMode::IfAvailable
        };
        procdump::dump(root, &subs, mode)
    });
    restored.teardown();
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            o.reason = format!("dump of the restored tree: {e}");
            o.total_ms = ms(t0);
            return o;
        }
    };
    let diffs = compare::compare(d, &got);
    if d.has_caba() && !got.has_caba() {
        o.reason = "CABA not compared: this kernel has none".into();
    }
    if verbose {
        for x in &diffs {
            println!("  {planner}: {x}");
        }
    }
    o.fields = compare::fields(&diffs);
    o.outcome = if diffs.is_empty() { "ok" } else { "differs" };
    o.total_ms = ms(t0);
    o
}

fn report(name: &str, d: &Dump, outs: &[Outcome], stats: Option<&str>) -> Result<(), String> {
    for o in outs {
        let extra = if o.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", o.reason)
        };
        let fields = if o.fields.is_empty() {
            String::new()
        } else {
            format!(" in {}", o.fields.join(","))
        };
        println!(
            "{name}: {}: {}{fields}{extra} ({} processes, {} helpers, {} ops, plan {:.1} ms, \
             restore {:.1} ms, total {:.1} ms)",
            o.planner,
            o.outcome,
            d.processes.len(),
            o.helpers,
            o.ops,
            o.plan_ms,
            o.restore_ms,
            o.total_ms
        );
    }
    if let Some(path) = stats {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        for o in outs {
            let line = serde_json::json!({
                "test": name,
                "planner": o.planner,
                "outcome": o.outcome,
                "fields": o.fields,
                "reason": o.reason,
                "processes": d.processes.len(),
                "helpers": o.helpers,
                "ops": o.ops,
                "plan_ms": o.plan_ms,
                "restore_ms": o.restore_ms,
                "total_ms": o.total_ms,
            });
            writeln!(f, "{line}").map_err(|e| format!("{path}: {e}"))?;
        }
    }
    Ok(())
}

/// Exit status of a roundtrip: 0 when the CABA planner (if run) restored
/// exactly or honestly refused; the no-CABA planner's differences are
/// recorded, not failures.
fn verdict(outs: &[Outcome]) -> i32 {
    let bad = outs.iter().any(|o| {
        o.outcome == "error" || (o.planner == "caba" && o.outcome == "differs")
    });
    bad as i32
}

fn roundtrip_dump(name: &str, d: &Dump, planners: &[&'static str], stats: Option<&str>) -> Result<i32, String> {
    let t = Tree::new(d).map_err(|e| format!("inconsistent dump: {e}"))?;
    let mut outs: Vec<Outcome> = vec![];
    for p in planners {
        outs.push(run_one(d, &t, p, true));
        if let Some(sig) = sys::interrupted() {
            return Err(format!("{name}: interrupted by signal {sig}; the restored tree is gone"));
        }
    }
    report(name, d, &outs, stats)?;
    Ok(verdict(&outs))
}

fn wait_for_teardown(until_signal: bool) -> Result<(), String> {
    // SAFETY: sigset manipulation on a local set, then signalfd on it.
    let sfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) < 0 {
            return Err("sigprocmask failed".into());
        }
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if sfd < 0 {
        return Err("signalfd failed".into());
    }
    let mut fds = vec![libc::pollfd {
        fd: sfd,
        events: libc::POLLIN,
        revents: 0,
    }];
    if !until_signal {
        fds.push(libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    loop {
        // SAFETY: valid pollfd array of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            return Ok(());
        }
        if fds.len() > 1 && fds[1].revents != 0 {
            let mut buf = [0u8; 256];
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                return Ok(());
            }
        }
    }
}

fn run(argv: &[String]) -> Result<i32, String> {
    let Some(cmd) = argv.first() else {
        return Err(USAGE.into());
    };
    let a = parse_args(&argv[1..])?;
    if a.flags.contains("--allow-no-caba") {
        ALLOW_NO_CABA.store(true, Ordering::Relaxed);
    }
    match cmd.as_str() {
        "dump" => {
            let root: i32 = a.num("--root", 0)?;
            let mode = if a.flags.contains("--allow-no-caba") {
                CabaMode::IfAvailable
            } else {
                CabaMode::Require
            };
            let d = procdump::dump(root, &a.pids("--subreapers")?, mode)?;
            Tree::new(&d).map_err(|e| format!("the dump is not self-consistent: {e}"))?;
            write_out(a.opt("-o"), &d.to_json())?;
            Ok(0)
        }
        "plan" => {
            let d = read_dump(a.pos.first().ok_or(USAGE)?)?;
            let t = Tree::new(&d).map_err(|e| format!("inconsistent dump: {e}"))?;
            let p = make_plan(&t, a.planners("caba")?[0]).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&p).map_err(|e| e.to_string())?);
            Ok(0)
        }
        "restore" => {
            let d = read_dump(a.pos.first().ok_or(USAGE)?)?;
            let t = Tree::new(&d).map_err(|e| format!("inconsistent dump: {e}"))?;
            let planner = a.planners("caba")?[0];
            if a.flags.contains("--check") {
                let o = run_one(&d, &t, planner, true);
                report("restore", &d, &[o], a.opt("--stats"))
                    .map(|_| 0)
                    .and(Ok(0))?;
                return Ok(0);
            }
            let t0 = Instant::now();
            let p = make_plan(&t, planner).map_err(|e| e.to_string())?;
            let r = exec::execute(&p, exec::want_userns())?;
            println!(
                "restored {} processes ({} helpers gone) in {:.1} ms; root is pid {} here; \
                 close stdin or send SIGTERM to tear down",
                d.processes.len(),
                p.helpers.len(),
                t0.elapsed().as_secs_f64() * 1e3,
                r.root_host_pid().unwrap_or(0)
            );
            let _ = std::io::stdout().flush();
            wait_for_teardown(a.flags.contains("--until-signal"))?;
            drop(r);
            Ok(0)
        }
        "roundtrip" => {
            let root: i32 = a.num("--root", 0)?;
            let planners = a.planners("both")?;
            let mode = if planners.contains(&"caba") && !a.flags.contains("--allow-no-caba") {
                CabaMode::Require
            } else {
                CabaMode::IfAvailable
            };
            let d = procdump::dump(root, &a.pids("--subreapers")?, mode)?;
            let name = a.opt("--name").map(String::from).unwrap_or_else(|| {
                std::env::var("CABA_HOOK_TEST").unwrap_or_else(|_| format!("root-{root}"))
            });
            if let Some(o) = a.opt("-o") {
                write_out(Some(o), &d.to_json())?;
            }
            roundtrip_dump(&name, &d, &planners, a.opt("--stats"))
        }
        "compare" => {
            let (x, y) = match a.pos.as_slice() {
                [x, y] => (read_dump(x)?, read_dump(y)?),
                _ => return Err(USAGE.into()),
            };
            let diffs = compare::compare(&x, &y);
            for d in &diffs {
                println!("{d}");
            }
            Ok((!diffs.is_empty()) as i32)
        }
        "stats" => {
            let path = a.pos.first().ok_or(USAGE)?;
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            print!("{}", stats::summary(&text)?);
            Ok(0)
        }
        "demo" => demo(&a),
        _ => Err(USAGE.into()),
    }
}

fn write_out(path: Option<&str>, text: &str) -> Result<(), String> {
    match path {
        Some(p) => std::fs::write(p, format!("{text}\n")).map_err(|e| format!("{p}: {e}")),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Build the spec's complex_sessions tree for real from its history (the
/// kernel computes its CABA), dump it, and roundtrip it. The trees the
/// restorer is measured on come from the selftests (their hook), not here. With --model, use the model's dump instead
/// (for kernels without CABA).
fn demo(a: &Args) -> Result<i32, String> {
    let what = a.pos.first().map(String::as_str).unwrap_or("complex-sessions");
    let planners = a.planners("both")?;
    let mut hs = vec![];
    match what {
        "complex-sessions" => hs.push(("complex-sessions".to_string(), history::complex_sessions())),
        _ => return Err(format!("unknown demo {what}")),
    }
    let mut status = 0;
    for (name, h) in hs {
        let d = if a.flags.contains("--model") {
            h.world.dump(h.root)?
        } else {
            let p = Plan {
                planner: "history".into(),
                root: h.root,
                helpers: Default::default(),
                ops: h.ops.clone(),
            };
            let mut real = exec::execute(&p, exec::want_userns())
                .map_err(|e| format!("{name}: building the tree: {e}"))?;
            let subs = real.subreapers()?;
            let root = real.root_host_pid().ok_or("history root lost")?;
            let d = procdump::dump(root, &subs, CabaMode::IfAvailable)?;
            let model = h.world.dump(h.root)?;
            for x in compare::compare(&model, &d) {
                println!("{name}: kernel and model disagree: {x}");
            }
            d
        };
        if let Some(o) = a.opt("-o") {
            write_out(Some(o), &d.to_json())?;
        }
        status |= roundtrip_dump(&name, &d, &planners, a.opt("--stats"))?;
    }
    Ok(status)
}

fn main() {
    exec::raise_fd_limit();
    sys::catch_termination();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("caba-restore: {e}");
            std::process::exit(2);
        }
    }
}
