//! Reliability: the demo transfer under injected faults, killed at many points, with a server that goes
//! away, and with permissions revoked half way. In every case apply either completes with a verified
//! destination or stops with a clear error, a rerun completes, and nothing is mixed or lost.

use crate::apply::{assert_copied, work, Work};
use crate::support::{ferry_bin, stderr, stdout, Sim};
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
    set_faults(&sim, "drop_rate=0&latency_ms=0");
    assert_copied(&sim);
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
        .join(ferry::exec::runner::folder_name(
            "pilot-into-main/SUB001/SUB001_MR1",
        ));
    std::fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink("/dev/full", folder.join("source.zip.part")).unwrap();
    let a = w.apply(&["--skip-blocked", "--jobs", "1"]);
    assert_eq!(a.status.code(), Some(1), "{}", stdout(&a));
    let err = stderr(&a);
    assert!(err.contains("the staging disk is full"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    std::fs::remove_file(folder.join("source.zip.part")).unwrap();
    let again = w.apply(&["--skip-blocked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_copied(&sim);
}
