//! `ferry sim` as a program: `--help` and the start banner name the accounts, `--log FILE` records each
//! request without secrets, `--seed` refuses a folder that is not empty, and a lock keeps a second
//! emulator off a state folder in use.

use crate::sim::{get, send};
use crate::support::{ferry, ferry_bin, stderr, stdout, Sim};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_and_banner_name_the_accounts() {
    let help = stdout(&ferry(&["sim", "--help"]));
    for account in ["admin/admin", "reader/reader", "writer/writer", "--user"] {
        assert!(help.contains(account), "{account} missing from:\n{help}");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(ferry_bin())
        .args([
            "sim",
            "--port",
            "0",
            "--seed",
            "demo",
            "--user",
            "carol:Pw-1x",
        ])
        .arg("--root")
        .arg(dir.path().join("s"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(6)
        .map(|l| l.unwrap())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let banner = lines.join("\n");
    assert!(
        banner.starts_with("listening on http://127.0.0.1:"),
        "{banner}"
    );
    for line in [
        "admin: site administrator; owner of MAIN, PILOT",
        "reader: collaborator in PILOT",
        "writer: member of MAIN",
        "carol: no project roles",
    ] {
        assert!(banner.contains(line), "{line} missing from:\n{banner}");
    }
    assert!(
        !banner.contains("Pw-1x"),
        "a password was printed:\n{banner}"
    );
}

#[test]
fn seeding_a_folder_that_is_not_empty_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("notes.txt"), b"mine").unwrap();
    let r = root.to_str().unwrap();
    let out = ferry(&["sim", "--root", r, "--port", "0", "--seed", "demo"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not empty") && stderr(&out).contains("without --seed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        1,
        "the folder was touched"
    );
    // An empty folder may be seeded.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let sim = Sim::start_at(&empty, &["--seed", "demo"]);
    assert_eq!(
        get(&sim, "/data/projects?format=json", "admin")
            .rows()
            .len(),
        2
    );
}

#[test]
fn a_second_emulator_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let first = Sim::start_at(&root, &["--seed", "demo"]);
    let r = root.to_str().unwrap();
    let out = ferry(&["sim", "--root", r, "--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another `ferry sim` is already serving"),
        "{}",
        stderr(&out)
    );
    // The first one is unharmed; once it stops, the folder can be served again.
    assert_eq!(get(&first, "/data/auth", "admin").status, 200);
    drop(first);
    let again = Sim::start_at(&root, &[]);
    assert_eq!(
        get(&again, "/data/projects?format=json", "admin")
            .rows()
            .len(),
        2
    );
}

#[test]
fn the_request_log_has_method_path_status_and_time_but_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.log");
    let sim = Sim::start(&["--seed", "demo", "--log", log.to_str().unwrap()]);
    assert_eq!(
        get(&sim, "/data/projects/MAIN?format=json", "writer").status,
        200
    );
    assert_eq!(get(&sim, "/data/projects/PILOT", "writer").status, 403);
    let login = send(
        &sim,
        "POST",
        "/data/services/auth?username=admin&password=admin",
        None,
        &[],
        vec![],
    );
    assert_eq!(login.status, 200);
    let token = get(&sim, "/data/services/tokens/issue", "admin").json();
    let secret = token["secret"].as_str().unwrap().to_string();
    let alias = token["alias"].as_str().unwrap().to_string();
    let check = get(
        &sim,
        &format!("/data/services/tokens/validate/{alias}/{secret}"),
        "admin",
    );
    assert_eq!(check.status, 200);
    drop(sim);
    let text = std::fs::read_to_string(&log).unwrap();
    let has = |method: &str, path: &str, status: &str| {
        text.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() == 6 && f[2] == method && f[3] == path && f[4] == status && f[5].ends_with("ms")
        })
    };
    assert!(has("GET", "/data/projects/MAIN", "200"), "{text}");
    assert!(has("GET", "/data/projects/PILOT", "403"), "{text}");
    assert!(has("POST", "/data/services/auth", "200"), "{text}");
    assert!(
        has("GET", "/data/services/tokens/validate/***/***", "200"),
        "{text}"
    );
    for secret in ["password", "admin&", &secret, "format=json"] {
        assert!(!text.contains(secret), "`{secret}` in the log:\n{text}");
    }
}

#[test]
fn an_unwritable_log_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("no/such/dir/log");
    let root = dir.path().join("s");
    let out = ferry(&[
        "sim",
        "--root",
        root.to_str().unwrap(),
        "--port",
        "0",
        "--log",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot open the request log"),
        "{}",
        stderr(&out)
    );
}
