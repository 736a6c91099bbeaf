//! One file per step kind of the execution graph, each with one entry function `run`. The runner
//! ([`super::runner`]) resolves a step ID to its plan objects and hands them here; what a step does
//! against the servers, and how it finds out on a resumed run what an earlier attempt left behind,
//! lives in the step's own file.
//!
//! This module holds what every step shares: the resolved [`Ctx`] of a session step, the run-wide
//! [`Env`] (clients, staging folder, bandwidth, reporter), and the mapping of errors to step failures.

pub mod archive;
pub mod create_subject;
pub mod delete;
pub mod download;
pub mod landing;
pub mod metadata;
pub mod relocate;
pub mod remove_subject;
pub mod resources;
pub mod rewrite;
pub mod share;
pub mod share_subject;
pub mod upload;
pub mod verify;

use super::gate::FileRules;
use super::pool::StepFailure;
use super::report::{Event, Reporter};
use super::stash::{Staged, Stash};
use super::throttle::Bandwidth;
use super::zipfacts::Gate;
use crate::manifest::model::Anonymization;
use crate::plan::{Action, Plan, Step, StepKind, TransferPlan};
use crate::xnat::{Client, XnatError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every step of a run shares.
pub struct Env<'a> {
    /// The plan being applied.
    pub plan: &'a Plan,
    /// The plan's steps by ID.
    pub steps: BTreeMap<&'a str, &'a Step>,
    /// One client per server name.
    pub clients: &'a BTreeMap<String, Arc<Client>>,
    /// The staging folder beside the plan.
    pub staging: PathBuf,
    /// The bandwidth cap over all transfers, if any.
    pub bandwidth: Option<&'a Bandwidth>,
    /// Where progress goes.
    pub reporter: &'a dyn Reporter,
    /// The staging files this run wrote and hashed itself, so later steps of the same run need not
    /// read and hash them again ([`Written`]).
    pub written: Written,
    /// Small sessions' zips, held in memory instead of the staging folder.
    pub stash: Stash,
    /// The curated fields' reads of sessions whose carry found nothing to set, for their
    /// verification ([`metadata::Unchanged`]).
    pub unchanged: metadata::Unchanged,
}

/// Staging files written by this run, each with its blake3 and the size and modification time it had
/// when written. A later step of the same run trusts a file whose size and time are unchanged; a
/// resumed run (a new process) starts empty and hashes every staging file it reuses.
#[derive(Default)]
pub struct Written(std::sync::Mutex<BTreeMap<PathBuf, Stamp>>);

/// A file's blake3, size and modification time when recorded.
type Stamp = (String, u64, Option<std::time::SystemTime>);

impl Written {
    /// Records `path`, as it is now, with its blake3 `hash`.
    pub fn record(&self, path: &Path, hash: &str) {
        if let Ok(m) = std::fs::metadata(path) {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(
                path.to_path_buf(),
                (hash.to_string(), m.len(), m.modified().ok()),
            );
        }
    }

    /// The blake3 this run recorded for `path`, if the file's size and time are as they were then.
    pub fn hash(&self, path: &Path) -> Option<String> {
        let m = std::fs::metadata(path).ok()?;
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (hash, len, time) = map.get(path)?;
        (*len == m.len() && time.is_some() && *time == m.modified().ok()).then(|| hash.clone())
    }
}

/// Everything a session step needs, resolved from the plan.
pub struct Ctx<'p> {
    /// The step.
    pub step: &'p Step,
    /// Its transfer.
    pub transfer: &'p TransferPlan,
    /// Its action (the source session and where it goes).
    pub action: &'p Action,
    /// The action's staging folder.
    pub dir: PathBuf,
}

impl Env<'_> {
    /// The client of a server the plan names.
    pub fn client(&self, server: &str) -> Result<&Client, StepFailure> {
        self.clients
            .get(server)
            .map(|c| c.as_ref())
            .ok_or_else(|| StepFailure::fatal(format!("no connection to server `{server}`")))
    }

    /// The ID of another step of the same session.
    pub fn sibling(&self, c: &Ctx<'_>, kind: StepKind) -> String {
        format!(
            "{}/{}/{}/{}",
            c.transfer.name,
            c.action.dest.subject,
            c.action.dest.session,
            kind.as_str()
        )
    }

    /// The anonymization rules of a session's files (profile, `dicom.set`, gate, UID digests).
    pub fn file_rules(&self, c: &Ctx<'_>) -> FileRules {
        let mut rules = FileRules::for_action(self.plan, c.transfer, c.action, gate(c));
        // The rewrite step refuses a script that does not parse; here it only widens what the gate
        // counts as set by the destination.
        rules.scripts = crate::exec::localanon::LocalScripts::for_action(c.transfer, c.action)
            .unwrap_or_default();
        rules
    }

    /// The run's key of header fingerprints, from the staging folder (created by the first step that
    /// needs it; a resumed run reads the same one).
    pub fn element_key(&self) -> Result<[u8; 32], StepFailure> {
        let path = crate::exec::verify::key::path_in(&self.staging);
        crate::exec::verify::key::load_or_create(&self.staging)
            .map_err(|e| io("read or create", &path, e))
    }

    /// A session's staged zip `name` (`source.zip`, `upload.zip`): held in memory or on disk.
    pub fn staged(&self, c: &Ctx<'_>, name: &str) -> Option<Staged> {
        let path = c.dir.join(name);
        match self.stash.get(&path) {
            Some(b) => Some(Staged::Memory(path, b)),
            None if path.exists() => Some(Staged::Disk(path)),
            None => None,
        }
    }

    /// Whether the session's plan deletes its source after verification.
    pub fn has_delete(&self, c: &Ctx<'_>) -> bool {
        self.steps
            .contains_key(self.sibling(c, StepKind::DeleteSource).as_str())
    }

    /// A byte counter for transfers: feeds the bandwidth cap and the progress display.
    pub fn on_bytes(&self) -> impl FnMut(u64) + '_ {
        move |n| {
            if let Some(b) = self.bandwidth {
                b.consume(n);
            }
            self.reporter.event(Event::Bytes(n));
        }
    }
}

/// The anonymization gate of a session's transfer.
pub fn gate(c: &Ctx<'_>) -> Gate {
    match c.transfer.policy.anonymization {
        Anonymization::Require => Gate::Require,
        Anonymization::Warn => Gate::Warn,
        Anonymization::Off => Gate::Off,
    }
}

/// A client error as a step failure: lost access is fatal for the run, a full disk too.
pub fn xnat(e: XnatError) -> StepFailure {
    let mut message = e.to_string();
    if let Some(h) = e.hint() {
        message = format!("{message} (hint: {h})");
    }
    match &e {
        XnatError::Forbidden { .. } => StepFailure::fatal(message),
        XnatError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
            StepFailure::fatal(format!("{message} (the staging disk is full)"))
        }
        _ => StepFailure::new(message),
    }
}

/// A local failure (a file, a rule) as a step failure.
pub fn local(e: impl std::fmt::Display) -> StepFailure {
    StepFailure::new(e.to_string())
}

/// A local I/O error as a step failure naming the file; a full disk is fatal for the run.
pub fn io(action: &str, path: &Path, e: std::io::Error) -> StepFailure {
    let message = format!("cannot {action} `{}`: {e}", path.display());
    if e.kind() == std::io::ErrorKind::StorageFull {
        StepFailure::fatal(format!("{message} (the staging disk is full)"))
    } else {
        StepFailure::new(message)
    }
}

/// A name for an action's staging folder (below `PLAN.staging/`) that is safe on every file system and unique per action.
pub fn folder_name(action_id: &str) -> String {
    let readable: String = action_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let h = blake3::hash(action_id.as_bytes()).to_hex();
    format!("{readable}-{}", &h.as_str()[..10])
}

/// Writes `bytes` (the slices one after another) to `path` through `path.part`, on disk before it is
/// renamed into place, so `path` is only ever complete.
pub fn write_durably(path: &Path, bytes: &[&[u8]]) -> Result<(), StepFailure> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&part)?);
        for b in bytes {
            std::io::Write::write_all(&mut f, b)?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    write().map_err(|e| io("write", &part, e))?;
    std::fs::rename(&part, path).map_err(|e| io("write", path, e))
}

/// blake3 of a file, hex, read in chunks.
pub fn file_blake3(path: &Path) -> Result<String, StepFailure> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path).map_err(|e| io("read", path, e))?;
    h.update_reader(f).map_err(|e| io("read", path, e))?;
    Ok(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_folders_are_safe_and_distinct() {
        let a = folder_name("t/SUB001/SUB001_MR1");
        let b = folder_name("t/SUB001/SUB001_MR1 ");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)));
        assert!(folder_name(&"x".repeat(500)).len() < 80);
    }

    #[test]
    fn a_written_file_is_trusted_until_its_size_or_time_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.zip");
        std::fs::write(&path, b"first").unwrap();
        let written = Written::default();
        assert_eq!(written.hash(&path), None, "nothing recorded yet");
        written.record(&path, "h1");
        assert_eq!(written.hash(&path).as_deref(), Some("h1"));
        std::fs::write(&path, b"longer than first").unwrap();
        assert_eq!(written.hash(&path), None, "the size changed");
        written.record(&path, "h2");
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        f.set_modified(later).unwrap();
        assert_eq!(written.hash(&path), None, "the time changed");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(written.hash(&path), None, "the file is gone");
    }

    #[test]
    fn a_durable_write_puts_its_slices_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.zip");
        write_durably(&path, &[b"PK", b"", b"\x03\x04 rest"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"PK\x03\x04 rest");
        assert!(!dir.path().join("upload.zip.part").exists());
    }
}
