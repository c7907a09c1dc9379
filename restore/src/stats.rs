// SPDX-License-Identifier: GPL-2.0
//! Summary of a --stats file: one JSON line per planner per tree.

use std::collections::BTreeMap;

#[derive(Default)]
struct Count {
    total: usize,
    ok: usize,
    differs: usize,
    unrestorable: usize,
    error: usize,
    fields: BTreeMap<String, usize>,
    reasons: BTreeMap<String, usize>,
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
        match v["outcome"].as_str().unwrap_or("?") {
            "ok" => c.ok += 1,
            "differs" => c.differs += 1,
            "unrestorable" => {
                c.unrestorable += 1;
                let r = v["reason"].as_str().unwrap_or("").to_string();
                // Group reasons by their text before the first digit.
                let key: String = r.chars().take_while(|ch| !ch.is_ascii_digit()).collect();
                *c.reasons.entry(key.trim().to_string()).or_default() += 1;
            }
            _ => c.error += 1,
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
        if !c.fields.is_empty() {
            let f: Vec<String> = c.fields.iter().map(|(k, n)| format!("{k} {n}")).collect();
            out += &format!("  differing fields (trees): {}\n", f.join(", "));
        }
        for (r, n) in &c.reasons {
            out += &format!("  unrestorable x{n}: {r}\n");
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
