//! The plain inventory the planning figure compares ferry with (`ferry bench --plain-inventory URL
//! --jobs N`, run by the driver as its own process). It lists the source project's sessions, then
//! reads for each session what a plan needs the way a plain client does, and the way ferry did before
//! it read the experiment item for everything: the item (owner and shares), the scan listing (type,
//! quality, note), every scan's files (names, sizes, digests), the session resources and each one's
//! files, and the session's first DICOM file; `jobs` sessions at a time. It prints
//! `sessions=N requests=M seconds=T` (the requests it sent itself, login included).

use super::{fail, server, SRC_PROJECT};
use crate::cli::Failure;
use crate::xnat::{Client, ClientOptions, XnatError};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

fn rows(v: &Value) -> &[Value] {
    v["ResultSet"]["Result"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or("")
}

/// A client that counts what it sends.
struct Counted {
    client: Client,
    sent: AtomicU64,
}

impl Counted {
    fn json(&self, path: &str) -> Result<Value, XnatError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.client.get_json(path, path)
    }
}

/// Reads one session the plain way; the number of files it found.
fn session(c: &Counted, id: &str) -> Result<usize, XnatError> {
    let base = format!("/data/experiments/{id}");
    c.json(&format!("{base}?format=json"))?;
    c.json(&format!("{base}/scans?format=json"))?;
    let scan_files = c.json(&format!("{base}/scans/ALL/files?format=json"))?;
    let mut files = rows(&scan_files).len();
    let resources = c.json(&format!("{base}/resources?format=json"))?;
    for r in rows(&resources) {
        let label = text(r, "label");
        let label = crate::xnat::enc(label);
        files += rows(&c.json(&format!("{base}/resources/{label}/files?format=json"))?).len();
    }
    // The first DICOM file of the lowest scan, as a plan's header read would pick it.
    let first = rows(&scan_files)
        .iter()
        .filter(|r| text(r, "collection") == "DICOM")
        .min_by_key(|r| {
            let uri = text(r, "URI");
            let scan = uri
                .split("/scans/")
                .nth(1)
                .and_then(|s| s.split('/').next());
            (scan.and_then(|s| s.parse::<u64>().ok()), text(r, "Name"))
        });
    if let Some(r) = first {
        c.sent.fetch_add(1, Ordering::Relaxed);
        c.client
            .get_bytes(text(r, "URI"), "reading the first DICOM file")?;
    }
    Ok(files)
}

/// Reads every session of the source project on `url`, `jobs` at a time.
pub fn run(url: &str, jobs: usize) -> Result<(), Failure> {
    let t = Instant::now();
    let opts = ClientOptions {
        max_in_flight: jobs.max(1),
        ..ClientOptions::default()
    };
    let c = Counted {
        client: Client::connect("source", &server(url), opts).map_err(fail)?,
        sent: AtomicU64::new(1),
    };
    c.json(&format!("/data/projects/{SRC_PROJECT}?format=json"))
        .map_err(fail)?;
    c.json(&format!(
        "/data/projects/{SRC_PROJECT}/subjects?format=json"
    ))
    .map_err(fail)?;
    let listing = c
        .json(&format!(
            "/data/projects/{SRC_PROJECT}/experiments?format=json&columns=ID,label,xsiType,subject_label"
        ))
        .map_err(fail)?;
    let ids: Vec<&str> = rows(&listing)
        .iter()
        .filter(|r| text(r, "xsiType").ends_with("SessionData"))
        .map(|r| text(r, "ID"))
        .collect();
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<XnatError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while let Some(id) = ids.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if let Err(e) = session(&c, id) {
                        failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(fail(e));
    }
    c.client.logout();
    println!(
        "sessions={} requests={} seconds={:.3}",
        ids.len(),
        c.sent.load(Ordering::Relaxed) + 1,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
