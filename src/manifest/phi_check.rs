//! The anonymization checks of a manifest: which templates read identifying source attributes (and
//! would launder them through `dicom.set` or labels into the files and the plan), and the consistency
//! of `dicom.deidentify`, `dicom.private` and `dicom.burned_in_acknowledged`.
//!
//! Under `anonymization: require` a template that reads an identifying attribute is an error naming
//! its line and the attribute; under `warn` a warning; under `off` nothing.

use super::load::Sink;
use super::model::{Anonymization, Defaults, Mode, PrivateData, Transfer};
use crate::dicom::profile::{self, Action, Options};
use crate::template::Templates;
use std::collections::{BTreeMap, BTreeSet};

/// Where a transfer's templates read identifying source attributes: per template, the identifying
/// variables it reads, directly or through `dest.subject` / `dest.session`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taint {
    /// `map.subject`.
    pub subject: BTreeSet<String>,
    /// `map.session`.
    pub session: BTreeSet<String>,
    /// `dicom.set`, by keyword (only keywords with a finding).
    pub set: BTreeMap<String, BTreeSet<String>>,
}

impl Taint {
    /// The `dicom.set` keywords whose values derive from an identifying attribute.
    pub fn tainted_keys(&self) -> BTreeSet<String> {
        self.set.keys().cloned().collect()
    }
}

/// Separates a variable a template reads from the identifying variable it derives from.
const VIA: &str = " <- ";

/// Why a template variable identifies someone, or `None` when it does not. `options` are the retain
/// options of the transfer's de-identification profile (an attribute the profile keeps is not
/// identifying for this transfer).
pub fn identifying(var: &str, options: &Options) -> Option<String> {
    let mut parts = var.split('.');
    match (parts.next(), parts.next()) {
        (Some("session"), Some("uid")) => {
            Some("the StudyInstanceUID (PS3.15 Annex E action U)".to_string())
        }
        (Some("dicom"), None) => Some("the whole DICOM header".to_string()),
        (Some("dicom"), Some(kw)) => {
            let rule = profile::rule_for_keyword(kw)?;
            (rule.action(options) != Action::Keep).then(|| {
                format!(
                    "an identifying attribute (PS3.15 Annex E, Basic Profile action {})",
                    rule.basic
                )
            })
        }
        _ => None,
    }
}

fn reads(
    templates: &Templates,
    src: &str,
    options: &Options,
    tainted_dest: &BTreeMap<&str, BTreeSet<String>>,
) -> BTreeSet<String> {
    let Ok(vars) = templates.variables(src) else {
        return BTreeSet::new(); // the template check reports it
    };
    let mut out = BTreeSet::new();
    for v in vars {
        if identifying(&v, options).is_some() {
            out.insert(v.clone());
        }
        for (dest, via) in tainted_dest {
            if v == "dest" || v == format!("dest.{dest}") || v.starts_with(&format!("dest.{dest}."))
            {
                let origin = |x: &String| x.rsplit(VIA).next().unwrap_or(x).to_string();
                out.extend(via.iter().map(|x| format!("dest.{dest}{VIA}{}", origin(x))));
            }
        }
    }
    out
}

/// What the transfer's `dicom.deidentify` profile keeps (the defaults when it names none).
fn profile_options(t: &Transfer) -> Options {
    t.dicom
        .deidentify
        .as_ref()
        .map(|d| d.options())
        .unwrap_or_default()
}

/// The identifying variables each template of `t` reads, following `dest.subject` into
/// `map.session` and both into `dicom.set`.
pub fn taint(t: &Transfer, templates: &Templates) -> Taint {
    let options = profile_options(t);
    let none = BTreeMap::new();
    let subject = reads(templates, t.map.subject_template(), &options, &none);
    let mut dest: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    dest.insert("subject", subject.clone());
    let session = reads(templates, t.map.session_template(), &options, &dest);
    dest.insert("session", session.clone());
    let set = t
        .dicom
        .set
        .iter()
        .map(|(k, v)| (k.clone(), reads(templates, v, &options, &dest)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    Taint {
        subject,
        session,
        set,
    }
}

/// Checks a transfer's anonymization settings; errors go to `errors`, warnings to `warnings`.
pub fn transfer<'a>(
    errors: &mut Sink<'a>,
    warnings: &mut Sink<'a>,
    p: &str,
    t: &Transfer,
    defaults: &Defaults,
    templates: &Templates,
) {
    settings(errors, p, t);
    let gate = t.policy.resolve(&defaults.policy, t.mode).anonymization;
    let sink = match gate {
        Anonymization::Require => errors,
        Anonymization::Warn => warnings,
        Anonymization::Off => return,
    };
    let options = profile_options(t);
    let taint = taint(t, templates);
    let word = if gate == Anonymization::Require {
        "anonymization: require refuses it"
    } else {
        "anonymization: warn lets it pass"
    };
    let mut report = |path: String, vars: &BTreeSet<String>, effect: &str| {
        for v in vars {
            let (read, origin) = match v.split_once(VIA) {
                Some((read, origin)) => (format!("`{read}`, derived from `{origin}`,"), origin),
                None => (format!("`{v}`,"), v.as_str()),
            };
            let why = identifying(origin, &options)
                .unwrap_or_else(|| "an identifying attribute".to_string());
            sink.at(&path, format!("reads {read} {why}: {effect}; {word}"));
        }
    };
    report(
        format!("{p}.map.subject"),
        &taint.subject,
        "the destination subject label would carry it into the destination and the plan",
    );
    report(
        format!("{p}.map.session"),
        &taint.session,
        "the destination session label would carry it into the destination and the plan",
    );
    for (k, vars) in &taint.set {
        report(
            format!("{p}.dicom.set.{k}"),
            vars,
            "the value would be written back into every file and into the plan, and does not clear the keyword",
        );
    }
}

fn settings(sink: &mut Sink<'_>, p: &str, t: &Transfer) {
    let d = &t.dicom;
    if matches!(t.mode, Mode::Share | Mode::Relocate) {
        if d.deidentify.is_some() || d.private.is_some() {
            sink.at(
                &format!("{p}.dicom"),
                "a share or relocation does not copy files, so nothing can be de-identified; use mode copy",
            );
        }
        return;
    }
    let reason = d.private_reason.as_deref().map(str::trim).unwrap_or("");
    match d.private {
        Some(PrivateData::Keep) if reason.is_empty() => sink.at(
            &format!("{p}.dicom.private"),
            "`keep` needs `private_reason:` saying why private data may leave the source",
        ),
        Some(PrivateData::Keep) => {}
        _ if d.private_reason.is_some() => sink.at(
            &format!("{p}.dicom.private_reason"),
            "only goes with `private: keep`",
        ),
        _ => {}
    }
    for (i, s) in d.burned_in_acknowledged.iter().enumerate() {
        let ok = s
            .split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'));
        if !ok {
            sink.at(
                &format!("{p}.dicom.burned_in_acknowledged[{i}]"),
                format!("\"{s}\" must name one series as SOURCE_SESSION/SCAN_ID"),
            );
        }
    }
}
