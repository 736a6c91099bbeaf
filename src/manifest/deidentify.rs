//! The manifest's de-identification fields (`dicom.deidentify`, `dicom.private`): serde + schemars
//! types, part of the version 1 contract like the rest of `model`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A de-identification profile and its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deidentify {
    /// The profile: `basic` (PS3.15 Annex E, Basic Application Level Confidentiality Profile).
    pub profile: DeidentifyProfile,
    /// Standard options that keep attributes the Basic Profile would remove or replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retain: Vec<Retain>,
    /// UIDs: `remap` (replace them, the same replacement for the same UID across the transfer; the
    /// default) or `keep` (Retain UIDs Option).
    #[serde(default)]
    pub uids: UidPolicy,
}

keyword! {
    /// A de-identification profile.
    pub enum DeidentifyProfile {
        /// The Basic Application Level Confidentiality Profile.
        Basic,
    }
}

keyword! {
    /// A retain option of PS3.15 Annex E.
    pub enum Retain {
        /// Retain Longitudinal Temporal Information with Full Dates.
        LongitudinalDates,
        /// Retain Device Identity.
        DeviceIdentity,
        /// Retain Institution Identity.
        InstitutionIdentity,
        /// Retain Patient Characteristics.
        PatientCharacteristics,
        /// Keep descriptors (Study and Series Description, Protocol Name, comments: the attributes the
        /// standard's Clean Descriptors Option cleans) as they are. ferry does not clean them: it keeps
        /// them, still searched for old labels; what else they say is for the reviewer.
        Descriptors,
    }
}

keyword! {
    /// What the profile does with UIDs.
    #[derive(Default)]
    pub enum UidPolicy {
        /// Replace each UID, consistently across the transfer.
        #[default]
        Remap,
        /// Keep UIDs as they are.
        Keep,
    }
}

keyword! {
    /// What to do with private elements.
    pub enum PrivateData {
        /// Remove them in the rewrite.
        Remove,
        /// Keep them (say why in `private_reason`).
        Keep,
    }
}

impl Deidentify {
    /// The retain options as the profile module takes them.
    pub fn options(&self) -> crate::dicom::profile::Options {
        let has = |r| self.retain.contains(&r);
        crate::dicom::profile::Options {
            longitudinal_dates: has(Retain::LongitudinalDates),
            device_identity: has(Retain::DeviceIdentity),
            institution_identity: has(Retain::InstitutionIdentity),
            patient_characteristics: has(Retain::PatientCharacteristics),
            descriptors: has(Retain::Descriptors),
            uids: self.uids == UidPolicy::Keep,
        }
    }
}

/// The UID a file of transfer `t` carries in the destination for a source `uid`: its replacement when
/// the transfer's profile remaps UIDs (see `dicom::profile::replacement_uid`), else `uid` itself.
pub fn destination_uid(
    t: &super::model::Transfer,
    servers: &std::collections::BTreeMap<String, super::model::Server>,
    uid: &str,
) -> String {
    use crate::dicom::profile::{replacement_uid, transfer_key, KeyUse};
    let remaps = !matches!(
        t.mode,
        super::model::Mode::Share | super::model::Mode::Relocate
    ) && t
        .dicom
        .deidentify
        .as_ref()
        .is_some_and(|d| d.uids == UidPolicy::Remap);
    if !remaps {
        return uid.to_string();
    }
    let url = servers.get(&t.to.server).map_or("", |s| s.url.as_str());
    replacement_uid(
        &transfer_key(KeyUse::Replacement, (url, &t.to.project)),
        uid,
    )
}
