//! The XNAT fields people curate, carried with a copy: per carried scan its `type`, `quality`, `note`
//! and `series_description`, and the session's `note`, `visit_id` and `time`, as they are in the
//! source (not as the DICOM headers say). They are set on the destination after it is archived, with
//! XNAT's xpath query parameters on PUT, and verification compares them again. Empty source values are
//! not carried; into a merged session only the new scans' fields and the session fields the
//! destination leaves empty are written.
//!
//! The carry reads both sessions after the destination is archived. When it finds nothing to set,
//! the verification of the same run compares those reads instead of making them again (one request
//! less to each server per session); when it set something, or in a resumed run, the verification
//! reads both sessions again.

use super::{xnat, Ctx, Env};
use crate::exec::pool::StepFailure;
use crate::exec::verify::Problem;
use crate::plan::ActionKind;
use crate::xnat::{ExperimentItem, ScanMeta, SessionRef};

/// The fields of a scan to carry: (XNAT field, source value).
fn scan_fields(m: &ScanMeta) -> [(&'static str, &str); 4] {
    [
        ("type", m.scan_type.as_str()),
        ("quality", m.quality.as_str()),
        ("note", m.note.as_str()),
        ("series_description", m.series_description.as_str()),
    ]
}

fn session_fields(i: &ExperimentItem) -> [(&'static str, &str); 3] {
    [
        ("note", i.meta.note.as_str()),
        ("visit_id", i.meta.visit.as_str()),
        ("time", i.meta.time.as_str()),
    ]
}

/// The fields to set on one object: `None` is the session, `Some(scan ID)` a scan; each field with
/// the source's value.
pub type Change<'s> = (Option<String>, Vec<(&'static str, &'s str)>);

/// What must change in `dest` to carry `src`. Pure.
pub fn changes<'s>(
    src: &'s ExperimentItem,
    dest: &ExperimentItem,
    scans: &[String],
    merge: bool,
) -> Vec<Change<'s>> {
    let mut out = Vec::new();
    let dest_session = session_fields(dest);
    let session: Vec<(&str, &str)> = session_fields(src)
        .into_iter()
        .zip(dest_session)
        .filter(|((_, v), (_, d))| (d.is_empty() || !merge) && v != d && !v.is_empty())
        .map(|(x, _)| x)
        .collect();
    if !session.is_empty() {
        out.push((None, session));
    }
    for id in scans {
        let (Some(s), Some(d)) = (src.scans.get(id), dest.scans.get(id)) else {
            continue;
        };
        let fields: Vec<(&str, &str)> = scan_fields(s)
            .into_iter()
            .zip(scan_fields(d))
            .filter(|((_, v), (_, dv))| !v.is_empty() && v != dv)
            .map(|(x, _)| x)
            .collect();
        if !fields.is_empty() {
            out.push((Some(id.clone()), fields));
        }
    }
    out
}

/// Verification problems: every carried field that differs, or a carried scan that is missing.
pub fn problems(
    src: &ExperimentItem,
    dest: &ExperimentItem,
    scans: &[String],
    merge: bool,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for (object, fields) in changes(src, dest, scans, merge) {
        for (field, _) in fields {
            out.push(Problem::Curated {
                object: object
                    .as_ref()
                    .map_or("session".to_string(), |s| format!("scan {s}")),
                field: field.to_string(),
            });
        }
    }
    out
}

/// Both items as the carry read them, by action, for the sessions where it set nothing. Only this
/// process holds them: a resumed run reads again.
#[derive(Default)]
pub struct Unchanged(std::sync::Mutex<std::collections::HashMap<String, Items>>);

/// The source's item and the destination's.
type Items = (ExperimentItem, ExperimentItem);

impl Unchanged {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Items>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The source and destination items, read at once (one request to each server).
fn items(env: &Env<'_>, c: &Ctx<'_>) -> Result<(ExperimentItem, ExperimentItem), StepFailure> {
    let (from, to) = (&c.transfer.from, &c.transfer.to);
    let (src, dest) = (env.client(&from.server)?, env.client(&to.server)?);
    let (src, dest) = std::thread::scope(|scope| {
        let s = scope.spawn(|| src.experiment_item(&c.action.source.session_id));
        let d = dest.session_item(&to.project, &c.action.dest.subject, &c.action.dest.session);
        let s = s.join().unwrap_or_else(|_| {
            Err(crate::xnat::XnatError::BadResponse {
                server: from.server.clone(),
                what: format!("reading experiment {}", c.action.source.session_id),
                detail: "a reader thread failed".into(),
            })
        });
        (s, d)
    });
    Ok((src.map_err(xnat)?, dest.map_err(xnat)?))
}

fn scan_ids(c: &Ctx<'_>) -> Vec<String> {
    c.action.scans.iter().map(|s| s.id.clone()).collect()
}

/// Sets the curated fields of the source on the archived destination; returns how many were set.
pub fn carry(env: &Env<'_>, c: &Ctx<'_>) -> Result<usize, StepFailure> {
    let (src, dest) = items(env, c)?;
    let merge = c.action.kind == ActionKind::Merge;
    let to = &c.transfer.to;
    let at = SessionRef {
        project: &to.project,
        subject: &c.action.dest.subject,
        session: &c.action.dest.session,
    };
    let client = env.client(&to.server)?;
    let todo = changes(&src, &dest, &scan_ids(c), merge);
    if todo.is_empty() {
        env.unchanged
            .lock()
            .insert(c.action.id.clone(), (src, dest));
        return Ok(0);
    }
    let mut n = 0;
    for (object, fields) in todo {
        n += fields.len();
        match object {
            None => client.set_session_fields(at, &dest.xsi_type, &fields),
            Some(scan) => {
                let xsi = dest
                    .scans
                    .get(&scan)
                    .map(|s| s.xsi_type.as_str())
                    .filter(|x| !x.is_empty())
                    .unwrap_or("xnat:mrScanData");
                client.set_scan_fields(at, &scan, xsi, &fields)
            }
        }
        .map_err(xnat)?;
    }
    Ok(n)
}

/// The verification of the curated fields, read again on both sides unless this run's carry read them
/// and found nothing to set; with the destination session's accession ID (from the same read).
pub fn check(env: &Env<'_>, c: &Ctx<'_>) -> Result<(Vec<Problem>, String), StepFailure> {
    let held = env.unchanged.lock().remove(&c.action.id);
    let (src, dest) = match held {
        Some(both) => both,
        None => items(env, c)?,
    };
    let mut out = problems(
        &src,
        &dest,
        &scan_ids(c),
        c.action.kind == ActionKind::Merge,
    );
    for id in scan_ids(c).iter().filter(|s| !dest.scans.contains_key(*s)) {
        out.push(Problem::MissingScan { scan: id.clone() });
    }
    Ok((out, dest.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quality: &str, note: &str, session_note: &str) -> ExperimentItem {
        let mut i = ExperimentItem {
            id: "E".into(),
            xsi_type: "xnat:mrSessionData".into(),
            ..ExperimentItem::default()
        };
        i.meta.note = session_note.into();
        i.scans.insert(
            "2".into(),
            ScanMeta {
                xsi_type: "xnat:mrScanData".into(),
                scan_type: "T1w".into(),
                quality: quality.into(),
                note: note.into(),
                series_description: "T1_MPRAGE".into(),
            },
        );
        i
    }

    #[test]
    fn edited_fields_are_carried_and_verification_fails_without_them() {
        let src = item("questionable", "motion", "rescan");
        let dest = item("usable", "", "");
        let scans = vec!["2".to_string()];
        let c = changes(&src, &dest, &scans, false);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], (None, vec![("note", "rescan")]));
        assert_eq!(
            c[1],
            (
                Some("2".into()),
                vec![("quality", "questionable"), ("note", "motion")]
            )
        );
        let p = problems(&src, &dest, &scans, false);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[1].to_string(),
            "scan 2: the XNAT field `quality` differs from the source"
        );
        assert!(problems(&src, &src.clone(), &scans, false).is_empty());
    }

    #[test]
    fn empty_source_values_and_filled_merge_targets_are_left_alone() {
        let src = item("", "", "from source");
        let dest = item("usable", "kept", "already there");
        let scans = vec!["2".to_string()];
        assert!(changes(&src, &dest, &scans, true).is_empty());
        assert_eq!(changes(&src, &dest, &scans, false).len(), 1);
    }
}
