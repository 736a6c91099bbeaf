//! The plan file, `ferry-plan/1`: what `ferry plan` writes and `ferry apply` executes.
//!
//! A plan is committed to git and reviewed like a pull request, so its bytes must be deterministic
//! (every list sorted, no timestamps, no maps with unstable order) and it must never contain DICOM
//! header values read from source files: PHI findings are recorded by keyword and count only, and
//! values derived from headers appear only as the destination labels and `dicom.set` values the
//! admin must review.
//!
//! The plan records what it was computed from (ferry's version, the manifest's hash, each inventory's
//! fingerprint) so that `apply` can refuse to run against servers that changed since.

use crate::manifest::model::{Deidentify, Endpoint, Mode, PrivateData, ResolvedPolicy, Server};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format tag of the plan files this version of ferry writes and reads.
pub const FORMAT: &str = "ferry-plan/1";

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan format and its version, always `ferry-plan/1`.
    #[schemars(extend("const" = FORMAT))]
    pub format: String,
    /// The version of ferry that wrote the plan.
    pub ferry_version: String,
    /// The manifest the plan was computed from.
    pub manifest: ManifestRef,
    /// The servers the plan talks to, by the manifest's names (URLs and the names of credential
    /// variables only; never a secret).
    pub servers: BTreeMap<String, Server>,
    /// The inventories the plan was computed from, sorted by server then project.
    pub inventories: Vec<InventoryRef>,
    /// Totals over all transfers.
    pub summary: Summary,
    /// The pre-transfer checklist, each item checked.
    pub checklist: Vec<CheckItem>,
    /// The transfers, in manifest order.
    pub transfers: Vec<TransferPlan>,
    /// The execution graph: every step of every runnable action, in a stable topological order.
    pub steps: Vec<Step>,
}

/// Where the manifest came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestRef {
    /// The manifest's path as given on the command line.
    pub path: String,
    /// blake3 of the manifest file's bytes, hex.
    pub hash: String,
}

/// The fingerprint of one project's inventory at planning time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryRef {
    /// The server's name in the manifest.
    pub server: String,
    /// The project ID.
    pub project: String,
    /// The inventory's fingerprint ([`crate::model::inventory::Inventory::fingerprint`]) at planning time.
    pub fingerprint: String,
    /// The objects of this project the plan touches, each with its value at planning time (see
    /// [`super::watch`]): `apply` refuses the plan when one of them changed, and only then. Absent in
    /// plans of earlier versions, which are compared by `fingerprint` as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched: Option<BTreeMap<String, String>>,
}

/// Totals of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Destination subjects to create.
    pub subjects_created: u64,
    /// Sessions to create in the destination.
    pub sessions_created: u64,
    /// Existing destination sessions that get missing scans.
    pub sessions_merged: u64,
    /// Sessions or subjects to share.
    pub shares: u64,
    /// Sessions left alone (conflict: skip, or already transferred).
    pub sessions_skipped: u64,
    /// Sessions that cannot be transferred until the manifest or the servers change.
    pub sessions_blocked: u64,
    /// Source sessions to delete after verification (move): whole sessions, or the carried scans and
    /// resources of sessions where something stays.
    pub deletions: u64,
    /// Sessions relocated (XNAT's change of primary project).
    #[serde(default)]
    pub relocations: u64,
    /// Source subjects (`PROJECT/SUBJECT`) a move leaves with no sessions and keeps (set
    /// `policy.remove_empty_subjects: true` to remove them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty_subjects: Vec<String>,
    /// Scans to transfer.
    pub scans: u64,
    /// Files to transfer.
    pub files: u64,
    /// Bytes to transfer.
    pub bytes: u64,
}

/// The outcome of one checklist item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Checked and fine.
    Ok,
    /// Checked; something to look at, nothing blocked.
    Warn,
    /// Checked; something blocks part of the plan.
    Blocked,
}

/// One item of the pre-transfer checklist (access, conflicts, label mapping, DICOM metadata, project
/// settings, anonymization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// The transfer the item belongs to.
    pub transfer: String,
    /// The checklist item, e.g. `access`.
    pub item: String,
    /// Its outcome.
    pub status: CheckStatus,
    /// What was checked and found, in one line.
    pub detail: String,
}

/// One transfer of the manifest, planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferPlan {
    /// The transfer's unique name.
    pub name: String,
    /// copy, share or move.
    pub mode: Mode,
    /// The source.
    pub from: Endpoint,
    /// The destination.
    pub to: Endpoint,
    /// The policy after applying the manifest's defaults.
    pub policy: ResolvedPolicy,
    /// How files are de-identified in the rewrite (absent: not at all).
    #[serde(default, skip_serializing_if = "DicomRules::is_empty")]
    pub dicom: DicomRules,
    /// One action per selected source session, sorted by source subject then session label.
    pub actions: Vec<Action>,
    /// Everything in the selected scope that will not be transferred, and why.
    pub skipped: Vec<Skipped>,
    /// The destination's anonymization scripts `apply` runs on every file before `dicom.set`, in
    /// XNAT's order (site, then project); empty under `destination_anonymization: server`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_scripts: Vec<super::DestinationScript>,
    /// Move: source subjects left with no session (removed when `remove_empty_subjects` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty_subjects: Vec<String>,
}

/// The de-identification a transfer applies in its rewrite step, as the manifest set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DicomRules {
    /// The PS3.15 Annex E profile and its options, with the edition of the standard its rules
    /// come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deidentify: Option<Deidentify>,
    /// The edition of DICOM PS3.15 whose Table E.1-1 the gate and the profile apply.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub annex_e_edition: String,
    /// What happens to private elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<PrivateData>,
    /// Series (`SOURCE_SESSION/SCAN_ID`) whose Burned In Annotation is acknowledged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub burned_in_acknowledged: Vec<String>,
}

impl DicomRules {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &DicomRules::default()
    }
}

/// What happens to one source session.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A new destination session (`+ create`).
    Create,
    /// Missing scans added to an existing destination session (`~ merge`).
    Merge,
    /// Shared into the destination project under the planned label (`+ share`).
    Share,
    /// Left alone: the destination holds it already, or `conflict: skip` (`= skip`).
    Skip,
    /// Made primary in the destination project by XNAT itself, on one server (`> relocate`).
    Relocate,
    /// Cannot run until the manifest or the servers change (`! blocked`).
    Blocked,
}

/// One source session and what the plan does with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Stable identifier: `TRANSFER/SOURCE_SUBJECT/SOURCE_SESSION`.
    pub id: String,
    /// What happens.
    pub kind: ActionKind,
    /// Why, in one line (for skips and blocks, the reason; for others, a short description).
    pub reason: String,
    /// The source session.
    pub source: SourceRef,
    /// Where it goes.
    pub dest: DestRef,
    /// Scans selected for transfer, by scan ID.
    pub scans: Vec<ScanPlan>,
    /// Session resources (non-DICOM) carried too, by label.
    pub resources: Vec<ResourcePlan>,
    /// DICOM keywords ferry writes into every file, with their rendered values.
    pub dicom_set: BTreeMap<String, String>,
    /// Identifying DICOM keywords found filled in and not overwritten by `dicom_set` (by keyword,
    /// never by value).
    pub phi: Vec<PhiFinding>,
    /// Files to transfer (scans and resources).
    pub files: u64,
    /// Bytes to transfer.
    pub bytes: u64,
    /// What the delete step removes from the source after verification (move); absent when nothing
    /// is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<SourceDelete>,
    /// Why a move leaves this source session in place (shared into other projects, or only shared
    /// into the source), when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_kept: Option<String>,
}

/// Exactly what a move deletes from one source session, and what stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceDelete {
    /// Scans removed whole (every resource of theirs was carried).
    pub scans: Vec<String>,
    /// Scans of which only the `DICOM` resource is removed: their other resources stay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dicom_of: Vec<String>,
    /// Session resources removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Whether the session itself is removed once the above are gone (nothing else was in it).
    pub session: bool,
    /// What stays in the source session, for people (`scan 1 (localizer)`, `resource NOTES`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stays: Vec<String>,
    /// Projects the session is shared into: they lose what is deleted too
    /// (`policy.shared_elsewhere: delete`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_from: Vec<String>,
}

/// The source session of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// Subject label in the source project.
    pub subject: String,
    /// Subject accession ID.
    pub subject_id: String,
    /// Session label in the source project.
    pub session: String,
    /// Session accession ID.
    pub session_id: String,
    /// The session's XNAT data type.
    pub xsi_type: String,
    /// The StudyInstanceUID as a keyed digest (`k:` and hex, see `dicom::profile::uid_digest`), if
    /// known: equal digests mean the same study; the UID itself is never written.
    pub uid: Option<String>,
}

/// The destination of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestRef {
    /// Subject label in the destination project.
    pub subject: String,
    /// Session label in the destination project.
    pub session: String,
    /// Whether the destination subject exists already.
    pub subject_exists: bool,
    /// Whether the destination session exists already.
    pub session_exists: bool,
    /// The digest of the StudyInstanceUID the destination copy carries, when it is not the
    /// source's (the de-identification profile replaces UIDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl Action {
    /// The digest of the StudyInstanceUID the destination copy carries.
    pub fn dest_uid(&self) -> Option<&str> {
        self.dest.uid.as_deref().or(self.source.uid.as_deref())
    }
}

/// One scan to transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanPlan {
    /// Scan ID (kept as is in the destination).
    pub id: String,
    /// Scan type.
    pub scan_type: String,
    /// DICOM files in the scan.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// One session resource to transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcePlan {
    /// Resource label.
    pub label: String,
    /// Files in the resource.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// An identifying keyword found filled in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhiFinding {
    /// The DICOM keyword, e.g. `PatientBirthDate`.
    pub keyword: String,
    /// In how many of the files read it was found (the planner reads the first file of a session).
    pub files: u64,
}

/// Something in the selected scope that will not be transferred.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    /// What: `subject SUB007`, `session SUB001_MR1 scan 1 (localizer)`, `resource NOTES of SUB001_MR1`.
    pub object: String,
    /// Why, in one line.
    pub reason: String,
}

/// The kind of one step of the execution graph.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Create the destination subject.
    CreateSubject,
    /// Download the selected scans and resources of the source session.
    Download,
    /// Rewrite headers per `dicom_set`, check the anonymization policy, re-zip.
    Rewrite,
    /// Upload through the import service.
    Upload,
    /// Archive from the prearchive.
    Archive,
    /// Read the destination back and compare.
    Verify,
    /// Delete from the source exactly what was carried (move), only after verification passed.
    DeleteSource,
    /// Remove a source subject the move left empty (`policy.remove_empty_subjects`).
    RemoveSubject,
    /// Make the source session primary in the destination project (XNAT's own move).
    Relocate,
    /// Share the source subject into the destination project.
    ShareSubject,
    /// Share the source session into the destination project.
    ShareSession,
}

impl StepKind {
    /// Whether a step of this kind may change something on a server. Downloading and rewriting work
    /// on the staging folder and verifying reads; every other kind writes.
    pub fn changes_servers(self) -> bool {
        !matches!(
            self,
            StepKind::Download | StepKind::Rewrite | StepKind::Verify
        )
    }

    /// The step's name as written in step IDs.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::CreateSubject => "create_subject",
            StepKind::Download => "download",
            StepKind::Rewrite => "rewrite",
            StepKind::Upload => "upload",
            StepKind::Archive => "archive",
            StepKind::Verify => "verify",
            StepKind::DeleteSource => "delete_source",
            StepKind::RemoveSubject => "remove_subject",
            StepKind::Relocate => "relocate",
            StepKind::ShareSubject => "share_subject",
            StepKind::ShareSession => "share_session",
        }
    }
}

/// One node of the execution graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable identifier. Session steps: `TRANSFER/DEST_SUBJECT/DEST_SESSION/KIND`; subject steps:
    /// `TRANSFER/DEST_SUBJECT/KIND`.
    pub id: String,
    /// What the step does.
    pub kind: StepKind,
    /// The transfer it belongs to.
    pub transfer: String,
    /// The action it belongs to (for subject steps, absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The destination subject label (for subject steps, what to create or share).
    pub dest_subject: String,
    /// The source subject label (for `share_subject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_subject: Option<String>,
    /// Steps that must be done first.
    pub after: Vec<String>,
}

impl Plan {
    /// The action with this ID, with its transfer.
    pub fn action(&self, id: &str) -> Option<(&TransferPlan, &Action)> {
        self.transfers
            .iter()
            .find_map(|t| t.actions.iter().find(|a| a.id == id).map(|a| (t, a)))
    }

    /// The transfer with this name.
    pub fn transfer(&self, name: &str) -> Option<&TransferPlan> {
        self.transfers.iter().find(|t| t.name == name)
    }

    /// How many actions are blocked.
    pub fn blocked_count(&self) -> usize {
        self.transfers
            .iter()
            .flat_map(|t| &t.actions)
            .filter(|a| a.kind == ActionKind::Blocked)
            .count()
    }

    /// Whether any action is blocked.
    pub fn is_blocked(&self) -> bool {
        self.transfers
            .iter()
            .any(|t| t.actions.iter().any(|a| a.kind == ActionKind::Blocked))
    }
}
