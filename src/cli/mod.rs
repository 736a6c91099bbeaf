//! The command line: the only code that knows clap, terminals and the paths of manifests and plans.
//! Each subcommand is a thin wrapper in its own file that calls into the library and returns a
//! [`Failure`] on error; [`main`] renders it once and picks the exit code.

pub mod apply;
pub mod demo;
pub mod exit;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schema;
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
    /// Show what a plan's journal says is done, running, failed or pending.
    Status(status::Args),
    /// Print the JSON Schema of the manifest.
    Schema(schema::Args),
    /// Run the XNAT emulator on loopback.
    Sim(sim::Args),
    /// Run the whole job on the embedded emulator.
    Demo(demo::Args),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Status(a) => status::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Demo(a) => demo::run(a),
    }
}

/// The entry point of the binary: parse, run, render any failure, exit.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprint!("{}", f.render());
            f.exit.into()
        }
    }
}
