// SPDX-License-Identifier: GPL-2.0
//! The tests: a few lines each, in the spirit of the spec's numbered steps.
//! After every step World::check() compares the kernel with the model; the
//! explicit assertions are the values the spec itself states. Each
//! function's name is its KTAP name.

use crate::look::{self, Pidfd};
use crate::model::State;
use crate::random;
use crate::status::Status;
use crate::sys;
use crate::world::{World, AUTOREAP, CLONE_PARENT, CLONE_VM, NEW_PID_NS, PLAIN, VFORK};
use crate::{ensure_eq, fail, need_nscaba, need_pidfd_caba, need_root, Failure, TestResult};

#[track_caller]
fn done(w: World) -> TestResult {
    Ok(w.done()?)
}

/// CABA(name) must be `caba`, as the spec states it: NScaba (root view)
/// names it at every level they share, and so does the pidfd.
#[track_caller]
fn expect_caba(w: &World, name: &str, caba: &str) -> Result<(), Failure> {
    let p = w.pid(name);
    let c = w.pid(caba);
    let want: Vec<i32> = (0..w.m.procs[p].nspid.len())
        .map(|l| {
            let ns = w.m.ns_at(w.m.procs[p].ns, l).expect("a level of p");
            w.m.pid_in(Some(c), ns)
        })
        .collect();
    let feat = crate::features();
    if feat.nscaba {
        let got = w.nscaba(name)?;
        if got != want {
            return Err(fail(format!(
                "NScaba({name}) is {got:?}, the spec says CABA({name}) = {caba}, i.e. {want:?}"
            )));
        }
    }
    if feat.pidfd_caba.is_ok() {
        let ino = if want[0] == 0 { 0 } else { w.ino(caba)? };
        expect_pidfd_caba(
            &w.pidfd(name),
            &format!("the pidfd of {name} (the spec says CABA({name}) = {caba})"),
            want[0],
            ino,
        )?;
    }
    Ok(())
}

/// A pidfd look that must report CABA `caba` (a pid in the looker's
/// namespace, 0 for none there) whose pidfs inode number is `ino` (0 with
/// caba 0); the looker's own pidfd_open(caba) must show the same inode.
#[track_caller]
fn expect_pidfd_caba(got: &Pidfd, what: &str, caba: i32, ino: u64) -> Result<(), Failure> {
    match *got {
        Pidfd::Info {
            mask,
            caba: c,
            caba_ino,
            caba_open,
            ..
        } if mask & sys::PIDFD_INFO_CABA != 0
            && c as i32 == caba
            && caba_ino == ino
            && (caba == 0 || caba_open == ino as i64) =>
        {
            Ok(())
        }
        ref other => Err(fail(format!(
            "{what}: got {other:?}, want PIDFD_INFO_CABA set, caba {caba}, caba_ino {ino}{}",
            if caba == 0 {
                String::new()
            } else {
                format!(" and st_ino {ino} from pidfd_open({caba}) (caba_open)")
            }
        ))),
    }
}

pub fn chain_middle_dies_to_subreaper() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.subreaper("A", true)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.spawn("C", "D", PLAIN)?;
    w.exit("C")?; // D goes to the subreaper A; CABA(D) stays C, a zombie
    expect_caba(&w, "D", "C")?;
    w.reap("C")?; // now CABA(D) = B
    expect_caba(&w, "D", "B")?;
    w.exit("B")?;
    w.reap("B")?;
    expect_caba(&w, "D", "A")?;
    done(w)
}

pub fn chain_middle_dies_to_pidns_init() -> TestResult {
    need_root("pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "I", NEW_PID_NS)?;
    w.spawn("I", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.spawn("C", "D", PLAIN)?;
    w.exit("B")?; // C goes to the namespace's init
    w.reap("B")?;
    expect_caba(&w, "C", "I")?;
    w.exit("C")?;
    w.reap("C")?;
    expect_caba(&w, "D", "I")?;
    done(w)
}

pub fn zombie_stays_caba_until_reaped() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    for c in ["C1", "C2", "C3"] {
        w.spawn("B", c, PLAIN)?;
    }
    w.spawn("C1", "G", PLAIN)?;
    w.exit("B")?;
    w.exit("C1")?; // a zombie's child becomes a zombie before anyone reaps
    expect_caba(&w, "C2", "B")?;
    expect_caba(&w, "G", "C1")?;
    w.reap("B")?; // C1, a zombie itself, is still CABA of G
    expect_caba(&w, "C2", "A")?;
    expect_caba(&w, "G", "C1")?;
    w.reap("C1")?;
    expect_caba(&w, "G", "A")?;
    done(w)
}

pub fn clone_parent() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", CLONE_PARENT)?; // a child of A, born of B
    expect_caba(&w, "C", "B")?;
    w.exit("B")?;
    w.reap("B")?;
    expect_caba(&w, "C", "A")?;
    done(w)
}

pub fn clone_parent_after_reparent() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.exit("B")?; // C is reparented to the root agent
    w.spawn("C", "D", CLONE_PARENT)?; // a sibling of C under the root agent
    expect_caba(&w, "D", "C")?;
    w.reap("B")?;
    w.spawn("C", "E", CLONE_PARENT)?;
    expect_caba(&w, "E", "C")?;
    w.exit("C")?;
    w.reap("C")?;
    expect_caba(&w, "D", "A")?;
    done(w)
}

pub fn thread_forks_then_exits() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.thread("A", "A.t")?;
    w.spawn("A.t", "B", PLAIN)?;
    w.thread_exit("A.t")?; // B's parent moves to A's leader: same process
    expect_caba(&w, "B", "A")?;
    w.spawn("B", "C", PLAIN)?;
    done(w)
}

pub fn thread_created_after_reparent() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.exit("B")?;
    w.thread("C", "C.t1")?; // a thread of a reparented process
    w.reap("B")?;
    w.thread("C", "C.t2")?;
    w.spawn("C.t2", "D", PLAIN)?;
    expect_caba(&w, "C", "A")?;
    expect_caba(&w, "D", "C")?;
    done(w)
}

pub fn exec_from_non_leader_thread() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.thread("B", "B.t1")?;
    w.exec("B.t1")?; // de_thread(): the thread becomes the leader
    expect_caba(&w, "B", "A")?;
    expect_caba(&w, "C", "B")?;
    w.exit("A")?;
    w.reap("A")?;
    w.thread("B", "B.t2")?;
    w.exec("B.t2")?;
    w.spawn("B", "D", PLAIN)?;
    expect_caba(&w, "D", "B")?;
    w.exit("B")?;
    w.reap("B")?;
    done(w)
}

/// The main thread exits alone; the other threads fork, exit, and the
/// last one ends the process.
pub fn zombie_leader_threads_fork() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.thread("B", "B.t1")?;
    w.thread("B", "B.t2")?;
    w.leader_exit("B")?; // a zombie leader; B lives on in its threads
    expect_caba(&w, "B", "A")?;
    w.spawn("B.t1", "C", PLAIN)?;
    expect_caba(&w, "C", "B")?;
    w.thread_exit("B.t1")?; // C's parent thread goes: C stays B's child
    w.spawn("B.t2", "D", PLAIN)?;
    w.exit("A")?;
    w.reap("A")?;
    expect_caba(&w, "B", "root")?;
    w.thread_exit("B.t2")?; // the last thread: B is a zombie now
    expect_caba(&w, "C", "B")?;
    w.reap("B")?;
    expect_caba(&w, "C", "root")?;
    expect_caba(&w, "D", "root")?;
    done(w)
}

/// CLONE_VM|CLONE_VFORK (vfork, posix_spawn) and CLONE_VM alone make
/// processes like any other.
pub fn vfork_and_clone_vm() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", VFORK)?;
    w.spawn("B", "C", CLONE_VM)?;
    w.thread("B", "B.t")?;
    w.spawn("B.t", "D", VFORK)?;
    w.spawn(
        "C",
        "E",
        crate::world::Flags {
            clone_parent: true,
            ..VFORK
        },
    )?;
    expect_caba(&w, "E", "C")?;
    w.exit("B")?;
    w.reap("B")?;
    expect_caba(&w, "C", "A")?;
    expect_caba(&w, "D", "A")?;
    done(w)
}

/// Release through ptrace: a traced zombie is its tracer's; when the
/// tracer exits, __ptrace_detach() releases it if its real parent
/// ignores SIGCHLD.
pub fn release_by_tracer_exit() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "T", PLAIN)?;
    w.spawn("T", "A", PLAIN)?;
    w.spawn("A", "P", PLAIN)?;
    w.spawn("P", "Q", PLAIN)?;
    w.ignore_sigchld("A", true)?;
    trace_or_skip(&mut w, "T", "P")?; // T is P's grandparent: Yama allows it
    w.exit("P")?; // traced: a zombie although A ignores SIGCHLD
    expect_caba(&w, "Q", "P")?;
    w.exit("T")?; // detaches P, which is released
    ensure_eq("P's state", w.m.procs[w.pid("P")].state, State::Released)?;
    expect_caba(&w, "Q", "A")?;
    done(w)
}

/// A tracer's wait() releases the tracee whose real parent does not want
/// it, and hands it back as a zombie to one that does.
pub fn release_by_tracer_wait() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "T", PLAIN)?;
    w.spawn("T", "A", PLAIN)?;
    w.spawn("A", "P", PLAIN)?;
    w.spawn("P", "Q", PLAIN)?;
    w.ignore_sigchld("A", true)?;
    trace_or_skip(&mut w, "T", "P")?;
    w.exit("P")?;
    expect_caba(&w, "Q", "P")?;
    ensure_eq("released by the tracer's wait", w.tracer_wait("P")?, true)?;
    expect_caba(&w, "Q", "A")?;
    w.spawn("T", "B", PLAIN)?;
    w.spawn("B", "P2", PLAIN)?;
    w.spawn("P2", "Q2", PLAIN)?;
    w.trace("T", "P2")?;
    w.exit("P2")?;
    ensure_eq("released by the tracer's wait", w.tracer_wait("P2")?, false)?;
    expect_caba(&w, "Q2", "P2")?; // a zombie of B's now
    w.reap("P2")?;
    expect_caba(&w, "Q2", "B")?;
    done(w)
}

fn trace_or_skip(w: &mut World, tracer: &str, tracee: &str) -> Result<(), Failure> {
    match w.trace(tracer, tracee) {
        Err(e) if e.contains("Operation not permitted") => Err(Failure::Skip(format!(
            "ptrace refused (Yama ptrace_scope?): {e}"
        ))),
        r => Ok(r?),
    }
}

/// SIGCHLD set to SIG_IGN: the kernel reaps a child at its exit, and a
/// zombie handed to such a reaper at once.
pub fn autoreap_sigchld_ignored() -> TestResult {
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.ignore_sigchld("A", true)?;
    w.exit("B")?; // released at once
    expect_caba(&w, "C", "A")?;
    w.subreaper("A", true)?;
    w.spawn("A", "D", PLAIN)?;
    w.ignore_sigchld("D", false)?; // inherited SIG_IGN, undone
    w.spawn("D", "E", PLAIN)?;
    w.spawn("E", "F", PLAIN)?;
    w.spawn("F", "G", PLAIN)?;
    w.exit("F")?; // E wants it: a zombie
    expect_caba(&w, "G", "F")?;
    w.exit("E")?; // F goes to the subreaper A, which releases it at once
    ensure_eq("F's state", w.m.procs[w.pid("F")].state, State::Released)?;
    expect_caba(&w, "G", "E")?;
    w.reap("E")?;
    expect_caba(&w, "G", "D")?;
    done(w)
}

/// CLONE_AUTOREAP (7.2): the child is released when it exits.
pub fn autoreap_clone_flag() -> TestResult {
    match sys::clone3_probe(sys::CLONE_AUTOREAP) {
        Err(e) if e.raw_os_error() == Some(sys::EINVAL) => {
            return Err(Failure::Skip("CLONE_AUTOREAP not supported".into()))
        }
        r => r.map_err(|e| fail(format!("clone3(CLONE_AUTOREAP): {e}")))?,
    }
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", AUTOREAP)?;
    w.spawn("B", "C", PLAIN)?;
    w.exit("B")?;
    ensure_eq("B's state", w.m.procs[w.pid("B")].state, State::Released)?;
    expect_caba(&w, "C", "A")?;
    done(w)
}

pub fn nested_pid_namespaces() -> TestResult {
    need_root("pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "I1", NEW_PID_NS)?;
    w.spawn("I1", "B", PLAIN)?;
    w.spawn("B", "I2", NEW_PID_NS)?;
    w.spawn("I2", "C", PLAIN)?;
    w.spawn("C", "D", PLAIN)?;
    w.subreaper("C", true)?;
    w.spawn("D", "E", PLAIN)?;
    w.exit("D")?; // orphaned inside I2's namespace, to the subreaper C there
    w.subreaper("C", false)?;
    w.reap("D")?;
    expect_caba(&w, "E", "C")?;
    w.exit("C")?;
    w.reap("C")?;
    expect_caba(&w, "E", "I2")?; // ... then to the namespace's init
    w.exit("E")?;
    w.reap("E")?;
    w.exit("I2")?;
    w.reap("I2")?;
    done(w)
}

pub fn setns_caba_outside_namespace() -> TestResult {
    need_root("pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "X", PLAIN)?;
    w.spawn("X", "I", NEW_PID_NS)?;
    w.setns("X", "I")?;
    w.spawn("X", "K", PLAIN)?; // lives in I's namespace, born of X outside it
    expect_caba(&w, "K", "X")?;
    w.spawn("K", "L", PLAIN)?;
    // X's children, I and K, go to X's subreaper in X's namespace level,
    // the root agent; CABA(K) becomes X's CABA, the root agent.
    w.exit("X")?;
    w.reap("X")?;
    expect_caba(&w, "K", "root")?;
    w.exit("K")?;
    w.reap("K")?;
    expect_caba(&w, "L", "root")?;
    done(w)
}

pub fn unshare_pid_ns_then_fork() -> TestResult {
    need_root("pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "Y", PLAIN)?;
    w.unshare_pid_ns("Y")?;
    w.spawn("Y", "Z", PLAIN)?; // init of the new namespace
    w.spawn("Z", "W", PLAIN)?;
    w.spawn("Y", "V", PLAIN)?;
    match w.exit("Z") {
        Err(e) if e.contains("namespace init") => {}
        r => {
            return Err(fail(format!(
                "the init of a namespace with processes left could exit: {r:?}"
            )))
        }
    }
    w.exit("W")?;
    w.reap("W")?;
    w.exit("V")?;
    w.reap("V")?;
    expect_caba(&w, "Z", "Y")?;
    done(w)
}

pub fn deepest_nesting_32_levels() -> TestResult {
    need_root("pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "L0", PLAIN)?;
    for level in 1..=32 {
        w.spawn(&format!("L{}", level - 1), &format!("L{level}"), NEW_PID_NS)?;
    }
    let st = Status::read(&format!("/proc/{}/status", w.root_pid("L32")))?;
    ensure_eq("NSpid columns of the level-32 process", st.nspid.len(), 33)?;
    if crate::features().nscaba {
        ensure_eq(
            "NScaba columns of the level-32 process",
            st.nscaba.map(|c| c.len()),
            Some(33),
        )?;
    }
    expect_caba(&w, "L32", "L31")?;
    w.spawn("L32", "M", PLAIN)?;
    w.exit("M")?;
    w.reap("M")?;
    done(w)
}

/// NScaba's columns follow the procfs, not the reader: a process in the
/// root namespace reading a procfs of a nested namespace sees that
/// namespace's columns, and a process in the nested namespace reading the
/// root's procfs sees every column.
pub fn procfs_of_another_namespace() -> TestResult {
    need_root("pid namespaces")?;
    need_nscaba()?;
    let mut w = World::new()?;
    w.spawn("root", "X", PLAIN)?;
    w.spawn("X", "I", NEW_PID_NS)?;
    w.spawn("I", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("B", "C", PLAIN)?;
    w.exit("B")?;
    w.reap("B")?;
    let (c, ns) = (w.pid("C"), w.m.procs[w.pid("I")].ns);
    // The runner reads I's procfs through the reader's mount namespace.
    let reader = w.reader_of("I").ok_or("no reader in I's namespace")?;
    let reader_pid = w.root_pid_of_reader(&reader);
    let path = format!(
        "/proc/{reader_pid}/root/proc/{}/status",
        w.m.pid_in(Some(c), ns)
    );
    let st = Status::read(&path)?;
    ensure_eq(
        &format!("NSpid of C in {path}"),
        st.nspid,
        w.m.expected_nspid(c, ns),
    )?;
    ensure_eq(
        &format!("NScaba of C in {path}"),
        st.nscaba,
        Some(w.m.expected_nscaba(c, ns)),
    )?;
    // A, inside I's namespace with the root's /proc, reads C there.
    let l = w.look_from("A", "/proc", &[w.root_pid("C")])?;
    let st = l[0].status.clone()?;
    ensure_eq(
        "NSpid of C in the root's procfs, read by A",
        st.nspid,
        w.m.expected_nspid(c, 0),
    )?;
    ensure_eq(
        "NScaba of C in the root's procfs, read by A",
        st.nscaba,
        Some(w.m.expected_nscaba(c, 0)),
    )?;
    expect_caba(&w, "C", "A")?;
    done(w)
}

/// The line's place and layout, from the root and from a nested procfs,
/// for processes and threads: right after NSsid, "NScaba:" then a tab
/// before each number, as many numbers as NSpid.
pub fn status_line_layout() -> TestResult {
    need_nscaba()?;
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.thread("A", "A.t")?;
    let mut files = vec![];
    let a = w.root_pid("A");
    files.push(format!("/proc/{a}/status"));
    for e in std::fs::read_dir(format!("/proc/{a}/task"))
        .map_err(|e| e.to_string())?
        .flatten()
    {
        files.push(format!(
            "/proc/{a}/task/{}/status",
            e.file_name().to_string_lossy()
        ));
    }
    if sys::is_root() {
        w.spawn("A", "I", NEW_PID_NS)?;
        w.spawn("I", "J", NEW_PID_NS)?;
        w.spawn("J", "K", PLAIN)?;
        files.push(format!("/proc/{}/status", w.root_pid("K")));
        let reader = w.reader_of("I").ok_or("no reader in I's namespace")?;
        let k_in_i = w.m.pid_in(Some(w.pid("K")), w.m.procs[w.pid("I")].ns);
        files.push(format!(
            "/proc/{}/root/proc/{k_in_i}/status",
            w.root_pid_of_reader(&reader)
        ));
    }
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        let lines: Vec<&str> = text.lines().collect();
        let sid = lines
            .iter()
            .position(|l| l.starts_with("NSsid:"))
            .ok_or(format!("{f}: no NSsid"))?;
        let pid = lines
            .iter()
            .find(|l| l.starts_with("NSpid:"))
            .ok_or(format!("{f}: no NSpid"))?;
        let caba = lines.get(sid + 1).copied().unwrap_or("");
        if !caba.starts_with("NScaba:\t") {
            return Err(fail(format!(
                "{f}: the line after NSsid is '{caba}', want 'NScaba:\\t...'"
            )));
        }
        let cols = |l: &str| {
            l.split_once(':')
                .map(|(_, r)| r.split('\t').skip(1).count())
                .unwrap_or(0)
        };
        ensure_eq(
            &format!("{f}: columns of '{caba}' and '{pid}'"),
            cols(caba),
            cols(pid),
        )?;
        let numbers_only = caba["NScaba:".len()..]
            .split('\t')
            .skip(1)
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !numbers_only || caba.ends_with(char::is_whitespace) {
            return Err(fail(format!(
                "{f}: '{caba:?}' is not 'NScaba:' and one tab before each number"
            )));
        }
        ensure_eq(
            &format!("{f}: NScaba lines"),
            lines.iter().filter(|l| l.starts_with("NScaba")).count(),
            1,
        )?;
    }
    let n = files.len();
    Ok(format!(
        "{n} status files have the line in place; {}",
        w.done()?
    ))
}

/// PF_KTHREAD in the flags of /proc/PID/stat (the Kthread line is new in
/// 7.2): a usermode helper also has kthreadd as parent (CLONE_PARENT from
/// a kworker), but is no kernel thread and has the kworker as CABA.
fn is_kthread(pid: i32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            rest.split_whitespace().nth(6)?.parse::<u64>().ok()
        })
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// init and kthreadd were made by init_task, the root of the tree, which
/// has no pid anywhere: their NScaba is 0, and so is the pidfd's CABA. The
/// kernel threads kthreadd makes have kthreadd as their CABA.
pub fn init_and_kthreadd() -> TestResult {
    need_root("reading init's and the kernel threads' CABA (ptrace access)")?;
    need_nscaba()?;
    let init = Status::read("/proc/1/status")?;
    ensure_eq(
        "NScaba of pid 1",
        init.nscaba.clone(),
        Some(vec![0; init.nspid.len()]),
    )?;
    let mut kthreads = 0;
    let kthreadd = Status::read("/proc/2/status")?;
    let is_kthreadd = std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd");
    if is_kthreadd {
        ensure_eq("NScaba of kthreadd (pid 2)", kthreadd.nscaba, Some(vec![0]))?;
        for e in std::fs::read_dir("/proc")
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(st) = Status::read(&format!("/proc/{pid}/status")) else {
                continue; // gone meanwhile
            };
            if st.ppid == 2 && is_kthread(pid) {
                ensure_eq(
                    &format!("NScaba of kernel thread {pid}"),
                    st.nscaba,
                    Some(vec![2]),
                )?;
                kthreads += 1;
            }
        }
    }
    let mut pidfds = 0;
    if crate::features().pidfd_caba.is_ok() {
        for pid in [1, 2].into_iter().take(if is_kthreadd { 2 } else { 1 }) {
            // CABA init_task: no pid anywhere, and no identity either.
            expect_pidfd_caba(
                &look::pidfd_info(pid, false),
                &format!("pidfd of pid {pid}"),
                0,
                0,
            )?;
            pidfds += 1;
        }
    }
    let w = World::new()?;
    Ok(format!(
        "pid 1{} show 0; {kthreads} kernel threads show kthreadd; {pidfds} pidfds; {}",
        if is_kthreadd { " and kthreadd" } else { "" },
        w.done()?
    ))
}

/// Another uid without capabilities sees zeros in NScaba and no CABA from
/// the pidfd (PIDFD_INFO_PID set, PIDFD_INFO_CABA clear), but its own
/// child's CABA; root sees everything (the check after every step).
pub fn access_other_uid_sees_zeros() -> TestResult {
    need_root("another uid")?;
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    w.spawn("root", "U", PLAIN)?;
    w.become_user("U", 65534)?;
    w.spawn("U", "V", PLAIN)?;
    let (b, u, v) = (w.root_pid("B"), w.root_pid("U"), w.root_pid("V"));
    let looks = w.look_from("U", "/proc", &[b, v])?;
    let st = looks[0].status.clone()?;
    ensure_eq("NSpid of root's B read by uid 65534", st.nspid, vec![b])?;
    if crate::features().nscaba {
        ensure_eq(
            "NScaba of root's B read by uid 65534",
            st.nscaba,
            Some(vec![0]),
        )?;
        ensure_eq(
            "NScaba of its own child V read by uid 65534",
            looks[1].status.clone()?.nscaba,
            Some(vec![u]),
        )?;
    }
    let mut pidfd = "pidfd not compared";
    if crate::features().pidfd_caba.is_ok() {
        expect_denied_pidfd(&looks[0].pidfd, "root's B", b)?;
        expect_pidfd_caba(
            &looks[1].pidfd,
            "pidfd of its own child V read by uid 65534",
            u,
            w.ino("U")?,
        )?;
        pidfd = "PIDFD_INFO_CABA clear for root's B, set for its own child";
    }
    expect_caba(&w, "B", "A")?;
    Ok(format!(
        "uid 65534 saw zeros for root's B and its own child's CABA; {pidfd}; {}",
        w.done()?
    ))
}

/// A denied pidfd caller is told so: the call succeeds with PIDFD_INFO_PID
/// and the right tgid, PIDFD_INFO_CABA clear, caba 0.
#[track_caller]
fn expect_denied_pidfd(got: &Pidfd, what: &str, tgid: i32) -> Result<(), Failure> {
    match *got {
        Pidfd::Info {
            mask,
            caba: 0,
            caba_ino: 0,
            tgid: t,
            ..
        } if mask & sys::PIDFD_INFO_PID != 0
            && mask & sys::PIDFD_INFO_CABA == 0
            && t as i32 == tgid =>
        {
            Ok(())
        }
        ref other => Err(fail(format!(
            "pidfd of {what} read by uid 65534: {other:?}, want success with PIDFD_INFO_PID set, \
             tgid {tgid}, PIDFD_INFO_CABA clear, caba 0 and caba_ino 0"
        ))),
    }
}

/// An unprivileged reader of processes in a nested namespace: every column
/// 0, as many as NSpid has, and no CABA from the pidfd.
pub fn access_other_uid_nested_namespace() -> TestResult {
    need_root("another uid and pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "X", PLAIN)?;
    w.spawn("X", "I", NEW_PID_NS)?;
    w.spawn("I", "J", NEW_PID_NS)?;
    w.spawn("J", "K", PLAIN)?;
    w.spawn("root", "U", PLAIN)?;
    w.become_user("U", 65534)?;
    for name in ["I", "J", "K"] {
        let pid = w.root_pid(name);
        let l = w.look_from("U", "/proc", &[pid])?.remove(0);
        let st = l.status.clone()?;
        let cols = w.m.procs[w.pid(name)].nspid.len();
        ensure_eq(
            &format!("NSpid of {name} read by uid 65534"),
            st.nspid.clone(),
            w.m.procs[w.pid(name)].nspid.clone(),
        )?;
        if crate::features().nscaba {
            ensure_eq(
                &format!("NScaba of {name} read by uid 65534"),
                st.nscaba,
                Some(vec![0; cols]),
            )?;
        }
        if crate::features().pidfd_caba.is_ok() {
            expect_denied_pidfd(&l.pidfd, name, pid)?;
        }
    }
    done(w)
}

/// PIDFD_INFO_CABA is in supported_mask, returned only when asked for;
/// callers with the VER3 struct get what they got before.
pub fn pidfd_info_caba_supported() -> TestResult {
    need_pidfd_caba()?;
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "B", PLAIN)?;
    let (a, b) = (w.root_pid("A"), w.root_pid("B"));
    let fd = sys::pidfd_open(b, false).map_err(|e| format!("pidfd_open(B): {e}"))?;
    let info = sys::pidfd_get_info(&fd, sys::PIDFD_INFO_CABA).map_err(|e| e.to_string())?;
    ensure_eq(
        "PIDFD_INFO_CABA when asked for",
        info.mask & sys::PIDFD_INFO_CABA,
        sys::PIDFD_INFO_CABA,
    )?;
    ensure_eq("caba of B", info.caba as i32, a)?;
    ensure_eq(
        "caba_ino of B (st_ino of a pidfd of A)",
        info.caba_ino,
        w.ino("A")?,
    )?;
    let info = sys::pidfd_get_info(&fd, 0).map_err(|e| e.to_string())?;
    ensure_eq(
        "PIDFD_INFO_CABA when not asked for",
        info.mask & sys::PIDFD_INFO_CABA,
        0,
    )?;
    ensure_eq("caba when not asked for", info.caba, 0)?;
    ensure_eq("caba_ino when not asked for", info.caba_ino, 0)?;
    let old = sys::pidfd_get_info_ver3(&fd, 0)
        .map_err(|e| format!("PIDFD_GET_INFO with the VER3 size: {e}"))?;
    ensure_eq(
        "PIDFD_INFO_PID with the VER3 size",
        old.mask & sys::PIDFD_INFO_PID,
        sys::PIDFD_INFO_PID,
    )?;
    ensure_eq(
        "PIDFD_INFO_CABA with the VER3 size",
        old.mask & sys::PIDFD_INFO_CABA,
        0,
    )?;
    ensure_eq("tgid with the VER3 size", old.tgid as i32, b)?;
    // A struct too small for the field gets no bit for it, asked or not.
    let old = sys::pidfd_get_info_ver3(&fd, sys::PIDFD_INFO_CABA)
        .map_err(|e| format!("PIDFD_GET_INFO with the VER3 size asking for CABA: {e}"))?;
    ensure_eq(
        "PIDFD_INFO_CABA asked for with the VER3 size",
        old.mask & sys::PIDFD_INFO_CABA,
        0,
    )?;
    done(w)
}

/// A pidfd pins a process, not its CABA: while it is a zombie it reports
/// its CABA; once released, ESRCH, or with PIDFD_INFO_EXIT the exit
/// status and PIDFD_INFO_CABA clear.
pub fn pidfd_held_across_release() -> TestResult {
    need_pidfd_caba()?;
    let mut w = World::new()?;
    w.spawn("root", "A", PLAIN)?;
    w.spawn("A", "X", PLAIN)?;
    w.spawn("X", "Y", PLAIN)?;
    let (a, x) = (w.root_pid("A"), w.root_pid("X"));
    let fd = sys::pidfd_open(x, false).map_err(|e| format!("pidfd_open(X): {e}"))?;
    let tfd = sys::pidfd_open(x, true).map_err(|e| format!("pidfd_open(X, PIDFD_THREAD): {e}"))?;
    w.exit("X")?;
    for (what, fd) in [("pidfd", &fd), ("PIDFD_THREAD pidfd", &tfd)] {
        let info = sys::pidfd_get_info(fd, sys::PIDFD_INFO_CABA)
            .map_err(|e| format!("zombie X, {what}: {e}"))?;
        ensure_eq(
            &format!("zombie X, {what}: PIDFD_INFO_CABA"),
            info.mask & sys::PIDFD_INFO_CABA,
            sys::PIDFD_INFO_CABA,
        )?;
        ensure_eq(&format!("zombie X, {what}: caba"), info.caba as i32, a)?;
        ensure_eq(
            &format!("zombie X, {what}: caba_ino (st_ino of a pidfd of A)"),
            info.caba_ino,
            w.ino("A")?,
        )?;
    }
    w.reap("X")?;
    let r = sys::pidfd_get_info(&fd, sys::PIDFD_INFO_CABA);
    ensure_eq(
        "released X, PIDFD_GET_INFO(PIDFD_INFO_CABA)",
        r.map(|i| i.mask).map_err(|e| e.raw_os_error()),
        Err(Some(sys::ESRCH)),
    )?;
    let info = sys::pidfd_get_info(&fd, sys::PIDFD_INFO_CABA | sys::PIDFD_INFO_EXIT)
        .map_err(|e| format!("released X, PIDFD_GET_INFO(PIDFD_INFO_CABA|PIDFD_INFO_EXIT): {e}"))?;
    ensure_eq(
        "released X with PIDFD_INFO_EXIT: PIDFD_INFO_EXIT",
        info.mask & sys::PIDFD_INFO_EXIT,
        sys::PIDFD_INFO_EXIT,
    )?;
    ensure_eq(
        "released X with PIDFD_INFO_EXIT: PIDFD_INFO_CABA",
        info.mask & sys::PIDFD_INFO_CABA,
        0,
    )?;
    ensure_eq("released X with PIDFD_INFO_EXIT: caba", info.caba, 0)?;
    ensure_eq(
        "released X with PIDFD_INFO_EXIT: caba_ino",
        info.caba_ino,
        0,
    )?;
    expect_caba(&w, "Y", "A")?;
    done(w)
}

/// From inside a namespace, a CABA outside it is 0 with PIDFD_INFO_CABA
/// set (not "denied"); one inside is its pid there.
pub fn pidfd_caba_outside_namespace_is_zero() -> TestResult {
    need_root("pid namespaces")?;
    need_pidfd_caba()?;
    let mut w = World::new()?;
    w.spawn("root", "X", PLAIN)?;
    w.spawn("X", "I", NEW_PID_NS)?;
    w.setns("X", "I")?;
    w.spawn("X", "K", PLAIN)?; // in I's namespace, CABA X outside it
    w.spawn("K", "L", PLAIN)?;
    let reader = w.reader_of("I").ok_or("no reader in I's namespace")?;
    let ns = w.m.procs[w.pid("I")].ns;
    let k_ino = w.ino("K")?;
    for (name, caba, ino) in [
        ("I", 0, 0),
        ("K", 0, 0),
        ("L", w.m.pid_in(Some(w.pid("K")), ns), k_ino),
    ] {
        let pid = w.m.pid_in(Some(w.pid(name)), ns);
        let l = w.look_from(&reader, "/proc", &[pid])?.remove(0);
        expect_pidfd_caba(
            &l.pidfd,
            &format!("pidfd of {name} (pid {pid} in I's namespace) read there"),
            caba,
            ino,
        )?;
    }
    done(w)
}

/// 1,000 CABA-descendants move at once when their CABA is reaped.
pub fn release_1000_descendants() -> TestResult {
    need_nscaba()?;
    let n = 1000;
    let mut w = World::new()?;
    w.spawn("root", "X", PLAIN)?;
    let kids: Vec<i32> = w
        .ask("X", &format!("holders {n}"))?
        .split_whitespace()
        .map(|p| p.parse().map_err(|_| format!("bad pid '{p}'")))
        .collect::<Result<_, String>>()?;
    ensure_eq("children made", kids.len(), n)?;
    let all_caba = |want: i32, when: &str| -> Result<(), Failure> {
        let wrong: Vec<String> = kids
            .iter()
            .filter_map(|k| match Status::read(&format!("/proc/{k}/status")) {
                Ok(st) if st.nscaba == Some(vec![want]) => None,
                Ok(st) => Some(format!("{k}: {:?}", st.nscaba)),
                Err(e) => Some(e),
            })
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(fail(format!(
                "{when}: {} of {n} children do not show NScaba [{want}], e.g. {:?}",
                wrong.len(),
                &wrong[..wrong.len().min(5)]
            )))
        }
    };
    let (x, root) = (w.root_pid("X"), w.root_pid("root"));
    all_caba(x, "X alive")?;
    w.exit("X")?;
    all_caba(x, "X a zombie, its children with the root agent")?; // still their CABA
    let reap_us = w.reap("X")?;
    all_caba(root, "X reaped")?;
    Ok(format!(
        "{n} CABA-descendants moved; the reap took {reap_us} us; {}",
        w.done()?
    ))
}

/// What the racing readers found wrong.
#[derive(Default, Debug)]
struct Wrong {
    zero: usize,
    third: usize,
    backwards: usize,
    columns: usize,
    bit_clear: usize,
    unreadable: usize,
    /// pidfd reads whose caba_ino is not the identity of the CABA named.
    ino: usize,
    /// Targets whose NScaba is not the top once the chain is gone.
    at_end: usize,
    examples: Vec<String>,
}

impl Wrong {
    fn total(&self) -> usize {
        self.zero
            + self.third
            + self.backwards
            + self.columns
            + self.bit_clear
            + self.unreadable
            + self.ino
            + self.at_end
    }

    fn add(&mut self, o: Wrong) {
        self.zero += o.zero;
        self.third += o.third;
        self.backwards += o.backwards;
        self.columns += o.columns;
        self.bit_clear += o.bit_clear;
        self.unreadable += o.unreadable;
        self.ino += o.ino;
        self.at_end += o.at_end;
        for e in o.examples {
            if self.examples.len() < 8 {
                self.examples.push(e);
            }
        }
    }

    fn note(&mut self, e: String) {
        if self.examples.len() < 8 {
            self.examples.push(e);
        }
    }

    fn describe(&self) -> String {
        format!(
            "wrong: {} (zero {}, third process {}, backwards {}, columns disagree {}, \
             pidfd bit clear {}, unreadable {}, caba_ino not the CABA's {}, \
             not the final CABA at the end {})",
            self.total(),
            self.zero,
            self.third,
            self.backwards,
            self.columns,
            self.bit_clear,
            self.unreadable,
            self.ino,
            self.at_end
        )
    }
}

/// One read of a racing target, against the chain of CABAs it walks up.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// The CABA at this place of the chain, not below the last one read.
    Ok(usize),
    Backwards,
    Zero,
    /// The first column names a chain member, another column does not.
    Columns,
    Third,
}

/// Classify `got` (every column of NScaba, or the pidfd's one number with
/// `first_only`) against `chain` (oldest CABA first, each with all its
/// columns), given the place `last` read before.
fn classify(chain: &[Vec<i32>], last: usize, got: &[i32], first_only: bool) -> Read {
    let pos = chain.iter().position(|m| {
        if first_only {
            m[0] == got[0]
        } else {
            *m == got
        }
    });
    match pos {
        Some(p) if p >= last => Read::Ok(p),
        Some(_) => Read::Backwards,
        None if got.iter().all(|&n| n == 0) => Read::Zero,
        None if chain.iter().any(|m| m[0] == got[0]) => Read::Columns,
        None => Read::Third,
    }
}

/// What the racing readers share: the targets, each with the chain of
/// CABAs it may show (oldest first: the CABA before the releases, then
/// each one that the releases make it, the last one the CABA at the end),
/// and the flags the runner sets.
struct Race {
    /// Per chain: its members, each with all its NScaba columns.
    chains: Vec<Vec<Vec<i32>>>,
    /// Per chain: each member's pidfs inode number (0: not checked).
    inos: Vec<Vec<u64>>,
    /// Each target: its pid in the root namespace, its chain.
    targets: Vec<(i32, usize)>,
    stop: std::sync::atomic::AtomicBool,
    /// Set while the release under test runs (its reap is in flight).
    during: std::sync::atomic::AtomicBool,
}

impl Race {
    fn new(chains: Vec<Vec<Vec<i32>>>, inos: Vec<Vec<u64>>, targets: Vec<(i32, usize)>) -> Race {
        Race {
            chains,
            inos,
            targets,
            stop: false.into(),
            during: false.into(),
        }
    }

    /// Readers of NScaba (two) and of the pidfd CABA (one, where the
    /// kernel has it), started at once; join them with `Race::join`.
    fn start(race: &std::sync::Arc<Race>) -> Vec<std::thread::JoinHandle<Reads>> {
        let pidfd = crate::features().pidfd_caba.is_ok();
        [false, false, true]
            .into_iter()
            .filter(|&p| !p || pidfd)
            .map(|p| {
                let race = race.clone();
                std::thread::spawn(move || race_reader(p, &race))
            })
            .collect()
    }

    fn join(
        race: &std::sync::Arc<Race>,
        readers: Vec<std::thread::JoinHandle<Reads>>,
    ) -> Result<Reads, Failure> {
        race.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut all = Reads::new(race);
        for r in readers {
            all.add(r.join().map_err(|_| "reader thread panicked")?);
        }
        Ok(all)
    }
}

/// What readers did.
#[derive(Default)]
struct Reads {
    nscaba: usize,
    pidfd: usize,
    /// Reads made while `Race::during` was set.
    during: usize,
    /// Per chain, per member: the reads that named it, in all and while
    /// `Race::during` was set.
    seen: Vec<Vec<usize>>,
    seen_during: Vec<Vec<usize>>,
    /// Every read that named a member of its chain: CLOCK_MONOTONIC before
    /// and after it (sys::monotonic_ns()), its chain, the member.
    times: Vec<(u64, u64, usize, usize)>,
    wrong: Wrong,
}

impl Reads {
    fn new(race: &Race) -> Reads {
        let zeros: Vec<Vec<usize>> = race.chains.iter().map(|c| vec![0; c.len()]).collect();
        Reads {
            seen: zeros.clone(),
            seen_during: zeros,
            ..Reads::default()
        }
    }

    fn add(&mut self, o: Reads) {
        self.nscaba += o.nscaba;
        self.pidfd += o.pidfd;
        self.during += o.during;
        for (mine, theirs) in [
            (&mut self.seen, o.seen),
            (&mut self.seen_during, o.seen_during),
        ] {
            for (m, t) in mine.iter_mut().zip(theirs) {
                for (a, b) in m.iter_mut().zip(t) {
                    *a += b;
                }
            }
        }
        self.times.extend(o.times);
        self.wrong.add(o.wrong);
    }

    /// The reads that overlapped one of `spans` (start and end, in
    /// sys::monotonic_ns()), and per chain, per member, how many of those
    /// named it.
    fn within(&self, spans: &[(u64, u64)]) -> (usize, Vec<Vec<usize>>) {
        let mut seen: Vec<Vec<usize>> = self.seen.iter().map(|c| vec![0; c.len()]).collect();
        let mut n = 0;
        for &(t0, t1, ci, p) in &self.times {
            if spans.iter().any(|&(s, e)| t1 >= s && t0 <= e) {
                n += 1;
                seen[ci][p] += 1;
            }
        }
        (n, seen)
    }
}

/// One reader thread: loop over the targets until told to stop, classify
/// every read against the target's chain (old or new CABA, never back,
/// never 0, never a third process, every column right; through the pidfd,
/// also the identity: caba_ino is the inode number of the member named).
fn race_reader(use_pidfd: bool, race: &Race) -> Reads {
    use std::sync::atomic::Ordering::Relaxed;
    let mut r = Reads::new(race);
    let mut last = vec![0; race.targets.len()];
    let fds: Vec<_> = race
        .targets
        .iter()
        .map(|&(c, _)| sys::pidfd_open(c, false).ok())
        .collect();
    while !race.stop.load(Relaxed) {
        for (i, &(c, ci)) in race.targets.iter().enumerate() {
            let chain = &race.chains[ci];
            let during = race.during.load(Relaxed);
            r.during += during as usize;
            let mut ino = None;
            let t0 = sys::monotonic_ns();
            let (got, src): (Vec<i32>, &str) = if use_pidfd {
                r.pidfd += 1;
                match fds[i]
                    .as_ref()
                    .map(|fd| sys::pidfd_get_info(fd, sys::PIDFD_INFO_CABA))
                {
                    Some(Ok(info)) if info.mask & sys::PIDFD_INFO_CABA != 0 => {
                        ino = Some(info.caba_ino);
                        (vec![info.caba as i32], "pidfd")
                    }
                    Some(Ok(info)) => {
                        r.wrong.bit_clear += 1;
                        r.wrong.note(format!(
                            "pid {c}: pidfd PIDFD_INFO_CABA clear (mask {:#x})",
                            info.mask
                        ));
                        continue;
                    }
                    other => {
                        r.wrong.unreadable += 1;
                        r.wrong
                            .note(format!("pid {c}: pidfd {:?}", other.map(|r| r.map(|_| ()))));
                        continue;
                    }
                }
            } else {
                r.nscaba += 1;
                match Status::read(&format!("/proc/{c}/status")) {
                    Ok(Status {
                        nscaba: Some(v), ..
                    }) => (v, "NScaba"),
                    other => {
                        r.wrong.unreadable += 1;
                        r.wrong
                            .note(format!("pid {c}: {:?}", other.map(|s| s.nscaba)));
                        continue;
                    }
                }
            };
            let t1 = sys::monotonic_ns();
            match classify(chain, last[i], &got, use_pidfd) {
                Read::Ok(p) => {
                    last[i] = p;
                    r.times.push((t0, t1, ci, p));
                    r.seen[ci][p] += 1;
                    if during {
                        r.seen_during[ci][p] += 1;
                    }
                    let want = race.inos[ci][p];
                    if let Some(ino) = ino.filter(|&ino| want != 0 && ino != want) {
                        r.wrong.ino += 1;
                        r.wrong.note(format!(
                            "pid {c}: pidfd caba {} with caba_ino {ino}, want {want} \
                             (the inode number of that CABA)",
                            got[0]
                        ));
                    }
                }
                Read::Backwards => {
                    r.wrong.backwards += 1;
                    r.wrong
                        .note(format!("pid {c}: {src} {got:?} went back down the chain"));
                }
                Read::Zero => {
                    r.wrong.zero += 1;
                    r.wrong.note(format!("pid {c}: {src} {got:?}"));
                }
                Read::Columns => {
                    r.wrong.columns += 1;
                    r.wrong
                        .note(format!("pid {c}: {src} {got:?}: the columns disagree"));
                }
                Read::Third => {
                    r.wrong.third += 1;
                    r.wrong.note(format!(
                        "pid {c}: {src} {got:?}: not on the chain {chain:?}"
                    ));
                }
            }
        }
    }
    r
}

/// The pidfs inode number of the process `pid` (root namespace), 0 where
/// the pidfd CABA is not checked.
fn ino_of(pid: i32) -> Result<u64, Failure> {
    if crate::features().pidfd_caba.is_err() {
        return Ok(0);
    }
    let fd = sys::pidfd_open(pid, false).map_err(|e| format!("pidfd_open({pid}): {e}"))?;
    Ok(sys::pidfd_ino(&fd).map_err(|e| format!("fstat of a pidfd of {pid}: {e}"))?)
}

/// Readers loop on NScaba (and the pidfd CABA) of C while C's CABA is
/// released again and again; every wrong read is counted. As root the
/// chain lives in a nested namespace, so that every read has two columns.
pub fn racing_readers() -> TestResult {
    need_nscaba()?;
    let (rounds, depth, targets) = (4, 40, 4);
    let nested = sys::is_root();
    let mut w = World::new()?;
    if nested {
        w.spawn("root", "X", NEW_PID_NS)?;
    } else {
        w.spawn("root", "X", PLAIN)?;
        w.subreaper("X", true)?;
    }
    let top = w.m.procs[w.pid("X")].nspid.clone();
    let mut reads = Reads::default();
    for _ in 0..rounds {
        let report = w.ask("X", &format!("chain {depth} {targets}"))?;
        let mut chain = vec![vec![]; depth + 1];
        chain[0] = top.clone();
        let mut cs = vec![];
        for m in report.split_whitespace() {
            let f: Vec<i32> = m.split(':').map(|n| n.parse().unwrap_or(-9)).collect();
            match f[0] {
                -1 => cs.push((f[1], 0)),
                d if d >= 1 && d as usize <= depth => chain[d as usize] = f[1..].to_vec(),
                _ => return Err(fail(format!("bad chain report '{m}'"))),
            }
        }
        // Oldest first in the chain order that CABA walks: Bdepth ... B1, X.
        chain.reverse();
        let inos = chain
            .iter()
            .map(|m| ino_of(m[0]))
            .collect::<Result<Vec<u64>, Failure>>()?;
        let race = std::sync::Arc::new(Race::new(vec![chain], vec![inos], cs.clone()));
        let readers = Race::start(&race);
        race.during
            .store(true, std::sync::atomic::Ordering::Relaxed);
        w.ask("X", "go")?;
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut round = Race::join(&race, readers)?;
        for &(c, _) in &cs {
            let got = Status::read(&format!("/proc/{c}/status")).map(|st| st.nscaba);
            if got != Ok(Some(top.clone())) {
                round.wrong.at_end += 1;
                round.wrong.note(format!(
                    "pid {c}: NScaba {got:?} after the chain is gone, want {top:?}"
                ));
            }
        }
        round.seen.clear();
        round.seen_during.clear();
        round.times.clear();
        reads.add(round);
    }
    let counts = format!(
        "{} NScaba reads of {} columns and {} pidfd reads over {rounds} rounds of {depth} \
         releases; {}",
        reads.nscaba,
        top.len(),
        reads.pidfd,
        reads.wrong.describe()
    );
    if reads.wrong.total() > 0 {
        return Err(fail(format!("{counts}; e.g. {:?}", reads.wrong.examples)));
    }
    Ok(format!("{counts}; {}", w.done()?))
}

/// CABA-descendants of each released process in the chunked-release tests:
/// v7's release walk moves at most 64 of them per hold of tasklist_lock, so
/// thousands make it run in many chunks while the readers read.
const BIG: usize = 3000;
/// The same for each of the two back-to-back releases.
const BIG_TWO: usize = 2500;
/// How long after the first reap the second starts, in the two-release
/// test: X's release took about 1.2 ms for 3,000 descendants under TCG.
const STAGGER_US: u64 = 300;

/// The processes whose PPid is `ppid` (root namespace), by pid.
fn children_of(ppid: i32) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|st| {
                    st.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse::<i32>()
                        .ok()
                })
                == Some(ppid)
        })
        .collect();
    out.sort_unstable();
    out
}

/// Every one of `pids` shows CABA `want` (all its columns) in NScaba and,
/// where the kernel has it, through its pidfd, with caba_ino `ino`.
fn all_show(pids: &[i32], want: &[i32], ino: u64, when: &str) -> Result<(), Failure> {
    let pidfd = crate::features().pidfd_caba.is_ok();
    let wrong: Vec<String> = pids
        .iter()
        .filter_map(|&k| {
            let st = match Status::read(&format!("/proc/{k}/status")) {
                Ok(st) if st.nscaba.as_deref() == Some(want) => None,
                Ok(st) => Some(format!("{k}: NScaba {:?}", st.nscaba)),
                Err(e) => Some(e),
            };
            st.or_else(|| {
                if !pidfd {
                    return None;
                }
                match sys::pidfd_open(k, false)
                    .and_then(|fd| sys::pidfd_get_info(&fd, sys::PIDFD_INFO_CABA))
                {
                    Ok(i)
                        if i.mask & sys::PIDFD_INFO_CABA != 0
                            && i.caba as i32 == want[0]
                            && i.caba_ino == ino =>
                    {
                        None
                    }
                    Ok(i) => Some(format!(
                        "{k}: pidfd mask {:#x} caba {} caba_ino {}",
                        i.mask, i.caba, i.caba_ino
                    )),
                    Err(e) => Some(format!("{k}: pidfd {e}")),
                }
            })
        })
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(fail(format!(
        "{when}: {} of {} do not show CABA {want:?} (caba_ino {ino}), e.g. {:?}",
        wrong.len(),
        pids.len(),
        &wrong[..wrong.len().min(5)]
    )))
}

/// X with thousands of CABA-descendants (its children, reparented to N
/// when X exits, all alive) is reaped by N while readers loop on the
/// NScaba and pidfd CABA of some of them, spread over X's list (v7 moves
/// them in chunks, so the first and the last move at different times):
/// every read is X or N, never 0, never a third process, and once N never
/// X again; through the pidfd, caba_ino is the inode number of the CABA
/// read. Every reader reads every target while the reap command is in
/// flight, X and N are each seen, and after the reap every one of them
/// shows N.
pub fn racing_readers_big_release() -> TestResult {
    big_release(false)
}

/// The same with two big releases back to back: X's CABA A exits first
/// (X and A's own children go to N), X exits, and N reaps X and, a
/// millisecond later in another thread, A, so that A's release may run
/// while X's walk still moves X's descendants (to A, or past it to N).
/// X's descendants may show X, A, N in that order, A's show A, N.
pub fn racing_readers_two_big_releases() -> TestResult {
    big_release(true)
}

fn big_release(two: bool) -> TestResult {
    use std::sync::atomic::Ordering::Relaxed;
    need_nscaba()?;
    let start = std::time::Instant::now();
    let nested = sys::is_root();
    let mut w = World::new()?;
    if nested {
        w.spawn("root", "N", NEW_PID_NS)?;
    } else {
        w.spawn("root", "N", PLAIN)?;
        w.subreaper("N", true)?;
    }
    // The released processes, youngest first: each one's CABA comes after it.
    let released: &[&str] = if two {
        w.spawn("N", "A", PLAIN)?;
        w.spawn("A", "X", PLAIN)?;
        &["X", "A"]
    } else {
        w.spawn("N", "X", PLAIN)?;
        &["X"]
    };
    let n = if two { BIG_TWO } else { BIG };
    let mut kids = vec![];
    for name in released {
        let made = w.ask(name, &format!("pausers {n}"))?;
        ensure_eq(
            &format!("children {name} made"),
            made.split_whitespace().count(),
            n,
        )?;
        let mut found = children_of(w.root_pid(name));
        found.retain(|&k| released.iter().all(|r| w.root_pid(r) != k));
        ensure_eq(&format!("children of {name} in /proc"), found.len(), n)?;
        kids.push(found);
    }
    let made_in = start.elapsed();
    for name in released.iter().rev() {
        w.exit(name)?;
    }
    let cols = |w: &World, name: &str| w.m.procs[w.pid(name)].nspid.clone();
    // Chain i: the descendants of released[i], from it up to N.
    let mut chains = vec![];
    let mut inos = vec![];
    for i in 0..released.len() {
        let members: Vec<&str> = released[i..].iter().copied().chain(["N"]).collect();
        chains.push(members.iter().map(|m| cols(&w, m)).collect::<Vec<_>>());
        inos.push(
            members
                .iter()
                .map(|m| ino_of(w.root_pid(m)))
                .collect::<Result<Vec<u64>, Failure>>()?,
        );
    }
    for (i, k) in kids.iter().enumerate() {
        all_show(
            k,
            &chains[i][0],
            inos[i][0],
            &format!("{} a zombie, before the reap", released[i]),
        )?;
    }
    // Eight targets per chain, spread from the first child to the last
    // (the walk moves them in the order they were made).
    let mut targets = vec![];
    for (i, k) in kids.iter().enumerate() {
        for j in 0..8 {
            targets.push((k[j * (k.len() - 1) / 7], i));
        }
    }
    let race = std::sync::Arc::new(Race::new(chains.clone(), inos.clone(), targets.clone()));
    let readers = Race::start(&race);
    let nreaders = readers.len();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let stagger = if two { STAGGER_US } else { 0 };
    let spans = w.reap_together(released, stagger, |on| race.during.store(on, Relaxed));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let reads = Race::join(&race, readers)?;
    let spans = spans?;
    let (during, seen_during) = reads.within(&spans);
    let chain_names = |i: usize| released[i..].join("->") + "->N";
    let counts = format!(
        "{} NScaba reads of {} columns and {} pidfd reads; {} of them overlapped a waitpid() \
         that released, {} while the reap command was in flight; reads that named each member \
         (in all / overlapping a release): {}; {}",
        reads.nscaba,
        chains[0][0].len(),
        reads.pidfd,
        during,
        reads.during,
        (0..chains.len())
            .map(|i| format!(
                "{}: {}",
                chain_names(i),
                (0..chains[i].len())
                    .map(|p| format!("{}/{}", reads.seen[i][p], seen_during[i][p]))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
            .collect::<Vec<_>>()
            .join(", "),
        reads.wrong.describe()
    );
    if reads.wrong.total() > 0 {
        return Err(fail(format!("{counts}; e.g. {:?}", reads.wrong.examples)));
    }
    // The floor: every reader read every target at least once while the
    // reap command was in flight (from before it was sent until its
    // answer; the release lies within). Reads overlapping the waitpid()
    // itself are counted and shown, not required: the release takes about
    // a millisecond under TCG, shorter than a scheduler tick (4 ms), so
    // whether the readers run within it is the scheduler's choice
    // (measured on this machine, eleven runs of the two tests: from 2 to
    // 8,175 per run).
    let floor = nreaders * targets.len();
    if reads.during < floor {
        return Err(fail(format!(
            "{counts}: {} reads while the reap command was in flight, want at least {floor} \
             ({nreaders} readers, {} targets)",
            reads.during,
            targets.len()
        )));
    }
    for (i, seen) in reads.seen.iter().enumerate() {
        if seen[0] == 0 || seen[seen.len() - 1] == 0 {
            return Err(fail(format!(
                "{counts}: the descendants of {} were not seen with both their old CABA \
                 and their new one ({})",
                released[i],
                chain_names(i)
            )));
        }
    }
    let n_cols = cols(&w, "N");
    let n_ino = ino_of(w.root_pid("N"))?;
    for (i, k) in kids.iter().enumerate() {
        all_show(k, &n_cols, n_ino, &format!("{} reaped", released[i]))?;
    }
    let t0 = spans.iter().map(|&(s, _)| s).min().unwrap_or(0);
    let us = |ns: u64| (ns - t0) / 1000;
    let reaps: Vec<String> = released
        .iter()
        .zip(&spans)
        .map(|(r, &(s, e))| format!("{r} from {} to {} us", us(s), us(e)))
        .collect();
    let overlap = match spans[..] {
        [(x_start, x_end), (a_start, a_end), ..] if a_start < x_end && x_start < a_end => {
            ", the two overlapped"
        }
        [(x_start, _), (a_start, _), ..] if a_start < x_start => {
            ", the two did not overlap (A's came first)"
        }
        [_, _, ..] => ", the two did not overlap",
        _ => "",
    };
    Ok(format!(
        "{n} CABA-descendants each of {}, made in {:.1} s; the reaps: {}{overlap}; {counts}; {}",
        released.join(", "),
        made_in.as_secs_f64(),
        reaps.join(", "),
        w.done()?
    ))
}

/// The 2022 cover letter's "complex sessions" tree, step by step.
pub fn complex_sessions() -> TestResult {
    need_root("pid namespaces")?;
    let mut w = World::new()?;
    w.spawn("root", "P0", PLAIN)?;
    w.spawn("P0", "P1", NEW_PID_NS)?;
    w.setsid("P1")?;
    w.spawn("P1", "P2", PLAIN)?;
    w.setsid("P2")?;
    w.spawn("P2", "P3", PLAIN)?;
    w.spawn("P3", "P4", PLAIN)?;
    w.spawn("P4", "P5", PLAIN)?;
    w.setsid("P4")?;
    w.spawn("P4", "P6", PLAIN)?;
    w.spawn("P6", "P7", PLAIN)?;
    w.subreaper("P2", true)?;
    w.exit("P6")?;
    w.reap("P6")?;
    w.subreaper("P2", false)?;
    w.exit("P3")?;
    w.reap("P3")?;
    expect_caba(&w, "P2", "P1")?;
    expect_caba(&w, "P4", "P2")?;
    expect_caba(&w, "P5", "P4")?;
    expect_caba(&w, "P7", "P4")?;
    ensure_eq(
        "P7's parent",
        w.m.procs[w.pid("P7")].parent,
        Some(w.pid("P2")),
    )?;
    ensure_eq("P7's session", w.m.procs[w.pid("P7")].sid, w.pid("P4"))?;
    done(w)
}

/// Seeded random sequences (random.rs), each checked after every step.
pub fn randomized() -> TestResult {
    let (seed, runs, ops) = crate::random_settings()?;
    let caps = random::Caps {
        namespaces: sys::is_root(),
    };
    println!(
        "# randomized: CABA_SEED={seed} CABA_RANDOM_RUNS={runs} CABA_RANDOM_OPS={ops}{}",
        if caps.namespaces {
            ""
        } else {
            " (not root: no namespaces)"
        }
    );
    let mut kinds = std::collections::BTreeMap::new();
    let mut compared = 0;
    for s in seed..seed + runs {
        random::sequence(s, ops, caps, &mut kinds)
            .map(|_| compared += 1)
            .map_err(|e| format!("seed {s} (replay: CABA_SEED={s} CABA_RANDOM_RUNS=1): {e}"))?;
    }
    let total: usize = kinds.values().sum();
    let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Ok(format!(
        "{compared} sequences from seed {seed}, {total} operations: {}",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racing_reads_are_classified() {
        // B2 (40, 3), then B1 (30, 2), then the top X (20, 1).
        let chain = vec![vec![40, 3], vec![30, 2], vec![20, 1]];
        assert_eq!(classify(&chain, 0, &[40, 3], false), Read::Ok(0));
        assert_eq!(classify(&chain, 0, &[30, 2], false), Read::Ok(1));
        assert_eq!(classify(&chain, 1, &[20, 1], false), Read::Ok(2));
        assert_eq!(classify(&chain, 2, &[30, 2], false), Read::Backwards);
        assert_eq!(classify(&chain, 1, &[0, 0], false), Read::Zero);
        assert_eq!(classify(&chain, 1, &[30, 0], false), Read::Columns);
        assert_eq!(classify(&chain, 1, &[30, 3], false), Read::Columns);
        assert_eq!(classify(&chain, 1, &[77, 5], false), Read::Third);
        assert_eq!(classify(&chain, 1, &[20], true), Read::Ok(2));
        assert_eq!(classify(&chain, 2, &[40], true), Read::Backwards);
        assert_eq!(classify(&chain, 0, &[0], true), Read::Zero);
    }
}
