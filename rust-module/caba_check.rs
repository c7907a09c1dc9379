// SPDX-License-Identifier: GPL-2.0
//! caba_check: verify the CABA tree of a running kernel.
//!
//! Loading the module freezes the system with stop_machine(), copies what
//! every process says about its CABA into a snapshot of plain data, lets the
//! system go, and checks invariants I1-I8 of the CABA spec on the snapshot
//! (invariants.rs, also tested on the host). Each violation is logged with
//! the pid, the invariant, what was found and what was expected, and the
//! load fails with -EINVAL. On success one summary line is logged and the
//! module stays loaded until rmmod.
//!
//! Why stop_machine() gives a consistent snapshot: every writer of ->caba
//! and of the CABA-descendants lists (copy_process(), release_task()) holds
//! write_lock_irq(&tasklist_lock), so it runs with interrupts and preemption
//! off. stop_machine() only starts the callback once every CPU runs its
//! stopper thread with interrupts off; a CPU inside such a section cannot be
//! preempted, so none is, and none can enter one until we return. Tasks on
//! the task list are removed under the same lock before they are freed, so
//! everything reachable from it stays valid. 6.12's kernel crate has no
//! task iteration and tasklist_lock is not exported, which is why the walk
//! reads the task list itself. Under PREEMPT_RT tasklist_lock sleeps and
//! its holders can be preempted, so there the module refuses to load.

use core::ffi::c_void;
use kernel::prelude::*;

// Public only to satisfy the kernel's unreachable_pub lint: the file is shared
// with the host crate (host/), whose tests need its items public.
pub mod invariants;

module! {
    type: CabaCheck,
    name: "caba_check",
    author: "CABA developers",
    description: "Checks the invariants of the CABA (closest alive born ancestor) tree",
    license: "GPL",
}

/// The most processes, list entries and pid namespaces the snapshot holds:
/// its memory is allocated before the system is frozen.
const MAX_PROCS: usize = 1 << 16;
const MAX_NS: usize = 1024;
/// How many violations are printed one by one.
const MAX_REPORTED: usize = 64;

struct CabaCheck;

impl kernel::Module for CabaCheck {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if cfg!(CONFIG_PREEMPT_RT) {
            pr_err!("refusing to load: under PREEMPT_RT, tasklist_lock holders are preemptible and stop_machine() does not exclude them, so no consistent snapshot can be taken\n");
            return Err(EINVAL);
        }
        check_now()?;
        Ok(CabaCheck)
    }
}

#[cfg(not(CONFIG_PID_NS))]
fn check_now() -> Result {
    pr_err!(
        "refusing to load: CABA is tracked only with CONFIG_PID_NS=y, and this kernel has it off\n"
    );
    Err(EINVAL)
}

#[cfg(CONFIG_PID_NS)]
fn check_now() -> Result {
    use invariants::{Entry, Ns, Proc, Snapshot};

    let mut snap = frozen::Frozen {
        procs: KVVec::with_capacity(MAX_PROCS, GFP_KERNEL)?,
        entries: KVVec::with_capacity(MAX_PROCS, GFP_KERNEL)?,
        ns: KVVec::with_capacity(MAX_NS, GFP_KERNEL)?,
        root: 0,
        threads: 0,
        overflow: None,
        frozen_ns: 0,
    };
    let mut scratch = KVVec::<u32>::from_elem(0, invariants::scratch_len(MAX_PROCS), GFP_KERNEL)?;

    // SAFETY: `snapshot` only touches the Frozen behind `data`, which lives
    // on our stack until stop_machine() returns; a NULL cpumask runs it on
    // one CPU while all others spin with interrupts off.
    let ret = unsafe {
        frozen::stop_machine(
            Some(frozen::snapshot),
            (&raw mut snap).cast::<c_void>(),
            core::ptr::null(),
        )
    };
    if ret != 0 {
        pr_err!("stop_machine() failed: {}\n", ret);
        return Err(Error::from_errno(ret));
    }
    if let Some(what) = snap.overflow {
        pr_err!(
            "refusing to check: more {} than the checker holds; nothing was verified\n",
            what
        );
        return Err(ENOSPC);
    }

    let procs: &[Proc] = &snap.procs;
    let entries: &[Entry] = &snap.entries;
    let ns: &[Ns] = &snap.ns;
    let s = Snapshot {
        root: snap.root,
        procs,
        entries,
        ns,
    };
    let mut reported = 0usize;
    let sum = invariants::check(&s, &mut scratch, &mut |v| {
        if reported < MAX_REPORTED {
            pr_err!("violation: {}\n", v);
        }
        reported += 1;
    });
    if sum.violations > 0 {
        if reported > MAX_REPORTED {
            pr_err!("... and {} more violations\n", reported - MAX_REPORTED);
        }
        pr_err!(
            "{} violation(s) in {} processes, {} list entries; failing the load\n",
            sum.violations,
            sum.processes,
            sum.entries
        );
        return Err(EINVAL);
    }
    pr_info!(
        "all invariants hold: {} processes ({} threads), {} list entries, {} pid namespaces, deepest chain {}, system frozen for {} us\n",
        sum.processes,
        snap.threads,
        sum.entries,
        ns.len(),
        sum.deepest,
        snap.frozen_ns / 1000
    );
    Ok(())
}

#[cfg(CONFIG_PID_NS)]
mod frozen {
    //! The part that runs while the system is frozen: it reads kernel
    //! structures and writes plain data into memory allocated beforehand.
    //! It must not sleep, allocate, or panic.

    use super::invariants::{self, Entry, Ns, Proc};
    use super::{MAX_NS, MAX_PROCS};
    use core::ffi::{c_int, c_void};
    use core::mem::offset_of;
    use kernel::bindings;
    use kernel::prelude::*;

    extern "C" {
        /// From include/linux/stop_machine.h (not in 6.12's bindings).
        pub(super) fn stop_machine(
            f: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
            data: *mut c_void,
            cpus: *const bindings::cpumask,
        ) -> c_int;
    }

    pub(super) struct Frozen {
        pub(super) procs: KVVec<Proc>,
        pub(super) entries: KVVec<Entry>,
        pub(super) ns: KVVec<Ns>,
        pub(super) root: usize,
        pub(super) threads: usize,
        pub(super) overflow: Option<&'static str>,
        pub(super) frozen_ns: i64,
    }

    /// Push without allocating: the capacity was reserved before freezing.
    fn push<T>(v: &mut KVVec<T>, x: T) -> bool {
        if v.len() >= v.capacity() {
            return false;
        }
        // Cannot allocate: there is room. GFP_ATOMIC all the same.
        v.push(x, GFP_ATOMIC).is_ok()
    }

    /// The stop_machine() callback.
    ///
    /// # Safety
    ///
    /// `data` must point to a `Frozen` that nothing else uses meanwhile, and
    /// the system must be frozen (see the module comment).
    pub(super) unsafe extern "C" fn snapshot(data: *mut c_void) -> c_int {
        // SAFETY: the caller passes its exclusive `Frozen`.
        let f = unsafe { &mut *data.cast::<Frozen>() };
        // SAFETY: ktime_get() may be called with interrupts off.
        let t0 = unsafe { bindings::ktime_get() };
        // SAFETY: the system is frozen, as this function requires.
        unsafe { f.walk() };
        // SAFETY: as above.
        f.frozen_ns = unsafe { bindings::ktime_get() } - t0;
        0
    }

    impl Frozen {
        /// # Safety
        ///
        /// The system is frozen: every task on the task list and what it
        /// points at stays valid and unchanged while this runs.
        unsafe fn walk(&mut self) {
            let init = &raw mut bindings::init_task;
            // SAFETY: init_task is a valid task; its signal is init_signals.
            self.root = unsafe { (*init).signal } as usize;
            // SAFETY: init_task is valid.
            unsafe { self.add_process(init) };

            // Group leaders hang off init_task.tasks, one per process.
            // SAFETY: init_task is valid; tasks is its list head.
            let head = unsafe { &raw mut (*init).tasks };
            // SAFETY: the list is not changing (frozen), head is valid.
            let mut pos = unsafe { (*head).next };
            while pos != head {
                if self.overflow.is_some() {
                    return;
                }
                let task = pos
                    .wrapping_byte_sub(offset_of!(bindings::task_struct, tasks))
                    .cast::<bindings::task_struct>();
                // SAFETY: every entry of the task list is a live task.
                unsafe { self.add_process(task) };
                // SAFETY: as above; `pos` is a live list node.
                pos = unsafe { (*pos).next };
            }
            invariants::sort(&mut self.procs);
            for i in 0..self.procs.len() {
                // SAFETY: the keys are signal_structs of live tasks.
                unsafe { self.add_list(self.procs[i].key) };
            }
        }

        /// # Safety
        ///
        /// `task` is a live group leader (or init_task) of a frozen system.
        unsafe fn add_process(&mut self, task: *mut bindings::task_struct) {
            // SAFETY: a live task has a valid signal_struct.
            let sig = unsafe { (*task).signal };
            // SAFETY: `sig` is valid; a process on the task list has its
            // tgid pid attached (detached only under tasklist_lock).
            let (caba, pid, threads, start) = unsafe {
                (
                    (*sig).caba as usize,
                    (*sig).pids[bindings::pid_type_PIDTYPE_TGID as usize],
                    (*sig).nr_threads,
                    (*task).start_boottime,
                )
            };
            if pid.is_null() {
                self.overflow = Some("processes without a tgid pid (not a frozen system?)");
                return;
            }
            // SAFETY: `pid` is a live struct pid with level + 1 numbers.
            let (level, tgid, ns) = unsafe {
                let level = (*pid).level;
                let numbers = (*pid).numbers.as_ptr();
                (level, (*numbers).nr, (*numbers.add(level as usize)).ns)
            };
            self.threads += threads.max(0) as usize;
            let p = Proc {
                key: sig as usize,
                caba,
                tgid,
                level,
                ns: ns as usize,
                start,
            };
            if !push(&mut self.procs, p) {
                self.overflow = Some("processes");
                return;
            }
            // The namespace chain, each namespace once. struct pid_namespace
            // is opaque to Rust in 6.12, but the pid holds the namespace at
            // every level: the parent of level g is level g - 1.
            for g in (0..=level.min(MAX_PID_NS_LEVEL)).rev() {
                // SAFETY: `pid` has level + 1 numbers and g <= level.
                let (key, parent) = unsafe {
                    let numbers = (*pid).numbers.as_ptr();
                    let parent = if g == 0 {
                        core::ptr::null_mut()
                    } else {
                        (*numbers.add(g as usize - 1)).ns
                    };
                    ((*numbers.add(g as usize)).ns as usize, parent as usize)
                };
                if self.ns.iter().any(|n| n.key == key) {
                    break; // so are all its ancestors
                }
                if !push(
                    &mut self.ns,
                    Ns {
                        key,
                        parent,
                        level: g,
                    },
                ) {
                    self.overflow = Some("pid namespaces");
                    return;
                }
            }
        }

        /// Record the CABA-descendants list of process `key`. Entries that
        /// are no known process are recorded but never followed, and the
        /// walk is bounded: corruption becomes a violation, not an oops.
        ///
        /// # Safety
        ///
        /// `key` is the signal_struct of a live process of a frozen system.
        unsafe fn add_list(&mut self, key: usize) {
            let sig = key as *mut bindings::signal_struct;
            // SAFETY: `sig` is valid.
            let head = unsafe { &raw mut (*sig).caba_descendants };
            // SAFETY: `head` is a valid list head.
            let mut pos = unsafe { (*head).next };
            let mut steps = 0;
            while pos != head {
                let member = pos
                    .wrapping_byte_sub(offset_of!(bindings::signal_struct, caba_sibling))
                    as usize;
                steps += 1;
                let endless = steps > MAX_PROCS;
                let entry = Entry {
                    list: key,
                    member: if endless { 0 } else { member },
                };
                if !push(&mut self.entries, entry) {
                    self.overflow = Some("list entries");
                    return;
                }
                let known = self.procs.binary_search_by_key(&member, |p| p.key).is_ok();
                if endless || !known {
                    return;
                }
                // SAFETY: `member` is the signal_struct of a live process.
                pos = unsafe {
                    (*(member as *mut bindings::signal_struct))
                        .caba_sibling
                        .next
                };
            }
        }
    }

    /// From include/linux/pid_namespace.h.
    const MAX_PID_NS_LEVEL: u32 = 32;
    const _: () = assert!(MAX_NS > MAX_PID_NS_LEVEL as usize);
}
