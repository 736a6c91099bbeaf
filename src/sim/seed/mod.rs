//! `--seed demo[:subjects=N,files=M]`: the demo world of `DEMO-WORLD.md`, built with dicom-object.
//! Everything is derived from subject, session, scan and file indexes, so the same spec gives the same
//! accession IDs, UIDs and file bytes on every machine.

mod image;

use super::model::{Experiment, FileEntry, Project, Resource, Role, Scan, Subject, User};
use super::store::Store;
use super::util::{date_from_day_of_year, md5_hex};
use image::dicom_file;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io;

/// The UID root of every seeded object.
pub const UID_ROOT: &str = "1.2.826.0.1.3680043.10.1137";
const INSERT_DATE: &str = "2024-07-01 09:00:00.000";

/// What to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSpec {
    /// Number of PILOT subjects (default 6).
    pub subjects: usize,
    /// DICOM files per scan (default 10).
    pub files: usize,
    /// Rows and columns of every image (default 64; `size=512` makes 512 kB files).
    pub size: u16,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec {
            subjects: 6,
            files: 10,
            size: 64,
        }
    }
}

impl SeedSpec {
    /// Parses `demo` or `demo:subjects=N,files=M`.
    pub fn parse(s: &str) -> Result<SeedSpec, String> {
        let (name, opts) = s.split_once(':').unwrap_or((s, ""));
        if name != "demo" {
            return Err(format!("unknown seed `{name}` (only `demo` exists)"));
        }
        let mut spec = SeedSpec::default();
        for kv in opts.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("seed option `{kv}` is not `key=value`"))?;
            let n: usize = v
                .parse()
                .map_err(|_| format!("seed option `{k}` needs a number, got `{v}`"))?;
            match k {
                "subjects" if n >= 1 => spec.subjects = n,
                "files" if n >= 1 => spec.files = n,
                "size" if (8..=2048).contains(&n) => spec.size = n as u16,
                "size" => return Err("seed option `size` must be between 8 and 2048".into()),
                "subjects" | "files" => {
                    return Err(format!("seed option `{k}` must be at least 1"))
                }
                _ => return Err(format!("unknown seed option `{k}`")),
            }
        }
        Ok(spec)
    }
}

const LAST: [&str; 12] = [
    "Hartmann",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Brennan",
    "Castillo",
    "Novak",
    "Ferreira",
    "Kowalski",
    "Abbott",
    "Yilmaz",
];
const FIRST: [&str; 12] = [
    "Anna", "Jonas", "Mei", "Pieter", "Lucia", "Tomas", "Amara", "Erik", "Sofia", "Daniel", "Ines",
    "Oskar",
];

/// Per scan (then `NOTES`), the file entries written for one session.
type SessionFiles = Vec<(String, BTreeMap<String, FileEntry>)>;

/// One session to build.
struct SessionPlan {
    subject: String,
    subject_index: usize,
    session_index: usize,
    label: String,
    date: String,
    project: &'static str,
    scans: Vec<(&'static str, &'static str)>,
    phi: bool,
}

fn pilot_sessions(spec: &SeedSpec) -> Vec<SessionPlan> {
    let fixed: [(&[(&str, &str)], bool); 6] = [
        (&[("MR1", "2024-01-15")], false),
        (&[("MR1", "2024-02-03")], false),
        (&[("MR1", "2024-02-20")], true),
        (&[("MR1", "2024-03-01"), ("MR2", "2024-03-01")], false),
        (&[("MR1", "2024-03-12")], false),
        (&[("MR1", "2024-04-02"), ("MR2", "2024-06-18")], false),
    ];
    let mut out = Vec::new();
    for i in 1..=spec.subjects {
        let subject = format!("SUB{i:03}");
        let with_dti = matches!(i, 1 | 5 | 6);
        let mut scans = vec![("1", "localizer"), ("2", "T1_MPRAGE"), ("3", "BOLD_rest")];
        if with_dti {
            scans.push(("4", "DTI_64dir"));
        }
        let sessions: Vec<(String, String)> = match fixed.get(i - 1) {
            Some((list, _)) => list
                .iter()
                .map(|(l, d)| (l.to_string(), d.to_string()))
                .collect(),
            None => {
                let day = ((i * 53) % 365 + 1) as u32;
                vec![("MR1".into(), date_from_day_of_year(2024, day))]
            }
        };
        let phi = fixed.get(i - 1).is_some_and(|(_, p)| *p);
        for (k, (suffix, date)) in sessions.into_iter().enumerate() {
            out.push(SessionPlan {
                label: format!("{subject}_{suffix}"),
                subject: subject.clone(),
                subject_index: i,
                session_index: k + 1,
                date,
                project: "PILOT",
                scans: scans.clone(),
                phi,
            });
        }
    }
    out
}

/// Builds the demo world into an empty store. Does nothing if the store was seeded before.
pub fn seed_demo(store: &mut Store, spec: SeedSpec) -> io::Result<()> {
    if store.site.seeded.is_some() {
        return Ok(());
    }
    for (name, admin) in [("admin", true), ("reader", false), ("writer", false)] {
        store
            .site
            .users
            .entry(name.to_string())
            .or_insert_with(|| User {
                password: name.to_string(),
                admin,
            });
    }
    let mut pilot = project("PILOT", "Pilot study");
    pilot.roles.insert("admin".into(), Role::Owner);
    pilot.roles.insert("reader".into(), Role::Collaborator);
    let mut main = project("MAIN", "Main study");
    main.roles.insert("admin".into(), Role::Owner);
    main.roles.insert("writer".into(), Role::Member);
    store.put_project(pilot)?;
    store.put_project(main)?;

    let mut plans = pilot_sessions(&spec);
    plans.push(SessionPlan {
        subject: "MAIN_002".into(),
        subject_index: 9002,
        session_index: 1,
        label: "MAIN_002_20240203".into(),
        date: "2024-02-03".into(),
        project: "MAIN",
        scans: vec![("1", "localizer"), ("2", "T1_MPRAGE")],
        phi: false,
    });
    // Files first, in parallel; then the records, in a fixed order.
    let root = store.root().to_path_buf();
    let built: Vec<io::Result<SessionFiles>> = plans
        .par_iter()
        .map(|p| write_session_files(&root, p, spec.files, spec.size))
        .collect();
    let mut subject_ids: BTreeMap<String, String> = BTreeMap::new();
    for (plan, files) in plans.iter().zip(built) {
        let files = files?;
        let subject_id = match subject_ids.get(&plan.subject) {
            Some(id) => id.clone(),
            None => {
                let id = store.new_subject_id();
                store.put_subject(Subject {
                    id: id.clone(),
                    project: plan.project.into(),
                    label: plan.subject.clone(),
                    insert_date: INSERT_DATE.into(),
                    insert_user: "admin".into(),
                    ..Subject::default()
                })?;
                subject_ids.insert(plan.subject.clone(), id.clone());
                id
            }
        };
        let e = experiment_record(store, plan, &subject_id, files);
        store.put_experiment(e)?;
    }
    store.site.seeded = Some(format!(
        "demo:subjects={},files={}",
        spec.subjects, spec.files
    ));
    store.save_site()
}

fn project(id: &str, name: &str) -> Project {
    Project {
        id: id.into(),
        name: name.into(),
        secondary_id: id.into(),
        description: format!("{name} (emulator demo world)"),
        ..Project::default()
    }
}

fn session_dir(p: &SessionPlan) -> String {
    format!("archive/{}/arc001/{}", p.project, p.label)
}

fn study_uid(p: &SessionPlan) -> String {
    format!("{UID_ROOT}.1.{}.{}", p.subject_index, p.session_index)
}

fn series_uid(p: &SessionPlan, scan_id: &str) -> String {
    format!(
        "{UID_ROOT}.2.{}.{}.{scan_id}",
        p.subject_index, p.session_index
    )
}

fn experiment_record(
    store: &mut Store,
    plan: &SessionPlan,
    subject_id: &str,
    mut files: SessionFiles,
) -> Experiment {
    let id = store.new_experiment_id();
    let (name, pid) = patient(plan);
    let mut scans = Vec::new();
    for (k, (scan_id, scan_type)) in plan.scans.iter().enumerate() {
        let entries = std::mem::take(&mut files[k].1);
        let frames = entries.len() as u64;
        scans.push(Scan {
            id: scan_id.to_string(),
            db_id: store.new_scan_key(),
            scan_type: scan_type.to_string(),
            series_description: scan_type.to_string(),
            uid: series_uid(plan, scan_id),
            frames,
            xsi_type: "xnat:mrScanData".into(),
            modality: "MR".into(),
            quality: "usable".into(),
            note: String::new(),
            resources: vec![Resource {
                id: store.new_resource_id(),
                label: "DICOM".into(),
                format: "DICOM".into(),
                content: "RAW".into(),
                files: entries,
            }],
        });
    }
    let mut resources = Vec::new();
    if let Some((_, notes)) = files.iter_mut().find(|(k, _)| k == "NOTES") {
        resources.push(Resource {
            id: store.new_resource_id(),
            label: "NOTES".into(),
            format: "TXT".into(),
            content: "NOTES".into(),
            files: std::mem::take(notes),
        });
    }
    Experiment {
        id,
        project: plan.project.into(),
        subject_id: subject_id.into(),
        label: plan.label.clone(),
        date: plan.date.clone(),
        time: "09:30:00".into(),
        xsi_type: "xnat:mrSessionData".into(),
        uid: study_uid(plan),
        modality: "MR".into(),
        dcm_patient_id: pid,
        dcm_patient_name: name,
        scans,
        resources,
        dir: session_dir(plan),
        insert_date: INSERT_DATE.into(),
        insert_user: "admin".into(),
        ..Experiment::default()
    }
}

fn patient(p: &SessionPlan) -> (String, String) {
    let i = p.subject_index;
    let name = format!("{}^{}", LAST[i % LAST.len()], FIRST[(i * 7) % FIRST.len()]);
    (name, format!("H{}", 7_730_000 + i * 11))
}

/// Writes one session's files; returns per scan (then `NOTES`) the file entries.
fn write_session_files(
    root: &std::path::Path,
    plan: &SessionPlan,
    files: usize,
    size: u16,
) -> io::Result<SessionFiles> {
    let dir = root.join(session_dir(plan));
    let mut out = Vec::new();
    for (scan_id, scan_type) in &plan.scans {
        let scan_dir = dir.join("SCANS").join(scan_id).join("DICOM");
        std::fs::create_dir_all(&scan_dir)?;
        let mut entries = BTreeMap::new();
        for f in 1..=files {
            let (sop, bytes) = dicom_file(plan, scan_id, scan_type, f, size)?;
            let name = format!("{sop}.dcm");
            std::fs::write(scan_dir.join(&name), &bytes)?;
            entries.insert(
                name,
                FileEntry {
                    size: bytes.len() as u64,
                    digest: md5_hex(&bytes),
                    uid: sop,
                    format: "DICOM".into(),
                },
            );
        }
        out.push((scan_id.to_string(), entries));
    }
    if plan.subject_index == 1 && plan.session_index == 1 && plan.project == "PILOT" {
        let notes_dir = dir.join("RESOURCES/NOTES");
        std::fs::create_dir_all(&notes_dir)?;
        let text = b"Operator notes for SUB001_MR1: subject moved slightly during BOLD_rest.\n";
        std::fs::write(notes_dir.join("notes.txt"), text)?;
        let mut entries = BTreeMap::new();
        entries.insert(
            "notes.txt".to_string(),
            FileEntry {
                size: text.len() as u64,
                digest: md5_hex(text),
                ..FileEntry::default()
            },
        );
        out.push(("NOTES".to_string(), entries));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::dicomio::read_header;

    #[test]
    fn seed_specs_parse() {
        assert_eq!(SeedSpec::parse("demo").unwrap(), SeedSpec::default());
        let s = SeedSpec::parse("demo:subjects=200,files=50,size=512").unwrap();
        assert_eq!((s.subjects, s.files, s.size), (200, 50, 512));
        assert!(SeedSpec::parse("demo:size=4").is_err());
        assert!(SeedSpec::parse("other").is_err());
        assert!(SeedSpec::parse("demo:files=x").is_err());
        assert!(SeedSpec::parse("demo:subjects=0").is_err());
    }

    #[test]
    fn seeded_files_are_deterministic_and_readable() {
        let plan = &pilot_sessions(&SeedSpec::default())[2];
        assert_eq!(plan.label, "SUB003_MR1");
        let (sop, a) = dicom_file(plan, "2", "T1_MPRAGE", 1, 64).unwrap();
        let (_, b) = dicom_file(plan, "2", "T1_MPRAGE", 1, 64).unwrap();
        assert_eq!(a, b);
        let h = read_header(&a).unwrap();
        assert_eq!(h.sop_uid, sop);
        assert_eq!(h.series_number, "2");
        assert_eq!(h.study_date, "2024-02-20");
        assert_eq!(h.series_description, "T1_MPRAGE");
        assert!(h.comments[0].contains("Session: SUB003_MR1"));
    }

    #[test]
    fn the_demo_world_has_its_sessions() {
        let plans = pilot_sessions(&SeedSpec::default());
        let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                "SUB001_MR1",
                "SUB002_MR1",
                "SUB003_MR1",
                "SUB004_MR1",
                "SUB004_MR2",
                "SUB005_MR1",
                "SUB006_MR1",
                "SUB006_MR2"
            ]
        );
        assert_eq!(plans[0].scans.len(), 4);
        assert_eq!(plans[1].scans.len(), 3);
        let big = pilot_sessions(&SeedSpec {
            subjects: 8,
            files: 1,
            size: 16,
        });
        assert_eq!(big.last().unwrap().label, "SUB008_MR1");
    }
}
