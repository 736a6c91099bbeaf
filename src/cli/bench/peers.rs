//! Peers on the same selection: the plain xnatpy script in `benches/` and `xnatctl project transfer`,
//! each run as its own process against a fresh destination emulator. Each is reported on the bytes it
//! moved itself; a peer that fails is reported as an error.

use super::procs::{field, SimProc};
use super::{fail, server, DST_PROJECT, SRC_PROJECT};
use crate::cli::Failure;
use crate::xnat::{Client, ClientOptions, InventoryOptions, NoProgress};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The xnatpy script, built into the binary.
const XNATPY_COPY: &str = include_str!("../../../benches/xnatpy_copy.py");

/// A Python with xnatpy and xnatctl: `FERRY_BENCH_PYTHON`, or a virtual environment made once under
/// `target/`.
pub fn python() -> Result<PathBuf, Failure> {
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
            .stderr(Stdio::null()))
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

/// One peer run: the bytes it moved and the seconds it took.
pub type Moved = (u64, f64);

/// Runs the xnatpy script from `src` into a fresh destination; bytes and seconds as it reports them
/// (timed from its first login, so the interpreter's start is not counted against it).
pub fn xnatpy(python: &Path, dir: &Path, src: &str, dst: &str) -> Result<Moved, String> {
    let script = dir.join("xnatpy_copy.py");
    std::fs::write(&script, XNATPY_COPY).map_err(|e| e.to_string())?;
    let work = dir.join("xnatpy-work");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let out = Command::new(python)
        .arg(&script)
        .args([src, dst, "admin", "admin", SRC_PROJECT, DST_PROJECT])
        .arg(&work)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    match (
        out.status.success(),
        field(&text, "bytes="),
        field(&text, "seconds="),
    ) {
        (true, Some(b), Some(s)) => Ok((b as u64, s)),
        _ => Err(format!(
            "the xnatpy script failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        )),
    }
}

fn last_line(s: &str) -> &str {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// DICOM bytes the destination project holds.
fn held(url: &str) -> Result<u64, String> {
    let c = Client::connect("peer-destination", &server(url), ClientOptions::default())
        .map_err(|e| e.to_string())?;
    let inv = c
        .inventory(
            DST_PROJECT,
            &InventoryOptions { headers: false },
            &NoProgress,
        )
        .map_err(|e| e.to_string())?;
    c.logout();
    Ok(inv.sessions().map(|(_, s)| s.byte_count()).sum())
}

/// Runs `xnatctl project transfer` (its defaults) from `src` into the fresh destination `dst`;
/// the bytes are what arrived at the destination, the time the process's wall time.
pub fn xnatctl(python: &Path, dir: &Path, src: &str, dst: &SimProc) -> Result<Moved, String> {
    let bin = python.with_file_name("xnatctl");
    let home = dir.join("xnatctl-home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let run = |args: &[&str], stdin: &str| -> Result<std::process::Output, String> {
        let mut child = Command::new(&bin)
            .args(args)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XNAT_USER", "admin")
            .env("XNAT_PASS", "admin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("xnatctl: {e}"))?;
        if let Some(mut i) = child.stdin.take() {
            let _ = std::io::Write::write_all(&mut i, stdin.as_bytes());
        }
        child.wait_with_output().map_err(|e| e.to_string())
    };
    let init = [
        "config",
        "init",
        "--url",
        src,
        "--profile",
        "src",
        "--no-login",
    ];
    run(&init, "")?;
    run(&["config", "add-profile", "dst", "--url", &dst.url], "")?;
    let before = held(&dst.url)?;
    let t = Instant::now();
    let out = run(
        &[
            "project",
            "transfer",
            "-P",
            SRC_PROJECT,
            "--dest-profile",
            "dst",
            "--dest-project",
            DST_PROJECT,
            "-p",
            "src",
            "-y",
            "--dest-pass-stdin",
        ],
        "admin\n",
    )?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("xnatctl failed: {}", last_line(&err)));
    }
    let moved = held(&dst.url)?.saturating_sub(before);
    if moved == 0 {
        return Err("xnatctl exited 0 but the destination holds no new files".into());
    }
    Ok((moved, secs))
}
