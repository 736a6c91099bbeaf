//! `ferry audit MANIFEST [--deep]`: compares source and destination under the manifest's mapping
//! without transferring anything, whoever made the copies. Exit 0 when every selected session has a
//! matching counterpart and nothing is duplicated, 4 otherwise.

use super::{Exit, Failure};
use crate::audit::{self, deep};
use crate::plan::{self, PlanInput};
use crate::xnat::Client;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `ferry audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest whose transfers to audit.
    pub manifest: PathBuf,
    /// Also download both sides of every matching session and compare pixel data and the header
    /// fields the manifest sets, file by file.
    #[arg(long)]
    pub deep: bool,
    /// Print the report as JSON (the exit code is the same).
    #[arg(long)]
    pub json: bool,
    /// List matching sessions too.
    #[arg(long, short)]
    pub verbose: bool,
    /// Requests in flight per server.
    #[arg(long, default_value_t = 4)]
    pub per_server: usize,
}

/// Runs `ferry audit`.
pub fn run(args: Args) -> Result<(), Failure> {
    let opts = super::plan::client_options(args.per_server)?;
    let loaded = super::plan::load_manifest(&args.manifest)?;
    let inventories = super::plan::read_inventories(&loaded, &opts)?;
    let path = args.manifest.display().to_string();
    let input = PlanInput::new(&loaded, &path, &inventories, crate::VERSION);
    let usage = |e: plan::PlanError| Failure::new(Exit::Usage, e);
    let planned = plan::build(&input).map_err(usage)?;
    let mut report = audit::compare(&loaded.manifest, &planned, &inventories).map_err(usage)?;
    if args.deep {
        let mut clients = BTreeMap::new();
        for (name, server) in &planned.servers {
            let c =
                Client::connect(name, server, opts.clone()).map_err(super::plan::xnat_failure)?;
            clients.insert(name.clone(), c);
        }
        let dir = tempfile::tempdir().map_err(|e| {
            Failure::msg(
                Exit::Runtime,
                format!("cannot make a temporary folder: {e}"),
            )
        })?;
        let done = deep::deepen(&mut report, &planned, &clients, dir.path());
        for c in clients.values() {
            c.logout();
        }
        done.map_err(|e| match e {
            deep::DeepError::Read(x) => super::plan::xnat_failure(x),
            other => Failure::new(Exit::Runtime, other),
        })?;
    }
    if args.json {
        println!("{}", super::json(&report));
    } else {
        print!("{}", report.render(args.verbose));
    }
    if report.all_match() {
        return Ok(());
    }
    let t = &report.totals;
    Err(Failure::msg(
        Exit::Verify,
        format!(
            "the destination does not match: {} missing, {} different, {} extra",
            t.missing, t.different, t.extra
        ),
    )
    .with_hint(format!(
        "`ferry plan {path} --out plan.yaml` shows what a transfer would add; review it and apply"
    )))
}
