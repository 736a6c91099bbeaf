//! The XNAT emulator (`ferry sim`): a small XNAT that speaks the REST API on 127.0.0.1 as XNAT 1.8
//! does, keeps its state and DICOM files on disk under a root folder, and injects faults on request.
//! Every test of ferry and the demo talk to it over HTTP through the same client code that talks to a
//! real XNAT; xnatpy and pyxnat run against it in the conformance suite.
//!
//! Parts: [`http`] (the server and its worker pool), [`link`] (the modelled link's rate), [`routes`] (the route table, documented there),
//! [`store`] and [`model`] (state), [`auth`] (accounts, sessions, tokens, roles), [`faults`],
//! [`seed`] (the demo world), [`dicomio`] (header reading and routing syntax).
//!
//! Boundaries: this module must never use ferry's client, planner, executor or manifest code
//! (`crate::xnat`, `crate::plan`, `crate::exec`, `crate::manifest`); it is a separate server that
//! ferry meets only over HTTP. It reads DICOM with dicom-object directly.
//!
//! Roles: a project's accounts are owners (everything), members (read, create, edit, no delete) or
//! collaborators (read only); site administrators may do anything. A client learns its own roles from
//! `GET /xapi/access/projects` (as XNAT answers it: a JSON array of objects with `ID`, `secondary_ID`,
//! `name`, `role` = `Owners`/`Members`/`Collaborators`, `group_id` = `<project>_<owner|member|collaborator>`,
//! `URI`, `description`). `GET /data/projects?permissions=edit` (or `delete`) narrows the project listing
//! to projects where the caller may edit (or delete), as XNAT's `restrict=` does.

pub mod anon;
pub mod auth;
pub mod dicomio;
pub mod faults;
pub mod http;
pub mod link;
pub mod model;
pub mod paths;
pub mod render;
pub mod reqlog;
pub mod routes;
pub mod seed;
pub mod store;
pub mod util;
pub mod xmldoc;
mod zipstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use faults::FaultSettings;
pub use seed::SeedSpec;

/// Everything `ferry sim` needs to start.
#[derive(Clone, Default)]
pub struct SimConfig {
    /// The state folder (created if missing).
    pub root: PathBuf,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Seed the demo world into an empty root.
    pub seed: Option<SeedSpec>,
    /// Accounts to add, or whose password to set: (name, password).
    pub users: Vec<(String, String)>,
    /// Initial fault settings.
    pub faults: FaultSettings,
    /// Seed of the fault generator.
    pub rng_seed: u64,
    /// Worker threads (at least 16 are used).
    pub workers: usize,
    /// The modelled link's rate in bytes per second, shared by every connection in both directions
    /// (0: unlimited).
    pub bandwidth: u64,
    /// Where to log each request (method, path, status, time), if anywhere.
    pub log: Option<reqlog::RequestLog>,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("root", &self.root)
            .field("port", &self.port)
            .field("seed", &self.seed)
            .field(
                "users",
                &self
                    .users
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("faults", &self.faults)
            .field("rng_seed", &self.rng_seed)
            .field("bandwidth", &self.bandwidth)
            .field("log", &self.log.is_some())
            .finish()
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The state folder could not be read or written.
    #[error("cannot use the state folder `{root}`")]
    State {
        /// The folder.
        root: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `--user` value is not `NAME:PASSWORD`.
    #[error("user `{value}` is not `NAME:PASSWORD` with a valid name")]
    BadUser {
        /// The name part (never the password).
        value: String,
    },
    /// `--seed` was given for a state folder that already holds something.
    #[error(
        "cannot seed `{}`: the folder is not empty (seed only a new or empty folder; \
         start without --seed to serve what it holds)",
        root.display()
    )]
    SeedNotEmpty {
        /// The folder.
        root: PathBuf,
    },
    /// Another emulator holds the state folder's lock.
    #[error(
        "another `ferry sim` is already serving `{}` (its lock `{}` is held); stop it or use another --root",
        root.display(),
        root.join(LOCK_FILE).display()
    )]
    Locked {
        /// The folder.
        root: PathBuf,
    },
}

/// The lock file inside a state folder, held while an emulator serves it.
pub const LOCK_FILE: &str = ".ferry-sim.lock";

/// The state shared by every worker.
pub struct Shared {
    /// Projects, subjects, experiments, prearchive, accounts.
    pub store: RwLock<Store>,
    /// Sessions and tokens.
    pub auth: auth::Auth,
    /// Fault injection.
    pub faults: faults::Faults,
    /// Data types switched off at run time (`/sim/datatypes/{type}?enabled=false`), as on a server
    /// where a plugin is not installed.
    pub disabled_types: RwLock<std::collections::BTreeSet<String>>,
    /// Traffic counters (`GET /sim/stats`).
    pub stats: routes::stats::Stats,
}

use store::Store;

/// A running emulator.
pub struct SimHandle {
    server: Option<http::Server>,
    url: String,
    accounts: Vec<String>,
    /// Held (locked) for as long as the emulator serves its state folder.
    _lock: std::fs::File,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests answered so far (benchmarks count round trips with it).
    pub fn requests(&self) -> u64 {
        self.server.as_ref().map(|s| s.requests()).unwrap_or(0)
    }

    /// The accounts, one line each: login and what it may do (never a password).
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.as_ref().map(|s| s.port()).unwrap_or(0)
    }

    /// Stops serving: in-flight requests finish, then every thread is joined.
    pub fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// Opens (and if asked, seeds) the state under `config.root` and starts serving.
pub fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    let lock = lock_root(&config)?;
    let store = open_store(&config)?;
    let accounts = describe_accounts(&store);
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        auth: auth::Auth::default(),
        faults: faults::Faults::new(config.faults.clone(), config.rng_seed),
        disabled_types: RwLock::default(),
        stats: routes::stats::Stats::default(),
    });
    let handler = request_handler(shared, config.log.clone());
    let link = std::sync::Arc::new(link::Link::new(config.bandwidth));
    let workers = if config.workers == 0 {
        64
    } else {
        config.workers.max(16)
    };
    let server = http::Server::start(config.port, workers, handler, link).map_err(|source| {
        SimError::Bind {
            port: config.port,
            source,
        }
    })?;
    let url = format!("http://127.0.0.1:{}", server.port());
    Ok(SimHandle {
        server: Some(server),
        url,
        accounts,
        _lock: lock,
    })
}

/// The error for a state folder that cannot be read or written.
fn state_err(root: &Path) -> impl Fn(std::io::Error) -> SimError + '_ {
    move |source| SimError::State {
        root: root.to_path_buf(),
        source,
    }
}

/// Creates the state folder and takes its lock, refusing to seed a folder that holds something and
/// to serve a folder another emulator serves; the lock is held while the file stays open.
fn lock_root(config: &SimConfig) -> Result<std::fs::File, SimError> {
    let state_err = state_err(&config.root);
    if config.seed.is_some() && !is_empty_dir(&config.root).map_err(&state_err)? {
        return Err(SimError::SeedNotEmpty {
            root: config.root.clone(),
        });
    }
    std::fs::create_dir_all(&config.root).map_err(&state_err)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(config.root.join(LOCK_FILE))
        .map_err(&state_err)?;
    if !try_lock(&lock).map_err(&state_err)? {
        return Err(SimError::Locked {
            root: config.root.clone(),
        });
    }
    Ok(lock)
}

/// Opens the state: an `admin` account when there is none, the demo world when asked for, and the
/// `--user` accounts added or their passwords set (an administrator stays one); saved before serving.
fn open_store(config: &SimConfig) -> Result<Store, SimError> {
    let state_err = state_err(&config.root);
    let mut store = Store::open(&config.root).map_err(&state_err)?;
    if store.site.users.is_empty() {
        store.site.users.insert(
            "admin".into(),
            model::User {
                password: "admin".into(),
                admin: true,
            },
        );
    }
    if let Some(spec) = config.seed {
        seed::seed_demo(&mut store, spec).map_err(&state_err)?;
    }
    for (name, password) in &config.users {
        if !util::valid_id(name) {
            return Err(SimError::BadUser {
                value: name.clone(),
            });
        }
        let admin = store.site.users.get(name).is_some_and(|u| u.admin);
        store.site.users.insert(
            name.clone(),
            model::User {
                password: password.clone(),
                admin,
            },
        );
    }
    store.save_site().map_err(&state_err)?;
    Ok(store)
}

/// Answers each request from the route table, and logs it (method, path, status, time) when a
/// request log is given.
fn request_handler(shared: Arc<Shared>, log: Option<reqlog::RequestLog>) -> http::Handler {
    Arc::new(move |req| match &log {
        None => routes::handle(&shared, req),
        Some(log) => {
            let started = std::time::Instant::now();
            let (method, path) = (req.method.clone(), req.path.clone());
            let resp = routes::handle(&shared, req);
            log.record(&method, &path, resp.status, started.elapsed());
            resp
        }
    })
}

/// Takes an exclusive advisory lock on the file without waiting; `false` when another process holds it.
/// The lock goes with the process, so a crashed emulator leaves no stale lock behind.
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Without advisory locks (not Unix), the folder is not locked.
#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File) -> std::io::Result<bool> {
    Ok(true)
}

fn is_empty_dir(root: &std::path::Path) -> std::io::Result<bool> {
    match std::fs::read_dir(root) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// One line per account: `admin: site administrator`, `writer: member of MAIN`, ...
fn describe_accounts(store: &Store) -> Vec<String> {
    store
        .site
        .users
        .iter()
        .map(|(name, user)| {
            let mut what: Vec<String> = Vec::new();
            if user.admin {
                what.push("site administrator".into());
            }
            for role in [
                model::Role::Owner,
                model::Role::Member,
                model::Role::Collaborator,
            ] {
                let projects: Vec<&str> = store
                    .projects
                    .values()
                    .filter(|p| p.roles.get(name) == Some(&role))
                    .map(|p| p.id.as_str())
                    .collect();
                if !projects.is_empty() {
                    let noun = match role {
                        model::Role::Owner => "owner of",
                        model::Role::Member => "member of",
                        model::Role::Collaborator => "collaborator in",
                    };
                    what.push(format!("{noun} {}", projects.join(", ")));
                }
            }
            if what.is_empty() {
                what.push("no project roles".into());
            }
            format!("{name}: {}", what.join("; "))
        })
        .collect()
}

/// Parses a `--user NAME:PASSWORD` value.
pub fn parse_user(s: &str) -> Result<(String, String), SimError> {
    match s.split_once(':') {
        Some((n, p)) if util::valid_id(n) => Ok((n.to_string(), p.to_string())),
        _ => Err(SimError::BadUser {
            value: s.split(':').next().unwrap_or_default().to_string(),
        }),
    }
}
