//! The manifest loader on arbitrary bytes: every input ends in a manifest or in diagnostics, never a
//! panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz/manifest.yaml");
    if let Err(diagnostics) = ferry::manifest::load_bytes(path, data) {
        // Rendering the diagnostics is part of the user-visible path.
        let _ = diagnostics.to_string();
    }
});
