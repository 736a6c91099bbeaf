//! The destination's anonymization scripts and prearchive setting in a plan: carried for `apply`
//! under `local`, shown in the checklist with their effect on the fields `dicom.set` writes, and
//! blocking when ferry cannot run them or when `archive: manual` meets an auto-archiving project.

use super::*;
use crate::dicomedit::XNAT_DEFAULT_SCRIPT;
use crate::model::inventory::ScriptSetting;

fn main_with(site: ScriptSetting, project: ScriptSetting, code: Option<u8>) -> Proj {
    let mut p = main_project();
    p.inv.settings.site_script = site;
    p.inv.settings.project_script = project;
    p.inv.settings.prearchive_code = code;
    p
}

/// The demo PILOT without the session that carries PHI, so the checklist's PHI part is fine.
fn clean_pilot() -> Proj {
    let mut p = pilot();
    p.inv.subjects.remove("SUB003");
    p
}

fn check<'p>(plan: &'p Plan, item: &str) -> &'p CheckItem {
    plan.checklist
        .iter()
        .find(|c| c.item == item)
        .unwrap_or_else(|| panic!("no {item}"))
}

#[test]
fn local_plans_carry_the_scripts_that_are_on_in_xnat_order() {
    let project = "version \"6.1\"\n(0008,0080) := \"Anon\"\n".to_string();
    let m = manifest("copy", "conflict: skip", "");
    let dest = main_with(
        ScriptSetting::On(XNAT_DEFAULT_SCRIPT.into()),
        ScriptSetting::On(project.clone()),
        Some(0),
    );
    let plan = plan_of(&m, &invs(vec![pilot(), dest])).unwrap();
    let scripts = &plan.transfers[0].destination_scripts;
    assert_eq!(
        scripts
            .iter()
            .map(|s| (s.scope.as_str(), s.text.as_str()))
            .collect::<Vec<_>>(),
        vec![("site", XNAT_DEFAULT_SCRIPT), ("project", project.as_str())]
    );
    let a = check(&plan, "anonymization");
    assert!(
        a.detail.contains(
            "site script on: sets StudyDescription (conditional), sets PatientName, sets PatientID"
        ),
        "{}",
        a.detail
    );
    assert!(
        a.detail.contains("project script on: sets InstitutionName"),
        "{}",
        a.detail
    );
    assert!(
        a.detail.contains(
            "dicom.set writes PatientID, PatientName, StudyDescription after the scripts"
        ),
        "{}",
        a.detail
    );
    let ps = check(&plan, "project_settings");
    assert!(
        ps.detail
            .contains("MAIN keeps uploads in the prearchive (code 0)"),
        "{}",
        ps.detail
    );
    // Plans survive their file format.
    let again = from_yaml(&to_yaml(&plan), std::path::Path::new("plan.yaml")).unwrap();
    assert_eq!(again.transfers[0].destination_scripts, *scripts);
}

#[test]
fn a_construct_ferry_cannot_run_blocks_with_its_line_unless_the_server_runs_it() {
    let bad = "version \"6.1\"\n// keep UIDs unique\n(0020,000D) := hashUID[(0020,000D)]\n";
    let dest = || main_with(ScriptSetting::On(bad.into()), ScriptSetting::Off, Some(0));
    let m = manifest("copy", "conflict: skip", "");
    let plan = plan_of(&m, &invs(vec![pilot(), dest()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("site anonymization script of MAIN cannot be run by ferry (unsupported construct at line 3: function `hashUID[...]`)"), "{}", a.reason);
    assert_eq!(check(&plan, "anonymization").status, CheckStatus::Blocked);

    let m = manifest(
        "copy",
        "conflict: skip, destination_anonymization: server",
        "",
    );
    let plan = plan_of(&m, &invs(vec![clean_pilot(), dest()])).unwrap();
    assert_eq!(act(&plan, "SUB001_MR1").kind, ActionKind::Create);
    assert!(plan.transfers[0].destination_scripts.is_empty());
    let a = check(&plan, "anonymization");
    assert_eq!(a.status, CheckStatus::Warn);
    assert!(a.detail.contains("run by XNAT"), "{}", a.detail);
    assert!(to_yaml(&plan).contains("destination_anonymization: server"));
}

#[test]
fn server_mode_warns_that_xnat_rewrites_the_fields_ferry_sets() {
    let dest = main_with(
        ScriptSetting::On(XNAT_DEFAULT_SCRIPT.into()),
        ScriptSetting::Off,
        None,
    );
    let m = manifest(
        "copy",
        "conflict: skip, destination_anonymization: server",
        "",
    );
    let plan = plan_of(&m, &invs(vec![pilot(), dest])).unwrap();
    let a = check(&plan, "anonymization");
    assert!(
        a.detail.contains(
            "XNAT rewrites PatientID, PatientName, StudyDescription after ferry sets them"
        ),
        "{}",
        a.detail
    );
    assert!(check(&plan, "project_settings")
        .detail
        .contains("prearchive setting unknown"));
}

#[test]
fn unreadable_scripts_are_said_so_not_taken_as_off() {
    let dest = main_with(
        ScriptSetting::Unreadable("the server refused to show it (403)".into()),
        ScriptSetting::Off,
        Some(0),
    );
    let m = manifest("copy", "conflict: skip", "");
    let plan = plan_of(&m, &invs(vec![clean_pilot(), dest])).unwrap();
    let a = check(&plan, "anonymization");
    assert_eq!(a.status, CheckStatus::Warn);
    assert!(
        a.detail
            .contains("site script could not be read (the server refused to show it (403))"),
        "{}",
        a.detail
    );
    assert!(plan.transfers[0].destination_scripts.is_empty());
}

#[test]
fn fields_the_scripts_always_set_are_not_phi_findings() {
    // Without dicom.set for PatientName/PatientID, the site script still overwrites them.
    let m = manifest("copy", "conflict: skip", "");
    let mut m2 = m.clone();
    m2.transfers[0].dicom.set.remove("PatientName");
    m2.transfers[0].dicom.set.remove("PatientID");
    let off = main_with(ScriptSetting::Off, ScriptSetting::Off, Some(0));
    let plan = plan_of(&m2, &invs(vec![pilot(), off])).unwrap();
    assert!(act(&plan, "SUB001_MR1")
        .phi
        .iter()
        .any(|f| f.keyword == "PatientName"));
    let on = main_with(
        ScriptSetting::On(XNAT_DEFAULT_SCRIPT.into()),
        ScriptSetting::Off,
        Some(0),
    );
    let plan = plan_of(&m2, &invs(vec![pilot(), on])).unwrap();
    assert!(
        act(&plan, "SUB001_MR1").phi.is_empty(),
        "{:?}",
        act(&plan, "SUB001_MR1").phi
    );
}

#[test]
fn manual_archiving_into_an_auto_archiving_project_is_refused() {
    let dest = main_with(ScriptSetting::Off, ScriptSetting::Off, Some(4));
    let m = manifest(
        "copy",
        "conflict: skip, destination: prearchive, archive: manual",
        "",
    );
    let plan = plan_of(&m, &invs(vec![pilot(), dest])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(
        a.reason
            .contains("MAIN archives uploads itself (prearchive code 4)"),
        "{}",
        a.reason
    );
    assert_eq!(
        check(&plan, "project_settings").status,
        CheckStatus::Blocked
    );
    // archive: auto is fine: the upload is already archived and apply does not archive it again.
    let dest = main_with(ScriptSetting::Off, ScriptSetting::Off, Some(4));
    let m = manifest(
        "copy",
        "conflict: skip, destination: prearchive, archive: auto",
        "",
    );
    let plan = plan_of(&m, &invs(vec![pilot(), dest])).unwrap();
    assert_eq!(act(&plan, "SUB001_MR1").kind, ActionKind::Create);
    assert!(check(&plan, "project_settings")
        .detail
        .contains("MAIN archives uploads itself (code 4)"));
}
