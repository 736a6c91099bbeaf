//! `ferry bench`: performance figures measured against baselines in the same run. The driver (this
//! process) only starts, times and stops other processes: every emulator is its own `ferry sim`,
//! ferry runs as `ferry plan` and `ferry apply`, the limit as `ferry bench --plain-copy`, the peers as
//! their own programs. Every timed figure runs each side [`ROUNDS`] times interleaved and prints the
//! median with its range and the ratio of medians; a side that fails is printed as an error.
//!
//! Files: [`stats`] (samples and their summary), [`procs`] (the child processes), [`cpu`] (where
//! the CPU of a throughput sample went), [`copy`] (the plain copy), [`peers`] (xnatpy, xnatctl),
//! [`figures`] (what is measured and printed), [`planning`] (figure 3: planning at scale) with
//! [`plainlist`] (its plain client), [`large`] (figure 5: memory against the size of one file),
//! [`scheduling`] (figure 6: choosing steps at scale, in the driver's process like figure 0).

mod copy;
mod cpu;
mod figures;
mod large;
mod peers;
mod plainlist;
mod planning;
mod procs;
mod rates;
mod scheduling;
mod stats;

use super::{Exit, Failure};
use crate::manifest::model::Server;
use std::path::{Path, PathBuf};

/// Samples per side of every timed figure.
pub const ROUNDS: usize = 5;
/// The project every figure copies from.
pub const SRC_PROJECT: &str = "PILOT";
/// The project every figure copies into.
pub const DST_PROJECT: &str = "MAIN";

/// Arguments of `ferry bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Smaller worlds (a few minutes instead of a quarter of an hour).
    #[arg(long)]
    pub quick: bool,
    /// Keep the work folder here instead of a temporary one (by default in `/dev/shm` where it
    /// exists with 8 GiB free, else in the system's temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Skip the Python peers (they need python3 and PyPI to set up a virtual environment once).
    #[arg(long)]
    pub no_peers: bool,
    /// Run only these figures, by number (0 to 6, comma-separated; all when not given): e.g.
    /// `--figures 3` for planning at scale, `--figures 5` for peak memory against the size of one
    /// file.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..=6))]
    pub figures: Vec<u8>,
    /// Run only the plain copy from one emulator to another and print what it moved (the driver
    /// runs this as its own process).
    #[arg(long, hide = true, num_args = 2, value_names = ["FROM_URL", "TO_URL"])]
    pub plain_copy: Option<Vec<String>>,
    /// Run only the plain inventory of the planning figure against one emulator and print what it
    /// read (the driver runs this as its own process).
    #[arg(long, hide = true, value_name = "URL")]
    pub plain_inventory: Option<String>,
    /// Sessions the plain copy (or the plain inventory) handles at once.
    #[arg(long, hide = true, default_value_t = 1)]
    pub jobs: usize,
}

/// The modelled link of an emulator: latency per request and shared bandwidth (0: unlimited).
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    /// Milliseconds before every answer.
    pub latency_ms: u64,
    /// Bytes per second, shared by all connections in both directions; 0 for loopback speed.
    pub bandwidth: u64,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::msg(Exit::Runtime, format!("benchmark failed: {e}"))
}

/// A server entry whose credentials come from the bench's environment variables.
fn server(url: &str) -> Server {
    Server {
        url: url.to_string(),
        user_env: Some("FERRY_BENCH_USER".into()),
        password_env: Some("FERRY_BENCH_PASS".into()),
        token_env: None,
        allow_http: false,
    }
}

/// The bench manifest: PILOT on `src` to MAIN on `dst`, localizers left out, headers rewritten,
/// verified in full.
fn manifest(src: &str, dst: &str) -> String {
    copy_manifest(
        src,
        dst,
        "bench",
        r#"    select: { scan_types: { exclude: ["localizer*"] } }
    map:
      subject: "B_{{ subject.label }}"
      session: "B_{{ session.label }}"
"#,
        r#"        StudyDescription: "xnat://{{ dest.project }}/{{ dest.subject }}/{{ dest.session }}"
"#,
    )
}

/// A bench manifest of one copy transfer `name` from SRC_PROJECT on `src` to DST_PROJECT on `dst`
/// with bench credentials: `selection` (its `select:` and `map:` lines) picks and labels the data,
/// Patient ID and Name become the destination subject, `more_set` adds `dicom.set` lines; conflicts
/// are skipped, sessions archived, and every file verified.
fn copy_manifest(src: &str, dst: &str, name: &str, selection: &str, more_set: &str) -> String {
    format!(
        r#"version: 1
servers:
  source: {{ url: "{src}", user_env: FERRY_BENCH_USER, password_env: FERRY_BENCH_PASS }}
  destination: {{ url: "{dst}", user_env: FERRY_BENCH_USER, password_env: FERRY_BENCH_PASS }}
transfers:
  - name: {name}
    mode: copy
    from: {{ server: source, project: {SRC_PROJECT} }}
    to: {{ server: destination, project: {DST_PROJECT} }}
{selection}    dicom:
      set:
        PatientID: "{{{{ dest.subject }}}}"
        PatientName: "{{{{ dest.subject }}}}"
{more_set}    policy: {{ conflict: skip, destination: archive, anonymization: "off", verify: full }}
"#
    )
}

/// The default work folder: a temporary folder in memory (`/dev/shm`) where the machine has one with
/// [`IN_MEMORY_ROOM`] free, else in the system's temporary folder. Every emulator keeps its state
/// there. On a disk, the destination emulators' speed depended on what earlier samples had deleted
/// (ext4 skips inodes freed in the last minutes when it allocates new ones, and every sample writes
/// thousands of files after the previous one's were removed), which spread the plain copy of 8 kB
/// files over a factor of four within one run; in memory the same figure spreads by a tenth
/// (docs/performance.md).
fn work_folder() -> std::io::Result<tempfile::TempDir> {
    if let Some(shm) = memory_folder() {
        if let Ok(t) = tempfile::Builder::new()
            .prefix("ferry-bench-")
            .tempdir_in(shm)
        {
            return Ok(t);
        }
    }
    tempfile::tempdir()
}

/// `/dev/shm` when the machine has it with [`IN_MEMORY_ROOM`] free.
fn memory_folder() -> Option<&'static Path> {
    let shm = Path::new("/dev/shm");
    (shm.is_dir() && free_bytes(shm).is_some_and(|n| n >= IN_MEMORY_ROOM)).then_some(shm)
}

/// The free room `/dev/shm` needs for the default work folder to go there: the largest figure (4)
/// keeps a 2 GB project in a source emulator and copies it into a destination.
const IN_MEMORY_ROOM: u64 = 8 << 30;

/// Free bytes on the file system of `dir`, as `df -Pk` reports them.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The type of the file system `dir` is on (`tmpfs`, `ext4`, …), from `/proc/mounts`: the mount
/// point that is the longest prefix of its path.
fn filesystem_of(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, kind) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), kind.to_string()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, kind)| kind)
}

/// The cores this process may run on (1 when the system does not say).
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Prints the machine the figures were measured on, and where the emulators keep their state.
pub(super) fn machine(dir: &Path) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cores();
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    println!("machine: {cpu}, {cores} cores available, load average {load} at the start");
    let fs = filesystem_of(dir).unwrap_or_else(|| "file system unknown".into());
    println!(
        "work folder (every emulator's state): {} ({fs})",
        dir.display()
    );
    println!("every timed side runs {ROUNDS} times, interleaved; figures are median (min–max, n)");
}

/// Runs `ferry bench`.
pub fn run(args: Args) -> Result<(), Failure> {
    std::env::set_var("FERRY_BENCH_USER", "admin");
    std::env::set_var("FERRY_BENCH_PASS", "admin");
    let temp = work_folder().map_err(fail)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(fail)?;
    if let Some(urls) = &args.plain_copy {
        let [from, to] = urls.as_slice() else {
            return Err(fail("`--plain-copy` takes two URLs"));
        };
        return copy::run(from, to, args.jobs, &dir);
    }
    if let Some(url) = &args.plain_inventory {
        return plainlist::run(url, args.jobs);
    }
    figures::all(&dir, args.quick, !args.no_peers, &args.figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_folder_is_in_memory_where_the_machine_has_dev_shm() {
        let t = work_folder().unwrap();
        if memory_folder().is_some() {
            assert!(t.path().starts_with("/dev/shm"), "{}", t.path().display());
            assert_eq!(filesystem_of(t.path()).as_deref(), Some("tmpfs"));
        }
        assert!(filesystem_of(Path::new("/")).is_some());
        assert!(free_bytes(Path::new("/")).is_some_and(|n| n > 0));
    }
}
