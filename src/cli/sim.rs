//! `ferry sim`: runs the XNAT emulator on 127.0.0.1 until Ctrl-C or SIGTERM, then says how many
//! requests it answered.

use super::{Exit, Failure};
use crate::exec::throttle::parse_rate;
use crate::sim::reqlog::RequestLog;
use crate::sim::{self, FaultSettings, SeedSpec, SimConfig, SimError};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `ferry sim`.
#[derive(Debug, clap::Args)]
#[command(after_help = ACCOUNTS_HELP)]
pub struct Args {
    /// The state folder: projects, sessions and DICOM files live here and survive a restart.
    #[arg(long)]
    pub root: PathBuf,
    /// The port on 127.0.0.1 (0 picks a free one; the chosen port is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Seed an empty state folder: `demo` or `demo:subjects=N,files=M`.
    #[arg(long)]
    pub seed: Option<String>,
    /// Add an account or set its password: `NAME:PASSWORD` (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Model a link of this many bytes per second (K, M, G suffixes allowed), shared by all
    /// connections in both directions; with `--latency-ms`, a WAN between two sites.
    #[arg(long, value_name = "BYTES_PER_S")]
    pub bandwidth: Option<String>,
    /// Answer this fraction of requests with 500 before doing anything (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Answer this fraction of requests with 500 after doing their work (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub late_error_rate: f64,
    /// Cut this fraction of response bodies off part way, after doing the work (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Seed of the fault generator, for repeatable faults.
    #[arg(long, default_value_t = 0)]
    pub rng_seed: u64,
    /// Append one line per request (time, method, path, status, milliseconds) to FILE; query strings
    /// and token secrets are never written.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log each request to standard error (as --log does).
    #[arg(short, long)]
    pub verbose: bool,
}

/// The accounts, for `ferry sim --help`.
const ACCOUNTS_HELP: &str = "Accounts:
  admin/admin     site administrator; exists in every new state folder
  reader/reader   with --seed demo: collaborator (read only) in PILOT
  writer/writer   with --seed demo: member (read, create, edit; no delete) of MAIN
  --user NAME:PASSWORD adds an account (no project roles) or sets a password.
The accounts of the folder being served are printed when the emulator starts.";

fn usage(msg: String) -> Failure {
    Failure::msg(Exit::Usage, msg)
}

/// Runs `ferry sim`.
pub fn run(args: Args) -> Result<(), Failure> {
    let config = sim_config(args)?;
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| {
        Failure::msg(
            Exit::Runtime,
            format!("cannot install the Ctrl-C handler: {e}"),
        )
    })?;
    let handle = sim::start(config).map_err(|e| match e {
        SimError::SeedNotEmpty { .. } | SimError::Locked { .. } => Failure::new(Exit::Usage, e),
        e => Failure::new(Exit::Runtime, e),
    })?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", handle.url());
    let _ = writeln!(out, "accounts (passwords are not shown):");
    for a in handle.accounts() {
        let _ = writeln!(out, "  {a}");
    }
    let _ = out.flush();
    let _ = rx.recv();
    let _ = writeln!(
        out,
        "stopped after answering {} requests",
        handle.requests()
    );
    let _ = out.flush();
    handle.shutdown();
    Ok(())
}

/// The emulator's configuration from the command line: seed, accounts, fault rates (each between 0
/// and 1), the modelled link's bandwidth and the request log; a bad value is a usage error.
fn sim_config(args: Args) -> Result<SimConfig, Failure> {
    let seed = match &args.seed {
        Some(s) => Some(SeedSpec::parse(s).map_err(usage)?),
        None => None,
    };
    let users = args
        .users
        .iter()
        .map(|u| sim::parse_user(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    for (name, rate) in [
        ("--error-rate", args.error_rate),
        ("--drop-rate", args.drop_rate),
        ("--late-error-rate", args.late_error_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(usage(format!("`{name}` must be between 0 and 1")));
        }
    }
    let bandwidth = match &args.bandwidth {
        Some(b) => parse_rate(b).map_err(|e| usage(format!("`--bandwidth`: {e}")))?,
        None => 0,
    };
    let log = request_log(&args)?;
    Ok(SimConfig {
        root: args.root,
        port: args.port,
        seed,
        users,
        faults: FaultSettings {
            latency_ms: args.latency_ms,
            error_rate: args.error_rate,
            drop_rate: args.drop_rate,
            late_error_rate: args.late_error_rate,
            ..FaultSettings::default()
        },
        rng_seed: args.rng_seed,
        workers: 0,
        bandwidth,
        log,
    })
}

/// Where the emulator logs its requests: appended to `--log FILE`, else to standard error under
/// `--verbose`, else nowhere.
fn request_log(args: &Args) -> Result<Option<RequestLog>, Failure> {
    if let Some(path) = &args.log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                usage(format!(
                    "cannot open the request log `{}`: {e}",
                    path.display()
                ))
            })?;
        Ok(Some(RequestLog::new(Box::new(file))))
    } else if args.verbose {
        Ok(Some(RequestLog::new(Box::new(std::io::stderr()))))
    } else {
        Ok(None)
    }
}
