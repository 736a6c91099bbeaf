//! The import service (`POST /data/services/import`): DICOM-zip into the prearchive or the archive.

use super::{fail, Answer, Ctx};

/// `POST /data/services/import`.
pub fn import(_ctx: &Ctx) -> Answer {
    Err(fail(404, "The import service is not available yet."))
}
