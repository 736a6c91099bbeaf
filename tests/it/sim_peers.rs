//! What other XNAT clients (xnatctl, copyxnat) need from `ferry sim`, over plain HTTP: build-info
//! properties, user lookups, `POST /data/JSESSION`, the `xdat:bundle` search, XML item documents in PUT
//! bodies, `format=xml` laid out as `xnat.xsd`, assessor and reconstruction listings, and a zip PUT to a
//! resource's `files` collection with `extract=true`.

use crate::sim::{demo, get, md5_hex, send, zip_with};

const SESSION: &str = "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1";

#[test]
fn build_info_properties_and_users() {
    let sim = demo();
    let v = send(
        &sim,
        "GET",
        "/xapi/siteConfig/buildInfo/version",
        None,
        &[],
        vec![],
    );
    assert_eq!((v.status, v.text().as_str()), (200, "1.8.10"));
    assert_eq!(v.header("content-type"), Some("application/json"));
    let all = get(&sim, "/xapi/siteConfig/buildInfo", "reader").json();
    assert_eq!(all["version"], "1.8.10");
    assert_eq!(
        get(&sim, "/xapi/siteConfig/buildInfo/nope", "reader").status,
        404
    );

    assert_eq!(get(&sim, "/xapi/users/username", "writer").text(), "writer");
    let me = get(&sim, "/xapi/users/writer", "writer");
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "writer");
    assert_eq!(me.json()["enabled"], true);
    assert!(!me.text().contains("password"), "{}", me.text());
    assert_eq!(get(&sim, "/xapi/users/writer", "admin").status, 200);
    assert_eq!(get(&sim, "/xapi/users/admin", "writer").status, 403);
    assert_eq!(get(&sim, "/xapi/users/ghost", "admin").status, 404);
    assert_eq!(
        send(&sim, "GET", "/xapi/users/admin", None, &[], vec![]).status,
        401
    );

    let login = send(
        &sim,
        "POST",
        "/data/JSESSION",
        Some(("reader", "reader")),
        &[],
        vec![],
    );
    assert_eq!(login.status, 200);
    let cookie = format!("JSESSIONID={}", login.text());
    let again = send(
        &sim,
        "GET",
        "/data/auth",
        None,
        &[("Cookie", &cookie)],
        vec![],
    );
    assert_eq!(again.text(), "User 'reader' is logged in");
}

fn bundle(root: &str, fields: &[&str], criteria: &str) -> Vec<u8> {
    let fields: String = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "<xdat:search_field><xdat:element_name>{root}</xdat:element_name>\
                 <xdat:field_ID>{f}</xdat:field_ID><xdat:sequence>{i}</xdat:sequence>\
                 <xdat:type>string</xdat:type><xdat:header>{root}/{f}</xdat:header></xdat:search_field>"
            )
        })
        .collect();
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<xdat:bundle xmlns:xdat=\"http://nrg.wustl.edu/security\" \
         ID=\"@{root}\" brief-description=\"\" allow-diff-columns=\"0\" secure=\"false\">\
         <xdat:root_element_name>{root}</xdat:root_element_name>{fields}\
         <xdat:search_where method=\"AND\">{criteria}</xdat:search_where></xdat:bundle>"
    )
    .into_bytes()
}

fn criterion(field: &str, op: &str, value: &str) -> String {
    format!(
        "<xdat:criteria override_value_formatting=\"0\"><xdat:schema_field>{field}</xdat:schema_field>\
         <xdat:comparison_type>{op}</xdat:comparison_type><xdat:value>{value}</xdat:value></xdat:criteria>"
    )
}

#[test]
fn bundle_searches_answer_in_csv_json_and_xml() {
    let sim = demo();
    let all = criterion("xnat:projectData/ID", "LIKE", "%");
    let body = bundle("xnat:projectData", &["ID", "name", "secondary_ID"], &all);
    let search = |fmt: &str, user: &str, body: Vec<u8>| {
        send(
            &sim,
            "POST",
            &format!("/data/search?format={fmt}"),
            Some((user, user)),
            &[("Content-Type", "text/xml")],
            body,
        )
    };
    let csv = search("csv", "admin", body.clone());
    assert_eq!(csv.status, 200, "{}", csv.text());
    let lines: Vec<String> = csv.text().lines().map(str::to_string).collect();
    assert_eq!(lines[0], "id,name_csv,secondary_id");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.contains(&"PILOT,Pilot study,PILOT".to_string()),
        "{lines:?}"
    );
    // Only what the caller may read.
    let reader = search("json", "reader", body.clone()).rows();
    assert_eq!(reader.len(), 1);
    assert_eq!(reader[0]["id"], "PILOT");
    assert_eq!(reader[0]["name"], "Pilot study");
    let xml = search("xml", "admin", body.clone()).text();
    assert!(xml.contains("<cell>MAIN</cell>"), "{xml}");
    // Criteria narrow; other roots answer too.
    let one = bundle(
        "xnat:subjectData",
        &["ID", "label"],
        &criterion("xnat:subjectData/label", "=", "SUB002"),
    );
    let rows = search("json", "admin", one).rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["label"], "SUB002");
    let sessions = bundle(
        "xnat:mrSessionData",
        &["ID", "label", "project"],
        &criterion("xnat:mrSessionData/project", "=", "MAIN"),
    );
    assert_eq!(search("json", "admin", sessions).rows().len(), 1);
    // Bad documents get 400 with the reason.
    let bad = search("csv", "admin", b"<not a bundle".to_vec());
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("invalid XML"), "{}", bad.text());
    let unknown = search("csv", "admin", bundle("xnat:fooData", &["ID"], ""));
    assert_eq!(unknown.status, 400);
    assert!(unknown.text().contains("xnat:fooData"));
    assert_eq!(get(&sim, "/data/search?format=csv", "admin").status, 405);
}

#[test]
fn item_xml_follows_the_schema() {
    let sim = demo();
    let x = get(&sim, &format!("{SESSION}?format=xml"), "reader").text();
    assert!(x.starts_with("<?xml"), "{x}");
    assert!(
        x.contains("<xnat:MRSession xmlns:xnat=\"http://nrg.wustl.edu/xnat\""),
        "{x}"
    );
    for attr in [
        "ID=\"XNAT_E",
        "project=\"PILOT\"",
        "label=\"SUB001_MR1\"",
        "UID=\"1.2.",
    ] {
        assert!(x.contains(attr), "{attr} missing:\n{x}");
    }
    let pos = |s: &str| x.find(s).unwrap_or_else(|| panic!("{s} missing:\n{x}"));
    assert!(pos("<xnat:date>2024-01-15</xnat:date>") < pos("<xnat:subject_ID>"));
    assert!(pos("<xnat:subject_ID>") < pos("<xnat:scans>"));
    assert!(x.contains("<xnat:scan xsi:type=\"xnat:mrScanData\" ID=\"1\" type=\"localizer\""));
    assert!(x.contains("<xnat:series_description>localizer</xnat:series_description>"));
    assert!(x.contains("<xnat:file xsi:type=\"xnat:resourceCatalog\" label=\"DICOM\""));
    let scan = get(&sim, &format!("{SESSION}/scans/2?format=xml"), "reader").text();
    assert!(scan.contains("<xnat:MRScan xmlns:xnat="), "{scan}");
    assert!(scan.contains("type=\"T1_MPRAGE\""), "{scan}");
    let subj = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB001?format=xml",
        "reader",
    )
    .text();
    assert!(
        subj.contains("<xnat:Subject ") && subj.contains("label=\"SUB001\""),
        "{subj}"
    );
    let proj = get(&sim, "/data/projects/PILOT?format=xml", "reader").text();
    assert!(
        proj.contains("<xnat:name>Pilot study</xnat:name>"),
        "{proj}"
    );
}

#[test]
fn xml_item_documents_store_their_fields() {
    let sim = demo();
    let w = Some(("writer", "writer"));
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<xnat:CTSession xmlns:xnat="http://nrg.wustl.edu/xnat" ID="XNAT_E99999" project="ELSEWHERE" label="MAIN_002_CT" UID="1.2.3.4" modality="CT">
  <xnat:date>2023-05-06</xnat:date>
  <xnat:time>10:11:12</xnat:time>
  <xnat:dcmPatientId>PID-7</xnat:dcmPatientId>
  <xnat:dcmPatientName>Anon^Seven</xnat:dcmPatientName>
</xnat:CTSession>"#;
    let path = "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_CT";
    let r = send(
        &sim,
        "PUT",
        path,
        w,
        &[("Content-Type", "text/xml")],
        doc.into(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let item = get(&sim, &format!("{path}?format=json"), "writer").json();
    let f = &item["items"][0]["data_fields"];
    assert_eq!(item["items"][0]["meta"]["xsi:type"], "xnat:ctSessionData");
    assert_eq!(
        f["project"], "MAIN",
        "the document's project is not the server's"
    );
    assert_ne!(f["ID"], "XNAT_E99999");
    for (k, v) in [
        ("date", "2023-05-06"),
        ("time", "10:11:12"),
        ("UID", "1.2.3.4"),
        ("modality", "CT"),
        ("dcmPatientId", "PID-7"),
        ("dcmPatientName", "Anon^Seven"),
    ] {
        assert_eq!(f[k], v, "{k}");
    }
    // A scan as one XML file in a multipart body, as pyxnat sends it.
    let scan = r#"<xnat:CTScan xmlns:xnat="http://nrg.wustl.edu/xnat" ID="5" type="AXIAL" UID="1.2.3.4.5" label="5">
  <xnat:quality>questionable</xnat:quality>
  <xnat:series_description>Axial 5mm</xnat:series_description>
  <xnat:frames>42</xnat:frames>
</xnat:CTScan>"#;
    let body = format!(
        "--XB\r\nContent-Disposition: form-data; name=\"data.xml\"; filename=\"data.xml\"\r\n\
         Content-Type: text/xml\r\n\r\n{scan}\r\n--XB--\r\n"
    );
    let r = send(
        &sim,
        "PUT",
        &format!("{path}/scans/5"),
        w,
        &[("Content-Type", "multipart/form-data; boundary=XB")],
        body.into_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = get(&sim, &format!("{path}/scans?format=json&columns=ID,type,series_description,UID,frames,quality,xsiType"), "writer").rows();
    assert_eq!(rows.len(), 1);
    let s = &rows[0];
    assert_eq!(
        (s["type"].as_str(), s["UID"].as_str(), s["frames"].as_str()),
        (Some("AXIAL"), Some("1.2.3.4.5"), Some("42"))
    );
    assert_eq!(s["series_description"], "Axial 5mm");
    assert_eq!(s["quality"], "questionable");
    assert_eq!(s["xsiType"], "xnat:ctScanData");
    // Query parameters win over the document.
    let r = send(
        &sim,
        "PUT",
        &format!("{path}?date=2020-01-01"),
        w,
        &[("Content-Type", "text/xml")],
        doc.into(),
    );
    assert_eq!(r.status, 200);
    let f = get(&sim, &format!("{path}?format=json"), "writer").json();
    assert_eq!(f["items"][0]["data_fields"]["date"], "2020-01-01");
    // A file that happens to be XML, uploaded into a resource, stays a file.
    let up = send(
        &sim,
        "PUT",
        &format!("{path}/resources/META/files/scan.xml"),
        w,
        &[("Content-Type", "text/xml")],
        scan.into(),
    );
    assert_eq!(up.status, 200);
    let back = get(
        &sim,
        &format!("{path}/resources/META/files/scan.xml"),
        "writer",
    );
    assert_eq!(back.text(), scan);
}

#[test]
fn assessor_and_reconstruction_listings_are_empty() {
    let sim = demo();
    for what in ["assessors", "reconstructions"] {
        let r = get(&sim, &format!("{SESSION}/{what}?format=json"), "reader");
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.rows().len(), 0);
        assert_eq!(r.json()["ResultSet"]["totalRecords"], "0");
        let missing = get(
            &sim,
            &format!("/data/experiments/XNAT_E99999/{what}"),
            "reader",
        );
        assert_eq!(missing.status, 404);
    }
    let hidden = get(
        &sim,
        "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_20240203/assessors",
        "reader",
    );
    assert_eq!(hidden.status, 403);
}

#[test]
fn a_zip_put_to_the_files_collection_is_extracted() {
    let sim = demo();
    let base = "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_20240203/resources/SNAP";
    let zip = zip_with(&[("a.txt", b"alpha"), ("sub/b.txt", b"beta")]);
    let r = send(
        &sim,
        "PUT",
        &format!("{base}/files?overwrite=true&extract=true"),
        Some(("writer", "writer")),
        &[("Content-Type", "application/zip")],
        zip.clone(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = get(&sim, &format!("{base}/files?format=json"), "writer").rows();
    let mut names: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let uri = r["URI"].as_str().unwrap();
            let path = uri.split("/files/").nth(1).unwrap().to_string();
            (path, r["digest"].as_str().unwrap().to_string())
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("a.txt".to_string(), md5_hex(b"alpha")),
            ("sub/b.txt".to_string(), md5_hex(b"beta")),
        ]
    );
    // Without extract the body is kept as one file named for its type.
    let r = send(
        &sim,
        "PUT",
        &format!("{base}/files"),
        Some(("writer", "writer")),
        &[("Content-Type", "application/zip")],
        zip,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        get(&sim, &format!("{base}/files/upload.zip"), "writer").status,
        200
    );
}
