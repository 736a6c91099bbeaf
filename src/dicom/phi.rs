//! The identifying keywords the anonymization gate looks for: a subset of the attributes DICOM's basic
//! application-level confidentiality profile (PS3.15 Annex E) removes or replaces, the ones that carry a
//! person's identity in the files scanners and PACS export.

use std::collections::{BTreeMap, BTreeSet};

/// Keywords that identify a patient or a person involved in their care when filled in.
pub const PHI_KEYWORDS: &[&str] = &[
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "MilitaryRank",
    "MedicalRecordLocator",
    "EthnicGroup",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "AccessionNumber",
    "AdmissionID",
    "IssuerOfPatientID",
    "CountryOfResidence",
    "RegionOfResidence",
    "PersonName",
];

/// The identifying keywords filled in (non-empty) in a header and not overwritten by ferry, sorted.
///
/// PatientName and PatientID are findings like any other unless `dicom.set` overwrites them: a
/// destination label written there is the usual way to pseudonymise.
pub fn phi_findings(
    keywords: &BTreeMap<String, String>,
    overwritten: &BTreeSet<String>,
) -> Vec<String> {
    let mut out: Vec<String> = PHI_KEYWORDS
        .iter()
        .filter(|k| !overwritten.contains(**k))
        .filter(|k| keywords.get(**k).is_some_and(|v| !v.trim().is_empty()))
        .map(|k| k.to_string())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_in_keywords_are_findings_unless_overwritten() {
        let mut kw = BTreeMap::new();
        kw.insert("PatientName".to_string(), "Doe^Jane".to_string());
        kw.insert("PatientBirthDate".to_string(), "19700101".to_string());
        kw.insert("ReferringPhysicianName".to_string(), "  ".to_string());
        kw.insert("Modality".to_string(), "MR".to_string());
        let none = BTreeSet::new();
        assert_eq!(
            phi_findings(&kw, &none),
            ["PatientBirthDate", "PatientName"]
        );
        let set: BTreeSet<String> = ["PatientName".to_string()].into();
        assert_eq!(phi_findings(&kw, &set), ["PatientBirthDate"]);
    }

    #[test]
    fn every_keyword_is_a_standard_one() {
        for k in PHI_KEYWORDS {
            assert!(super::super::is_known_keyword(k), "{k}");
        }
    }
}
