//! The plain copy a benchmark compares ferry with (`ferry bench --plain-copy FROM TO --jobs N`, run
//! by the driver as its own process): list the source project, then for each session download the
//! selected scans as one zip and upload it through the import service, `jobs` sessions at a time.
//! No header rewrite, no verification, no journal. It selects what the bench manifest selects
//! (every scan whose type does not start with `localizer`) and counts bytes as ferry's plan does:
//! the sizes of the selected scans' files as the source lists them.

use super::{fail, server, DST_PROJECT, SRC_PROJECT};
use crate::cli::Failure;
use crate::exec::stash::zip_allowance;
use crate::manifest::model::Destination;
use crate::xnat::{
    Client, ClientOptions, ImportOutcome, ImportTarget, InventoryOptions, Landing, NoProgress,
    Overwrite, XnatError, ZipBody,
};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One session to copy: subject label, session label, scan IDs, and how large its zip may be to be
/// held in memory (ferry's own rule, [`zip_allowance`]).
type Work = (String, String, Vec<String>, u64);

/// Whether the bench manifest selects a scan of this type (it excludes `localizer*`).
pub fn selected(scan_type: &str) -> bool {
    !scan_type.starts_with("localizer")
}

/// Copies PILOT on `from` into MAIN on `to`; prints `bytes=N sessions=S seconds=T`.
pub fn run(from: &str, to: &str, jobs: usize, dir: &Path) -> Result<(), Failure> {
    // The allocator as `ferry apply` tunes it.
    crate::cli::apply::tune_malloc();
    let t = Instant::now();
    let opts = ClientOptions {
        max_in_flight: jobs.max(1),
        ..ClientOptions::default()
    };
    let src = Client::connect("source", &server(from), opts.clone()).map_err(fail)?;
    let dst = Client::connect("destination", &server(to), opts).map_err(fail)?;
    let (bytes, work) = list_work(&src)?;
    let errors = copy_sessions((&src, &dst), &work, jobs, dir);
    if let Some(e) = errors.first() {
        return Err(fail(e));
    }
    src.logout();
    dst.logout();
    println!(
        "bytes={bytes} sessions={} seconds={:.3}",
        work.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Lists the source project and returns the bytes of its selected scans and the sessions that have
/// any.
fn list_work(src: &Client) -> Result<(u64, Vec<Work>), Failure> {
    let inv = src
        .inventory(
            SRC_PROJECT,
            &InventoryOptions { headers: false },
            &NoProgress,
        )
        .map_err(fail)?;
    let mut bytes = 0u64;
    let mut work: Vec<Work> = Vec::new();
    for (subject, session) in inv.sessions() {
        let scans: Vec<_> = session
            .scans
            .values()
            .filter(|s| selected(&s.scan_type))
            .collect();
        let files: Vec<u64> = scans
            .iter()
            .flat_map(|s| s.resources.values())
            .flat_map(|r| r.files.values())
            .map(|f| f.size)
            .collect();
        let size = files.iter().sum::<u64>();
        bytes += size;
        if !scans.is_empty() {
            let ids = scans.iter().map(|s| s.id.clone()).collect();
            let memory = zip_allowance(files.len() as u64, size);
            work.push((subject.label.clone(), session.label.clone(), ids, memory));
        }
    }
    Ok((bytes, work))
}

/// Copies every session of `work`, `jobs` at a time, from the source to the destination (the two
/// clients in that order); returns the errors met, in no particular order.
fn copy_sessions(
    (src, dst): (&Client, &Client),
    work: &[Work],
    jobs: usize,
    dir: &Path,
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..jobs.max(1) {
            let (next, errors) = (&next, &errors);
            scope.spawn(move || {
                while let Some(one) = work.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let zip = dir.join(format!("plain-{w}.zip"));
                    let r = copy_session((src, dst), one, &zip);
                    let _ = std::fs::remove_file(&zip);
                    if let Err(e) = r {
                        errors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(e.to_string());
                    }
                }
            });
        }
    });
    errors.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Downloads one session's selected scans as a zip (in memory when it fits, else at `zip`) and
/// imports it into the destination project's archive as `R_<subject>` / `R_<session>`.
fn copy_session(
    (src, dst): (&Client, &Client),
    (subject, session, scans, memory): &Work,
    zip: &Path,
) -> Result<ImportOutcome, XnatError> {
    let d = src.download_session(
        SRC_PROJECT,
        subject,
        session,
        scans,
        Landing::memory(zip, *memory),
        &mut |_| {},
    )?;
    let target = ImportTarget {
        project: DST_PROJECT.into(),
        subject: format!("R_{subject}"),
        session: format!("R_{session}"),
        destination: Destination::Archive,
        overwrite: Overwrite::None,
        prevent_anon: true,
    };
    let body = match &d.memory {
        Some(bytes) => ZipBody::Memory(vec![bytes]),
        None => ZipBody::File(zip),
    };
    dst.import_zip(body, &target, &mut |_| {})
}
