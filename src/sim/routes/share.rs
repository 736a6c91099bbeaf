//! Sharing a subject or an experiment into another project (`PUT`, optionally with `label=`) and
//! unsharing it (`DELETE`), with XNAT's answers: `404` for an unknown project or a share that is not
//! there, `409` for a repeated share or a label in use, `400` for a label with special characters.
//! With `primary=true` the share changes the owning project instead (see [`super::primary`]).

use super::access::{self, Scope};
use super::edit::io_fail;
use super::{fail, items, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{Experiment, Subject};
use crate::sim::render::text;
use crate::sim::store::Store;
use crate::sim::util::valid_id;
use std::collections::BTreeMap;
use std::sync::RwLockWriteGuard;

/// What sharing needs of a subject or an experiment: both follow the same rules.
trait Shareable: Clone {
    /// How XNAT names the kind in its answers (`Subject`, `Experiment`).
    const KIND: &'static str;
    /// Its owning project, its label there, and its shares.
    fn parts(&mut self) -> Parts<'_>;
    fn label_taken(store: &Store, project: &str, label: &str) -> bool;
    fn put(self, store: &mut Store) -> std::io::Result<()>;
    /// Makes `project` its owner (`primary=true`).
    fn make_primary(self, ctx: &Ctx, project: &str) -> Answer;
    /// Its item document, as JSON or XML as asked.
    fn answer(&self, ctx: &Ctx, store: &Store) -> Response;
}

/// The fields of a subject or an experiment that sharing reads and changes.
struct Parts<'a> {
    owner: &'a str,
    label: &'a str,
    shares: &'a mut BTreeMap<String, String>,
}

/// Implements [`Shareable`] for a stored kind with `project`, `label` and `shares` fields: its name in
/// XNAT's answers, the store's label check and write for it, its change of owner, and its answer
/// (an expression of `$it`, `$ctx` and `$store`).
macro_rules! shareable {
    ($ty:ty, $kind:literal, $taken:ident, $put:ident, $primary:path,
     |$it:ident, $ctx:ident, $store:ident| $answer:expr) => {
        impl Shareable for $ty {
            const KIND: &'static str = $kind;
            fn parts(&mut self) -> Parts<'_> {
                Parts {
                    owner: &self.project,
                    label: &self.label,
                    shares: &mut self.shares,
                }
            }
            fn label_taken(store: &Store, project: &str, label: &str) -> bool {
                store.$taken(project, label)
            }
            fn put(self, store: &mut Store) -> std::io::Result<()> {
                store.$put(self)
            }
            fn make_primary(self, ctx: &Ctx, project: &str) -> Answer {
                $primary(ctx, self, project)
            }
            fn answer(&self, $ctx: &Ctx, $store: &Store) -> Response {
                let $it = self;
                $answer
            }
        }
    };
}

shareable!(
    Subject,
    "Subject",
    subject_label_taken,
    put_subject,
    super::primary::subject,
    |s, ctx, _store| items::respond(ctx, &items::subject(s), || crate::sim::xmldoc::subject(s))
);

shareable!(
    Experiment,
    "Experiment",
    experiment_label_taken,
    put_experiment,
    super::primary::experiment,
    |e, ctx, store| items::respond(ctx, &items::experiment(store, e), || {
        items::experiment_xml(store, e)
    })
);

/// Shares or unshares (DELETE) a subject into `d`.
pub fn subject(ctx: &Ctx, scope: Scope, s: &str, d: &str) -> Answer {
    let store = ctx.write();
    let subj = access::subject(ctx, &store, scope, s)?.clone();
    share(ctx, store, subj, d)
}

/// Shares or unshares (DELETE) an experiment into `d`.
pub fn experiment(ctx: &Ctx, scope: Scope, key: &str, d: &str) -> Answer {
    let store = ctx.write();
    let e = access::experiment(ctx, &store, scope, key)?.clone();
    share(ctx, store, e, d)
}

/// Shares `obj` into `d`, or unshares it, under the lock `store` (given up for a change of owner).
fn share<T: Shareable>(
    ctx: &Ctx,
    mut store: RwLockWriteGuard<'_, Store>,
    mut obj: T,
    d: &str,
) -> Answer {
    if !store.projects.contains_key(d) {
        return Err(fail(404, &format!("Unable to identify project {d}")));
    }
    match ctx.method() {
        "PUT" | "POST" if ctx.param("primary") == Some("true") => {
            drop(store);
            return obj.make_primary(ctx, d);
        }
        "PUT" | "POST" => {}
        "DELETE" => {
            access::project(ctx, &store, d, Access::Delete)?;
            if obj.parts().shares.remove(d).is_none() {
                return Err(fail(404, &format!("{} is not shared into {d}.", T::KIND)));
            }
            obj.put(&mut store).map_err(io_fail)?;
            return Ok(text(200, ""));
        }
        _ => return Err(not_allowed()),
    }
    access::project(ctx, &store, d, Access::Edit)?;
    let label = ctx.param("label").filter(|l| !l.is_empty());
    let Parts {
        owner,
        label: own_label,
        shares,
    } = obj.parts();
    let current = shares.get(d).map(String::as_str);
    if owner == d || (current.is_some() && (label.is_none() || current == label)) {
        return Err(fail(409, &format!("Already assigned to project:{d}")));
    }
    let label = label.unwrap_or(own_label).to_string();
    if T::label_taken(&store, d, &label) {
        return Err(fail(409, &format!("Label already in use:{label}")));
    }
    if !valid_id(&label) {
        return Err(fail(400, "Identifiers cannot use special characters."));
    }
    shares.insert(d.into(), label);
    obj.clone().put(&mut store).map_err(io_fail)?;
    Ok(obj.answer(ctx, &store))
}
