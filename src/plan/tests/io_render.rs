//! The plan file (YAML round trip, refusals, fingerprint), the dry-run diff and the DOT export.

use super::*;
use std::path::Path;

#[test]
fn yaml_round_trips_byte_for_byte() {
    let plan = demo_plan();
    let text = to_yaml(&plan);
    assert!(text.starts_with("# ferry plan"));
    assert!(text.contains("format: ferry-plan/1"));
    let back = from_yaml(&text, Path::new("plan.yaml")).unwrap();
    assert_eq!(back, plan);
    assert_eq!(to_yaml(&back), text);
    assert_eq!(fingerprint(&back), fingerprint(&plan));
    assert!(fingerprint(&plan).starts_with("blake3:"));
    let mut other = plan.clone();
    other.transfers[0].actions[0].reason.push('!');
    assert_ne!(fingerprint(&other), fingerprint(&plan));
}

#[test]
fn plans_never_carry_header_values() {
    let plan = demo_plan();
    let text = format!("{}{}", to_yaml(&plan), render_diff(&plan, false));
    for v in PHI_VALUES {
        assert!(!text.contains(v), "PHI value {v} in the plan");
    }
}

#[test]
fn other_formats_newer_versions_and_edits_are_refused() {
    let text = to_yaml(&demo_plan());
    let p = Path::new("plan.yaml");
    let e = from_yaml(&text.replace("ferry-plan/1", "ferry-plan/2"), p).unwrap_err();
    assert!(matches!(e, PlanError::Format { .. }), "{e}");
    assert!(e.to_string().contains("ferry-plan/2"), "{e}");

    let newer = text.replace(
        &format!("ferry_version: {}", crate::VERSION),
        "ferry_version: 99.0.0",
    );
    let e = from_yaml(&newer, p).unwrap_err();
    assert!(matches!(e, PlanError::NewerVersion { .. }), "{e}");
    assert!(e.to_string().contains("99.0.0"), "{e}");

    let edited = text.replacen("kind: create", "kind: teleport", 1);
    let e = from_yaml(&edited, p).unwrap_err().to_string();
    assert!(e.starts_with("plan.yaml:"), "{e}");
    assert!(e.contains("teleport"), "{e}");
    let line = text
        .lines()
        .position(|l| l.contains("kind: create"))
        .unwrap()
        + 1;
    assert!(
        e.contains(&format!(":{line}:")),
        "{e} (expected line {line})"
    );

    let cut = &text[..text.len() / 2];
    let e = from_yaml(cut, p).unwrap_err().to_string();
    assert!(e.contains("plan.yaml"), "{e}");
    let e = from_yaml("just: text\n", p).unwrap_err().to_string();
    assert!(e.contains("not a ferry plan"), "{e}");
}

#[test]
fn a_plan_changed_after_it_was_written_is_refused_by_its_seal() {
    let text = to_yaml(&demo_plan());
    let p = Path::new("plan.yaml");
    assert!(text.lines().last().unwrap().starts_with("# seal: blake3:"));
    // Line ends turned into CRLF by a checkout change nothing.
    from_yaml(&text.replace('\n', "\r\n"), p).unwrap();
    // A hand edit that still parses: a destination label changed in place.
    let label = &demo_plan().transfers[0].actions[0].dest.session;
    let edited = text.replacen(label.as_str(), &format!("{label}X"), 1);
    assert_ne!(edited, text);
    let e = from_yaml(&edited, p).unwrap_err();
    assert!(matches!(e, PlanError::Edited { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("plan.yaml: the plan does not match its seal"),
        "{e}"
    );
    // The seal line removed (a plan cut short at a line end).
    let body = &text[..text.rfind("# seal: ").unwrap()];
    let e = from_yaml(body, p).unwrap_err().to_string();
    assert!(e.contains("seal line"), "{e}");
}

#[test]
fn the_diff_has_one_line_per_action_a_checklist_and_a_summary() {
    let plan = demo_plan();
    let d = render_diff(&plan, false);
    assert!(!d.contains('\x1b'));
    assert!(
        d.contains("+ create  SUB001/SUB001_MR1 -> MAIN_001/MAIN_001_20240115  (3 scans, 30 files, 30.0 kB)"),
        "{d}"
    );
    assert!(d.contains("= skip    SUB002/SUB002_MR1 -> MAIN_002/MAIN_002_20240203  (destination session MAIN/MAIN_002_20240203 exists"), "{d}");
    assert!(d.contains("! blocked SUB003/SUB003_MR1"), "{d}");
    assert!(d.contains("+ subject MAIN_001"), "{d}");
    assert!(d.contains("localizer"), "{d}");
    for item in [
        "access",
        "conflicts",
        "label_mapping",
        "dicom_metadata",
        "project_settings",
        "anonymization",
    ] {
        assert!(d.contains(item), "{item} missing from {d}");
    }
    assert!(
        d.contains("Plan: 3 subjects to create, 4 sessions to create, 0 to merge, 0 to share, 1 skipped, 3 blocked; 12 scans, 120 files, 120.0 kB to transfer."),
        "{d}"
    );
    assert!(d.contains("3 sessions are blocked"), "{d}");
    let coloured = render_diff(&plan, true);
    assert!(coloured.contains("\x1b[32m+ create"), "{coloured}");

    let m = manifest("move", "conflict: skip", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let d = render_diff(&plan, false);
    // Only what is carried is deleted: the excluded localizer and the unselected resource stay.
    assert!(
        d.contains("- delete source scans 2, 3, 4 of PILOT/SUB001_MR1; stays: scan 1 (localizer), resource NOTES  (after verification)"),
        "{d}"
    );
    assert!(
        d.contains("deletes from 4 source sessions after verification"),
        "{d}"
    );
}

#[test]
fn dot_has_a_node_per_step_and_an_edge_per_dependency() {
    let plan = demo_plan();
    let dot = render_dot(&plan);
    assert!(dot.starts_with("digraph ferry {"));
    for s in &plan.steps {
        assert!(dot.contains(&format!("\"{}\" [label=", s.id)), "{}", s.id);
    }
    let edges = plan.steps.iter().map(|s| s.after.len()).sum::<usize>();
    assert_eq!(dot.matches(" -> \"").count(), edges);
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn human_bytes_reads_well() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(1_234_567), "1.2 MB");
    assert_eq!(human_bytes(5_000_000_000), "5.0 GB");
}
