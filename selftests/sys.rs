// SPDX-License-Identifier: GPL-2.0
//! Every system call, wait and pipe helper the tests use, declared here
//! against the C library that std links anyway (like pidfd/pidfd.h), so the
//! test needs no crates and no other file declares `extern "C"`.

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CString};
use std::fmt;
use std::fs::File;
use std::io::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const CLONE_VM: u64 = 0x0000_0100;
pub const CLONE_VFORK: u64 = 0x0000_4000;
pub const CLONE_PARENT: u64 = 0x0000_8000;
pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
/// New in 7.2: the child is reaped by the kernel when it exits.
pub const CLONE_AUTOREAP: u64 = 1 << 34;
pub const SIGKILL: c_int = 9;
const SIGCHLD: c_int = 17;
pub const WNOHANG: c_int = 1;
pub const ESRCH: i32 = 3;
pub const EINVAL: i32 = 22;

// The numbers and flag values here are those of x86-64 and of the
// asm-generic ABI (arm64); the Makefile builds the test for these only.
// Another architecture needs its own (SIGCHLD, __NR_exit, O_EXCL and the
// _IOC encoding differ on some).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("sys.rs has no syscall numbers and flag values for this architecture");

const SYS_PIDFD_OPEN: c_long = 434;
const SYS_CLONE3: c_long = 435;
const PR_SET_DUMPABLE: c_int = 4;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const MS_REC: c_ulong = 16384;
const MS_PRIVATE: c_ulong = 1 << 18;
const PTRACE_SEIZE: c_int = 0x4206;
/// PIDFD_THREAD is O_EXCL.
const PIDFD_THREAD: c_int = 0o200;
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;

extern "C" {
    fn syscall(num: c_long, ...) -> c_long;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
        -> c_int;
    fn _exit(status: c_int) -> !;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong, arg4: c_ulong, arg5: c_ulong) -> c_int;
    fn setsid() -> c_int;
    fn setpgid(pid: c_int, pgid: c_int) -> c_int;
    fn setns(fd: c_int, nstype: c_int) -> c_int;
    fn unshare(flags: c_int) -> c_int;
    fn mount(
        src: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
    fn mkfifo(path: *const c_char, mode: u32) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn fork() -> c_int;
    fn clone(
        f: extern "C" fn(*mut c_void) -> c_int,
        stack: *mut c_void,
        flags: c_int,
        arg: *mut c_void,
        ...
    ) -> c_int;
    fn setresuid(r: u32, e: u32, s: u32) -> c_int;
    fn setresgid(r: u32, e: u32, s: u32) -> c_int;
    fn setgroups(n: usize, list: *const u32) -> c_int;
    fn getpid() -> c_int;
    fn geteuid() -> u32;
    fn pause() -> c_int;
    fn poll(fds: *mut PollFd, n: c_ulong, timeout: c_int) -> c_int;
    fn pipe(fds: *mut c_int) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn ptrace(request: c_int, ...) -> c_long;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
    fn sched_setscheduler(pid: c_int, policy: c_int, param: *const c_int) -> c_int;
    fn setpriority(which: c_int, who: u32, prio: c_int) -> c_int;
    static environ: *const *const c_char;
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

/// SCHED_FIFO at priority 1 for the calling thread (root only): it runs
/// as soon as it is runnable, ahead of every normal thread; with
/// `on` false, back to SCHED_OTHER.
pub fn realtime_thread(on: bool) -> Result<()> {
    const SCHED_OTHER: c_int = 0;
    const SCHED_FIFO: c_int = 1;
    let (policy, prio): (c_int, c_int) = if on {
        (SCHED_FIFO, 1)
    } else {
        (SCHED_OTHER, 0)
    };
    // SAFETY: struct sched_param is one int; 0 names the calling thread.
    check_int(unsafe { sched_setscheduler(0, policy, &prio) })
}

/// The nice value of the calling thread alone (Linux: PRIO_PROCESS with
/// who 0 is the calling thread); lowering it again needs root.
pub fn thread_nice(nice: i32) -> Result<()> {
    const PRIO_PROCESS: c_int = 0;
    // SAFETY: integer arguments only.
    check_int(unsafe { setpriority(PRIO_PROCESS, 0, nice) })
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process, so that
/// the times of reads in the runner and of a reap in an agent compare.
pub fn monotonic_ns() -> u64 {
    const CLOCK_MONOTONIC: c_int = 1;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

fn check(ret: c_long) -> Result<c_long> {
    if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: c_int) -> Result<()> {
    check(ret as c_long).map(drop)
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in paths and arguments")
}

/// An execve() prepared in advance, so that a child of clone3() in a
/// multi-threaded process runs nothing but the system call.
pub struct Exec {
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
}

impl Exec {
    pub fn new(args: &[String]) -> Exec {
        let strings: Vec<CString> = args.iter().map(|a| cstr(a)).collect();
        let mut argv: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        Exec {
            _strings: strings,
            argv,
        }
    }

    /// Replace the calling process's image; returns only on failure.
    pub fn exec(&self) -> Error {
        // SAFETY: argv is a NULL-terminated array of pointers into
        // self._strings, which outlives the call; environ is libc's.
        unsafe { execve(self.argv[0], self.argv.as_ptr(), environ) };
        Error::last_os_error()
    }
}

/// The exit signal a child made with @flags must get: clone3() refuses one
/// with CLONE_PARENT (the child signals like its creator) or CLONE_AUTOREAP.
fn exit_signal(flags: u64) -> c_int {
    if flags & (CLONE_PARENT | CLONE_AUTOREAP) != 0 {
        0
    } else {
        SIGCHLD
    }
}

/// clone3() with @flags; the child execs @exec at once. Returns the child's
/// pid as the caller's pid namespace sees it.
pub fn spawn(flags: u64, exec: &Exec) -> Result<i32> {
    let args: [u64; 8] = [flags, 0, 0, 0, exit_signal(flags) as u64, 0, 0, 0];
    // SAFETY: clone_args version 0 (64 bytes) without CLONE_VM: the child
    // gets a copy of our memory and only calls execve() and _exit().
    let pid = check(unsafe { syscall(SYS_CLONE3, args.as_ptr(), std::mem::size_of_val(&args)) })?;
    if pid == 0 {
        exec.exec();
        // SAFETY: leaving the child without running any of the parent's
        // destructors or atexit handlers.
        unsafe { _exit(127) };
    }
    Ok(pid as i32)
}

extern "C" fn vm_child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the leaked Exec that spawn_vm() passed to clone(); it
    // lives as long as the process.
    let exec = unsafe { &*(arg as *const Exec) };
    exec.exec();
    // SAFETY: the child shares our memory: leave without touching it.
    unsafe { _exit(127) }
}

/// clone3() with @flags of a child that _exit()s at once: does this
/// kernel accept the flags? (The child must not need reaping: the caller
/// passes CLONE_AUTOREAP or reaps it.)
pub fn clone3_probe(flags: u64) -> Result<()> {
    let args: [u64; 8] = [flags, 0, 0, 0, exit_signal(flags) as u64, 0, 0, 0];
    // SAFETY: as in spawn(); the child only calls _exit().
    let pid = check(unsafe { syscall(SYS_CLONE3, args.as_ptr(), std::mem::size_of_val(&args)) })?;
    if pid == 0 {
        // SAFETY: leaving the child at once.
        unsafe { _exit(0) };
    }
    Ok(())
}

/// clone() with CLONE_VM (and CLONE_VFORK if @vfork, as posix_spawn() does)
/// plus @flags; the child runs on a stack of its own and execs @exec.
/// Without CLONE_VFORK the child may still run when this returns, so the
/// stack and the Exec are leaked: a few per process, freed by its exit.
pub fn spawn_vm(flags: u64, vfork: bool, exec: Exec) -> Result<i32> {
    const STACK: usize = 256 * 1024;
    let stack: &'static mut [u8] = Vec::leak(vec![0u8; STACK]);
    let exec: &'static Exec = Box::leak(Box::new(exec));
    let all = flags | CLONE_VM | if vfork { CLONE_VFORK } else { 0 };
    // SAFETY: the child starts in vm_child() on the top of its own leaked
    // stack (16-byte aligned as the ABI wants) and only execs or _exit()s;
    // every flag fits the 32 bits of clone()'s int (no clone3-only flags).
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(STACK - 64);
        let top = (top as usize & !15) as *mut c_void;
        clone(
            vm_child,
            top,
            (all as c_int) | exit_signal(flags),
            exec as *const Exec as *mut c_void,
        )
    };
    check(pid as c_long).map(|p| p as i32)
}

extern "C" fn pauser(_arg: *mut c_void) -> c_int {
    pause_forever()
}

/// A child process (not a thread: its own thread group) that shares our
/// memory (CLONE_VM) and does nothing but pause() on a small stack of its
/// own until killed: much cheaper than fork() where thousands are needed.
/// Its stack is leaked (4 KiB, the child uses a few hundred bytes).
pub fn spawn_pauser() -> Result<i32> {
    const STACK: usize = 4096;
    let stack: &'static mut [u8] = Vec::leak(vec![0u8; STACK]);
    // SAFETY: the child starts in pauser() on the top of its own leaked
    // stack (16-byte aligned as the ABI wants) and only calls pause(),
    // touching nothing of ours.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(STACK - 64);
        let top = (top as usize & !15) as *mut c_void;
        clone(
            pauser,
            top,
            (CLONE_VM as c_int) | SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    check(pid as c_long).map(|p| p as i32)
}

/// fork() for a child that runs @child and then _exit()s with what it
/// returns. Only for callers with one thread (agents without thread agents).
pub fn fork_run(child: impl FnOnce() -> i32) -> Result<i32> {
    // SAFETY: fork() from a single-threaded process; the child runs @child
    // and _exit()s without unwinding into the parent's frames.
    let pid = unsafe { fork() };
    if pid < 0 {
        return Err(Error::last_os_error());
    }
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(126);
        // SAFETY: see above.
        unsafe { _exit(code) };
    }
    Ok(pid)
}

/// exit_group(): every thread of the process ends.
pub fn exit_group(code: i32) -> ! {
    // SAFETY: _exit() ends every thread of the process; nothing to clean up.
    unsafe { _exit(code) }
}

/// exit() of the calling thread alone: the other threads go on. Called by
/// the main thread, it leaves a zombie group leader behind.
pub fn exit_thread() -> ! {
    #[cfg(target_arch = "x86_64")]
    const SYS_EXIT: c_long = 60;
    #[cfg(target_arch = "aarch64")]
    const SYS_EXIT: c_long = 93; // asm-generic
    loop {
        // SAFETY: the thread ends here; the other threads do not use its
        // stack (nothing on it is shared).
        unsafe { syscall(SYS_EXIT, 0) };
    }
}

/// Block until a signal kills the caller.
pub fn pause_forever() -> ! {
    loop {
        // SAFETY: no arguments.
        unsafe { pause() };
    }
}

/// How a child ended, as waitpid() reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    Other(i32),
}

impl Exit {
    pub fn from_status(status: i32) -> Exit {
        match status & 0x7f {
            0 => Exit::Code((status >> 8) & 0xff),
            0x7f => Exit::Other(status), // stopped or continued
            sig => Exit::Signal(sig),
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exited with {c}"),
            Exit::Signal(s) => write!(f, "was killed by signal {s} ({})", signal_name(s)),
            Exit::Other(s) => write!(f, "changed state (wait status {s:#x})"),
        }
    }
}

/// waitpid(); Ok(None) with WNOHANG when no child was ready.
pub fn wait_pid(pid: i32, options: c_int) -> Result<Option<(i32, Exit)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let r = check(unsafe { waitpid(pid, &mut status, options) } as c_long)? as i32;
    Ok((r != 0).then(|| (r, Exit::from_status(status))))
}

/// Wait for the child @pid, like wait_for_pid() in pidfd.h: how it ended.
pub fn wait_exit(pid: i32) -> Result<Exit> {
    match wait_pid(pid, 0)? {
        Some((_, e)) => Ok(e),
        None => Err(Error::from_raw_os_error(ESRCH)),
    }
}

pub fn set_subreaper(on: bool) -> Result<()> {
    // SAFETY: plain prctl() with integer arguments.
    check_int(unsafe { prctl(PR_SET_CHILD_SUBREAPER, on as c_ulong, 0, 0, 0) })
}

/// SIGCHLD ignored (children are reaped by the kernel) or back to default.
pub fn ignore_sigchld(ignore: bool) -> Result<()> {
    let handler = if ignore { SIG_IGN } else { SIG_DFL };
    // SAFETY: SIG_IGN and SIG_DFL are not functions; nothing is called.
    let old = unsafe { signal(SIGCHLD, handler) };
    if old == usize::MAX {
        Err(Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn new_session() -> Result<()> {
    // SAFETY: no pointers.
    check_int(unsafe { setsid() })
}

pub fn set_pgid(pid: i32, pgid: i32) -> Result<()> {
    // SAFETY: no pointers.
    check_int(unsafe { setpgid(pid, pgid) })
}

/// Enter the pid namespace of the process that /proc path @ns_path names,
/// for our future children.
pub fn enter_pid_ns(ns_path: &str) -> Result<()> {
    let file = File::open(ns_path)?;
    // SAFETY: a valid open file descriptor.
    check_int(unsafe { setns(file.as_raw_fd(), CLONE_NEWPID as c_int) })
}

pub fn unshare_flags(flags: u64) -> Result<()> {
    // SAFETY: no pointers.
    check_int(unsafe { unshare(flags as c_int) })
}

/// Give the caller a private mount namespace with a procfs of its own pid
/// namespace on /proc.
pub fn private_proc() -> Result<()> {
    unshare_flags(CLONE_NEWNS)?;
    let root = cstr("/");
    let fstype = cstr("proc");
    let target = cstr("/proc");
    // SAFETY: NUL-terminated strings that outlive the calls.
    unsafe {
        check_int(mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            MS_REC | MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check_int(mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        ))?;
    }
    Ok(())
}

pub fn make_fifo(path: &str) -> Result<()> {
    let p = cstr(path);
    // SAFETY: a NUL-terminated path.
    check_int(unsafe { mkfifo(p.as_ptr(), 0o600) })
}

pub fn kill_pid(pid: i32, sig: c_int) -> Result<()> {
    // SAFETY: no pointers.
    check_int(unsafe { kill(pid, sig) })
}

/// Become an unprivileged user: setresuid() away from 0 clears every
/// capability; then ptrace-readable by that uid again (a credential change
/// clears dumpable).
pub fn drop_privileges(uid: u32) -> Result<()> {
    // SAFETY: an empty group list, then plain integer ids.
    unsafe {
        check_int(setgroups(0, std::ptr::null()))?;
        check_int(setresgid(uid, uid, uid))?;
        check_int(setresuid(uid, uid, uid))?;
        check_int(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))?;
    }
    Ok(())
}

pub fn my_pid() -> i32 {
    // SAFETY: no arguments.
    unsafe { getpid() }
}

pub fn is_root() -> bool {
    // SAFETY: no arguments.
    unsafe { geteuid() == 0 }
}

/// PTRACE_SEIZE without options: no stop, the tracee runs on.
pub fn ptrace_seize(pid: i32) -> Result<()> {
    // SAFETY: integer arguments only (addr and data are 0).
    check(unsafe { ptrace(PTRACE_SEIZE, pid as c_long, 0 as c_long, 0 as c_long) }).map(drop)
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

/// Wait up to @ms (forever if negative) for @fd to become readable.
pub fn readable(fd: RawFd, ms: i32) -> Result<bool> {
    let mut p = PollFd {
        fd,
        events: 1,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = check(unsafe { poll(&mut p, 1, ms) } as c_long)?;
    Ok(n > 0)
}

/// A pipe: (read end, write end).
pub fn make_pipe() -> Result<(File, File)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe() returns.
    check_int(unsafe { pipe(fds.as_mut_ptr()) })?;
    // SAFETY: pipe() just returned these descriptors; each is owned once.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

// The pidfd interface. struct pidfd_info as of PIDFD_INFO_SIZE_VER4 (the
// CABA series, v7: 104 bytes, caba_ino before caba); older kernels fill
// what they know and zero the rest.
pub const PIDFD_INFO_PID: u64 = 1 << 0;
pub const PIDFD_INFO_EXIT: u64 = 1 << 3;
pub const PIDFD_INFO_SUPPORTED_MASK: u64 = 1 << 5;
pub const PIDFD_INFO_CABA: u64 = 1 << 8;
const PIDFD_INFO_SIZE_VER4: usize = 104;

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct PidfdInfo {
    pub mask: u64,
    pub cgroupid: u64,
    pub pid: u32,
    pub tgid: u32,
    pub ppid: u32,
    pub ruid: u32,
    pub rgid: u32,
    pub euid: u32,
    pub egid: u32,
    pub suid: u32,
    pub sgid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
    pub exit_code: i32,
    pub coredump_mask: u32,
    pub coredump_signal: u32,
    pub coredump_code: u32,
    pub coredump_pad: u32,
    pub supported_mask: u64,
    /// The CABA's pidfs inode number (what fstat() of a pidfd for it shows
    /// as st_ino), 0 exactly when `caba` is 0.
    pub caba_ino: u64,
    pub caba: u32,
    pub caba_pad: u32,
}

const _: () = assert!(std::mem::size_of::<PidfdInfo>() == PIDFD_INFO_SIZE_VER4);

/// _IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info): the size is part of it.
const PIDFD_GET_INFO: c_ulong =
    (3 << 30) | ((PIDFD_INFO_SIZE_VER4 as c_ulong) << 16) | (0xFF << 8) | 11;

/// pidfd_open(); @thread asks for PIDFD_THREAD (a pidfd for one thread).
pub fn pidfd_open(pid: i32, thread: bool) -> Result<OwnedFd> {
    let flags = if thread { PIDFD_THREAD } else { 0 };
    // SAFETY: integer arguments; a returned descriptor is ours alone.
    let fd = check(unsafe { syscall(SYS_PIDFD_OPEN, pid as c_long, flags as c_long) })?;
    // SAFETY: pidfd_open() just returned this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// PIDFD_GET_INFO as a caller built against PIDFD_INFO_SIZE_VER3 (88
/// bytes, before the CABA) asks for it: the last 16 bytes stay untouched.
pub fn pidfd_get_info_ver3(pidfd: &OwnedFd, mask: u64) -> Result<PidfdInfo> {
    const VER3: c_ulong = 88;
    const _: () = assert!(std::mem::offset_of!(PidfdInfo, caba_ino) == VER3 as usize);
    let request = (PIDFD_GET_INFO & !(0x3fff << 16)) | (VER3 << 16);
    let mut info = PidfdInfo {
        mask,
        caba_ino: 0xdead_beef_dead_beef,
        caba: 0xdead,
        caba_pad: 0xdead,
        ..Default::default()
    };
    // SAFETY: info is writable and larger than the 88 bytes the request
    // number announces.
    check_int(unsafe { ioctl(pidfd.as_raw_fd(), request, &mut info as *mut PidfdInfo) })?;
    if info.caba_ino != 0xdead_beef_dead_beef || info.caba != 0xdead || info.caba_pad != 0xdead {
        return Err(Error::other(
            "PIDFD_GET_INFO wrote past the 88 bytes of a VER3 caller",
        ));
    }
    Ok(info)
}

/// The pidfs inode number of a pidfd (st_ino of fstat()): the identity of
/// its process, never reused while the system runs (on 64-bit).
pub fn pidfd_ino(pidfd: &OwnedFd) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(File::from(pidfd.try_clone()?).metadata()?.ino())
}

/// PIDFD_GET_INFO asking for @mask.
pub fn pidfd_get_info(pidfd: &OwnedFd, mask: u64) -> Result<PidfdInfo> {
    let mut info = PidfdInfo {
        mask,
        ..Default::default()
    };
    // SAFETY: info is a writable struct pidfd_info of the size encoded in
    // the request number.
    check_int(unsafe {
        ioctl(
            pidfd.as_raw_fd(),
            PIDFD_GET_INFO,
            &mut info as *mut PidfdInfo,
        )
    })?;
    Ok(info)
}
