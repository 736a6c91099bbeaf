//! The checks of a manifest's templates (`map.subject`, `map.session`, `dicom.set`): they compile,
//! read only variables known at their stage and tables the manifest defines, and render with sample
//! values.

use super::super::load::Sink;
use crate::template::{Table, Templates};
use std::collections::{BTreeMap, BTreeSet};

/// Where a template is rendered, which decides the `dest` variables it may read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Subject,
    Session,
    Set,
}

/// Checks one template at `path`: it compiles, every variable it reads is known at its stage, and
/// (when they all are) it renders with sample values.
pub(super) fn template(
    sink: &mut Sink<'_>,
    path: &str,
    src: &str,
    templates: &Templates,
    tables: &BTreeMap<String, Table>,
    stage: Stage,
) {
    let vars = match templates.variables(src) {
        Ok(v) => v,
        Err(e) => {
            sink.at(path, format!("template does not compile: {}", e.message));
            return;
        }
    };
    let mut seen = BTreeSet::new();
    let mut clean = true;
    for v in vars {
        if !seen.insert(v.clone()) {
            continue;
        }
        if let Some(msg) = variable_problem(&v, stage, tables) {
            sink.at(path, msg);
            clean = false;
        }
    }
    if clean {
        if let Err(e) = templates.check_calls(src, &sample(stage)) {
            sink.at(path, format!("template cannot render: {}", e.message));
        }
    }
}

/// The variables every template may read, for the message about an unknown one.
const ROOTS: &str = "source, dest, subject, session, dicom, tables";

/// What is wrong with one variable a template reads at a stage (an unknown variable or attribute, a
/// table the manifest does not define, a `dest` label not known yet), if anything.
fn variable_problem(v: &str, stage: Stage, tables: &BTreeMap<String, Table>) -> Option<String> {
    let mut parts = v.splitn(2, '.');
    let root = parts.next().unwrap_or("");
    let attr = parts.next();
    match (root, attr) {
        ("dicom", _) => None,
        ("tables", Some(name)) => {
            let name = name.split('.').next().unwrap_or(name);
            (!tables.contains_key(name))
                .then(|| format!("refers to table \"{name}\", which `tables` does not define"))
        }
        ("tables", None) => None,
        ("dest", Some(a)) => dest_problem(a.split('.').next().unwrap_or(a), stage),
        ("dest", None) => None,
        (r, a) => {
            let known: &[&str] = match r {
                "source" => &["project"],
                "subject" => &["label", "id"],
                "session" => &["label", "id", "date", "xsi_type", "uid"],
                _ => return Some(format!("unknown variable `{r}` (known: {ROOTS})")),
            };
            a.map(|a| a.split('.').next().unwrap_or(a))
                .filter(|a| !known.contains(a))
                .map(|a| {
                    format!(
                        "unknown variable `{r}.{a}` (known: {})",
                        known
                            .iter()
                            .map(|x| format!("{r}.{x}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        }
    }
}

/// What is wrong with reading `dest.<a>` at a stage: the destination subject label is known from
/// `map.session` on, the session label only in `dicom.set`.
fn dest_problem(a: &str, stage: Stage) -> Option<String> {
    match (a, stage) {
        ("project", _) => None,
        ("subject", Stage::Session | Stage::Set) => None,
        ("session", Stage::Set) => None,
        ("subject" | "session", _) => Some(format!(
            "`dest.{a}` is not known yet here (dest.subject exists from map.session on, dest.session in dicom.set)"
        )),
        _ => Some(format!("unknown variable `dest.{a}` (known: dest.project, dest.subject, dest.session)")),
    }
}

/// Sample values of every variable a template may read at a stage, for [`Templates::check_calls`].
fn sample(stage: Stage) -> serde_json::Value {
    let mut dest = serde_json::json!({ "project": "DEST" });
    if stage != Stage::Subject {
        dest["subject"] = "DEST_SUBJECT".into();
    }
    if stage == Stage::Set {
        dest["session"] = "DEST_SESSION".into();
    }
    serde_json::json!({
        "source": { "project": "SOURCE" },
        "dest": dest,
        "subject": { "label": "SUB001", "id": "XNAT_S00001" },
        "session": {
            "label": "SUB001_MR1", "id": "XNAT_E00001", "date": "2024-01-15",
            "xsi_type": "xnat:mrSessionData", "uid": "1.2.3.4"
        },
        "dicom": {},
    })
}
