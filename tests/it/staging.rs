//! The staging folder between runs: a file that changed after the run that wrote it is never sent.

use crate::apply::{assert_copied, work};
use crate::faults::set_faults;
use crate::support::{stderr, Sim};
use std::path::{Path, PathBuf};

fn upload_zips(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path().join("upload.zip");
        if path.exists() {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// An upload zip altered on disk after the run that built it stopped (here: one byte of pixel data,
/// the size unchanged) is rebuilt from the source zip by the next run, not uploaded: the destination
/// ends verified with the source's files.
#[test]
fn an_upload_zip_altered_between_runs_is_rebuilt_not_sent() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    set_faults(&sim, "only=/services/import&error_rate=1");
    // Through the staging folder: no session is held in memory.
    let first = w.apply(&["--skip-blocked", "--staging-memory", "0"]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let zips = upload_zips(&w.dir.path().join("plan.yaml.staging"));
    assert!(!zips.is_empty(), "the first run built no upload zip");
    for zip in &zips {
        let mut bytes = std::fs::read(zip).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(zip, &bytes).unwrap();
    }
    set_faults(&sim, "error_rate=0");
    let again = w.apply(&["--skip-blocked", "--staging-memory", "0"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_copied(&sim);
}

/// Small sessions' zips held in memory leave nothing in the staging folder, not even the facts they
/// were built with: after a run whose uploads all failed, the next run downloads them again and
/// completes.
#[test]
fn zips_held_in_memory_are_downloaded_again_by_the_next_run() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    set_faults(&sim, "only=/services/import&error_rate=1");
    let first = w.apply(&["--skip-blocked"]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    let rewrites = journal
        .lines()
        .filter(|l| l.contains("\"event\":\"done\"") && l.contains("/rewrite\""))
        .count();
    assert!(rewrites > 0, "the first run rewrote no session");
    let staging = w.dir.path().join("plan.yaml.staging");
    for folder in std::fs::read_dir(&staging).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        for file in ["source.zip", "upload.zip", "facts.json"] {
            assert!(!folder.join(file).exists(), "{file} written in {folder:?}");
        }
    }
    set_faults(&sim, "error_rate=0");
    let again = w.apply(&["--skip-blocked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_copied(&sim);
}

/// A session whose zips were held in memory by a run that stopped is downloaded again by the next run;
/// when the source's files changed meanwhile (here: the last byte of every PILOT file), the rebuilt
/// facts differ from the journal's record and the session is refused, not uploaded.
#[test]
fn a_source_changed_after_a_run_held_its_zips_in_memory_is_refused() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    set_faults(&sim, "only=/services/import&error_rate=1");
    let first = w.apply(&["--skip-blocked"]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let mut changed = 0;
    let mut dirs = vec![sim.root.join("archive").join("PILOT")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "dcm") {
                let mut bytes = std::fs::read(&path).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x5a;
                std::fs::write(&path, &bytes).unwrap();
                changed += 1;
            }
        }
    }
    assert!(
        changed > 0,
        "no source file found under the emulator's root"
    );
    set_faults(&sim, "error_rate=0");
    let again = w.apply(&["--skip-blocked"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("changed since it was first downloaded; plan again"),
        "{}",
        stderr(&again)
    );
}

/// The most sessions a run's journal shows between the start of their download and the end of
/// their verification at once, and how many sessions were downloaded.
fn most_sessions_open(journal: &str) -> (usize, usize) {
    let (mut open, mut most, mut sessions) = (0usize, 0usize, 0usize);
    for line in journal.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let step = v["step"].as_str().unwrap_or_default();
        match v["event"].as_str() {
            Some("started") if step.ends_with("/download") => {
                open += 1;
                sessions += 1;
            }
            Some("done" | "failed") if step.ends_with("/verify") => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    (most, sessions)
}

/// A destination slower than the source does not make the run download the whole project ahead of
/// its uploads: at most twice `--jobs` sessions are between their download and their verification
/// at once, so the staging folder holds a few sessions, not the run.
#[test]
fn a_slow_destination_keeps_few_sessions_staged_at_once() {
    let sim = Sim::start(&["--seed", "demo:subjects=10,files=2", "--latency-ms", "15"]);
    let w = work(&sim, "copy", "conflict: skip");
    w.plan();
    let out = w.apply(&["--skip-blocked", "--jobs", "1", "--staging-memory", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    let (most, sessions) = most_sessions_open(&journal);
    assert!(sessions >= 8, "only {sessions} session(s) downloaded");
    assert!(most <= 2, "{most} sessions were open at once with --jobs 1");
}

/// A session held in memory whose upload zip would hold more of its own than the room kept for it
/// (here every file's header grows by 8,000 characters of ImageComments) has that zip staged on disk:
/// the download was in memory, the upload zip was written to the staging folder (its blake3 is in the
/// journal), and the session still verifies.
#[test]
fn an_upload_zip_that_outgrows_its_room_is_staged_on_disk() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    let manifest = w.dir.path().join("ferry.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let long = "x".repeat(8000);
    let text = text.replace(
        "      set:\n",
        &format!("      set:\n        ImageComments: \"{long}\"\n"),
    );
    std::fs::write(&manifest, text).unwrap();
    assert_eq!(w.plan().status.code(), Some(3));
    let out = w.apply(&["--skip-blocked"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    let done = |kind: &str| -> Vec<serde_json::Value> {
        journal
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| {
                r["event"] == "done"
                    && r["step"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(&format!("/{kind}")))
            })
            .collect()
    };
    let downloads = done("download");
    assert!(!downloads.is_empty());
    assert!(
        downloads.iter().all(|r| r["detail"]["in_memory"] == true),
        "every download was held in memory"
    );
    let rewrites = done("rewrite");
    assert_eq!(rewrites.len(), downloads.len());
    assert!(
        rewrites
            .iter()
            .all(|r| r["detail"]["zip_blake3"].is_string()),
        "every upload zip went to the staging disk: {rewrites:?}"
    );
    assert_copied(&sim);
}
