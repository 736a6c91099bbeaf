//! The planner: (manifest, source and destination inventories) -> plan. Pure: nothing here does I/O.
//!
//! - [`build`] selects, maps labels, finds conflicts and collisions, and lays out the execution graph;
//! - [`to_yaml`] / [`from_yaml`] / [`fingerprint`] are the plan file;
//! - [`render_diff`], [`render_markdown`] and [`render_dot`] show a plan to people.

mod build;
mod checklist;
mod conflicts;
mod decide;
mod destscripts;
mod dot;
mod error;
mod graph;
mod io;
mod labels;
mod markdown;
pub mod model;
mod moves;
mod phi;
mod render;
mod select;
mod source_lines;
pub mod watch;

#[cfg(test)]
mod tests;

pub use build::{build, needed_inventories, Inventories, PlanInput};
pub use destscripts::DestinationScript;
pub use dot::render_dot;
pub use error::PlanError;
pub use io::{fingerprint, from_yaml, to_yaml};
pub use labels::check_label;
pub use markdown::render_markdown;
pub use model::*;
pub use render::{human_bytes, plural, render_diff, summary_line};
pub(crate) use select::{is_dicom, Picked, Selector};
