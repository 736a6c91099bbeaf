//! Verification by the destination's digest, before any read-back: XNAT lists an MD5 per file when
//! checksums are on. A scan whose listed digests are exactly the MD5s of the files ferry uploaded
//! (one listed file per uploaded file, the same multiset of digests) holds byte-identical copies, so
//! everything a read-back would compare (pixel data, the fields ferry set, the study, every header
//! element: equal bytes have equal fingerprints) is equal without reading a byte. A scan with a missing digest, a different one (the server rewrote a file, say by
//! its anonymization script), or another count, or whose source repeats a SOPInstanceUID, is read
//! back and compared as before. Pure: no I/O.

use super::verify::{SessionFacts, Verification};
use std::collections::BTreeMap;

/// How one session's scans split: those the digests vouch for, and those to read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Scans, files and bytes verified by digest (`by_digest` set, no problems).
    pub verified: Verification,
    /// What must still be read back and compared: the expected facts of the other scans.
    pub read_back: SessionFacts,
}

/// Splits `expected` by what the destination lists: scan ID -> one digest per listed file (`None`
/// where the server lists none).
pub fn split(expected: &SessionFacts, listed: &BTreeMap<String, Vec<Option<String>>>) -> Split {
    let mut out = Split {
        verified: Verification::default(),
        read_back: SessionFacts {
            study_uid: expected.study_uid.clone(),
            scans: BTreeMap::new(),
            duplicates: expected.duplicates.clone(),
        },
    };
    for (scan, files) in &expected.scans {
        let mut want: Vec<&str> = files.values().map(|f| f.md5.as_str()).collect();
        let mut got: Vec<&str> = listed
            .get(scan)
            .into_iter()
            .flatten()
            .map(|d| d.as_deref().unwrap_or(""))
            .collect();
        want.sort_unstable();
        got.sort_unstable();
        // A scan whose source repeats a SOPInstanceUID sent more files than its facts hold: read back.
        let repeats = expected.duplicates.contains_key(scan);
        let vouched = !repeats && !want.is_empty() && !want.contains(&"") && want == got;
        if vouched {
            out.verified.scans += 1;
            out.verified.files += files.len();
            out.verified.by_digest += files.len();
            out.verified.bytes += files.values().map(|f| f.size).sum::<u64>();
        } else {
            out.read_back.scans.insert(scan.clone(), files.clone());
        }
    }
    out
}

/// Adds the digest-verified part to the outcome of the read-back comparison.
pub fn merge(read_back: Verification, by_digest: &Verification) -> Verification {
    let mut v = read_back;
    v.read_back = v.files;
    v.scans += by_digest.scans;
    v.files += by_digest.files;
    v.bytes += by_digest.bytes;
    v.by_digest += by_digest.by_digest;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::verify::FileFacts;

    fn facts(scans: &[(&str, &[&str])]) -> SessionFacts {
        SessionFacts {
            study_uid: Some("1.2".into()),
            duplicates: BTreeMap::new(),
            scans: scans
                .iter()
                .map(|(id, md5s)| {
                    let files = md5s
                        .iter()
                        .enumerate()
                        .map(|(i, m)| {
                            let f = FileFacts {
                                name: format!("{i}.dcm"),
                                size: 10,
                                md5: m.to_string(),
                                ..FileFacts::default()
                            };
                            (format!("sop{i}"), f)
                        })
                        .collect();
                    (id.to_string(), files)
                })
                .collect(),
        }
    }

    fn listed(scans: &[(&str, &[Option<&str>])]) -> BTreeMap<String, Vec<Option<String>>> {
        scans
            .iter()
            .map(|(id, d)| {
                (
                    id.to_string(),
                    d.iter().map(|x| x.map(String::from)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn identical_digests_vouch_for_a_scan_in_any_order() {
        let s = split(
            &facts(&[("2", &["a", "b"])]),
            &listed(&[("2", &[Some("b"), Some("a")])]),
        );
        assert_eq!(s.verified.by_digest, 2);
        assert_eq!(s.verified.bytes, 20);
        assert!(s.read_back.scans.is_empty());
    }

    #[test]
    fn a_missing_different_or_extra_digest_sends_the_scan_to_read_back() {
        let expected = facts(&[
            ("2", &["a", "b"]),
            ("3", &["c"]),
            ("4", &["d"]),
            ("5", &["e"]),
        ]);
        let s = split(
            &expected,
            &listed(&[
                ("2", &[Some("a"), None]),       // no digest listed
                ("3", &[Some("x")]),             // rewritten by the server
                ("4", &[Some("d"), Some("d2")]), // a file ferry did not upload
                ("5", &[Some("e")]),             // vouched for
            ]),
        );
        assert_eq!(s.verified.by_digest, 1);
        let back: Vec<&String> = s.read_back.scans.keys().collect();
        assert_eq!(back, ["2", "3", "4"]);
        assert_eq!(s.read_back.study_uid.as_deref(), Some("1.2"));
    }

    #[test]
    fn a_scan_whose_source_repeats_a_sop_uid_is_read_back() {
        let mut expected = facts(&[("2", &["a"])]);
        expected.duplicates.insert("2".into(), 1);
        let s = split(&expected, &listed(&[("2", &[Some("a")])]));
        assert_eq!(s.verified.by_digest, 0);
        assert_eq!(s.read_back.duplicates.get("2"), Some(&1));
    }

    #[test]
    fn facts_without_a_recorded_md5_are_never_vouched_for() {
        let s = split(&facts(&[("2", &[""])]), &listed(&[("2", &[None])]));
        assert_eq!(s.verified.by_digest, 0);
        assert_eq!(s.read_back.scans.len(), 1);
    }

    #[test]
    fn merging_counts_both_ways() {
        let back = Verification {
            scans: 1,
            files: 3,
            bytes: 30,
            ..Verification::default()
        };
        let by = Verification {
            scans: 2,
            files: 5,
            bytes: 50,
            by_digest: 5,
            ..Verification::default()
        };
        let v = merge(back, &by);
        assert_eq!(
            (v.scans, v.files, v.bytes, v.by_digest, v.read_back),
            (3, 8, 80, 5, 3)
        );
    }
}
