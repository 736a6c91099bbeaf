//! Label mapping: the template context of a session (design brief: `source`, `dest`, `subject`,
//! `session`, `dicom`, `tables`), rendering the subject, session and `dicom.set` templates in strict
//! mode, and XNAT's rule for labels.

use super::error::PlanError;
use crate::manifest::model::Transfer;
use crate::model::inventory::{Session, Subject};
use crate::template::{Table, Templates};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The labels a session maps to.
pub(crate) struct Mapped {
    /// Destination subject label.
    pub subject: String,
    /// Destination session label.
    pub session: String,
}

/// Renders one transfer's templates.
pub(crate) struct Mapper<'a> {
    templates: &'a Templates,
    transfer: &'a Transfer,
}

fn opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), Value::String(v.clone()));
    }
}

/// Whether `label` is a valid XNAT label (`^[A-Za-z0-9_-]+$`); if not, why, in one line.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("the label is empty".into());
    }
    let bad: Vec<String> = label
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        .map(|c| format!("{c:?}"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the label has characters XNAT refuses ({}); labels may hold only letters, digits, `_` and `-`",
            bad.join(" ")
        ))
    }
}

impl<'a> Mapper<'a> {
    /// A mapper for one transfer.
    pub fn new(templates: &'a Templates, transfer: &'a Transfer) -> Self {
        Mapper {
            templates,
            transfer,
        }
    }

    /// Checks that every template of the transfer compiles, before any session is rendered.
    pub fn check(&self) -> Result<(), PlanError> {
        for (field, tmpl) in self.fields() {
            self.templates
                .check(&tmpl)
                .map_err(|e| self.error("manifest".into(), &field, &tmpl, e.message))?;
        }
        Ok(())
    }

    fn fields(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "map.subject".to_string(),
                self.transfer.map.subject_template().to_string(),
            ),
            (
                "map.session".to_string(),
                self.transfer.map.session_template().to_string(),
            ),
        ];
        for (k, v) in &self.transfer.dicom.set {
            out.push((format!("dicom.set.{k}"), v.clone()));
        }
        out
    }

    fn error(&self, where_: String, field: &str, template: &str, message: String) -> PlanError {
        PlanError::Template {
            transfer: self.transfer.name.clone(),
            where_,
            field: field.to_string(),
            template: template.to_string(),
            message,
        }
    }

    /// The template context of a session, with `dest.subject` and `dest.session` once known.
    fn context(
        &self,
        subject: &Subject,
        session: &Session,
        dest_subject: Option<&str>,
        dest_session: Option<&str>,
    ) -> Value {
        let t = self.transfer;
        let mut sess = Map::new();
        sess.insert("label".into(), json!(session.label));
        sess.insert("id".into(), json!(session.id));
        sess.insert("xsi_type".into(), json!(session.xsi_type));
        opt(&mut sess, "date", &session.date);
        opt(&mut sess, "uid", &session.uid);
        let mut dest = Map::new();
        dest.insert("project".into(), json!(t.to.project));
        dest.insert("server".into(), json!(t.to.server));
        if let Some(s) = dest_subject {
            dest.insert("subject".into(), json!(s));
        }
        if let Some(s) = dest_session {
            dest.insert("session".into(), json!(s));
        }
        json!({
            "source": { "project": t.from.project, "server": t.from.server },
            "dest": dest,
            "subject": { "label": subject.label, "id": subject.id },
            "session": sess,
            "dicom": session.header,
        })
    }

    fn render(
        &self,
        field: &str,
        tmpl: &str,
        subject: &Subject,
        session: &Session,
        ctx: &Value,
    ) -> Result<String, PlanError> {
        self.templates.render(tmpl, ctx).map_err(|e| {
            self.error(
                format!("session `{}` of subject `{}`", session.label, subject.label),
                field,
                tmpl,
                e.message,
            )
        })
    }

    /// The destination subject and session labels of a source session.
    pub fn labels(&self, subject: &Subject, session: &Session) -> Result<Mapped, PlanError> {
        let map = &self.transfer.map;
        let ctx = self.context(subject, session, None, None);
        let dest_subject = self.render(
            "map.subject",
            map.subject_template(),
            subject,
            session,
            &ctx,
        )?;
        let ctx = self.context(subject, session, Some(&dest_subject), None);
        let dest_session = self.render(
            "map.session",
            map.session_template(),
            subject,
            session,
            &ctx,
        )?;
        Ok(Mapped {
            subject: dest_subject,
            session: dest_session,
        })
    }

    /// The rendered `dicom.set` of a session once its destination labels are decided.
    pub fn dicom_set(
        &self,
        subject: &Subject,
        session: &Session,
        dest_subject: &str,
        dest_session: &str,
    ) -> Result<BTreeMap<String, String>, PlanError> {
        let ctx = self.context(subject, session, Some(dest_subject), Some(dest_session));
        let mut out = BTreeMap::new();
        for (k, tmpl) in &self.transfer.dicom.set {
            let v = self.render(&format!("dicom.set.{k}"), tmpl, subject, session, &ctx)?;
            out.insert(k.clone(), v);
        }
        Ok(out)
    }
}

/// When label templates failed because a table has no row for a source label (`tables.NAME[subject.label]`
/// or `tables.NAME[session.label]`), one error naming the table and every missing key, so that one
/// edit of the CSV fixes them all.
pub(super) fn missing_keys(
    t: &Transfer,
    tables: &BTreeMap<String, Table>,
    failed: &[(String, String, PlanError)],
) -> Option<PlanError> {
    if failed.is_empty() {
        return None;
    }
    for (field, template) in [
        ("map.subject", t.map.subject_template()),
        ("map.session", t.map.session_template()),
    ] {
        let flat: String = template.chars().filter(|c| !c.is_whitespace()).collect();
        for (name, table) in tables {
            for (key_of, by_subject) in [("subject.label", true), ("session.label", false)] {
                if !flat.contains(&format!("tables.{name}[{key_of}]")) {
                    continue;
                }
                let keys: BTreeSet<&str> = failed
                    .iter()
                    .map(|(subj, sess, _)| {
                        if by_subject {
                            subj.as_str()
                        } else {
                            sess.as_str()
                        }
                    })
                    .filter(|k| !table.contains_key(*k))
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                let keys: Vec<&str> = keys.into_iter().collect();
                return Some(PlanError::Template {
                    transfer: t.name.clone(),
                    where_: format!(
                        "{} selected",
                        super::render::plural(failed.len() as u64, "session", "sessions")
                    ),
                    field: field.to_string(),
                    template: template.to_string(),
                    message: format!(
                        "table `{name}` has no row for {} {}: {}; add them to its CSV",
                        keys.len(),
                        if by_subject {
                            "subject labels"
                        } else {
                            "session labels"
                        },
                        keys.join(", ")
                    ),
                });
            }
        }
    }
    None
}
