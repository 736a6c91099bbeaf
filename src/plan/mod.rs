//! The planner: (manifest, source and destination inventories) -> plan. Pure: nothing here does I/O.

pub mod model;

pub use model::*;
pub mod io;

pub use io::{fingerprint, from_yaml, to_yaml, PlanFileError};
