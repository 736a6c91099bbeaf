//! The archive tree: projects, subjects and experiments, their listings and items, and the dispatch
//! of scan, resource and file routes under a session.

use super::access::{self, label_in, subject_label_in, Scope};
use super::{edit, fail, files, items, not_allowed, sessions, share, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::render::{Meta, Table};
use crate::sim::util::wildcard_match;
use serde_json::{Map, Value};

/// Routes `/projects...`, `/subjects...`, `/experiments...`.
pub fn route(ctx: &Ctx, segs: &[&str]) -> Answer {
    let m = ctx.method();
    match segs {
        ["projects"] => only_get(m).and_then(|_| list_projects(ctx)),
        ["projects", p] => match m {
            "GET" => get_project(ctx, p),
            "PUT" | "POST" => edit::put_project(ctx, p),
            "DELETE" => edit::delete_project(ctx, p),
            _ => Err(not_allowed()),
        },
        ["projects", p, "prearchive_code", rest @ ..] => edit::prearchive_code(ctx, p, rest),
        ["projects", p, "subjects"] => only_get(m).and_then(|_| list_subjects(ctx, p)),
        ["projects", p, "subjects", s] => subject(ctx, Scope::Project(p), s),
        ["projects", p, "subjects", s, "projects", d] => {
            share::subject(ctx, Scope::Project(p), s, d)
        }
        ["projects", p, "subjects", s, "experiments"] => {
            only_get(m).and_then(|_| list_experiments(ctx, p, Some(s)))
        }
        ["projects", p, "subjects", s, "experiments", e] => {
            experiment(ctx, Scope::ProjectSubject(p, s), e)
        }
        ["projects", p, "subjects", s, "experiments", e, "projects", d] => {
            share::experiment(ctx, Scope::ProjectSubject(p, s), e, d)
        }
        ["projects", p, "subjects", s, "experiments", e, rest @ ..] => {
            files::session_route(ctx, Scope::ProjectSubject(p, s), e, rest)
        }
        // Subject-level resources: the emulator keeps none, and says so as XNAT would.
        ["projects", p, "subjects", s, "resources"] => only_get(m).and_then(|_| {
            let store = ctx.read();
            access::subject(ctx, &store, Scope::Project(p), s)?;
            Ok(empty_resources(ctx))
        }),
        ["projects", p, "subjects", _, ..] => Err(fail(404, &format!("Unknown path under {p}."))),
        ["projects", p, "experiments"] => only_get(m).and_then(|_| list_experiments(ctx, p, None)),
        ["projects", p, "experiments", e] => experiment(ctx, Scope::Project(p), e),
        ["projects", p, "experiments", e, "projects", d] => {
            share::experiment(ctx, Scope::Project(p), e, d)
        }
        ["projects", p, "experiments", e, "resources", ..]
        | ["projects", p, "experiments", e, "status"]
        | ["projects", p, "experiments", e, "projects"] => {
            files::session_route(ctx, Scope::Project(p), e, &segs[4..])
        }
        // XNAT has no scan routes here: the experiment route catches the rest.
        ["projects", p, "experiments", e, ..] => match m {
            "GET" => experiment(ctx, Scope::Project(p), e),
            "DELETE" => Err(fail(
                400,
                "Illegal file path: does not start with 'projects/'.",
            )),
            _ => Err(not_allowed()),
        },
        ["projects", _, "resources"] => only_get(m).map(|_| empty_resources(ctx)),
        ["subjects", s] => subject(ctx, Scope::Site, s),
        ["subjects", s, "projects", d] => share::subject(ctx, Scope::Site, s, d),
        ["subjects", s, ..] => subject(ctx, Scope::Site, s),
        ["experiments"] => only_get(m).and_then(|_| list_all_experiments(ctx)),
        ["experiments", e] => experiment(ctx, Scope::Site, e),
        ["experiments", e, "projects", d] => share::experiment(ctx, Scope::Site, e, d),
        ["experiments", e, rest @ ..] => files::session_route(ctx, Scope::Site, e, rest),
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

fn only_get(m: &str) -> Result<(), crate::sim::http::Response> {
    if m == "GET" {
        Ok(())
    } else {
        Err(not_allowed())
    }
}

fn empty_resources(ctx: &Ctx) -> crate::sim::http::Response {
    files::resource_table(Vec::new()).respond(
        &ctx.format(),
        &Meta {
            title: Some("Resources"),
            total: true,
            uri_columns: false,
        },
    )
}

/// Parameters that are never column filters.
const NOT_FILTERS: &[&str] = &[
    "format",
    "columns",
    "sortBy",
    "sortOrder",
    "limit",
    "offset",
    "permissions",
    "restrict",
    "dataType",
    "req_format",
    "accessible",
    "owner",
    "member",
    "collaborator",
    "recent",
    "favorite",
    "admin",
    "prearc_code",
    "XNAT_CSRF",
    "file_stats",
    "cache_file_stats",
    "concealHiddenFields",
];

/// Applies filters, `columns` and `sortBy`, then renders a listing.
pub fn listing(
    ctx: &Ctx,
    defaults: &[&str],
    mut rows: Vec<Map<String, Value>>,
) -> crate::sim::http::Response {
    for (k, v) in &ctx.params {
        if NOT_FILTERS.contains(&k.as_str()) {
            continue;
        }
        let key = k.rsplit('/').next().unwrap_or(k);
        if !rows.first().is_some_and(|r| r.contains_key(key)) {
            continue;
        }
        rows.retain(|r| {
            let cell = r.get(key).and_then(Value::as_str).unwrap_or("");
            v.split(',').any(|alt| wildcard_match(alt.trim(), cell))
        });
    }
    let mut columns: Vec<String> = match ctx.param("columns") {
        Some(c) if !c.eq_ignore_ascii_case("DEFAULT") => c
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|c| c != "URI" && rows.first().is_none_or(|r| r.contains_key(c)) && known(c))
            .collect(),
        _ => defaults.iter().map(|s| s.to_string()).collect(),
    };
    // The row's key is always part of a listing, as XNAT's query organizer adds it.
    let has_id = rows.first().is_none_or(|r| r.contains_key("ID"));
    if has_id && !columns.iter().any(|c| c == "ID") {
        columns.insert(0, "ID".into());
    }
    columns.push("URI".into());
    if let Some(sort) = ctx.param("sortBy") {
        let keys: Vec<&str> = sort.split(',').collect();
        rows.sort_by(|a, b| {
            keys.iter()
                .map(|k| {
                    let x = a.get(*k).and_then(Value::as_str).unwrap_or("");
                    let y = b.get(*k).and_then(Value::as_str).unwrap_or("");
                    x.cmp(y)
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        if ctx
            .param("sortOrder")
            .is_some_and(|o| o.eq_ignore_ascii_case("DESC"))
        {
            rows.reverse();
        }
    }
    Table::from_maps(&columns, &rows).respond(
        &ctx.format(),
        &Meta {
            total: true,
            ..Meta::default()
        },
    )
}

fn known(c: &str) -> bool {
    !c.is_empty()
}

fn row(pairs: &[(&str, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect()
}

fn list_projects(ctx: &Ctx) -> Answer {
    let store = ctx.read();
    let need = match ctx.param("permissions").or(ctx.param("restrict")) {
        Some("edit") => Access::Edit,
        Some("delete") => Access::Delete,
        _ => Access::Read,
    };
    let rows = store
        .projects
        .values()
        .filter(|p| ctx.access(&store, &p.id) >= need)
        .map(|p| {
            row(&[
                ("ID", p.id.clone()),
                ("secondary_ID", p.secondary_id.clone()),
                ("name", p.name.clone()),
                ("description", p.description.clone()),
                ("pi_firstname", String::new()),
                ("pi_lastname", String::new()),
                ("alias", String::new()),
                ("xsiType", "xnat:projectData".into()),
                ("URI", format!("/data/projects/{}", p.id)),
            ])
        })
        .collect();
    Ok(listing(
        ctx,
        &[
            "ID",
            "secondary_ID",
            "name",
            "description",
            "pi_firstname",
            "pi_lastname",
        ],
        rows,
    ))
}

fn get_project(ctx: &Ctx, p: &str) -> Answer {
    let store = ctx.read();
    access::project(ctx, &store, p, Access::Read)?;
    let proj = store
        .projects
        .get(p)
        .ok_or_else(|| fail(404, &format!("Unable to identify project {p}")))?;
    Ok(items::respond(ctx, &items::project(proj), || {
        crate::sim::xmldoc::project(proj)
    }))
}

fn list_subjects(ctx: &Ctx, p: &str) -> Answer {
    let store = ctx.read();
    access::project(ctx, &store, p, Access::Read)?;
    let rows = store
        .subjects_in(p)
        .into_iter()
        .map(|s| {
            // ProjectSubjectList rewrites the label of a shared subject to its label here, but keeps
            // its owning project (unlike the experiment listing below).
            row(&[
                ("ID", s.id.clone()),
                ("project", s.project.clone()),
                ("label", subject_label_in(s, p)),
                ("insert_date", s.insert_date.clone()),
                ("insert_user", s.insert_user.clone()),
                ("xsiType", "xnat:subjectData".into()),
                ("URI", format!("/data/subjects/{}", s.id)),
            ])
        })
        .collect();
    Ok(listing(
        ctx,
        &["ID", "project", "label", "insert_date", "insert_user"],
        rows,
    ))
}

fn experiment_row(
    store: &crate::sim::store::Store,
    e: &crate::sim::model::Experiment,
    p: &str,
) -> Map<String, Value> {
    let (subject_label, subject_project) = store
        .subject(&e.subject_id)
        .map(|s| (subject_label_in(s, p), s.project.clone()))
        .unwrap_or_default();
    // ProjSubExptList shows a shared experiment under the listing's project and its label there: the
    // row cannot tell owned from shared (the item can).
    row(&[
        ("ID", e.id.clone()),
        ("project", p.to_string()),
        ("date", e.date.clone()),
        ("time", e.time.clone()),
        ("xsiType", e.xsi_type.clone()),
        ("label", label_in(e, p)),
        ("insert_date", e.insert_date.clone()),
        ("insert_user", e.insert_user.clone()),
        ("xnat:subjectassessordata/id", e.id.clone()),
        ("subject_ID", e.subject_id.clone()),
        ("subject_label", subject_label),
        ("subject_project", subject_project),
        ("UID", e.uid.clone()),
        ("modality", e.modality.clone()),
        ("dcmPatientId", e.dcm_patient_id.clone()),
        ("dcmPatientName", e.dcm_patient_name.clone()),
        ("URI", format!("/data/experiments/{}", e.id)),
    ])
}

const EXPERIMENT_COLUMNS: &[&str] = &[
    "ID",
    "project",
    "date",
    "xsiType",
    "label",
    "insert_date",
    "xnat:subjectassessordata/id",
];

fn list_experiments(ctx: &Ctx, p: &str, subject: Option<&str>) -> Answer {
    let store = ctx.read();
    access::project(ctx, &store, p, Access::Read)?;
    let subject_id = match subject {
        Some(s) => Some(
            store
                .find_subject(p, s)
                .ok_or_else(|| fail(404, &format!("Unable to identify subject {s}")))?
                .id
                .clone(),
        ),
        None => None,
    };
    let rows = store
        .experiments_in(p)
        .into_iter()
        .filter(|e| subject_id.as_ref().is_none_or(|s| &e.subject_id == s))
        .map(|e| experiment_row(&store, e, p))
        .collect();
    Ok(listing(ctx, EXPERIMENT_COLUMNS, rows))
}

fn list_all_experiments(ctx: &Ctx) -> Answer {
    let store = ctx.read();
    let rows = store
        .all_experiments()
        .filter(|e| access::experiment_access(ctx, &store, e) >= Access::Read)
        .map(|e| experiment_row(&store, e, &e.project))
        .collect();
    let mut cols = EXPERIMENT_COLUMNS.to_vec();
    cols.extend(["subject_ID", "subject_label"]);
    Ok(listing(ctx, &cols, rows))
}

fn subject(ctx: &Ctx, scope: Scope, s: &str) -> Answer {
    match ctx.method() {
        "GET" => {
            let store = ctx.read();
            let subj = access::subject(ctx, &store, scope, s)?;
            Ok(items::respond(ctx, &items::subject(subj), || {
                crate::sim::xmldoc::subject(subj)
            }))
        }
        "PUT" | "POST" => edit::put_subject(ctx, scope, s),
        "DELETE" => edit::delete_subject(ctx, scope, s),
        _ => Err(not_allowed()),
    }
}

fn experiment(ctx: &Ctx, scope: Scope, e: &str) -> Answer {
    match ctx.method() {
        "GET" => {
            let store = ctx.read();
            let exp = access::experiment(ctx, &store, scope, e)?;
            Ok(items::respond(ctx, &items::experiment(&store, exp), || {
                items::experiment_xml(&store, exp)
            }))
        }
        "PUT" | "POST" => sessions::put_experiment(ctx, scope, e),
        "DELETE" => sessions::delete_experiment(ctx, scope, e),
        _ => Err(not_allowed()),
    }
}
