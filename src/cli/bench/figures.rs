//! What `ferry bench` measures and prints. Each figure starts its own emulators (a source that every
//! sample reads, and a fresh destination per sample), runs its sides interleaved, and prints medians
//! with ranges and the ratios the goals speak of, with whether each goal was met in this run.

use super::cpu::{self, Split};
use super::procs::{self, SimProc};
use super::stats::{interleave, ratio, show_ratio, verdict, Samples};
use super::{fail, manifest, peers, Link, ROUNDS};
use crate::cli::Failure;
use crate::plan::human_bytes;
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The destination every sample copies into: the smallest demo world (it has the MAIN project).
const DST_SEED: &str = "demo:subjects=1,files=1,size=8";
/// Sessions ferry and the parallel plain copy move at once.
pub(super) const JOBS: usize = 4;
/// The modelled WAN: 50 ms per request and 8 MB/s per site, far below loopback.
const WAN: Link = Link {
    latency_ms: 50,
    bandwidth: 8_000_000,
};

fn text(f: Failure) -> String {
    f.render().trim().trim_start_matches("error: ").to_string()
}

/// A fresh destination emulator for one sample.
fn fresh_destination(dir: &Path, link: Link) -> Result<SimProc, String> {
    SimProc::start(dir, "destination", DST_SEED, link).map_err(text)
}

/// Plans the bench manifest from `src` into `dst` (its own process, not timed); the plan's path and
/// summary.
fn plan_copy(
    dir: &Path,
    src: &str,
    dst: &str,
) -> Result<(std::path::PathBuf, crate::plan::Summary), String> {
    let n = fresh_plan_number(dir);
    let m = dir.join(format!("bench-{n}.yaml"));
    std::fs::write(&m, manifest(src, dst)).map_err(|e| e.to_string())?;
    let p = dir.join(format!("bench-{n}.plan.yaml"));
    procs::plan(&m, &p)?;
    let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
    let plan = crate::plan::from_yaml(&text, &p).map_err(|e| e.to_string())?;
    Ok((p, plan.summary))
}

/// A number for the next bench plan that no earlier plan in `dir` had (of this run or of an earlier
/// bench run into the same folder), so no journal of another plan is ever found and nothing is
/// removed.
fn fresh_plan_number(dir: &Path) -> usize {
    static PLANS: AtomicUsize = AtomicUsize::new(0);
    let taken = |n: usize| {
        ["yaml", "plan.yaml", "plan.yaml.journal"]
            .iter()
            .any(|ext| dir.join(format!("bench-{n}.{ext}")).exists())
    };
    let mut n = PLANS.fetch_add(1, Ordering::SeqCst);
    while taken(n) {
        n = PLANS.fetch_add(1, Ordering::SeqCst);
    }
    n
}

/// Runs the figures numbered in `only` (every figure when it is empty).
pub fn all(dir: &Path, quick: bool, with_peers: bool, only: &[u8]) -> Result<(), Failure> {
    let on = |n: u8| only.is_empty() || only.contains(&n);
    let list: Vec<String> = only.iter().map(u8::to_string).collect();
    println!(
        "ferry bench{}{}",
        if quick { " --quick" } else { "" },
        if list.is_empty() {
            String::new()
        } else {
            format!(" --figures {}", list.join(","))
        }
    );
    super::machine(dir);
    if on(0) {
        super::rates::rates();
    }
    if on(1) {
        throughputs(dir, quick, with_peers)?;
    }
    if on(2) {
        speedup(dir, quick)?;
    }
    if on(3) {
        super::planning::run(dir, quick)?;
    }
    if on(4) {
        memory(dir, quick)?;
    }
    if on(5) {
        super::large::run(dir, quick)?;
    }
    if on(6) {
        super::scheduling::run(quick);
    }
    Ok(())
}

/// Figures 1a to 1d: throughput on loopback and on the modelled WAN, large and small files.
fn throughputs(dir: &Path, quick: bool, with_peers: bool) -> Result<(), Failure> {
    let python = if with_peers {
        match peers::python() {
            Ok(p) => Some(p),
            Err(e) => {
                println!("peers: not run: {}", text(e));
                None
            }
        }
    } else {
        None
    };
    let (big, small) = if quick {
        (
            "demo:subjects=4,files=10,size=256",
            "demo:subjects=4,files=60,size=64",
        )
    } else {
        (
            "demo:subjects=12,files=20,size=256",
            "demo:subjects=8,files=150,size=64",
        )
    };
    let loopback = Link::default();
    let py = python.as_deref();
    throughput(dir, "1a. loopback, 128 kB files", big, loopback, py)?;
    throughput(dir, "1b. loopback, 8 kB files", small, loopback, None)?;
    let wan = format!(
        "1c. modelled WAN ({} ms, {} MB/s per site), 128 kB files",
        WAN.latency_ms,
        WAN.bandwidth as f64 / 1e6
    );
    throughput(dir, &wan, big, WAN, py)?;
    let wan8 = wan.replace("1c.", "1d.").replace("128 kB", "8 kB");
    throughput(dir, &wan8, small, WAN, None)
}

/// One throughput figure: plain copy one and [`JOBS`] sessions at a time, ferry, and the peers.
fn throughput(
    dir: &Path,
    title: &str,
    seed: &str,
    link: Link,
    python: Option<&Path>,
) -> Result<(), Failure> {
    let src = SimProc::start(dir, "source", seed, link)?;
    let (s, moved, splits) = sample_throughput(dir, (&src, link), python);
    src.stop()?;
    println!("{title} ({seed}), MB/s:");
    print_plain_and_ferry(&s, &moved);
    let l = limit(&s);
    let failed = s[l].error.is_some() || s[2].error.is_some();
    for line in cpu::lines(&splits[l], &splits[2], super::cores(), failed) {
        println!("{line}");
    }
    if python.is_some() {
        print_peers(&s, &moved);
    }
    Ok(())
}

/// Runs the sides of one throughput figure interleaved against the source emulator, each into a
/// fresh destination: MB/s per side, the bytes each side moved (plain copy one and [`JOBS`]
/// sessions at a time, ferry, then xnatpy and xnatctl when `python` is given), and where the CPU of
/// the plain copies' and ferry's samples went.
fn sample_throughput(
    dir: &Path,
    (src, link): (&SimProc, Link),
    python: Option<&Path>,
) -> (Vec<Samples>, [u64; 5], [Split; 3]) {
    let (seq_bytes, par_bytes, ferry_bytes) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let (py_bytes, ctl_bytes) = (Cell::new(0), Cell::new(0));
    let splits: [RefCell<Split>; 3] = Default::default();
    // The emulators' CPU over a run of the client: from just before it starts to its exit.
    let emulators = |dst: &SimProc| (src.cpu(), dst.cpu());
    let record = |side: usize, (took, client), (s0, d0), dst: &SimProc| {
        let (s1, d1) = emulators(dst);
        splits[side]
            .borrow_mut()
            .record(took, [client, cpu::since(s0, s1), cpu::since(d0, d1)]);
    };
    let plain = |jobs: usize, moved: &Cell<u64>, side: usize| -> Result<f64, String> {
        let dst = fresh_destination(dir, link)?;
        let before = emulators(&dst);
        let c = procs::plain_copy(&src.url, &dst.url, jobs, dir)?;
        record(side, (c.took, c.cpu), before, &dst);
        moved.set(c.bytes);
        dst.stop().map_err(text)?;
        Ok(c.bytes as f64 / 1e6 / c.took.as_secs_f64())
    };
    let mut seq = || plain(1, &seq_bytes, 0);
    let mut par = || plain(JOBS, &par_bytes, 1);
    let mut ferry = || -> Result<f64, String> {
        let dst = fresh_destination(dir, link)?;
        let (plan, summary) = plan_copy(dir, &src.url, &dst.url)?;
        let bytes = summary.bytes;
        let before = emulators(&dst);
        let ran = procs::apply(&plan, JOBS)?;
        record(2, (ran.took, ran.cpu), before, &dst);
        ferry_bytes.set(bytes);
        dst.stop().map_err(text)?;
        Ok(bytes as f64 / 1e6 / ran.took.as_secs_f64())
    };
    let mut xnatpy = || -> Result<f64, String> {
        let py = python.ok_or("not run")?;
        let dst = fresh_destination(dir, link)?;
        let (b, secs) = peers::xnatpy(py, dir, &src.url, &dst.url)?;
        py_bytes.set(b);
        dst.stop().map_err(text)?;
        Ok(b as f64 / 1e6 / secs)
    };
    let mut xnatctl = || -> Result<f64, String> {
        let py = python.ok_or("not run")?;
        let dst = fresh_destination(dir, link)?;
        let (b, secs) = peers::xnatctl(py, dir, &src.url, &dst)?;
        ctl_bytes.set(b);
        dst.stop().map_err(text)?;
        Ok(b as f64 / 1e6 / secs)
    };
    let mut sides: Vec<&mut dyn FnMut() -> Result<f64, String>> =
        vec![&mut seq, &mut par, &mut ferry];
    if python.is_some() {
        sides.push(&mut xnatpy);
        sides.push(&mut xnatctl);
    }
    let s = interleave(ROUNDS, &mut sides);
    drop(sides);
    let moved = [seq_bytes, par_bytes, ferry_bytes, py_bytes, ctl_bytes].map(Cell::into_inner);
    (s, moved, splits.map(RefCell::into_inner))
}

/// Which plain copy sets the limit: the one at a time (0) when it is at least as fast as the one
/// with [`JOBS`] at a time (1).
fn limit(s: &[Samples]) -> usize {
    if ratio(&s[0], &s[1]).is_some_and(|r| r >= 1.0) {
        0
    } else {
        1
    }
}

/// Prints the plain copy's and ferry's lines of a throughput figure and ferry's ratio to the better
/// plain copy, against the goal of 0.8.
fn print_plain_and_ferry(s: &[Samples], moved: &[u64; 5]) {
    let [seq_bytes, par_bytes, ferry_bytes, ..] = *moved;
    println!(
        "   plain copy, 1 session at a time:  {}, moved {}",
        s[0].show(1, ""),
        human_bytes(seq_bytes)
    );
    println!(
        "   plain copy, {JOBS} sessions at a time: {}, moved {}",
        s[1].show(1, ""),
        human_bytes(par_bytes)
    );
    println!(
        "   ferry apply --jobs {JOBS} (rewrite, verify: full): {}, moved {}",
        s[2].show(1, ""),
        human_bytes(ferry_bytes)
    );
    let r = ratio(&s[2], &s[limit(s)]);
    let same = seq_bytes == ferry_bytes && par_bytes == ferry_bytes;
    println!(
        "   ferry / best plain copy = {} (goal >= 0.8: {}){}",
        show_ratio(r),
        verdict(r, 0.8, true),
        if same {
            ""
        } else {
            "; the sides moved different bytes: compare with care"
        }
    );
}

/// Prints the peers' lines of a throughput figure: xnatpy against ferry's goal of 1.0, and xnatctl.
fn print_peers(s: &[Samples], moved: &[u64; 5]) {
    let [.., py_bytes, ctl_bytes] = *moved;
    let r = ratio(&s[2], &s[3]);
    println!(
        "   peer: xnatpy script (1 session at a time, no rewrite, no verification): {}, moved {}; ferry / xnatpy = {} (goal >= 1.0: {})",
        s[3].show(1, ""), human_bytes(py_bytes), show_ratio(r), verdict(r, 1.0, true)
    );
    println!(
        "   peer: xnatctl project transfer (whole project, its defaults): {}, moved {}; ferry / xnatctl = {}",
        s[4].show(1, ""), human_bytes(ctl_bytes), show_ratio(ratio(&s[2], &s[4]))
    );
}

/// `--jobs 1` against `--jobs 8` at 50 ms latency.
fn speedup(dir: &Path, quick: bool) -> Result<(), Failure> {
    let seed = if quick {
        "demo:subjects=6,files=3"
    } else {
        "demo:subjects=10,files=4"
    };
    let link = Link {
        latency_ms: 50,
        bandwidth: 0,
    };
    let src = SimProc::start(dir, "source", seed, link)?;
    let run = |jobs: usize| -> Result<f64, String> {
        let dst = fresh_destination(dir, link)?;
        let (plan, _) = plan_copy(dir, &src.url, &dst.url)?;
        let ran = procs::apply(&plan, jobs)?;
        dst.stop().map_err(text)?;
        Ok(ran.took.as_secs_f64())
    };
    let s = interleave(ROUNDS, &mut [&mut || run(1), &mut || run(8)]);
    src.stop()?;
    let r = ratio(&s[0], &s[1]);
    println!(
        "2. speed-up at 50 ms latency ({seed}), seconds: --jobs 1 {}, --jobs 8 {}: {}x (goal >= 5: {})",
        s[0].show(2, ""),
        s[1].show(2, ""),
        show_ratio(r),
        verdict(r, 5.0, true)
    );
    Ok(())
}

/// Peak RSS of `ferry apply` at two project sizes (one run each: memory, not time).
fn memory(dir: &Path, quick: bool) -> Result<(), Failure> {
    let sizes = if quick {
        [
            "demo:subjects=2,files=10,size=512",
            "demo:subjects=6,files=30,size=512",
        ]
    } else {
        [
            "demo:subjects=20,files=8,size=512",
            "demo:subjects=20,files=80,size=512",
        ]
    };
    let mut seen = Vec::new();
    for seed in sizes {
        let src = SimProc::start(dir, "source", seed, Link::default())?;
        let dst = SimProc::start(dir, "destination", DST_SEED, Link::default())?;
        let (plan, summary) = plan_copy(dir, &src.url, &dst.url).map_err(fail)?;
        let bytes = summary.bytes;
        let ran = procs::apply(&plan, JOBS).map_err(fail)?;
        dst.stop()?;
        src.stop()?;
        seen.push((bytes, ran.peak_rss));
    }
    let r = seen[1].1 as f64 / seen[0].1.max(1) as f64;
    println!(
        "4. peak RSS of ferry apply (one run each): {} project {:.1} MB, {} project {:.1} MB: ratio {r:.2} (goal: within 1.2 and under 200 MB: {})",
        human_bytes(seen[0].0),
        seen[0].1 as f64 / 1e6,
        human_bytes(seen[1].0),
        seen[1].1 as f64 / 1e6,
        if r <= 1.2 && seen[1].1 < 200_000_000 { "met" } else { "NOT met" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bench_plan_never_takes_the_name_of_an_earlier_runs_plan() {
        let dir = tempfile::tempdir().unwrap();
        let first = fresh_plan_number(dir.path());
        for (k, ext) in ["yaml", "plan.yaml", "plan.yaml.journal"]
            .iter()
            .enumerate()
        {
            std::fs::write(
                dir.path().join(format!("bench-{}.{ext}", first + 1 + k)),
                "",
            )
            .unwrap();
        }
        let next = fresh_plan_number(dir.path());
        assert!(next > first + 3, "{first} then {next}");
    }
}
