//! Figure 5: peak memory of `ferry apply` against the size of one file. Two sources, each with one
//! session holding one synthetic multi-frame MR file (a small one and one of several hundred MB, made
//! in the work folder as they are generated, never held whole), are copied into a fresh destination
//! per sample, the sides interleaved. The peak RSS of each `ferry apply` process is its VmHWM, read
//! from `/proc/PID/status` every 10 ms while it runs (the high-water mark only grows, so the last
//! reading is the peak up to 10 ms before the process exited). Memory is flat when the large file's
//! median is at most the small file's plus [`MARGIN`] MB.

use super::procs::{self, SimProc};
use super::stats::{interleave, Samples};
use super::{fail, server, Link, ROUNDS, SRC_PROJECT};
use crate::cli::Failure;
use crate::dicom::synth::{self, Spec};
use crate::manifest::model::Destination;
use crate::plan::human_bytes;
use crate::xnat::{Client, ClientOptions, ImportTarget, Overwrite, ZipBody};
use std::cell::Cell;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How much more (MB) the large file's peak RSS may be than the small file's for memory to count as
/// flat: a tenth of the smallest large file the figure uses (200 MB), far below what holding it would
/// take.
pub const MARGIN: f64 = 20.0;
/// Rows and columns of every frame: 512 kB per frame.
const FRAME_SIZE: u16 = 512;
/// The subject and session every source holds.
const SUBJECT: &str = "LARGE";
const SESSION: &str = "LARGE_MR";
/// The emulator every sample copies into, as in the other figures.
const DST_SEED: &str = "demo:subjects=1,files=1,size=8";

/// The sizes (in MB) of the small and the large file.
pub fn sizes(quick: bool) -> (u64, u64) {
    if quick {
        (4, 200)
    } else {
        (4, 400)
    }
}

/// A multi-frame file of about `mb` MB, zipped (stored) into `zip` as it is generated.
fn make_zip(zip: &Path, mb: u64) -> Result<u64, String> {
    let mut spec = Spec::new(mb);
    spec.size = FRAME_SIZE;
    let frame = synth::pixel_bytes(&spec);
    spec.frames = u32::try_from((mb * 1_000_000).div_ceil(frame)).map_err(|e| e.to_string())?;
    spec.sop_uid = format!("{}.{mb}", spec.series_uid);
    let file = std::fs::File::create(zip).map_err(|e| e.to_string())?;
    let mut w = zip::ZipWriter::new(BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    w.start_file("large.dcm", options)
        .map_err(|e| e.to_string())?;
    let bytes = synth::write(&spec, &mut w).map_err(|e| e.to_string())?;
    w.finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A source emulator whose PILOT holds one session with one file of about `mb` MB; the file's size.
fn source(dir: &Path, mb: u64) -> Result<(SimProc, u64), Failure> {
    let sim = SimProc::start(
        dir,
        &format!("large-source-{mb}"),
        DST_SEED,
        Link::default(),
    )?;
    let zip = dir.join(format!("large-{mb}.zip"));
    let bytes = make_zip(&zip, mb).map_err(fail)?;
    let client =
        Client::connect("source", &server(&sim.url), ClientOptions::default()).map_err(fail)?;
    let target = ImportTarget {
        project: SRC_PROJECT.into(),
        subject: SUBJECT.into(),
        session: SESSION.into(),
        destination: Destination::Archive,
        overwrite: Overwrite::None,
        prevent_anon: true,
    };
    let imported = client.import_zip(ZipBody::File(&zip), &target, &mut |_| {});
    let _ = std::fs::remove_file(&zip);
    imported.map_err(fail)?;
    client.logout();
    Ok((sim, bytes))
}

/// The manifest of the figure: the one session, relabelled, headers rewritten, verified in full.
fn manifest(src: &str, dst: &str) -> String {
    let selection = format!(
        "    select: {{ subjects: [\"{SUBJECT}\"] }}\n    map: {{ subject: \"B_{SUBJECT}\", session: \"B_{SESSION}\" }}\n"
    );
    super::copy_manifest(src, dst, "large", &selection, "")
}

/// One sample: plans and applies the copy from `src` into a fresh destination; the peak RSS of
/// `ferry apply` in MB.
fn sample(dir: &Path, src: &SimProc, n: &Cell<usize>) -> Result<f64, String> {
    let text = |f: Failure| f.render().trim().to_string();
    let dst = SimProc::start(dir, "large-destination", DST_SEED, Link::default()).map_err(text)?;
    n.set(n.get() + 1);
    let n = n.get();
    let m: PathBuf = dir.join(format!("large-{n}.yaml"));
    std::fs::write(&m, manifest(&src.url, &dst.url)).map_err(|e| e.to_string())?;
    let p = dir.join(format!("large-{n}.plan.yaml"));
    procs::plan(&m, &p)?;
    let ran = procs::apply(&p, super::figures::JOBS)?;
    dst.stop().map_err(text)?;
    Ok(ran.peak_rss as f64 / 1e6)
}

/// Whether the large file's median peak is within [`MARGIN`] of the small file's, in words.
pub fn flat(small: &Samples, large: &Samples) -> &'static str {
    match (small.median(), large.median()) {
        (Some(s), Some(l)) if l <= s + MARGIN => "met",
        (Some(_), Some(_)) => "NOT met",
        _ => "not measured",
    }
}

/// Runs and prints figure 5.
pub fn run(dir: &Path, quick: bool) -> Result<(), Failure> {
    let (small_mb, large_mb) = sizes(quick);
    let (small_src, small_bytes) = source(dir, small_mb)?;
    let (large_src, large_bytes) = source(dir, large_mb)?;
    let n = Cell::new(0);
    let mut small = || sample(dir, &small_src, &n);
    let mut large = || sample(dir, &large_src, &n);
    let s = interleave(ROUNDS, &mut [&mut small, &mut large]);
    small_src.stop()?;
    large_src.stop()?;
    let growth = s[0]
        .median()
        .zip(s[1].median())
        .map(|(a, b)| format!("{:+.1} MB", b - a))
        .unwrap_or_else(|| "n/a".into());
    println!(
        "5. peak RSS of ferry apply (VmHWM), one session of one multi-frame file: {} file {}, {} file {}; large - small = {growth} (flat, goal <= +{MARGIN} MB: {})",
        human_bytes(small_bytes),
        s[0].show(1, " MB"),
        human_bytes(large_bytes),
        s[1].show(1, " MB"),
        flat(&s[0], &s[1])
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_flat_only_within_the_margin() {
        let small = Samples::of(&[30.0, 31.0, 29.0]);
        assert_eq!(flat(&small, &Samples::of(&[40.0, 50.0, 62.0])), "met");
        assert_eq!(flat(&small, &Samples::of(&[70.0, 52.0, 53.0])), "NOT met");
        let mut failed = Samples::default();
        failed.push(Err("apply failed".into()));
        assert_eq!(flat(&small, &failed), "not measured");
    }

    #[test]
    fn the_large_file_is_made_as_it_streams_and_reads_as_one_multi_frame_image() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("l.zip");
        let bytes = make_zip(&zip, 2).unwrap();
        assert!((2_000_000..2_700_000).contains(&bytes), "{bytes}");
        let mut z = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        let mut e = z.by_index(0).unwrap();
        assert_eq!(e.size(), bytes);
        let mut f = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut f).unwrap();
        let h = crate::dicom::read_header_bytes(&f).unwrap();
        assert_eq!(h.keywords["NumberOfFrames"], "4");
        assert!(crate::dicom::pixel_hash(&f).unwrap().is_some());
    }
}
