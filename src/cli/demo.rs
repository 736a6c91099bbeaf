//! `ferry demo`: the whole job on the embedded emulator. Starts `ferry sim --seed demo` on a free
//! loopback port in a temporary folder, validates and plans `manifests/demo.yaml` against it, prints the
//! dry-run diff (with the blocked collision and the PHI finding), applies the clean part, prints the
//! verification summary, plans again to show there is nothing left to do, and shuts the emulator down.

use super::{Exit, Failure};
use crate::exec::apply::{self, ApplyOptions};
use crate::plan;
use crate::sim::{self, SeedSpec, SimConfig};
use crate::xnat::ClientOptions;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// The demo manifest, built into the binary so the demo runs from any folder.
pub const DEMO_MANIFEST: &str = include_str!("../../manifests/demo.yaml");
const PLACEHOLDER_URL: &str = "http://127.0.0.1:8080";

/// Arguments of `ferry demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the emulator running at the end and print how to reach it.
    #[arg(long)]
    pub keep: bool,
    /// Work in this folder instead of a temporary one (the emulator's state, the manifest, the plan).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn step(n: usize, what: &str) {
    println!("\n== {n}. {what}");
}

/// Runs `ferry demo`.
pub fn run(args: Args) -> Result<(), Failure> {
    let temp = tempfile::tempdir().map_err(|e| {
        Failure::msg(
            Exit::Runtime,
            format!("cannot create a temporary folder: {e}"),
        )
    })?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::msg(
            Exit::Runtime,
            format!("cannot create `{}`: {e}", dir.display()),
        )
    })?;
    step(
        1,
        "start the XNAT emulator with the demo world (PILOT and MAIN)",
    );
    let handle = sim::start(SimConfig {
        root: dir.join("sim"),
        seed: Some(SeedSpec::default()),
        ..SimConfig::default()
    })
    .map_err(|e| Failure::new(Exit::Runtime, e))?;
    println!("emulator listening on {}", handle.url());
    // The demo accounts; a user's own variables win.
    for (k, v) in [("FERRY_USER", "admin"), ("FERRY_PASS", "admin")] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
    let manifest = dir.join("demo.yaml");
    std::fs::write(
        &manifest,
        DEMO_MANIFEST.replace(PLACEHOLDER_URL, handle.url()),
    )
    .map_err(|e| {
        Failure::msg(
            Exit::Runtime,
            format!("cannot write `{}`: {e}", manifest.display()),
        )
    })?;
    let result = walk_through(&dir, &manifest);
    if result.is_ok() && args.dir.is_none() && !args.keep {
        println!(
            "(the demo worked in a temporary folder, removed now; `ferry demo --dir DIR` keeps it)"
        );
    }
    if args.keep {
        println!(
            "\nThe emulator keeps running at {} (state in {}).",
            handle.url(),
            dir.join("sim").display()
        );
        println!(
            "  browse:  {}/data/projects?format=json  (user admin, password admin)",
            handle.url()
        );
        println!("  xnatpy:  python3 -c \"import xnat; s = xnat.connect('{}', user='admin', password='admin'); print(s.projects['MAIN'].subjects)\"", handle.url());
        println!("Press Ctrl-C to stop it.");
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = ctrlc::set_handler(move || {
            let _ = tx.send(());
        });
        let _ = rx.recv();
        std::mem::forget(temp);
    }
    handle.shutdown();
    result
}

fn walk_through(dir: &std::path::Path, manifest: &std::path::Path) -> Result<(), Failure> {
    step(2, "ferry validate demo.yaml");
    let loaded = super::plan::load_manifest(manifest)?;
    println!("ok: {} transfer(s)", loaded.manifest.transfers.len());

    step(
        3,
        "ferry plan demo.yaml --out plan.yaml   (the dry-run diff an admin reviews)",
    );
    let opts = ClientOptions::default();
    let p = super::plan::make_plan(manifest, &opts)?;
    let plan_path = dir.join("plan.yaml");
    super::plan::write_plan(&plan_path, &p)?;
    print!("{}", plan::render_diff(&p, std::io::stdout().is_terminal()));
    println!(
        "-> {} blocked session(s): the plan would exit 3; the demo applies the clean part with --skip-blocked",
        p.summary.sessions_blocked
    );

    step(
        4,
        "ferry apply plan.yaml --skip-blocked   (parallel, journaled, verified)",
    );
    let reporter = super::progress::reporter();
    let stop = AtomicBool::new(false);
    let outcome = apply::apply(
        &plan_path,
        &ApplyOptions {
            skip_blocked: true,
            ..ApplyOptions::default()
        },
        reporter.as_ref(),
        &stop,
    );
    drop(reporter);
    let outcome = outcome.map_err(super::apply::failure)?;
    println!("verification summary ({}):", outcome.report_path.display());
    print!("{}", apply::render_report(&outcome.report));
    if !outcome.summary.complete() {
        return Err(Failure::msg(
            Exit::Runtime,
            "the demo's apply did not complete",
        ));
    }

    step(
        5,
        "ferry plan demo.yaml again   (rerunning a manifest is a no-op)",
    );
    let again = super::plan::make_plan(manifest, &opts)?;
    let s = &again.summary;
    println!(
        "{} session(s) to create, {} skipped (already transferred or existing), {} still blocked",
        s.sessions_created, s.sessions_skipped, s.sessions_blocked
    );
    println!(
        "\nDone. The manifest, plan, journal and verification report are in {}",
        dir.display()
    );
    Ok(())
}
