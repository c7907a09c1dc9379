// SPDX-License-Identifier: GPL-2.0
//! The system calls the executor and the dumper need, as thin wrappers
//! returning `io::Result`.

use std::io::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_long) -> Result<libc::c_long> {
    if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// struct clone_args (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3() without CLONE_VM: returns 0 in the child, the child's pid (in
/// the caller's namespace) in the parent. `pids` are the child's pids from
/// the outermost level that is set down to its own level (NSpid order);
/// empty lets the kernel choose.
pub fn clone3_process(flags: u64, pids: &[i32]) -> Result<i32> {
    let set_tid: Vec<libc::pid_t> = pids.iter().rev().copied().collect();
    // clone3() refuses CLONE_PARENT with an exit_signal (EINVAL,
    // clone3_args_valid()): the child takes the caller's own exit_signal
    // then, as clone(CLONE_PARENT) does.
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let args = CloneArgs {
        flags,
        exit_signal,
        set_tid: if set_tid.is_empty() { 0 } else { set_tid.as_ptr() as u64 },
        set_tid_size: set_tid.len() as u64,
        ..Default::default()
    };
    // SAFETY: args points to a valid clone_args of the size passed, and
    // set_tid to set_tid_size pid_t values that outlive the call. Without
    // CLONE_VM the child runs on a copy of this address space, like fork().
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    check(ret).map(|v| v as i32)
}

/// A thread of the calling process with the given tids (NSpid order) that
/// does nothing but wait in pause(): the placeholder of a restored thread.
#[cfg(target_arch = "x86_64")]
pub fn clone3_idle_thread(tids: &[i32]) -> Result<i32> {
    const STACK: usize = 64 * 1024;
    // SAFETY: an anonymous private mapping, no aliasing; it is leaked on
    // purpose: the thread lives until the process dies.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Error::last_os_error());
    }
    let set_tid: Vec<libc::pid_t> = tids.iter().rev().copied().collect();
    let flags = libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM;
    let args = CloneArgs {
        flags: flags as u64,
        stack: stack as u64,
        stack_size: STACK as u64,
        set_tid: set_tid.as_ptr() as u64,
        set_tid_size: set_tid.len() as u64,
        ..Default::default()
    };
    let mut ret: i64 = libc::SYS_clone3;
    // SAFETY: clone3 with CLONE_VM starts the child on its own stack at the
    // instruction after `syscall` with rax = 0; the child never leaves the
    // asm block: it loops on pause() and touches no memory, so it cannot
    // disturb the parent's Rust state. The parent continues with rax = tid
    // or -errno. rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "3:",
            "mov eax, {pause}",
            "syscall",
            "jmp 3b",
            "2:",
            pause = const libc::SYS_pause,
            inlateout("rax") ret,
            in("rdi") &args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        // SAFETY: the mapping made above, not shared with anybody.
        unsafe { libc::munmap(stack, STACK) };
        return Err(Error::from_raw_os_error(-ret as i32));
    }
    Ok(ret as i32)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn clone3_idle_thread(_tids: &[i32]) -> Result<i32> {
    Err(Error::other("restoring threads is implemented for x86_64 only"))
}

pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn pidfd_kill(fd: &OwnedFd, sig: i32) -> Result<()> {
    // SAFETY: plain syscall; a null siginfo is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(|_| ())
}

/// struct pidfd_info as of PIDFD_INFO_SIZE_VER4 (104 bytes, with the CABA
/// and its pidfs inode number).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
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
    pub caba_ino: u64,
    pub caba: u32,
    pub caba_pad: u32,
}

const _: () = assert!(std::mem::size_of::<PidfdInfo>() == 104);

pub const PIDFD_INFO_SUPPORTED_MASK: u64 = 1 << 5;
pub const PIDFD_INFO_CABA: u64 = 1 << 8;
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;

pub fn pidfd_get_info(fd: &OwnedFd, mask: u64) -> Result<PidfdInfo> {
    let mut info = PidfdInfo {
        mask,
        ..Default::default()
    };
    // SAFETY: info is a writable struct of exactly the size encoded in the
    // ioctl number.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info as *mut PidfdInfo) };
    if r < 0 {
        return Err(Error::last_os_error());
    }
    Ok(info)
}

pub fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints for the kernel to fill.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

const CMSG_SPACE_FD: usize = 32;

/// Send one message, with at most one fd attached.
pub fn send(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; CMSG_SPACE_FD / 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        // SAFETY: CMSG_SPACE is a pure size computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
        // SAFETY: msg_control points to a buffer of msg_controllen bytes,
        // large enough for one cmsghdr with one int.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        }
    }
    // SAFETY: msg and everything it points to are valid for the call.
    let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if r < 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

/// Receive one message (empty on EOF) and the fd attached to it, if any.
pub fn recv(sock: RawFd) -> Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut buf = vec![0u8; 1 << 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; CMSG_SPACE_FD / 8];
    // SAFETY: as in send().
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = CMSG_SPACE_FD;
    // SAFETY: msg points to valid buffers of the sizes given.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(Error::last_os_error());
    }
    let mut fd = None;
    // SAFETY: walking the control buffer the kernel filled, within
    // msg_controllen, as CMSG_FIRSTHDR/CMSG_NXTHDR define.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    buf.truncate(n as usize);
    Ok((buf, fd))
}

static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(sig, std::sync::atomic::Ordering::SeqCst);
}

/// SIGTERM, SIGINT and SIGHUP (a `timeout`, ^C, a closed terminal) make
/// every wait of the restorer fail, so that the tree it built is torn down
/// on the way out instead of being left to PDEATHSIG. Without SA_RESTART,
/// so that a blocked poll() returns.
pub fn catch_termination() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: a handler that only stores to an atomic; sigaction on a
        // zeroed, then filled struct.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The termination signal caught, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Wait until `fd` is readable; false on timeout.
pub fn readable(fd: RawFd, ms: i32) -> Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                if let Some(sig) = interrupted() {
                    return Err(Error::other(format!("interrupted by signal {sig}")));
                }
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

pub fn errno_result(r: libc::c_int) -> Result<libc::c_int> {
    if r < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(r)
    }
}
