//! The destination's anonymization scripts run by ferry in the rewrite step, as XNAT's own uploaders
//! do: on every file, site script first, then the project's, with XNAT's variables bound to the
//! destination labels, before `dicom.set`. The upload then carries `prevent_anon=true`, so the
//! destination stores exactly the bytes ferry hashed for verification.

use crate::dicom;
use crate::dicomedit::{DataSet, Script, Vars};
use crate::plan::{Action, TransferPlan};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use std::collections::BTreeSet;

/// The scripts of one action, parsed, with the labels they see.
#[derive(Debug, Clone, Default)]
pub struct LocalScripts {
    scripts: Vec<(String, Script)>,
    vars: Vars,
}

/// Why a file could not be run through a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptRunError {
    /// The plan's script no longer parses (the plan was made by another ferry version).
    #[error("the destination's {scope} anonymization script cannot be run: {message}")]
    Script {
        /// `site` or `project`.
        scope: String,
        /// The parser's or evaluator's message (line and construct).
        message: String,
    },
    /// The file could not be read or re-encoded.
    #[error(transparent)]
    Dicom(#[from] dicom::DicomError),
}

impl LocalScripts {
    /// The scripts the plan recorded for the action's transfer.
    pub fn for_action(t: &TransferPlan, a: &Action) -> Result<LocalScripts, ScriptRunError> {
        let mut scripts = Vec::new();
        for s in &t.destination_scripts {
            let parsed = Script::parse(&s.text).map_err(|e| ScriptRunError::Script {
                scope: s.scope.clone(),
                message: e.to_string(),
            })?;
            scripts.push((s.scope.clone(), parsed));
        }
        Ok(LocalScripts {
            scripts,
            vars: Vars {
                project: t.to.project.clone(),
                subject: a.dest.subject.clone(),
                session: a.dest.session.clone(),
                modality_label: String::new(),
            },
        })
    }

    /// One script from its text, with the labels it sees (tests of the rewrite that need no plan).
    #[cfg(test)]
    pub(crate) fn from_text(scope: &str, text: &str, vars: Vars) -> LocalScripts {
        let script = Script::parse(text).expect("a test script parses");
        LocalScripts {
            scripts: vec![(scope.to_string(), script)],
            vars,
        }
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.scripts.iter().all(|(_, s)| s.is_empty())
    }

    /// Runs every script on one file; the file as it was when nothing changed.
    pub fn apply(&self, bytes: Vec<u8>) -> Result<Vec<u8>, ScriptRunError> {
        if self.is_empty() {
            return Ok(bytes);
        }
        let mut p = dicom::Parsed::read(&bytes)?;
        if !p.edit_with(|ds| self.apply_recorded(ds))? {
            return Ok(bytes);
        }
        Ok(p.encode()?)
    }

    /// [`LocalScripts::apply_to`], with the top-level tags the scripts set or removed (`None` when
    /// they removed private elements, which reaches inside sequences).
    pub fn apply_recorded(
        &self,
        ds: &mut InMemDicomObject,
    ) -> (Result<bool, ScriptRunError>, Option<BTreeSet<Tag>>) {
        let mut rec = crate::dicomedit::Recorded::new(ds);
        let changed = self.apply_to(&mut rec);
        (changed, rec.touched())
    }

    /// Runs every script on a decoded data set; whether any changed it.
    pub fn apply_to(&self, ds: &mut dyn DataSet) -> Result<bool, ScriptRunError> {
        let mut vars = self.vars.clone();
        vars.modality_label = DataSet::value(ds, Tag(0x0008, 0x0060)).unwrap_or_default();
        let mut changed = false;
        for (scope, script) in &self.scripts {
            changed |= script
                .apply(ds, &vars)
                .map_err(|e| ScriptRunError::Script {
                    scope: scope.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(changed)
    }

    /// Whether a script may change the element at `path` (its tags from the top level down).
    pub fn may_touch(&self, path: &[Tag]) -> bool {
        self.scripts.iter().any(|(_, s)| s.may_touch(path))
    }

    /// Keywords the scripts set or delete on every file (not under a condition): the apply-time PHI
    /// gate treats them like fields `dicom.set` overwrites.
    pub fn overwritten(&self) -> BTreeSet<String> {
        self.scripts
            .iter()
            .flat_map(|(_, s)| s.sure_tags())
            .filter_map(|t| {
                StandardDataDictionary
                    .by_tag(t)
                    .map(|e| e.alias().to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::synth::{file, Spec};

    fn scripts(text: &str) -> LocalScripts {
        LocalScripts {
            scripts: vec![("site".into(), Script::parse(text).unwrap())],
            vars: Vars {
                project: "MAIN".into(),
                subject: "MAIN_001".into(),
                session: "MAIN_001_MR".into(),
                modality_label: String::new(),
            },
        }
    }

    #[test]
    fn scripts_rewrite_the_header_and_keep_pixel_bytes() {
        let before = file(&Spec::new(3));
        let s = scripts(crate::dicomedit::XNAT_DEFAULT_SCRIPT);
        let after = s.apply(before.clone()).unwrap();
        let h = dicom::read_header_bytes(&after).unwrap();
        assert_eq!(h.keywords["PatientName"], "MAIN_001");
        assert_eq!(h.keywords["PatientID"], "MAIN_001_MR");
        assert_eq!(h.keywords["StudyDescription"], "MAIN");
        assert_eq!(
            dicom::pixel_hash(&after).unwrap(),
            dicom::pixel_hash(&before).unwrap()
        );
        let pixels = |b: &[u8]| {
            let at = b
                .windows(4)
                .position(|w| w == [0xE0, 0x7F, 0x10, 0x00])
                .unwrap();
            b[at..].to_vec()
        };
        assert_eq!(
            pixels(&after),
            pixels(&before),
            "bytes from PixelData on are copied"
        );
        assert_eq!(
            s.overwritten(),
            ["PatientID", "PatientName"].map(String::from).into()
        );
    }

    #[test]
    fn modality_label_is_the_files_modality() {
        let before = file(&Spec::new(6));
        let modality = dicom::read_header_bytes(&before).unwrap().keywords["Modality"].clone();
        let s = scripts("version \"6.1\"\n(0008,103E) := modalityLabel\n");
        let h = dicom::read_header_bytes(&s.apply(before).unwrap()).unwrap();
        assert_eq!(h.keywords["SeriesDescription"], modality);
    }

    #[test]
    fn a_script_that_changes_nothing_leaves_the_file_alone() {
        let before = file(&Spec::new(4));
        let s = scripts("version \"6.1\"\n(0008,0060) = \"XX\" ? - (0010,0010)\n");
        assert_eq!(s.apply(before.clone()).unwrap(), before);
        assert!(
            s.overwritten().is_empty(),
            "conditional deletes are not sure"
        );
    }

    #[test]
    fn a_failing_statement_names_its_script_and_line() {
        let s = scripts("version \"6.1\"\n(0008,1140) := \"x\"\n");
        let e = s.apply(file(&Spec::new(5))).map(|_| ());
        // The synthetic file has no sequence there: the assignment creates (0008,1140) as a
        // sequence, which text cannot fill.
        let msg = e.unwrap_err().to_string();
        assert!(msg.contains("site") && msg.contains("line 2"), "{msg}");
    }

    /// What the scripts did is recorded, so that only those elements are encoded anew: the result
    /// decodes as the whole encoding does, and every other element keeps its bytes.
    #[test]
    fn the_elements_scripts_set_or_delete_are_recorded_and_only_they_are_encoded_anew() {
        let before = file(&Spec::new(7));
        let text = format!("{}- (0008,0060)\n", crate::dicomedit::XNAT_DEFAULT_SCRIPT);
        let s = scripts(&text);
        let mut ds = dicom::Parsed::read(&before).unwrap().dataset().clone();
        let (changed, touched) = s.apply_recorded(&mut ds);
        assert!(changed.unwrap());
        let tags = [
            (0x0008, 0x0060),
            (0x0008, 0x1030),
            (0x0010, 0x0010),
            (0x0010, 0x0020),
        ];
        assert_eq!(touched, Some(tags.map(|(g, e)| Tag(g, e)).into()));
        let spliced = s.apply(before.clone()).unwrap();
        let mut whole = dicom::Parsed::read(&before).unwrap();
        assert!(s.apply_to(whole.dataset_mut()).unwrap());
        let whole = whole.encode().unwrap();
        let (a, b) = (
            dicom::Parsed::read(&spliced).unwrap(),
            dicom::Parsed::read(&whole).unwrap(),
        );
        assert_eq!(a.dataset(), b.dataset());
        assert!(!a.header().keywords.contains_key("Modality"));
        // Elements the scripts left alone keep their bytes: the source's Study Date element
        // (tag, VR, length, value) is in the result as it was.
        let date = before
            .windows(8)
            .position(|w| w == [0x08, 0x00, 0x20, 0x00, b'D', b'A', 8, 0])
            .unwrap();
        assert!(spliced.windows(16).any(|w| w == &before[date..date + 16]));
        // Removing private elements reaches inside sequences: nothing is recorded as top-level only.
        let deep = scripts("version \"6.1\"\nremoveAllPrivateTags\n");
        let mut ds = dicom::Parsed::read(&before).unwrap().dataset().clone();
        assert_eq!(deep.apply_recorded(&mut ds).1, None);
    }
}
