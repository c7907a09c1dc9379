// SPDX-License-Identifier: GPL-2.0
//! The few system calls the standard library does not wrap. Declared here
//! against the C library that std links anyway, so the test needs no crates.

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CString};
use std::io::{Error, Result};

pub const CLONE_PARENT: u64 = 0x0000_8000;
pub const CLONE_NEWNS: c_int = 0x0002_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
const SIGCHLD: u64 = 17;
const SYS_CLONE3: c_long = 435;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const MS_REC: c_ulong = 16384;
const MS_PRIVATE: c_ulong = 1 << 18;
pub const SIGKILL: c_int = 9;
pub const WNOHANG: c_int = 1;

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
    fn setresuid(r: u32, e: u32, s: u32) -> c_int;
    fn setresgid(r: u32, e: u32, s: u32) -> c_int;
    fn setgroups(n: usize, list: *const u32) -> c_int;
    fn getpid() -> c_int;
    static environ: *const *const c_char;
}

fn check(ret: c_long) -> Result<c_long> {
    if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret)
    }
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

/// clone3() with @flags; the child execs @exec at once. Returns the child's
/// pid as the caller's pid namespace sees it.
pub fn spawn(flags: u64, exec: &Exec) -> Result<i32> {
    // clone3() refuses an exit signal with CLONE_PARENT: the child then
    // signals like its creator did.
    let exit_signal = if flags & CLONE_PARENT != 0 {
        0
    } else {
        SIGCHLD
    };
    let args: [u64; 8] = [flags, 0, 0, 0, exit_signal, 0, 0, 0];
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

/// fork() for a child that runs @child and then _exit()s. Only for callers
/// that are single-threaded (the runner's own helpers).
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

pub fn exit_group(code: i32) -> ! {
    // SAFETY: _exit() ends every thread of the process; nothing to clean up.
    unsafe { _exit(code) }
}

/// waitpid(); returns the pid reaped, 0 with WNOHANG when none was ready.
pub fn wait_pid(pid: i32, options: c_int) -> Result<i32> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    check(unsafe { waitpid(pid, &mut status, options) } as c_long).map(|r| r as i32)
}

pub fn set_subreaper(on: bool) -> Result<()> {
    // SAFETY: plain prctl() with integer arguments.
    check(unsafe { prctl(PR_SET_CHILD_SUBREAPER, on as c_ulong, 0, 0, 0) } as c_long).map(drop)
}

pub fn new_session() -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { setsid() } as c_long).map(drop)
}

pub fn set_pgid(pid: i32, pgid: i32) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { setpgid(pid, pgid) } as c_long).map(drop)
}

/// Enter the pid namespace of the process that /proc path @ns_path names,
/// for our future children.
pub fn enter_pid_ns(ns_path: &str) -> Result<()> {
    let file = std::fs::File::open(ns_path)?;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open file descriptor.
    check(unsafe { setns(file.as_raw_fd(), CLONE_NEWPID as c_int) } as c_long).map(drop)
}

pub fn unshare_flags(flags: c_int) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { unshare(flags) } as c_long).map(drop)
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
        check(mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            MS_REC | MS_PRIVATE,
            std::ptr::null(),
        ) as c_long)?;
        check(mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        ) as c_long)?;
    }
    Ok(())
}

pub fn make_fifo(path: &str) -> Result<()> {
    let p = cstr(path);
    // SAFETY: a NUL-terminated path.
    check(unsafe { mkfifo(p.as_ptr(), 0o600) } as c_long).map(drop)
}

pub fn kill_pid(pid: i32, sig: c_int) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { kill(pid, sig) } as c_long).map(drop)
}

/// Become an unprivileged user: setresuid() away from 0 clears every capability.
pub fn drop_privileges(uid: u32) -> Result<()> {
    // SAFETY: an empty group list, then plain integer ids.
    unsafe {
        check(setgroups(0, std::ptr::null()) as c_long)?;
        check(setresgid(uid, uid, uid) as c_long)?;
        check(setresuid(uid, uid, uid) as c_long)?;
    }
    Ok(())
}

pub fn my_pid() -> i32 {
    // SAFETY: no arguments.
    unsafe { getpid() }
}

const PR_SET_DUMPABLE: c_int = 4;

/// Make the caller ptrace-readable by its own uid again (a credential
/// change clears it).
pub fn set_dumpable() -> Result<()> {
    // SAFETY: plain prctl() with integer arguments.
    check(unsafe { prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) } as c_long).map(drop)
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

extern "C" {
    fn poll(fds: *mut PollFd, n: c_ulong, timeout: c_int) -> c_int;
}

/// Wait up to @ms for @fd to become readable.
pub fn readable(fd: c_int, ms: i32) -> Result<bool> {
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
pub fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    extern "C" {
        fn pipe(fds: *mut c_int) -> c_int;
    }
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe() returns.
    check(unsafe { pipe(fds.as_mut_ptr()) } as c_long)?;
    use std::os::fd::FromRawFd;
    // SAFETY: pipe() just returned these descriptors; each is owned once.
    Ok(unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    })
}
