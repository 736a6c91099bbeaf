//! The checks of a manifest beyond its types: references between fields, tables, templates, DICOM
//! keywords, globs and URLs (serde's messages are reworded in `messages.rs`).

use super::load::Sink;
use super::model::{Mode, Policy, Server, Transfer};
use crate::template::{Table, Templates};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The tables that label templates (`map.subject`, `map.session`) read: their `new` values become
/// XNAT labels, so they are checked against XNAT's label rule.
pub fn label_tables(transfers: &[(usize, Transfer)]) -> BTreeSet<String> {
    let templates = Templates::new(&BTreeMap::new());
    let mut out = BTreeSet::new();
    for (_, t) in transfers {
        for src in [&t.map.subject, &t.map.session].into_iter().flatten() {
            for v in templates.variables(src).unwrap_or_default() {
                if let Some(name) = v.strip_prefix("tables.") {
                    out.insert(name.split('.').next().unwrap_or(name).to_string());
                }
            }
        }
    }
    out
}

/// Reads the manifest's tables: CSV with a header `old,new`, no duplicate `old`; in tables that
/// feed labels (`labels`), every `new` value a valid XNAT label.
pub fn tables(
    sink: &mut Sink<'_>,
    base: &Path,
    decl: &BTreeMap<String, String>,
    labels: &BTreeSet<String>,
) -> BTreeMap<String, Table> {
    let mut out = BTreeMap::new();
    for (name, rel) in decl {
        let path = format!("tables.{name}");
        let file = base.join(rel);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                sink.at(
                    &path,
                    format!("cannot read the table `{}`: {e}", file.display()),
                );
                continue;
            }
        };
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = match rdr.headers() {
            Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
            Err(e) => {
                sink.other(&file, Some(1), &path, format!("not CSV: {e}"));
                continue;
            }
        };
        if header != ["old", "new"] {
            sink.other(
                &file,
                Some(1),
                &path,
                format!(
                    "the first line must be the header `old,new`, found `{}`; the table is not read until it is",
                    header.join(",")
                ),
            );
            // Registered empty, so that templates using it raise no second, misleading problem.
            out.insert(name.clone(), Table::new());
            continue;
        }
        let mut table = Table::new();
        let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
        for (i, row) in rdr.records().enumerate() {
            let line = i + 2;
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    sink.other(&file, Some(line), &path, format!("not CSV: {e}"));
                    break;
                }
            };
            if row.len() != 2 {
                sink.other(
                    &file,
                    Some(line),
                    &path,
                    format!("expected 2 columns (old,new), found {}", row.len()),
                );
                continue;
            }
            let (old, new) = (row[0].trim().to_string(), row[1].trim().to_string());
            if let Some(prev) = first_line.get(&old) {
                sink.other(
                    &file,
                    Some(line),
                    &path,
                    format!("duplicate old value \"{old}\" (first on line {prev})"),
                );
                continue;
            }
            if labels.contains(name) {
                if let Err(why) = crate::plan::check_label(&new) {
                    sink.other(
                        &file,
                        Some(line),
                        &path,
                        format!("\"{new}\" (for \"{old}\") becomes a label in map templates, and is not a valid XNAT label: {why}"),
                    );
                }
            }
            first_line.insert(old.clone(), line);
            table.insert(old, new);
        }
        out.insert(name.clone(), table);
    }
    out
}

/// The checks that need more than one field.
pub fn semantics(
    sink: &mut Sink<'_>,
    servers: &BTreeMap<String, Server>,
    defaults: &Policy,
    transfers: &[(usize, Transfer)],
    tables: &BTreeMap<String, Table>,
) {
    for (name, s) in servers {
        url(sink, &format!("servers.{name}.url"), &s.url);
        if s.url.starts_with("http://") && !s.allow_http && !is_loopback(&s.url) {
            sink.at(
                &format!("servers.{name}.url"),
                format!(
                    "`http://` to `{}` would send the credentials and the session cookie in clear; use https://, or set `allow_http: true` on this server if the network is trusted",
                    host(&s.url)
                ),
            );
        }
        for (field, v) in [
            ("user_env", &s.user_env),
            ("password_env", &s.password_env),
            ("token_env", &s.token_env),
        ] {
            if let Some(v) = v {
                let ok = !v.is_empty()
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !v.starts_with(|c: char| c.is_ascii_digit());
                if !ok {
                    sink.at(&format!("servers.{name}.{field}"), "must be the NAME of an environment variable (letters, digits, `_`), never a secret");
                }
            }
        }
        if s.user_env.is_some() != s.password_env.is_some() {
            sink.at(
                &format!("servers.{name}"),
                "user_env and password_env go together",
            );
        }
    }
    let mut names = BTreeMap::new();
    for (i, t) in transfers {
        let p = format!("transfers[{i}]");
        if let Some(first) = names.insert(t.name.clone(), *i) {
            sink.at(
                &format!("{p}.name"),
                format!(
                    "duplicate transfer name \"{}\" (also transfers[{first}])",
                    t.name
                ),
            );
        }
        transfer(sink, &p, t, servers, tables);
        super::moves::check(sink, &p, t, defaults, servers);
    }
}

/// The host of a URL, without port or brackets.
fn host(u: &str) -> &str {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// Whether a URL's host is this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn is_loopback(u: &str) -> bool {
    let host = host(u);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn url(sink: &mut Sink<'_>, path: &str, u: &str) {
    let Some((scheme, rest)) = u.split_once("://") else {
        sink.at(path, "must be an http:// or https:// URL");
        return;
    };
    if scheme != "http" && scheme != "https" {
        sink.at(
            path,
            format!("unsupported scheme `{scheme}`; use http:// or https://"),
        );
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        sink.at(
            path,
            "must not carry credentials; use user_env/password_env, token_env or ~/.netrc",
        );
    }
    if authority.is_empty() {
        sink.at(path, "has no host");
    }
}

fn transfer(
    sink: &mut Sink<'_>,
    p: &str,
    t: &Transfer,
    servers: &BTreeMap<String, Server>,
    tables: &BTreeMap<String, Table>,
) {
    for (field, e) in [("from", &t.from), ("to", &t.to)] {
        if !servers.contains_key(&e.server) {
            let known: Vec<&str> = servers.keys().map(String::as_str).collect();
            sink.at(
                &format!("{p}.{field}.server"),
                format!(
                    "unknown server \"{}\", defined: {}",
                    e.server,
                    known.join(", ")
                ),
            );
        }
        if e.project.is_empty() {
            sink.at(&format!("{p}.{field}.project"), "must not be empty");
        }
    }
    if t.from == t.to {
        sink.at(
            &format!("{p}.to"),
            "is the same project on the same server as `from`",
        );
    }
    if t.mode == Mode::Share && !t.dicom.set.is_empty() {
        sink.at(
            &format!("{p}.dicom.set"),
            "a share does not copy files, so headers cannot be rewritten; use mode copy",
        );
    }
    for (field, globs) in [
        ("select.subjects", &t.select.subjects),
        ("select.sessions", &t.select.sessions),
        ("select.scan_types.include", &t.select.scan_types.include),
        ("select.scan_types.exclude", &t.select.scan_types.exclude),
    ] {
        for (i, g) in globs.iter().enumerate() {
            if let Err(e) = globset::Glob::new(g) {
                sink.at(
                    &format!("{p}.{field}[{i}]"),
                    format!("bad glob \"{g}\": {e}"),
                );
            }
        }
    }
    let templates = Templates::new(tables);
    let sub = t.map.subject.as_deref();
    let ses = t.map.session.as_deref();
    if let Some(s) = sub {
        template(
            sink,
            &format!("{p}.map.subject"),
            s,
            &templates,
            tables,
            Stage::Subject,
        );
    }
    if let Some(s) = ses {
        template(
            sink,
            &format!("{p}.map.session"),
            s,
            &templates,
            tables,
            Stage::Session,
        );
    }
    for (k, v) in &t.dicom.set {
        let path = format!("{p}.dicom.set.{k}");
        if !crate::dicom::is_known_keyword(k) {
            let why = if crate::dicom::is_standard_keyword(k) {
                "cannot be set (file meta, pixel data, binary or sequence)".to_string()
            } else {
                match crate::dicom::nearest_keyword(k) {
                    Some(near) => {
                        format!("is not a standard DICOM keyword; did you mean \"{near}\"?")
                    }
                    None => "is not a standard DICOM keyword".to_string(),
                }
            };
            sink.at_key(&path, format!("\"{k}\" {why}"));
        }
        template(sink, &path, v, &templates, tables, Stage::Set);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Subject,
    Session,
    Set,
}

fn template(
    sink: &mut Sink<'_>,
    path: &str,
    src: &str,
    templates: &Templates,
    tables: &BTreeMap<String, Table>,
    stage: Stage,
) {
    let vars = match templates.variables(src) {
        Ok(v) => v,
        Err(e) => {
            sink.at(path, format!("template does not compile: {}", e.message));
            return;
        }
    };
    let known: BTreeMap<&str, &[&str]> = [
        ("source", &["project"][..]),
        ("subject", &["label", "id"][..]),
        ("session", &["label", "id", "date", "xsi_type", "uid"][..]),
    ]
    .into_iter()
    .collect();
    let mut seen = BTreeSet::new();
    let mut clean = true;
    for v in vars {
        let mut parts = v.splitn(2, '.');
        let root = parts.next().unwrap_or("");
        let attr = parts.next();
        if !seen.insert(v.clone()) {
            continue;
        }
        let problem = match (root, attr) {
            ("dicom", _) => None,
            ("tables", Some(name)) => {
                let name = name.split('.').next().unwrap_or(name);
                (!tables.contains_key(name))
                    .then(|| format!("refers to table \"{name}\", which `tables` does not define"))
            }
            ("tables", None) => None,
            ("dest", Some(a)) => {
                let a = a.split('.').next().unwrap_or(a);
                match (a, stage) {
                    ("project", _) => None,
                    ("subject", Stage::Session | Stage::Set) => None,
                    ("session", Stage::Set) => None,
                    ("subject" | "session", _) => Some(format!(
                        "`dest.{a}` is not known yet here (dest.subject exists from map.session on, dest.session in dicom.set)"
                    )),
                    _ => Some(format!("unknown variable `dest.{a}` (known: dest.project, dest.subject, dest.session)")),
                }
            }
            ("dest", None) => None,
            (r, a) => match known.get(r) {
                None => Some(format!(
                    "unknown variable `{r}` (known: source, dest, subject, session, dicom, tables)"
                )),
                Some(attrs) => a
                    .map(|a| a.split('.').next().unwrap_or(a))
                    .filter(|a| !attrs.contains(a))
                    .map(|a| {
                        format!(
                            "unknown variable `{r}.{a}` (known: {})",
                            attrs
                                .iter()
                                .map(|x| format!("{r}.{x}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }),
            },
        };
        if let Some(msg) = problem {
            sink.at(path, msg);
            clean = false;
        }
    }
    if clean {
        if let Err(e) = templates.check_calls(src, &sample(stage)) {
            sink.at(path, format!("template cannot render: {}", e.message));
        }
    }
}

/// Sample values of every variable a template may read at a stage, for [`Templates::check_calls`].
fn sample(stage: Stage) -> serde_json::Value {
    let mut dest = serde_json::json!({ "project": "DEST" });
    if stage != Stage::Subject {
        dest["subject"] = "DEST_SUBJECT".into();
    }
    if stage == Stage::Set {
        dest["session"] = "DEST_SESSION".into();
    }
    serde_json::json!({
        "source": { "project": "SOURCE" },
        "dest": dest,
        "subject": { "label": "SUB001", "id": "XNAT_S00001" },
        "session": {
            "label": "SUB001_MR1", "id": "XNAT_E00001", "date": "2024-01-15",
            "xsi_type": "xnat:mrSessionData", "uid": "1.2.3.4"
        },
        "dicom": {},
    })
}
