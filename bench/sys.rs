// SPDX-License-Identifier: GPL-2.0
//! The few system calls caba_bench needs, straight from libc: no crates, and
//! independent of selftests/sys.rs, whose interface moves with the tests.

use std::ffi::{c_char, c_int, c_long, c_void, CString};
use std::fs::File;
use std::io::{Error, Result};
use std::os::fd::FromRawFd;

extern "C" {
    fn fork() -> c_int;
    fn vfork() -> c_int;
    fn _exit(code: c_int) -> !;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn waitid(idtype: c_int, id: u32, info: *mut u8, options: c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn prctl(option: c_int, arg2: c_long, arg3: c_long, arg4: c_long, arg5: c_long) -> c_int;
    fn setgroups(size: usize, list: *const u32) -> c_int;
    fn setresgid(r: u32, e: u32, s: u32) -> c_int;
    fn setresuid(r: u32, e: u32, s: u32) -> c_int;
    fn getuid() -> u32;
    fn getpid() -> c_int;
    fn clock_gettime(clock: c_int, tp: *mut [i64; 2]) -> c_int;
    fn getrlimit(resource: c_int, rlim: *mut [u64; 2]) -> c_int;
    fn getrusage(who: c_int, usage: *mut [c_long; 18]) -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
        -> c_int;
    fn mount(
        src: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: u64,
        data: *const c_void,
    ) -> c_int;
    fn statfs(path: *const c_char, buf: *mut [i64; 15]) -> c_int;
    fn personality(persona: u64) -> c_int;
    fn syscall(nr: c_long, ...) -> c_long;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn pause() -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
}

fn check(ret: c_int) -> Result<c_int> {
    if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Fork; the child runs `child` and exits with its value, never returning.
pub fn fork_run(child: impl FnOnce() -> i32) -> Result<i32> {
    // SAFETY: the child only runs `child` and _exit()s; the benchmark is
    // single-threaded whenever it forks.
    let pid = check(unsafe { fork() })?;
    if pid == 0 {
        let code = child();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { _exit(code) };
    }
    Ok(pid)
}

/// Like fork_run, with CLONE_PARENT: the child is our sibling (a child of
/// our parent), but we are its creator, hence its CABA.
pub fn clone_parent_run(child: impl FnOnce() -> i32) -> Result<i32> {
    const SYS_CLONE: c_long = 56;
    const CLONE_PARENT: c_long = 0x8000;
    const SIGCHLD: c_long = 17;
    // SAFETY: clone without a new stack or CLONE_VM behaves like fork: the
    // child runs on a copy of our memory. We are single-threaded here.
    let pid = unsafe {
        syscall(
            SYS_CLONE,
            CLONE_PARENT | SIGCHLD,
            0 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        )
    };
    let pid = check(pid as c_int)?;
    if pid == 0 {
        let code = child();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { _exit(code) };
    }
    Ok(pid)
}

/// Sleep until killed.
pub fn pause_forever() -> ! {
    loop {
        // SAFETY: plain system call.
        unsafe { pause() };
    }
}

pub fn kill_pid(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: plain system call.
    check(unsafe { kill(pid, sig) }).map(|_| ())
}

/// vfork and _exit at once: the child calls nothing else, as vfork allows.
pub fn vfork_exit() -> Result<i32> {
    // SAFETY: the child shares our memory and stack until it exits; it calls
    // nothing but _exit().
    let pid = unsafe { vfork() };
    if pid == 0 {
        // SAFETY: see above.
        unsafe { _exit(0) };
    }
    check(pid)
}

/// A program and its arguments, prepared before a vfork so that the child
/// only calls execve() and _exit().
pub struct Exec {
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl Exec {
    pub fn new(args: &[&str]) -> Exec {
        let strings: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        Exec {
            _strings: strings,
            argv,
            envp: vec![std::ptr::null()],
        }
    }

    /// vfork, execve in the child (exit 127 if that fails); the child's pid.
    pub fn vfork_exec(&self) -> Result<i32> {
        // SAFETY: the child calls only execve() and _exit() on memory that
        // was prepared before the vfork and stays valid until it returns.
        let pid = unsafe { vfork() };
        if pid == 0 {
            // SAFETY: see above; argv and envp are NULL-terminated.
            unsafe {
                execve(self.argv[0], self.argv.as_ptr(), self.envp.as_ptr());
                _exit(127)
            }
        }
        check(pid)
    }
}

/// waitpid(); returns the exit status word.
pub fn wait_pid(pid: i32) -> Result<i32> {
    let mut status = 0;
    // SAFETY: status is a valid int.
    check(unsafe { waitpid(pid, &mut status, 0) })?;
    Ok(status)
}

/// Block until `pid` is a zombie, without reaping it: waitid(WNOWAIT). A
/// polling loop would compete with the exit it measures on one vCPU.
pub fn wait_zombie(pid: i32) -> Result<()> {
    const P_PID: c_int = 1;
    const WEXITED: c_int = 4;
    const WNOWAIT: c_int = 0x0100_0000;
    // Room for a siginfo_t, which waitid() fills in.
    let mut info = [0u8; 128];
    // SAFETY: info is large enough for a siginfo_t.
    check(unsafe { waitid(P_PID, pid as u32, info.as_mut_ptr(), WEXITED | WNOWAIT) })?;
    Ok(())
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(File, File)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for two descriptors.
    check(unsafe { pipe2(fds.as_mut_ptr(), 0o2000000) })?;
    // SAFETY: pipe2 just returned these two descriptors, owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

pub fn set_subreaper() -> Result<()> {
    const PR_SET_CHILD_SUBREAPER: c_int = 36;
    // SAFETY: plain prctl.
    check(unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(|_| ())
}

/// Make the calling process ptrace-readable by its own user again (setuid
/// cleared the dumpable flag).
pub fn set_dumpable() -> Result<()> {
    const PR_SET_DUMPABLE: c_int = 4;
    // SAFETY: plain prctl.
    check(unsafe { prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) }).map(|_| ())
}

/// Become `uid`/`gid` with no supplementary groups and no capabilities.
pub fn drop_privileges(uid: u32, gid: u32) -> Result<()> {
    // SAFETY: plain system calls.
    unsafe {
        check(setgroups(0, std::ptr::null()))?;
        check(setresgid(gid, gid, gid))?;
        check(setresuid(uid, uid, uid))?;
    }
    Ok(())
}

pub fn is_root() -> bool {
    // SAFETY: cannot fail.
    unsafe { getuid() == 0 }
}

pub fn my_pid() -> i32 {
    // SAFETY: cannot fail.
    unsafe { getpid() }
}

pub const CLOCK_PROCESS_CPUTIME_ID: c_int = 2;

/// The CPU clock of process `pid` (MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)):
/// the summed sum_exec_runtime of its threads, exited ones included.
pub fn process_cpu_clock(pid: i32) -> c_int {
    (!pid << 3) | 2
}

/// clock_gettime() in nanoseconds; None if the clock is gone (process exited).
pub fn clock_ns(clock: c_int) -> Option<u64> {
    let mut ts = [0i64; 2];
    // SAFETY: ts has the layout of a struct timespec on 64-bit Linux.
    if unsafe { clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts[0] as u64 * 1_000_000_000 + ts[1] as u64)
}

/// The soft limit of RLIMIT_NPROC (u64::MAX for unlimited).
pub fn nproc_limit() -> u64 {
    const RLIMIT_NPROC: c_int = 6;
    let mut r = [0u64; 2];
    // SAFETY: r has the layout of a struct rlimit.
    unsafe { getrlimit(RLIMIT_NPROC, &mut r) };
    r[0]
}

/// Of the whole process, all threads (exited ones included): (voluntary plus
/// involuntary context switches, minor page faults).
pub fn rusage_self() -> (u64, u64) {
    const RUSAGE_SELF: c_int = 0;
    // struct rusage: two timevals (4 longs), then 14 longs: ru_minflt is the
    // 5th of those, ru_nvcsw and ru_nivcsw the last two.
    let mut r = [0 as c_long; 18];
    // SAFETY: r has the size of a struct rusage.
    unsafe { getrusage(RUSAGE_SELF, &mut r) };
    ((r[16] + r[17]) as u64, r[8] as u64)
}

/// Whether `path` is on a tmpfs.
pub fn is_tmpfs(path: &str) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(p) = CString::new(path) else {
        return false;
    };
    let mut buf = [0i64; 15];
    // SAFETY: buf is larger than a struct statfs (f_type first).
    unsafe { statfs(p.as_ptr(), &mut buf) == 0 && buf[0] == TMPFS_MAGIC }
}

pub fn mount_tmpfs(target: &str) -> Result<()> {
    let t = CString::new(target).unwrap();
    let fs = CString::new("tmpfs").unwrap();
    // SAFETY: valid C strings; no data.
    check(unsafe { mount(fs.as_ptr(), t.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) }).map(|_| ())
}

/// Turn user-space address randomization off (ADDR_NO_RANDOMIZE, as
/// `setarch -R` does) and re-exec ourselves, once. Where it cannot be done
/// (a seccomp filter, say) this returns and the run goes on randomized.
///
/// Why: the placement of the stacks and mappings changes how many page
/// tables fork copies and thread stacks need, so with randomization the
/// instruction count of fork and of thread create+join moves by up to 6 %
/// from boot to boot of the same kernel; without it, by 0.1 %.
pub fn no_aslr_reexec() -> bool {
    const ADDR_NO_RANDOMIZE: u64 = 0x0040000;
    // SAFETY: 0xffffffff only queries the persona.
    let cur = unsafe { personality(0xffff_ffff) };
    if cur < 0 {
        return false;
    }
    if cur as u64 & ADDR_NO_RANDOMIZE != 0 {
        return true;
    }
    // SAFETY: sets a flag of our own persona.
    if unsafe { personality(cur as u64 | ADDR_NO_RANDOMIZE) } < 0 {
        return false;
    }
    let args: Vec<CString> = std::env::args().map(|a| CString::new(a).unwrap()).collect();
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let exe = CString::new("/proc/self/exe").unwrap();
    // SAFETY: NULL-terminated argv of valid C strings; returns only on failure.
    unsafe { execv(exe.as_ptr(), argv.as_ptr()) };
    false
}
