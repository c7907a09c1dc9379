// SPDX-License-Identifier: GPL-2.0
//! Dump a live tree from /proc, CABA from the pidfd interface where the
//! kernel has it, from NScaba otherwise.
//!
//! Each process is pinned with a pidfd before its status is read and
//! checked still present after (PIDFD_GET_INFO fails with ESRCH once it is
//! released), so a status read never belongs to a recycled pid.

use crate::dump::{Dump, Id, Proc};
use crate::sys;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default, Debug, Clone)]
struct Status {
    state: char,
    ppid: i32,
    nspid: Vec<i32>,
    nspgid: Vec<i32>,
    nssid: Vec<i32>,
    nscaba: Option<Vec<i32>>,
}

fn numbers(s: &str) -> Result<Vec<i32>, String> {
    s.split_whitespace()
        .map(|w| w.parse::<i32>().map_err(|e| format!("'{w}': {e}")))
        .collect()
}

fn parse_status(text: &str) -> Result<Status, String> {
    let mut st = Status::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k {
            "State" => st.state = v.trim().chars().next().unwrap_or('?'),
            "PPid" => st.ppid = v.trim().parse().map_err(|e| format!("PPid: {e}"))?,
            "NSpid" => st.nspid = numbers(v)?,
            "NSpgid" => st.nspgid = numbers(v)?,
            "NSsid" => st.nssid = numbers(v)?,
            "NScaba" => st.nscaba = Some(numbers(v)?),
            _ => {}
        }
    }
    if st.nspid.is_empty() {
        return Err("no NSpid line".into());
    }
    Ok(st)
}

fn read_status(path: &str) -> Result<Status, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_status(&text).map_err(|e| format!("{path}: {e}"))
}

/// Parent (host pid) of every process, from a scan of /proc.
fn scan_parents() -> Result<BTreeMap<i32, i32>, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))? {
        let Ok(e) = e else { continue };
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(st) = read_status(&format!("/proc/{pid}/status")) {
            out.insert(pid, st.ppid);
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CabaMode {
    /// Fail on a kernel without CABA.
    Require,
    /// Dump without CABA where the kernel has none.
    IfAvailable,
}

/// Dump the tree below `root` (a pid in the namespace of this /proc).
pub fn dump(root: i32, subreapers: &[i32], mode: CabaMode) -> Result<Dump, String> {
    let parents = scan_parents()?;
    if !parents.contains_key(&root) {
        return Err(format!("no process {root}"));
    }
    let mut kids: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (&pid, &pp) in &parents {
        if pid != root {
            kids.entry(pp).or_default().push(pid);
        }
    }
    let mut order = vec![root];
    let mut i = 0;
    while i < order.len() {
        order.extend(kids.get(&order[i]).into_iter().flatten().copied());
        i += 1;
    }
    // Pin and read every process.
    let mut st: BTreeMap<i32, Status> = BTreeMap::new();
    let mut caba_host: BTreeMap<i32, Option<u32>> = BTreeMap::new();
    let mut pidfd_caba = true;
    let mut threads: BTreeMap<i32, Vec<Vec<i32>>> = BTreeMap::new();
    for &pid in &order {
        let fd = sys::pidfd_open(pid).map_err(|e| format!("pidfd_open({pid}): {e} (process gone?)"))?;
        let s = read_status(&format!("/proc/{pid}/status"))?;
        let mut ts = vec![];
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            let names: Vec<String> = dir
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            if names.len() == 1 && names[0] == pid.to_string() {
                // Single-threaded: the leader, as the process status says.
                if s.state != 'Z' && s.state != 'X' {
                    ts.push(s.nspid.clone());
                }
            } else {
                for name in names {
                    if let Ok(t) = read_status(&format!("/proc/{pid}/task/{name}/status")) {
                        if t.state != 'Z' && t.state != 'X' {
                            ts.push(t.nspid);
                        }
                    }
                }
            }
        }
        let info = sys::pidfd_get_info(&fd, sys::PIDFD_INFO_CABA | sys::PIDFD_INFO_SUPPORTED_MASK);
        let c = match info {
            Ok(i) if i.mask & sys::PIDFD_INFO_CABA != 0 => Some(i.caba),
            Ok(i) if i.supported_mask & sys::PIDFD_INFO_CABA != 0 => {
                return Err(format!(
                    "no permission to read the CABA of {pid} (PIDFD_INFO_CABA denied)"
                ))
            }
            Ok(_) => {
                pidfd_caba = false;
                None
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                return Err(format!("process {pid} went away during the dump"))
            }
            Err(_) => {
                pidfd_caba = false;
                None
            }
        };
        caba_host.insert(pid, c);
        threads.insert(pid, ts);
        st.insert(pid, s);
    }
    let root_level = st[&root].nspid.len() - 1;
    let cut = |v: &[i32]| -> Vec<i32> { v.get(root_level..).unwrap_or(&[]).to_vec() };
    let id_of: BTreeMap<i32, Id> = order.iter().map(|&p| (p, st[&p].nspid[root_level])).collect();
    let in_tree: BTreeSet<i32> = order.iter().copied().collect();
    let have_nscaba = st.values().all(|s| s.nscaba.is_some());
    let source = if pidfd_caba {
        "pidfd"
    } else if have_nscaba {
        "nscaba"
    } else {
        "none"
    };
    if source == "none" && mode == CabaMode::Require {
        return Err(
            "kernel without CABA: no NScaba line in /proc/PID/status and no PIDFD_INFO_CABA \
             (run on the patched kernel, or use --planner nocaba)"
                .into(),
        );
    }
    let chains = ns_chains(&order, &st, root, root_level);
    let mut processes = vec![];
    for &pid in &order {
        let s = &st[&pid];
        let pids = cut(&s.nspid);
        let n = pids.len();
        let caba = match source {
            "pidfd" => {
                let c = caba_host[&pid].unwrap_or(0) as i32;
                let cols = if c == 0 {
                    vec![0; n]
                } else if in_tree.contains(&c) {
                    cut(&st[&c].nspid)
                } else {
                    // CABA outside the tree: its own NSpid, if still there.
                    read_status(&format!("/proc/{c}/status"))
                        .map(|o| cut(&o.nspid))
                        .unwrap_or_default()
                };
                Some((0..n).map(|l| *cols.get(l).unwrap_or(&0)).collect())
            }
            "nscaba" => s.nscaba.as_ref().map(|v| cut(v)),
            _ => None,
        };
        let mut ts: Vec<Vec<i32>> = threads[&pid].iter().map(|t| cut(t)).collect();
        ts.sort();
        // A zombie main thread with other threads running is a live
        // process whose leader is gone.
        let dead_leader = s.state == 'Z' || s.state == 'X';
        let zombie = dead_leader && ts.is_empty();
        let leader_gone = dead_leader && !ts.is_empty();
        let nsinits = if pid == root {
            vec![]
        } else {
            let own = &chains[&pid];
            let parent = chains.get(&s.ppid).cloned().unwrap_or_default();
            let mut derived = parent.clone();
            if pids.len() == parent.len() + 1 && pids.last() == Some(&1) {
                derived.push(pids[0]);
            }
            if *own == derived {
                vec![]
            } else {
                own.clone()
            }
        };
        processes.push(Proc {
            pids,
            ppid: if pid == root { 0 } else { id_of.get(&s.ppid).copied().unwrap_or(0) },
            pgid: cut(&s.nspgid),
            sid: cut(&s.nssid),
            caba,
            zombie,
            subreaper: subreapers.contains(&pid),
            threads: if zombie { vec![] } else { ts },
            nsinits,
            leader_gone,
        });
    }
    Ok(Dump {
        version: 1,
        caba_source: source.into(),
        processes,
    })
}

/// Inode of a namespace file.
fn ns_inode(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Inode of the parent of the pid namespace of `pid` (NS_GET_PARENT).
fn parent_ns_inode(pid: i32) -> Option<u64> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    const NS_GET_PARENT: libc::c_ulong = 0xb7 << 8 | 2;
    let f = std::fs::File::open(format!("/proc/{pid}/ns/pid")).ok()?;
    // SAFETY: an ioctl without argument on an fd we own; it returns a new fd.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_PARENT as _) };
    if r < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this fd to us.
    let parent = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(r) });
    parent.metadata().ok().map(|m| m.ino())
}

/// The pid namespace chain of every process (keys: root-level pid of the
/// namespace's init, 1 for the root's namespace, 0 for a namespace whose
/// init is not in the tree), from the namespace inodes; where the kernel
/// does not say, derived from the parent.
fn ns_chains(
    order: &[i32],
    st: &BTreeMap<i32, Status>,
    root: i32,
    root_level: usize,
) -> BTreeMap<i32, Vec<Id>> {
    let levels = |p: i32| st[&p].nspid.len() - root_level;
    let id = |p: i32| st[&p].nspid[root_level];
    let is_init = |p: i32| levels(p) > 1 && st[&p].nspid.last() == Some(&1);
    let ino: BTreeMap<i32, Option<u64>> = order
        .iter()
        .map(|&p| (p, ns_inode(&format!("/proc/{p}/ns/pid"))))
        .collect();
    // namespace inode -> (key, chain)
    let mut known: BTreeMap<u64, Vec<Id>> = BTreeMap::new();
    if let Some(i) = ino[&root] {
        known.insert(i, vec![1]);
    }
    // Inits, outer ones first (fewer levels), so that their parent
    // namespace is known when they come.
    let mut inits: Vec<i32> = order.iter().copied().filter(|&p| is_init(p)).collect();
    inits.sort_by_key(|&p| levels(p));
    for &p in &inits {
        let (Some(own), Some(parent)) = (ino[&p], parent_ns_inode(p)) else {
            continue;
        };
        if let Some(c) = known.get(&parent).cloned() {
            if c.len() + 1 == levels(p) {
                let mut c = c;
                c.push(id(p));
                known.insert(own, c);
            }
        }
    }
    let mut out: BTreeMap<i32, Vec<Id>> = BTreeMap::new();
    for &p in order {
        let from_ino = ino[&p].and_then(|i| known.get(&i).cloned());
        let chain = match from_ino {
            Some(c) if c.len() == levels(p) => c,
            _ => {
                // Derive from the parent (order is parents first).
                let parent = out.get(&st[&p].ppid).cloned().unwrap_or_else(|| vec![1]);
                let mut c = parent;
                if p != root && is_init(p) && levels(p) == c.len() + 1 {
                    c.push(id(p));
                }
                if p == root {
                    c = vec![1];
                }
                // An unknown namespace: pad with 0 (its init is not in the tree).
                c.resize(levels(p), 0);
                c
            }
        };
        out.insert(p, chain);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let s = parse_status(
            "Name:\tx\nState:\tS (sleeping)\nPPid:\t7\nNSpid:\t10\t1\nNSpgid:\t10\t1\n\
             NSsid:\t3\t0\nNScaba:\t9\t0\n",
        )
        .unwrap();
        assert_eq!((s.state, s.ppid), ('S', 7));
        assert_eq!(s.nspid, vec![10, 1]);
        assert_eq!(s.nssid, vec![3, 0]);
        assert_eq!(s.nscaba, Some(vec![9, 0]));
        let old = parse_status("State:\tZ (zombie)\nPPid:\t1\nNSpid:\t4\nNSpgid:\t4\nNSsid:\t4\n")
            .unwrap();
        assert_eq!(old.nscaba, None);
        assert!(parse_status("PPid:\t1\n").is_err());
    }

    #[test]
    fn dump_self_without_caba() {
        let me = std::process::id() as i32;
        let d = dump(me, &[], CabaMode::IfAvailable).expect("dump of this test");
        assert_eq!(d.processes[0].pids.len(), 1);
        assert!(!d.processes[0].threads.is_empty());
    }
}
