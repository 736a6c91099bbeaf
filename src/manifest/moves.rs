//! The checks of transfers that delete or relocate source data: a move must be able to verify what
//! it deletes (`verify: full`, sessions that end up archived), `delete_source` means nothing for a
//! share, and a relocation is XNAT's own change of primary project, so it stays on one server and
//! rewrites nothing. Each diagnostic points at the field that decides it (the transfer's own policy
//! key when it has one, else the default's).

use super::load::Sink;
use super::model::{
    Archive, DeleteSource, Destination, Mode, Policy, ResolvedPolicy, Server, Transfer, Verify,
};
use std::collections::BTreeMap;

/// Where a policy key in force was written: `transfers[i].policy.K`, else `defaults.policy.K`, else
/// the transfer's mode.
fn source_of(p: &str, own: bool, defaults: bool, key: &str) -> String {
    if own {
        format!("{p}.policy.{key}")
    } else if defaults {
        format!("defaults.policy.{key}")
    } else {
        format!("{p}.mode")
    }
}

/// The checks of one transfer against the policy it resolves to.
pub fn check(
    sink: &mut Sink<'_>,
    p: &str,
    t: &Transfer,
    defaults: &Policy,
    servers: &BTreeMap<String, Server>,
) {
    let policy: ResolvedPolicy = t.policy.resolve(defaults, t.mode);
    let deletes = t.mode == Mode::Move || policy.delete_source == DeleteSource::AfterVerify;
    if t.mode == Mode::Share && t.policy.delete_source == Some(DeleteSource::AfterVerify) {
        sink.at(
            &format!("{p}.policy.delete_source"),
            "a share copies nothing, so there is nothing to delete after verification; use mode move (or relocate on one server)",
        );
    } else if t.mode == Mode::Relocate && t.policy.delete_source.is_some() {
        sink.at(
            &format!("{p}.policy.delete_source"),
            "a relocation leaves nothing behind to delete: XNAT moves the session itself",
        );
    } else if deletes && t.mode != Mode::Share {
        // Each requirement: whether it fails, where the key deciding it was written, and why.
        let needs = [
            (
                policy.verify == Verify::Counts,
                (t.policy.verify.is_some(), defaults.verify.is_some(), "verify"),
                format!("transfer `{}` deletes source data, so it needs verify: full (counts alone do not show that the files arrived intact)", t.name),
            ),
            (
                !policy.archives(),
                (t.policy.archive.is_some(), defaults.archive.is_some(), "archive"),
                format!("transfer `{}` deletes source data only after the archived copy is verified, and archive: manual leaves it in the prearchive, so the delete could never run; use archive: auto or destination: archive", t.name),
            ),
        ];
        for (fails, (own, default, key), why) in needs {
            if fails {
                sink.at(&source_of(p, own, default, key), why);
            }
        }
    }
    if t.mode == Mode::Relocate {
        relocate(sink, p, t, servers);
    }
}

fn relocate(sink: &mut Sink<'_>, p: &str, t: &Transfer, servers: &BTreeMap<String, Server>) {
    let url = |name: &str| servers.get(name).map(|s| s.url.trim_end_matches('/'));
    if t.from.server != t.to.server && url(&t.from.server) != url(&t.to.server) {
        sink.at(
            &format!("{p}.to.server"),
            "a relocation is XNAT's change of primary project, which works on one server only; use mode move between servers",
        );
    }
    if !t.dicom.set.is_empty() {
        sink.at(
            &format!("{p}.dicom.set"),
            "a relocation moves the stored files as they are, so headers cannot be rewritten; use mode move",
        );
    }
    let s = &t.select;
    if !s.scan_types.include.is_empty() || !s.scan_types.exclude.is_empty() {
        sink.at(
            &format!("{p}.select.scan_types"),
            "a relocation moves whole sessions with every scan; use mode move to leave scans behind",
        );
    }
    if !s.resources.is_empty() {
        sink.at(
            &format!("{p}.select.resources"),
            "a relocation moves whole sessions with every resource; leave select.resources out",
        );
    }
    if t.policy.destination == Some(Destination::Prearchive)
        || t.policy.archive == Some(Archive::Manual)
    {
        let key = if t.policy.destination.is_some() {
            "destination"
        } else {
            "archive"
        };
        sink.at(
            &format!("{p}.policy.{key}"),
            "a relocation uploads nothing, so it has no prearchive step; leave it out",
        );
    }
}
