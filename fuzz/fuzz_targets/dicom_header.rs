//! The DICOM header reader and rewriter on arbitrary bytes: a result or an error, never a panic, a
//! hang or a giant allocation. A header that reads is judged by the anonymization gate, hashed and
//! rewritten as apply would (with and without the Basic Profile), and a rewrite that succeeds must keep
//! the pixel data hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = ferry::dicom::read_header_bytes(data) else {
        return;
    };
    use ferry::dicom::phi::{assess, GateRules, PrivateData, Stage};
    let none = BTreeSet::new();
    let rules = GateRules {
        options: Default::default(),
        profile: false,
        private: PrivateData::Unsaid,
        cleared: &none,
        tainted: &none,
        burned_in_ok: false,
        old_labels: &["PILOT".to_string()],
        new_labels: &["MAIN".to_string()],
    };
    let written = BTreeMap::new();
    let _ = assess(&header.elements, &rules, Stage::Source { written: &written });
    let before = ferry::dicom::pixel_hash(data);
    let mut set = BTreeMap::new();
    set.insert("PatientID".to_string(), "FUZZ01".to_string());
    set.insert("InstitutionName".to_string(), "Ferry".to_string());
    if let (Ok(out), Ok(before)) = (ferry::dicom::rewrite(data, &set), before) {
        let after = ferry::dicom::pixel_hash(&out).expect("a rewritten file reads again");
        assert_eq!(before, after, "a rewrite changed the pixel data");
    }
    let profile = ferry::dicom::Profile {
        basic: true,
        options: Default::default(),
        uid_key: [7; 32],
        remove_private: true,
    };
    if let (Ok(out), Ok(before)) = (
        ferry::dicom::rewrite_with(data, Some(&profile), &set),
        ferry::dicom::pixel_hash(data),
    ) {
        let after = ferry::dicom::pixel_hash(&out).expect("a de-identified file reads again");
        assert_eq!(before, after, "de-identification changed the pixel data");
    }
});
