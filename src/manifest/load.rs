//! Loading a manifest: syntax, types and enum values section by section (so that several errors are
//! reported at once), then the checks that need more than one field. Every problem becomes a
//! [`Diagnostic`] naming the file, line, column and path.

use super::model::{Defaults, Manifest, Server, Transfer};
use super::positions::Positions;
use super::yaml;
use super::{check, messages, phi_check};
use crate::template::Table;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest manifest ferry reads.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A manifest that passed validation, with its tables read.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// Its tables: name -> (old -> new).
    pub tables: BTreeMap<String, Table>,
    /// `blake3:<hex>` of the manifest file's bytes.
    pub hash: String,
    /// What is allowed but worth a look (templates reading identifying attributes under
    /// `anonymization: warn`).
    pub warnings: Vec<Diagnostic>,
}

/// One problem in a manifest or a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file it is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The dotted path of the field (`transfers[0].policy.conflict`), or empty.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a manifest; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Collects diagnostics for one file, placing each by its path.
pub struct Sink<'a> {
    file: PathBuf,
    pos: &'a Positions,
    /// The diagnostics so far.
    pub out: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    /// A sink for a file with its positions.
    pub fn new(file: &Path, pos: &'a Positions) -> Self {
        Sink {
            file: file.to_path_buf(),
            pos,
            out: Vec::new(),
        }
    }

    /// A problem with the value at `path`.
    pub fn at(&mut self, path: &str, message: impl Into<String>) {
        let p = self.pos.value(path);
        self.push(path, p, message.into());
    }

    /// A problem with the key at `path` (an unknown field).
    pub fn at_key(&mut self, path: &str, message: impl Into<String>) {
        let p = self.pos.key(path).or_else(|| self.pos.value(path));
        self.push(path, p, message.into());
    }

    fn push(&mut self, path: &str, p: Option<super::positions::Pos>, message: String) {
        self.out.push(Diagnostic {
            file: self.file.clone(),
            line: p.map(|p| p.line),
            column: p.map(|p| p.col),
            path: path.to_string(),
            message,
        });
    }

    /// A problem in another file (a table).
    pub fn other(&mut self, file: &Path, line: Option<usize>, path: &str, message: String) {
        self.out.push(Diagnostic {
            file: file.to_path_buf(),
            line,
            column: None,
            path: path.to_string(),
            message,
        });
    }
}

fn whole(path: &Path, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: path.to_path_buf(),
        line: None,
        column: None,
        path: String::new(),
        message,
    }])
}

/// Deserializes one section, reporting its first error with its full path.
fn section<T: DeserializeOwned>(sink: &mut Sink<'_>, prefix: &str, v: &yaml::Value) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let path = match (prefix, inner.as_str()) {
                (p, ".") | (p, "") => p.to_string(),
                ("", i) => i.to_string(),
                (p, i) if i.starts_with('[') => format!("{p}{i}"),
                (p, i) => format!("{p}.{i}"),
            };
            let raw = e.into_inner().to_string();
            let (message, key) = messages::explain(&raw);
            if key {
                sink.at_key(&path, message);
            } else {
                sink.at(&path, message);
            }
            None
        }
    }
}

/// The key path of a serde path (`select.subjects[0]` -> `["select", "subjects"]`).
fn key_path(inner: &str) -> Vec<String> {
    inner
        .split('.')
        .map(|seg| seg.split('[').next().unwrap_or(seg).to_string())
        .filter(|seg| !seg.is_empty())
        .collect()
}

/// Removes the key at `keys` from a mapping value; whether it was there.
fn remove_key(v: &mut yaml::Value, keys: &[String]) -> bool {
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut at = v;
    for k in parents {
        match at.get_mut(k.as_str()) {
            Some(next) => at = next,
            None => return false,
        }
    }
    at.as_mapping_mut()
        .and_then(|m| m.remove(last.as_str()))
        .is_some()
}

/// Deserializes one section and reports every problem serde finds in it, not only the first: after
/// each problem the offending key is left out and the rest is read again. Returns the section as far
/// as it parsed (broken optional keys left out, so that the semantic checks can still run on it)
/// unless a required field is broken; the flag says whether nothing was wrong.
fn section_all<T: DeserializeOwned>(
    sink: &mut Sink<'_>,
    prefix: &str,
    v: &yaml::Value,
) -> (Option<T>, bool) {
    let mut v = v.clone();
    let mut clean = true;
    // Every key is removed at most once, so this ends; the bound is a second guard.
    for _ in 0..256 {
        let err = match serde_path_to_error::deserialize::<_, T>(v.clone()) {
            Ok(t) => return (Some(t), clean),
            Err(e) => e,
        };
        let inner = err.path().to_string();
        let raw = err.into_inner().to_string();
        let missing = raw.starts_with("missing field");
        if !missing || clean {
            let path = match (prefix, inner.as_str()) {
                (p, ".") | (p, "") => p.to_string(),
                (p, i) if i.starts_with('[') => format!("{p}{i}"),
                (p, i) => format!("{p}.{i}"),
            };
            let (message, key) = messages::explain(&raw);
            if key {
                sink.at_key(&path, message);
            } else {
                sink.at(&path, message);
            }
        }
        clean = false;
        if missing || !remove_key(&mut v, &key_path(&inner)) {
            return (None, false);
        }
    }
    (None, false)
}

const TOP: [&str; 5] = ["version", "servers", "defaults", "tables", "transfers"];

/// Reads, parses and validates a manifest and its tables.
pub fn load(path: &Path) -> Result<LoadedManifest, Diagnostics> {
    let bytes =
        std::fs::read(path).map_err(|e| whole(path, format!("cannot read the manifest: {e}")))?;
    load_bytes(path, &bytes)
}

/// Checks size and encoding and parses the YAML; the text and its root value.
fn parse_root<'b>(path: &Path, bytes: &'b [u8]) -> Result<(&'b str, yaml::Value), Diagnostics> {
    if bytes.len() > MAX_BYTES {
        return Err(whole(
            path,
            format!(
                "the manifest is {} bytes; manifests larger than {MAX_BYTES} bytes are refused",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| whole(path, format!("the manifest is not UTF-8 text: {e}")))?;
    let value: yaml::Value = yaml::from_str(text).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            path: String::new(),
            message: format!(
                "not valid YAML: {}",
                messages::strip_location(&e.to_string())
            ),
        }])
    })?;
    Ok((text, value))
}

/// The top-level sections as far as each parsed; `None` where a section had errors (reported).
struct Sections {
    version: Option<u32>,
    servers: Option<BTreeMap<String, Server>>,
    defaults: Option<Defaults>,
    tables: Option<BTreeMap<String, String>>,
    /// Every transfer that parsed, with its index.
    transfers: Vec<(usize, Transfer)>,
    /// Whether every transfer parsed.
    transfers_ok: bool,
}

/// Reads each top-level section on its own, so one bad section does not hide another's problems.
fn sections(sink: &mut Sink<'_>, map: &yaml::Mapping) -> Sections {
    for k in map.keys() {
        let key = k.as_str().unwrap_or("?");
        if !TOP.contains(&key) {
            sink.at_key(key, messages::unknown_field(key, &TOP));
        }
    }
    let get = |k: &str| map.get(k);
    let version: Option<u32> = match get("version") {
        None => {
            sink.at("", "missing field `version` (write `version: 1`)");
            None
        }
        Some(v) => section(sink, "version", v),
    };
    if let Some(v) = version.filter(|v| *v != 1) {
        sink.at(
            "version",
            format!("unsupported version {v}; this ferry reads version 1"),
        );
    }
    let servers = match get("servers") {
        None => {
            sink.at("", "missing field `servers`");
            None
        }
        Some(v) => section(sink, "servers", v),
    };
    let defaults = match get("defaults") {
        None => Some(Defaults::default()),
        Some(v) => section(sink, "defaults", v),
    };
    let tables = match get("tables") {
        None => Some(BTreeMap::new()),
        Some(v) => section(sink, "tables", v),
    };
    let (transfers, transfers_ok) = transfer_list(sink, get("transfers"));
    Sections {
        version,
        servers,
        defaults,
        tables,
        transfers,
        transfers_ok,
    }
}

/// The transfers that parsed, and whether all did.
fn transfer_list(sink: &mut Sink<'_>, v: Option<&yaml::Value>) -> (Vec<(usize, Transfer)>, bool) {
    let items = match v {
        None => {
            sink.at("", "missing field `transfers`");
            return (Vec::new(), false);
        }
        Some(yaml::Value::Sequence(items)) => items,
        Some(_) => {
            sink.at("transfers", "invalid type: expected a list of transfers");
            return (Vec::new(), false);
        }
    };
    if items.is_empty() {
        sink.at("transfers", "a manifest needs at least one transfer");
    }
    let mut transfers = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match section_all::<Transfer>(sink, &format!("transfers[{i}]"), item) {
            (Some(t), clean) => {
                ok &= clean;
                transfers.push((i, t));
            }
            (None, _) => ok = false,
        }
    }
    (transfers, ok)
}

/// Parses and validates manifest bytes as if read from `path` (which names the manifest in
/// diagnostics and anchors its relative table paths). Used by `load` and by the fuzz target.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<LoadedManifest, Diagnostics> {
    let (text, value) = parse_root(path, bytes)?;
    let pos = Positions::scan(text);
    let mut sink = Sink::new(path, &pos);
    let Some(map) = value.as_mapping() else {
        return Err(whole(
            path,
            "the manifest must be a mapping with `version`, `servers` and `transfers`".into(),
        ));
    };
    let s = sections(&mut sink, map);
    let base = path.parent().unwrap_or(Path::new("."));
    let tables = match &s.tables {
        Some(decl) => check::tables(&mut sink, base, decl, &check::label_tables(&s.transfers)),
        None => BTreeMap::new(),
    };
    // Check what did parse, so that one bad transfer does not hide the problems of the others.
    if let Some(servers) = &s.servers {
        let policy = s
            .defaults
            .as_ref()
            .map(|d| d.policy.clone())
            .unwrap_or_default();
        check::semantics(&mut sink, servers, &policy, &s.transfers, &tables);
    }
    let mut warnings = Sink::new(path, &pos);
    if let Some(defaults) = &s.defaults {
        let templates = crate::template::Templates::new(&tables);
        for (i, t) in &s.transfers {
            let p = format!("transfers[{i}]");
            phi_check::transfer(&mut sink, &mut warnings, &p, t, defaults, &templates);
        }
    }
    let (Some(version), Some(servers), Some(defaults), Some(tables_decl), true, true) = (
        s.version,
        s.servers,
        s.defaults,
        s.tables,
        s.transfers_ok,
        sink.out.is_empty(),
    ) else {
        sink.out.sort_by_key(|d| (d.file != path, d.line, d.column));
        return Err(Diagnostics(sink.out));
    };
    Ok(LoadedManifest {
        path: path.to_path_buf(),
        manifest: Manifest {
            version,
            servers,
            defaults,
            tables: tables_decl,
            transfers: s.transfers.into_iter().map(|(_, t)| t).collect(),
        },
        tables,
        hash: format!("blake3:{}", blake3::hash(bytes).to_hex()),
        warnings: warnings.out,
    })
}
