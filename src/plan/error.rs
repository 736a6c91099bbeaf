//! The planner's one error type. Planning errors name the transfer, the session and the template or
//! field at fault; plan-file errors name the file and, where the YAML parser knows it, line and column.
//! No message carries a DICOM header value.

use std::path::PathBuf;

/// Why a plan could not be built, or a plan file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A transfer names a server the manifest does not define.
    #[error("transfer `{transfer}`: server `{server}` is not defined in `servers`")]
    UnknownServer {
        /// The transfer.
        transfer: String,
        /// The missing server name.
        server: String,
    },
    /// The caller did not supply an inventory the plan needs.
    #[error("no inventory of project `{project}` on server `{server}` was read")]
    MissingInventory {
        /// The server name.
        server: String,
        /// The project ID.
        project: String,
    },
    /// A selection glob does not compile.
    #[error("transfer `{transfer}`: {field}: invalid glob `{pattern}`: {message}")]
    Glob {
        /// The transfer.
        transfer: String,
        /// The manifest field, e.g. `select.subjects`.
        field: String,
        /// The glob as written.
        pattern: String,
        /// What globset said.
        message: String,
    },
    /// A template failed to compile or to render for one session.
    #[error("transfer `{transfer}`: {where_}: template {field} `{template}` failed: {message}")]
    Template {
        /// The transfer.
        transfer: String,
        /// `session SUBJECT/SESSION`, or `manifest` when no session was involved.
        where_: String,
        /// The manifest field, e.g. `map.session` or `dicom.set.PatientID`.
        field: String,
        /// The template as written.
        template: String,
        /// What minijinja said.
        message: String,
    },
    /// The plan file is not valid YAML or does not match the plan format.
    #[error("{}{}: {message}", path.display(), location(*line, *column))]
    Parse {
        /// The plan file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The plan file has another format tag.
    #[error("{}: format `{found}` is not `{expected}`; this version of ferry reads only `{expected}` plans", path.display())]
    Format {
        /// The plan file.
        path: PathBuf,
        /// The format it declares.
        found: String,
        /// The format ferry reads.
        expected: String,
    },
    /// The plan's bytes are not the ones `ferry plan` sealed: edited by hand, or cut short.
    #[error("{}: {why}; a plan is reviewed as written: change the manifest and run `ferry plan` again", path.display())]
    Edited {
        /// The plan file.
        path: PathBuf,
        /// What does not match.
        why: String,
    },
    /// The plan was written by a newer ferry.
    #[error("{}: written by ferry {found}, newer than this ferry ({ours}); upgrade ferry or plan again", path.display())]
    NewerVersion {
        /// The plan file.
        path: PathBuf,
        /// The version recorded in the plan.
        found: String,
        /// This ferry's version.
        ours: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}
