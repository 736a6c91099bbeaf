//! The plan as Markdown, for a merge-request comment (`ferry show --format markdown`): a summary, one
//! table per transfer (action, source → destination, scans, files, size, reason), what is deleted from
//! the source, what is not transferred and why, the checklist, and what the plan was computed from.
//!
//! Everything shown comes from the plan itself, so a reviewer sees the same decisions as in the
//! terminal diff without contacting a server. Text from the plan is escaped: a label or a reason can
//! never break the table or inject markup into the comment.

use super::model::{CheckStatus, Plan, StepKind, TransferPlan};
use super::render::{action_symbol, blocked_line, human_bytes, serde_plain, summary_line};
use super::source_lines::Mark;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Escapes text for a Markdown table cell: markup characters get a backslash, line breaks become
/// spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A code span for an identifier (a label, a path), safe in a table cell.
pub fn code(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let longest = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') {
        " "
    } else {
        ""
    };
    // In a GFM table a `|` ends the cell even inside a code span unless it is escaped.
    format!("{fence}{pad}{}{pad}{fence}", flat.replace('|', "\\|"))
}

fn transfer_head(t: &TransferPlan, out: &mut String) {
    let _ = writeln!(
        out,
        "### Transfer {}: {} {} → {}\n",
        code(&t.name),
        serde_plain(&t.mode),
        code(&format!("{}/{}", t.from.server, t.from.project)),
        code(&format!("{}/{}", t.to.server, t.to.project)),
    );
    let p = serde_json::to_value(t.policy).unwrap_or_default();
    if let Some(map) = p.as_object() {
        let parts: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect();
        let _ = writeln!(out, "Policy: {}\n", escape(&parts.join(", ")));
    }
}

fn subject_lines(plan: &Plan, t: &TransferPlan, out: &mut String) {
    let mut lines = Vec::new();
    for s in plan.steps.iter().filter(|s| s.transfer == t.name) {
        match s.kind {
            StepKind::CreateSubject => lines.push(format!(
                "- `+` new destination subject {}",
                code(&s.dest_subject)
            )),
            StepKind::ShareSubject => lines.push(format!(
                "- `+` share subject {} as {}",
                code(s.source_subject.as_deref().unwrap_or(&s.dest_subject)),
                code(&s.dest_subject)
            )),
            _ => {}
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "{}\n", lines.join("\n"));
    }
}

fn action_table(t: &TransferPlan, out: &mut String) {
    if t.actions.is_empty() {
        let _ = writeln!(out, "No sessions selected.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| | action | source | destination | scans | files | size | reason |\n|---|---|---|---|--:|--:|--:|---|"
    );
    for a in &t.actions {
        let (sym, verb) = action_symbol(a.kind);
        let mut reason = escape(&a.reason);
        if !a.resources.is_empty() {
            let labels: Vec<String> = a.resources.iter().map(|r| code(&r.label)).collect();
            let _ = write!(reason, "; resources {}", labels.join(", "));
        }
        if !a.phi.is_empty() {
            let kws: Vec<String> = a.phi.iter().map(|f| code(&f.keyword)).collect();
            let _ = write!(reason, "; PHI left in: {}", kws.join(", "));
        }
        let _ = writeln!(
            out,
            "| `{sym}` | {verb} | {} | {} | {} | {} | {} | {reason} |",
            code(&format!("{}/{}", a.source.subject, a.source.session)),
            code(&format!("{}/{}", a.dest.subject, a.dest.session)),
            a.scans.len(),
            a.files,
            human_bytes(a.bytes),
        );
    }
    out.push('\n');
}

fn delete_lines(plan: &Plan, t: &TransferPlan, out: &mut String) {
    let lines = super::source_lines::lines(plan, t);
    if lines.is_empty() {
        return;
    }
    let deletes = lines.iter().filter(|l| l.mark == Mark::Delete).count();
    let shown: Vec<String> = lines
        .iter()
        .map(|l| match l.mark {
            Mark::Delete => format!("- `-` {}", escape(l.text.trim_start_matches("- "))),
            Mark::Keep => format!("- `=` {}", escape(l.text.trim_start_matches("= "))),
            Mark::Note => format!("- {}", escape(&l.text)),
        })
        .collect();
    let _ = writeln!(
        out,
        "**The source after verification ({deletes} to delete from):**\n\n{}\n",
        shown.join("\n")
    );
}

/// How many objects of one skip reason are named before "and N more".
const SHOWN: usize = 10;

fn skipped_table(t: &TransferPlan, out: &mut String) {
    if t.skipped.is_empty() {
        return;
    }
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &t.skipped {
        by_reason.entry(&s.reason).or_default().push(&s.object);
    }
    let _ = writeln!(
        out,
        "<details><summary>Not transferred: {} in scope</summary>\n\n| reason | count | objects |\n|---|--:|---|",
        super::render::plural(t.skipped.len() as u64, "item", "items")
    );
    for (reason, objects) in by_reason {
        let shown: Vec<String> = objects.iter().take(SHOWN).map(|o| escape(o)).collect();
        let more = match objects.len().saturating_sub(SHOWN) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {}{more} |",
            escape(reason),
            objects.len(),
            shown.join(", ")
        );
    }
    let _ = writeln!(out, "\n</details>\n");
}

fn checklist(plan: &Plan, out: &mut String) {
    let _ = writeln!(
        out,
        "### Pre-transfer checklist\n\n| | transfer | item | detail |\n|---|---|---|---|"
    );
    for c in &plan.checklist {
        let mark = match c.status {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "**warn**",
            CheckStatus::Blocked => "**BLOCKED**",
        };
        let _ = writeln!(
            out,
            "| {mark} | {} | {} | {} |",
            code(&c.transfer),
            escape(&c.item),
            escape(&c.detail)
        );
    }
    out.push('\n');
}

fn provenance(plan: &Plan, out: &mut String) {
    let _ = writeln!(
        out,
        "<details><summary>Computed from</summary>\n\n- plan format {}, written by ferry {}\n- manifest {} ({})",
        code(&plan.format),
        escape(&plan.ferry_version),
        code(&plan.manifest.path),
        code(&plan.manifest.hash)
    );
    for inv in &plan.inventories {
        let _ = writeln!(
            out,
            "- inventory {} ({})",
            code(&format!("{}/{}", inv.server, inv.project)),
            code(&inv.fingerprint)
        );
    }
    let _ = writeln!(out, "\n</details>");
}

/// The plan as Markdown. The same plan always gives the same text.
pub fn render_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## ferry plan for {}\n\n**{}**\n",
        code(&plan.manifest.path),
        escape(&summary_line(plan))
    );
    for line in super::render::move_lines(plan) {
        let _ = writeln!(out, "{}\n", escape(&line));
    }
    if let Some(b) = blocked_line(plan) {
        let _ = writeln!(out, "> **Blocked.** {}\n", escape(&b));
    }
    for t in &plan.transfers {
        transfer_head(t, &mut out);
        subject_lines(plan, t, &mut out);
        action_table(t, &mut out);
        delete_lines(plan, t, &mut out);
        skipped_table(t, &mut out);
    }
    if plan.transfers.is_empty() {
        let _ = writeln!(out, "No transfers.\n");
    }
    checklist(plan, &mut out);
    provenance(plan, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{demo_plan, invs, main_project, manifest, pilot, plan_of};
    use super::*;

    #[test]
    fn escape_and_code_keep_tables_intact() {
        assert_eq!(escape("a|b <i>x</i>\nnext"), "a\\|b \\<i\\>x\\</i\\> next");
        assert_eq!(code("SUB_1"), "`SUB_1`");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn the_demo_plan_reads_as_tables() {
        let plan = demo_plan();
        let md = render_markdown(&plan);
        assert!(md.starts_with("## ferry plan for `ferry.yaml`\n"), "{md}");
        assert!(md.contains(&format!("**{}**", escape(&summary_line(&plan)))));
        assert!(md.contains("> **Blocked.** 3 sessions are blocked"), "{md}");
        assert!(
            md.contains(
                "| `+` | create | `SUB001/SUB001_MR1` | `MAIN_001/MAIN_001_20240115` | 3 | 30 |"
            ),
            "{md}"
        );
        assert!(md.contains("| `!` | blocked | `SUB003/SUB003_MR1`"), "{md}");
        assert!(md.contains("PHI left in: `PatientBirthDate`"), "{md}");
        assert!(
            md.contains("- `+` new destination subject `MAIN_001`"),
            "{md}"
        );
        assert!(
            md.contains("| **BLOCKED** | `pilot-into-main` | anonymization |"),
            "{md}"
        );
        assert!(
            md.contains("<summary>Not transferred: 9 items in scope</summary>"),
            "{md}"
        );
        // Every table row has as many cells as its header.
        for line in md.lines().filter(|l| l.starts_with("| ")) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!([5, 4, 9].contains(&cells), "{cells} separators in {line}");
        }
        assert_eq!(render_markdown(&plan), md, "not deterministic");
        for v in super::super::tests::PHI_VALUES {
            assert!(!md.contains(v), "PHI value {v} in the Markdown");
        }
    }

    #[test]
    fn a_move_lists_what_is_deleted_from_the_source() {
        let m = manifest("move", "conflict: skip, anonymization: warn", "");
        let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
        let md = render_markdown(&plan);
        assert!(
            md.contains("**The source after verification (5 to delete from):**"),
            "{md}"
        );
        assert!(md.contains("- `-` delete source scans 2, 3, 4 of PILOT/SUB001\\_MR1; stays: scan 1 (localizer), resource NOTES"), "{md}");
        assert!(
            md.contains("deletes from 5 source sessions after verification"),
            "{md}"
        );
    }

    #[test]
    fn a_reason_cannot_break_out_of_its_cell() {
        let mut plan = demo_plan();
        plan.transfers[0].actions[0].reason = "a | b\n| injected | row |".into();
        let md = render_markdown(&plan);
        let row = md
            .lines()
            .find(|l| l.contains("`SUB001/SUB001_MR1`"))
            .unwrap();
        assert!(row.ends_with("a \\| b \\| injected \\| row \\| |"), "{row}");
        assert!(!md.contains("\n| injected"), "{md}");
    }
}
