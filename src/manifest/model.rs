//! The serde + schemars types of manifest version 1. Field names are the public contract: never rename
//! them. Every struct denies unknown fields so that a typo is an error, not a silently ignored key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::deidentify::{Deidentify, DeidentifyProfile, PrivateData, Retain, UidPolicy};

/// A ferry manifest: which servers, which tables, which transfers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format version. Only `1` exists.
    pub version: u32,
    /// XNAT servers by a name of your choice; transfers refer to these names.
    pub servers: BTreeMap<String, Server>,
    /// Defaults that every transfer inherits.
    #[serde(default)]
    pub defaults: Defaults,
    /// Lookup tables: name -> CSV file (header row `old,new`), relative to the manifest.
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
    /// The transfers, each with a unique name.
    pub transfers: Vec<Transfer>,
}

/// An XNAT server and where its credentials come from. Secrets never appear here, only the names of
/// the environment variables that hold them. Without any of them, `~/.netrc` (or the file named by the
/// `NETRC` environment variable) is read for the server's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Base URL of the XNAT server, e.g. `https://xnat.example.org`.
    pub url: String,
    /// Name of the environment variable holding the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_env: Option<String>,
    /// Name of the environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Name of the environment variable holding an alias token as `alias:secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Allow an `http://` URL to a host other than loopback. Credentials and the session cookie then
    /// cross the network in clear, so it is refused unless set to `true` here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
}

/// Defaults inherited by every transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The default policy; each transfer's `policy` overrides it key by key.
    #[serde(default)]
    pub policy: Policy,
}

/// One transfer: a mode, a source and destination project, what to select, how to map labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// A unique name for this transfer.
    pub name: String,
    /// What happens to the data.
    pub mode: Mode,
    /// The source server and project.
    pub from: Endpoint,
    /// The destination server and project.
    pub to: Endpoint,
    /// What to select from the source; default: everything.
    #[serde(default)]
    pub select: Select,
    /// How source labels map to destination labels (minijinja templates).
    #[serde(default)]
    pub map: LabelMap,
    /// DICOM header rewrites.
    #[serde(default)]
    pub dicom: DicomRewrite,
    /// Overrides of `defaults.policy`, key by key.
    #[serde(default)]
    pub policy: Policy,
}

keyword! {
    /// Transfer modes.
    pub enum Mode {
        /// Download, optionally rewrite headers, upload through the import service, verify.
        Copy,
        /// XNAT's native sharing: no bytes move.
        Share,
        /// Copy, verify, then delete from the source exactly what was copied and verified.
        Move,
        /// One server, no header rewrite: XNAT changes the session's primary project itself (accession
        /// IDs, scans, resources, assessors and shares kept; no bytes move).
        Relocate,
    }
}

/// A server name (a key of `servers`) and a project ID on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// A key of `servers`.
    pub server: String,
    /// The XNAT project ID.
    pub project: String,
}

/// Selection by globs. Every field is optional; an empty list selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// Globs on source subject labels.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Globs on source session labels.
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Globs on scan types.
    #[serde(default)]
    pub scan_types: ScanTypes,
    /// Session resources (non-DICOM) to carry too; default none.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Sessions and subjects the source project only shares (owned by another project): `exclude`
    /// (default, skipped with their owner named) or `include`. Even included, a move never deletes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Shared>,
}

keyword! {
    /// Whether to select data the source project only shares.
    #[derive(Default)]
    pub enum Shared {
        /// Skip it, naming its owning project.
        #[default]
        Exclude,
        /// Transfer it like owned data (it is never deleted).
        Include,
    }
}

/// Include and exclude globs on scan types.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanTypes {
    /// Scan types to include; empty includes all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Scan types to exclude, applied after `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Label templates. An undefined name in a template is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelMap {
    /// Destination subject label; default `{{ subject.label }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Destination session label; default `{{ session.label }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl LabelMap {
    /// The default subject template.
    pub const DEFAULT_SUBJECT: &'static str = "{{ subject.label }}";
    /// The default session template.
    pub const DEFAULT_SESSION: &'static str = "{{ session.label }}";

    /// The subject template in force.
    pub fn subject_template(&self) -> &str {
        self.subject.as_deref().unwrap_or(Self::DEFAULT_SUBJECT)
    }

    /// The session template in force.
    pub fn session_template(&self) -> &str {
        self.session.as_deref().unwrap_or(Self::DEFAULT_SESSION)
    }
}

/// DICOM header rewrites.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DicomRewrite {
    /// DICOM keyword -> template, written into every file.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// A de-identification profile (DICOM PS3.15 Annex E) applied to every file before `set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deidentify: Option<Deidentify>,
    /// What to do with private elements (odd groups): `remove`, or `keep` (then `private_reason`
    /// says why). Unsaid, any private element is an anonymization finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<PrivateData>,
    /// Why private elements are kept (required with `private: keep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_reason: Option<String>,
    /// Series whose pixels are known to carry burned-in text and that may pass anyway, as
    /// `SOURCE_SESSION/SCAN_ID` (Burned In Annotation = YES blocks them under `anonymization: require`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub burned_in_acknowledged: Vec<String>,
}

/// A policy as written: every key optional, so that a transfer overrides defaults key by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What to do when a destination session exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
    /// Where uploads land in the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// With `destination: prearchive`: archive after checks, or leave for review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<Archive>,
    /// What to do with identifying DICOM fields that are filled in and not overwritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymization: Option<Anonymization>,
    /// How thoroughly to verify after transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// Whether to delete source data; mode `move` implies `after_verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_source: Option<DeleteSource>,
    /// Who runs the destination's anonymization scripts on copied files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_anonymization: Option<DestinationAnonymization>,
    /// Move: what to do with a source session that is shared into other projects (deleting it
    /// through its owning project removes it from them too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_elsewhere: Option<SharedElsewhere>,
    /// Move: remove source subjects left with no sessions and no resources (default false: they are
    /// listed in the summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_empty_subjects: Option<bool>,
}

keyword! {
    /// Move: a source session shared into other projects.
    #[derive(Default)]
    pub enum SharedElsewhere {
        /// The plan blocks the session and names the projects that would lose it.
        #[default]
        Block,
        /// Copy it; leave the source and its shares in place.
        CopyOnly,
        /// Delete it after verification, which removes it from those projects too.
        Delete,
    }
}

keyword! {
    /// Conflict policies, per destination session.
    pub enum Conflict {
        /// The plan is blocked.
        Fail,
        /// Leave the existing session, note it.
        Skip,
        /// Add the scans that are missing, never replace a file; refuse if StudyInstanceUIDs differ.
        Merge,
        /// Pick a fresh label with a `_2`, `_3` … suffix.
        Rename,
    }
}

keyword! {
    /// Where uploads land.
    pub enum Destination {
        /// The destination project's prearchive.
        Prearchive,
        /// Straight into the archive.
        Archive,
    }
}

keyword! {
    /// Archiving from the prearchive.
    pub enum Archive {
        /// Archive after the checks pass.
        Auto,
        /// Leave sessions in the prearchive for review.
        Manual,
    }
}

keyword! {
    /// The anonymization gate.
    pub enum Anonymization {
        /// Identifying fields block the session.
        Require,
        /// Identifying fields are reported, not blocking.
        Warn,
        /// No check.
        Off,
    }
}

keyword! {
    /// Verification depth.
    pub enum Verify {
        /// Counts, sizes, checksums and UIDs.
        Full,
        /// Scan and file counts only.
        Counts,
    }
}

keyword! {
    /// Deleting source data.
    pub enum DeleteSource {
        /// Never delete.
        Never,
        /// Delete a source session once its destination copy is verified.
        AfterVerify,
    }
}

keyword! {
    /// Who runs the destination's anonymization scripts (site-wide and project) on copied files.
    #[derive(Default)]
    pub enum DestinationAnonymization {
        /// ferry reads the scripts, runs them before `dicom.set` and uploads with `prevent_anon`, so the
        /// destination stores exactly what ferry verified; a script construct ferry cannot run blocks.
        #[default]
        Local,
        /// XNAT runs the scripts on import; ferry verifies pixel data and UIDs and reports the header
        /// changes it sees.
        Server,
    }
}

impl DestinationAnonymization {
    /// Whether this is the default, `local`.
    pub fn is_local(&self) -> bool {
        *self == DestinationAnonymization::Local
    }
}

/// A policy with every key decided: defaults, then the transfer's overrides, then what the mode implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResolvedPolicy {
    /// See [`Conflict`].
    pub conflict: Conflict,
    /// See [`Destination`].
    pub destination: Destination,
    /// See [`Archive`].
    pub archive: Archive,
    /// See [`Anonymization`].
    pub anonymization: Anonymization,
    /// See [`Verify`].
    pub verify: Verify,
    /// See [`DeleteSource`].
    pub delete_source: DeleteSource,
    /// See [`DestinationAnonymization`] (left out of plans when `local`).
    #[serde(default, skip_serializing_if = "DestinationAnonymization::is_local")]
    pub destination_anonymization: DestinationAnonymization,
    /// See [`SharedElsewhere`].
    #[serde(default)]
    pub shared_elsewhere: SharedElsewhere,
    /// Whether a move removes source subjects it leaves empty.
    #[serde(default)]
    pub remove_empty_subjects: bool,
}

impl ResolvedPolicy {
    /// Whether ferry archives what it uploads: all but prearchive uploads left to an admin to archive
    /// (`destination: prearchive` with `archive: manual`).
    pub fn archives(&self) -> bool {
        !(self.destination == Destination::Prearchive && self.archive == Archive::Manual)
    }
}

impl Policy {
    /// Overlays `self` (the transfer's keys) on `defaults`, then applies what `mode` implies.
    pub fn resolve(&self, defaults: &Policy, mode: Mode) -> ResolvedPolicy {
        let delete_source = if mode == Mode::Move {
            DeleteSource::AfterVerify
        } else {
            self.delete_source
                .or(defaults.delete_source)
                .unwrap_or(DeleteSource::Never)
        };
        ResolvedPolicy {
            conflict: self
                .conflict
                .or(defaults.conflict)
                .unwrap_or(Conflict::Fail),
            destination: self
                .destination
                .or(defaults.destination)
                .unwrap_or(Destination::Prearchive),
            archive: self.archive.or(defaults.archive).unwrap_or(Archive::Auto),
            anonymization: self
                .anonymization
                .or(defaults.anonymization)
                .unwrap_or(Anonymization::Require),
            verify: self.verify.or(defaults.verify).unwrap_or(Verify::Full),
            delete_source,
            destination_anonymization: self
                .destination_anonymization
                .or(defaults.destination_anonymization)
                .unwrap_or_default(),
            shared_elsewhere: self
                .shared_elsewhere
                .or(defaults.shared_elsewhere)
                .unwrap_or_default(),
            remove_empty_subjects: self
                .remove_empty_subjects
                .or(defaults.remove_empty_subjects)
                .unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_overrides_defaults_key_by_key() {
        let defaults = Policy {
            conflict: Some(Conflict::Skip),
            verify: Some(Verify::Counts),
            ..Policy::default()
        };
        let own = Policy {
            conflict: Some(Conflict::Merge),
            ..Policy::default()
        };
        let p = own.resolve(&defaults, Mode::Copy);
        assert_eq!(p.conflict, Conflict::Merge);
        assert_eq!(p.verify, Verify::Counts);
        assert_eq!(p.destination, Destination::Prearchive);
        assert_eq!(p.delete_source, DeleteSource::Never);
    }

    #[test]
    fn move_implies_delete_after_verify() {
        let own = Policy {
            delete_source: Some(DeleteSource::Never),
            ..Policy::default()
        };
        let p = own.resolve(&Policy::default(), Mode::Move);
        assert_eq!(p.delete_source, DeleteSource::AfterVerify);
    }
}
