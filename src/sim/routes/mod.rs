//! The route table: every request is decoded, authenticated, passed through fault injection and
//! dispatched here. `/data`, `/REST`, `/data/archive` and `/REST/archive` are the same API.
//! `/archive/...` and `/prearchive/...` without a prefix (as the archive service's replies name them)
//! are accepted too. A path segment that is `.` or `..`, or decodes to text with a slash, backslash or
//! NUL, is refused with `400` before routing (as Tomcat does). Unknown paths answer `404`; unsupported methods on known paths `405`; nothing panics (a panic in a
//! handler is caught and answered `500`).
//!
//! | method | path (after `/data` or `/REST`, optional `/archive`) | what |
//! |---|---|---|
//! | GET | `/` (site root) | plain page; with Basic credentials also sets `JSESSIONID` |
//! | GET, POST, DELETE | `/JSESSION` | session id as text; DELETE logs out |
//! | GET | `/auth` | `User '<login>' is logged in` |
//! | PUT, POST | `/services/auth` | form `username`/`password` → session id |
//! | GET | `/services/tokens/issue`, `/show`, `/validate/{alias}/{secret}`, `/invalidate/{alias}` | alias tokens |
//! | GET | `/version` | always `404`, as XNAT 1.7+ |
//! | GET | `/projects` | ResultSet (`permissions=edit|delete` or `restrict=` narrows) |
//! | GET, PUT, DELETE | `/projects/{P}` | item JSON; PUT creates (site admin) |
//! | GET | `/projects/{P}/subjects`, `/projects/{P}/experiments`, `/projects/{P}/subjects/{S}/experiments` | ResultSets |
//! | GET, PUT, DELETE | `/projects/{P}/subjects/{S}` | item JSON; PUT creates (201 + ID); DELETE (`removeFiles`) |
//! | GET, PUT, DELETE | `/projects/{P}/subjects/{S}/experiments/{E}`, `/projects/{P}/experiments/{E}` | item JSON; PUT creates; DELETE deletes or unshares |
//! | PUT, DELETE | `.../subjects/{S}/projects/{D}`, `.../experiments/{E}/projects/{D}` (`label=`) | share / unshare; `primary=true` changes the primary project (files move, IDs kept) |
//! | GET | `/subjects/{ID}`, `/experiments/{ID}` | items by accession ID; `/experiments` site-wide listing |
//! | GET | `{session}/scans`, `{session}/scans/{S}` | scan ResultSet / item (`{session}` = `/experiments/{ID}` or `/projects/{P}/subjects/{S}/experiments/{E}`) |
//! | PUT, DELETE | `{session}/scans/{S}` | create / delete a scan |
//! | GET | `{session}/scans/{S}/resources`, `{session}/resources` | resource ResultSet |
//! | GET, PUT, DELETE | `.../resources/{R}` | catalog XML / create / delete |
//! | GET | `.../resources/{R}/files`, `{session}/scans/{S}/files`, `{session}/files` (`all=true`: with every scan's) | file ResultSet, or `format=zip` (streamed) |
//! | GET, PUT, POST, DELETE | `.../resources/{R}/files/{path}` | one file / upload (raw or multipart, `overwrite`, `extract`) / delete |
//! | GET | `{session}/status`, `{session}/projects` | `active` / the projects of the session |
//! | POST | `/services/import` | DICOM-zip import into prearchive or archive (`text/uri-list`) |
//! | POST | `/services/archive` | archive a prearchive session (`src`, `overwrite`, `dest`, ...) |
//! | POST | `/services/prearchive/delete` | delete prearchive sessions (`src`) |
//! | GET | `/prearchive`, `/prearchive/projects[/{P}]` | prearchive ResultSet |
//! | GET, DELETE | `/prearchive/projects/{P}/{TS}/{F}` | session row (`format=zip` for files) / delete |
//! | GET | `/projects/{P}/prearchive_code` | the project's prearchive code; PUT `/prearchive_code/{n}` sets it |
//! | GET | `/search/elements[/{type}]` | the data types served (`ELEMENT_NAME`) and their search fields (`FIELD_ID`) |
//! | GET | `/xapi/siteConfig/buildInfo`, `/xapi/siteConfig/buildInfo/{property}` | JSON, version 1.8.10; one property as its raw value |
//! | GET | `/xapi/users/username`, `/xapi/users/{name}` | the caller's login; an account (self or site admin) |
//! | POST | `/search` | an `xdat:bundle` search (see `search`) |
//! | PUT, POST | item routes | an XML item document in the body stores its fields (see `xmlput`) |
//! | GET | `/xapi/schemas`, `/xapi/schemas/{name}` | schema list and our own minimal XSDs |
//! | GET | `/xapi/access/projects` | the caller's project roles |
//! | GET, PUT | `/xapi/anonymize/site[/enabled]`, `/xapi/anonymize/projects/{P}[/enabled]`, GET `/xapi/anonymize/default` | anonymization scripts (see `anonymize.rs`) |
//! | GET, PUT | `/sim/faults` | control (site admin, no faults applied): `latency_ms`, `error_rate`, `late_error_rate`, `drop_rate`, `fail_next`, `late_fail_next`, `drop_next`, `only` (a path fragment the faults aim at), `rng_seed` |
//! | PUT | `/sim/projects/{P}/users/{U}?role=owner|member|collaborator|none` | control: change a role at run time |
//! | PUT | `/sim/datatypes/{T}?enabled=true|false` | control: switch a data type off (as if its plugin were missing) or on |
//! | PUT | `/sim/anonymize?site_switch_admin_only=true|false` | control: whether reading `/xapi/anonymize/site/enabled` needs a site administrator, as in XNAT before 1.8 |
//! | GET | `/sim/stats` | control: `file_bytes_served` (file and archive bodies), `bytes_received` (request bodies) and `requests` (API requests answered) so far |

mod access;
mod anonymize;
mod archive;
mod archiver;
mod download;
mod edit;
mod filelist;
mod files;
mod import;
mod items;
mod prearchive;
mod primary;
mod search;
mod service;
mod sessions;
mod share;
pub mod stats;
mod upload;
mod xmlput;

use super::auth::{Access, Caller};
use super::http::{Request, Response};
use super::render::{status_page, unauthorized};
use super::store::Store;
use super::util::{parse_pairs, percent_decode};
use super::Shared;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

/// One request with its decoded parts and caller.
pub struct Ctx<'a> {
    /// Shared state.
    pub shared: &'a Shared,
    /// The request.
    pub req: &'a Request,
    /// Query and form parameters in order.
    pub params: Vec<(String, String)>,
    /// Who is calling.
    pub caller: Caller,
}

impl Ctx<'_> {
    /// The first value of a parameter (case-sensitive name).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// XNAT's `isQueryVariableTrue`: present and not `false`/`0`.
    pub fn flag(&self, name: &str) -> bool {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .is_some_and(|(_, v)| !(v.eq_ignore_ascii_case("false") || v == "0"))
    }

    /// The requested format, lower-case (`json` when absent).
    pub fn format(&self) -> String {
        self.param("format").unwrap_or("json").to_ascii_lowercase()
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.req.method
    }

    /// A read lock on the store.
    pub fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.shared.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A write lock on the store.
    pub fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.shared.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller's login ("" when anonymous).
    pub fn user(&self) -> &str {
        self.caller.name().unwrap_or("")
    }

    /// The caller's access in a project.
    pub fn access(&self, store: &Store, project: &str) -> Access {
        super::auth::access(store, &self.caller, project)
    }

    /// Whether the caller is a site administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self.caller, Caller::User { admin: true, .. })
    }
}

/// An error answer.
pub type Answer = Result<Response, Response>;

/// A status page as an `Err`.
pub fn fail(status: u16, message: &str) -> Response {
    status_page(status, message)
}

/// Handles one request; never panics.
pub fn handle(shared: &Shared, req: Request) -> Response {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(shared, &req)));
    match result {
        Ok(r) => r,
        Err(_) => status_page(500, "internal error"),
    }
}

fn decode_segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect()
}

fn dispatch(shared: &Shared, req: &Request) -> Response {
    let Some(segs) = decode_segments(&req.path) else {
        return status_page(400, "malformed percent-encoding in the path");
    };
    // As Tomcat in front of XNAT: no `.`/`..` segments and no encoded slashes, backslashes or NULs.
    if segs.iter().any(|s| super::paths::dangerous_segment(s)) {
        return status_page(
            400,
            "Invalid path: a segment is `.` or `..` or hides a slash.",
        );
    }
    let Some(mut params) = parse_pairs(&req.query) else {
        return status_page(400, "malformed percent-encoding in the query");
    };
    let is_form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form && !req.body.is_empty() {
        if let Some(form) = std::str::from_utf8(&req.body).ok().and_then(parse_pairs) {
            params.extend(form);
        }
    }
    if item_body(req, &segs) {
        params.extend(xmlput::fields(req));
    }
    let caller = {
        let store = shared.store.read().unwrap_or_else(|e| e.into_inner());
        shared.auth.identify(req, &store)
    };
    let ctx = Ctx {
        shared,
        req,
        params,
        caller,
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if segs.first() == Some(&"sim") {
        return service::control(&ctx, &segs[1..]).unwrap_or_else(|e| e);
    }
    let decision = shared.faults.decide(&req.path);
    if decision.fail {
        return status_page(500, "injected fault");
    }
    let mut resp = route(&ctx, &segs).unwrap_or_else(|e| e);
    if decision.fail_late {
        // The work is done and kept; only the answer is lost.
        return status_page(500, "injected fault after the work was done");
    }
    resp.drop_body = decision.drop;
    shared.stats.count(req.body.len(), resp)
}

/// Whether a request may carry an item document (a PUT or POST of a project, subject, session or scan,
/// not a file upload).
fn item_body(req: &Request, segs: &[String]) -> bool {
    matches!(req.method.as_str(), "PUT" | "POST")
        && !req.body.is_empty()
        && matches!(segs.first().map(String::as_str), Some("data" | "REST"))
        && segs
            .iter()
            .any(|s| matches!(s.as_str(), "projects" | "subjects" | "experiments"))
        && !segs.iter().any(|s| {
            matches!(
                s.as_str(),
                "files" | "resources" | "services" | "prearchive"
            )
        })
}

/// Answers `401` unless the caller is authenticated.
fn require_user(ctx: &Ctx) -> Result<(), Response> {
    match ctx.caller {
        Caller::User { .. } => Ok(()),
        Caller::BadCredentials => Err(unauthorized("Login attempt failed. Please try again.")),
        Caller::Anonymous => Err(unauthorized("Authentication required")),
    }
}

fn route(ctx: &Ctx, segs: &[&str]) -> Answer {
    match segs {
        [] => service::root(ctx),
        ["xapi", rest @ ..] => {
            if let ["siteConfig", "buildInfo", property @ ..] = rest {
                return service::build_info(ctx, property);
            }
            require_user(ctx)?;
            service::xapi(ctx, rest)
        }
        ["data" | "REST", "archive", rest @ ..] | ["data" | "REST", rest @ ..] => api(ctx, rest),
        // The archive service answers `/archive/...` URIs without `/data`; clients GET them as given.
        ["archive", rest @ ..] => api(ctx, rest),
        ["prearchive", ..] => api(ctx, segs),
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

fn api(ctx: &Ctx, segs: &[&str]) -> Answer {
    match segs {
        ["JSESSION"] => return service::jsession(ctx),
        ["services", "auth"] => return service::login_form(ctx),
        _ => {}
    }
    require_user(ctx)?;
    match segs {
        ["auth"] => service::auth_status(ctx),
        ["version"] => Err(fail(404, "The requested resource was not found.")),
        ["services", "tokens", rest @ ..] => service::tokens(ctx, rest),
        ["search", "elements", rest @ ..] => service::search_elements(ctx, rest),
        ["search", rest @ ..] => search::search(ctx, rest),
        ["services", "import"] => import::import(ctx),
        ["services", "archive"] => prearchive::archive_service(ctx),
        ["services", "prearchive", op] => prearchive::batch(ctx, op),
        ["prearchive", rest @ ..] => prearchive::route(ctx, rest),
        ["projects", ..] | ["subjects", ..] | ["experiments", ..] => archive::route(ctx, segs),
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

/// `405` for a method a route does not serve.
pub fn not_allowed() -> Response {
    fail(
        405,
        "The method specified in the request is not allowed for the resource.",
    )
}
