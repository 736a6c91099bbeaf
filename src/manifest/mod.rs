//! The manifest as users write it (version 1, the public contract of the design brief), its loading and
//! its validation. This module reads manifest files and their tables; it never talks to a server.

mod check;
pub mod deidentify;
pub mod load;
mod messages;
pub mod model;
mod moves;
pub mod phi_check;
pub mod positions;
pub mod yaml;

pub use load::{load, load_bytes, Diagnostic, Diagnostics, LoadedManifest};
pub use model::*;
