//! Session, login, token, version and schema routes, and the emulator's own `/sim/` control routes.

use super::{fail, not_allowed, require_user, Answer, Ctx};
use crate::sim::auth::{session_cookie, Caller};
use crate::sim::faults::FaultSettings;
use crate::sim::model::Role;
use crate::sim::render::{json_value, status_page, text, unauthorized};
use serde_json::json;

const XNAT_XSD: &str = include_str!("../schema/xnat.xsd");

fn with_cookie(resp: crate::sim::http::Response, id: &str) -> crate::sim::http::Response {
    resp.with_header("Set-Cookie", format!("JSESSIONID={id}; Path=/; HttpOnly"))
}

/// `GET /`: a plain page; Basic credentials get a session cookie (token logins read it).
pub fn root(ctx: &Ctx) -> Answer {
    let resp = text(200, "XNAT emulator (ferry sim)\n");
    match &ctx.caller {
        Caller::User {
            name,
            session: None,
            ..
        } => Ok(with_cookie(resp, &ctx.shared.auth.new_session(name))),
        _ => Ok(resp),
    }
}

/// `/data/JSESSION`: GET/POST give the session id (creating one for Basic callers); DELETE logs out.
pub fn jsession(ctx: &Ctx) -> Answer {
    require_user(ctx)?;
    let Caller::User { name, session, .. } = &ctx.caller else {
        return Err(unauthorized("Authentication required"));
    };
    match ctx.method() {
        "GET" | "POST" => {
            let (id, fresh) = match session {
                Some(id) => (id.clone(), false),
                None => (ctx.shared.auth.new_session(name), true),
            };
            let body = if ctx.flag("CSRF") {
                format!("{id}; XNAT_CSRF={}", crate::sim::util::random_hex(32))
            } else {
                id.clone()
            };
            let resp = text(200, body);
            Ok(if fresh { with_cookie(resp, &id) } else { resp })
        }
        "DELETE" => {
            if let Some(id) = session.clone().or_else(|| session_cookie(ctx.req)) {
                ctx.shared.auth.end_session(&id);
            }
            Ok(text(200, ""))
        }
        _ => Err(not_allowed()),
    }
}

/// `PUT|POST /data/services/auth` with form `username`, `password`.
pub fn login_form(ctx: &Ctx) -> Answer {
    if !matches!(ctx.method(), "PUT" | "POST") {
        return Err(not_allowed());
    }
    let user = ctx.param("username").or_else(|| ctx.param("j_username"));
    let pass = ctx.param("password").or_else(|| ctx.param("j_password"));
    let (Some(user), Some(pass)) = (user, pass) else {
        return Err(status_page(400, "Missing username or password."));
    };
    let caller = {
        let store = ctx.read();
        ctx.shared.auth.check_password(user, pass, &store)
    };
    match caller {
        Caller::User { name, .. } => {
            let id = ctx.shared.auth.new_session(&name);
            Ok(with_cookie(text(200, id.clone()), &id))
        }
        _ => Err(status_page(401, "Login attempt failed. Please try again.")),
    }
}

/// `GET /data/auth`.
pub fn auth_status(ctx: &Ctx) -> Answer {
    let mut body = format!("User '{}' is logged in", ctx.user());
    if ctx.flag("CSRF") {
        body.push_str(&format!("; XNAT_CSRF={}", crate::sim::util::random_hex(32)));
    }
    Ok(text(200, body))
}

/// `/data/services/tokens/...`.
pub fn tokens(ctx: &Ctx, rest: &[&str]) -> Answer {
    let auth = &ctx.shared.auth;
    let user = ctx.user().to_string();
    match rest {
        ["issue"] | ["issue", "user", _] => {
            if let ["issue", "user", other] = rest {
                if *other != user && !ctx.is_admin() {
                    return Err(fail(
                        403,
                        "Only administrators can issue tokens for other users.",
                    ));
                }
            }
            let owner = match rest {
                ["issue", "user", other] => other.to_string(),
                _ => user,
            };
            let (alias, secret) = auth.issue_token(&owner);
            Ok(json_value(200, &token_json(&alias, &secret, &owner)))
        }
        ["show"] => {
            let list: Vec<_> = auth
                .tokens_of(&user)
                .iter()
                .map(|(a, s)| token_json(a, s, &user))
                .collect();
            Ok(json_value(200, &json!(list)))
        }
        ["validate", alias, secret] => {
            let valid = auth.token_valid(alias, secret);
            Ok(json_value(
                200,
                &json!({"valid": valid.is_some().to_string()}),
            ))
        }
        ["invalidate", alias] | ["invalidate", alias, _] => {
            if auth.invalidate_token(alias) {
                Ok(json_value(200, &json!({"result": "OK"})))
            } else {
                Err(fail(404, "Token not found."))
            }
        }
        _ => Err(fail(404, "Unknown token operation.")),
    }
}

fn token_json(alias: &str, secret: &str, user: &str) -> serde_json::Value {
    json!({
        "alias": alias, "secret": secret, "xdatUserId": user, "singleUse": false,
        "validIPAddresses": [], "enabled": true, "estimatedExpirationTime": 0
    })
}

/// `GET /xapi/siteConfig/buildInfo[/{property}]`: the whole map, or one property's raw value (not
/// quoted) with an `application/json` content type, as XNAT's SiteConfigApi answers it.
pub fn build_info(ctx: &Ctx, property: &[&str]) -> Answer {
    if ctx.method() != "GET" {
        return Err(not_allowed());
    }
    let info = json!({
        "version": "1.8.10", "buildNumber": "1", "buildDate": "Mon Jan 01 00:00:00 UTC 2024",
        "sha": "ferrysim", "isDirty": "false", "timestamp": "1704067200000",
        "hostName": "127.0.0.1", "displayHostName": "ferry sim", "nodeId": "ferry-sim"
    });
    match property {
        [] => Ok(json_value(200, &info)),
        [name] => match info.get(*name).and_then(|v| v.as_str()) {
            Some(v) => Ok(crate::sim::http::Response::bytes(
                200,
                "application/json",
                v.as_bytes().to_vec(),
            )),
            None => Err(fail(404, &format!("No build property {name}."))),
        },
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

/// `GET /xapi/users/{name}`: an account as XNAT's UsersApi shows it, to the account itself or a site
/// administrator (`403` for others, `404` for unknown names).
fn user(ctx: &Ctx, name: &str) -> Answer {
    if ctx.user() != name && !ctx.is_admin() {
        return Err(fail(403, &format!("Not authorized to view user {name}.")));
    }
    let store = ctx.read();
    let account = store
        .site
        .users
        .get(name)
        .ok_or_else(|| fail(404, &format!("User {name} not found.")))?;
    let id = store.site.users.keys().position(|k| k == name).unwrap_or(0) + 1;
    Ok(json_value(
        200,
        &json!({
            "id": id, "username": name, "firstName": name, "lastName": "",
            "email": format!("{name}@localhost"), "enabled": true, "verified": true,
            "admin": account.admin, "lastSuccessfulLogin": null
        }),
    ))
}

/// `/xapi/...` (authenticated).
pub fn xapi(ctx: &Ctx, rest: &[&str]) -> Answer {
    match rest {
        ["schemas"] => Ok(json_value(200, &json!(["xnat"]))),
        ["schemas", "xnat"] | ["schemas", "xnat", "xnat"] | ["schemas", "xnat.xsd"] => Ok(
            crate::sim::http::Response::bytes(200, "text/xml", XNAT_XSD.as_bytes().to_vec()),
        ),
        ["access", "projects"] => {
            let store = ctx.read();
            let rows: Vec<_> = store
                .projects
                .values()
                .filter_map(|p| p.roles.get(ctx.user()).map(|r| (p, *r)))
                .map(|(p, r)| {
                    json!({"ID": p.id, "secondary_ID": p.secondary_id, "name": p.name,
                           "role": r.group_name(), "group_id": format!("{}_{}", p.id, r.group_suffix()),
                           "URI": format!("/data/projects/{}", p.id), "description": p.description})
                })
                .collect();
            Ok(json_value(200, &json!(rows)))
        }
        ["users", "username"] => Ok(text(200, ctx.user())),
        ["users", name] => user(ctx, name),
        ["anonymize", tail @ ..] => super::anonymize::route(ctx, tail),
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

/// `/sim/...`: run-time control for tests (site administrators only; never subject to faults).
pub fn control(ctx: &Ctx, rest: &[&str]) -> Answer {
    require_user(ctx)?;
    if !ctx.is_admin() {
        return Err(fail(
            403,
            "Only site administrators may control the emulator.",
        ));
    }
    match rest {
        ["faults"] => faults(ctx),
        ["stats"] if ctx.method() == "GET" => Ok(crate::sim::render::json_value(
            200,
            &ctx.shared.stats.to_json(),
        )),
        ["projects", project, "users", user] => set_role(ctx, project, user),
        ["anonymize"] => super::anonymize::control(ctx),
        ["datatypes", t] if ELEMENTS.contains(t) && matches!(ctx.method(), "PUT" | "POST") => {
            let enabled = match ctx.param("enabled") {
                Some("true") => true,
                Some("false") => false,
                _ => return Err(fail(400, "enabled must be true or false")),
            };
            let mut off = ctx
                .shared
                .disabled_types
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if enabled {
                off.remove(*t);
            } else {
                off.insert(t.to_string());
            }
            Ok(text(200, ""))
        }
        _ => Err(fail(404, "Unknown control route.")),
    }
}

fn faults(ctx: &Ctx) -> Answer {
    let f = &ctx.shared.faults;
    if matches!(ctx.method(), "PUT" | "POST") {
        let mut s = f.settings();
        let num = |k: &str| ctx.param(k).map(|v| v.parse::<f64>());
        let bad = || fail(400, "fault settings must be numbers");
        if let Some(v) = num("latency_ms") {
            s.latency_ms = v.map_err(|_| bad())? as u64;
        }
        if let Some(v) = num("error_rate") {
            s.error_rate = v.map_err(|_| bad())?.clamp(0.0, 1.0);
        }
        if let Some(v) = num("late_error_rate") {
            s.late_error_rate = v.map_err(|_| bad())?.clamp(0.0, 1.0);
        }
        if let Some(v) = num("late_fail_next") {
            s.late_fail_next = v.map_err(|_| bad())? as u64;
        }
        if let Some(v) = num("drop_rate") {
            s.drop_rate = v.map_err(|_| bad())?.clamp(0.0, 1.0);
        }
        if let Some(v) = num("fail_next") {
            s.fail_next = v.map_err(|_| bad())? as u64;
        }
        if let Some(v) = num("drop_next") {
            s.drop_next = v.map_err(|_| bad())? as u64;
        }
        if let Some(v) = ctx.param("only") {
            s.only = v.to_string();
        }
        let seed = match ctx.param("rng_seed") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| bad())?),
            None => None,
        };
        f.set(s, seed);
    } else if ctx.method() != "GET" {
        return Err(not_allowed());
    }
    let FaultSettings {
        latency_ms,
        error_rate,
        late_error_rate,
        drop_rate,
        fail_next,
        drop_next,
        late_fail_next,
        only,
    } = f.settings();
    Ok(json_value(
        200,
        &json!({"latency_ms": latency_ms, "error_rate": error_rate,
                "late_error_rate": late_error_rate, "drop_rate": drop_rate,
                "fail_next": fail_next, "drop_next": drop_next, "late_fail_next": late_fail_next, "only": only}),
    ))
}

fn set_role(ctx: &Ctx, project: &str, user: &str) -> Answer {
    if !matches!(ctx.method(), "PUT" | "POST") {
        return Err(not_allowed());
    }
    let role = ctx.param("role").unwrap_or("none");
    let mut store = ctx.write();
    if !store.site.users.contains_key(user) {
        return Err(fail(404, &format!("Unknown user {user}.")));
    }
    let Some(mut p) = store.projects.get(project).cloned() else {
        return Err(fail(404, &format!("Unable to identify project {project}")));
    };
    match Role::parse(role) {
        Some(r) => {
            p.roles.insert(user.to_string(), r);
        }
        None if role == "none" => {
            p.roles.remove(user);
        }
        None => {
            return Err(fail(
                400,
                "role must be owner, member, collaborator or none",
            ))
        }
    }
    store
        .put_project(p)
        .map_err(|_| fail(500, "cannot save the project"))?;
    Ok(text(200, ""))
}

/// The data types this emulator serves.
const ELEMENTS: &[&str] = &[
    "xnat:projectData",
    "xnat:subjectData",
    "xnat:mrSessionData",
    "xnat:ctSessionData",
    "xnat:petSessionData",
    "xnat:otherDicomSessionData",
    "xnat:mrScanData",
    "xnat:ctScanData",
    "xnat:petScanData",
    "xnat:otherDicomScanData",
];

/// `GET /data/search/elements[/{type}]`: the data types, and their (uppercase) search fields.
pub fn search_elements(ctx: &Ctx, rest: &[&str]) -> Answer {
    use crate::sim::render::{Meta, Table};
    let meta = Meta {
        total: true,
        ..Meta::default()
    };
    let off = ctx
        .shared
        .disabled_types
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let served = |t: &str| ELEMENTS.contains(&t) && !off.contains(t);
    match rest {
        [] => {
            let rows = ELEMENTS
                .iter()
                .filter(|e| served(e))
                .map(|e| vec![e.to_string(), e.rsplit(':').next().unwrap_or(e).to_string()])
                .collect();
            let t = Table {
                columns: vec!["ELEMENT_NAME".into(), "SINGULAR".into()],
                rows,
            };
            Ok(t.respond(&ctx.format(), &meta))
        }
        [t] if served(t) => {
            let fields = ["ID", "LABEL", "PROJECT", "INSERT_DATE"];
            let rows = fields
                .iter()
                .map(|f| vec![f.to_string(), "string".into()])
                .collect();
            let t = Table {
                columns: vec!["FIELD_ID".into(), "TYPE".into()],
                rows,
            };
            Ok(t.respond(&ctx.format(), &meta))
        }
        _ => Err(fail(404, "Unknown data type.")),
    }
}
