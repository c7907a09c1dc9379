// SPDX-License-Identifier: GPL-2.0
//! What one process looks like from where the caller stands: its status
//! file in the caller's /proc, PIDFD_GET_INFO through a pidfd the caller
//! opens, and the same for each of its threads (task/<tid>/status and a
//! PIDFD_THREAD pidfd). The runner looks from the root namespace itself;
//! agents in other namespaces, or with other credentials, look for it and
//! send the result back in one line (encode/decode below).

use crate::status::Status;
use crate::sys;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pidfd {
    Info {
        mask: u64,
        caba: u32,
        ppid: u32,
        tgid: u32,
        /// The CABA's pidfs inode number as PIDFD_GET_INFO reports it.
        caba_ino: u64,
        /// What the looker found when it opened a pidfd for `caba` (a pid
        /// in its own namespace) right after: its st_ino, 0 where it did
        /// not try (`caba` 0 or PIDFD_INFO_CABA clear), -errno where
        /// pidfd_open() or fstat() failed.
        caba_open: i64,
    },
    /// pidfd_open() or the ioctl failed with this errno.
    Errno(i32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLook {
    pub tid: i32,
    /// Err where the thread's status could not be read (it raced an exit).
    pub nscaba: Result<Option<Vec<i32>>, String>,
    pub pidfd: Pidfd,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Look {
    pub pid: i32,
    pub status: Result<Status, String>,
    pub pidfd: Pidfd,
    pub tasks: Vec<TaskLook>,
}

/// PIDFD_GET_INFO asking for the CABA, through a fresh pidfd.
pub fn pidfd_info(pid: i32, thread: bool) -> Pidfd {
    let errno = |e: std::io::Error| Pidfd::Errno(e.raw_os_error().unwrap_or(-1));
    match sys::pidfd_open(pid, thread).and_then(|fd| sys::pidfd_get_info(&fd, sys::PIDFD_INFO_CABA))
    {
        Ok(i) => Pidfd::Info {
            mask: i.mask,
            caba: i.caba,
            ppid: i.ppid,
            tgid: i.tgid,
            caba_ino: i.caba_ino,
            caba_open: if i.mask & sys::PIDFD_INFO_CABA != 0 && i.caba != 0 {
                open_ino(i.caba as i32)
            } else {
                0
            },
        },
        Err(e) => errno(e),
    }
}

/// The pidfs inode number of process `pid` (in the caller's namespace),
/// -errno where it cannot be had.
pub fn open_ino(pid: i32) -> i64 {
    match sys::pidfd_open(pid, false).and_then(|fd| sys::pidfd_ino(&fd)) {
        Ok(ino) => ino as i64,
        Err(e) => -(e.raw_os_error().unwrap_or(1) as i64),
    }
}

/// Look at `pid` through the procfs mounted at `proc` (whose pid numbers
/// must be the caller's, for the pidfds) and, with `tasks`, at every
/// thread.
pub fn look(proc: &str, pid: i32, tasks: bool) -> Look {
    let status = Status::read(&format!("{proc}/{pid}/status"));
    let pidfd = pidfd_info(pid, false);
    let mut found = vec![];
    if tasks {
        if let Ok(dir) = std::fs::read_dir(format!("{proc}/{pid}/task")) {
            for e in dir.flatten() {
                let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let nscaba =
                    Status::read(&format!("{proc}/{pid}/task/{tid}/status")).map(|s| s.nscaba);
                found.push(TaskLook {
                    tid,
                    nscaba,
                    pidfd: pidfd_info(tid, true),
                });
            }
        }
        found.sort_by_key(|t| t.tid);
    }
    Look {
        pid,
        status,
        pidfd,
        tasks: found,
    }
}

fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace(' ', "%20")
        .replace(';', "%3B")
        .replace('\n', "%0A")
}

fn unescape(s: &str) -> String {
    s.replace("%0A", "\n")
        .replace("%3B", ";")
        .replace("%20", " ")
        .replace("%25", "%")
}

fn list(v: &[i32]) -> String {
    if v.is_empty() {
        return "".into();
    }
    v.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn unlist(s: &str) -> Result<Vec<i32>, String> {
    if s.is_empty() {
        return Ok(vec![]);
    }
    s.split('.')
        .map(|w| w.parse().map_err(|_| format!("bad number '{w}'")))
        .collect()
}

fn opt_list(v: &Option<Vec<i32>>) -> String {
    v.as_deref().map_or("-".into(), list)
}

fn unopt_list(s: &str) -> Result<Option<Vec<i32>>, String> {
    if s == "-" {
        Ok(None)
    } else {
        unlist(s).map(Some)
    }
}

fn pidfd_str(p: &Pidfd) -> String {
    match p {
        Pidfd::Info {
            mask,
            caba,
            ppid,
            tgid,
            caba_ino,
            caba_open,
        } => format!("{mask:x}/{caba}/{ppid}/{tgid}/{caba_ino}/{caba_open}"),
        Pidfd::Errno(e) => format!("!{e}"),
    }
}

fn unpidfd(s: &str) -> Result<Pidfd, String> {
    if let Some(e) = s.strip_prefix('!') {
        return e
            .parse()
            .map(Pidfd::Errno)
            .map_err(|_| format!("bad errno '{s}'"));
    }
    let f: Vec<&str> = s.split('/').collect();
    let [mask, caba, ppid, tgid, caba_ino, caba_open] = f[..] else {
        return Err(format!("bad pidfd '{s}'"));
    };
    let num = |w: &str| w.parse::<u32>().map_err(|_| format!("bad pidfd '{s}'"));
    Ok(Pidfd::Info {
        mask: u64::from_str_radix(mask, 16).map_err(|_| format!("bad pidfd '{s}'"))?,
        caba: num(caba)?,
        ppid: num(ppid)?,
        tgid: num(tgid)?,
        caba_ino: caba_ino.parse().map_err(|_| format!("bad pidfd '{s}'"))?,
        caba_open: caba_open.parse().map_err(|_| format!("bad pidfd '{s}'"))?,
    })
}

/// One line, no ';' inside: looks are joined with ';'.
pub fn encode(l: &Look) -> String {
    let mut out = format!("pid={}", l.pid);
    match &l.status {
        Ok(s) => {
            out += &format!(
                " status={}/{}/{}/{}/{}/{}/{}",
                s.state,
                s.ppid,
                list(&s.nspid),
                list(&s.nspgid),
                list(&s.nssid),
                opt_list(&s.nscaba),
                s.kthread.map_or("-", |k| if k { "1" } else { "0" })
            )
        }
        Err(e) => out += &format!(" status=!{}", escape(e)),
    }
    out += &format!(" pidfd={}", pidfd_str(&l.pidfd));
    for t in &l.tasks {
        let nscaba = match &t.nscaba {
            Ok(c) => opt_list(c),
            Err(_) => "!".into(),
        };
        out += &format!(" task={}/{nscaba}/{}", t.tid, pidfd_str(&t.pidfd));
    }
    out
}

pub fn decode(line: &str) -> Result<Look, String> {
    let mut l = Look {
        pid: 0,
        status: Err("no status".into()),
        pidfd: Pidfd::Errno(0),
        tasks: vec![],
    };
    for tok in line.split(' ').filter(|t| !t.is_empty()) {
        let (k, v) = tok.split_once('=').ok_or(format!("bad token '{tok}'"))?;
        match k {
            "pid" => l.pid = v.parse().map_err(|_| format!("bad pid '{v}'"))?,
            "status" if v.starts_with('!') => l.status = Err(unescape(&v[1..])),
            "status" => {
                let f: Vec<&str> = v.split('/').collect();
                let [state, ppid, nspid, nspgid, nssid, nscaba, kthread] = f[..] else {
                    return Err(format!("bad status '{v}'"));
                };
                l.status = Ok(Status {
                    state: state.chars().next().unwrap_or('?'),
                    ppid: ppid.parse().map_err(|_| format!("bad status '{v}'"))?,
                    nspid: unlist(nspid)?,
                    nspgid: unlist(nspgid)?,
                    nssid: unlist(nssid)?,
                    nscaba: unopt_list(nscaba)?,
                    kthread: match kthread {
                        "-" => None,
                        k => Some(k == "1"),
                    },
                });
            }
            "pidfd" => l.pidfd = unpidfd(v)?,
            "task" => {
                let (tid, rest) = v.split_once('/').ok_or(format!("bad task '{v}'"))?;
                let (nscaba, pidfd) = rest.split_once('/').ok_or(format!("bad task '{v}'"))?;
                l.tasks.push(TaskLook {
                    tid: tid.parse().map_err(|_| format!("bad task '{v}'"))?,
                    nscaba: if nscaba == "!" {
                        Err("unreadable".into())
                    } else {
                        Ok(unopt_list(nscaba)?)
                    },
                    pidfd: unpidfd(pidfd)?,
                });
            }
            _ => return Err(format!("unknown key in '{tok}'")),
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let l = Look {
            pid: 42,
            status: Ok(Status {
                state: 'Z',
                ppid: 7,
                nspid: vec![42, 1],
                nspgid: vec![3, 0],
                nssid: vec![3, 0],
                nscaba: Some(vec![7, 0]),
                kthread: Some(false),
            }),
            pidfd: Pidfd::Info {
                mask: 0x107,
                caba: 7,
                ppid: 7,
                tgid: 42,
                caba_ino: 1 << 40,
                caba_open: (1 << 40) + 1,
            },
            tasks: vec![
                TaskLook {
                    tid: 42,
                    nscaba: Ok(Some(vec![7, 0])),
                    pidfd: Pidfd::Errno(3),
                },
                TaskLook {
                    tid: 43,
                    nscaba: Ok(None),
                    pidfd: Pidfd::Info {
                        mask: 1,
                        caba: 0,
                        ppid: 7,
                        tgid: 42,
                        caba_ino: 0,
                        caba_open: -3,
                    },
                },
            ],
        };
        assert_eq!(decode(&encode(&l)).unwrap(), l);
        let bad = Look {
            status: Err("/proc/42/status: No such; file %".into()),
            ..l
        };
        let line = encode(&bad);
        assert!(!line.contains(';'));
        assert_eq!(decode(&line).unwrap(), bad);
    }
}
