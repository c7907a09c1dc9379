// SPDX-License-Identifier: GPL-2.0
//! caba_check: verify the CABA tree of a running kernel.
//!
//! A check freezes the system with stop_machine(), copies what every process
//! says about its CABA into a snapshot of plain data, lets the system go,
//! and checks invariants I1-I8 of the CABA spec on the snapshot
//! (invariants.rs, also tested on the host under `cargo test`), as the v7
//! kernel design restates them: the snapshot holds the present processes
//! (the task list) and every releasing node reachable through the
//! CABA-descendants lists from them (a process already released, its tgid
//! pid detached, still linked while release_task() moves its descendants in
//! chunks).
//!
//! Loading the module runs one check: the load fails with -EINVAL when an
//! invariant is broken (each violation is logged with its invariant and
//! pids), and with -ENOSPC when the system has more processes than the
//! snapshot holds. After that, checks run on demand, without reloading:
//!
//! - `echo 1 > /sys/kernel/debug/caba_check/check` (any write) runs a check.
//!   The write fails with -EINVAL on a violation, -ENOSPC when the snapshot
//!   is too small, -EIO when the frozen kernel is not as it must be (a
//!   process on the task list without a tgid pid), and with stop_machine()'s
//!   error if that fails; every failed check is also logged.
//! - `cat /sys/kernel/debug/caba_check/check` shows the last check's report
//!   (the load's until the first write). Its first word is `ok` when every
//!   invariant held and `FAIL` otherwise:
//!
//!   ```text
//!   ok check 2: 40 processes (40 threads), 0 releasing, 39 list entries, 1 pid namespaces, deepest chain 4, frozen for 54 us, checked in 4975 us
//!   FAIL check 2: 2 violations in 42 processes, 0 releasing, 42 list entries, frozen for 111 us, checked in 22668 us
//!   injected: two-lists: pid 69 left on the list of its CABA 67 and also put on the list of pid 43; expect I2, snapshot only, the kernel is untouched
//!   I2 pid 69: found on the list of 43, expected only on its CABA's
//!   I6 pid 0: found 42 list entries, expected 41 (processes less init_task)
//!   ```
//!
//!   A read only formats the stored result: seq_file may call the formatter
//!   more than once for one read, so the work is done in the write.
//!
//! Parameters, read at load:
//!
//! - `capacity=N` (default 65536): the most processes (releasing nodes
//!   included; at most 4096 of those), and list entries, a snapshot holds. Its memory (64 bytes a process, 4 MiB by default)
//!   is allocated at load, since nothing can be while the system is frozen.
//! - `inject=N`, for testing the checker only (default 0: off): every check
//!   run through debugfs corrupts its own snapshot after the system is let
//!   go, never the kernel, and must then fail: 1 puts a process on a second
//!   list (I2, with I6 for the extra entry), 2 sets a process's CABA to its
//!   own CABA-descendant so that neither chain reaches init_task (I3, with
//!   I7 since the new CABA is younger), 3 sets a process's CABA to a process
//!   in a pid namespace that is neither its own nor an ancestor (I4; when no
//!   process lives in such a namespace, one is made up in the snapshot).
//!   The report's `injected:` line names the pids. The load's own check is
//!   never corrupted, so a broken kernel still fails the load.
//!
//! Why stop_machine() gives a consistent snapshot: every writer of ->caba
//! and of the CABA-descendants lists (copy_process(), release_task()) holds
//! write_lock_irq(&tasklist_lock), so it runs with interrupts and preemption
//! off. stop_machine() starts the callback only once every CPU runs its
//! stopper thread with interrupts off; a CPU inside such a section cannot be
//! preempted, so none is, and none can enter one until the callback
//! returns. Processes leave the task list under the same lock before they
//! are freed, so everything reachable from it stays valid; a releasing node
//! (off the task list) leaves the CABA lists under the same lock, and only
//! then does release_task() drop the task that holds its signal_struct, so
//! what the lists reach stays valid too. v7 moves descendants in chunks of
//! at most 64 per hold, with the lock dropped in between: a frozen system
//! may sit between two chunks, which is why releasing nodes are in the
//! snapshot and the rules name them. Under PREEMPT_RT
//! tasklist_lock sleeps and its holders can be preempted, so there the
//! module refuses to load. CABA is tracked only with CONFIG_PID_NS, so
//! without it the module refuses to load too.
//!
//! Raw bindings, used where 7.2's kernel crate has no abstraction (each is
//! read through one small function of the `frozen` module whose SAFETY
//! comment says why it is valid there):
//!
//! - `stop_machine()`: there is no Rust wrapper, and include/linux/stop_machine.h
//!   is not in the bindings, so it is declared here.
//! - `init_task` and its `tasks` list: the root of the CABA tree and the
//!   head of the task list. There is no task iteration in the kernel crate;
//!   the list is walked as a typed `CList` of `Task`.
//! - `task_struct.signal` and `task_struct.start_boottime`: `Task` has no
//!   accessor for either.
//! - `signal_struct.caba`, `.caba_descendants`, `.caba_sibling`: the CABA
//!   series' own fields. The lists are the structure under test, so they are
//!   walked by hand, each node checked against the snapshot before it is
//!   read, rather than with `CList`, which reads a node as it yields the
//!   one before.
//! - `signal_struct.pids[PIDTYPE_TGID]` and `.nr_threads`: no abstraction.
//! - `struct pid`'s `level` and `numbers[]`: there is no `struct pid`
//!   abstraction; they give a process's own pid namespace, as ns_of_pid().
//! - `pid_namespace.level` and `.parent`: `PidNamespace` has no accessors.
//! - `init_pid_ns`: the namespace that `Task::tgid_nr_ns()` reports pids in.

use kernel::{
    debugfs::{
        Dir,
        File, //
    },
    fmt,
    new_mutex,
    prelude::*,
    sync::Mutex,
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
    uaccess::UserSliceReader, //
};

// Public only to satisfy the kernel's unreachable_pub lint: the file is shared
// with the host crate (host/), whose tests need its items public.
pub mod invariants;
use invariants::{
    Entry,
    Injected,
    Mutant,
    Ns,
    Proc,
    Snapshot,
    Summary,
    Violation, //
};

module! {
    type: CabaCheck,
    name: "caba_check",
    authors: ["CABA developers"],
    description: "Checks the invariants of the CABA (closest alive born ancestor) tree",
    license: "GPL",
    params: {
        capacity: u32 {
            default: 65536,
            description: "The most processes (and list entries) a snapshot holds; beyond it a check fails with -ENOSPC",
        },
        inject: u32 {
            default: 0,
            description: "Testing only: checks run through debugfs corrupt their own snapshot, never the kernel: 1 a process on two lists (I2), 2 a CABA loop (I3), 3 a CABA in a foreign pid namespace (I4)",
        },
    },
}

/// The most pid namespaces a snapshot holds.
const MAX_NS: usize = 4096;
/// How many violations a report lists one by one.
const MAX_SHOWN: usize = 64;

struct CabaCheck {
    _dir: Dir,
    _check: Pin<KBox<File<Mutex<Checker>>>>,
}

impl kernel::Module for CabaCheck {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if cfg!(CONFIG_PREEMPT_RT) {
            pr_err!("refusing to load: under PREEMPT_RT, tasklist_lock holders are preemptible and stop_machine() does not exclude them, so no consistent snapshot can be taken\n");
            return Err(EINVAL);
        }
        if !cfg!(CONFIG_PID_NS) {
            pr_err!("refusing to load: CABA is tracked only with CONFIG_PID_NS=y, and this kernel has it off\n");
            return Err(EINVAL);
        }
        let mutant = Mutant::from_param(*module_parameters::inject.value()).map_err(|v| {
            pr_err!("inject={}: unknown, expected 0 (off), 1 (two lists), 2 (a loop) or 3 (a foreign namespace)\n", v);
            EINVAL
        })?;
        let checker = Checker::new(*module_parameters::capacity.value() as usize)?;

        let dir = Dir::new(c"caba_check");
        let check = KBox::pin_init(
            dir.read_write_callback_file(c"check", new_mutex!(checker), &show, &trigger),
            GFP_KERNEL,
        )?;
        {
            // The load's check is of the kernel as it is, never injected.
            let mut checker = check.lock();
            let result = checker.run(None);
            checker.last.log();
            result?;
        }
        if !cfg!(CONFIG_DEBUG_FS) {
            pr_warn!("no debugfs in this kernel: the check at load is the only one\n");
        }
        if let Some(m) = mutant {
            pr_warn!(
                "inject={}: every check run through debugfs corrupts its own snapshot ({}); for testing the checker only\n",
                *module_parameters::inject.value(),
                m.invariant()
            );
        }
        Ok(CabaCheck {
            _dir: dir,
            _check: check,
        })
    }
}

/// Reading `check`: the last report, formatted from what the check stored.
fn show(checker: &Mutex<Checker>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    checker.lock().last.lines(&mut |line| writeln!(f, "{line}"))
}

/// Writing `check`: run a check. What is written does not matter.
fn trigger(checker: &Mutex<Checker>, _input: &mut UserSliceReader) -> Result {
    // Validated at load.
    let mutant = Mutant::from_param(*module_parameters::inject.value())
        .ok()
        .flatten();
    let mut checker = checker.lock();
    let result = checker.run(mutant);
    if result.is_err() {
        checker.last.log();
    }
    result
}

/// Everything a check needs, allocated at load: nothing can be allocated
/// while the system is frozen, and a check under memory pressure should not
/// fail for want of memory.
struct Checker {
    procs: KVVec<Proc>,
    entries: KVVec<Entry>,
    ns: KVVec<Ns>,
    scratch: KVVec<u32>,
    last: Report,
}

/// What the last check found, kept for reads of `check`.
struct Report {
    run: u64,
    outcome: Outcome,
    sum: Summary,
    threads: usize,
    namespaces: usize,
    frozen: Delta,
    took: Delta,
    capacity: usize,
    /// The corruption asked for with `inject=`, or the mutant for which no
    /// process fitted.
    injected: Option<Result<Injected, Mutant>>,
    /// The first violations, in the order found.
    shown: KVec<Violation>,
}

enum Outcome {
    Passed,
    Violations,
    /// More of these than the snapshot holds: nothing was verified.
    Full(&'static str),
    /// stop_machine() failed: nothing was verified.
    NotFrozen(Error),
    /// The frozen kernel was not as it must be: nothing was verified.
    Unexpected(&'static str),
}

impl Checker {
    fn new(capacity: usize) -> Result<Self> {
        Ok(Checker {
            procs: KVVec::with_capacity(capacity, GFP_KERNEL)?,
            entries: KVVec::with_capacity(capacity, GFP_KERNEL)?,
            ns: KVVec::with_capacity(MAX_NS, GFP_KERNEL)?,
            scratch: KVVec::from_elem(0, invariants::scratch_len(capacity), GFP_KERNEL)?,
            last: Report {
                run: 0,
                outcome: Outcome::NotFrozen(EAGAIN),
                sum: Summary::default(),
                threads: 0,
                namespaces: 0,
                frozen: Delta::from_nanos(0),
                took: Delta::from_nanos(0),
                capacity,
                injected: None,
                shown: KVec::with_capacity(MAX_SHOWN, GFP_KERNEL)?,
            },
        })
    }

    /// Freeze, snapshot, check; the result is left in `self.last`.
    fn run(&mut self, mutant: Option<Mutant>) -> Result {
        let start = Instant::<Monotonic>::now();
        self.last.reset();

        let taken = match frozen::snapshot(&mut self.procs, &mut self.entries, &mut self.ns) {
            Ok(taken) => taken,
            Err(stop) => {
                let (outcome, err) = match stop {
                    frozen::Stop::Full(what) => (Outcome::Full(what), ENOSPC),
                    frozen::Stop::NotFrozen(e) => (Outcome::NotFrozen(e), e),
                    frozen::Stop::Unexpected(what) => (Outcome::Unexpected(what), EIO),
                };
                self.last.outcome = outcome;
                self.last.took = start.elapsed();
                return Err(err);
            }
        };
        self.last.threads = taken.threads;
        self.last.frozen = taken.frozen;
        if let Some(m) = mutant {
            self.last.injected = Some(self.inject(m, taken.root).ok_or(m));
        }

        let snap = Snapshot {
            root: taken.root,
            procs: &self.procs,
            entries: &self.entries,
            ns: &self.ns,
        };
        let shown = &mut self.last.shown;
        let sum = invariants::check(&snap, &mut self.scratch, &mut |v| {
            // Beyond MAX_SHOWN the violations are only counted.
            let _ = shown.push_within_capacity(*v);
        });
        let last = &mut self.last;
        last.sum = sum;
        last.namespaces = self.ns.len();
        last.took = start.elapsed();
        if sum.violations > 0 {
            last.outcome = Outcome::Violations;
            return Err(EINVAL);
        }
        last.outcome = Outcome::Passed;
        Ok(())
    }

    /// Corrupt the snapshot (testing only); `None` when nothing fitted.
    fn inject(&mut self, m: Mutant, root: usize) -> Option<Injected> {
        let inj = invariants::inject(
            m,
            root,
            &mut self.procs,
            &mut self.entries,
            &self.ns,
            &mut self.scratch,
        )?;
        if let Some(e) = inj.add_entry {
            self.entries.push_within_capacity(e).ok()?;
        }
        if let Some(made) = inj.add_ns {
            let at = invariants::ns_position(&self.ns, made.key).err()?;
            self.ns.insert_within_capacity(at, made).ok()?;
        }
        Some(inj)
    }
}

impl Report {
    /// Forget the last check, counting the next one.
    fn reset(&mut self) {
        self.run += 1;
        self.sum = Summary::default();
        self.threads = 0;
        self.namespaces = 0;
        self.frozen = Delta::from_nanos(0);
        self.took = Delta::from_nanos(0);
        self.injected = None;
        self.shown.clear();
    }

    /// The report, line by line: a summary that starts with `ok` or
    /// `FAIL`, then what was injected, then the violations.
    fn lines(&self, out: &mut dyn FnMut(fmt::Arguments<'_>) -> fmt::Result) -> fmt::Result {
        let Report { run, sum, .. } = *self;
        let (frozen, took) = (self.frozen.as_micros_ceil(), self.took.as_micros_ceil());
        match self.outcome {
            Outcome::Passed => out(format_args!(
                "ok check {run}: {} processes ({} threads), {} releasing, {} list entries, {} pid namespaces, deepest chain {}, frozen for {frozen} us, checked in {took} us",
                sum.processes, self.threads, sum.releasing, sum.entries, self.namespaces, sum.deepest
            ))?,
            Outcome::Violations => out(format_args!(
                "FAIL check {run}: {} violations in {} processes, {} releasing, {} list entries, frozen for {frozen} us, checked in {took} us",
                sum.violations, sum.processes, sum.releasing, sum.entries
            ))?,
            Outcome::Full(what) => out(format_args!(
                "FAIL check {run}: more {what} than the snapshot holds (capacity={}, {MAX_NS} pid namespaces); nothing was verified",
                self.capacity
            ))?,
            Outcome::NotFrozen(e) => out(format_args!(
                "FAIL check {run}: stop_machine() failed ({}); nothing was verified",
                e.to_errno()
            ))?,
            Outcome::Unexpected(what) => out(format_args!(
                "FAIL check {run}: found {what}; nothing was verified"
            ))?,
        }
        match self.injected {
            Some(Ok(inj)) => out(format_args!("injected: {inj}"))?,
            Some(Err(m)) => out(format_args!(
                "injected: nothing, no process fits the {} mutant",
                m.invariant()
            ))?,
            None => {}
        }
        for v in self.shown.iter() {
            out(format_args!("{v}"))?;
        }
        if sum.violations > self.shown.len() {
            out(format_args!(
                "... and {} more violations",
                sum.violations - self.shown.len()
            ))?;
        }
        Ok(())
    }

    /// Log the report, as information when it passed, as errors when not.
    fn log(&self) {
        let passed = matches!(self.outcome, Outcome::Passed);
        let _ = self.lines(&mut |line| {
            if passed {
                pr_info!("{}\n", line);
            } else {
                pr_err!("{}\n", line);
            }
            Ok(())
        });
    }
}

#[cfg(CONFIG_PID_NS)]
mod frozen {
    //! The part that runs while the system is frozen: it reads kernel
    //! structures and writes plain data into memory allocated beforehand.
    //! It must not sleep, allocate, or panic.

    use super::invariants::{
        self,
        Entry,
        Ns,
        Proc, //
    };
    use core::{
        mem::offset_of,
        ptr, //
    };
    use kernel::{
        bindings,
        container_of,
        pid_namespace::PidNamespace,
        prelude::*,
        sync::rcu,
        task::Task,
        time::{
            Delta,
            Instant,
            Monotonic, //
        },
        types::Opaque, //
    };

    extern "C" {
        /// From include/linux/stop_machine.h, which the bindings leave out.
        fn stop_machine(
            f: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
            data: *mut c_void,
            cpus: *const bindings::cpumask,
        ) -> c_int;
    }

    /// From include/linux/pid_namespace.h.
    const MAX_PID_NS_LEVEL: u32 = 32;

    /// The most releasing nodes a snapshot holds: one per release_task()
    /// in the middle of its walk, a handful; each is looked up one by one.
    const MAX_RELEASING: usize = 4096;

    /// What a snapshot found besides its three vectors.
    pub(super) struct Taken {
        /// The key of init_task's process.
        pub(super) root: usize,
        /// Threads in all processes.
        pub(super) threads: usize,
        /// How long the system was frozen.
        pub(super) frozen: Delta,
    }

    /// Why no snapshot was taken.
    pub(super) enum Stop {
        /// More of these than the snapshot holds.
        Full(&'static str),
        /// stop_machine() failed.
        NotFrozen(Error),
        /// The kernel was not as a frozen system must be.
        Unexpected(&'static str),
    }

    /// Freeze the system and fill the (emptied) vectors, within their
    /// capacity: processes sorted by key, namespaces too, list entries.
    pub(super) fn snapshot(
        procs: &mut KVVec<Proc>,
        entries: &mut KVVec<Entry>,
        ns: &mut KVVec<Ns>,
    ) -> Result<Taken, Stop> {
        procs.clear();
        entries.clear();
        ns.clear();
        let mut walk = Walk {
            procs,
            entries,
            ns,
            present: 0,
            root: 0,
            threads: 0,
            full: None,
            unexpected: None,
            frozen: Delta::from_nanos(0),
        };
        // SAFETY: `freeze` uses only the `Walk` behind its argument, which
        // lives on this stack until stop_machine() returns, and a NULL
        // cpumask runs it on one CPU while all others spin with interrupts
        // off, which is what `freeze` requires.
        let ret =
            unsafe { stop_machine(Some(freeze), (&raw mut walk).cast::<c_void>(), ptr::null()) };
        if ret != 0 {
            return Err(Stop::NotFrozen(Error::from_errno(ret)));
        }
        if let Some(what) = walk.unexpected {
            return Err(Stop::Unexpected(what));
        }
        if let Some(what) = walk.full {
            return Err(Stop::Full(what));
        }
        Ok(Taken {
            root: walk.root,
            threads: walk.threads,
            frozen: walk.frozen,
        })
    }

    /// Evidence that the system is frozen: only `freeze` makes one, and
    /// what is read through it cannot outlive it.
    struct Frozen(());

    /// The stop_machine() callback.
    ///
    /// # Safety
    ///
    /// `data` points to a `Walk` that nothing else uses meanwhile, and
    /// stop_machine() runs this with every other CPU spinning with
    /// interrupts off.
    unsafe extern "C" fn freeze(data: *mut c_void) -> c_int {
        // SAFETY: `snapshot` passes its own `Walk`, which nothing else uses
        // until stop_machine() returns.
        let walk = unsafe { &mut *data.cast::<Walk<'_>>() };
        let t0 = Instant::<Monotonic>::now();
        let frozen = Frozen(());
        walk.walk(&frozen);
        walk.frozen = t0.elapsed();
        0
    }

    struct Walk<'a> {
        procs: &'a mut KVVec<Proc>,
        entries: &'a mut KVVec<Entry>,
        ns: &'a mut KVVec<Ns>,
        /// How many of `procs` are present processes (the first, sorted).
        present: usize,
        root: usize,
        threads: usize,
        full: Option<&'static str>,
        unexpected: Option<&'static str>,
        frozen: Delta,
    }

    impl Walk<'_> {
        fn walk(&mut self, frozen: &Frozen) {
            // The task list is an RCU list; frozen, nothing changes it, and
            // the guard keeps RCU's own rules too.
            let _rcu = rcu::read_lock();
            let init = init_task();
            self.root = signal(init, frozen).key();
            self.add_process(init, frozen);
            for task in processes(frozen) {
                if self.full.is_some() || self.unexpected.is_some() {
                    return;
                }
                self.add_process(task, frozen);
            }
            if self.full.is_some() || self.unexpected.is_some() {
                return;
            }
            // The present processes, sorted; the releasing nodes that the
            // lists lead to are appended behind them as they are found, and
            // their lists are walked in turn, so that every node reachable
            // through the lists is taken (a releasing node is on no task
            // list: only its CABA's list leads to it).
            invariants::sort(self.procs);
            self.present = self.procs.len();
            let mut i = 0;
            while i < self.procs.len() {
                let key = self.procs[i].key;
                // SAFETY: `key` is the signal_struct of a process the walk
                // found on the task list, which the freeze keeps there, or
                // of a releasing node that `add_list` found on a list and
                // checked to be one.
                let sig = unsafe { Signal::from_raw(key as *mut _, frozen) };
                self.add_list(sig, frozen);
                if self.full.is_some() || self.unexpected.is_some() {
                    return;
                }
                i += 1;
            }
            invariants::sort(self.procs);
        }

        /// Whether `key` is a node already in the snapshot: a present
        /// process (sorted, binary search) or a releasing node (few: one
        /// per release_task() in its walk; searched one by one).
        fn known(&self, key: usize) -> bool {
            let (present, releasing) = self.procs.split_at(self.present);
            present.binary_search_by_key(&key, |p| p.key).is_ok()
                || releasing.iter().any(|p| p.key == key)
        }

        /// Record `member`, found on a CABA list and not on the task list:
        /// a releasing node, whose tgid pid must be detached. Its tgid,
        /// namespace and start time are gone with that pid.
        fn add_releasing(&mut self, member: &Signal) {
            if member.tgid_pid().is_some() {
                self.unexpected = Some(
                    "a node on a CABA list with its tgid pid attached but not on the task list",
                );
                return;
            }
            if self.procs.len() - self.present >= MAX_RELEASING {
                self.full = Some("releasing nodes");
                return;
            }
            let p = Proc {
                key: member.key(),
                caba: member.caba(),
                present: false,
                ..Proc::default()
            };
            if self.procs.push_within_capacity(p).is_err() {
                self.full = Some("processes");
            }
        }

        /// Record a group leader (or init_task) and its pid namespaces.
        fn add_process(&mut self, task: &Task, frozen: &Frozen) {
            let sig = signal(task, frozen);
            let Some(pid) = sig.tgid_pid() else {
                self.unexpected = Some("a process on the task list without a tgid pid");
                return;
            };
            let own_ns = pid.own_ns();
            self.threads += sig.nr_threads().max(0) as usize;
            let p = Proc {
                key: sig.key(),
                caba: sig.caba(),
                tgid: task.tgid_nr_ns(Some(init_pid_ns())),
                level: pid.level(),
                ns: own_ns.as_ptr() as usize,
                start: start_boottime(task),
                present: true,
            };
            if self.procs.push_within_capacity(p).is_err() {
                self.full = Some("processes");
                return;
            }
            // The namespace chain, kept sorted, each namespace once.
            let mut ns = Some(own_ns);
            for _ in 0..=MAX_PID_NS_LEVEL {
                let Some(cur) = ns else { return };
                let key = cur.as_ptr() as usize;
                let Err(at) = invariants::ns_position(self.ns, key) else {
                    return; // known, and so are its ancestors
                };
                let parent = ns_parent(cur);
                let n = Ns {
                    key,
                    parent: parent.map_or(0, |p| p.as_ptr() as usize),
                    level: ns_level(cur),
                };
                if self.ns.insert_within_capacity(at, n).is_err() {
                    self.full = Some("pid namespaces");
                    return;
                }
                ns = parent;
            }
        }

        /// Record the CABA-descendants list of `sig`. The lists are what
        /// is under test: a node is read only once it is known to be the
        /// `caba_sibling` of a process in the snapshot; an entry that is
        /// not is recorded and not followed, and a list longer than the
        /// number of processes is cut, so corruption becomes a violation,
        /// not an oops.
        fn add_list(&mut self, sig: &Signal, frozen: &Frozen) {
            let head = sig.descendants();
            let mut pos = sig.first_descendant();
            let mut steps = 0;
            while pos != head {
                let member =
                    (pos as usize).wrapping_sub(offset_of!(bindings::signal_struct, caba_sibling));
                // SAFETY: `pos` is a node of a CABA-descendants list, each
                // of which is the `caba_sibling` of a signal_struct.
                let next = unsafe { container_of!(pos, bindings::signal_struct, caba_sibling) };
                // SAFETY: `next` is on the CABA list of a node of the
                // snapshot. Frozen, such a signal_struct is a present
                // process's, which the task list keeps, or a releasing
                // node's: v7's release_task() unlinks it, under
                // tasklist_lock held for writing, which no CPU holds while
                // frozen, before it drops the task and so its signal_struct.
                // A kernel that breaks this is what the checker is for; it
                // reads the node like the kernel's own readers would.
                let node = unsafe { Signal::from_raw(next, frozen) };
                if !self.known(member) {
                    self.add_releasing(node);
                    if self.full.is_some() || self.unexpected.is_some() {
                        return;
                    }
                }
                // Every member is a node of the snapshot by now: a list
                // with more entries than there are nodes repeats itself.
                steps += 1;
                let endless = steps > self.procs.len();
                let entry = Entry {
                    list: sig.key(),
                    member: if endless { 0 } else { member },
                };
                if self.entries.push_within_capacity(entry).is_err() {
                    self.full = Some("list entries");
                    return;
                }
                if endless {
                    return;
                }
                pos = node.next_sibling();
            }
        }
    }

    /// init_task: the root of the CABA tree, and the head of the task list.
    fn init_task() -> &'static Task {
        // SAFETY: init_task is a static task_struct that is never freed,
        // and `Task` is a transparent wrapper of task_struct.
        unsafe { &*(&raw const bindings::init_task).cast::<Task>() }
    }

    /// The initial pid namespace, in which the snapshot's tgids are read.
    fn init_pid_ns() -> &'static PidNamespace {
        // SAFETY: init_pid_ns is a static pid namespace that is never freed.
        unsafe { PidNamespace::from_ptr(&raw const bindings::init_pid_ns) }
    }

    /// Every process but init_task: the group leaders, which are linked
    /// through `tasks` to init_task's.
    fn processes(_frozen: &Frozen) -> impl Iterator<Item = &Task> {
        // SAFETY: init_task.tasks heads the list of group leaders, linked
        // through task_struct.tasks and changed only under tasklist_lock
        // held for writing, which no CPU holds while the system is frozen,
        // and `Task` is a transparent wrapper of task_struct.
        let list = unsafe {
            kernel::interop::list::clist_create!(
                &raw mut (*init_task().as_ptr()).tasks,
                Task,
                bindings::task_struct,
                tasks
            )
        };
        list.iter()
    }

    /// The signal_struct of a process on the task list (or of init_task).
    fn signal<'a>(task: &'a Task, frozen: &'a Frozen) -> &'a Signal {
        // SAFETY: ->signal of a task on the task list is set before it is
        // linked and freed only after release_task() unlinks it, which the
        // freeze holds off.
        unsafe { Signal::from_raw((*task.as_ptr()).signal, frozen) }
    }

    /// When the process's group leader started (start_boottime).
    fn start_boottime(task: &Task) -> u64 {
        // SAFETY: start_boottime is set in copy_process() before the task
        // is on the task list, and never changes after.
        unsafe { (*task.as_ptr()).start_boottime }
    }

    /// The level of a pid namespace (0 for the initial one).
    fn ns_level(ns: &PidNamespace) -> u32 {
        // SAFETY: The level of a live namespace is set at its creation and
        // never changes.
        unsafe { (*ns.as_ptr()).level }
    }

    /// The parent of a pid namespace, `None` for the initial one.
    fn ns_parent(ns: &PidNamespace) -> Option<&PidNamespace> {
        // SAFETY: The parent is set at creation and never changes, and a
        // namespace holds a reference to its parent for as long as it lives.
        let parent = unsafe { (*ns.as_ptr()).parent };
        // SAFETY: As above, the parent lives at least as long as `ns`.
        (!parent.is_null()).then(|| unsafe { PidNamespace::from_ptr(parent) })
    }

    /// A process's signal_struct, which holds its CABA fields, valid while
    /// the system is frozen.
    #[repr(transparent)]
    struct Signal(Opaque<bindings::signal_struct>);

    impl Signal {
        /// # Safety
        ///
        /// `ptr` is the signal_struct of a process on the task list (or of
        /// init_task), or of a releasing node, of the system that `frozen`
        /// freezes.
        unsafe fn from_raw<'a>(ptr: *mut bindings::signal_struct, _frozen: &'a Frozen) -> &'a Self {
            // SAFETY: The caller promises that `ptr` is valid while `frozen`
            // lives, and `Signal` is a transparent wrapper of signal_struct.
            unsafe { &*ptr.cast::<Self>() }
        }

        /// The process's identity in the snapshot: this signal_struct's address.
        fn key(&self) -> usize {
            self.0.get() as usize
        }

        /// The key of the process's CABA, 0 for none.
        fn caba(&self) -> usize {
            // SAFETY: ->caba is written only under tasklist_lock held for
            // writing, which no CPU holds while frozen, so this plain read
            // of the __rcu pointer races with no writer.
            unsafe { (*self.0.get()).caba as usize }
        }

        /// The process's tgid pid; `None` for a released process (a
        /// releasing node), which the task list never holds.
        fn tgid_pid(&self) -> Option<&Pid> {
            // SAFETY: The pids of a process are detached only under
            // tasklist_lock, and a struct pid outlives its attachment.
            let pid = unsafe { (*self.0.get()).pids[bindings::pid_type_PIDTYPE_TGID as usize] };
            // SAFETY: As above, the pid is attached, so valid while frozen.
            (!pid.is_null()).then(|| unsafe { &*pid.cast::<Pid>() })
        }

        /// The number of live threads.
        fn nr_threads(&self) -> c_int {
            // SAFETY: nr_threads changes only with tasklist_lock held for
            // writing (copy_process(), release_task()), which no CPU holds
            // while frozen.
            unsafe { (*self.0.get()).nr_threads }
        }

        /// The head of the process's CABA-descendants list.
        fn descendants(&self) -> *mut bindings::list_head {
            // SAFETY: Only the address of a field of this live signal_struct
            // is taken.
            unsafe { &raw mut (*self.0.get()).caba_descendants }
        }

        /// The first node of the CABA-descendants list (the head if empty).
        fn first_descendant(&self) -> *mut bindings::list_head {
            // SAFETY: The list head is written only under tasklist_lock held
            // for writing, which no CPU holds while frozen.
            unsafe { (*self.0.get()).caba_descendants.next }
        }

        /// The next node after this process on its CABA's list.
        fn next_sibling(&self) -> *mut bindings::list_head {
            // SAFETY: As for `first_descendant`, and this node lies in a live
            // signal_struct.
            unsafe { (*self.0.get()).caba_sibling.next }
        }
    }

    /// A struct pid, valid while the system is frozen.
    #[repr(transparent)]
    struct Pid(Opaque<bindings::pid>);

    impl Pid {
        /// The level of the pid's own (innermost) namespace.
        fn level(&self) -> u32 {
            // SAFETY: A pid's level is set at allocation and never changes.
            unsafe { (*self.0.get()).level }
        }

        /// The pid's own namespace, as ns_of_pid().
        fn own_ns(&self) -> &PidNamespace {
            // SAFETY: A pid has level + 1 numbers, set at allocation, and
            // holds a reference to the namespace of each.
            unsafe {
                let numbers = (*self.0.get()).numbers.as_ptr();
                PidNamespace::from_ptr((*numbers.add(self.level() as usize)).ns)
            }
        }
    }
}

#[cfg(not(CONFIG_PID_NS))]
mod frozen {
    //! Without CONFIG_PID_NS there are no CABA fields; the module refuses
    //! to load before it would take a snapshot.

    use super::invariants::{
        Entry,
        Ns,
        Proc, //
    };
    use kernel::{
        prelude::*,
        time::Delta, //
    };

    pub(super) struct Taken {
        pub(super) root: usize,
        pub(super) threads: usize,
        pub(super) frozen: Delta,
    }

    #[allow(dead_code)] // Only a snapshot finds a system too large or strange.
    pub(super) enum Stop {
        Full(&'static str),
        NotFrozen(Error),
        Unexpected(&'static str),
    }

    pub(super) fn snapshot(
        _procs: &mut KVVec<Proc>,
        _entries: &mut KVVec<Entry>,
        _ns: &mut KVVec<Ns>,
    ) -> Result<Taken, Stop> {
        Err(Stop::NotFrozen(EINVAL))
    }
}
