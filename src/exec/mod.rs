//! The executor behind `ferry apply`: runs a plan's execution graph in parallel, journals every step
//! so an interrupted run resumes, verifies every session, and deletes source data only after the
//! destination copy was verified. It talks to servers only through [`crate::xnat`].

pub mod apply;
pub mod composed;
pub mod digest;
pub mod drift;
pub mod entries;
pub mod gate;
pub mod journal;
pub mod localanon;
pub mod md5batch;
mod newheader;
pub mod pool;
pub mod queue;
pub mod readback;
pub mod report;
pub mod resources;
pub mod runner;
pub mod schedule;
pub mod servers;
pub mod stash;
pub mod steps;
pub mod throttle;
pub mod verification_report;
pub mod verify;
pub mod zipfacts;
