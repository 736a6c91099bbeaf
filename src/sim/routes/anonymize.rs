//! `/xapi/anonymize/...` as XNAT's AnonymizeApi serves it: the site-wide and project scripts as
//! `text/plain`, whether each runs as a JSON boolean, and XNAT's default script.
//!
//! | method | path | who | what |
//! |---|---|---|---|
//! | GET | `/xapi/anonymize/default` | any user | XNAT's default script |
//! | GET, PUT | `/xapi/anonymize/site` | any user / site admin | the site-wide script |
//! | GET, PUT | `/xapi/anonymize/site/enabled` | any user (site admins only after `PUT /sim/anonymize?site_switch_admin_only=true`, as before XNAT 1.8) / site admin | `true`/`false`; PUT reads `?enable=` (default true) |
//! | GET, PUT | `/xapi/anonymize/projects/{P}` | readers / owners | the project script; GET `204` when blank |
//! | GET, PUT | `/xapi/anonymize/projects/{P}/enabled` | readers / owners | as for the site |

use super::{fail, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::render::{json_value, text};
use serde_json::json;

fn io_fail(_: std::io::Error) -> Response {
    fail(500, "An unexpected error occurred.")
}

fn admin(ctx: &Ctx) -> Result<(), Response> {
    if ctx.is_admin() {
        Ok(())
    } else {
        Err(fail(
            403,
            "Insufficient permissions to modify the site-wide anonymization script.",
        ))
    }
}

/// Spring's reading of a boolean request parameter (`enable`, default true).
fn enable(ctx: &Ctx) -> Result<bool, Response> {
    match ctx.param("enable").map(str::to_ascii_lowercase).as_deref() {
        None | Some("true" | "on" | "yes" | "1") => Ok(true),
        Some("false" | "off" | "no" | "0") => Ok(false),
        Some(_) => Err(fail(400, "The parameter `enable` is not a boolean.")),
    }
}

fn script_body(ctx: &Ctx) -> Result<String, Response> {
    String::from_utf8(ctx.req.body.clone()).map_err(|_| fail(400, "The script is not UTF-8 text."))
}

/// `PUT /sim/anonymize?site_switch_admin_only=true|false`: whether reading `site/enabled` needs a
/// site administrator, as in XNAT before 1.8.
pub fn control(ctx: &Ctx) -> Answer {
    if !matches!(ctx.method(), "PUT" | "POST") {
        return Err(not_allowed());
    }
    let on = match ctx.param("site_switch_admin_only") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(fail(400, "site_switch_admin_only must be true or false")),
    };
    let mut store = ctx.write();
    store.site.anon.switch_admin_only = on;
    store.save_site().map_err(io_fail)?;
    Ok(text(200, ""))
}

/// Routes `rest` after `/xapi/anonymize`.
pub fn route(ctx: &Ctx, rest: &[&str]) -> Answer {
    match (ctx.method(), rest) {
        ("GET", ["default"]) => Ok(text(200, crate::dicomedit::XNAT_DEFAULT_SCRIPT)),
        ("GET", ["site"]) => Ok(text(200, ctx.read().site.anon.script.clone())),
        ("PUT", ["site"]) => {
            admin(ctx)?;
            let body = script_body(ctx)?;
            let mut store = ctx.write();
            store.site.anon.script = body;
            store.save_site().map_err(io_fail)?;
            Ok(text(200, ""))
        }
        ("GET", ["site", "enabled"]) => {
            let anon = ctx.read().site.anon.clone();
            if anon.switch_admin_only && !ctx.is_admin() {
                return Err(fail(
                    403,
                    "Insufficient permissions to read the site-wide anonymization setting.",
                ));
            }
            Ok(json_value(200, &json!(anon.enabled)))
        }
        ("PUT", ["site", "enabled"]) => {
            admin(ctx)?;
            let on = enable(ctx)?;
            let mut store = ctx.write();
            store.site.anon.enabled = on;
            store.save_site().map_err(io_fail)?;
            Ok(text(200, ""))
        }
        (m, ["projects", p, tail @ ..]) => project(ctx, m, p, tail),
        (_, ["default" | "site"] | ["site", "enabled"]) => Err(not_allowed()),
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

fn project(ctx: &Ctx, method: &str, p: &str, tail: &[&str]) -> Answer {
    let need = match method {
        "GET" => Access::Read,
        "PUT" => Access::Delete,
        _ => return Err(not_allowed()),
    };
    let mut store = ctx.write();
    super::access::project(ctx, &store, p, need)?;
    let mut proj = store.projects[p].clone();
    match (method, tail) {
        ("GET", []) if proj.anon_script.trim().is_empty() => {
            Ok(Response::bytes(204, "text/plain", Vec::new()))
        }
        ("GET", []) => Ok(text(200, proj.anon_script)),
        ("GET", ["enabled"]) => Ok(json_value(200, &json!(proj.anon_enabled))),
        ("PUT", []) => {
            // A project's first script is a new configuration entry, which starts enabled.
            if proj.anon_script.trim().is_empty() {
                proj.anon_enabled = true;
            }
            proj.anon_script = script_body(ctx)?;
            store.put_project(proj).map_err(io_fail)?;
            Ok(text(200, ""))
        }
        ("PUT", ["enabled"]) => {
            proj.anon_enabled = enable(ctx)?;
            store.put_project(proj).map_err(io_fail)?;
            Ok(text(200, ""))
        }
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}
