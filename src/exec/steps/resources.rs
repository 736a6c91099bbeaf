//! The session resources of a step: staged from the source on download, attached to the archived
//! destination session after import or archive, checked at verification. The file work is
//! [`crate::exec::resources`]; this file resolves a session step's places and folders for it.

use super::{Ctx, Env};
use crate::exec::pool::StepFailure;
use crate::exec::resources::{self, Place, StagedFile};

/// The destination session of a step.
pub fn dest_place<'c>(c: &'c Ctx<'_>) -> Place<'c> {
    Place {
        project: &c.transfer.to.project,
        subject: &c.action.dest.subject,
        session: &c.action.dest.session,
    }
}

/// The selected session resources in the staging folder, fetched from the source when missing.
pub fn staged(env: &Env<'_>, c: &Ctx<'_>) -> Result<Vec<StagedFile>, StepFailure> {
    let labels: Vec<String> = c.action.resources.iter().map(|r| r.label.clone()).collect();
    let from = &c.transfer.from;
    let src = Place {
        project: &from.project,
        subject: &c.action.source.subject,
        session: &c.action.source.session,
    };
    resources::stage(
        env.client(&from.server)?,
        src,
        &labels,
        &c.dir,
        &mut env.on_bytes(),
    )
}

/// Adds the selected resources to the archived destination session; the number of files uploaded.
pub fn attach(env: &Env<'_>, c: &Ctx<'_>) -> Result<usize, StepFailure> {
    let staged = staged(env, c)?;
    resources::attach(
        env.client(&c.transfer.to.server)?,
        dest_place(c),
        &staged,
        &c.dir,
        &mut env.on_bytes(),
    )
}
