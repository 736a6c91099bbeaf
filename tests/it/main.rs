//! The one integration-test binary. Each module covers an area and drives the real `ferry` binary,
//! mostly against `ferry sim` on loopback.

mod anonymize;
mod apply;
mod bench;
mod client;
mod conformance;
mod conformance_peers;
mod demo;
mod docs;
mod examples;
mod faults;
mod headers;
mod large_files;
mod manifest;
mod moves;
mod phi;
mod plan;
mod review;
mod review_audit;
mod review_cli;
mod round_trips;
mod sharing;
mod sim;
mod sim_cli;
mod sim_peers;
mod sim_safety;
mod staging;
mod support;
