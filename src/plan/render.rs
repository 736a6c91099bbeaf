//! The dry-run diff printed by `ferry plan`, and the graph as DOT.

use super::model::*;
use std::fmt::Write as _;

/// Bytes as people read them.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn symbol(kind: ActionKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ActionKind::Create => ("+", "create ", "32"),
        ActionKind::Merge => ("~", "merge  ", "33"),
        ActionKind::Share => ("+", "share  ", "32"),
        ActionKind::Skip => ("=", "skip   ", "2"),
        ActionKind::Blocked => ("!", "blocked", "31"),
    }
}

/// The terraform-like diff: one line per action, the checklist, the skip report and a summary.
pub fn render_diff(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    for t in &plan.transfers {
        let _ = writeln!(
            out,
            "transfer {} ({:?}): {}/{} -> {}/{}",
            t.name, t.mode, t.from.server, t.from.project, t.to.server, t.to.project
        );
        for a in &t.actions {
            let (sym, word, code) = symbol(a.kind);
            let head = format!("{sym} {word}");
            let mut line = format!(
                "  {} {}/{} -> {}/{}",
                paint(color, code, &head),
                a.source.subject,
                a.source.session,
                a.dest.subject,
                a.dest.session
            );
            match a.kind {
                ActionKind::Create | ActionKind::Merge => {
                    let _ = write!(
                        line,
                        "  ({} scans, {} files, {})",
                        a.scans.len(),
                        a.files,
                        human(a.bytes)
                    );
                    if a.kind == ActionKind::Merge {
                        let _ = write!(line, " — {}", a.reason);
                    }
                }
                ActionKind::Share => {}
                ActionKind::Skip | ActionKind::Blocked => {
                    let _ = write!(line, "  ({})", a.reason);
                }
            }
            if !a.phi.is_empty() && a.kind != ActionKind::Blocked {
                let keys: Vec<&str> = a.phi.iter().map(|p| p.keyword.as_str()).collect();
                let _ = write!(line, "  [PHI warning: {}]", keys.join(", "));
            }
            out.push_str(&line);
            out.push('\n');
        }
        let deletes: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| s.transfer == t.name && s.kind == StepKind::DeleteSource)
            .collect();
        for s in deletes {
            if let Some((_, a)) = s.action.as_deref().and_then(|id| plan.action(id)) {
                let _ = writeln!(
                    out,
                    "  {} {}/{}/{}  (after verification)",
                    paint(color, "31", "- delete source"),
                    t.from.project,
                    a.source.subject,
                    a.source.session
                );
            }
        }
        if !t.skipped.is_empty() {
            let _ = writeln!(out, "  not transferred ({}):", t.skipped.len());
            for s in &t.skipped {
                let _ = writeln!(out, "    - {}: {}", s.object, s.reason);
            }
        }
    }
    out.push_str("checklist:\n");
    for c in &plan.checklist {
        let mark = match c.status {
            CheckStatus::Ok => paint(color, "32", "ok     "),
            CheckStatus::Warn => paint(color, "33", "warn   "),
            CheckStatus::Blocked => paint(color, "31", "blocked"),
        };
        let _ = writeln!(out, "  {mark} {:<17} {} ({})", c.item, c.detail, c.transfer);
    }
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "plan: {} subject(s) to create, {} session(s) to create, {} to merge, {} to share, {} skipped, {} blocked; {} scans, {} files, {}{}",
        s.subjects_created,
        s.sessions_created,
        s.sessions_merged,
        s.shares,
        s.sessions_skipped,
        s.sessions_blocked,
        s.scans,
        s.files,
        human(s.bytes),
        if s.deletions > 0 {
            format!("; {} source session(s) deleted after verification", s.deletions)
        } else {
            String::new()
        }
    );
    if s.sessions_created + s.sessions_merged + s.shares == 0 && s.sessions_blocked == 0 {
        out.push_str("nothing to do\n");
    }
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The execution graph in Graphviz DOT.
pub fn render_dot(plan: &Plan) -> String {
    let mut out = String::from(
        "digraph ferry {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for s in &plan.steps {
        let _ = writeln!(out, "  {} [label={}];", quote(&s.id), quote(&s.id));
    }
    for s in &plan.steps {
        for d in &s.after {
            let _ = writeln!(out, "  {} -> {};", quote(d), quote(&s.id));
        }
    }
    out.push_str("}\n");
    out
}
