//! The destination's own rules for uploads, as the plan shows and gates them: the anonymization
//! scripts XNAT would run (site-wide, then the project's) and the project's prearchive setting.
//!
//! Under `policy.destination_anonymization: local` (the default) the plan carries the scripts that
//! are on, in the order XNAT runs them; `apply` runs them on every file before `dicom.set` and
//! uploads with `prevent_anon`. A script with a construct ferry cannot run blocks the transfer's
//! sessions with its line. Under `server` the plan carries none and XNAT runs them.

use super::build::Draft;
use super::model::{CheckStatus, TransferPlan};
use crate::dicomedit::{Action as Edit, Effect, Script};
use crate::manifest::model::ResolvedPolicy;
use crate::manifest::model::{Archive, Destination, DestinationAnonymization, Mode};
use crate::model::inventory::Inventory;
use crate::model::inventory::ScriptSetting;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::BTreeSet;

/// One of the destination's anonymization scripts that `apply` runs before upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationScript {
    /// `site` or `project`.
    pub scope: String,
    /// The script text as the destination serves it.
    pub text: String,
}

/// What the destination rules depend on: the transfer's mode, policy and `dicom.set`, and the
/// destination's inventory.
pub(crate) struct Dest<'a> {
    pub mode: Mode,
    pub policy: &'a ResolvedPolicy,
    pub set: &'a BTreeMap<String, String>,
    pub dest: &'a Inventory,
}

impl<'a> Dest<'a> {
    /// The view of a draft.
    pub fn of(d: &'a Draft<'_>) -> Dest<'a> {
        Dest {
            mode: d.t.mode,
            policy: &d.policy,
            set: &d.t.dicom.set,
            dest: d.dest,
        }
    }
}

/// Whether the transfer uploads files (shares and relocations move none).
fn copies_bytes(mode: Mode) -> bool {
    matches!(mode, Mode::Copy | Mode::Move)
}

/// The destination's scripts with their scope, as read.
fn settings<'a>(d: &'a Dest<'_>) -> [(&'static str, &'a ScriptSetting); 2] {
    let s = &d.dest.settings;
    [("site", &s.site_script), ("project", &s.project_script)]
}

fn local(d: &Dest<'_>) -> bool {
    copies_bytes(d.mode) && d.policy.destination_anonymization == DestinationAnonymization::Local
}

/// The scripts `apply` runs for this transfer, in XNAT's order (empty unless `local`).
pub(crate) fn planned(d: &Dest<'_>) -> Vec<DestinationScript> {
    if !local(d) {
        return Vec::new();
    }
    settings(d)
        .into_iter()
        .filter_map(|(scope, s)| match s {
            ScriptSetting::On(text) => Some(DestinationScript {
                scope: scope.into(),
                text: text.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// Why every session of the transfer is blocked by the destination's settings, if it is.
pub(crate) fn gates(d: &Dest<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if !copies_bytes(d.mode) {
        return out;
    }
    if local(d) {
        for (scope, s) in settings(d) {
            if let ScriptSetting::On(text) = s {
                if let Err(e) = Script::parse(text) {
                    out.push(format!(
                        "the {scope} anonymization script of {} cannot be run by ferry ({e}); policy.destination_anonymization: server lets XNAT run it",
                        d.dest.project
                    ));
                }
            }
        }
    }
    if d.policy.destination == Destination::Prearchive
        && d.policy.archive == Archive::Manual
        && d.dest.settings.auto_archives()
    {
        out.push(format!(
            "archive: manual keeps uploads in the prearchive for review, but {} archives uploads itself (prearchive code {}); use archive: auto or destination: archive, or have the project set to manual",
            d.dest.project,
            d.dest.settings.prearchive_code.unwrap_or_default()
        ));
    }
    out
}

fn tag_of(keyword: &str) -> Option<dicom_core::Tag> {
    StandardDataDictionary.by_name(keyword).map(|e| e.tag())
}

fn keyword_of(tag: dicom_core::Tag) -> String {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias().to_string())
        .unwrap_or_else(|| format!("({:04X},{:04X})", tag.group(), tag.element()))
}

fn effects(d: &Dest<'_>) -> Vec<(&'static str, Effect)> {
    let mut out = Vec::new();
    for (scope, s) in settings(d) {
        if let ScriptSetting::On(text) = s {
            if let Ok(script) = Script::parse(text) {
                out.extend(script.effects().into_iter().map(|e| (scope, e)));
            }
        }
    }
    out
}

/// Keywords the scripts ferry runs set or delete on every file, whatever the file holds: the PHI
/// gate treats them like fields `dicom.set` overwrites.
pub(crate) fn overwritten(d: &Dest<'_>) -> BTreeSet<String> {
    if !local(d) {
        return BTreeSet::new();
    }
    let mut out = BTreeSet::new();
    for (_, s) in settings(d) {
        if let ScriptSetting::On(text) = s {
            if let Ok(script) = Script::parse(text) {
                out.extend(script.sure_tags().into_iter().map(keyword_of));
            }
        }
    }
    out
}

fn describe_effects(d: &Dest<'_>, scope: &str) -> String {
    let mut parts = Vec::new();
    for (_, e) in effects(d).into_iter().filter(|(s, _)| *s == scope) {
        let cond = if e.conditional { " (conditional)" } else { "" };
        parts.push(match &e.action {
            Edit::Assign(t, _) => format!("sets {}{cond}", keyword_of(*t)),
            Edit::Delete(p) => match p.exact() {
                Some(t) => format!("deletes {}{cond}", keyword_of(t)),
                None => format!("deletes a range of tags{cond}"),
            },
            Edit::RemovePrivate => format!("removes private tags{cond}"),
        });
    }
    if parts.is_empty() {
        "changes nothing".into()
    } else {
        parts.join(", ")
    }
}

/// The scripts' part of the `anonymization` checklist item: what each script does, what that means
/// for the fields `dicom.set` writes, and whether it blocks.
pub(crate) fn check(d: &Dest<'_>, t: &TransferPlan) -> Option<(CheckStatus, String)> {
    if !copies_bytes(t.mode) {
        return None;
    }
    let server = d.policy.destination_anonymization == DestinationAnonymization::Server;
    let mut status = CheckStatus::Ok;
    let mut parts = Vec::new();
    for (scope, s) in settings(d) {
        let text = match s {
            ScriptSetting::Off => format!("{scope} script off"),
            ScriptSetting::Unreadable(why) => {
                status = status.max(CheckStatus::Warn);
                if server {
                    format!("{scope} script could not be read ({why}); XNAT runs it, its effect is unknown")
                } else {
                    format!("{scope} script could not be read ({why}); uploads carry prevent_anon, so it will not run on them")
                }
            }
            ScriptSetting::On(text) => match Script::parse(text) {
                Err(e) if !server => {
                    status = CheckStatus::Blocked;
                    format!("{scope} script on, ferry cannot run it: {e}")
                }
                Err(e) => {
                    status = status.max(CheckStatus::Warn);
                    format!("{scope} script on, run by XNAT ({e}); verified: pixel data and UIDs")
                }
                Ok(_) => format!("{scope} script on: {}", describe_effects(d, scope)),
            },
        };
        parts.push(text);
    }
    let all = effects(d);
    let touched: BTreeSet<&str> = d
        .set
        .keys()
        .map(String::as_str)
        .filter(|k| tag_of(k).is_some_and(|tag| all.iter().any(|(_, e)| e.touches(tag))))
        .collect();
    if !touched.is_empty() {
        let kw = touched.into_iter().collect::<Vec<_>>().join(", ");
        if server {
            status = status.max(CheckStatus::Warn);
            parts.push(format!(
                "XNAT rewrites {kw} after ferry sets them; verification notes it"
            ));
        } else {
            parts.push(format!("dicom.set writes {kw} after the scripts"));
        }
    }
    if !server && parts.iter().any(|p| p.contains("script on:")) {
        parts.push("ferry runs them before upload (prevent_anon)".into());
    }
    Some((status, format!("destination: {}", parts.join("; "))))
}

/// The prearchive setting's part of the `project_settings` checklist item.
pub(crate) fn prearchive_setting(d: &Dest<'_>) -> String {
    let p = &d.dest.project;
    match d.dest.settings.prearchive_code {
        Some(0) => format!("{p} keeps uploads in the prearchive (code 0)"),
        Some(4) => format!("{p} archives uploads itself (code 4)"),
        Some(5) => format!("{p} archives uploads itself, overwriting files (code 5)"),
        Some(c) => format!("{p} prearchive code {c}"),
        None => format!("{p} prearchive setting unknown"),
    }
}
