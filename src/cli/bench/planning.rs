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

/// What one run cost the source: the requests it answered and the sessions its project holds.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    requests: u64,
    sessions: u64,
}

impl Cost {
    fn per_session(&self) -> f64 {
        self.requests as f64 / self.sessions.max(1) as f64
    }
}

/// One measured run against the source: wall time of `work`, and what it cost the source.
fn measured(
    src: &SimProc,
    work: impl FnOnce() -> Result<f64, String>,
) -> Result<(f64, Cost), String> {
    let probe = Probe::connect(&src.url)?;
    let sessions = probe.sessions()?;
    let before = probe.requests()?;
    let took = work()?;
    let requests = probe.requests()? - before;
    Ok((took, Cost { requests, sessions }))
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
    let mut cmd = procs::ferry_command().map_err(|e| e.render())?;
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

/// The 3a sides: ferry's and the plain client's times, and what each run cost the source.
struct Against {
    times: Vec<Samples>,
    ferry: Samples,
    plain: Samples,
}

/// Figure 3a's runs: ferry against the plain client, interleaved.
fn against_plain(dir: &Path, sessions: usize, link: Link) -> Result<Against, Failure> {
    let (root, seed) = source_root(dir, sessions, link)?;
    let per = RefCell::new((Samples::default(), Samples::default()));
    let mut ferry = || -> Result<f64, String> {
        let src = SimProc::start_on(&root, "source", &seed, link).map_err(text)?;
        let dst = SimProc::start_on(&root, "destination", DST_SEED, link).map_err(text)?;
        let (took, cost) = measured(&src, || ferry_plan(&root, &src.url, &dst.url))?;
        per.borrow_mut().0.push(Ok(cost.per_session()));
        src.stop().map_err(text)?;
        dst.stop().map_err(text)?;
        Ok(took)
    };
    let mut plain = || -> Result<f64, String> {
        let src = SimProc::start_on(&root, "source", &seed, link).map_err(text)?;
        let (took, cost) = measured(&src, || plain_client(&src.url))?;
        per.borrow_mut().1.push(Ok(cost.per_session()));
        src.stop().map_err(text)?;
        Ok(took)
    };
    let times = interleave(ROUNDS, &mut [&mut ferry, &mut plain]);
    let (ferry, plain) = per.into_inner();
    Ok(Against {
        times,
        ferry,
        plain,
    })
}

/// Planning on loopback at two sizes, interleaved: the time of each, and what the last run of each
/// cost the source.
fn loopback(dir: &Path, a: usize, b: usize) -> Result<(Vec<Samples>, [Cost; 2]), Failure> {
    let link = Link::default();
    let worlds = [source_root(dir, a, link)?, source_root(dir, b, link)?];
    let costs = RefCell::new([Cost::default(); 2]);
    let one = |i: usize| -> Result<f64, String> {
        let (root, seed) = &worlds[i];
        let src = SimProc::start_on(root, "source", seed, link).map_err(text)?;
        let dst = SimProc::start_on(root, "destination", DST_SEED, link).map_err(text)?;
        let (took, cost) = measured(&src, || ferry_plan(root, &src.url, &dst.url))?;
        costs.borrow_mut()[i] = cost;
        src.stop().map_err(text)?;
        dst.stop().map_err(text)?;
        Ok(took)
    };
    let (mut small, mut big) = (|| one(0), || one(1));
    let s = interleave(ROUNDS, &mut [&mut small, &mut big]);
    Ok((s, costs.into_inner()))
}

/// Requests per added session and per run (the project-level constant), from two runs at different
/// sizes.
fn slope(c: &[Cost; 2]) -> Option<(f64, f64)> {
    let sessions = c[1]
        .sessions
        .checked_sub(c[0].sessions)
        .filter(|d| *d > 0)? as f64;
    let per = (c[1].requests as f64 - c[0].requests as f64) / sessions;
    Some((per, c[0].requests as f64 - per * c[0].sessions as f64))
}

/// Runs figure 3.
pub fn run(dir: &Path, quick: bool) -> Result<(), Failure> {
    let sessions = if quick { 200 } else { 2000 };
    let link = Link {
        latency_ms: 50,
        bandwidth: 0,
    };
    let x = against_plain(dir, sessions, link)?;
    let (a, b) = if quick { (100, 1000) } else { (200, 2000) };
    let (s, costs) = loopback(dir, a, b)?;
    let fit = slope(&costs);
    println!(
        "3a. planning {sessions} sessions at {} ms latency, {IN_FLIGHT} requests in flight: ferry plan {} s with {} source requests per session; plain client (item, scans, scan files, resources and their files, one DICOM file per session) {} s with {} requests per session; time ferry/plain {}",
        link.latency_ms,
        x.times[0].show(1, ""),
        x.ferry.show(2, ""),
        x.times[1].show(1, ""),
        x.plain.show(2, ""),
        show_ratio(ratio(&x.times[0], &x.times[1])),
    );
    println!(
        "    ferry's requests per added session, from 3b's two sizes: {} per session plus {} per run (goal <= {GOAL} per session: {})",
        fit.map_or("n/a".into(), |(p, _)| format!("{p:.2}")),
        fit.map_or("n/a".into(), |(_, k)| format!("{k:.0}")),
        verdict(fit.map(|(p, _)| p), GOAL, false),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_per_session_and_per_run_come_from_two_sizes() {
        let c = |sessions: u64, requests: u64| Cost { requests, sessions };
        assert_eq!(slope(&[c(100, 312), c(1000, 3012)]), Some((3.0, 12.0)));
        assert_eq!(slope(&[c(100, 312), c(100, 312)]), None);
        assert_eq!(c(200, 612).per_session(), 3.06);
    }
}
