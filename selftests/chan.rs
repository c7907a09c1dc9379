// SPDX-License-Identifier: GPL-2.0
//! The FIFO pair between the runner and one agent: the runner writes
//! commands to NAME.in and reads answers from NAME.out, one line each.

use crate::sys;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;

/// How long the runner waits for an answer (TCG is slow; nothing we ask
/// takes more than a few seconds even there).
pub const REPLY_TIMEOUT_MS: i32 = 60_000;

pub struct Chan {
    rd: BufReader<File>,
    wr: File,
}

fn open_rw(path: &str) -> Result<File, String> {
    // O_RDWR: neither side blocks in open() or sees EOF when the other goes.
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))
}

impl Chan {
    /// The runner's side; makes the FIFOs, open to every uid (an agent
    /// may have dropped its privileges).
    pub fn runner(dir: &str, name: &str) -> Result<Chan, String> {
        use std::os::unix::fs::PermissionsExt;
        for sfx in ["in", "out"] {
            let path = format!("{dir}/{name}.{sfx}");
            sys::make_fifo(&path).map_err(|e| format!("mkfifo {path}: {e}"))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
                .map_err(|e| format!("chmod {path}: {e}"))?;
        }
        Ok(Chan {
            rd: BufReader::new(open_rw(&format!("{dir}/{name}.out"))?),
            wr: open_rw(&format!("{dir}/{name}.in"))?,
        })
    }

    /// The agent's side of FIFOs the runner made.
    pub fn agent(dir: &str, name: &str) -> Result<Chan, String> {
        Ok(Chan {
            rd: BufReader::new(open_rw(&format!("{dir}/{name}.in"))?),
            wr: open_rw(&format!("{dir}/{name}.out"))?,
        })
    }

    pub fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.wr, "{line}").map_err(|e| format!("send '{line}': {e}"))
    }

    /// The next line, waiting at most `ms` (forever if negative).
    pub fn recv(&mut self, ms: i32) -> Result<String, String> {
        if self.rd.buffer().is_empty()
            && !sys::readable(self.rd.get_ref().as_raw_fd(), ms).map_err(|e| e.to_string())?
        {
            return Err(format!("no answer within {} s", ms / 1000));
        }
        let mut line = String::new();
        self.rd.read_line(&mut line).map_err(|e| e.to_string())?;
        Ok(line.trim_end_matches('\n').to_string())
    }

    /// Wait for a line starting with `what` ("ok", "ready") and return the
    /// rest of it.
    pub fn expect(&mut self, what: &str) -> Result<String, String> {
        let line = self.recv(REPLY_TIMEOUT_MS)?;
        match line.split_once(' ').unwrap_or((&line, "")) {
            (w, rest) if w == what => Ok(rest.to_string()),
            _ => Err(format!("expected '{what}', got '{line}'")),
        }
    }
}
