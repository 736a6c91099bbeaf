//! The one integration-test binary. Each module covers an area and drives the real `ferry` binary,
//! mostly against `ferry sim` on loopback.

#[cfg(any())]
mod apply;
mod conformance;
#[cfg(any())]
mod faults;
mod sim;
mod support;
