//! Figure 3, planning at scale.
//! - 3a: `ferry plan` of 2,000 sessions (200 with `--quick`) read from an emulator that answers every
//!   request after 50 ms, against a plain client reading the same facts per session the way ferry did
//!   before (see [`super::plainlist`]); both with 4 requests in flight, each its own process, rounds
//!   interleaved. The requests per session come from the source emulator's `/sim/stats` counter,
//!   read before and after each run; sessions are few tiny files, so seeding stays cheap.
//! - 3b: time per session on loopback at two sizes (does planning stay linear?).

use super::procs::{self, SimProc};
use super::stats::{interleave, ratio, show_ratio, verdict, Samples};
use super::{fail, manifest, server, Link, ROUNDS, SRC_PROJECT};
use crate::cli::Failure;
use crate::xnat::{Client, ClientOptions};
use std::cell::RefCell;
use std::path::Path;
use std::process::Command;

/// The destination of every plan: the smallest demo world (it has the MAIN project).
const DST_SEED: &str = "demo:subjects=1,files=1,size=8";
/// Requests in flight, for ferry (`--per-server`, its default) and for the plain client.
const IN_FLIGHT: usize = 4;
/// The goal: requests per session for the inventory, the header read included.
const GOAL: f64 = 3.0;

fn text(f: Failure) -> String {
    f.render().trim().trim_start_matches("error: ").to_string()
}

/// A client of the source emulator for its counters (`/sim/stats`, a control route the emulator does
/// not count) and its session count.
struct Probe(Client);

impl Probe {
    fn connect(url: &str) -> Result<Probe, String> {
        Client::connect("probe", &server(url), ClientOptions::default())
            .map(Probe)
            .map_err(|e| e.to_string())
    }

    fn requests(&self) -> Result<u64, String> {
        let v = self
            .0
            .get_json("/sim/stats", "reading the emulator's counters")
            .map_err(|e| e.to_string())?;
        v["requests"]
            .as_u64()
            .ok_or_else(|| "the emulator reports no request count".into())
    }

    fn sessions(&self) -> Result<u64, String> {
        let v = self
            .0
            .get_json(
                &format!("/data/projects/{SRC_PROJECT}/experiments?format=json&columns=ID,xsiType"),
                "listing the sessions",
            )
            .map_err(|e| e.to_string())?;
        let rows = v["ResultSet"]["Result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(rows
            .iter()
            .filter(|r| r["xsiType"].as_str().unwrap_or("").ends_with("SessionData"))
            .count() as u64)
    }
}

/// One measured run against the source: wall time of `work`, and the source's requests per session
/// during it.
fn measured(
    src: &SimProc,
    work: impl FnOnce() -> Result<f64, String>,
) -> Result<(f64, f64), String> {
    let probe = Probe::connect(&src.url)?;
    let sessions = probe.sessions()?.max(1);
    let before = probe.requests()?;
    let took = work()?;
    let sent = probe.requests()? - before;
    Ok((took, sent as f64 / sessions as f64))
}

/// `ferry plan` of the bench manifest from `src` into `dst`, in its own process; its wall time.
fn ferry_plan(dir: &Path, src: &str, dst: &str) -> Result<f64, String> {
    let m = dir.join("planning.yaml");
    std::fs::write(&m, manifest(src, dst)).map_err(|e| e.to_string())?;
    let ran = procs::plan(&m, &dir.join("planning.plan.yaml"))?;
    Ok(ran.took.as_secs_f64())
}

/// The plain client (`ferry bench --plain-inventory URL --jobs N`) in its own process.
fn plain_client(src: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--plain-inventory", src, "--jobs"])
        .arg(IN_FLIGHT.to_string());
    let (ran, _) = procs::run_child(cmd, "the plain inventory")?;
    Ok(ran.took.as_secs_f64())
}

/// A source world of `sessions` subjects with one session each (and the demo's few extra ones),
/// seeded once under `dir/name`; later runs restart the emulator on the same state.
fn source_root(
    dir: &Path,
    sessions: usize,
    link: Link,
) -> Result<(std::path::PathBuf, String), Failure> {
    let root = dir.join(format!("plan-{sessions}-{}", link.latency_ms));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(fail)?;
    Ok((root, format!("demo:subjects={sessions},files=1,size=8")))
}

/// Figure 3a: ferry against the plain client, time and requests per session.
fn against_plain(dir: &Path, sessions: usize) -> Result<(), Failure> {
    let link = Link {
        latency_ms: 50,
        bandwidth: 0,
    };
    let (root, seed) = source_root(dir, sessions, link)?;
    let per = RefCell::new((Samples::default(), Samples::default()));
    let mut ferry = || -> Result<f64, String> {
        let src = SimProc::start_on(&root, "source", &seed, link).map_err(text)?;
        let dst = SimProc::start_on(&root, "destination", DST_SEED, link).map_err(text)?;
        let (took, r) = measured(&src, || ferry_plan(&root, &src.url, &dst.url))?;
        per.borrow_mut().0.push(Ok(r));
        src.stop().map_err(text)?;
        dst.stop().map_err(text)?;
        Ok(took)
    };
    let mut plain = || -> Result<f64, String> {
        let src = SimProc::start_on(&root, "source", &seed, link).map_err(text)?;
        let (took, r) = measured(&src, || plain_client(&src.url))?;
        per.borrow_mut().1.push(Ok(r));
        src.stop().map_err(text)?;
        Ok(took)
    };
    let s = interleave(ROUNDS, &mut [&mut ferry, &mut plain]);
    let (ferry_req, plain_req) = per.into_inner();
    let r = ratio(&s[0], &s[1]);
    println!(
        "3a. planning {sessions} sessions at {} ms latency, {IN_FLIGHT} requests in flight: ferry plan {} s with {} source requests per session; plain client (item, scans, scan files, resources and their files, one DICOM file per session) {} s with {} requests per session; time ferry/plain {} (goal <= {GOAL} requests per session: {})",
        link.latency_ms,
        s[0].show(1, ""),
        ferry_req.show(2, ""),
        s[1].show(1, ""),
        plain_req.show(2, ""),
        show_ratio(r),
        verdict(ferry_req.median(), GOAL, false),
    );
    Ok(())
}

/// Planning on loopback at two sizes, interleaved: the time of each.
fn loopback(dir: &Path, a: usize, b: usize) -> Result<Vec<Samples>, Failure> {
    let link = Link::default();
    let worlds = [source_root(dir, a, link)?, source_root(dir, b, link)?];
    let one = |(root, seed): &(std::path::PathBuf, String)| -> Result<f64, String> {
        let src = SimProc::start_on(root, "source", seed, link).map_err(text)?;
        let dst = SimProc::start_on(root, "destination", DST_SEED, link).map_err(text)?;
        let took = ferry_plan(root, &src.url, &dst.url)?;
        src.stop().map_err(text)?;
        dst.stop().map_err(text)?;
        Ok(took)
    };
    let (mut small, mut big) = (|| one(&worlds[0]), || one(&worlds[1]));
    Ok(interleave(ROUNDS, &mut [&mut small, &mut big]))
}

/// Runs figure 3.
pub fn run(dir: &Path, quick: bool) -> Result<(), Failure> {
    against_plain(dir, if quick { 200 } else { 2000 })?;
    let (a, b) = if quick { (100, 1000) } else { (200, 2000) };
    let s = loopback(dir, a, b)?;
    let (sa, sb) = (&s[0], &s[1]);
    let per_a = sa.median().map(|m| m / a as f64);
    let per_b = sb.median().map(|m| m / b as f64);
    let growth = per_a.zip(per_b).map(|(x, y)| y / x);
    println!(
        "3b. planning on loopback: {a} subjects {} s, {b} subjects {} s; time per session grows {}x for 10x the sessions (goal <= 1.0: {})",
        sa.show(2, ""),
        sb.show(2, ""),
        show_ratio(growth),
        verdict(growth, 1.0, false)
    );
    Ok(())
}
