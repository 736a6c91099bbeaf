//! `ferry bench`: seeds emulators with configurable worlds and prints the performance figures as
//! ratios against baselines measured in the same run: transfer throughput against a plain
//! download-then-upload of the same zips, parallel speed-up under latency, planning at scale, peak
//! memory at two project sizes, and hashing and header-parsing rates.

use super::{Exit, Failure};
use crate::manifest::model::{Destination, Server};
use crate::sim::{self, FaultSettings, SeedSpec, SimConfig, SimHandle};
use crate::xnat::{Client, ClientOptions, ImportTarget, InventoryOptions, NoProgress, Overwrite};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Arguments of `ferry bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Smaller worlds (a minute or two instead of several).
    #[arg(long)]
    pub quick: bool,
    /// Keep the work folder here instead of a temporary one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Skip the Python peers (they need python3 and PyPI to set up a virtual environment once).
    #[arg(long)]
    pub no_peers: bool,
}

/// The xnatpy script the peer comparison runs, built into the binary.
const XNATPY_COPY: &str = include_str!("../../benches/xnatpy_copy.py");

/// A Python with xnatpy: `FERRY_BENCH_PYTHON`, or a virtual environment made once under `target/`.
fn peer_python() -> Result<PathBuf, Failure> {
    if let Some(p) = std::env::var_os("FERRY_BENCH_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let python = venv.join("bin/python");
    let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
    // Probes say nothing: a missing module is the expected answer on a fresh machine.
    let probe = |modules: &str| {
        ok(Command::new(&python)
            .args(["-c", &format!("import {modules}")])
            .stderr(std::process::Stdio::null()))
    };
    if !probe("xnat") && !ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
        return Err(fail(
            "cannot create a Python virtual environment (python3 -m venv)",
        ));
    }
    if !probe("xnat, xnatctl")
        && !ok(Command::new(&python).args(["-m", "pip", "install", "-q", "xnat", "xnatctl"]))
    {
        return Err(fail("cannot install xnatpy and xnatctl from PyPI"));
    }
    Ok(python)
}

/// Source DICOM bytes of PILOT on a fresh emulator (what a whole-project copy moves).
fn project_bytes(handle: &SimHandle) -> Result<u64, Failure> {
    let c =
        Client::connect("local", &server(handle.url()), ClientOptions::default()).map_err(fail)?;
    let inv = c
        .inventory("PILOT", &InventoryOptions::default(), &NoProgress)
        .map_err(fail)?;
    Ok(inv.sessions().map(|(_, s)| s.byte_count()).sum())
}

/// Runs `xnatctl project transfer` (4 workers, its default) against a fresh emulator; returns MB/s.
fn xnatctl_peer(dir: &Path, world: &str) -> Result<(f64, u64, f64), Failure> {
    let python = peer_python()?;
    let bin = python.with_file_name("xnatctl");
    let s = start(dir, "peer-xnatctl", world, 0)?;
    let bytes = project_bytes(&s)?;
    let home = dir.join("xnatctl-home");
    std::fs::create_dir_all(&home).map_err(fail)?;
    let run = |args: &[&str], stdin: &str| -> Result<std::process::Output, Failure> {
        let mut child = Command::new(&bin)
            .args(args)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XNAT_USER", "admin")
            .env("XNAT_PASS", "admin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(fail)?;
        if let Some(mut i) = child.stdin.take() {
            let _ = std::io::Write::write_all(&mut i, stdin.as_bytes());
        }
        child.wait_with_output().map_err(fail)
    };
    run(
        &[
            "config",
            "init",
            "--url",
            s.url(),
            "--profile",
            "src",
            "--no-login",
        ],
        "",
    )?;
    run(&["config", "add-profile", "dst", "--url", s.url()], "")?;
    let t = Instant::now();
    let out = run(
        &[
            "project",
            "transfer",
            "-P",
            "PILOT",
            "--dest-profile",
            "dst",
            "--dest-project",
            "MAIN",
            "-p",
            "src",
            "-y",
            "--dest-pass-stdin",
        ],
        "admin\n",
    )?;
    let secs = t.elapsed().as_secs_f64();
    s.shutdown();
    if !out.status.success() {
        return Err(fail(format!(
            "xnatctl failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    Ok((bytes as f64 / 1e6 / secs.max(1e-9), bytes, secs))
}

/// Runs the xnatpy copy against a fresh emulator; returns MB/s.
fn xnatpy_peer(dir: &Path, world: &str) -> Result<(f64, u64, f64), Failure> {
    let python = peer_python()?;
    let script = dir.join("xnatpy_copy.py");
    std::fs::write(&script, XNATPY_COPY).map_err(fail)?;
    let s = start(dir, "peer-xnatpy", world, 0)?;
    let work = dir.join("peer-work");
    std::fs::create_dir_all(&work).map_err(fail)?;
    let out = Command::new(python)
        .arg(&script)
        .args([s.url(), "admin", "admin", "PILOT", "MAIN"])
        .arg(&work)
        .output()
        .map_err(fail)?;
    s.shutdown();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("bytes="))
        .ok_or_else(|| {
            fail(format!(
                "the xnatpy script failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (bytes, secs) = (field("bytes="), field("seconds="));
    Ok((bytes / 1e6 / secs.max(1e-9), bytes as u64, secs))
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::msg(Exit::Runtime, format!("benchmark failed: {e}"))
}

fn start(dir: &Path, name: &str, seed: &str, latency_ms: u64) -> Result<SimHandle, Failure> {
    let spec = SeedSpec::parse(seed).map_err(fail)?;
    sim::start(SimConfig {
        root: dir.join(name),
        seed: Some(spec),
        faults: FaultSettings {
            latency_ms,
            ..FaultSettings::default()
        },
        ..SimConfig::default()
    })
    .map_err(fail)
}

fn server(url: &str) -> Server {
    Server {
        url: url.to_string(),
        user_env: Some("FERRY_BENCH_USER".into()),
        password_env: Some("FERRY_BENCH_PASS".into()),
        token_env: None,
        allow_http: false,
    }
}

fn manifest(url: &str) -> String {
    format!(
        r#"version: 1
servers:
  local: {{ url: "{url}", user_env: FERRY_BENCH_USER, password_env: FERRY_BENCH_PASS }}
transfers:
  - name: bench
    mode: copy
    from: {{ server: local, project: PILOT }}
    to: {{ server: local, project: MAIN }}
    select: {{ scan_types: {{ exclude: ["localizer*"] }} }}
    map:
      subject: "B_{{{{ subject.label }}}}"
      session: "B_{{{{ session.label }}}}"
    dicom:
      set:
        PatientID: "{{{{ dest.subject }}}}"
        PatientName: "{{{{ dest.subject }}}}"
        StudyDescription: "xnat://{{{{ dest.project }}}}/{{{{ dest.subject }}}}/{{{{ dest.session }}}}"
    policy: {{ conflict: skip, destination: archive, anonymization: "off", verify: full }}
"#
    )
}

/// Plans the bench manifest against a sim; returns the plan path and the bytes it moves.
fn plan(dir: &Path, handle: &SimHandle, name: &str) -> Result<(PathBuf, u64, Duration), Failure> {
    let m = dir.join(format!("{name}.yaml"));
    std::fs::write(&m, manifest(handle.url())).map_err(fail)?;
    let t = Instant::now();
    let p = super::plan::make_plan(&m, &ClientOptions::default())?;
    let took = t.elapsed();
    let out = dir.join(format!("{name}.plan.yaml"));
    super::plan::write_plan(&out, &p)?;
    Ok((out, p.summary.bytes, took))
}

/// Runs `ferry apply` as a child process; returns wall time and peak RSS in bytes.
fn apply(plan: &Path, jobs: usize) -> Result<(Duration, u64), Failure> {
    let exe = std::env::current_exe().map_err(fail)?;
    let t = Instant::now();
    let mut child = Command::new(exe)
        .args([
            "apply",
            &plan.display().to_string(),
            "--jobs",
            &jobs.to_string(),
            "--per-server",
            &jobs.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(fail)?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
        }
        if let Some(status) = child.try_wait().map_err(fail)? {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(fail(format!("apply failed: {err}")));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((t.elapsed(), peak))
}

/// The baseline: the same sessions' zips downloaded and uploaded as they are, `jobs` at a time.
fn baseline(dir: &Path, handle: &SimHandle, jobs: usize) -> Result<(Duration, u64), Failure> {
    // Timed from the login on, as ferry's apply is (a real script must list the sessions too).
    let t = Instant::now();
    let c = Client::connect(
        "local",
        &server(handle.url()),
        ClientOptions {
            max_in_flight: jobs,
            ..ClientOptions::default()
        },
    )
    .map_err(fail)?;
    let inv = c
        .inventory("PILOT", &InventoryOptions::default(), &NoProgress)
        .map_err(fail)?;
    let work: Vec<(String, String, Vec<String>)> = inv
        .sessions()
        .map(|(s, e)| {
            let scans = e
                .scans
                .values()
                .filter(|x| !x.scan_type.starts_with("localizer"))
                .map(|x| x.id.clone())
                .collect();
            (s.label.clone(), e.label.clone(), scans)
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let bytes = std::sync::atomic::AtomicU64::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..jobs {
            let (c, work, next, bytes, errors) = (&c, &work, &next, &bytes, &errors);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((subject, session, scans)) = work.get(i) else {
                    return;
                };
                let zip = dir.join(format!("baseline-{w}.zip"));
                let r = c
                    .download_session("PILOT", subject, session, scans, &zip, &mut |_| {})
                    .and_then(|d| {
                        bytes.fetch_add(d.bytes, std::sync::atomic::Ordering::SeqCst);
                        c.import_zip(
                            &zip,
                            &ImportTarget {
                                project: "MAIN".into(),
                                subject: format!("R_{subject}"),
                                session: format!("R_{session}"),
                                destination: Destination::Archive,
                                overwrite: Overwrite::None,
                            },
                            &mut |_| {},
                        )
                    });
                if let Err(e) = r {
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string());
                }
            });
        }
    });
    if let Some(e) = errors
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .first()
    {
        return Err(fail(e));
    }
    Ok((t.elapsed(), bytes.into_inner()))
}

/// Sets the emulator's latency through its control route (the emulator's own API, not XNAT's).
fn set_latency(handle: &SimHandle, ms: u64) -> Result<(), Failure> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .put(format!("{}/sim/faults?latency_ms={ms}", handle.url()))
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .send_empty()
        .map_err(fail)?;
    if r.status().as_u16() != 200 {
        return Err(fail(format!(
            "the emulator refused the latency setting ({})",
            r.status()
        )));
    }
    Ok(())
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9)
}

fn rates() -> (f64, f64, f64) {
    let mut spec = crate::dicom::synth::Spec::new(1);
    spec.size = 512;
    let files: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            spec.seed = i;
            spec.sop_uid = format!("1.2.3.{i}");
            crate::dicom::synth::file(&spec)
        })
        .collect();
    let total: u64 = files.iter().map(|f| f.len() as u64).sum();
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..5 {
        for f in &files {
            if crate::dicom::read_header_bytes(f).is_ok() {
                n += 1;
            }
        }
    }
    let parse = t.elapsed();
    let buf = vec![7u8; 256 * 1024 * 1024];
    let t = Instant::now();
    let h = blake3::hash(&buf);
    let hash = t.elapsed();
    std::hint::black_box(h);
    (
        n as f64 / parse.as_secs_f64(),
        (total * 5) as f64 / 1e6 / parse.as_secs_f64(),
        buf.len() as f64 / 1e6 / hash.as_secs_f64(),
    )
}

/// Runs `ferry bench`.
pub fn run(args: Args) -> Result<(), Failure> {
    let temp = tempfile::tempdir().map_err(fail)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(fail)?;
    std::env::set_var("FERRY_BENCH_USER", "admin");
    std::env::set_var("FERRY_BENCH_PASS", "admin");
    let q = args.quick;
    println!(
        "ferry bench{} — {} cores",
        if q { " --quick" } else { "" },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // 5. Rates.
    let (files_s, parse_mb, blake_mb) = rates();
    println!("5. header parsing: {files_s:.0} files/s ({parse_mb:.0} MB/s of 512 kB files); blake3: {blake_mb:.0} MB/s");

    // 1. Throughput against the plain download-then-upload baseline.
    let world = if q {
        "demo:subjects=6,files=10,size=256"
    } else {
        "demo:subjects=12,files=20,size=256"
    };
    let a = start(&dir, "tp-baseline", world, 0)?;
    let (bt, bbytes) = baseline(&dir, &a, 4)?;
    a.shutdown();
    let b = start(&dir, "tp-ferry", world, 0)?;
    let (p, pbytes, _) = plan(&dir, &b, "tp")?;
    let (ft, _) = apply(&p, 4)?;
    b.shutdown();
    let (base, fer) = (mbps(bbytes, bt), mbps(pbytes, ft));
    println!(
        "1. throughput: ferry apply {fer:.1} MB/s ({} in {:.2}s, rewrite + upload + read-back verification) vs plain download+upload {base:.1} MB/s ({:.2}s): ratio {:.2} (goal >= 0.8)",
        crate::exec::apply::human_bytes(pbytes), ft.as_secs_f64(), bt.as_secs_f64(), fer / base
    );

    // 6. The Python peer on the same world.
    if !args.no_peers {
        match xnatpy_peer(&dir, world) {
            Ok((rate, bytes, secs)) => println!(
                "6. peer: plain xnatpy script (download each session zip, upload it through the import service, one at a time, no rewrite, no verification) {rate:.1} MB/s ({} in {secs:.2}s): ferry / xnatpy = {:.2}",
                crate::exec::apply::human_bytes(bytes),
                fer / rate
            ),
            Err(e) => println!("6. peer: xnatpy script not run: {}", e.render().trim()),
        }
        match xnatctl_peer(&dir, world) {
            Ok((rate, bytes, secs)) => println!(
                "   peer: xnatctl project transfer (4 workers) {rate:.2} MB/s ({} in {secs:.2}s): ferry / xnatctl = {:.1}",
                crate::exec::apply::human_bytes(bytes),
                fer / rate
            ),
            Err(e) => println!("   peer: xnatctl not run: {}", e.render().trim()),
        }
        println!("   peer: copyxnat 0.9.6 not timed: it pauses 30 s after each session by design (its conformance test copies a project)");
    }

    // 2. Parallel speed-up under 50 ms latency.
    let world = if q {
        "demo:subjects=6,files=3"
    } else {
        "demo:subjects=10,files=4"
    };
    let s1 = start(&dir, "par-1", world, 0)?;
    let (p1, _, _) = plan(&dir, &s1, "par1")?;
    set_latency(&s1, 50)?;
    let (t1, _) = apply(&p1, 1)?;
    s1.shutdown();
    let s8 = start(&dir, "par-8", world, 0)?;
    let (p8, _, _) = plan(&dir, &s8, "par8")?;
    set_latency(&s8, 50)?;
    let (t8, _) = apply(&p8, 8)?;
    s8.shutdown();
    println!(
        "2. speed-up at 50 ms latency: --jobs 1 {:.2}s, --jobs 8 {:.2}s: {:.1}x (goal >= 5x)",
        t1.as_secs_f64(),
        t8.as_secs_f64(),
        t1.as_secs_f64() / t8.as_secs_f64()
    );

    // 3. Planning scale.
    let (small, large) = if q { (200, 2000) } else { (1000, 10000) };
    let mut times = Vec::new();
    for n in [small, large] {
        let s = start(
            &dir,
            &format!("scale-{n}"),
            &format!("demo:subjects={n},files=1,size=16"),
            0,
        )?;
        let (_, _, took) = plan(&dir, &s, &format!("scale{n}"))?;
        s.shutdown();
        times.push((n, took));
    }
    let per = |(n, d): (usize, Duration)| d.as_secs_f64() / n as f64;
    println!(
        "3. planning (inventory with headers + plan): {} sessions {:.2}s, {} sessions {:.2}s; time per session grows {:.2}x for 10x the sessions (goal <= 1.0, plan < 60 s)",
        times[0].0, times[0].1.as_secs_f64(), times[1].0, times[1].1.as_secs_f64(), per(times[1]) / per(times[0])
    );

    // 4. Peak memory at two sizes.
    let (w_small, w_large) = if q {
        (
            "demo:subjects=2,files=10,size=512",
            "demo:subjects=6,files=30,size=512",
        )
    } else {
        // About 200 MB and 2 GB: the same sessions, ten times the files in each.
        (
            "demo:subjects=20,files=8,size=512",
            "demo:subjects=20,files=80,size=512",
        )
    };
    let mut rss = Vec::new();
    for (name, w) in [("mem-small", w_small), ("mem-large", w_large)] {
        let s = start(&dir, name, w, 0)?;
        let (p, bytes, _) = plan(&dir, &s, name)?;
        let (_, peak) = apply(&p, 4)?;
        s.shutdown();
        rss.push((bytes, peak));
    }
    println!(
        "4. peak RSS of apply: {} project {:.0} MB, {} project {:.0} MB: ratio {:.2} (goal: within 20%, under 200 MB)",
        crate::exec::apply::human_bytes(rss[0].0), rss[0].1 as f64 / 1e6, crate::exec::apply::human_bytes(rss[1].0), rss[1].1 as f64 / 1e6,
        rss[1].1 as f64 / rss[0].1.max(1) as f64
    );
    Ok(())
}
