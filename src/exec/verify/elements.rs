//! Verification element by element: what ferry's own rules may change in a file (checked at rewrite
//! time against the source), what the destination's scripts may change (notes under
//! `destination_anonymization: server`), and where the elements of two files whose header hashes
//! differ are read again to name what changed (the upload zip in the staging folder and the zip the
//! destination sent back).

use super::FileFacts;
use crate::dicom::fingerprint::{self, element_hashes, Change, ElementHashes, ElementPath};
use crate::dicom::{self, DicomError, Parsed};
use crate::dicomedit::Script;
use crate::exec::gate::FileRules;
use crate::exec::stash::{ReadSeek, Staged};
use crate::exec::zipfacts::FactsError;
use crate::model::inventory::{ProjectSettings, ScriptSetting};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use std::cell::RefCell;
use std::io::Read;
use std::path::Path;

/// Where the elements of both sides of a file come from when their header hashes differ.
pub trait HeaderSource {
    /// Every element that differs from the expected file `want` to the destination's copy `got`.
    fn changes(
        &self,
        scan: &str,
        want: &FileFacts,
        got: &FileFacts,
    ) -> Result<Vec<(ElementPath, Change)>, String>;
}

/// Whether ferry's rules for a session may change the element at `path`: a keyword of `dicom.set`
/// (top level), an element the de-identification profile acts on, an element the destination's
/// scripts (run by ferry) may touch, and Media Storage SOP Instance UID `(0002,0003)` where the
/// SOPInstanceUID may change (the rewrite keeps the two equal).
pub fn ferry_may_change(rules: &FileRules, path: &[Tag]) -> bool {
    let Some(top) = path.first() else {
        return false;
    };
    if top.group() == 0x0002 {
        return *top == Tag(0x0002, 0x0003) && ferry_may_change(rules, &[Tag(0x0008, 0x0018)]);
    }
    let set = rules
        .set
        .keys()
        .filter_map(|k| StandardDataDictionary.by_name(k))
        .any(|e| e.tag() == *top);
    set || rules
        .profile
        .as_ref()
        .is_some_and(|p| p.is_active() && p.may_change(path))
        || rules.scripts.may_touch(path)
}

/// The element hashes of a file before the rewrite, when the rewrite may change it (`None` when
/// ferry's rules for the session change nothing).
pub fn before_rewrite(
    source: &Parsed<'_>,
    rules: &FileRules,
    entry: &str,
) -> Result<Option<ElementHashes>, FactsError> {
    let profiled = rules.profile.as_ref().is_some_and(|p| p.is_active());
    if rules.set.is_empty() && !profiled && rules.scripts.is_empty() {
        return Ok(None);
    }
    fingerprint::of_parsed(source, &rules.element_key)
        .map(Some)
        .map_err(|source| FactsError::Rewrite {
            entry: entry.to_string(),
            source,
        })
}

/// Checks that the rewrite changed only elements ferry's rules may change (`before`: the source's
/// elements from [`before_rewrite`]; `after`: the elements of the rewritten file, decoded from the
/// bytes that are uploaded), and returns the header hash of the rewritten file for the facts. Any other change is a defect of
/// ferry's own rewrite: the session stops before anything is uploaded, naming the element (never
/// its value).
pub fn check_rewrite(
    before: Option<&ElementHashes>,
    after: &ElementHashes,
    rules: &FileRules,
    entry: &str,
) -> Result<String, FactsError> {
    if let Some((path, change)) = before
        .into_iter()
        .flat_map(|old| old.changes(after))
        .find(|(p, _)| !ferry_may_change(rules, &p.tags()))
    {
        return Err(FactsError::Unexpected {
            entry: entry.to_string(),
            element: format!("{path} `{}`", path.keywords()),
            change: change.as_str(),
        });
    }
    Ok(after.header_hash(&rules.element_key))
}

/// The header hash of a file for its facts.
pub fn header_hash(header: &Parsed<'_>, key: &[u8; 32]) -> Result<String, DicomError> {
    Ok(fingerprint::of_parsed(header, key)?.header_hash(key))
}

/// What the destination's anonymization scripts may touch, read from the destination when it runs
/// them (`destination_anonymization: server`).
#[derive(Debug, Default)]
pub struct ServerScripts {
    scripts: Vec<Script>,
    /// Scripts that run but could not be read or parsed: what they change is not known.
    pub unknown: Vec<String>,
}

impl ServerScripts {
    /// The scripts of a project's settings as the destination answered them.
    pub fn of(settings: &ProjectSettings) -> ServerScripts {
        let mut out = ServerScripts::default();
        for (scope, s) in [
            ("site", &settings.site_script),
            ("project", &settings.project_script),
        ] {
            match s {
                ScriptSetting::Off => {}
                ScriptSetting::On(text) => match Script::parse(text) {
                    Ok(p) => out.scripts.push(p),
                    Err(e) => out.unknown.push(format!("the {scope} script ({e})")),
                },
                ScriptSetting::Unreadable(why) => {
                    out.unknown.push(format!("the {scope} script ({why})"))
                }
            }
        }
        out
    }

    /// Whether a script may change the element at `path`.
    pub fn touches(&self, path: &[Tag]) -> bool {
        self.scripts.iter().any(|s| s.may_touch(path))
    }
}

/// A zip open for reading, from a file or from memory.
type Archive = zip::ZipArchive<Box<dyn ReadSeek>>;

/// The upload zip and the zip read back from the destination, each kept open, read entry by entry
/// where header hashes differ.
pub struct ZipHeaders {
    upload: RefCell<Archive>,
    back: RefCell<Archive>,
    key: [u8; 32],
}

impl ZipHeaders {
    /// Opens both zips.
    pub fn open(upload: &Staged, back: &Path, key: [u8; 32]) -> Result<ZipHeaders, String> {
        let open = |s: &Staged| -> Result<Archive, String> {
            let p = s.path().display();
            let r = s.reader().map_err(|e| format!("cannot open `{p}`: {e}"))?;
            zip::ZipArchive::new(r).map_err(|e| format!("the zip `{p}` is not readable: {e}"))
        };
        Ok(ZipHeaders {
            upload: RefCell::new(open(upload)?),
            back: RefCell::new(open(&Staged::Disk(back.to_path_buf()))?),
            key,
        })
    }

    fn elements(&self, zip: &RefCell<Archive>, name: &str) -> Result<ElementHashes, String> {
        let mut zip = zip.borrow_mut();
        let entry = zip
            .by_name(name)
            .map_err(|e| format!("entry `{name}`: {e}"))?;
        let head = header_prefix(entry).map_err(|e| format!("entry `{name}`: {e}"))?;
        element_hashes(&head, &self.key).map_err(|e| format!("entry `{name}`: {e}"))
    }
}

impl HeaderSource for ZipHeaders {
    fn changes(
        &self,
        _scan: &str,
        want: &FileFacts,
        got: &FileFacts,
    ) -> Result<Vec<(ElementPath, Change)>, String> {
        let w = self.elements(&self.upload, &want.name)?;
        let g = self.elements(&self.back, &got.name)?;
        Ok(w.changes(&g))
    }
}

/// The bytes of a DICOM file up to its PixelData (all of it when it has none), read in growing
/// steps ([`dicom::read_head`]) so a large file is never read whole.
pub fn header_prefix(mut r: impl Read) -> Result<Vec<u8>, String> {
    let head = dicom::read_head(&mut r, dicom::HEAD_CHUNK, dicom::MAX_HEADER_BYTES).map_err(
        |e| match e {
            dicom::HeadError::Io(e) => e.to_string(),
            dicom::HeadError::TooLarge => "the header is larger than ferry accepts".into(),
        },
    )?;
    let end = head.end.ok_or("not a DICOM file")?;
    let mut bytes = head.bytes;
    bytes.truncate(end);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::synth::{file, Spec};
    use crate::exec::zipfacts::Gate;
    use std::collections::BTreeMap;

    fn edited(bytes: &[u8], k: &str, v: &str) -> Vec<u8> {
        let m: BTreeMap<String, String> = [(k.to_string(), v.to_string())].into();
        dicom::rewrite(bytes, &m).unwrap()
    }

    fn rules(set: &[(&str, &str)]) -> FileRules {
        let set = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FileRules::plain(&set, Gate::Off)
    }

    #[test]
    fn a_rewrite_may_change_only_what_its_rules_change() {
        let source = file(&Spec::new(7));
        let r = rules(&[("PatientID", "MAIN_001")]);
        let parsed = |b| Parsed::read(b).unwrap();
        let before = before_rewrite(&parsed(&source), &r, "src.dcm").unwrap();
        assert!(before.is_some());
        let good = edited(&source, "PatientID", "MAIN_001");
        let after = |b| fingerprint::of_parsed(&parsed(b), &r.element_key).unwrap();
        let hash = check_rewrite(before.as_ref(), &after(&good), &r, "1/000001.dcm").unwrap();
        assert_eq!(hash, header_hash(&parsed(&good), &r.element_key).unwrap());
        // A rewrite that also changed another element is a defect of ferry, named without its value.
        let bad = edited(&good, "StudyDate", "19990101");
        let e = check_rewrite(before.as_ref(), &after(&bad), &r, "1/000001.dcm").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("changed the header element (0008,0020) `StudyDate` of `1/000001.dcm`"),
            "{msg}"
        );
        assert!(!msg.contains("1999"), "{msg}");
        // Rules that change nothing skip the check.
        assert!(before_rewrite(&parsed(&source), &rules(&[]), "x")
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_profile_and_the_scripts_widen_what_may_change() {
        let institution = [Tag(0x0008, 0x0080)];
        let mut r = rules(&[]);
        assert!(!ferry_may_change(&r, &institution));
        r.profile = Some(dicom::Profile {
            basic: true,
            options: Default::default(),
            uid_key: [0; 32],
            remove_private: false,
        });
        assert!(ferry_may_change(&r, &institution));
        assert!(
            ferry_may_change(&r, &[Tag(0x0002, 0x0003)]),
            "the media storage UID follows a replaced SOPInstanceUID"
        );
        assert!(!ferry_may_change(&r, &[Tag(0x0002, 0x0010)]));
        let plain = rules(&[("SOPInstanceUID", "1.2.3")]);
        assert!(ferry_may_change(&plain, &[Tag(0x0002, 0x0003)]));
    }

    #[test]
    fn server_scripts_that_cannot_be_read_touch_nothing_known() {
        let settings = ProjectSettings {
            prearchive_code: None,
            site_script: ScriptSetting::On(crate::dicomedit::XNAT_DEFAULT_SCRIPT.into()),
            project_script: ScriptSetting::Unreadable("403".into()),
        };
        let s = ServerScripts::of(&settings);
        assert!(s.touches(&[Tag(0x0010, 0x0010)]));
        assert!(!s.touches(&[Tag(0x0008, 0x0080)]));
        assert_eq!(s.unknown, ["the project script (403)"]);
    }

    #[test]
    fn a_header_is_read_up_to_pixel_data_in_steps() {
        let f = file(&Spec::new(8));
        let at = dicom::pixel_data_offset(&f).unwrap().unwrap();
        // A reader that hands out a few bytes at a time.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(7).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        assert_eq!(header_prefix(Slow(&f)).unwrap(), f[..at]);
        assert_eq!(header_prefix(&f[..at]).unwrap(), f[..at]);
        assert!(header_prefix(&b"not dicom"[..]).is_err());
    }
}
