//! The processes a benchmark drives: emulators (`ferry sim`, each its own process), `ferry plan`,
//! `ferry apply` and the plain copy (`ferry bench --plain-copy`). The driver only starts, waits and
//! times them; nothing measured runs inside it.

use super::{fail, Link};
use crate::cli::Failure;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// A command running this same `ferry` binary. Backtrace capture is switched off for it: with
/// `RUST_BACKTRACE` set in the driver's environment, every error a dependency builds internally (and
/// drops) would capture a backtrace, a cost a user's run does not pay.
pub(super) fn ferry_command() -> Result<Command, Failure> {
    let mut cmd = Command::new(std::env::current_exe().map_err(fail)?);
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    Ok(cmd)
}

/// A running `ferry sim` in its own process; stopped (with SIGTERM) on [`SimProc::stop`] or drop.
pub struct SimProc {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl SimProc {
    /// Starts an emulator on a free port with a fresh state folder `dir/name`, seeded with `seed`,
    /// behind `link`.
    pub fn start(dir: &Path, name: &str, seed: &str, link: Link) -> Result<SimProc, Failure> {
        let _ = std::fs::remove_dir_all(dir.join(name));
        SimProc::start_on(dir, name, seed, link)
    }

    /// [`SimProc::start`] on the state folder `dir/name` as it is (seeded only if empty).
    pub fn start_on(dir: &Path, name: &str, seed: &str, link: Link) -> Result<SimProc, Failure> {
        let root = dir.join(name);
        let mut cmd = ferry_command()?;
        cmd.args(["sim", "--port", "0", "--root"]).arg(&root);
        // The emulator seeds only an empty folder (and refuses `--seed` on one that holds state).
        let empty = std::fs::read_dir(&root).map_or(true, |mut d| d.next().is_none());
        if empty {
            cmd.args(["--seed", seed]);
        }
        cmd.args(["--latency-ms", &link.latency_ms.to_string()]);
        if link.bandwidth > 0 {
            cmd.args(["--bandwidth", &link.bandwidth.to_string()]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(fail)?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| fail("no emulator output"))?;
        let mut lines = BufReader::new(out).lines();
        let url = match lines.next() {
            Some(Ok(l)) if l.starts_with("listening on ") => l["listening on ".len()..].to_string(),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("the emulator `{name}` did not start")));
            }
        };
        Ok(SimProc { child, lines, url })
    }

    /// Stops the emulator; the number of requests it answered.
    pub fn stop(mut self) -> Result<u64, Failure> {
        self.terminate();
        let count = self.lines.by_ref().map_while(Result::ok).find_map(|l| {
            l.strip_prefix("stopped after answering ")
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
        });
        let _ = self.child.wait();
        count.ok_or_else(|| fail("the emulator did not report its request count"))
    }

    /// CPU time the emulator has used so far (all its threads), where `/proc` tells.
    pub fn cpu(&self) -> Option<Duration> {
        super::cpu::of_process(self.child.id())
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

/// What a finished child did: its wall time, peak resident memory and CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Ran {
    /// Wall time from spawn to exit.
    pub took: Duration,
    /// Peak RSS (VmHWM) in bytes, as last seen before it exited.
    pub peak_rss: u64,
    /// CPU time (user and system, all threads), where `/proc` tells.
    pub cpu: Option<Duration>,
}

/// Runs a child to completion, timing it and sampling its peak RSS; its stdout is returned. Its CPU
/// time is what the driver's waited-for children gained meanwhile: the driver waits for no other
/// child while one runs.
pub(super) fn run_child(mut cmd: Command, what: &str) -> Result<(Ran, String), String> {
    let cpu_before = super::cpu::of_waited_children();
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let mut peak = 0u64;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_path).ok().and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        }) {
            peak = peak.max(kb * 1024);
        }
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t.elapsed();
    let cpu = super::cpu::since(cpu_before, super::cpu::of_waited_children());
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let first = err
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .or_else(|| err.lines().rfind(|l| !l.trim().is_empty()))
            .unwrap_or("");
        return Err(format!("{what} failed: {}", first.trim()));
    }
    Ok((
        Ran {
            took,
            peak_rss: peak,
            cpu,
        },
        out,
    ))
}

/// `ferry plan MANIFEST --out PLAN` in its own process.
pub fn plan(manifest: &Path, out: &Path) -> Result<Ran, String> {
    let mut cmd = ferry_command().map_err(|e| e.render())?;
    cmd.arg("plan").arg(manifest).arg("--out").arg(out);
    run_child(cmd, "ferry plan").map(|(r, _)| r)
}

/// `ferry apply PLAN --jobs N --per-server N` in its own process.
pub fn apply(plan: &Path, jobs: usize) -> Result<Ran, String> {
    let mut cmd = ferry_command().map_err(|e| e.render())?;
    cmd.arg("apply").arg(plan).args([
        "--jobs",
        &jobs.to_string(),
        "--per-server",
        &jobs.to_string(),
    ]);
    run_child(cmd, "ferry apply").map(|(r, _)| r)
}

/// What the plain copy reported: DICOM bytes and files it moved.
#[derive(Debug, Clone, Copy)]
pub struct Copied {
    /// Wall time of the process.
    pub took: Duration,
    /// CPU time of the process, where `/proc` tells.
    pub cpu: Option<Duration>,
    /// Bytes of the DICOM files moved.
    pub bytes: u64,
}

/// `ferry bench --plain-copy FROM TO --jobs N` in its own process.
pub fn plain_copy(from: &str, to: &str, jobs: usize, work: &Path) -> Result<Copied, String> {
    let mut cmd = ferry_command().map_err(|e| e.render())?;
    cmd.args([
        "bench",
        "--plain-copy",
        from,
        to,
        "--jobs",
        &jobs.to_string(),
    ])
    .arg("--dir")
    .arg(work);
    let (ran, out) = run_child(cmd, "the plain copy")?;
    let bytes = field(&out, "bytes=").ok_or("the plain copy printed no byte count")?;
    Ok(Copied {
        took: ran.took,
        cpu: ran.cpu,
        bytes: bytes as u64,
    })
}

/// The number after `key` on the last line that has it (`bytes=123 seconds=4.5`).
pub fn field(out: &str, key: &str) -> Option<f64> {
    out.lines().rev().find_map(|l| {
        l.split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    })
}
