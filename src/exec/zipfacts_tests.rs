//! Tests of the streamed file work: every streamed result (rewritten bytes, hashes, facts, errors)
//! equals what the whole-file code computes from the file in memory, for files of every kind, read
//! in chunks of every size (headers straddling chunk boundaries, files smaller than one chunk).

use super::*;
use crate::dicom::synth::{self, Spec};
use crate::dicom::HeadError;
use crate::exec::entries::{each_entry_with, Entry};
use crate::exec::localanon::LocalScripts;
use std::io::{Cursor, Read};

/// A reader that hands out at most `n` bytes per read, as a zip decoder or a network may.
struct Trickle<R> {
    inner: R,
    n: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.n);
        self.inner.read(&mut buf[..n])
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    crate::digest::hex(&md5::Md5::digest(bytes))
}

/// The facts of a file as ferry computed them before streaming: from the whole file in memory.
/// `rewritten`: the facts of a rewrite (with the MD5, without the whole file's blake3), else of a
/// file read back (the other way round).
fn whole_facts(
    name: &str,
    bytes: &[u8],
    h: &dicom::Header,
    set: &BTreeMap<String, String>,
    rewritten: bool,
) -> Result<FileFacts, dicom::DicomError> {
    Ok(FileFacts {
        name: name.to_string(),
        size: bytes.len() as u64,
        pixel_hash: match dicom::pixel_hash(bytes)? {
            Some(h) => h,
            None => format!(
                "{CONTENT}{}",
                dicom::content_hash(bytes, &set.keys().cloned().collect())?
            ),
        },
        file_hash: if rewritten {
            String::new()
        } else {
            dicom::file_hash(bytes)
        },
        md5: if rewritten {
            md5_hex(bytes)
        } else {
            String::new()
        },
        // The plain rules of these tests key fingerprints with zeros.
        header: crate::exec::verify::elements::header_hash(&dicom::Parsed::read(bytes)?, &[0; 32])?,
        set_fields: set
            .keys()
            .map(|k| (k.clone(), h.keywords.get(k).cloned().unwrap_or_default()))
            .collect(),
    })
}

/// The rewrite as ferry did it before streaming, on the whole file: the new file and its facts, or
/// `None` for a file that is not DICOM.
fn whole_rewrite(bytes: &[u8], rules: &FileRules) -> Result<Option<(Vec<u8>, FileFacts)>, String> {
    if dicom::read_header_bytes(bytes).is_err() {
        return Ok(None);
    }
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let profiled = rules.profile.as_ref().is_some_and(|p| p.is_active());
    let active = !rules.set.is_empty() || profiled;
    let new = if rules.scripts.is_empty() && active {
        dicom::rewrite_with(bytes, rules.profile.as_ref(), &rules.set).map_err(|x| e(&x))?
    } else if rules.scripts.is_empty() {
        bytes.to_vec()
    } else {
        let b = if profiled {
            dicom::rewrite_with(bytes, rules.profile.as_ref(), &BTreeMap::new())
                .map_err(|x| e(&x))?
        } else {
            bytes.to_vec()
        };
        let b = rules.scripts.apply(b).map_err(|x| e(&x))?;
        if rules.set.is_empty() {
            b
        } else {
            dicom::rewrite_with(&b, None, &rules.set).map_err(|x| e(&x))?
        }
    };
    let h = dicom::read_header_bytes(&new).map_err(|x| e(&x))?;
    let f = whole_facts("e.dcm", &new, &h, &rules.set, true).map_err(|x| e(&x))?;
    Ok(Some((new, f)))
}

fn start<'a>(r: &'a mut dyn Read, chunk: usize) -> Entry<'a> {
    match Entry::start("e.dcm", Path::new("t.zip"), r, chunk, MAX_HEADER_BYTES) {
        Ok(e) => e,
        Err(e) => panic!("the head of the entry: {e:?}"),
    }
}

/// The streamed rewrite of one entry read in `chunk`-byte steps from a reader that hands out
/// `trickle` bytes at a time.
fn streamed_rewrite(
    bytes: &[u8],
    rules: &FileRules,
    chunk: usize,
    trickle: usize,
) -> Result<Option<(Vec<u8>, FileFacts)>, String> {
    let mut r = Trickle {
        inner: Cursor::new(bytes),
        n: trickle,
    };
    let mut e = start(&mut r, chunk);
    let Some(new) = new_header(&e, rules).map_err(|x| x.to_string())? else {
        return Ok(None);
    };
    let mut out = new.bytes.clone();
    let take = Take {
        md5: true,
        file: false,
        pixels: true,
    };
    let s = stream_rest(&mut e, &new.bytes, take, |c| {
        out.extend_from_slice(c);
        Ok(())
    })
    .map_err(|x| x.to_string())?;
    let header = crate::exec::verify::elements::check_rewrite(
        new.source.as_ref(),
        &new.after,
        rules,
        "e.dcm",
    )
    .map_err(|x| x.to_string())?;
    let f = facts_of("e.dcm", &new.bytes, &new.parsed, &rules.set, s, header)
        .map_err(|x| x.to_string())?;
    Ok(Some((out, f)))
}

/// The element (FFFC,FFFC) Data Set Trailing Padding, explicit VR little endian, of `n` bytes.
fn trailing_padding(n: u32) -> Vec<u8> {
    let mut b = vec![0xFC, 0xFF, 0xFC, 0xFF, b'O', b'B', 0, 0];
    b.extend_from_slice(&n.to_le_bytes());
    b.extend(std::iter::repeat_n(0x5A, n as usize));
    b
}

/// Where PixelData starts in a synthetic file (the tag's bytes in either byte order).
fn pixel_at(f: &[u8]) -> usize {
    f.windows(4)
        .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00] || w == [0x7F, 0xE0, 0x00, 0x10])
        .unwrap()
}

/// Files of every kind the streamed code meets.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let spec = |seed: u64, ts: &str, size: u16, frames: u32| {
        let mut s = Spec::new(seed);
        s.transfer_syntax = ts.into();
        s.size = size;
        s.frames = frames;
        s
    };
    let explicit = synth::file(&spec(1, synth::EXPLICIT_LE, 16, 1));
    let mut after = explicit.clone();
    after.extend(trailing_padding(10));
    let mut encapsulated_after = synth::file(&spec(6, synth::RLE_LOSSLESS, 8, 2));
    encapsulated_after.extend(trailing_padding(4));
    let mut long = spec(7, synth::EXPLICIT_LE, 24, 2);
    long.text.insert("ImageComments".into(), "x".repeat(9000));
    let no_pixels = explicit[..pixel_at(&explicit)].to_vec();
    vec![
        ("explicit VR little endian", explicit),
        (
            "implicit VR little endian",
            synth::file(&spec(2, synth::IMPLICIT_LE, 16, 1)),
        ),
        (
            "explicit VR big endian",
            synth::file(&spec(3, synth::EXPLICIT_BE, 16, 1)),
        ),
        (
            "multi-frame",
            synth::file(&spec(4, synth::EXPLICIT_LE, 32, 6)),
        ),
        (
            "encapsulated pixel data",
            synth::file(&spec(5, synth::RLE_LOSSLESS, 16, 3)),
        ),
        ("encapsulated, data after it", encapsulated_after),
        ("data after PixelData", after),
        ("a header of 9 kB", synth::file(&long)),
        ("no pixel data", no_pixels),
        ("not DICOM", b"%PDF-1.4 not a DICOM file".repeat(50)),
    ]
}

fn vars() -> crate::dicomedit::Vars {
    crate::dicomedit::Vars {
        project: "MAIN".into(),
        subject: "MAIN_001".into(),
        session: "MAIN_001_MR".into(),
        modality_label: String::new(),
    }
}

/// Rules of every kind: none, `dicom.set`, the profile, the destination's scripts, all three.
fn rule_sets() -> Vec<(&'static str, FileRules)> {
    let set: BTreeMap<String, String> = [
        ("PatientID".to_string(), "MAIN_001".to_string()),
        ("StudyDescription".to_string(), "xnat://MAIN".to_string()),
    ]
    .into();
    let profile = dicom::Profile {
        basic: true,
        options: Default::default(),
        uid_key: [7; 32],
        remove_private: true,
    };
    let scripts = LocalScripts::from_text("site", crate::dicomedit::XNAT_DEFAULT_SCRIPT, vars());
    let mut profiled = FileRules::plain(&BTreeMap::new(), Gate::Warn);
    profiled.profile = Some(profile.clone());
    let mut scripted = FileRules::plain(&BTreeMap::new(), Gate::Warn);
    scripted.scripts = scripts.clone();
    let mut all = FileRules::plain(&set, Gate::Require);
    all.profile = Some(profile);
    all.scripts = scripts;
    vec![
        ("no rules", FileRules::plain(&BTreeMap::new(), Gate::Off)),
        ("dicom.set", FileRules::plain(&set, Gate::Warn)),
        ("profile", profiled),
        ("scripts", scripted),
        ("profile, scripts and dicom.set", all),
    ]
}

#[test]
fn the_synthetic_samples_are_what_they_claim() {
    for (what, f) in samples() {
        let h = dicom::read_header_bytes(&f);
        match what {
            "not DICOM" => assert!(h.is_err()),
            "no pixel data" => assert_eq!(dicom::pixel_hash(&f).unwrap(), None),
            _ => assert!(dicom::pixel_hash(&f).unwrap().is_some(), "{what}"),
        }
    }
    let mut s = Spec::new(1);
    s.frames = 4;
    s.size = 10;
    let f = synth::file(&s);
    assert_eq!(synth::pixel_bytes(&s), 800);
    assert_eq!(
        dicom::read_header_bytes(&f).unwrap().keywords["NumberOfFrames"],
        "4"
    );
    assert_eq!(f.len() - pixel_at(&f), 12 + 800);
}

#[test]
fn a_streamed_rewrite_equals_the_whole_file_rewrite() {
    for (what, f) in samples() {
        for (rules_name, rules) in rule_sets() {
            let want = whole_rewrite(&f, &rules);
            for chunk in [1, 7, 100, 4096, CHUNK] {
                for trickle in [3, usize::MAX] {
                    let got = streamed_rewrite(&f, &rules, chunk, trickle);
                    assert_eq!(
                        got, want,
                        "{what}, {rules_name}, chunk {chunk}, reads of {trickle}"
                    );
                }
            }
            if let Ok(Some((new, facts))) = &want {
                assert_eq!(facts.size, new.len() as u64);
                assert_eq!(
                    facts.pixel_hash.starts_with(CONTENT),
                    what == "no pixel data",
                    "{what}"
                );
                if rules_name != "no rules" {
                    assert_ne!(new, &f, "{what}: {rules_name} changed the header");
                }
            }
        }
    }
}

#[test]
fn streamed_facts_of_a_file_read_back_equal_the_whole_file_facts() {
    let rules = FileRules::plain(
        &[("PatientID".to_string(), "X".to_string())].into(),
        Gate::Warn,
    );
    for (what, f) in samples() {
        let want = dicom::read_header_bytes(&f)
            .ok()
            .map(|h| whole_facts("e.dcm", &f, &h, &rules.set, false).unwrap());
        for chunk in [1, 9, 512, CHUNK] {
            let mut r = Trickle {
                inner: Cursor::new(&f),
                n: 5,
            };
            let mut e = start(&mut r, chunk);
            let got = read_entry(&mut e, &rules).unwrap().map(|(_, facts)| facts);
            assert_eq!(got, want, "{what}, chunk {chunk}");
        }
    }
}

#[test]
fn a_file_cut_short_fails_as_the_whole_file_did() {
    let mut s = Spec::new(9);
    s.frames = 3;
    let f = synth::file(&s);
    let p = pixel_at(&f);
    let rules = FileRules::plain(&BTreeMap::new(), Gate::Off);
    // In the pixel data, in the PixelData element's header, and in the header before it.
    for (cut, want) in [
        (f.len() - 10, Some("the pixel data is cut off")),
        (p + 6, Some("the PixelData element header is cut off")),
        (p - 3, None),
    ] {
        let whole = whole_rewrite(&f[..cut], &rules);
        for chunk in [5, CHUNK] {
            let got = streamed_rewrite(&f[..cut], &rules, chunk, usize::MAX);
            match want {
                Some(msg) => {
                    let (w, g) = (whole.clone().unwrap_err(), got.unwrap_err());
                    assert!(w.contains(msg) && g.contains(msg), "{w} / {g}");
                }
                // Cut inside the header: not a DICOM file, skipped by name, as before.
                None => assert_eq!((whole.clone(), got), (Ok(None), Ok(None))),
            }
        }
    }
}

#[test]
fn a_header_larger_than_the_cap_is_refused() {
    let f = synth::file(&Spec::new(2));
    let p = pixel_at(&f);
    let mut r = Cursor::new(&f);
    let e = Entry::start("big.dcm", Path::new("t.zip"), &mut r, 16, p - 1);
    assert!(matches!(e, Err(HeadError::TooLarge)), "{:?}", e.err());
    let mut r = Cursor::new(&f);
    // The cap holds the header and the PixelData tag that ends it.
    let e = Entry::start("big.dcm", Path::new("t.zip"), &mut r, 16, p + 4);
    assert_eq!(e.unwrap().header().map(<[u8]>::len), Some(p));
    // A file without pixel data is all header, so the cap bounds it whole.
    let mut r = Cursor::new(&f[..p]);
    let e = Entry::start("sr.dcm", Path::new("t.zip"), &mut r, 16, p - 1);
    assert!(matches!(e, Err(HeadError::TooLarge)));
}

fn zip_of(path: &Path, entries: &[(&str, &[u8])]) {
    zip_with(path, entries, zip::CompressionMethod::Deflated)
}

fn zip_with(path: &Path, entries: &[(&str, &[u8])], method: zip::CompressionMethod) {
    let mut z = zip::ZipWriter::new(File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        z.start_file(*name, options).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn unzip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (e.name().unwrap().to_string(), b)
        })
        .collect()
}

#[test]
fn a_zip_rewritten_in_small_chunks_equals_one_rewritten_whole() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.zip");
    let all = samples();
    let entries: Vec<(&str, &[u8])> = all.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    zip_of(&input, &entries);
    let stored = dir.path().join("stored.zip");
    zip_with(&stored, &entries, zip::CompressionMethod::Stored);
    let deflated = std::fs::read(&input).unwrap();
    let stored = std::fs::read(&stored).unwrap();
    for (rules_name, rules) in rule_sets() {
        let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
        let small = rewrite_zip_in(&input, &a, &rules, (7, MAX_HEADER_BYTES));
        let big = rewrite_zip(&input, &b, &rules);
        // In memory: stored entries read in place, compressed ones as streams; MD5s at the end.
        let names = (input.as_path(), b.as_path());
        let in_place = rewrite_zip_in_memory(&stored, names, &rules);
        let streamed = rewrite_zip_in_memory(&deflated, names, &rules);
        match (small, big) {
            (Ok(mut small), Ok(big)) => {
                assert_eq!(small, big, "{rules_name}");
                let written = std::fs::read(&b).unwrap();
                for ((r, out), base) in
                    [(in_place.unwrap(), &stored), (streamed.unwrap(), &deflated)]
                {
                    assert_eq!(r, big, "{rules_name}");
                    assert_eq!(
                        out.slices(base).collect::<Vec<_>>().concat(),
                        written,
                        "{rules_name}"
                    );
                }
                // Read in place, the pixel data are referred to, not copied.
                let (_, layout) = rewrite_zip_in_memory(&stored, names, &rules).unwrap();
                let pixels = written.len() - layout.own_len();
                assert!(
                    pixels > written.len() / 2,
                    "{rules_name}: {pixels} of {} bytes referred to",
                    written.len()
                );
                assert_eq!(small.not_dicom, vec!["not DICOM".to_string()]);
                assert_eq!(small.files, all.len() - 1);
                assert_eq!(unzip(&a), unzip(&b), "{rules_name}");
                // The rewrite leaves pixel data unhashed; a read-back takes the hashes from the
                // upload zip.
                let all_facts = || small.facts.scans.values().flat_map(|s| s.values());
                let deferred = all_facts().filter(|f| f.pixel_hash.is_empty()).count();
                assert!(deferred >= all.len() - 4, "{rules_name}: {deferred}");
                let upload = crate::exec::stash::Staged::Disk(a.clone());
                fill_pixel_hashes(&upload, &mut small.facts).unwrap();
                // Every entry's facts are those of the whole rewritten file (of files that share a
                // SOPInstanceUID, the last is kept).
                let facts: BTreeMap<&str, &FileFacts> = small
                    .facts
                    .scans
                    .values()
                    .flat_map(|s| s.values())
                    .map(|f| (f.name.as_str(), f))
                    .collect();
                let mut compared = 0;
                for (name, bytes) in unzip(&a) {
                    let h = dicom::read_header_bytes(&bytes).unwrap();
                    let want = whole_facts(&name, &bytes, &h, &rules.set, true).unwrap();
                    if let Some(got) = facts.get(name.as_str()) {
                        assert_eq!(**got, want, "{rules_name}: {name}");
                        compared += 1;
                    }
                }
                assert_eq!(compared, facts.len());
                assert!(compared >= all.len() - 3, "{compared}");
            }
            (Err(FactsError::Phi { .. }), Err(FactsError::Phi { .. })) => {
                assert_eq!(rules.gate, Gate::Require);
                assert!(matches!(in_place, Err(FactsError::Phi { .. })));
                assert!(matches!(streamed, Err(FactsError::Phi { .. })));
            }
            (x, y) => panic!("{rules_name}: {x:?} / {y:?}"),
        }
    }
}

#[test]
fn an_entry_whose_header_passes_the_cap_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.zip");
    let f = synth::file(&Spec::new(3));
    zip_of(&input, &[("scans/1/huge-header.dcm", &f)]);
    let rules = FileRules::plain(&BTreeMap::new(), Gate::Off);
    let e = rewrite_zip_in(&input, &dir.path().join("o.zip"), &rules, (16, 300)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, FactsError::Limits { .. }), "{msg}");
    assert!(
        msg.contains("`scans/1/huge-header.dcm`") && msg.contains("larger than 300 bytes"),
        "{msg}"
    );
}

/// A synthetic file cut before its PixelData: an object without pixel data.
fn no_pixels() -> Vec<u8> {
    let f = synth::file(&Spec::new(3));
    f[..pixel_at(&f)].to_vec()
}

#[test]
fn objects_without_pixel_data_are_compared_by_content_less_what_ferry_set() {
    let a = no_pixels();
    assert_eq!(dicom::pixel_hash(&a).unwrap(), None);
    let set: BTreeMap<String, String> = [("PatientID".to_string(), "MAIN_001".to_string())].into();
    let b = dicom::rewrite(&a, &set).unwrap();
    let h = dicom::read_header_bytes(&b).unwrap();
    let fa = whole_facts("a", &a, &h, &set, false).unwrap();
    let fb = whole_facts("b", &b, &h, &set, false).unwrap();
    assert!(fa.pixel_hash.starts_with(CONTENT), "{}", fa.pixel_hash);
    assert_eq!(fa.pixel_hash, fb.pixel_hash);
    // A change to anything else is a change of content.
    let other: BTreeMap<String, String> =
        [("SeriesDescription".to_string(), "edited".to_string())].into();
    let c = dicom::rewrite(&b, &other).unwrap();
    let fc = whole_facts("c", &c, &h, &set, false).unwrap();
    assert_ne!(fb.pixel_hash, fc.pixel_hash);
    let mut want = SessionFacts::default();
    want.scans
        .entry("1".into())
        .or_default()
        .insert("9".into(), fb);
    let mut got = SessionFacts::default();
    got.scans
        .entry("1".into())
        .or_default()
        .insert("9".into(), fc);
    let v = crate::exec::verify::compare(&want, &got, crate::exec::verify::Depth::Full);
    assert_eq!(
        v.problems,
        vec![crate::exec::verify::Problem::Content {
            scan: "1".into(),
            sop_uid: "9".into()
        }]
    );
}

#[test]
fn a_zip_with_an_oversized_claim_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.zip");
    std::fs::write(&path, b"not a zip at all").unwrap();
    let e = read_facts(&path, &FileRules::plain(&BTreeMap::new(), Gate::Off)).unwrap_err();
    assert!(e.to_string().contains("not readable"), "{e}");
}

/// A stored zip of one entry whose headers announce `delta` bytes more (or fewer) than it holds.
fn zip_announcing(path: &Path, bytes: &[u8], delta: i64) {
    zip_of(path, &[("scans/1/a.dcm", bytes)]);
    let mut z = std::fs::read(path).unwrap();
    let real = bytes.len() as u32;
    let said = (i64::from(real) + delta) as u32;
    let mut patched = 0;
    // The uncompressed size in the local header (offset 22) and in the central directory (24).
    for (sig, off) in [
        ([0x50, 0x4B, 0x03, 0x04], 22),
        ([0x50, 0x4B, 0x01, 0x02], 24),
    ] {
        let at = z.windows(4).position(|w| w == sig).unwrap() + off;
        assert_eq!(z[at..at + 4], real.to_le_bytes());
        z[at..at + 4].copy_from_slice(&said.to_le_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2);
    std::fs::write(path, z).unwrap();
}

#[test]
fn an_entry_that_holds_other_than_it_announces_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = synth::file(&Spec::new(5));
    let rules = FileRules::plain(&BTreeMap::new(), Gate::Off);
    // Fewer bytes announced than held: the zip reader stops at the announced size; more announced
    // than held: ferry counts what it read.
    for (delta, want) in [
        (-1, "larger than its declared uncompressed size"),
        (1, "holds more or fewer bytes than the"),
    ] {
        let input = dir.path().join("in.zip");
        zip_announcing(&input, &f, delta);
        for e in [
            rewrite_zip(&input, &dir.path().join("o.zip"), &rules).unwrap_err(),
            read_facts(&input, &rules).unwrap_err(),
        ] {
            let msg = e.to_string();
            assert!(
                msg.contains("`scans/1/a.dcm`") && msg.contains(want),
                "{delta}: {msg}"
            );
        }
    }
}

#[test]
fn hostile_entry_names_never_reach_the_upload_or_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let input = work.join("in.zip");
    let (a, b, c) = (
        synth::file(&Spec::new(1)),
        synth::file(&Spec::new(2)),
        synth::file(&Spec::new(3)),
    );
    zip_of(
        &input,
        &[
            ("../../evil.dcm", &a),
            ("/etc/evil.dcm", &b),
            ("scans\\..\\..\\evil.dcm", &c),
        ],
    );
    let rules = FileRules::plain(&BTreeMap::new(), Gate::Off);
    let out = work.join("out.zip");
    let r = rewrite_zip(&input, &out, &rules).unwrap();
    assert_eq!(r.files, 3);
    let names: Vec<String> = unzip(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["1/000001.dcm", "1/000002.dcm", "1/000003.dcm"]);
    // Nothing was written beside the zips or above them.
    let mut beside: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["in.zip", "out.zip"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Small files take their MD5 in batches, large ones as they stream: however the two mix, every
/// file's facts carry the MD5 of its own bytes, and of two files with one SOPInstanceUID the later
/// is kept, whichever way each was hashed.
#[test]
fn small_and_large_files_mixed_get_their_own_md5s_and_the_later_duplicate_wins() {
    let file = |seed: u64, size: u16, sop: &str| {
        let mut s = Spec::new(seed);
        s.size = size;
        s.sop_uid = sop.into();
        synth::file(&s)
    };
    let large = |seed, sop| {
        let f = file(seed, 800, sop);
        assert!(f.len() as u64 > crate::exec::md5batch::SMALL);
        f
    };
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (
            "a small, then a large one of its SOP".into(),
            file(1, 16, "1.2.3.1"),
        ),
        ("the large one".into(), large(2, "1.2.3.1")),
        (
            "a large, then a small one of its SOP".into(),
            large(3, "1.2.3.2"),
        ),
        ("the small one".into(), file(4, 16, "1.2.3.2")),
    ];
    for i in 0..70u64 {
        entries.push((
            format!("small {i}"),
            file(10 + i, 8 + i as u16 % 40, &format!("1.2.4.{i}")),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.zip"), dir.path().join("out.zip"));
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    zip_of(&input, &refs);
    let set: BTreeMap<String, String> = [("PatientID".to_string(), "MAIN_001".to_string())].into();
    let r = rewrite_zip(&input, &output, &FileRules::plain(&set, Gate::Off)).unwrap();
    assert_eq!(r.files, entries.len());
    let written = unzip(&output);
    let facts: Vec<&FileFacts> = r.facts.scans.values().flat_map(|s| s.values()).collect();
    assert_eq!(facts.len(), entries.len() - 2);
    assert_eq!(r.facts.duplicates.values().sum::<usize>(), 2);
    for f in &facts {
        let (_, bytes) = written.iter().find(|(n, _)| *n == f.name).unwrap();
        assert_eq!(f.md5, md5_hex(bytes), "{}", f.name);
    }
    // The kept file of each duplicated SOP is the later one: the second and the fourth entry.
    let kept: std::collections::BTreeSet<&str> = facts.iter().map(|f| f.name.as_str()).collect();
    let name = |i: usize| written[i].0.as_str();
    assert!(
        !kept.contains(name(0)) && kept.contains(name(1)),
        "{kept:?}"
    );
    assert!(
        !kept.contains(name(2)) && kept.contains(name(3)),
        "{kept:?}"
    );
}

/// The samples zipped into `dir`, rewritten by the first rule set into `dir/NAME`: its path, the
/// rules and the result.
fn rewritten_samples(dir: &Path, name: &str) -> (std::path::PathBuf, FileRules, Rewritten) {
    let input = dir.join("in.zip");
    let all = samples();
    let entries: Vec<(&str, &[u8])> = all.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    zip_of(&input, &entries);
    let (_, rules) = rule_sets().into_iter().next().unwrap();
    let out = dir.join(name);
    let r = rewrite_zip(&input, &out, &rules).unwrap();
    (out, rules, r)
}

#[test]
fn a_deferred_pixel_hash_the_upload_zip_cannot_give_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, mut r) = rewritten_samples(dir.path(), "out.zip");
    let file = r
        .facts
        .scans
        .values_mut()
        .flat_map(|s| s.values_mut())
        .find(|f| f.pixel_hash.is_empty())
        .unwrap();
    file.name = "9/999999.dcm".into();
    let upload = crate::exec::stash::Staged::Disk(out.clone());
    let e = fill_pixel_hashes(&upload, &mut r.facts).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("entry `9/999999.dcm` has no pixel data"),
        "{msg}"
    );
    assert!(msg.contains("out.zip"), "{msg}");
}

#[test]
fn pixel_data_changed_by_the_destination_is_caught_with_hashes_taken_from_the_upload_zip() {
    use crate::exec::verify::{self, Depth};
    let dir = tempfile::tempdir().unwrap();
    let (upload, rules, r) = rewritten_samples(dir.path(), "upload.zip");
    let mut expected = r.facts;
    fill_pixel_hashes(
        &crate::exec::stash::Staged::Disk(upload.clone()),
        &mut expected,
    )
    .unwrap();
    let compare = |back: &[(String, Vec<u8>)]| {
        let path = dir.path().join("back.zip");
        let refs: Vec<(&str, &[u8])> = back.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
        zip_of(&path, &refs);
        let found = read_facts(&path, &rules).unwrap().0;
        verify::compare(&expected, &found, Depth::Full)
    };
    let mut back = unzip(&upload);
    let texts = |v: verify::Verification| -> Vec<String> {
        v.problems.iter().map(|p| p.to_string()).collect()
    };
    // The samples repeat a SOPInstanceUID on purpose: that is the only problem of an exact copy.
    let same = texts(compare(&back));
    assert!(
        same.iter().all(|p| p.contains("repeat the SOPInstanceUID")),
        "{same:?}"
    );
    // The destination flips a byte of one file's pixel data (the last such file: of two that share
    // a SOPInstanceUID, the later is the one compared).
    let (i, at) = back
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, (_, b))| Some((i, dicom::pixel_data_offset(b).unwrap()?)))
        .unwrap();
    back[i].1[at + 16] ^= 0xff;
    let mut problems = texts(compare(&back));
    problems.retain(|p| !same.contains(p));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("pixel data of"), "{problems:?}");
}

#[test]
fn a_stored_entry_read_in_place_is_checked_against_its_crc_and_the_header_cap() {
    let dir = tempfile::tempdir().unwrap();
    let all = samples();
    let (name, file) = all
        .iter()
        .find(|(_, b)| dicom::pixel_data_offset(b).unwrap().is_some())
        .unwrap();
    let path = dir.path().join("in.zip");
    zip_with(&path, &[(name, file)], zip::CompressionMethod::Stored);
    let mut bytes = std::fs::read(&path).unwrap();
    let (_, rules) = rule_sets().into_iter().next().unwrap();
    let names = (path.as_path(), Path::new("out.zip"));
    assert!(rewrite_zip_in_memory(&bytes, names, &rules).is_ok());
    // A header larger than the cap is refused as it is when read as a stream.
    let header = dicom::pixel_data_offset(file).unwrap().unwrap();
    let each = |bytes: &[u8], cap| {
        each_entry_with(
            Cursor::new(bytes),
            Some(bytes),
            &path,
            (16, cap),
            |_| Ok(()),
        )
    };
    assert!(each(&bytes, header).is_ok());
    let e = each(&bytes, header - 1).unwrap_err().to_string();
    assert!(
        e.contains("its header") && e.contains("is larger than"),
        "{e}"
    );
    // A changed byte of pixel data no longer matches the entry's CRC-32.
    let at = bytes
        .windows(file.len())
        .position(|w| w == &file[..])
        .unwrap();
    bytes[at + file.len() - 1] ^= 0xff;
    let e = rewrite_zip_in_memory(&bytes, names, &rules)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("do not match their CRC-32") && e.contains("in.zip"),
        "{e}"
    );
}
