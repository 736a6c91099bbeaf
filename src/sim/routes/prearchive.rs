//! The prearchive: listings, sessions, deletion, and the archive service.

use super::{fail, Answer, Ctx};

/// `POST /data/services/archive`.
pub fn archive_service(_ctx: &Ctx) -> Answer {
    Err(fail(404, "The archive service is not available yet."))
}

/// `POST /data/services/prearchive/{op}`.
pub fn batch(_ctx: &Ctx, _op: &str) -> Answer {
    Err(fail(404, "The prearchive services are not available yet."))
}

/// `/data/prearchive/...`.
pub fn route(_ctx: &Ctx, _rest: &[&str]) -> Answer {
    Err(fail(404, "The prearchive is not available yet."))
}
