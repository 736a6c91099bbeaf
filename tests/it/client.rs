//! The XNAT client against the emulator over loopback: credentials, inventory, transfers, errors with
//! their messages, retries, and no secret in any error.

use crate::support::Sim;
use ferry::manifest::model::{Destination, Server};
use ferry::xnat::{
    Client, ClientOptions, ImportTarget, InventoryOptions, NoProgress, Overwrite, XnatError,
    ZipBody,
};
use std::time::Duration;

fn server(url: &str, user_env: &str, pass_env: &str) -> Server {
    Server {
        url: url.to_string(),
        user_env: Some(user_env.into()),
        password_env: Some(pass_env.into()),
        token_env: None,
        allow_http: false,
    }
}

/// Connects with credentials through uniquely named variables (tests run in parallel).
fn connect_as(sim: &Sim, user: &str, pass: &str, tag: &str) -> Result<Client, XnatError> {
    let (u, p) = (format!("FERRY_CT_U_{tag}"), format!("FERRY_CT_P_{tag}"));
    std::env::set_var(&u, user);
    std::env::set_var(&p, pass);
    let opts = ClientOptions {
        backoff_base: Duration::from_millis(5),
        ..ClientOptions::default()
    };
    Client::connect("local", &server(&sim.url, &u, &p), opts)
}

#[test]
fn inventory_of_the_demo_world() {
    let sim = Sim::start(&["--seed", "demo"]);
    let c = connect_as(&sim, "admin", "admin", "inv").unwrap();
    let inv = c
        .inventory("PILOT", &InventoryOptions { headers: true }, &NoProgress)
        .unwrap();
    assert_eq!(inv.subjects.len(), 6);
    assert_eq!(inv.access.role.as_deref(), Some("owner"));
    let s1 = &inv.subjects["SUB001"].sessions["SUB001_MR1"];
    assert_eq!(s1.date.as_deref(), Some("2024-01-15"));
    assert_eq!(s1.xsi_type, "xnat:mrSessionData");
    assert_eq!(s1.scans.len(), 4);
    assert_eq!(s1.scans["2"].scan_type, "T1_MPRAGE");
    assert_eq!(s1.scans["2"].resources["DICOM"].files.len(), 10);
    assert!(s1.uid.as_deref().unwrap().starts_with("1.2.826"));
    assert!(s1.resources.contains_key("NOTES"));
    assert_eq!(s1.header.get("SeriesNumber").map(String::as_str), Some("1"));
    let s3 = &inv.subjects["SUB003"].sessions["SUB003_MR1"];
    assert!(s3.header.contains_key("PatientBirthDate"));
    assert_eq!(inv.subjects["SUB004"].sessions.len(), 2);
    // Stable: the same server state gives the same fingerprint.
    let again = c
        .inventory("PILOT", &InventoryOptions { headers: true }, &NoProgress)
        .unwrap();
    assert_eq!(inv.fingerprint(), again.fingerprint());
    c.logout();
}

#[test]
fn errors_name_the_server_the_object_and_what_to_do() {
    let sim = Sim::start(&["--seed", "demo"]);
    let e = connect_as(&sim, "admin", "wrong-pass-xyz", "auth").unwrap_err();
    assert!(matches!(e, XnatError::Auth { .. }), "{e}");
    assert!(e.to_string().starts_with("local: login refused"), "{e}");
    assert!(!format!("{e} {e:?}").contains("wrong-pass-xyz"));

    let reader = connect_as(&sim, "reader", "reader", "403").unwrap();
    let e = reader
        .inventory("MAIN", &InventoryOptions::default(), &NoProgress)
        .unwrap_err();
    assert_eq!(e.to_string(), "local: 403 Forbidden reading project MAIN");
    assert!(
        e.hint().unwrap().contains("Member or Owner"),
        "{:?}",
        e.hint()
    );

    let admin = connect_as(&sim, "admin", "admin", "404").unwrap();
    let e = admin
        .inventory("NOPE", &InventoryOptions::default(), &NoProgress)
        .unwrap_err();
    assert_eq!(e.to_string(), "local: 404 Not Found reading project NOPE");
    assert_eq!(admin.session("MAIN", "MAIN_002", "NOPE").unwrap(), None);
}

#[test]
fn netrc_credentials_work_and_missing_ones_are_explained() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = tempfile::tempdir().unwrap();
    let netrc = dir.path().join("netrc");
    std::fs::write(&netrc, "machine 127.0.0.1 login admin password admin\n").unwrap();
    let out = std::process::Command::new(crate::support::ferry_bin())
        .args(["plan", "m.yaml", "--out", "p.yaml"])
        .current_dir(dir.path())
        .env("NETRC", &netrc)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    // No manifest yet: exit 2 naming it.
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(
        dir.path().join("m.yaml"),
        format!("version: 1\nservers:\n  local: {{ url: \"{}\" }}\ntransfers:\n  - {{ name: t, mode: copy, from: {{ server: local, project: PILOT }}, to: {{ server: local, project: MAIN }}, policy: {{ conflict: skip }} }}\n", sim.url),
    )
    .unwrap();
    let ok = std::process::Command::new(crate::support::ferry_bin())
        .args(["plan", "m.yaml", "--out", "p.yaml"])
        .current_dir(dir.path())
        .env("NETRC", &netrc)
        .output()
        .unwrap();
    assert!(
        matches!(ok.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let none = std::process::Command::new(crate::support::ferry_bin())
        .args(["plan", "m.yaml", "--out", "p.yaml"])
        .current_dir(dir.path())
        .env("NETRC", dir.path().join("missing"))
        .output()
        .unwrap();
    // Missing credentials are bad input, not a runtime failure.
    assert_eq!(none.status.code(), Some(2));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.contains("local: no credentials"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn download_import_archive_share_and_delete() {
    let sim = Sim::start(&["--seed", "demo"]);
    let c = connect_as(&sim, "admin", "admin", "ops").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("s.zip");
    let mut seen = 0u64;
    let d = c
        .download_session(
            "PILOT",
            "SUB002",
            "SUB002_MR1",
            &["2".into()],
            ferry::xnat::Landing::disk(&zip),
            &mut |n| seen += n,
        )
        .unwrap();
    assert_eq!(d.bytes, std::fs::metadata(&zip).unwrap().len());
    assert_eq!(seen, d.bytes);
    assert_eq!(d.memory, None, "a limit of 0 bytes writes the file");
    // Within a limit the zip stays in memory and no file is written; past it, it goes to the file.
    let on_disk = std::fs::read(&zip).unwrap();
    let scan2 = || vec!["2".to_string()];
    let held = dir.path().join("held.zip");
    let m = c
        .download_session(
            "PILOT",
            "SUB002",
            "SUB002_MR1",
            &scan2(),
            ferry::xnat::Landing::memory(&held, d.bytes),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(m.memory.as_deref(), Some(on_disk.as_slice()));
    assert!(!held.exists() && !dir.path().join("held.zip.part").exists());
    let spilled = c
        .download_session(
            "PILOT",
            "SUB002",
            "SUB002_MR1",
            &scan2(),
            ferry::xnat::Landing::memory(&held, d.bytes - 1),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(spilled.memory, None);
    assert_eq!(
        std::fs::read(&held).unwrap(),
        on_disk,
        "spilled whole to the file"
    );
    let archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let files = archive
        .file_names()
        .flatten()
        .filter(|n| !n.ends_with('/'))
        .count();
    assert_eq!(files, 10, "only scan 2 was asked for");

    c.create_subject("MAIN", "NEW_S").unwrap();
    c.create_subject("MAIN", "NEW_S").unwrap(); // idempotent
    let out = c
        .import_zip(
            ZipBody::File(&zip),
            &ImportTarget {
                project: "MAIN".into(),
                subject: "NEW_S".into(),
                session: "NEW_S_1".into(),
                destination: Destination::Prearchive,
                overwrite: Overwrite::None,
                prevent_anon: true,
            },
            &mut |_| {},
        )
        .unwrap();
    assert!(
        out.uri.starts_with("/prearchive/projects/MAIN/"),
        "{}",
        out.uri
    );
    assert_eq!(c.prearchive_entry(&out.uri).unwrap().status, "READY");
    c.archive(&out.uri, "MAIN", "NEW_S", "NEW_S_1", Overwrite::None)
        .unwrap();
    let s = c.session("MAIN", "NEW_S", "NEW_S_1").unwrap().unwrap();
    assert_eq!(s.scans["2"].resources["DICOM"].files.len(), 10);

    let direct = c
        .import_zip(
            ZipBody::Memory(vec![&on_disk[..20], &on_disk[20..]]),
            &ImportTarget {
                project: "MAIN".into(),
                subject: "NEW_S".into(),
                session: "NEW_S_2".into(),
                destination: Destination::Archive,
                overwrite: Overwrite::None,
                prevent_anon: true,
            },
            &mut |_| {},
        )
        .unwrap();
    assert!(direct.uri.contains("/experiments/"), "{}", direct.uri);

    c.share_subject("PILOT", "SUB005", "MAIN", "SHARED_005")
        .unwrap();
    c.share_session("PILOT", "SUB005", "SUB005_MR1", "MAIN", "SHARED_005_MR1")
        .unwrap();
    let shared = c.session("MAIN", "SHARED_005", "SHARED_005_MR1").unwrap();
    assert!(shared.is_some());

    c.delete_session("MAIN", "NEW_S", "NEW_S_2").unwrap();
    assert_eq!(c.session("MAIN", "NEW_S", "NEW_S_2").unwrap(), None);
}

#[test]
fn retries_ride_out_a_20_percent_error_rate_and_a_dead_server_is_clear() {
    let sim = Sim::start(&["--seed", "demo", "--error-rate", "0.2", "--rng-seed", "11"]);
    let c = connect_as(&sim, "admin", "admin", "retry").unwrap();
    for _ in 0..3 {
        let inv = c
            .inventory("PILOT", &InventoryOptions::default(), &NoProgress)
            .unwrap();
        assert_eq!(inv.subjects.len(), 6);
    }
    drop(sim);
    let e = c
        .inventory("PILOT", &InventoryOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(e, XnatError::Network { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("local: cannot reach http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("after 7 attempt(s)"), "{text}");
}

#[test]
fn no_secret_appears_in_any_error() {
    let sim = Sim::start(&["--seed", "demo", "--user", "carol:Zq9-secret-Pw"]);
    let c = connect_as(&sim, "carol", "Zq9-secret-Pw", "sec").unwrap();
    let mut texts = vec![format!("{c:?}")];
    for e in [
        c.inventory("PILOT", &InventoryOptions::default(), &NoProgress)
            .unwrap_err(),
        c.create_subject("MAIN", "X").unwrap_err(),
        c.delete_session("PILOT", "SUB001", "SUB001_MR1")
            .unwrap_err(),
        connect_as(&sim, "carol", "Zq9-secret-Pw-wrong", "sec2").unwrap_err(),
    ] {
        texts.push(format!("{e} {e:?} {:?}", e.hint()));
    }
    for t in &texts {
        assert!(!t.contains("Zq9-secret-Pw"), "secret leaked: {t}");
        assert!(
            !t.to_ascii_uppercase().contains("JSESSIONID="),
            "session leaked: {t}"
        );
    }
}

/// A TLS server on loopback with a self-signed certificate made for this run; it answers every
/// connection's handshake and nothing else. Returns its `https://127.0.0.1:PORT` URL and the
/// certificate as PEM.
fn self_signed_tls_server() -> (String, String) {
    use std::io::Read;
    use std::sync::Arc;
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a self-signed certificate");
    let pem = made.cert.pem();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut buf = [0u8; 1024];
            let _ = tls.read(&mut buf);
        }
    });
    (url, pem)
}

#[test]
fn tls_certificates_are_verified_and_a_site_ca_can_be_trusted() {
    let (url, pem) = self_signed_tls_server();
    std::env::set_var("FERRY_CT_U_tls", "admin");
    std::env::set_var("FERRY_CT_P_tls", "admin");
    let connect = |ca_bundle: Option<std::path::PathBuf>| {
        let opts = ClientOptions {
            backoff_base: Duration::from_millis(5),
            ca_bundle,
            ..ClientOptions::default()
        };
        Client::connect(
            "secure",
            &server(&url, "FERRY_CT_U_tls", "FERRY_CT_P_tls"),
            opts,
        )
        .unwrap_err()
    };
    // Untrusted: refused at once (a retry cannot help), with what to do.
    let e = connect(None);
    let text = e.to_string();
    assert!(text.starts_with("secure: "), "{text}");
    assert!(text.contains("invalid peer certificate"), "{text}");
    assert!(text.contains("after 1 attempt(s)"), "{text}");
    assert!(
        e.hint().unwrap_or_default().contains("FERRY_CA_BUNDLE"),
        "{e:?}"
    );
    assert!(!text.contains("admin"), "{text}");

    // The site's CA in a bundle: the handshake passes (this server then says nothing, so the
    // login fails for another reason).
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("site-ca.pem");
    std::fs::write(&bundle, &pem).unwrap();
    let text = connect(Some(bundle)).to_string();
    assert!(!text.contains("certificate"), "{text}");

    // A bundle that is not one is named.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let text = connect(Some(junk.clone())).to_string();
    assert!(text.contains(&junk.display().to_string()), "{text}");
    assert!(text.contains("no PEM certificate"), "{text}");
}
