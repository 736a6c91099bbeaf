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
    Client, ClientOptions, ImportTarget, InventoryOptions, NoProgress, Overwrite, ZipBody,
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
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..jobs.max(1) {
            let (src, dst, work, next, errors) = (&src, &dst, &work, &next, &errors);
            scope.spawn(move || {
                while let Some((subject, session, scans, memory)) =
                    work.get(next.fetch_add(1, Ordering::SeqCst))
                {
                    let zip = dir.join(format!("plain-{w}.zip"));
                    let r = src
                        .download_session(
                            SRC_PROJECT,
                            subject,
                            session,
                            scans,
                            (&zip, *memory),
                            &mut |_| {},
                        )
                        .and_then(|d| {
                            let target = ImportTarget {
                                project: DST_PROJECT.into(),
                                subject: format!("R_{subject}"),
                                session: format!("R_{session}"),
                                destination: Destination::Archive,
                                overwrite: Overwrite::None,
                                prevent_anon: true,
                            };
                            let body = match &d.memory {
                                Some(bytes) => ZipBody::Memory(bytes),
                                None => ZipBody::File(&zip),
                            };
                            dst.import_zip(body, &target, &mut |_| {})
                        });
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
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
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
