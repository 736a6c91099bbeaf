//! The emulator's state: every object in memory with indexes for label and ID lookups, and each object
//! persisted as its own small JSON file under `<root>/meta/` (written to a temporary file, then renamed),
//! so a change rewrites only the object it touched and a restart reloads everything.
//!
//! File bytes live beside it: archive sessions under `<root>/archive/<project>/arc001/<label>/`
//! (`SCANS/<scan>/<resource>/…`, `RESOURCES/<resource>/…`), prearchive sessions under
//! `<root>/prearchive/<project>/<timestamp>/<folder>/`.
//!
//! Nothing here knows HTTP or permissions.

use super::model::{Experiment, PrearcSession, Project, Site, Subject};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

/// Where the objects of one kind (subjects or experiments) stand: each ID by (project, label) in its
/// owning project and in every project it is shared into, and the IDs visible in each project.
#[derive(Debug, Default)]
struct Placement {
    by_label: HashMap<(String, String), String>,
    in_project: HashMap<String, BTreeSet<String>>,
}

impl Placement {
    /// An object's places: its owning project and label, then each share and its label.
    fn places<'a>(
        project: &'a str,
        label: &'a str,
        shares: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        std::iter::once((project, label))
            .chain(shares.iter().map(|(p, l)| (p.as_str(), l.as_str())))
    }

    fn add(&mut self, id: &str, project: &str, label: &str, shares: &BTreeMap<String, String>) {
        for (p, l) in Self::places(project, label, shares) {
            self.by_label
                .insert((p.to_string(), l.to_string()), id.to_string());
            self.in_project
                .entry(p.to_string())
                .or_default()
                .insert(id.to_string());
        }
    }

    fn remove(&mut self, id: &str, project: &str, label: &str, shares: &BTreeMap<String, String>) {
        for (p, l) in Self::places(project, label, shares) {
            self.by_label.remove(&(p.to_string(), l.to_string()));
            if let Some(set) = self.in_project.get_mut(p) {
                set.remove(id);
            }
        }
    }

    /// The ID labelled `label` in `project` (owned or shared in).
    fn id(&self, project: &str, label: &str) -> Option<&String> {
        self.by_label.get(&(project.to_string(), label.to_string()))
    }

    /// The IDs visible in `project`, in order.
    fn in_project(&self, project: &str) -> impl Iterator<Item = &String> {
        self.in_project.get(project).into_iter().flatten()
    }
}

/// The in-memory state with its indexes.
#[derive(Debug, Default)]
pub struct Store {
    root: PathBuf,
    /// Accounts and counters.
    pub site: Site,
    /// Projects by ID.
    pub projects: BTreeMap<String, Project>,
    subjects: BTreeMap<String, Subject>,
    experiments: BTreeMap<String, Experiment>,
    /// Prearchive sessions by (project, timestamp, folder).
    pub prearchive: BTreeMap<(String, String, String), PrearcSession>,
    subj_at: Placement,
    exp_at: Placement,
    exp_of_subject: HashMap<String, BTreeSet<String>>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn save_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

fn load_dir<T: DeserializeOwned>(dir: &Path) -> io::Result<Vec<T>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "json") {
            let bytes = std::fs::read(&p)?;
            let v = serde_json::from_slice(&bytes)
                .map_err(|err| io::Error::other(format!("{}: {err}", p.display())))?;
            out.push(v);
        }
    }
    Ok(out)
}

fn load_tree<T: DeserializeOwned>(dir: &Path, out: &mut Vec<T>) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let p = e?.path();
        if p.is_dir() {
            load_tree(&p, out)?;
        }
    }
    out.extend(load_dir::<T>(dir)?);
    Ok(())
}

impl Store {
    /// Loads the state under `root`, or starts an empty one.
    pub fn open(root: &Path) -> io::Result<Store> {
        std::fs::create_dir_all(root.join("meta"))?;
        let mut s = Store {
            root: root.to_path_buf(),
            ..Store::default()
        };
        let site_path = root.join("meta/site.json");
        if site_path.exists() {
            let bytes = std::fs::read(&site_path)?;
            s.site = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        } else {
            s.site.next_subject = 1;
            s.site.next_experiment = 1;
            s.site.next_resource = 1;
            s.site.next_scan = 1;
        }
        for p in load_dir::<Project>(&root.join("meta/projects"))? {
            s.projects.insert(p.id.clone(), p);
        }
        for sub in load_dir::<Subject>(&root.join("meta/subjects"))? {
            s.index_subject(&sub);
            s.subjects.insert(sub.id.clone(), sub);
        }
        for e in load_dir::<Experiment>(&root.join("meta/experiments"))? {
            s.index_experiment(&e);
            s.experiments.insert(e.id.clone(), e);
        }
        let mut pre = Vec::new();
        load_tree::<PrearcSession>(&root.join("meta/prearchive"), &mut pre)?;
        for p in pre {
            s.prearchive.insert(p.key(), p);
        }
        Ok(s)
    }

    /// The state folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks that a path is inside the state folder before it is written, deleted or read
    /// ([`super::paths::check_inside`]).
    pub fn guard(&self, path: &Path) -> io::Result<()> {
        super::paths::check_inside(&self.root, path)
    }

    /// Writes the site file (accounts, counters).
    pub fn save_site(&self) -> io::Result<()> {
        save_json(&self.root.join("meta/site.json"), &self.site)
    }

    /// Allocates a subject accession ID.
    pub fn new_subject_id(&mut self) -> String {
        let n = self.site.next_subject;
        self.site.next_subject += 1;
        format!("XNAT_S{n:05}")
    }

    /// Allocates an experiment accession ID.
    pub fn new_experiment_id(&mut self) -> String {
        let n = self.site.next_experiment;
        self.site.next_experiment += 1;
        format!("XNAT_E{n:05}")
    }

    /// Allocates a numeric resource id.
    pub fn new_resource_id(&mut self) -> u64 {
        let n = self.site.next_resource;
        self.site.next_resource += 1;
        n
    }

    /// Allocates a numeric scan key.
    pub fn new_scan_key(&mut self) -> u64 {
        let n = self.site.next_scan;
        self.site.next_scan += 1;
        n
    }

    // ----- projects -----

    /// Inserts or replaces a project and persists it.
    pub fn put_project(&mut self, p: Project) -> io::Result<()> {
        save_json(&self.root.join(format!("meta/projects/{}.json", p.id)), &p)?;
        self.projects.insert(p.id.clone(), p);
        Ok(())
    }

    // ----- subjects -----

    fn index_subject(&mut self, s: &Subject) {
        self.subj_at.add(&s.id, &s.project, &s.label, &s.shares);
    }

    fn unindex_subject(&mut self, s: &Subject) {
        self.subj_at.remove(&s.id, &s.project, &s.label, &s.shares);
    }

    /// A subject by accession ID.
    pub fn subject(&self, id: &str) -> Option<&Subject> {
        self.subjects.get(id)
    }

    /// Looks a subject up in a project: by label (primary or share label), then by accession ID owned by
    /// or shared into the project.
    pub fn find_subject(&self, project: &str, key: &str) -> Option<&Subject> {
        if let Some(id) = self.subj_at.id(project, key) {
            return self.subjects.get(id);
        }
        self.subjects
            .get(key)
            .filter(|s| s.project == project || s.shares.contains_key(project))
    }

    /// Subjects visible in a project (owned or shared in), in ID order.
    pub fn subjects_in(&self, project: &str) -> Vec<&Subject> {
        self.subj_at
            .in_project(project)
            .filter_map(|i| self.subjects.get(i))
            .collect()
    }

    /// Inserts or replaces a subject, re-indexes and persists it.
    pub fn put_subject(&mut self, s: Subject) -> io::Result<()> {
        if let Some(old) = self.subjects.remove(&s.id) {
            self.unindex_subject(&old);
        }
        save_json(&self.root.join(format!("meta/subjects/{}.json", s.id)), &s)?;
        self.index_subject(&s);
        self.subjects.insert(s.id.clone(), s);
        Ok(())
    }

    /// Removes a subject (not its experiments).
    pub fn remove_subject(&mut self, id: &str) -> io::Result<()> {
        if let Some(old) = self.subjects.remove(id) {
            self.unindex_subject(&old);
        }
        remove_file(&self.root.join(format!("meta/subjects/{id}.json")))
    }

    /// Whether a label is taken by a subject in a project (primary or share label).
    pub fn subject_label_taken(&self, project: &str, label: &str) -> bool {
        self.subj_at.id(project, label).is_some()
    }

    // ----- experiments -----

    fn index_experiment(&mut self, e: &Experiment) {
        self.exp_at.add(&e.id, &e.project, &e.label, &e.shares);
        self.exp_of_subject
            .entry(e.subject_id.clone())
            .or_default()
            .insert(e.id.clone());
    }

    fn unindex_experiment(&mut self, e: &Experiment) {
        self.exp_at.remove(&e.id, &e.project, &e.label, &e.shares);
        if let Some(set) = self.exp_of_subject.get_mut(&e.subject_id) {
            set.remove(&e.id);
        }
    }

    /// An experiment by accession ID.
    pub fn experiment(&self, id: &str) -> Option<&Experiment> {
        self.experiments.get(id)
    }

    /// Looks an experiment up in a project: by label (primary or share), then by accession ID owned by or
    /// shared into the project.
    pub fn find_experiment(&self, project: &str, key: &str) -> Option<&Experiment> {
        if let Some(id) = self.exp_at.id(project, key) {
            return self.experiments.get(id);
        }
        self.experiments
            .get(key)
            .filter(|e| e.project == project || e.shares.contains_key(project))
    }

    /// Experiments visible in a project (owned or shared in), in ID order.
    pub fn experiments_in(&self, project: &str) -> Vec<&Experiment> {
        self.exp_at
            .in_project(project)
            .filter_map(|i| self.experiments.get(i))
            .collect()
    }

    /// Experiments of a subject, in ID order.
    pub fn experiments_of(&self, subject_id: &str) -> Vec<&Experiment> {
        self.exp_of_subject
            .get(subject_id)
            .map(|ids| ids.iter().filter_map(|i| self.experiments.get(i)).collect())
            .unwrap_or_default()
    }

    /// Every experiment, in ID order.
    pub fn all_experiments(&self) -> impl Iterator<Item = &Experiment> {
        self.experiments.values()
    }

    /// Inserts or replaces an experiment, re-indexes and persists it.
    pub fn put_experiment(&mut self, e: Experiment) -> io::Result<()> {
        if let Some(old) = self.experiments.remove(&e.id) {
            self.unindex_experiment(&old);
        }
        save_json(
            &self.root.join(format!("meta/experiments/{}.json", e.id)),
            &e,
        )?;
        self.index_experiment(&e);
        self.experiments.insert(e.id.clone(), e);
        Ok(())
    }

    /// Removes an experiment's record (its files are the caller's business).
    pub fn remove_experiment(&mut self, id: &str) -> io::Result<Option<Experiment>> {
        let old = self.experiments.remove(id);
        if let Some(o) = &old {
            self.unindex_experiment(o);
        }
        remove_file(&self.root.join(format!("meta/experiments/{id}.json")))?;
        Ok(old)
    }

    /// Whether a label is taken by an experiment in a project (primary or share label).
    pub fn experiment_label_taken(&self, project: &str, label: &str) -> bool {
        self.exp_at.id(project, label).is_some()
    }

    // ----- prearchive -----

    fn prearc_meta(&self, key: &(String, String, String)) -> PathBuf {
        self.root.join(format!(
            "meta/prearchive/{}/{}/{}.json",
            key.0, key.1, key.2
        ))
    }

    /// Inserts or replaces a prearchive session and persists it.
    pub fn put_prearc(&mut self, p: PrearcSession) -> io::Result<()> {
        let key = p.key();
        save_json(&self.prearc_meta(&key), &p)?;
        self.prearchive.insert(key, p);
        Ok(())
    }

    /// Removes a prearchive session's record and its files.
    pub fn remove_prearc(&mut self, key: &(String, String, String)) -> io::Result<()> {
        if let Some(p) = self.prearchive.remove(key) {
            let dir = self.root.join(p.dir());
            self.guard(&dir)?;
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
        }
        remove_file(&self.prearc_meta(key))
    }
}

fn remove_file(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(id: &str, project: &str, label: &str) -> Subject {
        Subject {
            id: id.into(),
            project: project.into(),
            label: label.into(),
            ..Subject::default()
        }
    }

    #[test]
    fn lookups_by_label_id_and_share_survive_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let mut sub = subject("XNAT_S00001", "A", "S1");
        sub.shares.insert("B".into(), "S1B".into());
        s.put_subject(sub).unwrap();
        assert_eq!(s.find_subject("A", "S1").unwrap().id, "XNAT_S00001");
        assert_eq!(s.find_subject("B", "S1B").unwrap().id, "XNAT_S00001");
        assert_eq!(s.find_subject("B", "XNAT_S00001").unwrap().label, "S1");
        assert!(s.find_subject("C", "XNAT_S00001").is_none());
        assert!(s.find_subject("B", "S1").is_none());
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.subjects_in("B").len(), 1);
        assert!(again.subject_label_taken("B", "S1B"));
    }

    #[test]
    fn replacing_an_experiment_drops_its_old_label() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let mut e = Experiment {
            id: "XNAT_E00001".into(),
            project: "A".into(),
            subject_id: "XNAT_S00001".into(),
            label: "MR1".into(),
            ..Experiment::default()
        };
        s.put_experiment(e.clone()).unwrap();
        e.label = "MR2".into();
        s.put_experiment(e).unwrap();
        assert!(!s.experiment_label_taken("A", "MR1"));
        assert!(s.experiment_label_taken("A", "MR2"));
        assert_eq!(s.experiments_of("XNAT_S00001").len(), 1);
        s.remove_experiment("XNAT_E00001").unwrap();
        assert!(s.experiments_in("A").is_empty());
    }
}
