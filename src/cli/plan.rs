//! `ferry plan`: load the manifest, read every inventory it needs, build the plan, print the dry-run
//! diff and write the plan file.

use super::{Exit, Failure};
use crate::manifest::{self, LoadedManifest};
use crate::model::inventory::Inventory;
use crate::plan::{self, Plan, PlanInput};
use crate::xnat::{Client, ClientOptions, InventoryOptions, XnatError};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// When to colour the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// On a terminal only.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Graph export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
}

/// Arguments of `ferry plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest.
    pub manifest: PathBuf,
    /// Where to write the plan. Without it the diff is printed and no plan is written.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the execution graph in this format instead of the diff.
    #[arg(long, conflicts_with = "json")]
    pub graph: Option<GraphFormat>,
    /// Print a JSON summary instead of the diff (totals, blocked sessions, where the plan went).
    #[arg(long)]
    pub json: bool,
    /// Colour the diff.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Requests in flight per server while reading inventories.
    #[arg(long, default_value_t = 4)]
    pub per_server: usize,
}

/// The exit code of a client error: missing credentials are bad input (2), the rest runtime (1).
pub fn xnat_exit(e: &XnatError) -> Exit {
    match e {
        XnatError::NoCredentials { .. } => Exit::Usage,
        _ => Exit::Runtime,
    }
}

/// Maps a client error to a failure with its hint.
pub fn xnat_failure(e: XnatError) -> Failure {
    let hint = e.hint();
    let f = Failure::new(xnat_exit(&e), e);
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// Loads a manifest, or fails with its diagnostics (exit 2).
pub fn load_manifest(path: &Path) -> Result<LoadedManifest, Failure> {
    manifest::load(path).map_err(|d| Failure::new(Exit::Usage, d))
}

/// A spinner-less progress line on a terminal for inventory reads.
struct InventoryProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl crate::xnat::Progress for InventoryProgress {
    fn total(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_length(n);
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}

/// Connects to the manifest's servers and reads every inventory its transfers need.
pub fn read_inventories(
    loaded: &LoadedManifest,
    opts: &ClientOptions,
) -> Result<BTreeMap<(String, String), Inventory>, Failure> {
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let terminal = std::io::stderr().is_terminal();
    for t in &loaded.manifest.transfers {
        for e in [&t.from, &t.to] {
            let key = (e.server.clone(), e.project.clone());
            if out.contains_key(&key) {
                continue;
            }
            if !clients.contains_key(&e.server) {
                let server = loaded.manifest.servers.get(&e.server).ok_or_else(|| {
                    Failure::msg(
                        Exit::Usage,
                        format!(
                            "transfer `{}` names an unknown server `{}`",
                            t.name, e.server
                        ),
                    )
                })?;
                let c = Client::connect(&e.server, server, opts.clone()).map_err(xnat_failure)?;
                clients.insert(e.server.clone(), c);
            }
            let bar = terminal.then(|| {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} sessions {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_message(format!("reading {}/{}", e.server, e.project));
                b
            });
            let progress = InventoryProgress { bar };
            let inv = clients[&e.server]
                .inventory(&e.project, &InventoryOptions { headers: true }, &progress)
                .map_err(xnat_failure)?;
            if let Some(b) = progress.bar {
                b.finish_and_clear();
            }
            out.insert(key, inv);
        }
    }
    for c in clients.values() {
        c.logout();
    }
    Ok(out)
}

/// Plans a manifest against the live servers.
pub fn make_plan(manifest_path: &Path, opts: &ClientOptions) -> Result<Plan, Failure> {
    let loaded = load_manifest(manifest_path)?;
    let inventories = read_inventories(&loaded, opts)?;
    let path = manifest_path.display().to_string();
    plan::build(&PlanInput {
        manifest: &loaded.manifest,
        manifest_path: &path,
        manifest_hash: &loaded.hash,
        tables: &loaded.tables,
        inventories: &inventories,
        ferry_version: crate::VERSION,
    })
    .map_err(|e| {
        Failure::new(Exit::Usage, e)
            .with_hint("fix the manifest's templates or selection and plan again")
    })
}

/// Writes a plan file atomically.
pub fn write_plan(path: &Path, plan: &Plan) -> Result<(), Failure> {
    let text = plan::to_yaml(plan);
    let tmp = path.with_extension("yaml.tmp");
    let err = |e: std::io::Error| {
        Failure::msg(
            Exit::Runtime,
            format!("cannot write the plan `{}`: {e}", path.display()),
        )
    };
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The summary `ferry plan --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct PlanSummary<'a> {
    /// Where the plan was written, if it was.
    pub plan: Option<String>,
    /// The plan's format tag.
    pub format: &'a str,
    /// The totals.
    pub summary: &'a plan::Summary,
    /// Whether any session is blocked (the command then exits 3).
    pub blocked: bool,
    /// Every blocked action: its ID and why.
    pub blocked_actions: Vec<BlockedAction<'a>>,
}

/// One blocked action in [`PlanSummary`].
#[derive(Debug, serde::Serialize)]
pub struct BlockedAction<'a> {
    /// `TRANSFER/SOURCE_SUBJECT/SOURCE_SESSION`.
    pub id: &'a str,
    /// Why it is blocked.
    pub reason: &'a str,
}

/// The JSON summary of a plan.
pub fn summary_json(plan: &Plan, out: Option<&Path>) -> String {
    let blocked_actions = plan
        .transfers
        .iter()
        .flat_map(|t| &t.actions)
        .filter(|a| a.kind == plan::ActionKind::Blocked)
        .map(|a| BlockedAction {
            id: &a.id,
            reason: &a.reason,
        })
        .collect();
    super::json(&PlanSummary {
        plan: out.map(|p| p.display().to_string()),
        format: &plan.format,
        summary: &plan.summary,
        blocked: plan.is_blocked(),
        blocked_actions,
    })
}

/// The client options of a command that reads servers with `--per-server` requests in flight each;
/// a usage error when it is 0.
pub fn client_options(per_server: usize) -> Result<ClientOptions, Failure> {
    if per_server == 0 {
        return Err(Failure::msg(Exit::Usage, "--per-server must be at least 1"));
    }
    Ok(ClientOptions {
        max_in_flight: per_server,
        ..ClientOptions::default()
    })
}

/// Runs `ferry plan`.
pub fn run(args: Args) -> Result<(), Failure> {
    let opts = client_options(args.per_server)?;
    let plan = make_plan(&args.manifest, &opts)?;
    if let Some(out) = &args.out {
        write_plan(out, &plan)?;
    }
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal(),
    };
    match (args.graph, args.json) {
        (Some(GraphFormat::Dot), _) => print!("{}", plan::render_dot(&plan)),
        (None, true) => println!("{}", summary_json(&plan, args.out.as_deref())),
        (None, false) => {
            print!("{}", plan::render_diff(&plan, color));
            match &args.out {
                Some(out) => println!("plan written to {}", out.display()),
                None => println!("no plan written (give `--out PLAN` to write one for review)"),
            }
        }
    }
    if plan.is_blocked() {
        let n = plan.summary.sessions_blocked;
        let next = match &args.out {
            Some(out) => format!("`ferry apply {} --skip-blocked`", out.display()),
            None => "`ferry apply PLAN --skip-blocked`".into(),
        };
        return Err(Failure::msg(
            Exit::Blocked,
            format!(
                "the plan has {}",
                plan::plural(n, "blocked session", "blocked sessions")
            ),
        )
        .with_hint(format!(
            "review the `!` lines; fix the manifest and plan again, or apply the rest with {next}"
        )));
    }
    Ok(())
}
