//! The command line: the only code that knows clap, terminals and the paths of manifests and plans.
//! Each subcommand is a thin wrapper in its own file that calls into the library and returns a
//! [`Failure`] on error; [`main`] renders it once and picks the exit code.

pub mod apply;
pub mod audit;
pub mod bench;
pub mod check;
pub mod demo;
pub mod exit;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schema;
pub mod show;
pub mod sim;
pub mod status;
pub mod validate;

pub use exit::Exit;
pub use report::Failure;

use clap::{Parser, Subcommand};

/// Move DICOM imaging data between XNAT projects from a declarative, reviewable manifest.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `ferry`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a manifest: syntax, types, references, tables and templates.
    Validate(validate::Args),
    /// Read both sides, print the dry-run diff and write the plan.
    Plan(plan::Args),
    /// Execute a reviewed plan: parallel, resumable, verified.
    Apply(apply::Args),
    /// Render a plan file as text, Markdown or JSON, without contacting any server.
    Show(show::Args),
    /// Check that a committed plan still applies as reviewed (exit 0 current, 3 stale); changes nothing.
    Check(check::Args),
    /// Compare source and destination under a manifest's mapping (exit 0 match, 4 differences).
    Audit(audit::Args),
    /// Show what a plan's journal says is done, running, failed or pending.
    Status(status::Args),
    /// Print the JSON Schema of the manifest (or, with `--plan`, of the plan).
    Schema(schema::Args),
    /// Run the XNAT emulator on loopback.
    Sim(sim::Args),
    /// Run the whole job on the embedded emulator.
    Demo(demo::Args),
    /// Measure throughput, speed-up, planning scale, memory and hashing rates on the emulator.
    Bench(bench::Args),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Show(a) => show::run(a),
        Command::Check(a) => check::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Status(a) => status::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Bench(a) => bench::run(a),
    }
}

/// Pretty JSON of a value ferry made (plain structs and string-keyed maps, which cannot fail to
/// serialise), for the `--json` and `--format json` outputs.
pub fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Rust ignores SIGPIPE, so `ferry show PLAN | head` would panic on the closed pipe; like other
/// command-line tools, ferry ends quietly instead.
fn restore_sigpipe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: resetting a signal to its default action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The entry point of the binary: parse, run, render any failure, exit.
pub fn main() -> std::process::ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprint!("{}", f.render());
            f.exit.into()
        }
    }
}
