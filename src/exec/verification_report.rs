//! The verification report written beside the plan (`PLAN.verification.json`), built from what the
//! journal says of each session's steps, and its readable summary.

use super::journal::Last;
use crate::plan::{self, human_bytes, Plan, StepKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What happened to one session, for the verification report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionResult {
    /// The transfer.
    pub transfer: String,
    /// `SUBJECT/SESSION` in the source.
    pub source: String,
    /// `PROJECT/SUBJECT/SESSION` in the destination.
    pub dest: String,
    /// The source subject's accession ID.
    pub source_subject_id: String,
    /// The source session's accession ID.
    pub source_session_id: String,
    /// The destination session's accession ID, once verification read it.
    pub dest_session_id: Option<String>,
    /// `verified`, `staged` (left in the prearchive, READY, with every file: `archive: manual`),
    /// `failed`, `incomplete` or `not_run`.
    pub status: String,
    /// Files verified.
    pub files: u64,
    /// Bytes verified.
    pub bytes: u64,
    /// DICOM files the destination's listed MD5 vouched for (not read back).
    pub by_digest: u64,
    /// DICOM files read back and compared.
    pub read_back: u64,
    /// Whether the source was deleted after verification.
    pub source_deleted: bool,
    /// Problems (verification failures or step errors).
    pub problems: Vec<String>,
    /// Changes the destination made on its own that are not failures.
    pub notes: Vec<String>,
}

/// Who ran `apply`, where, with what, against which servers, and when (UTC, RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// The account that ran ferry.
    pub user: String,
    /// The host it ran on.
    pub host: String,
    /// ferry's version.
    pub ferry_version: String,
    /// The plan's servers: name -> URL (never a credential).
    pub servers: BTreeMap<String, String>,
    /// When the run started.
    pub started: String,
    /// When it ended.
    pub finished: String,
    /// Whether it resumed an earlier run.
    pub resumed: bool,
}

/// The verification report, written beside the plan as `PLAN.verification.json`: with the journal, a
/// site's record of the transfer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationReport {
    /// The plan's hash.
    pub plan_hash: String,
    /// The run that wrote the report (absent when the report is rebuilt from a journal alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// One entry per runnable session, in plan order.
    pub sessions: Vec<SessionResult>,
}

/// Builds the verification report from what the journal says.
pub fn verification_report(
    plan: &Plan,
    hash: &str,
    journal: &BTreeMap<String, Last>,
) -> VerificationReport {
    let mut sessions = Vec::new();
    let steps_of: BTreeMap<&str, Vec<&plan::Step>> =
        plan.steps.iter().fold(BTreeMap::new(), |mut m, s| {
            if let Some(a) = &s.action {
                m.entry(a.as_str()).or_insert_with(Vec::new).push(s);
            }
            m
        });
    for t in &plan.transfers {
        for a in &t.actions {
            let Some(steps) = steps_of.get(a.id.as_str()) else {
                continue;
            };
            sessions.push(session_result(t, a, steps, journal));
        }
    }
    VerificationReport {
        plan_hash: hash.to_string(),
        run: None,
        sessions,
    }
}

/// What the journal says of one session (its action `a` of transfer `t`, run by `steps`).
fn session_result(
    t: &plan::TransferPlan,
    a: &plan::Action,
    steps: &[&plan::Step],
    journal: &BTreeMap<String, Last>,
) -> SessionResult {
    let mut r = SessionResult {
        transfer: t.name.clone(),
        source: format!("{}/{}", a.source.subject, a.source.session),
        dest: format!("{}/{}/{}", t.to.project, a.dest.subject, a.dest.session),
        source_subject_id: a.source.subject_id.clone(),
        source_session_id: a.source.session_id.clone(),
        dest_session_id: None,
        status: "not_run".into(),
        files: 0,
        bytes: 0,
        by_digest: 0,
        read_back: 0,
        source_deleted: false,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let mut states = BTreeSet::new();
    for s in steps {
        match journal.get(&s.id) {
            Some(Last::Done(d)) => {
                states.insert("done");
                if s.kind == StepKind::Verify {
                    if d["staged"] == true {
                        states.insert("staged");
                    }
                    r.dest_session_id = d["accession"]["dest_session"].as_str().map(str::to_string);
                    let v = &d["verification"];
                    r.files = v["files"].as_u64().unwrap_or(0);
                    r.bytes = v["bytes"].as_u64().unwrap_or(0);
                    r.by_digest = v["by_digest"].as_u64().unwrap_or(0);
                    r.read_back = v["read_back"].as_u64().unwrap_or(0);
                    for n in v["notes"].as_array().into_iter().flatten() {
                        r.notes.push(n.as_str().unwrap_or_default().to_string());
                    }
                }
                if s.kind == StepKind::DeleteSource {
                    r.source_deleted = true;
                }
            }
            Some(Last::Failed(e)) => {
                states.insert("failed");
                r.problems.push(format!("{}: {e}", s.kind.as_str()));
            }
            Some(Last::Started) => {
                states.insert("started");
            }
            None => {
                states.insert("pending");
            }
        }
    }
    r.status = status(&states).into();
    r
}

/// A session's status from the states its steps are in.
fn status(states: &BTreeSet<&str>) -> &'static str {
    if states.contains("failed") {
        "failed"
    } else if states.len() == 2 && states.contains("staged") && states.contains("done") {
        "staged"
    } else if states.len() == 1 && states.contains("done") {
        "verified"
    } else if states.contains("done") || states.contains("started") {
        "incomplete"
    } else {
        "not_run"
    }
}

/// The readable summary of a verification report, one line per session.
pub fn render_report(report: &VerificationReport) -> String {
    let mut out = String::new();
    let width = report
        .sessions
        .iter()
        .map(|s| s.dest.len())
        .max()
        .unwrap_or(0);
    for s in &report.sessions {
        let mut line = format!(
            "  {:<10} {:<width$}  {:>5} files {:>10}",
            s.status,
            s.dest,
            s.files,
            human_bytes(s.bytes)
        );
        if s.by_digest + s.read_back > 0 {
            line.push_str(&format!(
                "  ({} by digest, {} read back)",
                s.by_digest, s.read_back
            ));
        }
        if s.source_deleted {
            line.push_str("  source deleted");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        for p in &s.problems {
            out.push_str(&format!("      ! {p}\n"));
        }
        for n in &s.notes {
            out.push_str(&format!("      note: {n}\n"));
        }
    }
    out
}
