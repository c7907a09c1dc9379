// SPDX-License-Identifier: GPL-2.0
//! The lines of /proc/<pid>/status that the tests read.

pub struct Status {
    pub ppid: i32,
    pub nspid: Vec<i32>,
    /// None where the kernel has no NScaba line.
    pub nscaba: Option<Vec<i32>>,
}

fn numbers(rest: &str) -> Result<Vec<i32>, String> {
    rest.split_whitespace()
        .map(|w| w.parse::<i32>().map_err(|e| format!("'{w}': {e}")))
        .collect()
}

impl Status {
    pub fn parse(text: &str) -> Result<Status, String> {
        let mut st = Status {
            ppid: -1,
            nspid: vec![],
            nscaba: None,
        };
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            match key {
                "PPid" => {
                    st.ppid = rest
                        .trim()
                        .parse()
                        .map_err(|e| format!("PPid '{rest}': {e}"))?
                }
                "NSpid" => st.nspid = numbers(rest)?,
                "NScaba" => st.nscaba = Some(numbers(rest)?),
                _ => {}
            }
        }
        if st.nspid.is_empty() {
            return Err("no NSpid line (CONFIG_PID_NS=n?)".into());
        }
        if let Some(c) = &st.nscaba {
            if c.len() != st.nspid.len() {
                return Err(format!(
                    "NScaba has {} columns, NSpid {}",
                    c.len(),
                    st.nspid.len()
                ));
            }
        }
        Ok(st)
    }

    pub fn read(path: &str) -> Result<Status, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Status::parse(&text).map_err(|e| format!("{path}: {e}"))
    }
}
