//! The dry-run diff printed by `ferry plan`: terraform-like, one line per action with its symbol
//! (`+ create`, `~ merge`, `+ share`, `= skip`, `! blocked`, `- delete source`), the skip report
//! grouped by reason, the checklist, and a summary. Colour only when asked.

use super::model::{Action, ActionKind, CheckStatus, Plan, Skipped, StepKind, TransferPlan};
use super::source_lines::Mark;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Bytes for people: `512 B`, `1.2 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `1 scan`, `2 scans`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The parenthesised detail of an action line: what moves, or why nothing does.
pub fn detail(a: &Action) -> String {
    let mut d = match a.kind {
        ActionKind::Create | ActionKind::Merge => format!(
            "{}{}, {}, {}",
            if a.kind == ActionKind::Merge {
                "adds "
            } else {
                ""
            },
            plural(a.scans.len() as u64, "scan", "scans"),
            plural(a.files, "file", "files"),
            human_bytes(a.bytes)
        ),
        ActionKind::Share => plural(a.scans.len() as u64, "scan", "scans"),
        ActionKind::Relocate => format!(
            "{}, {}; XNAT moves it, no bytes are copied",
            plural(a.scans.len() as u64, "scan", "scans"),
            plural(a.scans.iter().map(|s| s.files).sum(), "file", "files")
        ),
        ActionKind::Skip | ActionKind::Blocked => a.reason.clone(),
    };
    if !a.resources.is_empty() && matches!(a.kind, ActionKind::Create | ActionKind::Merge) {
        let labels: Vec<&str> = a.resources.iter().map(|r| r.label.as_str()).collect();
        let _ = write!(d, "; resources {}", labels.join(", "));
    }
    if !a.phi.is_empty() && a.kind != ActionKind::Blocked {
        let kws: Vec<&str> = a.phi.iter().map(|f| f.keyword.as_str()).collect();
        let _ = write!(d, "; PHI left in: {}", kws.join(", "));
    }
    d
}

/// The diff symbol and verb of an action kind (`+ create`, `~ merge`, `+ share`, `= skip`,
/// `> relocate`, `! blocked`), shared by every rendering of a plan.
pub fn action_symbol(kind: ActionKind) -> (&'static str, &'static str) {
    match kind {
        ActionKind::Create => ("+", "create"),
        ActionKind::Merge => ("~", "merge"),
        ActionKind::Share => ("+", "share"),
        ActionKind::Relocate => (">", "relocate"),
        ActionKind::Skip => ("=", "skip"),
        ActionKind::Blocked => ("!", "blocked"),
    }
}

fn action_line(p: &Painter, a: &Action) -> String {
    let (sym, verb) = action_symbol(a.kind);
    let code = match a.kind {
        ActionKind::Create | ActionKind::Share | ActionKind::Relocate => GREEN,
        ActionKind::Merge => YELLOW,
        ActionKind::Skip => DIM,
        ActionKind::Blocked => RED,
    };
    // `relocate` fills the column: keep one space after it.
    let verb = if verb.len() >= 8 {
        format!("{verb} ")
    } else {
        format!("{verb:<8}")
    };
    let head = p.paint(code, &format!("{sym} {verb}"));
    format!(
        "{head}{}/{} -> {}/{}  ({})\n",
        a.source.subject,
        a.source.session,
        a.dest.subject,
        a.dest.session,
        detail(a)
    )
}

fn subject_lines(p: &Painter, plan: &Plan, t: &TransferPlan, out: &mut String) {
    for s in plan.steps.iter().filter(|s| s.transfer == t.name) {
        let line = match s.kind {
            StepKind::CreateSubject => {
                format!("+ subject {}  (new destination subject)", s.dest_subject)
            }
            StepKind::ShareSubject => format!(
                "+ share   subject {} as {}",
                s.source_subject.as_deref().unwrap_or(&s.dest_subject),
                s.dest_subject
            ),
            _ => continue,
        };
        let _ = writeln!(out, "{}", p.paint(GREEN, &line));
    }
}

fn delete_lines(p: &Painter, plan: &Plan, t: &TransferPlan, out: &mut String) {
    for line in super::source_lines::lines(plan, t) {
        let code = match line.mark {
            Mark::Delete => RED,
            Mark::Keep => DIM,
            Mark::Note => "",
        };
        let text = match line.mark {
            Mark::Note => format!("  {}", line.text),
            _ => line.text,
        };
        let _ = writeln!(
            out,
            "{}",
            if code.is_empty() {
                text
            } else {
                p.paint(code, &text)
            }
        );
    }
}

fn skipped_lines(skipped: &[Skipped], out: &mut String) {
    if skipped.is_empty() {
        return;
    }
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in skipped {
        by_reason.entry(&s.reason).or_default().push(&s.object);
    }
    let _ = writeln!(
        out,
        "  not transferred ({} in scope):",
        plural(skipped.len() as u64, "item", "items")
    );
    for (reason, objects) in by_reason {
        let shown: Vec<&str> = objects.iter().take(3).copied().collect();
        let more = if objects.len() > 3 { ", …" } else { "" };
        let _ = writeln!(
            out,
            "    {} × {reason}: {}{more}",
            objects.len(),
            shown.join(", ")
        );
    }
}

fn checklist_lines(p: &Painter, plan: &Plan, out: &mut String) {
    let _ = writeln!(out, "\n{}", p.paint(BOLD, "Pre-transfer checklist:"));
    for c in &plan.checklist {
        let (word, code) = match c.status {
            CheckStatus::Ok => ("ok", GREEN),
            CheckStatus::Warn => ("warn", YELLOW),
            CheckStatus::Blocked => ("BLOCKED", RED),
        };
        let word = p.paint(code, &format!("{word:<8}"));
        let scope = if plan.transfers.len() > 1 {
            format!("[{}] ", c.transfer)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {word}{scope}{:<17}{}", c.item, c.detail);
    }
}

/// The one-line summary of a plan: `Plan: 1 subject to create, 2 sessions to create, … .`
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "Plan: {} to create, {} to create, {} to merge, {} to share, {} skipped, {} blocked; {}, {}, {} to transfer{}.",
        plural(s.subjects_created, "subject", "subjects"),
        plural(s.sessions_created, "session", "sessions"),
        s.sessions_merged,
        s.shares,
        s.sessions_skipped,
        s.sessions_blocked,
        plural(s.scans, "scan", "scans"),
        plural(s.files, "file", "files"),
        human_bytes(s.bytes),
        match s.deletions {
            0 => String::new(),
            n => format!(
                "; deletes from {} after verification",
                plural(n, "source session", "source sessions")
            ),
        }
    )
}

/// What to do about blocked sessions, when there are any.
pub fn blocked_line(plan: &Plan) -> Option<String> {
    let n = plan.summary.sessions_blocked;
    (n > 0).then(|| format!(
        "{} blocked: fix the manifest or the servers and plan again, or apply the rest with `ferry apply --skip-blocked`.",
        plural(n, "session is", "sessions are")
    ))
}

/// The summary's notes on relocations and on source subjects a move leaves empty and keeps.
pub fn move_lines(plan: &Plan) -> Vec<String> {
    let s = &plan.summary;
    let mut out = Vec::new();
    if s.relocations > 0 {
        out.push(format!(
            "{} to relocate (no bytes move).",
            plural(s.relocations, "session", "sessions")
        ));
    }
    if !s.empty_subjects.is_empty() {
        out.push(format!(
            "Source subjects left empty and kept: {} (set policy.remove_empty_subjects: true to remove them).",
            s.empty_subjects.join(", ")
        ));
    }
    out
}

fn summary_lines(p: &Painter, plan: &Plan, out: &mut String) {
    let _ = writeln!(out, "\n{}", p.paint(BOLD, &summary_line(plan)));
    for line in move_lines(plan) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(warn) = blocked_line(plan) {
        let _ = writeln!(out, "{}", p.paint(RED, &warn));
    }
}

/// The dry-run diff of a plan, with ANSI colours when `color` is true.
pub fn render_diff(plan: &Plan, color: bool) -> String {
    let p = Painter { color };
    let mut out = String::new();
    for t in &plan.transfers {
        let head = format!(
            "Transfer {}: {} {}/{} -> {}/{}",
            t.name,
            serde_plain(&t.mode),
            t.from.server,
            t.from.project,
            t.to.server,
            t.to.project
        );
        let _ = writeln!(out, "{}", p.paint(BOLD, &head));
        subject_lines(&p, plan, t, &mut out);
        for a in &t.actions {
            out.push_str(&action_line(&p, a));
        }
        delete_lines(&p, plan, t, &mut out);
        skipped_lines(&t.skipped, &mut out);
        out.push('\n');
    }
    if plan.transfers.is_empty() {
        out.push_str("No transfers.\n");
    }
    checklist_lines(&p, plan, &mut out);
    summary_lines(&p, plan, &mut out);
    out
}

/// The lowercase name serde gives a unit enum variant (`copy`, `share`, …).
pub fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One line for a de-identification profile: `deidentify basic (PS3.15 Annex E 2024b; retain …; UIDs
/// remapped)`.
pub(crate) fn deidentify_line(d: &crate::manifest::model::Deidentify, edition: &str) -> String {
    use crate::manifest::model::{Retain, UidPolicy};
    let retain: Vec<&str> = d
        .retain
        .iter()
        .map(|r| match r {
            Retain::LongitudinalDates => "longitudinal_dates",
            Retain::DeviceIdentity => "device_identity",
            Retain::InstitutionIdentity => "institution_identity",
            Retain::PatientCharacteristics => "patient_characteristics",
            Retain::Descriptors => "descriptors",
        })
        .collect();
    let retain = if retain.is_empty() {
        String::new()
    } else {
        format!("; retain {}", retain.join(", "))
    };
    let uids = match d.uids {
        UidPolicy::Remap => "UIDs remapped",
        UidPolicy::Keep => "UIDs kept",
    };
    format!("deidentify basic (PS3.15 Annex E {edition}{retain}; {uids})")
}
