//! Reliability: the demo transfer under injected faults, killed at many points, with a server that goes
//! away, and with permissions revoked half way. In every case apply either completes with a verified
//! destination or stops with a clear error, a rerun completes, and nothing is mixed or lost.

use crate::apply::{assert_copied, client, work, Work};
use crate::support::{ferry_bin, stderr, stdout, Sim};
use ferry::xnat::{InventoryOptions, NoProgress};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Applies until the run completes, at most `max` times; returns how many runs it took.
fn apply_until_done(w: &Work, max: usize) -> usize {
    for n in 1..=max {
        let a = w.apply(&["--skip-blocked"]);
        if a.status.success() {
            return n;
        }
        let err = stderr(&a);
        // A failed run says what failed and never panics.
        assert!(err.contains("error:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    panic!("apply did not complete in {max} runs");
}

pub fn set_faults(sim: &Sim, query: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .put(format!("{}/sim/faults?{query}", sim.url))
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .send_empty()
        .expect("faults");
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn error_rates_of_5_20_and_50_percent_end_verified() {
    for (rate, seed) in [("0.05", "1"), ("0.2", "2"), ("0.5", "3")] {
        let sim = Sim::start(&["--seed", "demo"]);
        let w = work(&sim, "copy", "conflict: skip");
        assert_eq!(w.plan().status.code(), Some(3));
        set_faults(&sim, &format!("error_rate={rate}&rng_seed={seed}"));
        let runs = apply_until_done(&w, 12);
        set_faults(&sim, "error_rate=0");
        assert_copied(&sim);
        eprintln!("error rate {rate}: completed after {runs} run(s)");
        if rate != "0.5" {
            assert_eq!(runs, 1, "error rate {rate}");
        }
    }
}

#[test]
fn dropped_connections_and_latency_end_verified() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    set_faults(&sim, "drop_rate=0.2&latency_ms=5&rng_seed=7");
    let runs = apply_until_done(&w, 12);
    eprintln!("drop rate 0.2 + 5 ms latency: completed after {runs} run(s)");
    assert_eq!(runs, 1);
    set_faults(&sim, "drop_rate=0&latency_ms=0");
    assert_copied(&sim);
}

/// Every SOPInstanceUID held in MAIN's archive, once per copy, and the number of prearchive entries
/// left in MAIN.
fn main_copies(sim: &Sim) -> (Vec<String>, usize) {
    let c = client(sim);
    let main = c
        .inventory("MAIN", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut sops = Vec::new();
    for (subject, s) in &main.subjects {
        for label in s.sessions.keys() {
            let zip = dir.path().join("s.zip");
            c.download_session(
                "MAIN",
                subject,
                label,
                &[],
                ferry::xnat::Landing::disk(&zip),
                &mut |_| {},
            )
            .unwrap();
            let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
            for i in 0..archive.len() {
                let mut e = archive.by_index(i).unwrap();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
                if let Ok(h) = ferry::dicom::read_header_bytes(&bytes) {
                    sops.extend(h.sop_instance_uid);
                }
            }
        }
    }
    (sops, main.prearchive.len())
}

/// The fault matrix of docs/reliability.md: under each fault, one `ferry apply` finishes, every
/// source file is in MAIN exactly once, and the prearchive is empty. Prints one row per fault.
#[test]
fn fault_matrix_one_run_exactly_once() {
    let faults = [
        (
            "20% answered 500 before the work",
            "error_rate=0.2&rng_seed=2",
        ),
        (
            "20% answered 500 after the work",
            "late_error_rate=0.2&rng_seed=4",
        ),
        (
            "20% of bodies cut after the work",
            "drop_rate=0.2&rng_seed=7",
        ),
    ];
    let mut rows = Vec::new();
    for destination in ["prearchive", "archive"] {
        for (fault, query) in faults {
            let sim = Sim::start(&["--seed", "demo"]);
            let policy = format!("conflict: skip, destination: {destination}");
            let w = work(&sim, "copy", &policy);
            assert_eq!(w.plan().status.code(), Some(3));
            set_faults(&sim, query);
            let runs = apply_until_done(&w, 4);
            set_faults(&sim, "error_rate=0&late_error_rate=0&drop_rate=0");
            assert_copied(&sim);
            let (sops, leftovers) = main_copies(&sim);
            let unique: std::collections::BTreeSet<&String> = sops.iter().collect();
            let duplicates = sops.len() - unique.len();
            let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
            let settled = journal.matches("\"found_complete\":true").count();
            let row = format!(
                "| {fault} | {destination} | {runs} | {settled} | {duplicates} | {leftovers} |"
            );
            eprintln!("{row}");
            rows.push((row, (runs, duplicates, leftovers)));
        }
    }
    eprintln!(
        "| fault | destination | runs to finish | lost answers settled by a look | duplicates | prearchive leftovers |"
    );
    eprintln!("|---|---|---|---|---|---|");
    for (r, _) in &rows {
        eprintln!("{r}");
    }
    for (r, got) in rows {
        assert_eq!(got, (1, 0, 0), "{r}");
    }
}

/// Counts `done` records in a journal.
fn done_steps(journal: &std::path::Path) -> usize {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"event\":\"done\""))
        .count()
}

#[test]
fn apply_killed_at_many_points_resumes_to_the_exact_state() {
    for kill_after in [1, 4, 9, 15, 22] {
        let sim = Sim::start(&["--seed", "demo"]);
        let w = work(&sim, "copy", "conflict: skip");
        assert_eq!(w.plan().status.code(), Some(3));
        // Slow the server down so the kill lands mid-run.
        set_faults(&sim, "latency_ms=15");
        let mut child = Command::new(ferry_bin())
            .args(["apply", "plan.yaml", "--skip-blocked", "--jobs", "3"])
            .current_dir(w.dir.path())
            .env("FERRY_IT_USER", "admin")
            .env("FERRY_IT_PASS", "admin")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let journal = w.dir.path().join("plan.yaml.journal");
        let start = Instant::now();
        while done_steps(&journal) < kill_after && start.elapsed() < Duration::from_secs(60) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // SIGKILL: no chance to clean up.
        let _ = child.kill();
        let _ = child.wait();
        set_faults(&sim, "latency_ms=0");
        eprintln!(
            "killed after {} finished step(s) (asked {kill_after}); rerun follows",
            done_steps(&journal)
        );
        let a = w.apply(&["--skip-blocked"]);
        assert!(
            a.status.success(),
            "after kill at {kill_after}: {}\n{}",
            stdout(&a),
            stderr(&a)
        );
        assert_copied(&sim);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_server_that_goes_away_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sim");
    let port = free_port().to_string();
    let sim = Sim::start_at(&root, &["--seed", "demo", "--port", &port]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    drop(sim);
    let down = w.apply(&["--skip-blocked"]);
    assert_eq!(down.status.code(), Some(1), "{}", stderr(&down));
    assert!(stderr(&down).contains("local"), "{}", stderr(&down));
    let sim = Sim::start_at(&root, &["--port", &port]);
    apply_until_done(&w, 2);
    assert_copied(&sim);
}

#[test]
fn permissions_revoked_half_way_stop_cleanly_and_a_rerun_completes() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    // The writer account (member of MAIN, collaborator nowhere else) cannot read PILOT: grant it,
    // plan, then revoke MAIN half way through apply.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let role = |project: &str, r: &str| {
        let resp = agent
            .put(format!(
                "{}/sim/projects/{project}/users/writer?role={r}",
                sim.url
            ))
            .header("Authorization", "Basic YWRtaW46YWRtaW4=")
            .send_empty()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "role change");
    };
    role("PILOT", "member");
    let plan = Command::new(ferry_bin())
        .args(["plan", "ferry.yaml", "--out", "plan.yaml"])
        .current_dir(w.dir.path())
        .env("FERRY_IT_USER", "writer")
        .env("FERRY_IT_PASS", "writer")
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(3), "{}", stderr(&plan));
    let child = Command::new(ferry_bin())
        .args(["apply", "plan.yaml", "--skip-blocked", "--jobs", "2"])
        .current_dir(w.dir.path())
        .env("FERRY_IT_USER", "writer")
        .env("FERRY_IT_PASS", "writer")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let journal = w.dir.path().join("plan.yaml.journal");
    let start = Instant::now();
    while done_steps(&journal) < 5 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    role("MAIN", "none");
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "role revoked mid-run: first run exit {:?}",
        out.status.code()
    );
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("403") || err.contains("Forbidden"), "{err}");
    }
    role("MAIN", "member");
    let again = Command::new(ferry_bin())
        .args(["apply", "plan.yaml", "--skip-blocked"])
        .current_dir(w.dir.path())
        .env("FERRY_IT_USER", "writer")
        .env("FERRY_IT_PASS", "writer")
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_copied(&sim);
}

#[test]
fn a_full_staging_disk_stops_cleanly_and_a_rerun_completes() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    // Every write into SUB001's staging download goes to /dev/full: ENOSPC, as on a full disk.
    let folder = w
        .dir
        .path()
        .join("plan.yaml.staging")
        .join(ferry::exec::steps::folder_name(
            "pilot-into-main/SUB001/SUB001_MR1",
        ));
    std::fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink("/dev/full", folder.join("source.zip.part")).unwrap();
    // Through the staging folder: no session is held in memory.
    let a = w.apply(&["--skip-blocked", "--jobs", "1", "--staging-memory", "0"]);
    assert_eq!(a.status.code(), Some(1), "{}", stdout(&a));
    let err = stderr(&a);
    assert!(err.contains("the staging disk is full"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    std::fs::remove_file(folder.join("source.zip.part")).unwrap();
    let again = w.apply(&["--skip-blocked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_copied(&sim);
}

/// A step that failed in an earlier run after its work was done (the upload landed, the answer was
/// lost) is resumed: the next run finds the session complete and records it, instead of refusing the
/// session as one that "appeared since the plan" or sending the data a second time.
#[test]
fn an_upload_that_failed_in_an_earlier_run_is_resumed_not_stuck() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip, destination: archive");
    assert_eq!(w.plan().status.code(), Some(3));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}", stderr(&a));
    // Rewrite the journal as if the upload of one session had failed after landing.
    let session = "pilot-into-main/MAIN_001/MAIN_001_20240115/";
    let path = w.dir.path().join("plan.yaml.journal");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = Vec::new();
    for line in text.lines() {
        let upload_done =
            line.contains(&format!("{session}upload\"")) && line.contains("\"event\":\"done\"");
        if upload_done {
            lines.push(format!(
                r#"{{"event":"failed","step":"{session}upload","error":"local: server error 500 uploading (after 1 attempt(s))"}}"#
            ));
        } else if !line.contains(session) || line.contains("upload\"") {
            lines.push(line.to_string());
        }
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let again = w.apply(&["--skip-blocked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let journal = std::fs::read_to_string(&path).unwrap();
    let resumed = journal
        .lines()
        .rfind(|l| l.contains(&format!("{session}upload\"")) && l.contains("\"done\""))
        .unwrap()
        .to_string();
    assert!(resumed.contains("\"found_complete\":true"), "{resumed}");
    assert!(resumed.contains("\"attempts\":0"), "{resumed}");
    assert_copied(&sim);
    let (sops, leftovers) = main_copies(&sim);
    let unique: std::collections::BTreeSet<&String> = sops.iter().collect();
    assert_eq!((sops.len(), leftovers), (unique.len(), 0));
}

/// Both orders of a lost answer, aimed at one request: a `500` before the work (the look finds
/// nothing, the import is sent again) and after it (a `500` or a cut body: the look finds the session
/// complete and nothing is sent again), for the import and for the archive request.
#[test]
fn a_lost_answer_is_settled_by_looking_at_the_destination_in_both_orders() {
    let cases = [
        (
            "archive",
            "/services/import",
            "fail_next=1",
            "upload",
            "\"attempts\":2",
        ),
        (
            "archive",
            "/services/import",
            "late_fail_next=1",
            "upload",
            "\"found_complete\":true",
        ),
        (
            "archive",
            "/services/import",
            "drop_next=1",
            "upload",
            "\"found_complete\":true",
        ),
        (
            "prearchive",
            "/services/import",
            "late_fail_next=1",
            "upload",
            "\"found_complete\":true",
        ),
        (
            "prearchive",
            "/services/archive",
            "fail_next=1",
            "archive",
            "\"attempts\":2",
        ),
        (
            "prearchive",
            "/services/archive",
            "late_fail_next=1",
            "archive",
            "\"found_complete\":true",
        ),
    ];
    for (destination, only, fault, step, expect) in cases {
        let sim = Sim::start(&["--seed", "demo"]);
        let w = work(
            &sim,
            "copy",
            &format!("conflict: skip, destination: {destination}"),
        );
        assert_eq!(w.plan().status.code(), Some(3));
        set_faults(&sim, &format!("only={only}&{fault}"));
        let a = w.apply(&["--skip-blocked", "--jobs", "1"]);
        assert!(a.status.success(), "{only} {fault}: {}", stderr(&a));
        let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
        let settled = journal
            .lines()
            .filter(|l| l.contains("\"event\":\"done\"") && l.contains(&format!("/{step}\"")))
            .any(|l| l.contains(expect));
        assert!(
            settled,
            "{only} {fault}: no {step} with {expect}\n{journal}"
        );
        assert_copied(&sim);
        let (sops, leftovers) = main_copies(&sim);
        let unique: std::collections::BTreeSet<&String> = sops.iter().collect();
        assert_eq!((sops.len(), leftovers), (unique.len(), 0), "{only} {fault}");
    }
}
