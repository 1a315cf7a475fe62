//! The human summary on stderr after a hunt, and `--explain` output.

use kvsentry_engine::Explanation;
use kvsentry_ingest::{ReadStats, SkipReason};
use kvsentry_rules::ClauseOutcome;
use kvsentry_runtime::hunt::{HuntReport, is_damage};

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
            damaged.push((*reason, *n));
        } else if *reason == SkipReason::NotKeyVault {
            // Managed HSM records get a line of their own below.
            let others = n.saturating_sub(r.read.managed_hsm);
            if others > 0 {
                filtered.push(format!("{} {others}", reason.label()));
            }
        } else if *reason == SkipReason::OtherCategory {
            filtered.push(format!(
                "{} {n} ({})",
                reason.label(),
                category_names(&r.read)
            ));
        } else {
            filtered.push(format!("{} {n}", reason.label()));
        }
    }
    if !filtered.is_empty() {
        eprintln!(
            "filtered out (not Key Vault audit events): {}",
            filtered.join(", ")
        );
    }
    if r.read.managed_hsm > 0 {
        // The `insights-logs-auditevent` container receives them beside the vaults'.
        eprintln!(
            "skipped Managed HSM records (out of scope for the Key Vault rules): {}",
            r.read.managed_hsm
        );
    }
    if !damaged.is_empty() {
        let total: u64 = damaged.iter().map(|(_, n)| *n).sum();
        eprintln!("skipped {total} damaged record(s):");
        for (reason, n) in &damaged {
            eprintln!("  {:<24} {n}", reason.label());
        }
        let notes: Vec<_> = r
            .read
            .notes
            .iter()
            .filter(|n| is_damage(n.reason))
            .collect();
        for n in &notes {
            let label = n.reason.label();
            // A detail that starts with its reason says it once.
            if n.detail.to_lowercase().starts_with(&label.to_lowercase()) {
                eprintln!("  {}:{}: {}", n.file, n.line, n.detail);
            } else {
                eprintln!("  {}:{}: {label}: {}", n.file, n.line, n.detail);
            }
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
    if r.order.repeated_inputs > 0 {
        eprintln!(
            "{} input file(s) named more than once, read once",
            r.order.repeated_inputs
        );
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
        if let Some(name) = r.rule_names.get(&rs.rule_id) {
            eprintln!("  {name}");
        }
        match &rs.indicator {
            // An indicator rule's filter passes nearly every event: what counts is how many
            // were looked up and how many hit an indicator.
            Some(ti) => eprintln!(
                "    {:<38} {n} alert(s), {} event(s) checked, {} matched an indicator ({} (indicator, IP) pair(s))",
                rs.rule_id, rs.events_matched, ti.indicator_matches, ti.pairs
            ),
            None => eprintln!(
                "    {:<38} {n} alert(s), {} matching event(s), peak {} open group(s)",
                rs.rule_id, rs.events_matched, rs.max_open_groups
            ),
        }
        if let Some(ti) = &rs.indicator {
            if ti.selection.is_none() {
                // No intel: the engine's note says "none mode ... (mode would be retro)".
                eprintln!(
                    "      threat intel: none loaded (give indicators with --ti): the rule cannot alert"
                );
                continue;
            }
            eprintln!(
                "      threat intel: {} mode, {} indicator(s)",
                ti.mode, ti.indicators
            );
            if let Some(note) = &ti.note {
                eprintln!("      note: {note}");
            }
            if let Some(sel) = &ti.selection {
                let mut excluded: Vec<String> = Vec::new();
                for (k, n) in [
                    // The words of `ti stats`, which shows the same selection.
                    ("generated before the lookback", sel.outside_lookback),
                    ("older versions replaced by a later one", sel.superseded),
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

/// Which explanations `--explain` prints.
#[derive(Debug, Default)]
pub struct ExplainFilter {
    /// Only groups one of whose values is this (ignoring case).
    pub group: Option<String>,
    /// Only windows whose condition failed on exactly one comparison.
    pub near_misses: bool,
}

impl ExplainFilter {
    fn keeps(&self, x: &Explanation) -> bool {
        let group_ok = self.group.as_deref().is_none_or(|want| {
            x.group.values().any(|v| match v {
                serde_json::Value::String(s) => s.eq_ignore_ascii_case(want),
                other => other.to_string().eq_ignore_ascii_case(want),
            })
        });
        let miss_ok = !self.near_misses || {
            let failed: Vec<&ClauseOutcome> = x.clauses.iter().filter(|c| !c.passed).collect();
            !x.passed && failed.len() == 1 && failed.iter().all(|c| close(c))
        };
        group_ok && miss_ok
    }

    fn is_narrowed(&self) -> bool {
        self.group.is_some() || self.near_misses
    }
}

/// A failed comparison of one aggregate with a number is close when the value got at least
/// half way to a lower bound (`>=`, `>`) or stayed within twice an upper one (`<=`, `<`);
/// an equality that failed is not close. Comparisons of other shapes count as close.
fn close(c: &ClauseOutcome) -> bool {
    let [(_, value)] = c.values.as_slice() else {
        return true;
    };
    for (op, lower) in [(">=", true), ("<=", false), (">", true), ("<", false)] {
        if let Some((_, rhs)) = c.clause.split_once(&format!(" {op} ")) {
            let Ok(bound) = rhs.trim().parse::<f64>() else {
                return true;
            };
            return if lower {
                *value >= bound / 2.0
            } else {
                *value <= bound * 2.0
            };
        }
    }
    !(c.clause.contains(" == ") || c.clause.contains(" != "))
}

pub fn print_explain(rule: &str, r: &HuntReport, filter: &ExplainFilter) {
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
        return;
    }
    let shown: Vec<&Explanation> = r.explanations.iter().filter(|x| filter.keeps(x)).collect();
    for x in &shown {
        eprintln!("{x}");
    }
    if filter.is_narrowed() {
        let mut what = Vec::new();
        if let Some(g) = &filter.group {
            what.push(format!("group value '{g}'"));
        }
        if filter.near_misses {
            what.push("near misses (one comparison failed, and not by far)".to_string());
        }
        eprintln!(
            "{} of {} window(s) and group(s) shown: {}",
            shown.len(),
            r.explanations.len(),
            what.join(", ")
        );
    }
}

/// The other diagnostic categories met, with their counts (`AzurePolicyEvaluationDetails 3`).
fn category_names(read: &ReadStats) -> String {
    let mut names: Vec<String> = read
        .other_categories
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let named: u64 = read.other_categories.values().sum();
    if read.skipped(SkipReason::OtherCategory) > named {
        names.push("...".to_string());
    }
    names.join(", ")
}

fn records(n: u64) -> String {
    if n == 1 {
        "1 record".to_string()
    } else {
        format!("{n} records")
    }
}

/// Why a run read no Key Vault audit event at all, in the user's words (`None` when it read
/// some): what each input held instead. `paths` as given, `inputs` the files they named,
/// `errors` the messages of the inputs that failed (each says what the file is).
pub fn no_events(
    paths: &[String],
    inputs: usize,
    read: &ReadStats,
    errors: &[String],
    errors_shown: bool,
) -> Option<String> {
    if read.events() > 0 {
        return None;
    }
    let mut found: Vec<String> = Vec::new();
    if inputs == 0 {
        for p in paths {
            if std::path::Path::new(p).is_dir() {
                found.push(format!("{p}: the directory holds no files"));
            }
        }
    }
    for f in &read.foreign {
        if f.what == kvsentry_ingest::Foreign::Empty {
            found.push(format!("{} is empty", f.file));
        }
    }
    if errors_shown {
        if !errors.is_empty() {
            found.push(format!(
                "{} file(s) could not be read (above)",
                errors.len()
            ));
        }
    } else {
        found.extend(errors.iter().cloned());
    }
    let categories = read.skipped(SkipReason::OtherCategory);
    if categories > 0 {
        let names: Vec<&str> = read.other_categories.keys().map(String::as_str).collect();
        found.push(format!(
            "{} of other diagnostic categories ({})",
            records(categories),
            names.join(", ")
        ));
    }
    if read.managed_hsm > 0 {
        found.push(format!(
            "{} of Managed HSMs (out of scope for the Key Vault rules)",
            records(read.managed_hsm)
        ));
    }
    let other_resources = read
        .skipped(SkipReason::NotKeyVault)
        .saturating_sub(read.managed_hsm);
    if other_resources > 0 {
        found.push(format!(
            "{} of other Azure resources",
            records(other_resources)
        ));
    }
    let damaged = read.skipped_total() - read.filtered();
    if damaged > 0 {
        found.push(format!("{} damaged", records(damaged)));
    }
    if found.is_empty() {
        found.push("nothing to read".to_string());
    }
    Some(format!(
        "no Key Vault audit events in {inputs} file(s): {}",
        found.join("; ")
    ))
}
