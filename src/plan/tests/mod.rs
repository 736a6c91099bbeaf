//! Unit tests of the planner with hand-built inventories: a small builder, a copy of the demo world
//! (see DEMO-WORLD.md) and its manifest, then one module per part.

mod conflicts;
mod destscripts;
mod graph;
mod io_render;
mod lead;
mod moves;
mod selection;
mod tables;

use super::*;
use crate::manifest::model::Manifest;
use crate::model::inventory::{
    Access, FileEntry, Inventory, PrearchiveEntry, Resource, Scan, Session, Subject,
};
use std::collections::BTreeMap;

/// Builds an inventory session by session.
pub(super) struct Proj {
    pub inv: Inventory,
}

/// Demo PHI values: a plan must contain none of them.
pub(super) const PHI_VALUES: &[&str] = &[
    "Doe^Jane",
    "H7730011",
    "19780412",
    "Whitfield^Gregory",
    "Roe^Richard",
    "H7730033",
];

fn files(n: u64, size: u64) -> Resource {
    let mut r = Resource {
        label: "DICOM".into(),
        format: "DICOM".into(),
        ..Default::default()
    };
    for i in 1..=n {
        let name = format!("{i:03}.dcm");
        r.files.insert(
            name.clone(),
            FileEntry {
                name,
                size,
                digest: None,
            },
        );
    }
    r
}

impl Proj {
    /// An empty project the account owns.
    pub fn new(project: &str) -> Proj {
        Proj {
            inv: Inventory {
                server_url: "http://127.0.0.1:1".into(),
                project: project.into(),
                access: Access {
                    role: Some("owner".into()),
                    can_create_subjects: Some(true),
                },
                ..Default::default()
            },
        }
    }

    fn subject(&mut self, label: &str) -> &mut Subject {
        self.inv
            .subjects
            .entry(label.to_string())
            .or_insert_with(|| Subject {
                id: format!("XNAT_S_{label}"),
                label: label.into(),
                ..Default::default()
            })
    }

    /// Adds a session with scans `(id, type, files)` of 1000-byte files.
    pub fn session(
        mut self,
        subject: &str,
        label: &str,
        date: &str,
        uid: &str,
        scans: &[(&str, &str, u64)],
    ) -> Proj {
        let mut s = Session {
            id: format!("XNAT_E_{label}"),
            label: label.into(),
            date: Some(date.into()),
            xsi_type: "xnat:mrSessionData".into(),
            uid: Some(uid.into()),
            ..Default::default()
        };
        for (id, ty, n) in scans {
            let mut scan = Scan {
                id: id.to_string(),
                scan_type: ty.to_string(),
                xsi_type: "xnat:mrScanData".into(),
                ..Default::default()
            };
            scan.resources.insert("DICOM".into(), files(*n, 1000));
            s.scans.insert(id.to_string(), scan);
        }
        self.subject(subject).sessions.insert(label.into(), s);
        self
    }

    /// The session (panics in tests if missing).
    pub fn sess(&mut self, subject: &str, label: &str) -> &mut Session {
        self.subject(subject).sessions.get_mut(label).unwrap()
    }

    /// Sets a header keyword of a session.
    pub fn header(mut self, subject: &str, label: &str, kw: &str, v: &str) -> Proj {
        self.sess(subject, label).header.insert(kw.into(), v.into());
        self
    }

    /// Adds a session resource.
    pub fn resource(mut self, subject: &str, label: &str, res: &str, n: u64) -> Proj {
        let mut r = files(n, 10);
        r.label = res.into();
        r.format = "TXT".into();
        self.sess(subject, label).resources.insert(res.into(), r);
        self
    }

    /// Adds an assessor.
    pub fn assessor(mut self, subject: &str, label: &str, xsi: &str) -> Proj {
        self.subject(subject)
            .other_experiments
            .insert(label.into(), xsi.into());
        self
    }

    /// Adds a prearchive entry.
    pub fn prearchived(mut self, subject: &str, label: &str, uid: &str) -> Proj {
        let url = format!(
            "/prearchive/projects/{}/20240101_000000/{label}",
            self.inv.project
        );
        self.inv.prearchive.insert(
            url.clone(),
            PrearchiveEntry {
                url,
                subject: subject.into(),
                label: label.into(),
                uid: uid.into(),
                status: "READY".into(),
            },
        );
        self
    }

    /// Sets the account's role and subject-creation right.
    pub fn access(mut self, role: &str, create: Option<bool>) -> Proj {
        self.inv.access = Access {
            role: Some(role.into()),
            can_create_subjects: create,
        };
        self
    }
}

/// The demo world's PILOT (DEMO-WORLD.md), 10 files per scan.
pub(super) fn pilot() -> Proj {
    let std3 = [
        ("1", "localizer", 10),
        ("2", "T1_MPRAGE", 10),
        ("3", "BOLD_rest", 10),
    ];
    let std4 = [
        ("1", "localizer", 10),
        ("2", "T1_MPRAGE", 10),
        ("3", "BOLD_rest", 10),
        ("4", "DTI_64dir", 10),
    ];
    let mut p = Proj::new("PILOT")
        .session("SUB001", "SUB001_MR1", "2024-01-15", "1.2.1.1.1", &std4)
        .resource("SUB001", "SUB001_MR1", "NOTES", 1)
        .session("SUB002", "SUB002_MR1", "2024-02-03", "1.2.1.2.1", &std3)
        .session("SUB003", "SUB003_MR1", "2024-02-20", "1.2.1.3.1", &std3)
        .session("SUB004", "SUB004_MR1", "2024-03-01", "1.2.1.4.1", &std3)
        .session("SUB004", "SUB004_MR2", "2024-03-01", "1.2.1.4.2", &std3)
        .session("SUB005", "SUB005_MR1", "2024-03-12", "1.2.1.5.1", &std4)
        .session("SUB006", "SUB006_MR1", "2024-04-02", "1.2.1.6.1", &std4)
        .session("SUB006", "SUB006_MR2", "2024-06-18", "1.2.1.6.2", &std4);
    let sessions: Vec<(String, String)> = p
        .inv
        .sessions()
        .map(|(s, e)| (s.label.clone(), e.label.clone()))
        .collect();
    for (i, (subj, sess)) in sessions.iter().enumerate() {
        let name = if i % 2 == 0 {
            "Doe^Jane"
        } else {
            "Roe^Richard"
        };
        let pid = if i % 2 == 0 { "H7730011" } else { "H7730033" };
        p = p
            .header(subj, sess, "PatientName", name)
            .header(subj, sess, "PatientID", pid)
            .header(
                subj,
                sess,
                "PatientComments",
                &format!("Project: PILOT Subject: {subj} Session: {sess}"),
            );
    }
    p.header("SUB003", "SUB003_MR1", "PatientBirthDate", "19780412")
        .header(
            "SUB003",
            "SUB003_MR1",
            "ReferringPhysicianName",
            "Whitfield^Gregory",
        )
}

/// The demo world's MAIN.
pub(super) fn main_project() -> Proj {
    Proj::new("MAIN").session(
        "MAIN_002",
        "MAIN_002_20240203",
        "2024-02-03",
        "1.2.1.9002.1",
        &[("1", "localizer", 10), ("2", "T1_MPRAGE", 10)],
    )
}

/// The demo manifest with `policy` and `mode` to vary, and extra transfer keys.
pub(super) fn manifest(mode: &str, policy: &str, extra: &str) -> Manifest {
    let text = format!(
        r#"version: 1
servers:
  local: {{ url: "http://127.0.0.1:1" }}
transfers:
  - name: pilot-into-main
    mode: {mode}
    from: {{ server: local, project: PILOT }}
    to: {{ server: local, project: MAIN }}
    select:
      scan_types: {{ exclude: ["localizer*"] }}
    map:
      subject: "MAIN_{{{{ subject.label | replace('SUB', '') }}}}"
      session: "{{{{ dest.subject }}}}_{{{{ session.date | replace('-', '') }}}}"
    dicom:
      set:
        PatientID: "{{{{ dest.subject }}}}"
        PatientName: "{{{{ dest.subject }}}}"
        StudyDescription: "xnat://{{{{ dest.project }}}}/{{{{ dest.subject }}}}/{{{{ dest.session }}}}"
        PatientComments: "Project: {{{{ dest.project }}}} Subject: {{{{ dest.subject }}}} Session: {{{{ dest.session }}}}"
    policy: {{ {policy} }}
{extra}"#
    );
    crate::manifest::yaml::from_str(&text).unwrap()
}

/// Inventories keyed as the planner wants them.
pub(super) fn invs(projects: Vec<Proj>) -> Inventories {
    projects
        .into_iter()
        .map(|p| (("local".to_string(), p.inv.project.clone()), p.inv))
        .collect()
}

/// Plans a manifest against inventories.
pub(super) fn plan_of(m: &Manifest, invs: &Inventories) -> Result<Plan, PlanError> {
    let tables = BTreeMap::new();
    build(&PlanInput {
        manifest: m,
        tables: &tables,
        manifest_path: "ferry.yaml",
        manifest_hash: "blake3:00",
        inventories: invs,
        ferry_version: crate::VERSION,
    })
}

/// The demo plan (conflict: skip, anonymization: require).
pub(super) fn demo_plan() -> Plan {
    let m = manifest("copy", "conflict: skip, anonymization: require", "");
    plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap()
}

/// The action of a source session.
pub(super) fn act<'p>(plan: &'p Plan, session: &str) -> &'p Action {
    plan.transfers[0]
        .actions
        .iter()
        .find(|a| a.source.session == session)
        .unwrap_or_else(|| panic!("no action for {session}"))
}
