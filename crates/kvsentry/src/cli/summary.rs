//! The human summary on stderr after a hunt, and `--explain` output.

use kvsentry::hunt::{HuntReport, is_damage};

pub fn print_hunt(r: &HuntReport) {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let events = r.read.events();
    let mb = r.read.bytes as f64 / 1e6;
    eprintln!("── kvsentry hunt summary ──");
    eprintln!(
        "read {} file(s), {} record(s), {} event(s), {:.1} MB in {:.2}s ({:.1} MB/s, {:.0} events/s, {} thread(s))",
        r.read.files(),
        r.read.records(),
        events,
        mb,
        secs,
        mb / secs,
        events as f64 / secs,
        r.threads
    );
    for (form, s) in &r.read.forms {
        eprintln!(
            "  {:<18} {} file(s), {} record(s), {} event(s)",
            form.name(),
            s.files,
            s.records,
            s.events
        );
    }
    let (mut damaged, mut filtered) = (Vec::new(), Vec::new());
    for (reason, n) in &r.read.skipped {
        if is_damage(*reason) {
            damaged.push((reason, n))
        } else {
            filtered.push((reason, n))
        }
    }
    if !filtered.is_empty() {
        let parts: Vec<String> = filtered.iter().map(|(r, n)| format!("{n} {r}")).collect();
        eprintln!(
            "filtered out (not Key Vault audit events): {}",
            parts.join(", ")
        );
    }
    if !damaged.is_empty() {
        let total: u64 = damaged.iter().map(|(_, n)| **n).sum();
        eprintln!("skipped {total} damaged record(s):");
        for (reason, n) in &damaged {
            eprintln!("  {:<18} {n}", reason.as_str());
        }
        let notes: Vec<_> = r
            .read
            .notes
            .iter()
            .filter(|n| is_damage(n.reason))
            .collect();
        for n in &notes {
            eprintln!("  {}:{}: {}: {}", n.file, n.line, n.reason, n.detail);
        }
        if total > notes.len() as u64 {
            eprintln!("  (first {} shown)", notes.len());
        }
    }
    if r.read.invalid_caller_ip > 0 {
        eprintln!(
            "{} event(s) with a caller address that is not an IP (kept, never matched)",
            r.read.invalid_caller_ip
        );
    }
    for e in &r.file_errors {
        eprintln!("error: {e}");
    }
    if r.out_of_range > 0 {
        eprintln!("{} event(s) outside --since/--until", r.out_of_range);
    }
    if let Some(why) = r.order.sorted {
        let o = &r.order.reorder;
        let mut line = format!(
            "{} event(s) sorted by time before the rules ran ({why})",
            o.rows + o.duplicates
        );
        if o.spilled_rows > 0 {
            line.push_str(&format!(
                " ({} spilled to disk in {} run(s), {:.1} MB)",
                o.spilled_rows,
                o.runs,
                o.spilled_bytes as f64 / 1e6
            ));
        }
        eprintln!("{line}");
    }
    if r.order.reorder.duplicates > 0 {
        eprintln!(
            "{} duplicate record(s) read more than once, counted once",
            r.order.reorder.duplicates
        );
    }
    eprintln!("alerts: {}", r.alerts_total());
    for rs in &r.engine.rules {
        let n = r.alerts_per_rule.get(&rs.rule_id).copied().unwrap_or(0);
        eprintln!(
            "  {:<38} {n} alert(s), {} matching event(s), peak {} open group(s)",
            rs.rule_id, rs.events_matched, rs.max_open_groups
        );
        if let Some(ti) = &rs.indicator {
            eprintln!(
                "      threat intel: {} mode, {} indicator(s), {} match(es), {} (indicator, IP) pair(s)",
                ti.mode, ti.indicators, ti.indicator_matches, ti.pairs
            );
            if let Some(note) = &ti.note {
                eprintln!("      note: {note}");
            }
            if let Some(sel) = &ti.selection {
                let mut excluded: Vec<String> = Vec::new();
                for (k, n) in [
                    ("outside lookback", sel.outside_lookback),
                    ("superseded versions", sel.superseded),
                    ("inactive", sel.inactive),
                    ("revoked", sel.revoked),
                    ("expired", sel.expired),
                    ("no IP", sel.no_ip),
                    ("unparseable IP", sel.unparseable_ip),
                    ("no expiration (compat)", sel.no_expiration),
                    ("duplicate IP (compat)", sel.duplicate_ip),
                ] {
                    if n > 0 {
                        excluded.push(format!("{n} {k}"));
                    }
                }
                for (reason, n) in &sel.non_global {
                    excluded.push(format!("{n} {reason}"));
                }
                if !excluded.is_empty() {
                    eprintln!("      excluded: {}", excluded.join(", "));
                }
            }
        }
    }
}

pub fn print_explain(rule: &str, r: &HuntReport) {
    eprintln!("── explain {rule} ──");
    for (clause, n) in &r.explain_rejections {
        let mut c: String = clause.chars().take(100).collect();
        if clause.chars().count() > 100 {
            c.push_str("...");
        }
        eprintln!("filter rejected {n} event(s) at: {c}");
    }
    if r.explanations.is_empty() {
        eprintln!(
            "nothing to explain: no event passed the rule's filter (for an indicator rule: and matched a selected indicator)"
        );
    }
    for x in &r.explanations {
        eprintln!("{x}");
    }
}
