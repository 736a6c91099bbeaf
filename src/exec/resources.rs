//! Session resources (non-DICOM folders selected with `select.resources`), copied file by file:
//! staged from the source with MD5 and blake3, attached to the archived destination session without
//! ever replacing a file that is there, and verified against the destination's listing.

use super::pool::StepFailure;
use super::steps::{folder_name, io, landing, local, xnat};
use super::verify::Problem;
use crate::model::inventory::FileEntry;
use crate::xnat::{Client, ResourceRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A session on a server.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Project ID.
    pub project: &'a str,
    /// Subject label.
    pub subject: &'a str,
    /// Session label.
    pub session: &'a str,
}

impl<'a> Place<'a> {
    fn resource(self, label: &'a str) -> ResourceRef<'a> {
        ResourceRef {
            project: self.project,
            subject: self.subject,
            session: self.session,
            label,
        }
    }
}

/// One resource file in the staging folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    /// Resource label.
    pub label: String,
    /// Path inside the resource.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5, hex (what XNAT lists as the digest).
    pub md5: String,
    /// blake3, hex.
    pub blake3: String,
}

const LIST: &str = "resources.json";

fn local_path(dir: &Path, f: &StagedFile) -> PathBuf {
    // The label becomes a safe folder name; the path was checked when the listing was read.
    let mut p = dir.join("res").join(folder_name(&f.label));
    for part in f.path.split('/') {
        p.push(part);
    }
    p
}

/// The destination's listings of the resources a session's staged files belong to, read once each.
struct Listings<'c> {
    client: &'c Client,
    place: Place<'c>,
    read: BTreeMap<String, BTreeMap<String, FileEntry>>,
}

impl<'c> Listings<'c> {
    fn new(client: &'c Client, place: Place<'c>) -> Self {
        Listings {
            client,
            place,
            read: BTreeMap::new(),
        }
    }

    /// The destination's entry for a staged file, if it has one.
    fn get(&mut self, f: &StagedFile) -> Result<Option<&FileEntry>, StepFailure> {
        if !self.read.contains_key(&f.label) {
            let listed = self
                .client
                .resource_files(self.place.resource(&f.label))
                .map_err(xnat)?;
            let by_path = listed.into_iter().map(|e| (e.name.clone(), e)).collect();
            self.read.insert(f.label.clone(), by_path);
        }
        Ok(self.read[&f.label].get(&f.path))
    }

    /// Forgets a resource's listing, so the next `get` reads it again.
    fn forget(&mut self, label: &str) {
        self.read.remove(label);
    }
}

/// Uploads one staged file exactly once: after a lost answer, the destination's listing says whether
/// it arrived (same size and MD5: done) before the upload is sent again.
fn upload_once(
    there: &mut Listings<'_>,
    dest: Place<'_>,
    f: &StagedFile,
    dir: &Path,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<(), StepFailure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = there.client.upload_resource_file(
            dest.resource(&f.label),
            &f.path,
            &local_path(dir, f),
            on_bytes,
        );
        match sent {
            Ok(()) => return Ok(()),
            Err(e) if landing::may_have_landed(&e) && attempt < landing::ATTEMPTS => {
                std::thread::sleep(landing::pause(attempt));
                there.forget(&f.label);
                if there.get(f)?.is_some_and(|e| same(e, f)) {
                    return Ok(());
                }
            }
            Err(e) => return Err(xnat(e)),
        }
    }
}

fn same(e: &FileEntry, f: &StagedFile) -> bool {
    e.size == f.size && e.digest.as_ref().is_none_or(|d| *d == f.md5)
}

/// The staged files of a session's selected resources: read from the staging folder when they are
/// all there with their sizes, else fetched from the source again.
pub fn stage(
    client: &Client,
    src: Place<'_>,
    labels: &[String],
    dir: &Path,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Vec<StagedFile>, StepFailure> {
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let list = dir.join(LIST);
    if let Some(files) = std::fs::read(&list)
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<StagedFile>>(&b).ok())
    {
        let intact = files
            .iter()
            .all(|f| std::fs::metadata(local_path(dir, f)).is_ok_and(|m| m.len() == f.size));
        if intact {
            return Ok(files);
        }
    }
    let mut staged = Vec::new();
    for label in labels {
        let listed = client.resource_files(src.resource(label)).map_err(xnat)?;
        for f in listed {
            let mut s = StagedFile {
                label: label.clone(),
                path: f.name.clone(),
                size: f.size,
                md5: String::new(),
                blake3: String::new(),
            };
            let dest = local_path(dir, &s);
            let got = client
                .download_resource_file(src.resource(label), &f.name, &dest, on_bytes)
                .map_err(xnat)?;
            if got.bytes != f.size || f.digest.as_ref().is_some_and(|d| *d != got.md5) {
                return Err(local(format!(
                    "{}: resource file {label}/{} arrived with {} bytes (MD5 {}), the server lists {} bytes (MD5 {}); the download is not trusted",
                    src.session,
                    f.name,
                    got.bytes,
                    got.md5,
                    f.size,
                    f.digest.as_deref().unwrap_or("none")
                )));
            }
            s.md5 = got.md5;
            s.blake3 = got.blake3;
            staged.push(s);
        }
    }
    let bytes = serde_json::to_vec_pretty(&staged).map_err(local)?;
    let tmp = dir.join(format!("{LIST}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| io("write", &tmp, e))?;
    std::fs::rename(&tmp, &list).map_err(|e| io("write", &list, e))?;
    Ok(staged)
}

/// Uploads the staged files the destination session lacks. A file that is there with the same size
/// and digest counts as done (a resumed run); one with other content stops the session: ferry never
/// overwrites. Returns how many files were uploaded.
pub fn attach(
    client: &Client,
    dest: Place<'_>,
    staged: &[StagedFile],
    dir: &Path,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<usize, StepFailure> {
    let mut uploaded = 0;
    let mut there = Listings::new(client, dest);
    for f in staged {
        match there.get(f)? {
            Some(e) if same(e, f) => {}
            Some(_) => {
                return Err(local(format!(
                    "{}/{}: resource file {}/{} is already there with other content; ferry never overwrites it",
                    dest.project, dest.session, f.label, f.path
                )))
            }
            None => {
                upload_once(&mut there, dest, f, dir, on_bytes)?;
                uploaded += 1;
            }
        }
    }
    Ok(uploaded)
}

/// Compares the destination's resource files with the staged ones: every file there, with the same
/// size and MD5. Where the server lists no digest, the file is read back and its blake3 compared.
pub fn check(
    client: &Client,
    dest: Place<'_>,
    staged: &[StagedFile],
    dir: &Path,
) -> Result<Vec<Problem>, StepFailure> {
    let mut problems = Vec::new();
    let mut there = Listings::new(client, dest);
    for f in staged {
        let problem = |why: String| Problem::Resource {
            label: f.label.clone(),
            path: f.path.clone(),
            why,
        };
        match there.get(f)? {
            None => problems.push(problem("missing".into())),
            Some(e) if e.size != f.size => {
                problems.push(problem(format!("{} bytes, expected {}", e.size, f.size)))
            }
            Some(FileEntry {
                digest: Some(d), ..
            }) => {
                if *d != f.md5 {
                    problems.push(problem(format!("MD5 {d}, expected {}", f.md5)));
                }
            }
            Some(_) => {
                let back = dir.join("resource.readback");
                let got = client
                    .download_resource_file(dest.resource(&f.label), &f.path, &back, &mut |_| {})
                    .map_err(xnat)?;
                let _ = std::fs::remove_file(&back);
                if got.blake3 != f.blake3 {
                    problems.push(problem("content differs (blake3)".into()));
                }
            }
        }
    }
    Ok(problems)
}
