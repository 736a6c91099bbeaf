//! xnat-ferry: move DICOM imaging data between XNAT projects from a declarative, reviewable manifest.
//!
//! Layers, and the direction of their dependencies:
//! - [`cli`] knows clap, terminals and file paths; it calls everything else.
//! - [`manifest`] and [`template`] model what users write.
//! - [`xnat`] is the only code that speaks HTTP; [`model`] holds what it reads (the inventory), as plain data.
//! - [`plan`] is pure: (manifest, inventories) -> plan. It never does I/O.
//! - [`exec`] runs a plan through [`xnat`], journals it and verifies the result.
//! - [`audit`] compares source and destination under a manifest's mapping, after the fact.
//! - [`dicom`] reads and rewrites DICOM headers and hashes pixel data.
//! - [`digest`] computes MD5s of many files at once, in SIMD lanes.
//! - [`dicomedit`] runs XNAT anonymization scripts (a DicomEdit 6 subset); ferry and [`sim`] share it.
//! - [`sim`] is the XNAT emulator; ferry's client meets it only over HTTP.
//! - [`rate`] is a token bucket on bytes, used by `exec` (`--bwlimit`) and `sim` (`--bandwidth`).

pub mod audit;
pub mod cli;
pub mod dicom;
pub mod dicomedit;
pub mod digest;
pub mod exec;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod rate;
pub mod sim;
pub mod template;
pub mod xnat;

/// The version of ferry, recorded in every plan it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
