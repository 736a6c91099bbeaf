//! Files larger than the chunks ferry streams them in (a multi-frame image of a few MB, encapsulated
//! pixel data): `ferry apply` copies them with their headers rewritten and pixel data unchanged, and
//! verifies them, by the destination's digests and by reading them back.

use crate::apply::{client, files_of, run};
use crate::support::{stderr, stdout, Sim};
use ferry::dicom::synth::{self, Spec};
use ferry::manifest::model::Destination;
use ferry::xnat::{ImportTarget, Overwrite, ZipBody};
use std::io::Write;

/// The files of the large session: a native multi-frame image of 3 MB and an encapsulated one of
/// 1.3 MB, both larger than ferry's 256 KiB chunk.
fn large_files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (ts, size, frames)) in [
        (synth::EXPLICIT_LE, 256u16, 24u32),
        (synth::RLE_LOSSLESS, 128, 40),
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = Spec::new(900 + i as u64);
        s.study_uid = "1.2.826.0.1.3680043.10.1137.77".into();
        s.series_uid = format!("1.2.826.0.1.3680043.10.1137.77.{}", i + 1);
        s.sop_uid = format!("1.2.826.0.1.3680043.10.1137.77.{}.1", i + 1);
        s.series_number = i as u32 + 1;
        s.transfer_syntax = ts.into();
        s.size = size;
        s.frames = frames;
        s.text.insert("PatientName".into(), "Large^Files".into());
        let f = synth::file(&s);
        assert!(f.len() > 1_000_000);
        out.push((format!("large-{i}.dcm"), f));
    }
    out
}

/// An emulator whose PILOT project also holds subject LARGE with session LARGE_MR of [`large_files`].
fn sim_with_large_session() -> Sim {
    let sim = Sim::start(&["--seed", "demo:subjects=1,files=1,size=8"]);
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("large.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    for (name, bytes) in large_files() {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap();
    let target = ImportTarget {
        project: "PILOT".into(),
        subject: "LARGE".into(),
        session: "LARGE_MR".into(),
        destination: Destination::Archive,
        overwrite: Overwrite::None,
        prevent_anon: true,
    };
    client(&sim)
        .import_zip(ZipBody::File(&zip), &target, &mut |_| {})
        .expect("import the large session");
    sim
}

fn manifest(url: &str, anonymization: &str) -> String {
    format!(
        r#"version: 1
servers:
  local: {{ url: "{url}", user_env: FERRY_IT_USER, password_env: FERRY_IT_PASS }}
transfers:
  - name: large
    mode: copy
    from: {{ server: local, project: PILOT }}
    to: {{ server: local, project: MAIN }}
    select: {{ subjects: ["LARGE"] }}
    map: {{ subject: "MAIN_LARGE", session: "MAIN_LARGE_MR" }}
    dicom:
      set:
        PatientName: "{{{{ dest.subject }}}}"
        SeriesDescription: "copied by ferry"
    policy: {{ conflict: skip, destination: archive, anonymization: "off", verify: full, destination_anonymization: {anonymization} }}
"#
    )
}

/// Plans and applies the copy of the large session; the apply's standard output.
fn copy(sim: &Sim, anonymization: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferry.yaml"),
        manifest(&sim.url, anonymization),
    )
    .unwrap();
    let p = run(dir.path(), &["plan", "ferry.yaml", "--out", "plan.yaml"]);
    assert_eq!(p.status.code(), Some(0), "{}", stderr(&p));
    let a = run(dir.path(), &["apply", "plan.yaml"]);
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("plan.yaml.verification.json")).unwrap(),
    )
    .unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{report}");
    assert_eq!(sessions[0]["status"], "verified", "{report}");
    assert_eq!(sessions[0]["files"], 2, "{report}");
    stdout(&a)
}

/// The copy holds both files with the source's pixel data and the header ferry wrote.
fn assert_copied(sim: &Sim) {
    let c = client(sim);
    let scans = vec!["1".to_string(), "2".to_string()];
    let src = files_of(&c, "PILOT", "LARGE", "LARGE_MR", &scans);
    let dst = files_of(&c, "MAIN", "MAIN_LARGE", "MAIN_LARGE_MR", &scans);
    assert_eq!(src.len(), 2);
    assert_eq!(
        src.keys().collect::<Vec<_>>(),
        dst.keys().collect::<Vec<_>>()
    );
    for (sop, (scan, kw, pixels)) in &dst {
        let (src_scan, src_kw, src_pixels) = &src[sop];
        assert_eq!(scan, src_scan);
        assert_eq!(pixels, src_pixels, "pixel data changed");
        assert_eq!(kw["SeriesDescription"], "copied by ferry");
        assert_eq!(kw["NumberOfFrames"], src_kw["NumberOfFrames"]);
    }
}

#[test]
fn files_larger_than_a_chunk_are_copied_and_verified_by_digest() {
    let sim = sim_with_large_session();
    let out = copy(&sim, "local");
    assert!(out.contains("2 by digest, 0 read back"), "{out}");
    assert_copied(&sim);
    let c = client(&sim);
    let dst = files_of(&c, "MAIN", "MAIN_LARGE", "MAIN_LARGE_MR", &["1".into()]);
    assert!(dst
        .values()
        .all(|(_, kw, _)| kw["PatientName"] == "MAIN_LARGE"));
}

#[test]
fn files_larger_than_a_chunk_are_verified_by_reading_them_back() {
    // The destination runs its own anonymization script, so the digests differ from what ferry
    // uploaded and every file is read back and compared.
    let sim = sim_with_large_session();
    let out = copy(&sim, "server");
    assert!(out.contains("0 by digest, 2 read back"), "{out}");
    assert_copied(&sim);
}
