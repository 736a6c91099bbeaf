//! The DICOM header reader and rewriter on arbitrary bytes: a result or an error, never a panic, a
//! hang or a giant allocation. A header that reads is checked for PHI, hashed and rewritten as apply
//! would, and a rewrite that succeeds must keep the pixel data hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = ferry::dicom::read_header_bytes(data) else {
        return;
    };
    let _ = ferry::dicom::phi_findings(&header.keywords, &BTreeSet::new());
    let before = ferry::dicom::pixel_hash(data);
    let mut set = BTreeMap::new();
    set.insert("PatientID".to_string(), "FUZZ01".to_string());
    set.insert("InstitutionName".to_string(), "Ferry".to_string());
    if let (Ok(out), Ok(before)) = (ferry::dicom::rewrite(data, &set), before) {
        let after = ferry::dicom::pixel_hash(&out).expect("a rewritten file reads again");
        assert_eq!(before, after, "a rewrite changed the pixel data");
    }
});
