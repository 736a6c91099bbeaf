//! The pieces of `ferry bench` that decide what its figures mean: the plain copy it compares ferry
//! with moves the selection ferry's bench manifest moves, and counts its bytes the same way.

use crate::sim::get;
use crate::support::{ferry, stderr, stdout, Sim};

#[test]
fn the_plain_copy_moves_the_selected_scans_and_counts_their_listed_bytes() {
    let src = Sim::start(&["--seed", "demo:subjects=2,files=3"]);
    let dst = Sim::start(&["--seed", "demo:subjects=1,files=1"]);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().display().to_string();
    let o = ferry(&[
        "bench",
        "--plain-copy",
        &src.url,
        &dst.url,
        "--jobs",
        "2",
        "--dir",
        &work,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let bytes: u64 = out
        .split_whitespace()
        .find_map(|f| f.strip_prefix("bytes="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {out}"));
    // What the source lists for every scan that is not a localizer, file by file.
    let mut expected = 0u64;
    for subject in ["SUB001", "SUB002"] {
        let session = format!("/data/projects/PILOT/subjects/{subject}/experiments/{subject}_MR1");
        let scans = get(&src, &format!("{session}/scans?format=json"), "admin");
        assert!(!scans.rows().is_empty(), "{}", scans.text());
        for scan in scans.rows() {
            if scan["type"].as_str().unwrap_or("").starts_with("localizer") {
                continue;
            }
            let id = scan["ID"].as_str().unwrap();
            let files = get(
                &src,
                &format!("{session}/scans/{id}/files?format=json"),
                "admin",
            );
            assert!(!files.rows().is_empty(), "{}", files.text());
            for f in files.rows() {
                let size = &f["Size"];
                expected += size
                    .as_u64()
                    .or_else(|| size.as_str()?.parse().ok())
                    .unwrap();
            }
        }
    }
    assert_eq!(bytes, expected);
    let listed = get(&dst, "/data/projects/MAIN/experiments?format=json", "admin");
    let labels: Vec<_> = listed
        .rows()
        .iter()
        .map(|r| r["label"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        labels.contains(&"R_SUB001_MR1".to_string())
            && labels.contains(&"R_SUB002_MR1".to_string()),
        "{labels:?}"
    );
}
