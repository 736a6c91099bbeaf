//! The real Python clients against `ferry sim --seed demo`: xnatpy (`xnat` on PyPI) and pyxnat run the
//! scripts in `tests/conformance/`, each asserting what it gets back. The virtual environment is created
//! under `target/conformance-venv` when missing; if PyPI cannot be reached the tests fail (never skip).

use crate::support::Sim;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Exact versions the suite was written against; pyxnat also imports nibabel and pandas.
const PACKAGES: &[&str] = &["xnat==0.8.1", "pyxnat==1.6.4", "nibabel", "pandas"];

fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/conformance-venv")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The venv's python, creating the venv and installing the clients once per test run if needed.
fn python() -> PathBuf {
    static READY: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let lock = READY.get_or_init(|| Mutex::new(None));
    let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return p.clone();
    }
    let dir = venv_dir();
    let py = dir.join("bin/python");
    if !py.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            "python3 -m venv",
        );
    }
    let present = Command::new(&py)
        .args([
            "-c",
            "import xnat, pyxnat, nibabel, pandas; assert xnat.__version__ == '0.8.1'",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        run(
            Command::new(&py)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
                .args(PACKAGES),
            "pip install of the conformance clients (PyPI must be reachable)",
        );
    }
    *guard = Some(py.clone());
    py
}

/// Runs one script against a fresh demo world and checks every step reported `ok`.
fn conformance(script: &str, steps: &[&str]) {
    let py = python();
    let sim = Sim::start(&["--seed", "demo"]);
    let work = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(script);
    let out = Command::new(py)
        .arg(&path)
        .arg(&sim.url)
        .arg(work.path())
        .env("HOME", work.path())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    for step in steps {
        assert!(
            stdout.lines().any(|l| l == format!("ok {step}")),
            "{script}: step `{step}` did not pass:\n{stdout}\n{stderr}"
        );
    }
}

#[test]
fn xnatpy_works_against_the_emulator() {
    conformance(
        "xnatpy_ops.py",
        &[
            "connect",
            "list every level",
            "download scan zip",
            "import into prearchive",
            "archive from prearchive",
            "import into archive",
            "share session",
            "delete session",
        ],
    );
}

#[test]
fn pyxnat_works_against_the_emulator() {
    conformance(
        "pyxnat_ops.py",
        &[
            "connect",
            "list every level",
            "download scan zip",
            "import into prearchive",
            "archive from prearchive",
            "share session",
            "delete session",
        ],
    );
}
