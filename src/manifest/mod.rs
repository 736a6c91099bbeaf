//! The manifest as users write it (version 1, the public contract of the design brief), its loading and
//! its validation. This module reads manifest files and their tables; it never talks to a server.

/// Declares a manifest keyword: an enum of unit variants, written in snake_case in the YAML
/// (`after_verify`), with the traits every manifest choice has (copy, order, hash, serde, schema).
/// A choice with a default adds `#[derive(Default)]` and marks its `#[default]` variant.
macro_rules! keyword {
    ($(#[$attr:meta])* pub enum $name:ident { $($body:tt)* }) => {
        $(#[$attr])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            serde::Serialize,
            serde::Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($body)* }
    };
}

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
