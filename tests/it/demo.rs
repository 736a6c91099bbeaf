//! `ferry demo`, the README's first command, and the examples in manifests/.

use crate::support::{ferry, stderr, stdout};

#[test]
fn the_demo_runs_the_whole_job_and_shows_the_safety_checks() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let o = ferry(&["demo", "--dir", work.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("! blocked SUB003/SUB003_MR1"), "{out}");
    // The profile removes what it can; burned-in text and a private group it cannot judge block.
    assert!(out.contains("BurnedInAnnotation"), "{out}");
    assert!(out.contains("private group 0029"), "{out}");
    assert!(!out.contains("PatientBirthDate"), "{out}");
    assert!(
        out.contains("collision: SUB004/SUB004_MR1 and SUB004/SUB004_MR2"),
        "{out}"
    );
    assert!(out.contains("= skip    SUB002/SUB002_MR1"), "{out}");
    assert_eq!(out.matches("  verified   MAIN/").count(), 4, "{out}");
    assert!(out.contains("0 session(s) to create, 5 skipped"), "{out}");
    // The work folder holds what an admin would commit and keep.
    for f in [
        "demo.yaml",
        "plan.yaml",
        "plan.yaml.journal",
        "plan.yaml.verification.json",
    ] {
        assert!(work.join(f).exists(), "{f}");
    }
    // The plan carries no PHI the demo world seeds.
    let plan = std::fs::read_to_string(work.join("plan.yaml")).unwrap();
    for phi in ["19780412", "Whitfield", "H77300", "Okafor", "Lindqvist"] {
        assert!(!plan.contains(phi), "plan leaks {phi}");
    }
}
