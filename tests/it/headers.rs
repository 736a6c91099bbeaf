//! Verification header by header against `ferry sim`: a destination that changes a header element
//! ferry did not set fails verification naming the element (never its value); a change the
//! destination's own scripts are known to make is a note; the fingerprint key stays in the staging
//! folder only.

use crate::sim::{send, Reply};
use crate::support::{ferry_bin, stderr, stdout, Sim};
use std::path::Path;
use std::process::{Command, Output};

/// A site-wide script that writes ManufacturerModelName, which the demo manifest never sets.
const SITE_SCRIPT: &str = "version \"6.1\"\n(0008,1090) := \"Site Scanner\"\n";

fn admin_put(sim: &Sim, path: &str, body: &str) -> Reply {
    send(
        sim,
        "PUT",
        path,
        Some(("admin", "admin")),
        &[("Content-Type", "text/plain")],
        body.as_bytes().to_vec(),
    )
}

/// A file of SUB001_MR1's study without PixelData (as a structured report or a presentation state
/// is), as scan 9 of that source session.
fn add_object_without_pixel_data(sim: &Sim) {
    let zip = crate::sim::scan_zip(sim, "SUB001", "SUB001_MR1", "2");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut first = Vec::new();
    std::io::Read::read_to_end(&mut z.by_index(0).unwrap(), &mut first).unwrap();
    let study = ferry::dicom::read_header_bytes(&first)
        .unwrap()
        .study_instance_uid
        .unwrap();
    let mut spec = ferry::dicom::synth::Spec::new(90);
    spec.study_uid = study;
    spec.series_uid = "1.2.826.0.1.3680043.10.1137.99.9".into();
    spec.sop_uid = "1.2.826.0.1.3680043.10.1137.99.9.1".into();
    spec.series_number = 9;
    let whole = ferry::dicom::synth::file(&spec);
    let at = ferry::dicom::pixel_data_offset(&whole).unwrap().unwrap();
    let body = crate::sim::zip_with(&[("report.dcm", &whole[..at])]);
    let r = crate::sim::import(
        sim,
        "admin",
        "project=PILOT&subject=SUB001&session=SUB001_MR1&dest=/archive&prevent_anon=true",
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The demo world with an object without pixel data in SUB001_MR1, the site script above, and
/// `writer` a member of both projects (not a site administrator).
fn setup() -> Sim {
    let sim = Sim::start(&["--seed", "demo"]);
    add_object_without_pixel_data(&sim);
    assert_eq!(
        admin_put(&sim, "/xapi/anonymize/site", SITE_SCRIPT).status,
        200
    );
    let r = admin_put(&sim, "/sim/projects/PILOT/users/writer?role=member", "");
    assert_eq!(r.status, 200, "{}", r.text());
    sim
}

/// Runs ferry in `dir` as `user`.
fn run_as(dir: &Path, user: &str, args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .args(args)
        .current_dir(dir)
        .env("FERRY_IT_USER", user)
        .env("FERRY_IT_PASS", user)
        .env_remove("NETRC")
        .output()
        .expect("run ferry")
}

/// Plans and applies the demo copy with the server running the destination's scripts.
fn apply_as(sim: &Sim, user: &str) -> (crate::apply::Work, Output) {
    let w = crate::apply::work(
        sim,
        "copy",
        "conflict: skip, destination_anonymization: server",
    );
    let p = run_as(
        w.dir.path(),
        user,
        &["plan", "ferry.yaml", "--out", "plan.yaml"],
    );
    assert_eq!(p.status.code(), Some(3), "{}\n{}", stdout(&p), stderr(&p));
    let a = run_as(
        w.dir.path(),
        user,
        &["apply", "plan.yaml", "--skip-blocked"],
    );
    (w, a)
}

fn report_of(w: &crate::apply::Work) -> String {
    std::fs::read_to_string(w.dir.path().join("plan.yaml.verification.json")).unwrap()
}

#[test]
fn a_header_change_ferry_did_not_make_fails_verification_naming_the_element() {
    let sim = setup();
    // As XNAT before 1.8: only administrators may read whether the site script is on, so ferry
    // cannot know what the script changes.
    let r = admin_put(&sim, "/sim/anonymize?site_switch_admin_only=true", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let (w, a) = apply_as(&sim, "writer");
    let out = format!("{}\n{}", stdout(&a), stderr(&a));
    assert!(!a.status.success(), "{out}");
    assert!(
        out.contains("header element (0008,1090) `ManufacturerModelName`")
            && out.contains("after upload"),
        "{out}"
    );
    // The object without pixel data is compared element by element too, and named the same way.
    assert!(
        out.contains(
            "scan `9`: header element (0008,1090) `ManufacturerModelName` was added after upload in 1 file(s)"
        ),
        "{out}"
    );
    let report = report_of(&w);
    assert!(
        report.contains("header element (0008,1090) `ManufacturerModelName` was added after upload in 10 file(s)"),
        "{report}"
    );
    assert!(
        report.contains("anonymization scripts could not be read: the site script ("),
        "{report}"
    );
    // Never the value, anywhere ferry writes.
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    for text in [&out, &report, &journal] {
        assert!(!text.contains("Site Scanner"));
    }
    // The key stays in the staging folder, and nowhere else.
    let key = std::fs::read(w.dir.path().join("plan.yaml.staging/fingerprint.key")).unwrap();
    assert_eq!(key.len(), 32);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    for name in [
        "plan.yaml",
        "plan.yaml.journal",
        "plan.yaml.verification.json",
    ] {
        let text = std::fs::read(w.dir.path().join(name)).unwrap();
        assert!(!text.windows(32).any(|x| x == key), "{name}");
        assert!(!String::from_utf8_lossy(&text).contains(&hex), "{name}");
    }
    // Once ferry may read the scripts again (as on XNAT 1.8), the resumed run verifies with the
    // same key, the change is the script's, and the staging folder goes, key and all.
    let r = admin_put(&sim, "/sim/anonymize?site_switch_admin_only=false", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let again = run_as(
        w.dir.path(),
        "writer",
        &["apply", "plan.yaml", "--skip-blocked"],
    );
    assert!(
        again.status.success(),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );
    assert!(
        report_of(&w).contains("anonymization scripts rewrote ManufacturerModelName"),
        "{}",
        report_of(&w)
    );
    assert!(!w.dir.path().join("plan.yaml.staging").exists());
}

#[test]
fn a_change_the_destination_scripts_are_known_to_make_is_a_note() {
    let sim = setup();
    let (w, a) = apply_as(&sim, "writer");
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    let report = report_of(&w);
    assert!(
        report.contains("anonymization scripts rewrote ManufacturerModelName"),
        "{report}"
    );
    assert!(!report.contains("\"problem\""), "{report}");
}
