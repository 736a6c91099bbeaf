//! The command line's contract with scripts and CI: machine-readable output (`plan --json`,
//! `status --json`), exit codes used as the README's table says, a manifest given to `apply`
//! recognised, and `plan --graph dot` without `--out`.

use crate::apply::{manifest, run, work};
use crate::support::{ferry_in, stderr, stdout, Sim};
use serde_json::Value;

#[test]
fn plan_json_summarises_and_names_every_blocked_session() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    let o = run(
        w.dir.path(),
        &["plan", "ferry.yaml", "--out", "plan.yaml", "--json"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["plan"], "plan.yaml");
    assert_eq!(j["format"], "ferry-plan/1");
    assert_eq!(j["blocked"], true);
    assert_eq!(j["summary"]["sessions_created"], 4);
    assert_eq!(j["summary"]["sessions_blocked"], 3);
    let blocked: Vec<&str> = j["blocked_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        blocked,
        [
            "pilot-into-main/SUB003/SUB003_MR1",
            "pilot-into-main/SUB004/SUB004_MR1",
            "pilot-into-main/SUB004/SUB004_MR2"
        ]
    );
    assert!(w.dir.path().join("plan.yaml").exists());
    // The plan is the same one the diff would have written.
    let shown = ferry_in(w.dir.path(), &["show", "plan.yaml", "--format", "json"]);
    let plan: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(plan["summary"], j["summary"]);
}

#[test]
fn plan_graph_dot_needs_no_out_and_writes_nothing() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    let o = run(w.dir.path(), &["plan", "ferry.yaml", "--graph", "dot"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("digraph ferry {"), "{}", stdout(&o));
    assert!(stdout(&o).contains("download"), "{}", stdout(&o));
    let files: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["ferry.yaml"]);
    // Without --out the diff says that no plan was written.
    let o = run(w.dir.path(), &["plan", "ferry.yaml", "--color", "never"]);
    assert!(stdout(&o).contains("no plan written"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("`ferry apply PLAN --skip-blocked`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn apply_given_a_manifest_points_to_ferry_plan() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    for cmd in ["apply", "status", "show"] {
        let o = run(w.dir.path(), &[cmd, "ferry.yaml"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("error: `ferry.yaml` is a manifest, not a plan"),
            "{e}"
        );
        assert!(
            e.contains(&format!(
                "hint: make a plan from it with `ferry plan ferry.yaml --out plan.yaml`, review it, then `ferry {cmd} plan.yaml`"
            )),
            "{e}"
        );
    }
    // Nothing was created on the server.
    let c = crate::apply::client(&sim);
    let main = c
        .inventory(
            "MAIN",
            &ferry::xnat::InventoryOptions { headers: false },
            &ferry::xnat::NoProgress,
        )
        .unwrap();
    assert!(!main.subjects.contains_key("MAIN_001"));
}

#[test]
fn skip_blocked_with_nothing_runnable_exits_3() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = tempfile::tempdir().unwrap();
    // Only the PHI session and the two colliding ones: every selected session is blocked.
    let text = manifest(&sim.url, "copy", "conflict: skip").replace(
        "    select:\n",
        "    select:\n      subjects: [\"SUB003\", \"SUB004\"]\n",
    );
    std::fs::write(dir.path().join("ferry.yaml"), text).unwrap();
    let p = run(dir.path(), &["plan", "ferry.yaml", "--out", "plan.yaml"]);
    assert_eq!(p.status.code(), Some(3), "{}", stderr(&p));
    let a = run(dir.path(), &["apply", "plan.yaml", "--skip-blocked"]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(
        stderr(&a).contains(
            "nothing to apply: the plan's runnable part is empty and 3 sessions are blocked"
        ),
        "{}",
        stderr(&a)
    );
    assert!(!dir.path().join("plan.yaml.journal").exists());
}

/// Runs ferry with none of the manifest's credential variables and no ~/.netrc (other tests set the
/// variables in this process).
fn without_credentials(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::support::ferry_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("NETRC")
        .env_remove("FERRY_IT_USER")
        .env_remove("FERRY_IT_PASS")
        .env("HOME", dir)
        .output()
        .unwrap()
}

#[test]
fn missing_credentials_are_bad_input() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    // Without the variables the manifest names.
    let o = without_credentials(w.dir.path(), &["plan", "ferry.yaml", "--out", "plan.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no credentials"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("hint: set the variables"),
        "{}",
        stderr(&o)
    );
    // Apply of a plan made with them, run without them.
    assert_eq!(w.plan().status.code(), Some(3));
    let a = without_credentials(w.dir.path(), &["apply", "plan.yaml", "--skip-blocked"]);
    assert_eq!(a.status.code(), Some(2), "{}", stderr(&a));
    assert!(stderr(&a).contains("no credentials"), "{}", stderr(&a));
}

#[test]
fn a_netrc_readable_by_others_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = tempfile::tempdir().unwrap();
    let netrc = dir.path().join("netrc");
    std::fs::write(&netrc, "machine 127.0.0.1 login admin password admin\n").unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        format!("version: 1\nservers:\n  local: {{ url: \"{}\" }}\ntransfers:\n  - {{ name: t, mode: copy, from: {{ server: local, project: PILOT }}, to: {{ server: local, project: MAIN }}, policy: {{ conflict: skip }} }}\n", sim.url),
    )
    .unwrap();
    let plan = |mode: u32| {
        std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(mode)).unwrap();
        std::process::Command::new(crate::support::ferry_bin())
            .args(["plan", "m.yaml", "--json"])
            .current_dir(dir.path())
            .env("NETRC", &netrc)
            .output()
            .unwrap()
    };
    let open = plan(0o644);
    assert!(
        matches!(open.status.code(), Some(0 | 3)),
        "{}",
        stderr(&open)
    );
    let warned = stderr(&open);
    assert!(
        warned.contains("holds passwords and can be read by others (mode 644); run `chmod 600"),
        "{warned}"
    );
    assert_eq!(warned.matches("warning:").count(), 1, "{warned}");
    let closed = plan(0o600);
    assert!(!stderr(&closed).contains("warning:"), "{}", stderr(&closed));
}
