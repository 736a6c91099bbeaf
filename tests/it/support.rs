//! Test support: run the `ferry` binary, and start `ferry sim` on a free loopback port in a temporary
//! folder, stopped when the handle is dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The path of the built `ferry` binary.
pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// Runs `ferry` with arguments in a directory and returns its output.
pub fn ferry_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("NETRC")
        .output()
        .expect("run ferry")
}

/// Runs `ferry` with arguments in the crate root.
pub fn ferry(args: &[&str]) -> Output {
    ferry_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `ferry sim`, killed on drop.
pub struct Sim {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The emulator's state folder.
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    child: Child,
}

impl Sim {
    /// Starts `ferry sim --port 0` in a fresh temporary folder with extra arguments
    /// (e.g. `["--seed", "demo"]`).
    pub fn start(extra: &[&str]) -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("sim");
        let mut sim = Sim::start_at(&root, extra);
        sim._dir = Some(dir);
        sim
    }

    /// Starts `ferry sim --port 0` on an existing state folder (to test restarts).
    pub fn start_at(root: &Path, extra: &[&str]) -> Sim {
        let mut child = Command::new(ferry_bin())
            .arg("sim")
            .arg("--root")
            .arg(root)
            .args(if extra.contains(&"--port") {
                &[][..]
            } else {
                &["--port", "0"][..]
            })
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ferry sim");
        let out = child.stdout.take().expect("sim stdout");
        let mut lines = BufReader::new(out).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(u) = line.strip_prefix("listening on ") {
                        break u.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("ferry sim exited before it was listening");
                }
            }
        };
        // Keep draining stdout so the emulator never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Sim {
            url,
            root: root.to_path_buf(),
            _dir: None,
            child,
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
