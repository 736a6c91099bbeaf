//! Plain data that ferry reads from servers and reasons about, free of I/O: [`inventory`] is what a
//! project holds (filled in by [`crate::xnat`]'s reader, read by [`crate::plan`] and the drift check).

pub mod inventory;
