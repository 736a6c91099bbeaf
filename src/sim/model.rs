//! The emulator's data model as plain serialisable values: projects, subjects, experiments (imaging
//! sessions) with scans, resources and file entries, prearchive sessions, and site-wide settings.
//! Nothing here does I/O; [`super::store`] keeps these in memory and on disk.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A user's role in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read, create, edit and delete.
    Owner,
    /// Read, create and edit; no delete.
    Member,
    /// Read only.
    Collaborator,
}

impl Role {
    /// Parses `owner`, `member` or `collaborator`.
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "owner" | "owners" => Some(Role::Owner),
            "member" | "members" => Some(Role::Member),
            "collaborator" | "collaborators" => Some(Role::Collaborator),
            _ => None,
        }
    }

    /// The group name XNAT shows for this role (`Owners`, `Members`, `Collaborators`).
    pub fn group_name(self) -> &'static str {
        match self {
            Role::Owner => "Owners",
            Role::Member => "Members",
            Role::Collaborator => "Collaborators",
        }
    }

    /// The group ID suffix XNAT uses (`owner`, `member`, `collaborator`).
    pub fn group_suffix(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
            Role::Collaborator => "collaborator",
        }
    }
}

/// A site account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The password (kept only in the emulator's own state folder).
    pub password: String,
    /// Whether the account is a site administrator.
    pub admin: bool,
}

/// Site-wide state: accounts and accession-number counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Site {
    /// Accounts by login.
    pub users: BTreeMap<String, User>,
    /// The next subject accession number.
    pub next_subject: u64,
    /// The next experiment accession number.
    pub next_experiment: u64,
    /// The next numeric resource id.
    pub next_resource: u64,
    /// The next numeric scan key (`xnat_imagescandata_id`).
    pub next_scan: u64,
    /// Whether a seed has been applied to this state folder.
    pub seeded: Option<String>,
    /// The site-wide anonymization script and whether it runs (on, with XNAT's default, unless changed).
    #[serde(default)]
    pub anon: SiteAnon,
}

/// The site-wide anonymization script (`/xapi/anonymize/site`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteAnon {
    /// The script text.
    pub script: String,
    /// Whether imports run it (`enableSitewideAnonymizationScript`, default true).
    pub enabled: bool,
    /// Whether reading `site/enabled` needs a site administrator, as in XNAT releases before 1.8
    /// (`restrictTo = Admin` in `AnonymizeApi`); set through `/sim/anonymize`.
    #[serde(default)]
    pub switch_admin_only: bool,
}

impl Default for SiteAnon {
    fn default() -> SiteAnon {
        SiteAnon {
            script: crate::dicomedit::XNAT_DEFAULT_SCRIPT.to_string(),
            enabled: true,
            switch_admin_only: false,
        }
    }
}

/// A project.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Project {
    /// The project ID (short name).
    pub id: String,
    /// The display name.
    pub name: String,
    /// The secondary ID.
    pub secondary_id: String,
    /// Free text.
    pub description: String,
    /// Roles of accounts in this project.
    pub roles: BTreeMap<String, Role>,
    /// Prearchive code: 0 manual, 4 auto-archive, 5 auto-archive with overwrite.
    pub prearchive_code: u8,
    /// The project's anonymization script (empty: none).
    #[serde(default)]
    pub anon_script: String,
    /// Whether the project's script runs when sessions are archived into the project.
    #[serde(default)]
    pub anon_enabled: bool,
}

/// A subject.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Subject {
    /// Accession ID, e.g. `XNAT_S00001`.
    pub id: String,
    /// The primary project.
    pub project: String,
    /// The label in the primary project.
    pub label: String,
    /// Projects this subject is shared into, with the label there.
    pub shares: BTreeMap<String, String>,
    /// Creation time as XNAT prints it.
    pub insert_date: String,
    /// The account that created it.
    pub insert_user: String,
    /// `group` and demographics (`gender`, `handedness`, `yob`, …) by XNAT's subject shortcut name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// The subject fields the emulator stores, by XNAT's shortcut name (XMLPathShortcuts, subject data):
/// `group` is a field of the subject, the rest live under its `demographics` element.
pub const SUBJECT_FIELDS: &[&str] = &[
    "group",
    "gender",
    "handedness",
    "yob",
    "dob",
    "age",
    "education",
    "ses",
    "race",
    "ethnicity",
    "weight",
    "height",
];

/// One file of a resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex MD5 of the bytes.
    pub digest: String,
    /// The SOPInstanceUID for DICOM files, else empty.
    #[serde(default)]
    pub uid: String,
    /// `DICOM` or empty.
    #[serde(default)]
    pub format: String,
}

/// A resource (a folder of files with a catalog).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Resource {
    /// Numeric id (`xnat_abstractresource_id`).
    pub id: u64,
    /// Label, e.g. `DICOM`.
    pub label: String,
    /// Format, e.g. `DICOM`.
    pub format: String,
    /// Content, e.g. `RAW`.
    pub content: String,
    /// Files by path relative to the resource folder.
    pub files: BTreeMap<String, FileEntry>,
}

impl Resource {
    /// Total bytes of the files.
    pub fn total_size(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

/// A scan of an imaging session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scan {
    /// Scan ID (usually the SeriesNumber).
    pub id: String,
    /// Numeric key (`xnat_imagescandata_id`).
    pub db_id: u64,
    /// Scan type.
    pub scan_type: String,
    /// SeriesDescription.
    pub series_description: String,
    /// SeriesInstanceUID.
    pub uid: String,
    /// Number of frames.
    pub frames: u64,
    /// e.g. `xnat:mrScanData`.
    pub xsi_type: String,
    /// Modality, e.g. `MR`.
    pub modality: String,
    /// `usable`, `questionable` or `unusable`.
    pub quality: String,
    /// The note people wrote in XNAT.
    #[serde(default)]
    pub note: String,
    /// Resources of this scan.
    pub resources: Vec<Resource>,
}

/// An imaging session (an XNAT experiment).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Experiment {
    /// Accession ID, e.g. `XNAT_E00001`.
    pub id: String,
    /// The primary project.
    pub project: String,
    /// The subject's accession ID.
    pub subject_id: String,
    /// The label in the primary project.
    pub label: String,
    /// `YYYY-MM-DD` or empty.
    pub date: String,
    /// `HH:MM:SS` or empty.
    pub time: String,
    /// e.g. `xnat:mrSessionData`.
    pub xsi_type: String,
    /// StudyInstanceUID.
    pub uid: String,
    /// Modality, e.g. `MR`.
    pub modality: String,
    /// PatientID from the headers.
    pub dcm_patient_id: String,
    /// PatientName from the headers.
    pub dcm_patient_name: String,
    /// Projects this session is shared into, with the label there.
    pub shares: BTreeMap<String, String>,
    /// The note people wrote in XNAT.
    #[serde(default)]
    pub note: String,
    /// The visit ID (`visit_id`).
    #[serde(default)]
    pub visit: String,
    /// Scans in ID order.
    pub scans: Vec<Scan>,
    /// Session-level resources.
    pub resources: Vec<Resource>,
    /// The folder holding the files, relative to the state root.
    pub dir: String,
    /// Creation time as XNAT prints it.
    pub insert_date: String,
    /// The account that created it.
    pub insert_user: String,
}

/// A session waiting in the prearchive.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrearcSession {
    /// The project, or `Unassigned`.
    pub project: String,
    /// The timestamp folder, `yyyyMMdd_HHmmssSSS`.
    pub timestamp: String,
    /// The folder name (the session label, made unique).
    pub folder: String,
    /// The session label to archive under.
    pub label: String,
    /// The subject label.
    pub subject: String,
    /// StudyInstanceUID.
    pub tag: String,
    /// Status, e.g. `READY`, `CONFLICT`.
    pub status: String,
    /// Scan date `YYYY-MM-DD`.
    pub scan_date: String,
    /// Scan time.
    pub scan_time: String,
    /// Upload time.
    pub uploaded: String,
    /// Last modification time.
    pub lastmod: String,
    /// Whether the session asked to be archived automatically.
    pub autoarchive: bool,
    /// Session xsiType.
    pub xsi_type: String,
    /// Modality.
    pub modality: String,
    /// PatientID from the headers.
    pub dcm_patient_id: String,
    /// PatientName from the headers.
    pub dcm_patient_name: String,
    /// Scans received.
    pub scans: Vec<Scan>,
    /// The upload asked that no anonymization script run (`prevent_anon=true`).
    #[serde(default)]
    pub prevent_anon: bool,
}

impl PrearcSession {
    /// The key of this session in the prearchive: (project, timestamp, folder).
    pub fn key(&self) -> (String, String, String) {
        (
            self.project.clone(),
            self.timestamp.clone(),
            self.folder.clone(),
        )
    }

    /// The folder of its files relative to the state root.
    pub fn dir(&self) -> String {
        format!(
            "prearchive/{}/{}/{}",
            self.project, self.timestamp, self.folder
        )
    }

    /// The URL path without `/data`.
    pub fn url(&self) -> String {
        format!(
            "/prearchive/projects/{}/{}/{}",
            self.project, self.timestamp, self.folder
        )
    }
}

/// Orders scan IDs as XNAT users expect: numerically when both are numbers, else as text.
pub fn scan_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The session xsiType XNAT uses for a DICOM modality.
pub fn session_type_for(modality: &str) -> &'static str {
    match modality {
        "MR" => "xnat:mrSessionData",
        "CT" => "xnat:ctSessionData",
        "PT" => "xnat:petSessionData",
        _ => "xnat:otherDicomSessionData",
    }
}

/// The scan xsiType XNAT uses for a DICOM modality.
pub fn scan_type_for(modality: &str) -> &'static str {
    match modality {
        "MR" => "xnat:mrScanData",
        "CT" => "xnat:ctScanData",
        "PT" => "xnat:petScanData",
        _ => "xnat:otherDicomScanData",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ids_sort_numerically_then_as_text() {
        let mut ids = vec!["10", "2", "1", "b", "a"];
        ids.sort_by(|a, b| scan_order(a, b));
        assert_eq!(ids, vec!["1", "2", "10", "a", "b"]);
    }

    #[test]
    fn roles_parse_and_name_groups() {
        assert_eq!(Role::parse("Owners"), Some(Role::Owner));
        assert_eq!(Role::parse("nobody"), None);
        assert_eq!(Role::Member.group_name(), "Members");
    }
}
