//! XNAT's anonymization on the way in, as `ferry sim` does it: the `/xapi/anonymize` endpoints with
//! their permissions, the site-wide script on by default and run on every import unless
//! `prevent_anon=true`, and the project script run when a session is archived into the project.

use crate::sim::{get, send, Reply};
use crate::support::Sim;
use std::io::Write;

fn demo() -> Sim {
    Sim::start(&["--seed", "demo"])
}

fn put_text(sim: &Sim, path: &str, user: &str, body: &str) -> Reply {
    send(
        sim,
        "PUT",
        path,
        Some((user, user)),
        &[("Content-Type", "text/plain")],
        body.as_bytes().to_vec(),
    )
}

/// The DICOM files of one source session, straight from the emulator's file listing.
fn source_files(sim: &Sim, session: &str) -> Vec<(String, Vec<u8>)> {
    let base = format!(
        "/data/projects/PILOT/subjects/SUB001/experiments/{session}/scans/2/resources/DICOM/files"
    );
    let rows = get(sim, &format!("{base}?format=json"), "admin").rows();
    assert!(!rows.is_empty());
    rows.iter()
        .map(|r| {
            let name = r["Name"].as_str().unwrap().to_string();
            let f = get(sim, &format!("{base}/{name}"), "admin");
            assert_eq!(f.status, 200);
            (name, f.body)
        })
        .collect()
}

fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn import(sim: &Sim, query: &str, files: &[(String, Vec<u8>)]) -> Reply {
    send(
        sim,
        "POST",
        &format!("/data/services/import?{query}"),
        Some(("writer", "writer")),
        &[("Content-Type", "application/zip")],
        zip_of(files),
    )
}

/// The stored files of an archived MAIN session, as (name, bytes).
fn stored(sim: &Sim, subject: &str, session: &str) -> Vec<(String, Vec<u8>)> {
    let base = format!("/data/projects/MAIN/subjects/{subject}/experiments/{session}/scans/2/resources/DICOM/files");
    let rows = get(sim, &format!("{base}?format=json"), "admin").rows();
    rows.iter()
        .map(|r| {
            let name = r["Name"].as_str().unwrap().to_string();
            (
                name.clone(),
                get(sim, &format!("{base}/{name}"), "admin").body,
            )
        })
        .collect()
}

#[test]
fn endpoints_answer_with_xnat_permissions() {
    let sim = demo();
    let site = get(&sim, "/xapi/anonymize/site", "reader");
    assert_eq!(site.status, 200);
    assert!(site.text().contains("(0010,0010) := subject"));
    assert_eq!(
        get(&sim, "/xapi/anonymize/site/enabled", "reader").text(),
        "true"
    );
    assert_eq!(
        get(&sim, "/xapi/anonymize/default", "reader").text(),
        site.text()
    );
    // Changing the site script or its switch needs a site administrator.
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/site", "writer", "x").status,
        403
    );
    let r = send(
        &sim,
        "PUT",
        "/xapi/anonymize/site/enabled?enable=false",
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 403);
    let r = send(
        &sim,
        "PUT",
        "/xapi/anonymize/site/enabled?enable=false",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        get(&sim, "/xapi/anonymize/site/enabled", "reader").text(),
        "false"
    );
    // Anonymous callers get nothing.
    assert_eq!(
        send(&sim, "GET", "/xapi/anonymize/site", None, &[], vec![]).status,
        401
    );

    // A project without a script answers 204; owners set it, members may not; unknown projects 404.
    assert_eq!(
        get(&sim, "/xapi/anonymize/projects/MAIN", "writer").status,
        204
    );
    assert_eq!(
        get(&sim, "/xapi/anonymize/projects/MAIN/enabled", "writer").text(),
        "false"
    );
    assert_eq!(
        get(&sim, "/xapi/anonymize/projects/NOPE", "admin").status,
        404
    );
    let script = "version \"6.1\"\n(0008,0080) := \"MAIN site\"\n";
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/projects/MAIN", "writer", script).status,
        403
    );
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/projects/MAIN", "admin", script).status,
        200
    );
    assert_eq!(
        get(&sim, "/xapi/anonymize/projects/MAIN", "writer").text(),
        script
    );
    assert_eq!(
        get(&sim, "/xapi/anonymize/projects/MAIN/enabled", "writer").text(),
        "true"
    );
}

#[test]
fn imports_are_anonymized_unless_prevent_anon() {
    let sim = demo();
    let files = source_files(&sim, "SUB001_MR1");
    let q = "project=MAIN&subject=MAIN_A&session=MAIN_A_MR&dest=/archive";
    let r = import(&sim, q, &files);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = stored(&sim, "MAIN_A", "MAIN_A_MR");
    assert_eq!(got.len(), files.len());
    for (name, bytes) in &got {
        let original = &files.iter().find(|(n, _)| n == name).unwrap().1;
        assert_ne!(bytes, original, "{name} was stored as sent");
        let h = ferry::dicom::read_header_bytes(bytes).unwrap();
        assert_eq!(h.keywords["PatientName"], "MAIN_A");
        assert_eq!(h.keywords["PatientID"], "MAIN_A_MR");
        assert_eq!(h.keywords["StudyDescription"], "MAIN");
        assert_eq!(
            ferry::dicom::pixel_hash(bytes).unwrap(),
            ferry::dicom::pixel_hash(original).unwrap()
        );
    }
    // The session record reads the rewritten headers.
    let item = get(
        &sim,
        "/data/projects/MAIN/experiments/MAIN_A_MR?format=json",
        "writer",
    )
    .json();
    assert_eq!(item["items"][0]["data_fields"]["dcmPatientId"], "MAIN_A_MR");

    let r = import(
        &sim,
        "project=MAIN&subject=MAIN_B&session=MAIN_B_MR&dest=/archive&prevent_anon=true",
        &files,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut got = stored(&sim, "MAIN_B", "MAIN_B_MR");
    let mut sent = files.clone();
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "prevent_anon stores the bytes as sent");
}

#[test]
fn the_project_script_runs_when_a_session_is_archived_unless_prevent_anon() {
    let sim = demo();
    let script = "version \"6.1\"\n(0008,0080) := \"Anon Institute\"\n";
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/projects/MAIN", "admin", script).status,
        200
    );
    let files = source_files(&sim, "SUB001_MR1");
    // Into the prearchive: the site script ran, the project script not yet.
    let r = import(
        &sim,
        "project=MAIN&subject=MAIN_C&session=MAIN_C_MR",
        &files,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let uri = r.text().trim().trim_start_matches("/data").to_string();
    let rows = get(&sim, "/data/prearchive/projects/MAIN?format=json", "writer").rows();
    assert_eq!(rows[0]["prevent_anon"], "false");
    let r = send(
        &sim,
        "POST",
        &format!("/data/services/archive?src={uri}"),
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for (_, bytes) in stored(&sim, "MAIN_C", "MAIN_C_MR") {
        let h = ferry::dicom::read_header_bytes(&bytes).unwrap();
        assert_eq!(h.keywords["InstitutionName"], "Anon Institute");
        assert_eq!(h.keywords["PatientName"], "MAIN_C");
    }
    // Listings carry the stored files' sizes and digests, not those of what was sent.
    let rows = get(&sim, "/data/projects/MAIN/subjects/MAIN_C/experiments/MAIN_C_MR/scans/2/resources/DICOM/files?format=json", "admin").rows();
    let stored_bytes = stored(&sim, "MAIN_C", "MAIN_C_MR");
    for row in rows {
        let b = &stored_bytes
            .iter()
            .find(|(n, _)| n == row["Name"].as_str().unwrap())
            .unwrap()
            .1;
        assert_eq!(row["Size"], b.len().to_string());
        assert_eq!(row["digest"], crate::sim::md5_hex(b));
    }
    // An upload with prevent_anon is archived as sent: neither script runs.
    let r = import(
        &sim,
        "project=MAIN&subject=MAIN_E&session=MAIN_E_MR&prevent_anon=true",
        &files,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let uri = r.text().trim().trim_start_matches("/data").to_string();
    let rows = get(&sim, "/data/prearchive/projects/MAIN?format=json", "writer").rows();
    assert!(rows.iter().any(|r| r["prevent_anon"] == "true"));
    let r = send(
        &sim,
        "POST",
        &format!("/data/services/archive?src={uri}"),
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut got = stored(&sim, "MAIN_E", "MAIN_E_MR");
    let mut sent = files.clone();
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
}

#[test]
fn a_script_the_server_cannot_run_fails_the_import() {
    let sim = demo();
    let bad = "version \"6.1\"\n(0020,000D) := hashUID[(0020,000D)]\n";
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/site", "admin", bad).status,
        200
    );
    let files = source_files(&sim, "SUB001_MR1");
    let r = import(
        &sim,
        "project=MAIN&subject=MAIN_D&session=MAIN_D_MR&dest=/archive",
        &files,
    );
    assert_eq!(r.status, 500);
    assert!(r.text().contains("line 2"), "{}", r.text());
    assert_eq!(
        get(
            &sim,
            "/data/projects/MAIN/experiments/MAIN_D_MR?format=json",
            "admin"
        )
        .status,
        404
    );
    // With prevent_anon the script does not run at all.
    let r = import(
        &sim,
        "project=MAIN&subject=MAIN_D&session=MAIN_D_MR&dest=/archive&prevent_anon=true",
        &files,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `ferry plan` and `apply --skip-blocked` of the demo manifest with `policy`; the apply output.
fn transfer(sim: &Sim, policy: &str) -> (crate::apply::Work, std::process::Output) {
    let w = crate::apply::work(sim, "copy", policy);
    let p = w.plan();
    assert_eq!(p.status.code(), Some(3), "{}", crate::support::stderr(&p));
    let a = w.apply(&["--skip-blocked"]);
    (w, a)
}

fn dest_headers(sim: &Sim) -> Vec<std::collections::BTreeMap<String, String>> {
    let c = crate::apply::client(sim);
    let scans = vec!["2".to_string(), "3".to_string(), "4".to_string()];
    crate::apply::files_of(&c, "MAIN", "MAIN_001", "MAIN_001_20240115", &scans)
        .into_values()
        .map(|(_, kw, _)| kw)
        .collect()
}

#[test]
fn ferry_runs_the_destination_scripts_itself_and_stores_what_it_verified() {
    let sim = demo();
    let project =
        "version \"6.1\"\n(0008,0060) = \"MR\" ? (0008,1090) := \"Anon Scanner\"\n- (0010,0040)\n";
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/projects/MAIN", "admin", project).status,
        200
    );
    let w = crate::apply::work(&sim, "copy", "conflict: skip");
    let p = w.plan();
    let out = crate::support::stdout(&p);
    assert!(
        out.contains(
            "site script on: sets StudyDescription (conditional), sets PatientName, sets PatientID"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "project script on: sets ManufacturerModelName (conditional), deletes PatientSex"
        ),
        "{out}"
    );
    assert!(out.contains("ferry runs them before upload"), "{out}");
    let a = w.apply(&["--skip-blocked"]);
    assert!(
        a.status.success(),
        "{}\n{}",
        crate::support::stdout(&a),
        crate::support::stderr(&a)
    );
    // Both scripts ran (the project's conditional too), dicom.set came after them, and XNAT
    // rewrote nothing on import: the verification compared whole files.
    let headers = dest_headers(&sim);
    assert!(!headers.is_empty());
    for kw in headers {
        assert_eq!(kw["ManufacturerModelName"], "Anon Scanner");
        assert!(!kw.contains_key("PatientSex"));
        assert_eq!(kw["PatientID"], "MAIN_001");
        assert_eq!(
            kw["StudyDescription"],
            "xnat://MAIN/MAIN_001/MAIN_001_20240115"
        );
    }
    crate::apply::assert_copied(&sim);
}

#[test]
fn a_script_ferry_cannot_run_blocks_the_plan_with_its_line() {
    let sim = demo();
    let bad = "version \"6.1\"\n(0020,000D) := hashUID[(0020,000D)]\n";
    assert_eq!(
        put_text(&sim, "/xapi/anonymize/projects/MAIN", "admin", bad).status,
        200
    );
    let w = crate::apply::work(&sim, "copy", "conflict: skip");
    let p = w.plan();
    assert_eq!(p.status.code(), Some(3));
    let out = crate::support::stdout(&p);
    assert!(
        out.contains("unsupported construct at line 2: function `hashUID[...]`"),
        "{out}"
    );
    let a = w.apply(&[]);
    assert_eq!(a.status.code(), Some(3), "a blocked plan is refused");
    assert_eq!(
        get(
            &sim,
            "/data/projects/MAIN/experiments/MAIN_001_20240115?format=json",
            "admin"
        )
        .status,
        404,
        "nothing was uploaded"
    );
}

#[test]
fn under_server_the_server_rewrites_and_ferry_verifies_pixels_and_uids() {
    let sim = demo();
    let (w, a) = transfer(&sim, "conflict: skip, destination_anonymization: server");
    assert!(
        a.status.success(),
        "{}\n{}",
        crate::support::stdout(&a),
        crate::support::stderr(&a)
    );
    // The server's default script rewrote what dicom.set wrote; the report says so.
    for kw in dest_headers(&sim) {
        assert_eq!(kw["PatientID"], "MAIN_001_20240115");
        assert_eq!(kw["StudyDescription"], "MAIN");
    }
    let report = std::fs::read_to_string(w.dir.path().join("plan.yaml.verification.json")).unwrap();
    assert!(
        report.contains("anonymization scripts rewrote PatientID, StudyDescription"),
        "{report}"
    );
}

#[test]
fn an_auto_archiving_project_is_not_archived_again_and_manual_review_is_refused() {
    let sim = demo();
    let r = send(
        &sim,
        "PUT",
        "/data/projects/MAIN/prearchive_code/4",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let w = crate::apply::work(
        &sim,
        "copy",
        "conflict: skip, destination: prearchive, archive: manual",
    );
    let p = w.plan();
    let out = crate::support::stdout(&p);
    assert!(
        out.contains("MAIN archives uploads itself (prearchive code 4)"),
        "{out}"
    );
    let (w, a) = transfer(
        &sim,
        "conflict: skip, destination: prearchive, archive: auto",
    );
    assert!(
        a.status.success(),
        "{}\n{}",
        crate::support::stdout(&a),
        crate::support::stderr(&a)
    );
    crate::apply::assert_copied(&sim);
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    assert_eq!(
        journal.matches("archived_by_server").count(),
        4,
        "{journal}"
    );
}
