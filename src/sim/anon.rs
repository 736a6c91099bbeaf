//! What XNAT does to DICOM headers on the way in: the site-wide anonymization script runs on every
//! object an import receives (GradualDicomImporter), the project's script when a session is archived
//! into the project (PrearcSessionArchiver), each unless the upload carried `prevent_anon=true`.
//! Scripts run through [`crate::dicomedit`], on the whole object as XNAT's dcm4che does; the object is
//! re-encoded only when the script changed something.
//!
//! Nothing here knows HTTP; callers turn an error into XNAT's `500`.

use super::model::PrearcSession;
use super::store::Store;
use super::util::md5_hex;
use crate::dicomedit::{Script, Vars};
use dicom_object::file::ReadPreamble;
use dicom_object::OpenFileOptions;

/// Why a script could not run on an object (XNAT answers `500` and keeps nothing of the object).
#[derive(Debug)]
pub struct AnonFailure(pub String);

/// The labels a script sees.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    /// Project ID.
    pub project: &'a str,
    /// Subject label.
    pub subject: &'a str,
    /// Session label (XNAT passes the prearchive folder name).
    pub session: &'a str,
}

/// Runs `script` (blank: nothing) on one Part 10 object; `None` when nothing changed.
pub fn run(script: &str, labels: &Labels, bytes: &[u8]) -> Result<Option<Vec<u8>>, AnonFailure> {
    if script.trim().is_empty() {
        return Ok(None);
    }
    let parsed = Script::parse(script).map_err(|e| AnonFailure(e.to_string()))?;
    if parsed.is_empty() {
        return Ok(None);
    }
    let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else {
        bytes
    };
    let mut obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(body)
        .map_err(|e| AnonFailure(format!("the object cannot be read: {e}")))?;
    let modality = crate::dicomedit::DataSet::value(&*obj, dicom_core::Tag(0x0008, 0x0060));
    let vars = Vars {
        project: labels.project.to_string(),
        subject: labels.subject.to_string(),
        session: labels.session.to_string(),
        modality_label: modality.unwrap_or_default(),
    };
    let changed = parsed
        .apply(&mut *obj, &vars)
        .map_err(|e| AnonFailure(e.to_string()))?;
    if !changed {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(bytes.len() + 256);
    obj.write_all(&mut out)
        .map_err(|e| AnonFailure(format!("the object cannot be written: {e}")))?;
    Ok(Some(out))
}

/// Runs the project's script over a prearchive session's files before it is archived into
/// `labels.project` (rewriting the files in place and their listing entries); the session as it is
/// when the upload asked `prevent_anon` or the project has no enabled script.
pub fn project_pass(
    store: &Store,
    pre: &PrearcSession,
    labels: &Labels,
) -> Result<PrearcSession, AnonFailure> {
    let Some(p) = store.projects.get(labels.project) else {
        return Ok(pre.clone());
    };
    if pre.prevent_anon || !p.anon_enabled || p.anon_script.trim().is_empty() {
        return Ok(pre.clone());
    }
    let mut out = pre.clone();
    let dir = store.root().join(pre.dir()).join("SCANS");
    let io = |e: std::io::Error| AnonFailure(format!("a prearchive file cannot be rewritten: {e}"));
    for scan in &mut out.scans {
        for res in &mut scan.resources {
            for (name, entry) in res.files.iter_mut() {
                let path = dir.join(&scan.id).join(&res.label).join(name);
                let bytes = std::fs::read(&path).map_err(io)?;
                if let Some(new) = run(&p.anon_script, labels, &bytes)? {
                    std::fs::write(&path, &new).map_err(io)?;
                    entry.size = new.len() as u64;
                    entry.digest = md5_hex(&new);
                    if let Some(h) = crate::sim::dicomio::read_header(&new) {
                        out.dcm_patient_id = h.patient_id;
                        out.dcm_patient_name = h.patient_name;
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_script_rewrites_identity_and_keeps_pixels() {
        let f = crate::dicom::synth::file(&crate::dicom::synth::Spec::new(1));
        let labels = Labels {
            project: "MAIN",
            subject: "S1",
            session: "S1_MR1",
        };
        let out = run(crate::dicomedit::XNAT_DEFAULT_SCRIPT, &labels, &f)
            .unwrap()
            .expect("changed");
        let h = crate::sim::dicomio::read_header(&out).unwrap();
        assert_eq!(h.patient_name, "S1");
        assert_eq!(h.patient_id, "S1_MR1");
        assert_eq!(h.study_description, "MAIN");
        assert_eq!(
            crate::dicom::pixel_hash(&out).unwrap(),
            crate::dicom::pixel_hash(&f).unwrap()
        );
        // The same script on its own output changes nothing more.
        assert!(run(crate::dicomedit::XNAT_DEFAULT_SCRIPT, &labels, &out)
            .unwrap()
            .is_none());
    }

    #[test]
    fn unsupported_scripts_fail_with_their_line() {
        let labels = Labels {
            project: "P",
            subject: "S",
            session: "E",
        };
        let f = crate::dicom::synth::file(&crate::dicom::synth::Spec::new(1));
        let e = run(
            "version \"6.1\"\n(0020,000D) := hashUID[(0020,000D)]\n",
            &labels,
            &f,
        )
        .unwrap_err();
        assert!(e.0.contains("line 2"), "{}", e.0);
        assert!(run("  \n", &labels, &f).unwrap().is_none());
    }
}
