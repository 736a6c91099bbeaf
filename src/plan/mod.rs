//! The planner: (manifest, source and destination inventories) -> plan. Pure: nothing here does I/O.

pub mod build;
pub mod checklist;
pub mod graph;
pub mod io;
pub mod model;
pub mod render;
pub mod select;

pub use build::{build, PlanError, PlanInput};
pub use io::{fingerprint, from_yaml, to_yaml, PlanFileError};
pub use model::*;
pub use render::{render_diff, render_dot};

#[cfg(test)]
mod tests;
