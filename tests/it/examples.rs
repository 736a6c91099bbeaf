//! Every example manifest in `manifests/`, exactly as users copy it, validated, planned and applied
//! against the emulator. Each gets a world built for it from the demo world's sessions (the projects it
//! names, filled through the import service); only the server URLs are pointed at the emulator.

use crate::apply::{client, files_of};
use crate::sim::send;
use crate::support::{ferry_bin, stderr, stdout, Sim};
use ferry::manifest::model::Destination;
use ferry::xnat::{Client, ImportTarget, InventoryOptions, NoProgress, Overwrite, ZipBody};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// The examples this file covers; a new example without a test here fails `every_example_is_covered`.
const COVERED: [&str; 6] = [
    "consolidate-with-table.yaml",
    "cross-server-copy.yaml",
    "demo.yaml",
    "move.yaml",
    "rewrite-routing.yaml",
    "share-with-collaborator.yaml",
];

fn examples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests"))
}

#[test]
fn every_example_is_covered() {
    let mut found: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    found.sort();
    assert_eq!(
        found, COVERED,
        "an example manifest has no test against the emulator"
    );
}

/// A work folder holding one example with its URLs pointed at emulators, its tables, and a netrc.
/// The UID ferry's `uids: remap` writes for `uid` in transfers into `project` of `sim`.
fn remapped(sim: &Sim, project: &str, uid: &str) -> String {
    use ferry::dicom::profile::{replacement_uid, transfer_key, KeyUse};
    replacement_uid(&transfer_key(KeyUse::Replacement, (&sim.url, project)), uid)
}

struct Example {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Example {
    /// Copies `manifests/NAME` (and its tables) into a folder, replacing each `(url, sim)` pair.
    fn new(name: &str, urls: &[(&str, &Sim)]) -> Example {
        let dir = tempfile::tempdir().unwrap();
        let mut text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
        for (url, sim) in urls {
            assert!(text.contains(url), "{name} does not name {url}");
            text = text.replace(url, &sim.url);
        }
        std::fs::write(dir.path().join(name), text).unwrap();
        std::fs::copy(examples_dir().join("ids.csv"), dir.path().join("ids.csv")).unwrap();
        // Servers without credential variables in the manifest read ~/.netrc, as XNAT users keep it.
        std::fs::write(
            dir.path().join("netrc"),
            "machine 127.0.0.1 login admin password admin\n",
        )
        .unwrap();
        let netrc = dir.path().join("netrc").to_string_lossy().into_owned();
        let env = [
            ("NETRC", netrc.as_str()),
            ("FERRY_USER", "admin"),
            ("FERRY_PASS", "admin"),
            ("XNAT_USER", "admin"),
            ("XNAT_PASS", "admin"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Example { dir, env }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(ferry_bin())
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run ferry")
    }

    /// Validates, plans (expecting `plan_code`) and applies; returns the plan's output.
    fn validate_plan_apply(&self, name: &str, plan_code: i32, apply_args: &[&str]) -> String {
        let v = self.run(&["validate", name]);
        assert!(v.status.success(), "{name}: {}", stderr(&v));
        let p = self.run(&["plan", name, "--out", "plan.yaml"]);
        assert_eq!(
            p.status.code(),
            Some(plan_code),
            "{name}:\n{}\n{}",
            stdout(&p),
            stderr(&p)
        );
        let mut args = vec!["apply", "plan.yaml"];
        args.extend_from_slice(apply_args);
        let a = self.run(&args);
        assert!(
            a.status.success(),
            "{name}:\n{}\n{}",
            stdout(&a),
            stderr(&a)
        );
        stdout(&p)
    }

    /// Plans again after the apply: nothing may be left to create.
    fn assert_replan_is_a_no_op(&self, name: &str) {
        let p = self.run(&["plan", name, "--out", "again.yaml"]);
        let text = stdout(&p);
        assert!(
            !text.contains("+ "),
            "{name}: a rerun would change something:\n{text}"
        );
    }
}

fn create_project(sim: &Sim, project: &str) {
    let r = send(
        sim,
        "PUT",
        &format!("/data/projects/{project}"),
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert!(matches!(r.status, 200 | 201), "{project}: {}", r.text());
}

/// Copies a demo session (all scans) into another project's archive under new labels.
fn place(c: &Client, from: (&str, &str), to: (&str, &str, &str)) {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("s.zip");
    c.download_session(
        "PILOT",
        from.0,
        from.1,
        &[],
        ferry::xnat::Landing::disk(&zip),
        &mut |_| {},
    )
    .expect("download a demo session");
    let target = ImportTarget {
        project: to.0.into(),
        subject: to.1.into(),
        session: to.2.into(),
        destination: Destination::Archive,
        overwrite: Overwrite::None,
        prevent_anon: true,
    };
    c.import_zip(ZipBody::File(&zip), &target, &mut |_| {})
        .expect("import into the example's world");
}

fn labels(c: &Client, project: &str) -> Vec<(String, Vec<String>)> {
    let inv = c
        .inventory(project, &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    inv.subjects
        .iter()
        .map(|(s, subj)| (s.clone(), subj.sessions.keys().cloned().collect()))
        .collect()
}

fn owned(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(s, v)| (s.to_string(), v.iter().map(|x| x.to_string()).collect()))
        .collect()
}

#[test]
fn demo_example_plans_blocked_items_and_applies_the_rest() {
    let sim = Sim::start(&["--seed", "demo"]);
    let ex = Example::new("demo.yaml", &[("http://127.0.0.1:8080", &sim)]);
    let plan = ex.validate_plan_apply("demo.yaml", 3, &["--skip-blocked"]);
    assert!(plan.contains("MAIN_002_20240203"), "{plan}");
    let main = labels(&client(&sim), "MAIN");
    assert!(
        main.iter()
            .any(|(s, v)| s == "MAIN_001" && v == &["MAIN_001_20240115"]),
        "{main:?}"
    );
    ex.assert_replan_is_a_no_op("demo.yaml");
}

#[test]
fn share_with_collaborator_example_shares_every_selected_subject() {
    let sim = Sim::start(&["--seed", "demo"]);
    create_project(&sim, "COLLAB");
    let ex = Example::new(
        "share-with-collaborator.yaml",
        &[("https://xnat.example.org", &sim)],
    );
    ex.validate_plan_apply("share-with-collaborator.yaml", 0, &[]);
    let c = client(&sim);
    assert_eq!(
        labels(&c, "COLLAB"),
        labels(&c, "PILOT"),
        "COLLAB should see every SUB00* subject"
    );
    ex.assert_replan_is_a_no_op("share-with-collaborator.yaml");
}

#[test]
fn consolidate_example_relabels_two_projects_from_the_table() {
    let sim = Sim::start(&["--seed", "demo"]);
    let c = client(&sim);
    for p in ["PILOT_A", "PILOT_B"] {
        create_project(&sim, p);
    }
    place(
        &c,
        ("SUB001", "SUB001_MR1"),
        ("PILOT_A", "SUB001", "A_SUB001_MR"),
    );
    place(
        &c,
        ("SUB004", "SUB004_MR1"),
        ("PILOT_A", "SUB002", "A_SUB002_MR"),
    );
    place(&c, ("SUB005", "SUB005_MR1"), ("PILOT_B", "B-01", "B01_MR"));
    place(&c, ("SUB006", "SUB006_MR2"), ("PILOT_B", "B-02", "B02_MR"));
    let ex = Example::new(
        "consolidate-with-table.yaml",
        &[("https://xnat.example.org", &sim)],
    );
    ex.validate_plan_apply("consolidate-with-table.yaml", 0, &[]);
    let main = labels(&c, "MAIN");
    for (subject, session) in [
        ("MAIN_001", "MAIN_001_20240115"),
        ("MAIN_002", "MAIN_002_20240301"),
        ("MAIN_101", "MAIN_101_20240312"),
        ("MAIN_102", "MAIN_102_20240618"),
    ] {
        assert!(
            main.iter()
                .any(|(s, v)| s == subject && v.iter().any(|x| x == session)),
            "{subject}/{session} missing from MAIN: {main:?}"
        );
    }
    // The PatientID written is the table's new label; pixel data is untouched.
    // UIDs are replaced (the example's profile remaps them), one for one.
    let src = files_of(&c, "PILOT_B", "B-01", "B01_MR", &[]);
    let dst = files_of(&c, "MAIN", "MAIN_101", "MAIN_101_20240312", &[]);
    assert_eq!(src.len(), dst.len());
    let src: BTreeMap<String, _> = src
        .into_iter()
        .map(|(sop, v)| (remapped(&sim, "MAIN", &sop), v))
        .collect();
    for (sop, (_, kw, pixel)) in &dst {
        assert!(sop.starts_with("2.25."), "{sop} kept");
        assert_eq!(&src[sop].2, pixel, "pixel data changed");
        assert_eq!(kw.get("PatientID").map(String::as_str), Some("MAIN_101"));
    }
    ex.assert_replan_is_a_no_op("consolidate-with-table.yaml");
}

#[test]
fn cross_server_example_copies_into_the_partners_prearchive() {
    let central = Sim::start(&["--seed", "demo"]);
    let partner = Sim::start(&[]);
    create_project(&partner, "SHARED_PILOT");
    let token = send(
        &partner,
        "GET",
        "/data/services/tokens/issue",
        Some(("admin", "admin")),
        &[],
        vec![],
    )
    .json();
    let mut ex = Example::new(
        "cross-server-copy.yaml",
        &[
            ("https://xnat.example.org", &central),
            ("https://xnat.partner.org", &partner),
        ],
    );
    ex.env.push((
        "PARTNER_TOKEN".into(),
        format!(
            "{}:{}",
            token["alias"].as_str().unwrap(),
            token["secret"].as_str().unwrap()
        ),
    ));
    // SUB003's files carry identifying fields the manifest does not overwrite: blocked, and named.
    let plan = ex.validate_plan_apply("cross-server-copy.yaml", 3, &["--skip-blocked"]);
    assert!(plan.contains("SUB003"), "{plan}");
    // `archive: manual`: the sessions wait in the partner's prearchive, under the planned labels.
    let pre = send(
        &partner,
        "GET",
        "/data/prearchive/projects/SHARED_PILOT?format=json",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    let rows = pre.rows();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(names.contains(&"SUB001_MR1"), "{names:?}");
    let sub001 = rows.iter().find(|r| r["name"] == "SUB001_MR1").unwrap();
    assert_eq!(sub001["subject"], "CENTRAL_SUB001", "{sub001}");
    assert!(!names.iter().any(|n| n.contains("SUB003")), "{names:?}");
    // Subjects are created in the archive; their sessions are not archived until the partner does it.
    let archived = labels(&client(&partner), "SHARED_PILOT");
    assert!(
        archived.iter().any(|(s, _)| s == "CENTRAL_SUB001"),
        "{archived:?}"
    );
    assert!(archived.iter().all(|(_, v)| v.is_empty()), "{archived:?}");
}

#[test]
fn move_example_deletes_the_intake_only_after_verification() {
    let sim = Sim::start(&["--seed", "demo"]);
    let c = client(&sim);
    for p in ["INTAKE", "STUDY"] {
        create_project(&sim, p);
    }
    place(
        &c,
        ("SUB001", "SUB001_MR1"),
        ("INTAKE", "INT001", "INT001_MR1"),
    );
    place(
        &c,
        ("SUB004", "SUB004_MR1"),
        ("INTAKE", "INT002", "INT002_MR1"),
    );
    place(
        &c,
        ("SUB004", "SUB004_MR2"),
        ("INTAKE", "INT002", "INT002_CT1"),
    );
    let before = files_of(&c, "INTAKE", "INT001", "INT001_MR1", &[]);
    let ex = Example::new("move.yaml", &[("https://xnat.example.org", &sim)]);
    ex.validate_plan_apply("move.yaml", 0, &[]);
    assert_eq!(
        labels(&c, "STUDY"),
        owned(&[("INT001", &["INT001_MR1"]), ("INT002", &["INT002_MR1"])])
    );
    // Moved sessions are gone from the intake; the one outside the selection stays.
    assert_eq!(
        labels(&c, "INTAKE"),
        owned(&[("INT001", &[]), ("INT002", &["INT002_CT1"])])
    );
    // The profile replaced every UID, one for one, the same way on every run into STUDY.
    let after = files_of(&c, "STUDY", "INT001", "INT001_MR1", &[]);
    let expected: std::collections::BTreeSet<String> =
        before.keys().map(|u| remapped(&sim, "STUDY", u)).collect();
    assert_eq!(expected, after.keys().cloned().collect());
}

#[test]
fn rewrite_routing_example_labels_from_headers_and_renames_on_conflict() {
    let sim = Sim::start(&["--seed", "demo"]);
    let c = client(&sim);
    for p in ["SCANNER_DUMP", "CURATED"] {
        create_project(&sim, p);
    }
    place(
        &c,
        ("SUB001", "SUB001_MR1"),
        ("SCANNER_DUMP", "sub001", "dump1"),
    );
    place(
        &c,
        ("SUB005", "SUB005_MR1"),
        ("SCANNER_DUMP", "sub005", "dump2"),
    );
    let ex = Example::new(
        "rewrite-routing.yaml",
        &[("https://xnat.example.org", &sim)],
    );
    let plan = ex.validate_plan_apply("rewrite-routing.yaml", 0, &[]);
    assert!(plan.contains("SUB001_20240115_"), "{plan}");
    let curated = labels(&c, "CURATED");
    assert_eq!(curated.len(), 2, "{curated:?}");
    let (subject, sessions) = &curated[0];
    assert_eq!(subject, "SUB001");
    assert!(sessions[0].starts_with("SUB001_20240115_"), "{sessions:?}");
    let files = files_of(&c, "CURATED", subject, &sessions[0], &[]);
    for (_, kw, _) in files.values() {
        assert_eq!(
            kw.get("StudyDescription").cloned(),
            Some(format!("xnat://CURATED/SUB001/{}", sessions[0]))
        );
    }
    ex.assert_replan_is_a_no_op("rewrite-routing.yaml");
}
