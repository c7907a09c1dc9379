// SPDX-License-Identifier: GPL-2.0
//! Summary of a --stats file: one JSON line per planner per tree.

use std::collections::BTreeMap;

#[derive(Default)]
struct Count {
    total: usize,
    ok: usize,
    differs: usize,
    /// Differs in CABA only: exact on what kernels without CABA show.
    caba_only: usize,
    unrestorable: usize,
    error: usize,
    fields: BTreeMap<String, usize>,
    reasons: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
}

/// A reason with its numbers made N, so that alike reasons group.
fn reason_key(r: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for ch in r.chars() {
        if ch.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(ch);
        }
    }
    out.chars().take(160).collect()
}

pub fn summary(text: &str) -> Result<String, String> {
    let mut by: BTreeMap<String, Count> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let planner = v["planner"].as_str().unwrap_or("?").to_string();
        let c = by.entry(planner).or_default();
        c.total += 1;
        let reason = reason_key(v["reason"].as_str().unwrap_or(""));
        match v["outcome"].as_str().unwrap_or("?") {
            "ok" => c.ok += 1,
            "differs" => {
                c.differs += 1;
                let fields: Vec<&str> = v["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .collect();
                if fields == ["caba"] {
                    c.caba_only += 1;
                }
            }
            "unrestorable" => {
                c.unrestorable += 1;
                *c.reasons.entry(reason).or_default() += 1;
            }
            _ => {
                c.error += 1;
                *c.errors.entry(reason).or_default() += 1;
            }
        }
        for f in v["fields"].as_array().into_iter().flatten() {
            *c.fields.entry(f.as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
    }
    let mut out = String::new();
    for (p, c) in &by {
        let pct = |n: usize| 100.0 * n as f64 / c.total.max(1) as f64;
        out += &format!(
            "{p}: {} trees: exact {} ({:.1} %), differs {} ({:.1} %), unrestorable {} ({:.1} %), \
             error {}\n",
            c.total,
            c.ok,
            pct(c.ok),
            c.differs,
            pct(c.differs),
            c.unrestorable,
            pct(c.unrestorable),
            c.error
        );
        out += &format!(
            "  exact on the fields kernels without CABA show (PPid, sid, pgid, pids, threads, \
             zombies, subreapers, pid namespaces): {} ({:.1} %)\n",
            c.ok + c.caba_only,
            pct(c.ok + c.caba_only)
        );
        if !c.fields.is_empty() {
            let f: Vec<String> = c.fields.iter().map(|(k, n)| format!("{k} {n}")).collect();
            out += &format!("  differing fields (trees): {}\n", f.join(", "));
        }
        for (r, n) in &c.reasons {
            out += &format!("  unrestorable x{n}: {r}\n");
        }
        for (r, n) in &c.errors {
            out += &format!("  error x{n}: {r}\n");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary_counts() {
        let s = super::summary(
            "{\"planner\":\"caba\",\"outcome\":\"ok\",\"fields\":[]}\n\
             {\"planner\":\"nocaba\",\"outcome\":\"differs\",\"fields\":[\"caba\"]}\n\
             {\"planner\":\"nocaba\",\"outcome\":\"unrestorable\",\"fields\":[],\"reason\":\"Can't find a session leader for 4\"}\n",
        )
        .unwrap();
        assert!(s.contains("caba: 1 trees: exact 1 (100.0 %)"), "{s}");
        assert!(s.contains("nocaba: 2 trees: exact 0 (0.0 %), differs 1 (50.0 %), unrestorable 1"), "{s}");
        assert!(s.contains("caba 1"), "{s}");
    }
}
