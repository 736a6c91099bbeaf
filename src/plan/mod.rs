//! The planner: (manifest, source and destination inventories) -> plan. Pure: nothing here does I/O.

pub mod model;

pub use model::*;
