//! `ferry sim` through plain HTTP: login and sessions, listings and lookups, permissions, files and zips,
//! creation, import and the prearchive, shares, deletes, restart persistence, faults and junk requests.

use crate::support::Sim;
use std::io::{Read, Write};

/// A reply: status, headers (lower-case names), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Rows of a ResultSet.
    pub fn rows(&self) -> Vec<serde_json::Value> {
        self.json()["ResultSet"]["Result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn basic(user: &str, pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Sends one request with optional credentials, extra headers and body.
pub fn send(
    sim: &Sim,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .build()
        .into();
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", sim.url));
    if let Some((u, p)) = auth {
        b = b.header("Authorization", basic(u, p));
    }
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let req = b.body(body).expect("request");
    let mut resp = agent.run(req).expect("http");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(sim: &Sim, path: &str, user: &str) -> Reply {
    send(sim, "GET", path, Some((user, user)), &[], vec![])
}

pub fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

pub fn demo() -> Sim {
    Sim::start(&["--seed", "demo"])
}

#[test]
fn login_sessions_and_version_as_clients_expect() {
    let sim = demo();
    let r = send(
        &sim,
        "POST",
        "/data/JSESSION",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200);
    let id = r.text();
    assert_eq!(id.len(), 32);
    assert!(r
        .header("set-cookie")
        .unwrap()
        .starts_with(&format!("JSESSIONID={id}")));
    let cookie = format!("JSESSIONID={id}");
    let a = send(
        &sim,
        "GET",
        "/data/auth",
        None,
        &[("Cookie", &cookie)],
        vec![],
    );
    assert_eq!(a.text(), "User 'admin' is logged in");
    let again = send(
        &sim,
        "GET",
        "/data/JSESSION",
        None,
        &[("Cookie", &cookie)],
        vec![],
    );
    assert_eq!(again.text(), id);
    assert_eq!(
        send(
            &sim,
            "DELETE",
            "/data/JSESSION",
            None,
            &[("Cookie", &cookie)],
            vec![]
        )
        .status,
        200
    );
    let gone = send(
        &sim,
        "GET",
        "/data/auth",
        None,
        &[("Cookie", &cookie)],
        vec![],
    );
    assert_eq!(gone.status, 401);
    // Form login as xnatpy does it.
    let form = send(
        &sim,
        "PUT",
        "/data/services/auth",
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=reader&password=reader".to_vec(),
    );
    assert_eq!(form.status, 200);
    let bad = send(
        &sim,
        "PUT",
        "/data/services/auth",
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=reader&password=nope".to_vec(),
    );
    assert_eq!(bad.status, 401);
    assert!(bad
        .text()
        .contains("<h3>Login attempt failed. Please try again.</h3>"));
    assert_eq!(get(&sim, "/data/version", "admin").status, 404);
    let info = send(&sim, "GET", "/xapi/siteConfig/buildInfo", None, &[], vec![]).json();
    assert!(info["version"].as_str().unwrap().starts_with("1.8."));
    // Alias tokens work as Basic credentials.
    let tok = get(&sim, "/data/services/tokens/issue", "writer").json();
    let (alias, secret) = (
        tok["alias"].as_str().unwrap(),
        tok["secret"].as_str().unwrap(),
    );
    let via = send(
        &sim,
        "GET",
        "/data/auth",
        Some((alias, secret)),
        &[],
        vec![],
    );
    assert_eq!(via.text(), "User 'writer' is logged in");
}

#[test]
fn unauthenticated_and_unauthorised_requests_get_xnat_statuses() {
    let sim = demo();
    let anon = send(&sim, "GET", "/data/projects", None, &[], vec![]);
    assert_eq!(anon.status, 401);
    assert!(anon
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    let wrong = send(
        &sim,
        "GET",
        "/data/projects",
        Some(("admin", "x")),
        &[],
        vec![],
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("Login attempt failed"));
    // reader is a collaborator on PILOT only.
    let projects: Vec<String> = get(&sim, "/data/projects?format=json", "reader")
        .rows()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(projects, vec!["PILOT"]);
    assert_eq!(
        get(&sim, "/data/projects/MAIN/subjects", "reader").status,
        403
    );
    assert_eq!(
        get(&sim, "/data/projects/NOPE/subjects", "reader").status,
        404
    );
    let main_id = get(&sim, "/data/projects/MAIN/experiments?format=json", "admin").rows()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get(&sim, &format!("/data/experiments/{main_id}"), "reader").status,
        404
    );
    // Roles as XNAT reports them.
    let roles = get(&sim, "/xapi/access/projects", "writer").json();
    assert_eq!(roles[0]["ID"], "MAIN");
    assert_eq!(roles[0]["role"], "Members");
    let editable = get(
        &sim,
        "/data/projects?permissions=edit&format=json",
        "reader",
    )
    .rows();
    assert!(editable.is_empty());
    // reader may not change PILOT; writer may not delete in MAIN.
    let put = send(
        &sim,
        "PUT",
        "/data/projects/PILOT/subjects/NEW1",
        Some(("reader", "reader")),
        &[],
        vec![],
    );
    assert_eq!(put.status, 403);
    let del = send(
        &sim,
        "DELETE",
        &format!("/data/experiments/{main_id}"),
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert_eq!(del.status, 403);
    assert_eq!(get(&sim, "/data/nothing/here", "admin").status, 404);
    assert_eq!(get(&sim, "/nothing", "admin").status, 404);
}

#[test]
fn listings_lookups_and_formats() {
    let sim = demo();
    let subjects = get(&sim, "/data/projects/PILOT/subjects?format=json", "admin");
    assert_eq!(subjects.json()["ResultSet"]["totalRecords"], "6");
    let exps = get(
        &sim,
        "/data/archive/projects/PILOT/experiments?format=json",
        "reader",
    )
    .rows();
    assert_eq!(exps.len(), 8);
    let e = exps.iter().find(|r| r["label"] == "SUB001_MR1").unwrap();
    assert_eq!(e["date"], "2024-01-15");
    assert_eq!(e["xsiType"], "xnat:mrSessionData");
    let id = e["ID"].as_str().unwrap();
    assert!(id.starts_with("XNAT_E"));
    assert_eq!(e["URI"], format!("/data/experiments/{id}"));
    // Lookup by label and by ID give the same document; /REST is the same API.
    let by_label = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1?format=json",
        "reader",
    )
    .json();
    let by_id = get(
        &sim,
        &format!("/REST/experiments/{id}?format=json"),
        "reader",
    )
    .json();
    assert_eq!(by_label, by_id);
    let item = &by_id["items"][0];
    assert_eq!(item["meta"]["xsi:type"], "xnat:mrSessionData");
    assert_eq!(item["data_fields"]["label"], "SUB001_MR1");
    let scans = item["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "scans/scan")
        .unwrap();
    assert_eq!(scans["items"].as_array().unwrap().len(), 4);
    // Filters, columns and CSV.
    let filtered = get(
        &sim,
        "/data/projects/PILOT/experiments?format=json&label=SUB004*&columns=label,UID",
        "admin",
    )
    .rows();
    assert_eq!(filtered.len(), 2);
    assert!(filtered[0]["UID"].as_str().unwrap().starts_with("1.2."));
    assert!(filtered[0].get("URI").is_some());
    assert!(filtered[0].get("date").is_none());
    let csv = get(&sim, "/data/projects/PILOT/subjects?format=csv", "admin").text();
    assert!(csv.starts_with("ID,project,label,insert_date,insert_user,URI\n"));
    assert_eq!(csv.lines().count(), 7);
    let scan_rows = get(
        &sim,
        &format!("/data/experiments/{id}/scans?format=json"),
        "admin",
    )
    .rows();
    let types: Vec<&str> = scan_rows
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec!["localizer", "T1_MPRAGE", "BOLD_rest", "DTI_64dir"]
    );
    // XNAT's trap: no scan route under /projects/P/experiments/E.
    let trap = get(
        &sim,
        &format!("/data/projects/PILOT/experiments/{id}/scans?format=json"),
        "admin",
    )
    .json();
    assert_eq!(trap["items"][0]["data_fields"]["ID"], id);
}

#[test]
fn files_zips_and_digests() {
    let sim = demo();
    let base = "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1";
    let files = get(
        &sim,
        &format!("{base}/scans/2/resources/DICOM/files?format=json"),
        "reader",
    )
    .rows();
    assert_eq!(files.len(), 10);
    let f = &files[0];
    let uri = f["URI"].as_str().unwrap();
    assert!(uri.starts_with("/data/projects/PILOT/subjects/XNAT_S"));
    let bytes = get(&sim, uri, "reader").body;
    assert_eq!(bytes.len().to_string(), f["Size"].as_str().unwrap());
    assert_eq!(md5_hex(&bytes), f["digest"].as_str().unwrap());
    let zip = get(
        &sim,
        &format!("{base}/scans/2,3/files?format=zip"),
        "reader",
    );
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip.body)).unwrap();
    assert_eq!(z.len(), 20);
    let first = z.by_index(0).unwrap().name().unwrap().to_string();
    assert!(
        first.starts_with("SUB001_MR1/scans/2-T1_MPRAGE/resources/DICOM/files/"),
        "{first}"
    );
    let all = get(
        &sim,
        &format!("{base}/scans/ALL/resources/DICOM/files?format=zip"),
        "reader",
    );
    assert_eq!(
        zip::ZipArchive::new(std::io::Cursor::new(all.body))
            .unwrap()
            .len(),
        40
    );
    let notes = get(
        &sim,
        &format!("{base}/resources/NOTES/files?format=zip"),
        "reader",
    );
    assert_eq!(
        zip::ZipArchive::new(std::io::Cursor::new(notes.body))
            .unwrap()
            .len(),
        1
    );
    let res = get(&sim, &format!("{base}/resources?format=json"), "reader").rows();
    assert_eq!(res[0]["label"], "NOTES");
    assert_eq!(
        get(
            &sim,
            &format!("{base}/scans/2/resources/NIFTI/files"),
            "reader"
        )
        .status,
        404
    );
    assert_eq!(
        get(&sim, &format!("{base}/scans/9/files?format=zip"), "reader").status,
        404
    );
    let catalog = get(&sim, &format!("{base}/scans/2/resources/DICOM"), "reader").text();
    assert!(catalog.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cat:DCMCatalog"));
}

#[test]
fn the_demo_world_matches_its_contract() {
    let sim = demo();
    let hdr = |label: &str, subject: &str| {
        let path = format!("/data/projects/PILOT/subjects/{subject}/experiments/{label}/scans/1/resources/DICOM/files?format=json");
        let uri = get(&sim, &path, "admin").rows()[0]["URI"]
            .as_str()
            .unwrap()
            .to_string();
        let bytes = get(&sim, &uri, "admin").body;
        dicom_object::OpenFileOptions::new()
            .from_reader(&bytes[128..])
            .unwrap()
    };
    use dicom_dictionary_std::tags;
    let phi = hdr("SUB003_MR1", "SUB003");
    assert!(phi.element(tags::PATIENT_BIRTH_DATE).is_ok());
    assert!(phi.element(tags::REFERRING_PHYSICIAN_NAME).is_ok());
    let clean = hdr("SUB001_MR1", "SUB001");
    assert!(clean.element(tags::PATIENT_BIRTH_DATE).is_err());
    let comments = clean
        .element(tags::PATIENT_COMMENTS)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        comments.trim_end(),
        "Project: PILOT Subject: SUB001 Session: SUB001_MR1"
    );
    let main = get(
        &sim,
        "/data/projects/MAIN/experiments?format=json&columns=label,date,UID",
        "admin",
    )
    .rows();
    assert_eq!(main.len(), 1);
    assert_eq!(main[0]["label"], "MAIN_002_20240203");
    let sub2 = get(
        &sim,
        "/data/projects/PILOT/experiments?format=json&label=SUB002_MR1&columns=UID",
        "admin",
    )
    .rows();
    assert_ne!(main[0]["UID"], sub2[0]["UID"]);
    let sub4 = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB004/experiments?format=json",
        "admin",
    )
    .rows();
    assert!(sub4.iter().all(|r| r["date"] == "2024-03-01"));
    // A bigger world is deterministic: two roots give the same digests.
    let a = Sim::start(&["--seed", "demo:subjects=8,files=2"]);
    let b = Sim::start(&["--seed", "demo:subjects=8,files=2"]);
    let digests = |s: &Sim| {
        get(s, "/data/projects/PILOT/subjects/SUB008/experiments/SUB008_MR1/scans/ALL/files?format=json", "admin")
            .rows()
            .iter()
            .map(|r| r["digest"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&a).len(), 6);
    assert_eq!(digests(&a), digests(&b));
}

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let id = {
        let sim = Sim::start_at(&root, &["--seed", "demo"]);
        let r = send(
            &sim,
            "PUT",
            "/data/projects/MAIN/subjects/MAIN_099",
            Some(("writer", "writer")),
            &[],
            vec![],
        );
        assert_eq!(r.status, 201);
        let again = send(
            &sim,
            "PUT",
            "/data/projects/MAIN/subjects/MAIN_099",
            Some(("writer", "writer")),
            &[],
            vec![],
        );
        assert_eq!((again.status, again.text()), (200, r.text()));
        r.text()
    };
    let sim = Sim::start_at(&root, &["--user", "extra:pw"]);
    let subj = get(
        &sim,
        "/data/projects/MAIN/subjects/MAIN_099?format=json",
        "admin",
    )
    .json();
    assert_eq!(subj["items"][0]["data_fields"]["ID"], id);
    assert_eq!(
        get(&sim, "/data/projects/PILOT/subjects?format=json", "admin")
            .rows()
            .len(),
        6
    );
    assert_eq!(
        send(
            &sim,
            "GET",
            "/data/auth",
            Some(("extra", "pw")),
            &[],
            vec![]
        )
        .status,
        200
    );
}

pub fn raw(sim: &Sim, bytes: &[u8]) -> String {
    let addr = sim.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn junk_requests_never_bring_the_server_down() {
    let sim = demo();
    assert!(raw(&sim, b"\x00\x01\x02garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(&sim, b"GET / HTTP/9.9\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(
        &sim,
        b"GET /data/projects HTTP/1.1\r\nBroken header\r\n\r\n"
    )
    .starts_with("HTTP/1.1 400"));
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000));
    assert!(raw(&sim, huge.as_bytes()).starts_with("HTTP/1.1 431"));
    assert!(raw(
        &sim,
        b"POST /data/services/import HTTP/1.1\r\nContent-Length: nope\r\n\r\n"
    )
    .starts_with("HTTP/1.1 400"));
    assert!(raw(
        &sim,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    .starts_with("HTTP/1.1 400"));
    assert_eq!(
        get(&sim, "/data/projects/%zz/subjects", "admin").status,
        400
    );
    assert_eq!(get(&sim, "/data/projects?format=%", "admin").status, 400);
    assert_eq!(
        send(
            &sim,
            "BREW",
            "/data/projects",
            Some(("admin", "admin")),
            &[],
            vec![]
        )
        .status,
        405
    );
    assert_eq!(
        send(
            &sim,
            "GET",
            "/data/projects",
            None,
            &[("Authorization", "Basic !!!")],
            vec![]
        )
        .status,
        401
    );
    assert_eq!(
        send(
            &sim,
            "GET",
            "/data/projects",
            None,
            &[("Authorization", "Bearer x")],
            vec![]
        )
        .status,
        401
    );
    // Still serving.
    assert_eq!(
        get(&sim, "/data/projects?format=json", "admin")
            .rows()
            .len(),
        2
    );
}

#[test]
fn faults_are_injected_repeatably() {
    let statuses = |args: &[&str]| {
        let sim = Sim::start(args);
        (0..30)
            .map(|_| get(&sim, "/data/auth", "admin").status)
            .collect::<Vec<_>>()
    };
    let a = statuses(&["--error-rate", "0.5", "--rng-seed", "42"]);
    assert_eq!(a, statuses(&["--error-rate", "0.5", "--rng-seed", "42"]));
    assert!(a.contains(&500) && a.contains(&200));
    // A dropped body declares its full length and stops early.
    let sim = Sim::start(&["--seed", "demo", "--drop-rate", "1"]);
    let addr = sim.url.trim_start_matches("http://").to_string();
    let path = "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/scans/1/resources/DICOM/files?format=zip";
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        basic("admin", "admin")
    );
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"));
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a cut chunked body has no final chunk"
    );
    let file_req = get(&sim, "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/scans/1/resources/DICOM/files?format=json", "admin");
    assert_eq!(file_req.status, 200);
    assert!(
        file_req
            .header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > file_req.body.len()
    );
    // Run-time control: turn faults off, then fail the next two requests.
    let ctl = send(
        &sim,
        "PUT",
        "/sim/faults?drop_rate=0&fail_next=2",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(ctl.status, 200);
    let seq: Vec<u16> = (0..3)
        .map(|_| get(&sim, "/data/auth", "admin").status)
        .collect();
    assert_eq!(seq, vec![500, 500, 200]);
    assert_eq!(
        send(
            &sim,
            "PUT",
            "/sim/faults?fail_next=1",
            Some(("reader", "reader")),
            &[],
            vec![]
        )
        .status,
        403
    );
}

#[test]
fn roles_change_at_run_time() {
    let sim = demo();
    let put = |user: &str| {
        send(
            &sim,
            "PUT",
            "/data/projects/MAIN/subjects/MAIN_123",
            Some((user, user)),
            &[],
            vec![],
        )
        .status
    };
    let r = send(
        &sim,
        "PUT",
        "/sim/projects/MAIN/users/writer?role=collaborator",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200);
    assert_eq!(put("writer"), 403);
    send(
        &sim,
        "PUT",
        "/sim/projects/MAIN/users/writer?role=member",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(put("writer"), 201);
}

pub fn scan_zip(sim: &Sim, subject: &str, session: &str, scans: &str) -> Vec<u8> {
    let path = format!("/data/projects/PILOT/subjects/{subject}/experiments/{session}/scans/{scans}/files?format=zip");
    let r = get(sim, &path, "admin");
    assert_eq!(r.status, 200);
    r.body
}

pub fn zip_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn import(sim: &Sim, user: &str, query: &str, body: Vec<u8>) -> Reply {
    send(
        sim,
        "POST",
        &format!("/data/services/import?{query}"),
        Some((user, user)),
        &[("Content-Type", "application/zip")],
        body,
    )
}

#[test]
fn import_into_the_prearchive_then_archive() {
    let sim = demo();
    let zip = scan_zip(&sim, "SUB001", "SUB001_MR1", "2,3");
    let r = import(
        &sim,
        "writer",
        // Without prevent_anon the site-wide script would rewrite the headers (tests/it/anonymize.rs).
        "project=MAIN&subject=MAIN_001&session=MAIN_001_20240115&prevent_anon=true",
        zip,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/uri-list"));
    let uri = r.text();
    assert!(
        uri.starts_with("/data/prearchive/projects/MAIN/")
            && uri.ends_with("/MAIN_001_20240115\r\n"),
        "{uri}"
    );
    let rows = get(&sim, "/data/prearchive/projects/MAIN?format=json", "writer").rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "READY");
    assert_eq!(rows[0]["subject"], "MAIN_001");
    assert_eq!(rows[0]["scan_date"], "2024-01-15");
    assert_eq!(
        format!("/data{}\r\n", rows[0]["url"].as_str().unwrap()),
        uri
    );
    assert_eq!(
        get(&sim, "/data/prearchive/projects/MAIN?format=json", "reader").status,
        403
    );
    let src = uri.trim().trim_start_matches("/data");
    let a = send(
        &sim,
        "POST",
        &format!("/data/services/archive?src={src}"),
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.text(),
        "/archive/projects/MAIN/subjects/MAIN_001/experiments/MAIN_001_20240115\r\n"
    );
    assert!(
        get(&sim, "/data/prearchive/projects/MAIN?format=json", "writer")
            .rows()
            .is_empty()
    );
    let base = "/data/projects/MAIN/subjects/MAIN_001/experiments/MAIN_001_20240115";
    let exp = get(&sim, &format!("{base}?format=json"), "writer").json();
    assert_eq!(exp["items"][0]["data_fields"]["date"], "2024-01-15");
    let copied = get(
        &sim,
        &format!("{base}/scans/ALL/files?format=json"),
        "writer",
    )
    .rows();
    let source = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/scans/2,3/files?format=json",
        "admin",
    )
    .rows();
    let digests = |rows: &[serde_json::Value]| {
        let mut d: Vec<String> = rows
            .iter()
            .map(|r| r["digest"].as_str().unwrap().to_string())
            .collect();
        d.sort();
        d
    };
    assert_eq!(copied.len(), 20);
    assert_eq!(digests(&copied), digests(&source));
}

#[test]
fn import_straight_to_the_archive_with_labels_from_headers() {
    let sim = demo();
    // No labels given: the assignment syntax in Patient Comments routes it back onto SUB005_MR1,
    // whose files are already there (a merge that adds nothing).
    let zip = scan_zip(&sim, "SUB005", "SUB005_MR1", "ALL");
    let r = import(&sim, "admin", "dest=/archive", zip.clone());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        "/data/archive/projects/PILOT/subjects/SUB005/experiments/SUB005_MR1\r\n"
    );
    let files = get(
        &sim,
        "/data/projects/PILOT/experiments/SUB005_MR1/resources?format=json",
        "admin",
    );
    assert_eq!(files.status, 200);
    let n = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB005/experiments/SUB005_MR1/scans/ALL/files?format=json",
        "admin",
    )
    .rows()
    .len();
    assert_eq!(n, 40);
    // The project comes from the destination; subject and session from the headers.
    let r = import(&sim, "writer", "dest=/archive/projects/MAIN", zip);
    assert_eq!(
        r.text(),
        "/data/archive/projects/MAIN/subjects/SUB005/experiments/SUB005_MR1\r\n"
    );
    let main = get(
        &sim,
        "/data/projects/MAIN/experiments?format=json&columns=label,UID",
        "writer",
    )
    .rows();
    assert_eq!(main.len(), 2);
    // A collaborator cannot import.
    let denied = import(
        &sim,
        "reader",
        "project=PILOT&subject=X&session=Y",
        scan_zip(&sim, "SUB001", "SUB001_MR1", "1"),
    );
    assert_eq!(denied.status, 403);
}

#[test]
fn import_conflicts_as_xnat_reports_them() {
    let sim = demo();
    // SUB002_MR1 relabelled onto MAIN's existing session with another StudyInstanceUID.
    let zip = scan_zip(&sim, "SUB002", "SUB002_MR1", "2");
    let q = "project=MAIN&subject=MAIN_002&session=MAIN_002_20240203&dest=/archive";
    let r = import(&sim, "admin", q, zip.clone());
    assert_eq!(r.status, 409);
    assert!(r
        .text()
        .contains("<h3>Invalid modification of session UID via archive process.</h3>"));
    let pre = get(&sim, "/data/prearchive/projects/MAIN?format=json", "admin").rows();
    assert_eq!(pre[0]["status"], "CONFLICT");
    // Archiving it again from the prearchive gives the same answer; overwrite=delete overrides.
    let src = pre[0]["url"].as_str().unwrap().to_string();
    let again = send(
        &sim,
        "POST",
        &format!("/data/services/archive?src={src}"),
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(again.status, 409);
    let forced = send(
        &sim,
        "POST",
        &format!("/data/services/archive?src={src}&overwrite=delete"),
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(forced.status, 200, "{}", forced.text());
    // A different subject for an existing session label.
    let r = import(
        &sim,
        "admin",
        "project=MAIN&subject=OTHER&session=MAIN_002_20240203&dest=/archive",
        zip.clone(),
    );
    assert_eq!(r.status, 409);
    assert!(r.text().contains("Invalid modification of session subject"));
    // Unparsable entries.
    let dicom = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .unwrap()
        .by_index(0)
        .map(|mut f| {
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            v
        })
        .unwrap();
    let bad = zip_with(&[("a.dcm", &dicom), ("junk.txt", b"not dicom")]);
    let r = import(
        &sim,
        "admin",
        "project=MAIN&subject=S9&session=S9_MR1",
        bad.clone(),
    );
    assert_eq!(r.status, 400);
    assert!(r
        .text()
        .contains("<h3>unable to read DICOM object junk.txt</h3>"));
    let r = import(
        &sim,
        "admin",
        "project=MAIN&subject=S9&session=S9_MR1&Ignore-Unparsable=true",
        bad,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        import(&sim, "admin", "project=MAIN", b"not a zip".to_vec()).status,
        400
    );
    // Duplicate labels.
    let put = send(
        &sim,
        "PUT",
        "/data/projects/MAIN/subjects/NEWSUB",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(put.status, 201);
    let rename = send(
        &sim,
        "PUT",
        "/data/projects/MAIN/subjects/NEWSUB?label=MAIN_002",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(rename.status, 409);
    let e = send(&sim, "PUT", "/data/projects/MAIN/subjects/NEWSUB/experiments/MAIN_002_20240203?xsiType=xnat:mrSessionData", Some(("admin", "admin")), &[], vec![]);
    assert_eq!(e.status, 200, "an existing label answers with its ID");
}

#[test]
fn shares_and_deletes() {
    let sim = demo();
    let admin = Some(("admin", "admin"));
    let s = send(
        &sim,
        "PUT",
        "/data/projects/PILOT/subjects/SUB001/projects/MAIN?label=MAIN_S1&format=json",
        admin,
        &[],
        vec![],
    );
    assert_eq!(s.status, 200, "{}", s.text());
    assert_eq!(s.json()["items"][0]["data_fields"]["label"], "SUB001");
    let again = send(
        &sim,
        "PUT",
        "/data/projects/PILOT/subjects/SUB001/projects/MAIN?format=json",
        admin,
        &[],
        vec![],
    );
    assert_eq!(again.status, 409);
    assert!(again.text().contains("Already assigned to project:MAIN"));
    let taken = send(&sim, "PUT", "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/projects/MAIN?label=MAIN_002_20240203", admin, &[], vec![]);
    assert_eq!(taken.status, 409);
    assert!(taken
        .text()
        .contains("Label already in use:MAIN_002_20240203"));
    let shared = send(
        &sim,
        "PUT",
        "/data/projects/PILOT/experiments/SUB001_MR1/projects/MAIN?label=MAIN_E1&format=json",
        admin,
        &[],
        vec![],
    );
    assert_eq!(shared.status, 200);
    let rows = get(
        &sim,
        "/data/projects/MAIN/experiments?format=json",
        "writer",
    )
    .rows();
    let row = rows.iter().find(|r| r["label"] == "MAIN_E1").unwrap();
    assert_eq!(row["project"], "MAIN");
    let doc = get(
        &sim,
        "/data/projects/MAIN/subjects/MAIN_S1/experiments/MAIN_E1?format=json",
        "writer",
    )
    .json();
    assert_eq!(doc["items"][0]["data_fields"]["project"], "PILOT");
    let n = get(
        &sim,
        "/data/projects/MAIN/subjects/MAIN_S1/experiments/MAIN_E1/scans/ALL/files?format=json",
        "writer",
    )
    .rows()
    .len();
    assert_eq!(n, 40);
    // writer cannot share what it cannot read.
    let hidden = send(
        &sim,
        "PUT",
        "/data/projects/PILOT/experiments/SUB005_MR1/projects/MAIN",
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert_eq!(hidden.status, 403);
    // Deleting in the sharing project only unshares.
    let un = send(
        &sim,
        "DELETE",
        "/data/projects/MAIN/experiments/MAIN_E1",
        admin,
        &[],
        vec![],
    );
    assert_eq!(un.status, 200);
    assert_eq!(
        get(&sim, "/data/projects/MAIN/experiments/MAIN_E1", "admin").status,
        404
    );
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/experiments/SUB001_MR1?format=json",
            "admin"
        )
        .status,
        200
    );
    // Deleting in the owning project removes it everywhere, files too.
    let dir = sim.root.join("archive/PILOT/arc001/SUB001_MR1");
    assert!(dir.exists());
    let del = send(
        &sim,
        "DELETE",
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1?removeFiles=true",
        admin,
        &[],
        vec![],
    );
    assert_eq!(del.status, 200);
    assert!(!dir.exists());
    assert_eq!(
        get(&sim, "/data/projects/PILOT/experiments/SUB001_MR1", "admin").status,
        404
    );
    assert_eq!(
        send(
            &sim,
            "DELETE",
            "/data/projects/PILOT/experiments/SUB001_MR1",
            admin,
            &[],
            vec![]
        )
        .status,
        404
    );
    // Subjects delete with their sessions.
    let del = send(
        &sim,
        "DELETE",
        "/data/projects/PILOT/subjects/SUB006?removeFiles=true",
        admin,
        &[],
        vec![],
    );
    assert_eq!(del.status, 200);
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/experiments?format=json",
            "admin"
        )
        .rows()
        .len(),
        5
    );
}

#[test]
fn uploads_to_resources() {
    let sim = demo();
    let base = "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_20240203";
    let w = Some(("writer", "writer"));
    let put = send(
        &sim,
        "PUT",
        &format!("{base}/resources/BIDS/files/sub-01/anat.json?inbody=true"),
        w,
        &[("Content-Type", "application/octet-stream")],
        b"{}".to_vec(),
    );
    assert_eq!(put.status, 200);
    let dup = send(
        &sim,
        "PUT",
        &format!("{base}/resources/BIDS/files/sub-01/anat.json"),
        w,
        &[("Content-Type", "application/octet-stream")],
        b"{\"x\":1}".to_vec(),
    );
    assert!(dup.text().contains("duplicates"));
    let files = get(
        &sim,
        &format!("{base}/resources/BIDS/files?format=json"),
        "writer",
    )
    .rows();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["digest"], md5_hex(b"{}"));
    assert!(files[0]["URI"]
        .as_str()
        .unwrap()
        .ends_with("/files/sub-01/anat.json"));
    let ow = send(
        &sim,
        "PUT",
        &format!("{base}/resources/BIDS/files/sub-01/anat.json?overwrite=true"),
        w,
        &[("Content-Type", "application/octet-stream")],
        b"{\"x\":1}".to_vec(),
    );
    assert_eq!(ow.status, 200);
    assert_eq!(
        get(
            &sim,
            &format!("{base}/resources/BIDS/files/sub-01/anat.json"),
            "writer"
        )
        .body,
        b"{\"x\":1}"
    );
    assert_eq!(
        send(
            &sim,
            "PUT",
            &format!("{base}/resources/BIDS"),
            w,
            &[],
            vec![]
        )
        .status,
        409
    );
    assert_eq!(
        send(
            &sim,
            "DELETE",
            &format!("{base}/resources/BIDS/files/sub-01/anat.json"),
            w,
            &[],
            vec![]
        )
        .status,
        403
    );
    assert_eq!(
        send(
            &sim,
            "DELETE",
            &format!("{base}/resources/BIDS/files/sub-01/anat.json"),
            Some(("admin", "admin")),
            &[],
            vec![]
        )
        .status,
        200
    );
    let scan = send(
        &sim,
        "PUT",
        &format!("{base}/scans/7?xsiType=xnat:mrScanData&type=T2w"),
        w,
        &[],
        vec![],
    );
    assert_eq!(scan.status, 200);
    let rows = get(&sim, &format!("{base}/scans?format=json"), "writer").rows();
    assert_eq!(rows.last().unwrap()["type"], "T2w");
}

#[test]
fn a_modelled_link_carries_whole_answers_and_bad_rates_are_refused() {
    let sim = Sim::start(&["--seed", "demo", "--bandwidth", "4M", "--latency-ms", "5"]);
    let zip = scan_zip(&sim, "SUB001", "SUB001_MR1", "ALL");
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert!(archive.len() >= 10, "{} entries", archive.len());
    let body = zip_with(&[("a.txt", &[7u8; 200_000])]);
    let r = send(
        &sim,
        "PUT",
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/resources/LINK/files/a.zip?extract=false",
        Some(("admin", "admin")),
        &[],
        body.clone(),
    );
    assert!(r.status < 300, "{}", r.status);
    let back = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/resources/LINK/files/a.zip",
        "admin",
    );
    assert_eq!(back.body, body, "bytes up and down the link arrive whole");

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s").display().to_string();
    let o = crate::support::ferry(&["sim", "--root", &root, "--bandwidth", "fast"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        crate::support::stderr(&o).contains("`--bandwidth`"),
        "{}",
        crate::support::stderr(&o)
    );
}

#[test]
fn the_emulator_says_how_many_requests_it_answered_when_stopped() {
    use std::io::BufRead;
    /// Kills the emulator if the test fails before it stops on its own.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Guard(
        std::process::Command::new(crate::support::ferry_bin())
            .args(["sim", "--port", "0", "--seed", "demo", "--root"])
            .arg(dir.path().join("s"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("listening on ").unwrap().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for path in ["/data/projects", "/data/version", "/data/JSESSION"] {
        agent.get(format!("{url}{path}")).call().unwrap();
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let last = lines
        .map_while(Result::ok)
        .find(|l| l.starts_with("stopped"))
        .unwrap();
    assert_eq!(last, "stopped after answering 3 requests");
    assert!(child.0.wait().unwrap().success());
}
