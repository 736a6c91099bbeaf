//! The journal: an append-only file of JSON lines beside the plan, so that `ferry apply` resumes where
//! an interrupted run stopped and `ferry status` can tell what is done. Every line is written before
//! the run goes on; it is flushed to disk before anything changes on a server (see [`super::pool`]),
//! which puts every earlier line on disk too. The first line binds the journal to one plan (by the
//! plan file's hash); a torn last line left by a crash mid-write is ignored. The journal never holds secrets or DICOM header values.
//!
//! It is also the record of the transfer for an audit: every line carries its UTC time (`at`), each run
//! starts with a `run` line (who ran it, on which host, with which ferry, against which servers), and a
//! verified session's line names the source and destination accession IDs. One `apply` at a time holds
//! the plan's lock ([`lock`]), so two runs never write one journal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    /// The first line: which plan this journal belongs to.
    Plan {
        /// `blake3:<hex>` of the plan file.
        plan_hash: String,
    },
    /// A run of `apply` began: who, where, with what, against which servers.
    Run {
        /// The account that ran ferry (`USER`/`LOGNAME`), or `unknown`.
        user: String,
        /// The host it ran on, or `unknown`.
        host: String,
        /// ferry's version.
        ferry_version: String,
        /// The servers of the plan: name -> URL (never a credential).
        servers: BTreeMap<String, String>,
        /// Whether the run resumed an earlier one.
        resumed: bool,
    },
    /// A step was started.
    Started {
        /// The step ID.
        step: String,
    },
    /// A step finished; `detail` is what later steps or a resume need (e.g. where an upload landed,
    /// the verification that allowed a deletion).
    Done {
        /// The step ID.
        step: String,
        /// Step-specific result data.
        #[serde(default)]
        detail: serde_json::Value,
    },
    /// A step failed.
    Failed {
        /// The step ID.
        step: String,
        /// The error, rendered.
        error: String,
    },
}

/// The last thing the journal says about a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Last {
    /// Started and never finished: the run stopped while it was running.
    Started,
    /// Finished, with its detail.
    Done(serde_json::Value),
    /// Failed, with the error.
    Failed(String),
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing the file failed.
    #[error("cannot {action} the journal `{path}`")]
    Io {
        /// `read`, `write` or `create`.
        action: &'static str,
        /// The journal's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The journal was written for another plan.
    #[error("the journal `{path}` belongs to another plan (its plan hash is {found}, this plan's is {expected})")]
    OtherPlan {
        /// The journal's path.
        path: PathBuf,
        /// This plan's hash.
        expected: String,
        /// The hash the journal records.
        found: String,
    },
    /// Another `ferry apply` holds the plan's lock.
    #[error("another `ferry apply` is running on `{path}` (it holds the plan's lock); nothing was changed")]
    Locked {
        /// The plan's path.
        path: PathBuf,
    },
    /// A line in the middle of the journal is not a record.
    #[error("the journal `{path}` is damaged at line {line}")]
    Damaged {
        /// The journal's path.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes written so far.
    len: u64,
    /// How many of them are known to be on disk (shared with [`Syncer`]s).
    durable: Arc<AtomicU64>,
}

/// Makes an open journal durable from another thread than the one that writes it, so a run's workers
/// do not wait on each other's flushes: one flush puts every line written before it on disk.
#[derive(Debug)]
pub struct Syncer {
    path: PathBuf,
    file: File,
    durable: Arc<AtomicU64>,
}

/// The journal's path for a plan: `PLAN.journal` beside it.
pub fn path_for(plan: &Path) -> PathBuf {
    let mut p = plan.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// Reads what a journal says, by step. A missing journal reads as empty.
pub fn read(path: &Path, plan_hash: &str) -> Result<BTreeMap<String, Last>, JournalError> {
    let io = |source| JournalError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io(e)),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let mut out = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let record: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            // A crash can tear the last line; anything else is damage.
            Err(_) if i + 1 == lines.len() => break,
            Err(_) => {
                return Err(JournalError::Damaged {
                    path: path.to_path_buf(),
                    line: i + 1,
                })
            }
        };
        match record {
            Record::Plan { plan_hash: found } if found != plan_hash => {
                return Err(JournalError::OtherPlan {
                    path: path.to_path_buf(),
                    expected: plan_hash.to_string(),
                    found,
                })
            }
            Record::Plan { .. } | Record::Run { .. } => {}
            Record::Started { step } => {
                out.insert(step, Last::Started);
            }
            Record::Done { step, detail } => {
                out.insert(step, Last::Done(detail));
            }
            Record::Failed { step, error } => {
                out.insert(step, Last::Failed(error));
            }
        }
    }
    Ok(out)
}

/// The time now, UTC, as RFC 3339 with milliseconds (`2026-11-29T10:15:00.123Z`).
pub fn utc_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The account and host ferry runs as, for the `run` record: `USER` (or `LOGNAME`) and the kernel's
/// host name; `unknown` where they cannot be read.
pub fn who() -> (String, String) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    (user, host)
}

/// Takes the plan's exclusive lock for the length of a run (released when the returned file is
/// dropped, or when the process ends however it ends). A second `apply` on the same plan gets
/// [`JournalError::Locked`] at once.
pub fn lock(plan: &Path) -> Result<File, JournalError> {
    let file = File::open(plan).map_err(|source| JournalError::Io {
        action: "read",
        path: plan.to_path_buf(),
        source,
    })?;
    try_lock(&file).map_err(|source| {
        if source.kind() == std::io::ErrorKind::WouldBlock {
            JournalError::Locked {
                path: plan.to_path_buf(),
            }
        } else {
            JournalError::Io {
                action: "lock",
                path: plan.to_path_buf(),
                source,
            }
        }
    })?;
    Ok(file)
}

/// flock(2), exclusive, not waiting: the kernel drops it when the file is closed or the process ends.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<()> {
    use rustix::fs::{flock, FlockOperation};
    flock(file, FlockOperation::NonBlockingLockExclusive).map_err(std::io::Error::from)
}

/// Elsewhere there is no lock: ferry is built for Linux and macOS.
#[cfg(not(unix))]
fn try_lock(_: &File) -> std::io::Result<()> {
    Ok(())
}

impl Journal {
    /// Opens a journal for appending, creating it with its plan line when missing. Call [`read`] first
    /// to check it belongs to this plan.
    pub fn open(path: &Path, plan_hash: &str) -> Result<Journal, JournalError> {
        let exists = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Io {
                action: "create",
                path: path.to_path_buf(),
                source,
            })?;
        let mut j = Journal {
            path: path.to_path_buf(),
            file,
            len: 0,
            durable: Arc::new(AtomicU64::new(0)),
        };
        if exists {
            j.drop_torn_tail()?;
        }
        j.len = j.file.metadata().map(|m| m.len()).unwrap_or(0);
        j.durable.store(j.len, Ordering::SeqCst);
        if j.len == 0 {
            j.append(&Record::Plan {
                plan_hash: plan_hash.to_string(),
            })?;
        }
        Ok(j)
    }

    /// Appends a record, stamped with the UTC time, and flushes it to disk before returning.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let end = self.write(record)?;
        self.syncer()?.sync_through(end)
    }

    /// Appends a record, stamped with the UTC time, without waiting for the disk; the journal's
    /// length after it, for [`Syncer::sync_through`]. A crash of the machine (not of the process) can
    /// lose such records, always the last ones written: the run then resumes from an earlier point.
    pub fn write(&mut self, record: &Record) -> Result<u64, JournalError> {
        let mut value = serde_json::to_value(record).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut value {
            m.insert("at".into(), utc_now().into());
        }
        let mut line = serde_json::to_vec(&value).unwrap_or_default();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(write_error(&self.path))?;
        self.len += line.len() as u64;
        Ok(self.len)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.len
    }

    /// A handle that flushes this journal to disk from any thread.
    pub fn syncer(&self) -> Result<Syncer, JournalError> {
        let file = self.file.try_clone().map_err(write_error(&self.path))?;
        Ok(Syncer {
            path: self.path.clone(),
            file,
            durable: Arc::clone(&self.durable),
        })
    }

    /// A crash can leave a partial last line; cut it off so the next record starts a line of its own.
    fn drop_torn_tail(&mut self) -> Result<(), JournalError> {
        let bytes = std::fs::read(&self.path).map_err(write_error(&self.path))?;
        if bytes.last().is_some_and(|b| *b != b'\n') {
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            self.file
                .set_len(keep as u64)
                .map_err(write_error(&self.path))?;
            self.file.sync_data().map_err(write_error(&self.path))?;
        }
        Ok(())
    }
}

/// A failed write to the journal at `path`.
fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    }
}

impl Syncer {
    /// Returns once the journal's first `len` bytes are on disk (at once when they are known to be).
    pub fn sync_through(&self, len: u64) -> Result<(), JournalError> {
        if self.durable.load(Ordering::SeqCst) >= len {
            return Ok(());
        }
        self.file.sync_data().map_err(write_error(&self.path))?;
        self.durable.fetch_max(len, Ordering::SeqCst);
        Ok(())
    }

    /// How many bytes of the journal are known to be on disk.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_second_lock_on_a_plan_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.yaml");
        std::fs::write(&plan, "x").unwrap();
        let first = lock(&plan).unwrap();
        let e = lock(&plan).unwrap_err();
        assert!(matches!(e, JournalError::Locked { .. }), "{e}");
        assert!(e.to_string().contains("another `ferry apply` is running"));
        drop(first);
        lock(&plan).unwrap();
    }

    #[test]
    fn every_line_carries_its_utc_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plan.yaml.journal");
        let mut j = Journal::open(&p, "blake3:aa").unwrap();
        j.append(&Record::Started { step: "s1".into() }).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = v["at"].as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
            assert!(at.ends_with('Z'), "{at}");
        }
        assert_eq!(read(&p, "blake3:aa").unwrap()["s1"], Last::Started);
    }

    #[test]
    fn records_survive_reopen_and_last_state_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plan.yaml.journal");
        let mut j = Journal::open(&p, "blake3:aa").unwrap();
        j.append(&Record::Started { step: "s1".into() }).unwrap();
        j.append(&Record::Done {
            step: "s1".into(),
            detail: json!({"uri": "/data/x"}),
        })
        .unwrap();
        j.append(&Record::Started { step: "s2".into() }).unwrap();
        drop(j);
        let state = read(&p, "blake3:aa").unwrap();
        assert_eq!(state["s1"], Last::Done(json!({"uri": "/data/x"})));
        assert_eq!(state["s2"], Last::Started);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_appending_continues() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let mut j = Journal::open(&p, "h").unwrap();
        j.append(&Record::Started { step: "s1".into() }).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"event":"done","st"#).unwrap();
        drop(f);
        assert_eq!(read(&p, "h").unwrap()["s1"], Last::Started);
        let mut j = Journal::open(&p, "h").unwrap();
        j.append(&Record::Failed {
            step: "s1".into(),
            error: "boom".into(),
        })
        .unwrap();
        assert_eq!(read(&p, "h").unwrap()["s1"], Last::Failed("boom".into()));
    }

    #[test]
    fn refuses_another_plans_journal_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        Journal::open(&p, "h1").unwrap();
        assert!(matches!(
            read(&p, "h2"),
            Err(JournalError::OtherPlan { .. })
        ));
        std::fs::write(&p, "garbage\n{\"event\":\"started\",\"step\":\"a\"}\n").unwrap();
        assert!(matches!(
            read(&p, "h1"),
            Err(JournalError::Damaged { line: 1, .. })
        ));
    }

    #[test]
    fn journal_path_sits_beside_the_plan() {
        assert_eq!(
            path_for(Path::new("plans/x.plan.yaml")),
            PathBuf::from("plans/x.plan.yaml.journal")
        );
    }
}
