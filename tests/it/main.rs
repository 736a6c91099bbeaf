//! The one integration-test binary. Each module covers an area and drives the real `ferry` binary,
//! mostly against `ferry sim` on loopback.

mod apply;
mod client;
mod conformance;
mod demo;
mod docs;
mod examples;
mod faults;
mod manifest;
mod phi;
mod plan;
mod sim;
mod support;
