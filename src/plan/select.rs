//! The selection of a transfer: globs on subject and session labels and on scan types.

use crate::manifest::model::Select;
use globset::{Glob, GlobSet, GlobSetBuilder};

/// Compiled globs of one transfer's `select`.
pub struct Selection {
    subjects: Option<GlobSet>,
    sessions: Option<GlobSet>,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

fn set(field: &str, globs: &[String]) -> Result<Option<GlobSet>, String> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|e| format!("select.{field}: glob `{g}`: {e}"))?);
    }
    b.build()
        .map(Some)
        .map_err(|e| format!("select.{field}: {e}"))
}

impl Selection {
    /// Compiles a selection; an empty list selects everything.
    pub fn new(s: &Select) -> Result<Selection, String> {
        Ok(Selection {
            subjects: set("subjects", &s.subjects)?,
            sessions: set("sessions", &s.sessions)?,
            include: set("scan_types.include", &s.scan_types.include)?,
            exclude: set("scan_types.exclude", &s.scan_types.exclude)?,
        })
    }

    /// Whether a subject label is selected.
    pub fn subject(&self, label: &str) -> bool {
        self.subjects.as_ref().is_none_or_match(label)
    }

    /// Whether a session label is selected.
    pub fn session(&self, label: &str) -> bool {
        self.sessions.as_ref().is_none_or_match(label)
    }

    /// Whether a scan type is selected: included (or no include list) and not excluded.
    pub fn scan_type(&self, t: &str) -> bool {
        self.include.as_ref().is_none_or_match(t)
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(t))
    }
}

trait Matches {
    fn is_none_or_match(&self, s: &str) -> bool;
}

impl Matches for Option<&GlobSet> {
    fn is_none_or_match(&self, s: &str) -> bool {
        self.is_none_or(|g| g.is_match(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::model::ScanTypes;

    #[test]
    fn globs_select_and_exclude() {
        let s = Selection::new(&Select {
            subjects: vec!["SUB0*".into()],
            sessions: vec![],
            scan_types: ScanTypes {
                include: vec!["T1*".into(), "BOLD*".into()],
                exclude: vec!["*_ND".into()],
            },
            resources: vec![],
        })
        .unwrap();
        assert!(s.subject("SUB001") && !s.subject("XSUB1"));
        assert!(s.session("anything"));
        assert!(
            s.scan_type("T1_MPRAGE") && !s.scan_type("T1_MPRAGE_ND") && !s.scan_type("localizer")
        );
        let bad = Selection::new(&Select {
            subjects: vec!["[".into()],
            ..Select::default()
        });
        assert!(bad.err().unwrap().contains("select.subjects"));
    }
}
