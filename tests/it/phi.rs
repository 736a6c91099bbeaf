//! De-identification end to end: no identifying value the demo world seeds (names, IDs, birth dates,
//! UIDs, a nested patient ID, a private element) in any byte ferry writes or prints while it
//! validates, plans, applies through faults, resumes and reports; templates that would launder
//! identifying values are refused by `ferry validate` with their line; what the profile cannot judge
//! (burned-in pixels, private data) passes only when the manifest says so, and then the destination
//! holds none of the nested or private data.

use crate::apply::{client, files_of};
use crate::faults::set_faults;
use crate::plan::{demo_dir, run, seeded_phi};
use crate::support::{stderr, stdout, Sim};
use std::path::Path;
use std::process::Output;

fn shown(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Every file under `dir` except staged copies of the DICOM data itself (`*.zip` in the staging
/// folder: the data being moved, removed once verified).
fn artefacts(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            artefacts(&p, out);
        } else if !(p.extension().is_some_and(|x| x == "zip")
            && p.to_string_lossy().contains(".staging"))
        {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

#[test]
fn nothing_ferry_writes_or_prints_carries_an_identifying_value() {
    let sim = Sim::start(&["--seed", "demo"]);
    let values = seeded_phi(&sim);
    // The list is what it claims: names, IDs, a birth date, UIDs, nested and private values.
    for must in ["19780412", "H-ALT-55013", "Whitfield", "H7730011"] {
        assert!(values.iter().any(|v| v == must), "{must} not in {values:?}");
    }
    assert!(values.iter().filter(|v| v.starts_with("1.2.826.")).count() > 100);
    let dir = demo_dir(&sim, |t| t);
    let d = dir.path();
    let mut printed = Vec::new();
    let v = run(d, &["validate", "demo.yaml"]);
    assert!(v.status.success(), "{}", shown(&v));
    printed.push(shown(&v));
    let p = run(d, &["plan", "demo.yaml", "--out", "plan.yaml"]);
    assert_eq!(p.status.code(), Some(3), "{}", shown(&p));
    printed.push(shown(&p));
    // Faults make runs fail part-way; each rerun resumes from the journal.
    set_faults(&sim, "error_rate=0.3&rng_seed=11");
    let mut done = false;
    for _ in 0..15 {
        let a = run(d, &["apply", "plan.yaml", "--skip-blocked"]);
        printed.push(shown(&a));
        let s = run(d, &["status", "plan.yaml"]);
        printed.push(shown(&s));
        if a.status.success() {
            done = true;
            break;
        }
    }
    set_faults(&sim, "error_rate=0");
    assert!(done, "apply did not complete: {}", printed.join("\n"));
    assert!(
        printed.iter().any(|o| o.contains("error:")),
        "no run failed part-way: the resume path was not exercised"
    );
    let again = run(d, &["apply", "plan.yaml", "--skip-blocked"]);
    assert!(again.status.success(), "{}", shown(&again));
    printed.push(shown(&again));
    let replan = run(
        d,
        &["plan", "demo.yaml", "--out", "plan2.yaml", "--graph", "dot"],
    );
    printed.push(shown(&replan));
    let mut files = Vec::new();
    artefacts(d, &mut files);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for f in [
        "plan.yaml",
        "plan.yaml.journal",
        "plan.yaml.verification.json",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(f)),
            "{f} missing: {names:?}"
        );
    }
    for (i, out) in printed.iter().enumerate() {
        files.push((format!("output of command {i}"), out.clone().into_bytes()));
    }
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        for v in &values {
            assert!(!text.contains(v.as_str()), "`{v}` in {name}");
        }
    }
}

fn write_manifest(d: &Path, text: &str) {
    std::fs::write(d.join("m.yaml"), text).unwrap();
}

const LAUNDERING: &str = r#"version: 1
servers:
  local: { url: "http://127.0.0.1:9" }
transfers:
  - name: t
    mode: copy
    from: { server: local, project: PILOT }
    to: { server: local, project: MAIN }
    map:
      subject: "{{ dicom.PatientID }}"
    dicom:
      set:
        PatientName: "{{ dicom.PatientName }}"
        PatientComments: "Subject: {{ dest.subject }}"
        StudyDescription: "{{ dest.project }}"
    policy: { anonymization: POLICY }
"#;

#[test]
fn validate_refuses_templates_that_launder_identifying_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_manifest(d, &LAUNDERING.replace("POLICY", "require"));
    let o = run(d, &["validate", "m.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", shown(&o));
    let err = stderr(&o);
    // map.subject (line 10), PatientName written back (line 13), and PatientComments through
    // dest.subject (line 14): each named with its line, the attribute and why.
    for (line, what) in [
        (
            10,
            "reads `dicom.PatientID`, an identifying attribute (PS3.15 Annex E",
        ),
        (13, "reads `dicom.PatientName`, an identifying attribute"),
        (
            14,
            "reads `dest.subject`, derived from `dicom.PatientID`, an identifying attribute",
        ),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("m.yaml:{line}:")) && l.contains(what)),
            "line {line}: {what}\n{err}"
        );
    }
    assert!(err.contains("anonymization: require refuses it"), "{err}");
    assert!(!err.contains("StudyDescription"), "{err}");
    write_manifest(d, &LAUNDERING.replace("POLICY", "warn"));
    let o = run(d, &["validate", "m.yaml"]);
    assert!(o.status.success(), "{}", shown(&o));
    assert!(stderr(&o).contains("warning: "), "{}", shown(&o));
    assert!(stderr(&o).contains("dicom.PatientName"), "{}", shown(&o));
    write_manifest(d, &LAUNDERING.replace("POLICY", "off"));
    let o = run(d, &["validate", "m.yaml"]);
    assert!(o.status.success() && stderr(&o).is_empty(), "{}", shown(&o));
}

#[test]
fn private_keep_needs_a_reason_and_acknowledgments_name_a_series() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = LAUNDERING.replace("POLICY", "off").replace(
        "      set:\n",
        "      private: keep\n      burned_in_acknowledged: [\"SUB003_MR1\"]\n      set:\n",
    );
    write_manifest(d, &text);
    let o = run(d, &["validate", "m.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", shown(&o));
    let err = stderr(&o);
    assert!(err.contains("needs `private_reason:`"), "{err}");
    assert!(err.contains("SOURCE_SESSION/SCAN_ID"), "{err}");
    // A share rewrites nothing: a profile for it is refused.
    let share = LAUNDERING
        .replace("POLICY", "off")
        .replace("mode: copy", "mode: share")
        .replace("      set:\n        PatientName: \"{{ dicom.PatientName }}\"\n        PatientComments: \"Subject: {{ dest.subject }}\"\n        StudyDescription: \"{{ dest.project }}\"\n", "      deidentify: { profile: basic }\n");
    write_manifest(d, &share);
    let o = run(d, &["validate", "m.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", shown(&o));
    assert!(
        stderr(&o)
            .contains("a share or relocation does not copy files, so nothing can be de-identified"),
        "{}",
        shown(&o)
    );
}

#[test]
fn burned_in_and_private_data_pass_only_when_the_manifest_says_so() {
    let sim = Sim::start(&["--seed", "demo"]);
    // SUB003 only: its files carry burned-in text (flagged), a private group, another patient ID
    // nested in a sequence, a birth date and a referring physician.
    let dir = demo_dir(&sim, |t| {
        t.replace(
            "      subjects: [\"SUB*\"]",
            "      subjects: [\"SUB003\"]",
        )
        .replace(
            "      set:\n",
            "      private: remove\n      burned_in_acknowledged: [\"SUB003_MR1/2\", \"SUB003_MR1/3\"]\n      set:\n",
        )
    });
    let d = dir.path();
    let p = run(d, &["plan", "demo.yaml", "--out", "plan.yaml"]);
    assert_eq!(p.status.code(), Some(0), "{}", shown(&p));
    let a = run(d, &["apply", "plan.yaml"]);
    assert!(a.status.success(), "{}", shown(&a));
    let c = client(&sim);
    let dst = files_of(&c, "MAIN", "MAIN_003", "MAIN_003_20240220", &[]);
    assert_eq!(dst.len(), 20);
    for (_, (_, kw, _)) in dst {
        for gone in [
            "PatientBirthDate",
            "ReferringPhysicianName",
            "OtherPatientIDs",
        ] {
            assert!(kw.get(gone).is_none_or(|v| v.is_empty()), "{gone} kept");
        }
        assert_eq!(kw.get("PatientID").map(String::as_str), Some("MAIN_003"));
    }
    // Read back, the destination's files hold no private group and no nested patient ID.
    let zip = d.join("back.zip");
    c.download_session(
        "MAIN",
        "MAIN_003",
        "MAIN_003_20240220",
        &[],
        ferry::xnat::Landing::disk(&zip),
        &mut |_| {},
    )
    .unwrap();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut e = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        let Ok(h) = ferry::dicom::read_header_bytes(&bytes) else {
            continue;
        };
        assert!(
            h.elements.iter().all(|e| !e.is_private()),
            "private data kept"
        );
        assert!(
            h.elements
                .iter()
                .all(|e| !e.path.starts_with("OtherPatientIDsSequence")),
            "nested IDs kept"
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("H-ALT-55013") && !text.contains("Whitfield"));
    }
}
