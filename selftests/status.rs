// SPDX-License-Identifier: GPL-2.0
//! The lines of /proc/<pid>/status that the tests read. Parsing also checks
//! the layout the spec gives NScaba (every time a status file is read):
//! the line right after NSsid, `NScaba:` and one tab before each number,
//! as many columns as NSpid.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The State letter (R, S, Z, ...).
    pub state: char,
    pub ppid: i32,
    pub nspid: Vec<i32>,
    pub nspgid: Vec<i32>,
    pub nssid: Vec<i32>,
    /// None where the kernel has no NScaba line.
    pub nscaba: Option<Vec<i32>>,
    /// The Kthread line (7.2), where there is one.
    pub kthread: Option<bool>,
}

/// The numbers of an `NSxxx:` line, which must be `\t<n>` repeated: no
/// other separator, no trailing blank.
fn columns(key: &str, rest: &str) -> Result<Vec<i32>, String> {
    let Some(body) = rest.strip_prefix('\t') else {
        return Err(format!("{key}: '{rest}' does not start with a tab"));
    };
    body.split('\t')
        .map(|w| {
            w.parse::<i32>()
                .ok()
                .filter(|_| !w.starts_with('+'))
                .ok_or_else(|| format!("{key}: '{w}' in '{rest}' is not a number after one tab"))
        })
        .collect()
}

impl Status {
    pub fn parse(text: &str) -> Result<Status, String> {
        let mut st = Status {
            state: '?',
            ppid: -1,
            nspid: vec![],
            nspgid: vec![],
            nssid: vec![],
            nscaba: None,
            kthread: None,
        };
        let mut prev = "";
        let mut after_nssid: Option<&str> = None;
        for line in text.lines() {
            if prev == "NSsid" {
                after_nssid = Some(line);
            }
            let Some((key, rest)) = line.split_once(':') else {
                prev = "";
                continue;
            };
            match key {
                "State" => st.state = rest.trim().chars().next().unwrap_or('?'),
                "PPid" => {
                    st.ppid = rest
                        .trim()
                        .parse()
                        .map_err(|e| format!("PPid '{rest}': {e}"))?
                }
                "NSpid" => st.nspid = columns(key, rest)?,
                "NSpgid" => st.nspgid = columns(key, rest)?,
                "NSsid" => st.nssid = columns(key, rest)?,
                "NScaba" => {
                    if st.nscaba.is_some() {
                        return Err("two NScaba lines".into());
                    }
                    st.nscaba = Some(columns(key, rest)?)
                }
                "Kthread" => st.kthread = Some(rest.trim() == "1"),
                _ => {}
            }
            prev = key;
        }
        if st.nspid.is_empty() {
            return Err("no NSpid line (CONFIG_PID_NS=n?)".into());
        }
        if let Some(c) = &st.nscaba {
            if !after_nssid.is_some_and(|l| l.starts_with("NScaba:")) {
                return Err(format!(
                    "NScaba is not the line right after NSsid (that is '{}')",
                    after_nssid.unwrap_or("<none>")
                ));
            }
            if c.len() != st.nspid.len() {
                return Err(format!(
                    "NScaba has {} columns {c:?}, NSpid {} {:?}",
                    c.len(),
                    st.nspid.len(),
                    st.nspid
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Name:\tx\nState:\tS (sleeping)\nPPid:\t7\n\
        NStgid:\t9\t1\nNSpid:\t9\t1\nNSpgid:\t9\t1\nNSsid:\t3\t0\nNScaba:\t7\t0\nKthread:\t0\n";

    #[test]
    fn parses_every_column() {
        let st = Status::parse(GOOD).unwrap();
        assert_eq!(st.nscaba, Some(vec![7, 0]));
        assert_eq!(st.nssid, vec![3, 0]);
        assert_eq!((st.state, st.ppid, st.kthread), ('S', 7, Some(false)));
    }

    #[test]
    fn no_nscaba_is_not_an_error() {
        let st = Status::parse(&GOOD.replace("NScaba:\t7\t0\n", "")).unwrap();
        assert_eq!(st.nscaba, None);
    }

    #[test]
    fn rejects_wrong_layouts() {
        for (bad, why) in [
            (GOOD.replace("NScaba:\t7\t0", "NScaba:\t7 0"), "space"),
            (GOOD.replace("NScaba:\t7\t0", "NScaba: 7\t0"), "no tab"),
            (
                GOOD.replace("NScaba:\t7\t0", "NScaba:\t7\t0\t"),
                "trailing tab",
            ),
            (GOOD.replace("NScaba:\t7\t0", "NScaba:\t7"), "columns"),
            (
                GOOD.replace(
                    "NSsid:\t3\t0\nNScaba:\t7\t0\n",
                    "NScaba:\t7\t0\nNSsid:\t3\t0\n",
                ),
                "order",
            ),
        ] {
            assert!(Status::parse(&bad).is_err(), "{why} accepted");
        }
    }
}
