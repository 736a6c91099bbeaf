//! Path safety of `ferry sim`: no request creates, changes or deletes a file outside the state folder,
//! or outside the project the caller may write. Every path segment of every route family is replaced in
//! turn by percent-encoded (and raw) `../` forms; labels that arrive in query strings, zip entries,
//! multipart file names and DICOM values are tried too.

use crate::sim::{demo, get, import, scan_zip, send, zip_with};
use crate::support::Sim;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Every file and folder under `dir`, with an MD5 of each file's bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), "dir".to_string());
                stack.push(p);
            } else {
                out.insert(p.clone(), crate::sim::md5_hex(&std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Paths added, removed or changed between two snapshots.
fn changed(a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = a
        .iter()
        .filter(|(p, h)| b.get(*p) != Some(h))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(b.keys().filter(|p| !a.contains_key(*p)).cloned());
    out
}

/// Sends a request exactly as written (no client-side path normalisation); returns the status.
fn raw_status(sim: &Sim, method: &str, target: &str, user: &str, body: &[u8]) -> u16 {
    let addr = sim.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let auth = crate::sim::basic(user, user);
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status for {method} {target}: {text}"))
}

/// Forms of `..` (and of a walk up the tree) as a client could send them in one path segment.
const WALKS: &[&str] = &[
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "..%2F",
    "..%2f..%2f..%2f",
    "%2e%2e%2f%2e%2e%2f",
    "..%2F..%2FPILOT",
    "x%2F..%2F..%2F..",
    "..%5C..%5C",
    "%2e%2e%5c",
    "a%00b",
];

const SESSION: &str = "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_20240203";

/// One route family per line: method and path (every segment is tried).
fn families() -> Vec<(&'static str, String)> {
    let s = SESSION;
    let by_id = "/data/experiments/XNAT_E00007";
    vec![
        ("PUT", "/data/projects/NEWP".into()),
        ("DELETE", "/data/projects/PILOT".into()),
        ("PUT", "/data/projects/MAIN/subjects/NEWS".into()),
        ("DELETE", "/data/projects/PILOT/subjects/SUB001".into()),
        (
            "PUT",
            "/data/projects/MAIN/subjects/MAIN_002/projects/PILOT".into(),
        ),
        ("PUT", "/data/projects/MAIN/experiments/NEWE".into()),
        ("PUT", format!("{s}_X")),
        (
            "DELETE",
            "/data/projects/PILOT/experiments/SUB001_MR1".into(),
        ),
        ("PUT", format!("{s}/projects/PILOT")),
        ("PUT", format!("{s}/projects/PILOT?primary=true")),
        (
            "PUT",
            "/data/projects/MAIN/subjects/MAIN_002/projects/PILOT?primary=true".into(),
        ),
        ("PUT", format!("{s}/scans/9")),
        ("DELETE", format!("{s}/scans/1")),
        ("PUT", format!("{s}/scans/1/resources/NEWR")),
        ("DELETE", format!("{s}/scans/1/resources/DICOM")),
        ("PUT", format!("{s}/scans/1/resources/DICOM/files/x.dcm")),
        ("DELETE", format!("{s}/scans/1/resources/DICOM/files/x.dcm")),
        ("PUT", format!("{s}/resources/NOTES/files/a/b.txt")),
        ("DELETE", format!("{s}/resources/NOTES/files/a/b.txt")),
        ("PUT", format!("{by_id}/resources/NOTES/files/c.txt")),
        (
            "PUT",
            format!("{by_id}/scans/1/resources/DICOM/files/c.dcm"),
        ),
        ("GET", format!("{s}/scans/1/resources/DICOM/files/x.dcm")),
        ("PUT", "/data/projects/MAIN/prearchive_code/4".into()),
        (
            "DELETE",
            "/data/prearchive/projects/MAIN/20240101_000000000/S".into(),
        ),
        ("POST", "/data/services/archive".into()),
        ("POST", "/data/services/import".into()),
        ("PUT", "/sim/projects/MAIN/users/reader".into()),
        ("PUT", "/xapi/anonymize/projects/MAIN".into()),
    ]
}

#[test]
fn walking_up_in_any_path_segment_changes_nothing() {
    let sim = demo();
    let outer = sim.root.parent().unwrap().to_path_buf();
    let before = snapshot(&outer);
    let mut tried = 0;
    for (method, path) in families() {
        let (path, query) = path.split_once('?').unwrap_or((&path, ""));
        let segs: Vec<&str> = path.split('/').skip(1).collect();
        for i in 0..segs.len() {
            for walk in WALKS {
                let mut t = segs.clone();
                t[i] = walk;
                let mut target = format!("/{}", t.join("/"));
                if !query.is_empty() {
                    target = format!("{target}?{query}");
                }
                for user in ["admin", "writer"] {
                    let status = raw_status(&sim, method, &target, user, b"payload");
                    assert!(
                        (400..500).contains(&status),
                        "{method} {target} as {user} answered {status}"
                    );
                    tried += 1;
                }
            }
        }
    }
    assert!(tried > 1000, "only {tried} requests");
    let after = snapshot(&outer);
    assert_eq!(changed(&before, &after), Vec::<PathBuf>::new());
    // Still serving, and the demo world intact.
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/experiments?format=json",
            "admin"
        )
        .rows()
        .len(),
        8
    );
}

/// Asserts every path that changed lies under one of `allowed` (relative to the state folder).
fn only_changed_under(sim: &Sim, before: &BTreeMap<PathBuf, String>, allowed: &[&str]) {
    let outer = sim.root.parent().unwrap();
    for p in changed(before, &snapshot(outer)) {
        // A new parent folder of an allowed place is fine too (`prearchive` before `prearchive/MAIN`).
        let ok = allowed.iter().any(|a| {
            let a = sim.root.join(a);
            p.starts_with(&a) || (a.starts_with(&p) && p.is_dir())
        });
        assert!(ok, "{} changed", p.display());
    }
}

#[test]
fn labels_from_queries_uploads_and_dicom_values_stay_inside() {
    let sim = demo();
    let outer = sim.root.parent().unwrap().to_path_buf();
    let before = snapshot(&outer);
    let w = Some(("writer", "writer"));
    // Labels that are no identifiers: refused where they would name a folder.
    for label in ["a.b", "x%20y", "%252e%252e%252f", "%2e%2e%2fPILOT"] {
        for path in [
            format!("{SESSION}/resources/{label}"),
            format!("{SESSION}/resources/{label}/files/f.txt"),
            format!("{SESSION}/scans/{label}"),
            format!("/data/projects/MAIN/subjects/{label}"),
            format!("/data/projects/MAIN/experiments/{label}?subject_ID=MAIN_002"),
        ] {
            let status = raw_status(&sim, "PUT", &path, "writer", b"x");
            assert!((400..500).contains(&status), "PUT {path}: {status}");
        }
    }
    for q in [
        "primary=true&label=..%2F..%2FPILOT",
        "label=..%2F..%2FPILOT",
        "label=..",
        "label=a%2Fb",
        "label=..%5C..",
    ] {
        let r = send(
            &sim,
            "PUT",
            &format!("{SESSION}/projects/PILOT?{q}"),
            Some(("admin", "admin")),
            &[],
            vec![],
        );
        assert_eq!(r.status, 400, "share with {q}: {}", r.text());
        let r = send(
            &sim,
            "PUT",
            &format!("/data/projects/MAIN/subjects/MAIN_002?{q}"),
            w,
            &[],
            vec![],
        );
        assert!((400..500).contains(&r.status), "relabel with {q}");
    }
    // A zip whose entries walk up, extracted into a resource; a multipart file name that walks up.
    let evil = zip_with(&[("../../../evil.txt", b"x"), ("ok/../../evil2.txt", b"y")]);
    let r = send(
        &sim,
        "PUT",
        &format!("{SESSION}/resources/NOTES/files/up.zip?extract=true"),
        w,
        &[("Content-Type", "application/zip")],
        evil,
    );
    assert!(r.status < 500, "{}", r.text());
    let body = b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../../../evil3.txt\"\r\n\r\nz\r\n--B--\r\n";
    let r = send(
        &sim,
        "POST",
        &format!("{SESSION}/resources/NOTES/files"),
        w,
        &[("Content-Type", "multipart/form-data; boundary=B")],
        body.to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Import and archive with labels that walk up, in the query and in the DICOM header.
    let zip = scan_zip(&sim, "SUB001", "SUB001_MR1", "2");
    let r = import(
        &sim,
        "writer",
        "project=MAIN&subject=..%2F..%2F..&session=..%2F..%2Fx&Direct-Archive=true",
        zip.clone(),
    );
    assert!((400..500).contains(&r.status), "{}", r.text());
    let r = import(
        &sim,
        "writer",
        "dest=/archive/projects/MAIN/subjects/../../../x/experiments/..",
        zip.clone(),
    );
    assert!((400..500).contains(&r.status), "{}", r.text());
    let walking = with_series_number(&zip, "../../../../walked");
    let r = import(
        &sim,
        "writer",
        "project=MAIN&subject=MAIN_009&session=MAIN_009_X&Direct-Archive=true",
        walking,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let scans = get(
        &sim,
        "/data/projects/MAIN/subjects/MAIN_009/experiments/MAIN_009_X/scans?format=json",
        "writer",
    )
    .rows();
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0]["ID"], "walked");
    only_changed_under(&sim, &before, &["archive/MAIN", "prearchive/MAIN", "meta"]);
    assert!(!outer.join("evil.txt").exists() && !sim.root.join("evil3.txt").exists());
}

/// A copy of a zip of DICOM files with every object's SeriesNumber (0020,0011) replaced.
fn with_series_number(zip: &[u8], value: &str) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut files = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        let mut obj = dicom_object::OpenFileOptions::new()
            .read_preamble(dicom_object::file::ReadPreamble::Always)
            .from_reader(&bytes[..])
            .unwrap();
        obj.put(DataElement::new(
            dicom_dictionary_std::tags::SERIES_NUMBER,
            VR::IS,
            PrimitiveValue::from(value),
        ));
        let mut out = Vec::new();
        obj.write_all(&mut out).unwrap();
        files.push((f.name().unwrap().to_string(), out));
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    zip_with(&refs)
}
