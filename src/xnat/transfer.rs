//! Moving data: streaming zip downloads to disk with blake3 on the way, streaming uploads to the
//! import service, archiving from the prearchive and deleting prearchive entries. Subjects, shares
//! and session deletions are in [`super::objects`].

use super::http::{Payload, Retry};
use super::{enc, Client, XnatError};
use crate::manifest::model::Destination;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A finished session download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Its size.
    pub bytes: u64,
    /// Its bytes, when they were held in memory; `None` when they are in the file.
    pub memory: Option<Vec<u8>>,
}

/// What a streamed download wrote.
pub(super) struct Streamed {
    /// Its size.
    pub bytes: u64,
    /// blake3, hex, when asked for; else empty.
    pub blake3: String,
    /// MD5, hex, when asked for.
    pub md5: Option<String>,
    /// The bytes, when they stayed in memory.
    pub memory: Option<Vec<u8>>,
}

/// The most a download held in memory allocates before its first byte arrives (its limit, when
/// smaller).
const MEMORY_RESERVE: u64 = 32 * 1024 * 1024;

/// Where a session's download goes: into memory while it is at most `limit` bytes (0: never), else
/// into the file `dest`, through `dest.part`.
#[derive(Debug, Clone, Copy)]
pub struct Landing<'a> {
    /// The file.
    pub dest: &'a Path,
    /// The most bytes held in memory.
    pub limit: u64,
}

impl<'a> Landing<'a> {
    /// Into the file `dest`, whatever the size.
    pub fn disk(dest: &'a Path) -> Landing<'a> {
        Landing::memory(dest, 0)
    }

    /// Into memory up to `limit` bytes; else into `dest`.
    pub fn memory(dest: &'a Path, limit: u64) -> Landing<'a> {
        Landing { dest, limit }
    }
}

/// What the server should do with files that exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse to touch an existing session (a new session is expected).
    None,
    /// Add to an existing session; never replace its files.
    Append,
}

impl Overwrite {
    fn param(self) -> &'static str {
        match self {
            Overwrite::None => "none",
            Overwrite::Append => "append",
        }
    }
}

/// Where an upload goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTarget {
    /// Destination project.
    pub project: String,
    /// Destination subject label.
    pub subject: String,
    /// Destination session label.
    pub session: String,
    /// Prearchive or archive.
    pub destination: Destination,
    /// What to do when the session exists.
    pub overwrite: Overwrite,
    /// Ask XNAT not to run its anonymization scripts (`prevent_anon=true`): ferry ran them already.
    pub prevent_anon: bool,
}

/// A zip to upload: a file, or bytes held in memory.
#[derive(Debug, Clone)]
pub enum ZipBody<'a> {
    /// The zip file at this path.
    File(&'a Path),
    /// The zip's bytes: these slices, one after another.
    Memory(Vec<&'a [u8]>),
}

/// Reads slices one after another, filling the caller's buffer across their ends.
struct Slices<'a> {
    slices: Vec<&'a [u8]>,
    next: usize,
}

impl Read for Slices<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let Some(s) = self.slices.get_mut(self.next) else {
                break;
            };
            let n = s.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&s[..n]);
            *s = &s[n..];
            done += n;
            if s.is_empty() {
                self.next += 1;
            }
        }
        Ok(done)
    }
}

/// What the import service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The prearchive or archive path of the upload, without `/data`.
    pub uri: String,
}

/// A reader that counts and reports bytes as they pass, and hashes them.
pub(super) struct Tap<'a, R> {
    pub(super) inner: R,
    pub(super) on_bytes: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Tap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.on_bytes)(n as u64);
        }
        Ok(n)
    }
}

pub(super) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> XnatError + 'a {
    move |source| XnatError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

impl Client {
    pub(super) fn session_path(&self, project: &str, subject: &str, session: &str) -> String {
        format!(
            "/data/projects/{}/subjects/{}/experiments/{}",
            enc(project),
            enc(subject),
            enc(session)
        )
    }

    /// Streams the zip of a session's chosen scans (all scans when `scans` is empty) to `to`: held in
    /// memory when it is at most `to.limit` bytes, else written to `to.dest` through `dest.part`,
    /// flushed to disk, then renamed, so `dest` is only ever complete. Session resources travel file
    /// by file (see `download_resource_file`), never in this zip.
    pub fn download_session(
        &self,
        project: &str,
        subject: &str,
        session: &str,
        scans: &[String],
        to: Landing<'_>,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Downloaded, XnatError> {
        let list = if scans.is_empty() {
            "ALL".to_string()
        } else {
            scans.iter().map(|s| enc(s)).collect::<Vec<_>>().join(",")
        };
        let path = format!(
            "{}/scans/{list}/files?format=zip",
            self.session_path(project, subject, session)
        );
        let what = format!("downloading session {session} of {project}");
        let d = self.download_to(&path, &what, to, false, on_bytes)?;
        Ok(Downloaded {
            bytes: d.bytes,
            memory: d.memory,
        })
    }

    /// GETs `path` to `to` (memory is used only without `hashed`). With `hashed`, the bytes are
    /// hashed with blake3 and MD5 as they pass.
    pub(super) fn download_to(
        &self,
        path: &str,
        what: &str,
        to: Landing<'_>,
        hashed: bool,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Streamed, XnatError> {
        let part = part_path(to.dest);
        let got = self.http.get(path, what, |resp| {
            let mut reader = Tap {
                inner: resp.body_mut().with_config().limit(u64::MAX).reader(),
                on_bytes: &mut *on_bytes,
            };
            if to.limit > 0 && !hashed {
                return self.read_into_memory(&mut reader, to.limit, &part, what);
            }
            let file = File::create(&part).map_err(io_err("create", &part))?;
            self.read_into_file(&mut reader, (file, 0), &part, (hashed, what))
        })?;
        if got.memory.is_none() {
            std::fs::rename(&part, to.dest).map_err(io_err("rename", to.dest))?;
        }
        Ok(got)
    }

    /// Reads a download into memory (straight into the buffer's free room, no copy on the way) while
    /// it is at most `limit` bytes; a larger one goes on into the file `part`.
    fn read_into_memory(
        &self,
        reader: &mut impl Read,
        limit: u64,
        part: &Path,
        what: &str,
    ) -> Result<Streamed, XnatError> {
        // Sized once: growing by doubling would copy the bytes and touch twice the pages.
        let mut held = Vec::with_capacity(limit.min(MEMORY_RESERVE) as usize);
        reader
            .take(limit + 1)
            .read_to_end(&mut held)
            .map_err(|e| self.http.read_error(what, &e))?;
        if held.len() as u64 <= limit {
            return Ok(Streamed {
                bytes: held.len() as u64,
                blake3: String::new(),
                md5: None,
                memory: Some(held),
            });
        }
        // Larger than expected: what is held goes to the file, and the rest follows it.
        let mut file = File::create(part).map_err(io_err("create", part))?;
        file.write_all(&held).map_err(io_err("write", part))?;
        self.read_into_file(reader, (file, held.len() as u64), part, (false, what))
    }

    /// Reads the rest of a download into `file`, which holds its first `already` bytes, hashing what
    /// it reads when `hashed`; flushed to disk at the end.
    fn read_into_file(
        &self,
        reader: &mut impl Read,
        (mut file, already): (File, u64),
        part: &Path,
        (hashed, what): (bool, &str),
    ) -> Result<Streamed, XnatError> {
        let mut b3 = hashed.then(blake3::Hasher::new);
        let mut m5 = hashed.then(<md5::Md5 as md5::Digest>::new);
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = already;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| self.http.read_error(what, &e))?;
            if n == 0 {
                break;
            }
            if let Some(h) = b3.as_mut() {
                h.update(&buf[..n]);
            }
            if let Some(m) = m5.as_mut() {
                md5::Digest::update(m, &buf[..n]);
            }
            file.write_all(&buf[..n]).map_err(io_err("write", part))?;
            total += n as u64;
        }
        file.sync_all().map_err(io_err("write", part))?;
        Ok(Streamed {
            bytes: total,
            blake3: b3
                .map(|h| h.finalize().to_hex().to_string())
                .unwrap_or_default(),
            md5: m5.map(|m| crate::digest::hex(&md5::Digest::finalize(m))),
            memory: None,
        })
    }

    /// Streams a zip of DICOM files to the import service under the target's project, subject and
    /// session. Not retried: a failed import must be checked against the server before trying again.
    /// With `prevent_anon`, ferry has already applied the destination's anonymization scripts and
    /// XNAT stores exactly what ferry verified.
    pub fn import_zip(
        &self,
        zip: ZipBody<'_>,
        target: &ImportTarget,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<ImportOutcome, XnatError> {
        let (mut body, len): (Box<dyn Read>, u64) = match zip {
            ZipBody::File(path) => {
                let file = File::open(path).map_err(io_err("open", path))?;
                let len = file.metadata().map_err(io_err("read", path))?.len();
                (Box::new(file), len)
            }
            ZipBody::Memory(slices) => {
                let len = slices.iter().map(|s| s.len() as u64).sum();
                (Box::new(Slices { slices, next: 0 }), len)
            }
        };
        let dest = match target.destination {
            Destination::Prearchive => "/prearchive",
            Destination::Archive => "/archive",
        };
        let path = format!(
            "/data/services/import?import-handler=DICOM-zip&inbody=true&PROJECT_ID={}&SUBJECT_ID={}&EXPT_LABEL={}&dest={dest}&overwrite={}{}&format=txt",
            enc(&target.project),
            enc(&target.subject),
            enc(&target.session),
            target.overwrite.param(),
            if target.prevent_anon {
                "&prevent_anon=true"
            } else {
                ""
            }
        );
        let what = format!(
            "uploading session {} into project {}",
            target.session, target.project
        );
        let mut tap = Tap {
            inner: &mut body,
            on_bytes,
        };
        let text = self.http.exchange(
            "POST",
            &path,
            &what,
            Retry::Once,
            Payload::Stream(&mut tap, "application/zip", len),
            |resp| {
                resp.body_mut()
                    .with_config()
                    .limit(1024 * 1024)
                    .read_to_string()
                    .map_err(|e| self.http.read_error(&what, &e))
            },
        )?;
        let uri = text
            .lines()
            .map(str::trim)
            .find(|l| {
                l.contains("/prearchive/") || l.contains("/archive/") || l.contains("/experiments/")
            })
            .ok_or_else(|| XnatError::BadResponse {
                server: self.name().to_string(),
                what: what.clone(),
                detail: "the import service named no session".into(),
            })?;
        Ok(ImportOutcome {
            uri: uri.strip_prefix("/data").unwrap_or(uri).to_string(),
        })
    }

    /// Archives a prearchive session under the given labels.
    pub fn archive(
        &self,
        prearchive_uri: &str,
        project: &str,
        subject: &str,
        session: &str,
        overwrite: Overwrite,
    ) -> Result<String, XnatError> {
        let src = prearchive_uri
            .strip_prefix("/data")
            .unwrap_or(prearchive_uri);
        let path = format!(
            "/data/services/archive?src={}&project={}&subject={}&session={}&overwrite={}&format=txt",
            enc(src),
            enc(project),
            enc(subject),
            enc(session),
            overwrite.param()
        );
        let text = self.http.send(
            "POST",
            &path,
            &format!("archiving {src} as {project}/{subject}/{session}"),
            Retry::Once,
        )?;
        let uri = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        Ok(uri.strip_prefix("/data").unwrap_or(uri).to_string())
    }

    /// Deletes a prearchive entry (`/prearchive/projects/P/TS/NAME`) with its files; an entry that is
    /// gone already is not an error.
    pub fn delete_prearchive(&self, uri: &str) -> Result<(), XnatError> {
        let path = uri.strip_prefix("/data").unwrap_or(uri);
        match self.http.send(
            "DELETE",
            &format!("/data{path}"),
            &format!("deleting prearchive entry {path}"),
            Retry::Idempotent,
        ) {
            Ok(_) | Err(XnatError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
