//! The real Python clients against `ferry sim --seed demo`: xnatpy (`xnat` on PyPI) and pyxnat run the
//! scripts in `tests/conformance/`, each asserting what it gets back. The virtual environment is created
//! under `target/conformance-venv` when missing; if PyPI cannot be reached the tests fail (never skip).
//! xnatctl and copyxnat, in their own environments, are in `conformance_peers`.

use crate::support::Sim;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Exact versions the suite was written against; pyxnat also imports nibabel and pandas.
const PACKAGES: &[&str] = &["xnat==0.8.1", "pyxnat==1.6.4", "nibabel", "pandas"];

pub fn run(cmd: &mut Command, what: &str) {
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

/// The python of the virtual environment `target/<name>`, created and given `packages` once (kept
/// across runs; `probe` is Python that succeeds when the right versions are installed).
pub fn venv(name: &str, packages: &[&str], probe: &str) -> PathBuf {
    static READY: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let lock = READY.get_or_init(|| Mutex::new(Vec::new()));
    let mut ready = lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = ready.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    let py = dir.join("bin/python");
    if !py.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            "python3 -m venv",
        );
    }
    let present = Command::new(&py)
        .args(["-c", probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        run(
            Command::new(&py)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
                .args(packages),
            &format!("pip install of {packages:?} (PyPI must be reachable)"),
        );
    }
    ready.push((name.to_string(), py.clone()));
    py
}

/// The venv's python for xnatpy and pyxnat.
fn python() -> PathBuf {
    venv(
        "conformance-venv",
        PACKAGES,
        "import xnat, pyxnat, nibabel, pandas; assert xnat.__version__ == '0.8.1'",
    )
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
