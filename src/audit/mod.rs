//! `ferry audit`: after the fact, does the destination hold what the manifest says it should,
//! whoever copied it (ferry, another tool, a person)? Like rclone's `check`, it compares two sides in
//! step and transfers nothing.
//!
//! - [`compare`] is pure: from the manifest's plan (which maps every selected source session onto its
//!   destination labels, and knows copies made under `conflict: rename`) and both inventories, it
//!   finds missing, different and duplicated sessions by scans, file counts, sizes and UIDs.
//! - [`deep`] downloads both sides of every session that matched and compares pixel data and the
//!   header fields the manifest sets, file by file.
//!
//! The report never holds a DICOM value: UIDs and headers are compared, never shown.

pub mod compare;
pub mod deep;

use serde::Serialize;
use std::fmt::Write as _;

pub use compare::compare;

/// How one source session compares with its destination counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The counterpart holds what was selected.
    Match,
    /// There is no counterpart in the destination.
    Missing,
    /// The counterpart differs (the problems say how).
    Different,
}

/// One selected source session and its counterpart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionAudit {
    /// `SUBJECT/SESSION` in the source project.
    pub source: String,
    /// `SUBJECT/SESSION` the manifest maps it onto in the destination project.
    pub dest: String,
    /// The verdict.
    pub outcome: Outcome,
    /// Why it is missing or different, one line each.
    pub problems: Vec<String>,
    /// What was not compared, or is worth knowing without being a difference.
    pub notes: Vec<String>,
    /// Scans compared.
    pub scans: u64,
    /// Files compared.
    pub files: u64,
    /// The scan IDs compared (for `--deep`).
    #[serde(skip)]
    pub scan_ids: Vec<String>,
}

/// A destination session that is not the counterpart of any source session but holds one's study.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Extra {
    /// `SUBJECT/SESSION` in the destination project.
    pub dest: String,
    /// Why it counts as extra.
    pub why: String,
}

/// One transfer of the manifest, audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferAudit {
    /// The transfer's name.
    pub name: String,
    /// `SERVER/PROJECT` of the source.
    pub from: String,
    /// `SERVER/PROJECT` of the destination.
    pub to: String,
    /// One entry per selected source session, sorted by source subject then session.
    pub sessions: Vec<SessionAudit>,
    /// Duplicate copies found in the destination.
    pub extra: Vec<Extra>,
}

/// Totals of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Source sessions compared.
    pub sessions: u64,
    /// Counterparts that match.
    pub matched: u64,
    /// Source sessions without a counterpart.
    pub missing: u64,
    /// Counterparts that differ.
    pub different: u64,
    /// Duplicate copies in the destination.
    pub extra: u64,
}

/// The whole audit, as `ferry audit --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Whether `--deep` compared pixel data and set header fields.
    pub deep: bool,
    /// The transfers, in manifest order.
    pub transfers: Vec<TransferAudit>,
    /// Totals.
    pub totals: Totals,
}

impl AuditReport {
    /// Recounts the totals from the transfers.
    pub fn tally(&mut self) {
        let mut t = Totals::default();
        for x in &self.transfers {
            for s in &x.sessions {
                t.sessions += 1;
                match s.outcome {
                    Outcome::Match => t.matched += 1,
                    Outcome::Missing => t.missing += 1,
                    Outcome::Different => t.different += 1,
                }
            }
            t.extra += x.extra.len() as u64;
        }
        self.totals = t;
    }

    /// Whether every selected session has a matching counterpart and nothing is duplicated.
    pub fn all_match(&self) -> bool {
        let t = &self.totals;
        t.missing == 0 && t.different == 0 && t.extra == 0
    }

    /// The report for people: one line per session that does not match (with its problems), the
    /// duplicates, and the totals.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        for t in &self.transfers {
            let _ = writeln!(out, "Transfer {}: {} -> {}", t.name, t.from, t.to);
            for s in &t.sessions {
                if s.outcome == Outcome::Match && !verbose {
                    continue;
                }
                let word = match s.outcome {
                    Outcome::Match => "match",
                    Outcome::Missing => "MISSING",
                    Outcome::Different => "DIFFERENT",
                };
                let _ = writeln!(out, "  {word:<9} {} -> {}", s.source, s.dest);
                for p in &s.problems {
                    let _ = writeln!(out, "            ! {p}");
                }
                for n in &s.notes {
                    let _ = writeln!(out, "            note: {n}");
                }
            }
            for e in &t.extra {
                let _ = writeln!(out, "  EXTRA     {}  ({})", e.dest, e.why);
            }
        }
        let x = &self.totals;
        let _ = writeln!(
            out,
            "Audit{}: {} compared: {} match, {} missing, {} different; {} extra.",
            if self.deep { " (deep)" } else { "" },
            crate::plan::plural(x.sessions, "session", "sessions"),
            x.matched,
            x.missing,
            x.different,
            x.extra
        );
        out
    }
}
