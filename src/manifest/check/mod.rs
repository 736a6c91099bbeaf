//! The checks of a manifest beyond its types: references between fields, tables, templates, DICOM
//! keywords, globs and URLs (serde's messages are reworded in `messages.rs`).

mod csv_tables;
mod templates;

pub use csv_tables::{label_tables, tables};

use super::load::Sink;
use super::model::{Mode, Policy, Server, Transfer};
use crate::template::{Table, Templates};
use std::collections::BTreeMap;
use templates::{template, Stage};

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

/// Checks one transfer at `p`: its endpoints, its globs, its label templates and its `dicom.set`.
fn transfer(
    sink: &mut Sink<'_>,
    p: &str,
    t: &Transfer,
    servers: &BTreeMap<String, Server>,
    tables: &BTreeMap<String, Table>,
) {
    endpoints(sink, p, t, servers);
    if t.mode == Mode::Share && !t.dicom.set.is_empty() {
        sink.at(
            &format!("{p}.dicom.set"),
            "a share does not copy files, so headers cannot be rewritten; use mode copy",
        );
    }
    globs(sink, p, t);
    let templates = Templates::new(tables);
    if let Some(s) = t.map.subject.as_deref() {
        let path = format!("{p}.map.subject");
        template(sink, &path, s, &templates, tables, Stage::Subject);
    }
    if let Some(s) = t.map.session.as_deref() {
        let path = format!("{p}.map.session");
        template(sink, &path, s, &templates, tables, Stage::Session);
    }
    for (k, v) in &t.dicom.set {
        let path = format!("{p}.dicom.set.{k}");
        if let Some(why) = keyword_problem(k) {
            sink.at_key(&path, format!("\"{k}\" {why}"));
        }
        template(sink, &path, v, &templates, tables, Stage::Set);
    }
}

/// Checks a transfer's `from` and `to`: servers the manifest defines, projects named, and not the
/// same project on the same server.
fn endpoints(sink: &mut Sink<'_>, p: &str, t: &Transfer, servers: &BTreeMap<String, Server>) {
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
}

/// Checks that every subject, session and scan type glob of a transfer's selection compiles.
fn globs(sink: &mut Sink<'_>, p: &str, t: &Transfer) {
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
}

/// Why `dicom.set` cannot set a header field of this keyword (not a standard keyword, with the
/// nearest one, or one that cannot be set), if it cannot.
fn keyword_problem(k: &str) -> Option<String> {
    if crate::dicom::is_known_keyword(k) {
        return None;
    }
    Some(if crate::dicom::is_standard_keyword(k) {
        "cannot be set (file meta, pixel data, binary or sequence)".to_string()
    } else {
        match crate::dicom::nearest_keyword(k) {
            Some(near) => format!("is not a standard DICOM keyword; did you mean \"{near}\"?"),
            None => "is not a standard DICOM keyword".to_string(),
        }
    })
}
