//! What a project holds, as plain serialisable data with a stable fingerprint. The XNAT client fills it
//! in; the planner reads it; `apply` re-reads it and compares fingerprints to detect drift. Nothing here
//! does I/O.
//!
//! Every collection is a `BTreeMap` keyed by label or ID, so that serialisation, and therefore the
//! fingerprint, does not depend on the order in which a server listed things.
//!
//! An inventory holds DICOM header values (for `dicom.<Keyword>` templates and PHI findings). It lives in
//! memory only: plans carry its fingerprint, never its contents.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Everything ferry knows about one project on one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The server's base URL, without credentials.
    pub server_url: String,
    /// The project ID.
    pub project: String,
    /// What the reading account may do in this project, as far as the server lets us know.
    pub access: Access,
    /// Subjects visible in the project (owned or shared in), keyed by their label in this project.
    pub subjects: BTreeMap<String, Subject>,
    /// Sessions waiting in the project's prearchive, keyed by their prearchive URL.
    pub prearchive: BTreeMap<String, PrearchiveEntry>,
    /// The data types the server serves (`xnat:mrSessionData`, …); `None` when it did not say.
    #[serde(default)]
    pub data_types: Option<BTreeSet<String>>,
    /// What the server does with uploads into this project: prearchive setting and anonymization
    /// scripts.
    #[serde(default)]
    pub settings: ProjectSettings,
}

/// The project settings that decide what XNAT does with an upload before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// The prearchive code (`0` uploads stay in the prearchive, `4` auto-archive, `5` auto-archive
    /// overwriting files); `None` when the server did not say.
    pub prearchive_code: Option<u8>,
    /// The site-wide anonymization script, run on every upload without `prevent_anon`.
    pub site_script: ScriptSetting,
    /// The project's anonymization script, run when a session is archived into the project.
    pub project_script: ScriptSetting,
}

impl ProjectSettings {
    /// Whether the project archives uploads by itself.
    pub fn auto_archives(&self) -> bool {
        self.prearchive_code.is_some_and(|c| c >= 4)
    }
}

/// One anonymization script as the server reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptSetting {
    /// Switched off, or switched on with an empty script: nothing runs.
    #[default]
    Off,
    /// Switched on, with this text.
    On(String),
    /// The server would not say (e.g. `403` for accounts that are not administrators on older XNATs).
    Unreadable(String),
}

/// The reading account's rights in a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The account's role: `owner`, `member`, `collaborator`, `admin` (site administrator), or `None`
    /// when the server did not say.
    pub role: Option<String>,
    /// Whether the account may create subjects in this project (`None`: unknown).
    pub can_create_subjects: Option<bool>,
}

/// A subject as seen from one project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The site-wide accession ID, e.g. `XNAT_S00001`.
    pub id: String,
    /// The label in this project.
    pub label: String,
    /// The primary project, when it is not this one (the subject is shared into this project).
    pub shared_from: Option<String>,
    /// Sessions (imaging experiments) of this subject visible in this project, keyed by label.
    pub sessions: BTreeMap<String, Session>,
    /// Experiments that are not imaging sessions (assessors, other data types), keyed by label, with
    /// their xsiType. Ferry does not transfer them; the planner reports them as skipped.
    pub other_experiments: BTreeMap<String, String>,
}

/// An imaging session (XNAT experiment of an image-session type).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The site-wide accession ID, e.g. `XNAT_E00001`.
    pub id: String,
    /// The label in this project.
    pub label: String,
    /// The acquisition date `YYYY-MM-DD`, if known.
    pub date: Option<String>,
    /// The XNAT data type, e.g. `xnat:mrSessionData`.
    pub xsi_type: String,
    /// The StudyInstanceUID.
    pub uid: Option<String>,
    /// The primary project, when it is not this one (the session is shared into this project). Read
    /// from the session's own item: XNAT's experiment listing shows shared rows under the listing's
    /// project.
    pub shared_from: Option<String>,
    /// Projects the session is shared into (project -> label there), from the item's `sharing/share`.
    #[serde(default)]
    pub shares: BTreeMap<String, String>,
    /// What people curate in XNAT about the session (note, visit, time), as set there.
    #[serde(default)]
    pub meta: SessionMeta,
    /// Image assessors of the session (they are not transferred; a move leaves them, and so the
    /// session, in place).
    #[serde(default)]
    pub assessors: u64,
    /// Reconstructions of the session (not transferred either).
    #[serde(default)]
    pub reconstructions: u64,
    /// Scans keyed by scan ID.
    pub scans: BTreeMap<String, Scan>,
    /// Session-level resources (non-DICOM), keyed by label.
    pub resources: BTreeMap<String, Resource>,
    /// Header of the first DICOM file of the session: keyword -> value as text. Used for `dicom.*`
    /// templates and PHI findings; never written to a plan.
    pub header: BTreeMap<String, String>,
    /// Every element of that file at any depth (nested sequences, private and repeating groups), for
    /// the anonymization gate; never written to a plan.
    #[serde(default)]
    pub elements: Vec<crate::dicom::Seen>,
}

/// A scan of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// The scan ID, unique within the session (usually the SeriesNumber).
    pub id: String,
    /// The scan type.
    pub scan_type: String,
    /// The series description.
    pub series_description: String,
    /// The SeriesInstanceUID.
    pub uid: Option<String>,
    /// The XNAT scan data type, e.g. `xnat:mrScanData`.
    pub xsi_type: String,
    /// Quality as rated in XNAT (`usable`, `questionable`, `unusable`), empty when unset.
    #[serde(default)]
    pub quality: String,
    /// The scan's note in XNAT, empty when unset.
    #[serde(default)]
    pub note: String,
    /// Resources of the scan keyed by label (`DICOM`, `SNAPSHOTS`, …).
    pub resources: BTreeMap<String, Resource>,
}

/// Session fields people curate in XNAT; empty when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    /// The session's note.
    #[serde(default)]
    pub note: String,
    /// The visit ID.
    #[serde(default)]
    pub visit: String,
    /// The acquisition time `HH:MM:SS`.
    #[serde(default)]
    pub time: String,
}

/// A resource (a folder of files with a catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource label.
    pub label: String,
    /// The resource format, e.g. `DICOM`.
    pub format: String,
    /// Files keyed by their path relative to the resource.
    pub files: BTreeMap<String, FileEntry>,
}

/// One file of a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the resource.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The digest the server reports (MD5 hex in XNAT catalogs), if any.
    pub digest: Option<String>,
}

/// A session waiting in the prearchive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrearchiveEntry {
    /// `/prearchive/projects/P/TIMESTAMP/FOLDER`.
    pub url: String,
    /// The subject label the session will be archived under.
    pub subject: String,
    /// The session label (folder name).
    pub label: String,
    /// The StudyInstanceUID.
    pub uid: String,
    /// Prearchive status: `READY`, `RECEIVING`, `CONFLICT`, `ERROR`, …
    pub status: String,
}

impl Inventory {
    /// A stable fingerprint: blake3 of the canonical JSON form, as `blake3:<hex>`.
    pub fn fingerprint(&self) -> String {
        // Streamed into the hasher: a large project's canonical form is never held whole in memory.
        // Serialising plain structs and BTreeMaps cannot fail.
        let mut hasher = blake3::Hasher::new();
        let _ = serde_json::to_writer(&mut hasher, self);
        format!("blake3:{}", hasher.finalize().to_hex())
    }

    /// Every session of the project with its subject, in label order.
    pub fn sessions(&self) -> impl Iterator<Item = (&Subject, &Session)> {
        self.subjects
            .values()
            .flat_map(|s| s.sessions.values().map(move |e| (s, e)))
    }
}

impl Session {
    /// Number of files in the session's scan resources.
    pub fn file_count(&self) -> usize {
        self.scans
            .values()
            .flat_map(|s| s.resources.values())
            .map(|r| r.files.len())
            .sum()
    }

    /// Total size in bytes of the session's scan resources.
    pub fn byte_count(&self) -> u64 {
        self.scans
            .values()
            .flat_map(|s| s.resources.values())
            .flat_map(|r| r.files.values())
            .map(|f| f.size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Inventory {
        let mut inv = Inventory {
            server_url: "http://127.0.0.1:8080".into(),
            project: "P".into(),
            ..Default::default()
        };
        let mut subj = Subject {
            id: "XNAT_S00001".into(),
            label: "S1".into(),
            ..Default::default()
        };
        let mut sess = Session {
            id: "XNAT_E00001".into(),
            label: "S1_MR1".into(),
            ..Default::default()
        };
        let mut res = Resource {
            label: "DICOM".into(),
            ..Default::default()
        };
        res.files.insert(
            "1.dcm".into(),
            FileEntry {
                name: "1.dcm".into(),
                size: 10,
                digest: None,
            },
        );
        let mut scan = Scan {
            id: "1".into(),
            ..Default::default()
        };
        scan.resources.insert("DICOM".into(), res);
        sess.scans.insert("1".into(), scan);
        subj.sessions.insert("S1_MR1".into(), sess);
        inv.subjects.insert("S1".into(), subj);
        inv
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = sample();
        let b = sample();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.fingerprint().starts_with("blake3:"));
        let mut c = sample();
        c.subjects.get_mut("S1").unwrap().label = "S2".into();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn counts_files_and_bytes() {
        let inv = sample();
        let (_, s) = inv.sessions().next().unwrap();
        assert_eq!(s.file_count(), 1);
        assert_eq!(s.byte_count(), 10);
    }
}
