//! Clients nobody here wrote, against `ferry sim`: xnatctl 0.6.0 (its health check and `project
//! transfer`) and copyxnat 0.9.6 (a project copy between two servers, in its own virtual environment
//! because it pins pydicom 1.4.2). Each runs as shipped on PyPI; the test then reads the servers back
//! and compares what arrived with the source. Environments live under `target/` and are made once.
//!
//! Small worlds keep this fast: xnatctl polls the prearchive every 5 s, so each session costs it a few
//! seconds whatever the server does.

use crate::conformance::venv;
use crate::sim::get;
use crate::support::Sim;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What a session looks like from outside: its fields, its scans, and the files of every resource.
#[derive(Debug, PartialEq)]
struct SessionFacts {
    fields: Vec<String>,
    scans: Vec<Vec<String>>,
    /// (scan ID or `session`, resource label, file path) → MD5, or "" when only presence is compared.
    files: BTreeMap<(String, String, String), String>,
}

fn rows(sim: &Sim, path: &str) -> Vec<Value> {
    let r = get(sim, path, "admin");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.rows()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// Sessions of a project by label; `dicom_digests` false keeps DICOM files by name only (a server's
/// import may rewrite headers).
fn project_facts(sim: &Sim, project: &str, dicom_digests: bool) -> BTreeMap<String, SessionFacts> {
    let mut out = BTreeMap::new();
    let cols = "ID,label,date,UID,xsiType";
    for e in rows(
        sim,
        &format!("/data/projects/{project}/experiments?format=json&columns={cols}"),
    ) {
        let id = s(&e, "ID");
        let scans = rows(
            sim,
            &format!("/data/experiments/{id}/scans?format=json&columns=ID,type,UID,series_description,frames,xsiType"),
        )
        .iter()
        .map(|r| {
            ["ID", "type", "UID", "series_description", "frames", "xsiType"]
                .iter()
                .map(|k| s(r, k))
                .collect()
        })
        .collect();
        let mut files = BTreeMap::new();
        for f in rows(
            sim,
            &format!("/data/experiments/{id}/scans/ALL/files?format=json"),
        ) {
            let uri = s(&f, "URI");
            let scan = uri
                .split("/scans/")
                .nth(1)
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("");
            let path = uri.split("/files/").nth(1).unwrap_or("").to_string();
            let digest = if dicom_digests {
                s(&f, "digest")
            } else {
                String::new()
            };
            files.insert((scan.to_string(), s(&f, "collection"), path), digest);
        }
        for r in rows(
            sim,
            &format!("/data/experiments/{id}/resources?format=json"),
        ) {
            let label = s(&r, "label");
            for f in rows(
                sim,
                &format!("/data/experiments/{id}/resources/{label}/files?format=json"),
            ) {
                let path = s(&f, "URI")
                    .split("/files/")
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                files.insert(("session".into(), label.clone(), path), s(&f, "digest"));
            }
        }
        let fields = vec![s(&e, "date"), s(&e, "UID"), s(&e, "xsiType")];
        out.insert(
            s(&e, "label"),
            SessionFacts {
                fields,
                scans,
                files,
            },
        );
    }
    out
}

fn show(o: &Output) -> String {
    format!(
        "{}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs the xnatctl command line with its configuration under `home`.
fn xnatctl(bin: &Path, home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XNAT_USER", "admin")
        .env("XNAT_PASS", "admin")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xnatctl");
    if let Some(mut i) = child.stdin.take() {
        std::io::Write::write_all(&mut i, stdin.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("xnatctl output")
}

#[test]
fn xnatctl_checks_health_and_transfers_a_project() {
    let py = venv(
        "conformance-xnatctl",
        &["xnatctl==0.6.0"],
        "from importlib.metadata import version; assert version('xnatctl') == '0.6.0'",
    );
    let bin = py.with_file_name("xnatctl");
    let sim = Sim::start(&["--seed", "demo:subjects=2,files=2"]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let init = [
        "config",
        "init",
        "--url",
        &sim.url,
        "--profile",
        "src",
        "--no-login",
    ];
    let o = xnatctl(&bin, h, &init, "");
    assert!(o.status.success(), "config init: {}", show(&o));
    let o = xnatctl(
        &bin,
        h,
        &["config", "add-profile", "dst", "--url", &sim.url],
        "",
    );
    assert!(o.status.success(), "add-profile: {}", show(&o));

    let ping = xnatctl(&bin, h, &["health", "ping", "-p", "src", "-o", "json"], "");
    assert!(ping.status.success(), "health ping: {}", show(&ping));
    let report: Value = serde_json::from_slice(&ping.stdout)
        .unwrap_or_else(|e| panic!("health ping JSON ({e}): {}", show(&ping)));
    assert_eq!(report["status"], "ok");
    assert_eq!(report["version"], "1.8.10");

    let before = project_facts(&sim, "PILOT", true);
    assert_eq!(before.len(), 2);
    let transfer = [
        "project",
        "transfer",
        "-P",
        "PILOT",
        "--dest-profile",
        "dst",
        "--dest-project",
        "MAIN",
        "-p",
        "src",
        "-y",
        "--dest-pass-stdin",
    ];
    let o = xnatctl(&bin, h, &transfer, "admin\n");
    let text = show(&o);
    assert!(o.status.success(), "project transfer: {text}");
    assert!(text.contains("Experiments Synced  2"), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");

    // Every session arrived with its scans, their files and the session resources; the source is as it was.
    let copied = project_facts(&sim, "MAIN", false);
    for (label, src) in project_facts(&sim, "PILOT", false) {
        let dst = copied
            .get(&label)
            .unwrap_or_else(|| panic!("{label} missing in MAIN: {copied:#?}"));
        assert_eq!(dst, &src, "{label}");
    }
    assert_eq!(project_facts(&sim, "PILOT", true), before);
}

#[test]
fn copyxnat_copies_a_project_between_servers() {
    let py = venv(
        "conformance-copyxnat",
        &["copyxnat==0.9.6", "nibabel", "pandas"],
        "from importlib.metadata import version; import nibabel, pandas; \
         assert version('copyxnat') == '0.9.6' and version('pydicom') == '1.4.2'",
    );
    let src = Sim::start(&["--seed", "demo:subjects=2,files=2"]);
    let dst = Sim::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/copyxnat_ops.py");
    let o = Command::new(py)
        .arg(script)
        .args([&src.url, &dst.url, "PILOT"])
        .arg(work.path())
        .env("HOME", work.path())
        .output()
        .expect("run copyxnat");
    let text = show(&o);
    assert!(o.status.success(), "copyxnat: {text}");
    assert!(text.lines().any(|l| l == "ok copy"), "{text}");

    // The project, its subjects and sessions, every scan's type, UID, description and frames, the
    // session date and UID, and every file by digest.
    let proj = get(&dst, "/data/projects/PILOT?format=json", "admin").json();
    assert_eq!(proj["items"][0]["data_fields"]["name"], "Pilot study");
    let want = project_facts(&src, "PILOT", true);
    let got = project_facts(&dst, "PILOT", true);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (label, w) in &want {
        assert_eq!(&got[label], w, "{label}");
        assert!(!w.files.is_empty());
    }
}
