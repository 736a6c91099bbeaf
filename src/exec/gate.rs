//! The executor's anonymization rules for one session: the de-identification profile and `dicom.set`
//! applied in the rewrite step, the per-file gate that judges every file after the rewrite (and what
//! the destination sends back), and the keyed digests that stand for UIDs in facts, journals and
//! reports. Built from the plan alone, so a resumed run applies exactly the same rules.

use super::zipfacts::Gate;
use crate::dicom::phi::{self, GateRules, PrivateData, Stage};
use crate::dicom::profile::{transfer_key, uid_digest, KeyUse};
use crate::dicom::{self, Header};
use crate::manifest::model as m;
use crate::plan::model::{Action, Plan, TransferPlan};
use std::collections::{BTreeMap, BTreeSet};

/// How one session's files are rewritten and judged.
#[derive(Debug, Clone)]
pub struct FileRules {
    /// Keywords written into every file, with their values.
    pub set: BTreeMap<String, String>,
    /// What a finding does.
    pub gate: Gate,
    /// The de-identification applied before `set`, if any.
    pub profile: Option<dicom::Profile>,
    /// Private elements.
    pub private: PrivateData,
    /// Scan IDs whose Burned In Annotation the manifest acknowledges.
    pub burned_in_ok: BTreeSet<String>,
    /// Source labels that must not survive in text.
    pub old_labels: Vec<String>,
    /// Destination labels.
    pub new_labels: Vec<String>,
    /// The key of UID digests.
    pub digest_key: [u8; 32],
    /// The destination's anonymization scripts, run after the profile and before `set`
    /// (`destination_anonymization: local`); the rewrite step fills them in from the plan.
    pub scripts: super::localanon::LocalScripts,
    /// The key of header fingerprints ([`crate::dicom::fingerprint`]): random unless set; the
    /// executor sets its run's key from the staging folder ([`super::verify::key`]).
    pub element_key: [u8; 32],
}

/// A fresh random key (for a comparison made within one process, such as the deep audit).
fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    if getrandom::fill(&mut k).is_err() {
        // Without the system's generator: the process and the time, hashed (the key never leaves
        // this process).
        let seed = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
        k = *blake3::hash(seed.as_bytes()).as_bytes();
    }
    k
}

impl FileRules {
    /// The rules of `a`, a session of transfer `t` in `plan`.
    pub fn for_action(plan: &Plan, t: &TransferPlan, a: &Action, gate: Gate) -> FileRules {
        let url = |s: &str| plan.servers.get(s).map(|x| x.url.as_str()).unwrap_or("");
        let to = (url(&t.to.server), t.to.project.as_str());
        let rules = &t.dicom;
        let remove_private = rules.private == Some(m::PrivateData::Remove);
        let profile = match &rules.deidentify {
            Some(d) => Some(dicom::Profile {
                basic: true,
                options: d.options(),
                uid_key: transfer_key(KeyUse::Replacement, to),
                remove_private,
            }),
            None if remove_private => Some(dicom::Profile {
                basic: false,
                options: Default::default(),
                uid_key: [0; 32],
                remove_private,
            }),
            None => None,
        };
        let private = match rules.private {
            None => PrivateData::Unsaid,
            Some(m::PrivateData::Remove) => PrivateData::Remove,
            Some(m::PrivateData::Keep) => PrivateData::Keep,
        };
        let prefix = format!("{}/", a.source.session);
        let burned_in_ok = rules
            .burned_in_acknowledged
            .iter()
            .filter_map(|s| s.strip_prefix(&prefix))
            .map(str::to_string)
            .collect();
        let pairs = [
            (&t.from.project, &t.to.project),
            (&a.source.subject, &a.dest.subject),
            (&a.source.session, &a.dest.session),
        ];
        FileRules {
            set: a.dicom_set.clone(),
            gate,
            profile,
            private,
            burned_in_ok,
            old_labels: pairs
                .iter()
                .filter(|(x, y)| x != y)
                .map(|(x, _)| x.to_string())
                .collect(),
            new_labels: pairs.iter().map(|(_, y)| y.to_string()).collect(),
            digest_key: transfer_key(KeyUse::Digest, to),
            scripts: Default::default(),
            element_key: random_key(),
        }
    }

    /// Plain rules: `set` only, no profile, nothing acknowledged (tests and tools).
    pub fn plain(set: &BTreeMap<String, String>, gate: Gate) -> FileRules {
        FileRules {
            set: set.clone(),
            gate,
            profile: None,
            private: PrivateData::Unsaid,
            burned_in_ok: BTreeSet::new(),
            old_labels: Vec::new(),
            new_labels: Vec::new(),
            digest_key: [0; 32],
            scripts: Default::default(),
            element_key: [0; 32],
        }
    }

    /// The digest that stands for a UID in facts, journals and reports.
    pub fn digest(&self, uid: &str) -> String {
        uid_digest(&self.digest_key, uid)
    }

    /// What identifies someone in a file after the rewrite (`original_uids`: the UIDs of the file
    /// before it; `None` for a copy read back from the destination, whose UIDs are not judged).
    pub fn findings(
        &self,
        h: &Header,
        scan: &str,
        original_uids: Option<&BTreeSet<String>>,
    ) -> BTreeSet<String> {
        if self.gate == Gate::Off {
            return BTreeSet::new();
        }
        let mut cleared: BTreeSet<String> = self.set.keys().cloned().collect();
        // What the destination's scripts set on every file is theirs, like `dicom.set`.
        cleared.extend(self.scripts.overwritten());
        let none = BTreeSet::new();
        let rules = GateRules {
            options: self.profile.as_ref().map(|p| p.options).unwrap_or_default(),
            profile: self.profile.as_ref().is_some_and(|p| p.basic),
            private: self.private,
            cleared: &cleared,
            tainted: &none,
            burned_in_ok: self.burned_in_ok.contains(scan),
            old_labels: &self.old_labels,
            new_labels: &self.new_labels,
        };
        phi::assess(&h.elements, &rules, Stage::Result { original_uids })
    }
}
