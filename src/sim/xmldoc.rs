//! XNAT's XML documents for single items (`format=xml`), laid out as `xnat.xsd` declares them: the root
//! element named for the type (`xnat:Project`, `xnat:Subject`, `xnat:MRSession`, `xnat:MRScan`, ...),
//! attributes where the schema has attributes (`ID`, `project`, `label`, a session's `UID` and
//! `modality`, a scan's `type` and `UID`) and child elements, in the schema's sequence order, where it has
//! elements (`date`, `subject_ID`, `scans`, `dcmPatientId`, a scan's `series_description` and `frames`).
//! Empty values are left out, as XNAT does.
//!
//! The reverse direction, reading such a document from a PUT body, is in [`super::routes::xmlput`].

use super::model::{Experiment, Project, Resource, Scan, Subject};
use super::util::xml_escape;

/// The XNAT namespace.
pub const XNAT_NS: &str = "http://nrg.wustl.edu/xnat";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One element being written.
#[derive(Debug, Clone, Default)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    text: String,
}

impl El {
    fn new(name: &str) -> El {
        El {
            name: name.into(),
            ..El::default()
        }
    }

    /// Adds an attribute unless the value is empty.
    fn attr(mut self, k: &str, v: &str) -> El {
        if !v.is_empty() {
            self.attrs.push((k.into(), v.into()));
        }
        self
    }

    /// Adds a child element holding text, unless the text is empty.
    fn leaf(mut self, name: &str, text: &str) -> El {
        if !text.is_empty() {
            let mut c = El::new(name);
            c.text = text.into();
            self.children.push(c);
        }
        self
    }

    /// Adds a wrapper element with children, unless there are none.
    fn group(mut self, name: &str, items: Vec<El>) -> El {
        if !items.is_empty() {
            let mut c = El::new(name);
            c.children = items;
            self.children.push(c);
        }
        self
    }

    fn write(&self, out: &mut String, depth: usize, root: bool) {
        let pad = "\t".repeat(depth);
        out.push_str(&format!("{pad}<{}", self.name));
        if root {
            out.push_str(&format!(" xmlns:xnat=\"{XNAT_NS}\" xmlns:xsi=\"{XSI_NS}\""));
        }
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", xml_escape(v)));
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>\n");
            return;
        }
        if self.children.is_empty() {
            out.push_str(&format!(">{}</{}>\n", xml_escape(&self.text), self.name));
            return;
        }
        out.push_str(">\n");
        for c in &self.children {
            c.write(out, depth + 1, false);
        }
        out.push_str(&format!("{pad}</{}>\n", self.name));
    }

    fn document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write(&mut out, 0, true);
        out
    }
}

/// The root element name of a data type (`xnat:mrSessionData` → `xnat:MRSession`).
pub fn root_element(xsi_type: &str) -> String {
    let name = match xsi_type {
        "xnat:projectData" => "Project",
        "xnat:subjectData" => "Subject",
        "xnat:mrSessionData" => "MRSession",
        "xnat:ctSessionData" => "CTSession",
        "xnat:petSessionData" => "PETSession",
        "xnat:otherDicomSessionData" => "OtherDicomSession",
        "xnat:mrScanData" => "MRScan",
        "xnat:ctScanData" => "CTScan",
        "xnat:petScanData" => "PETScan",
        "xnat:otherDicomScanData" => "OtherDicomScan",
        other => return other.to_string(),
    };
    format!("xnat:{name}")
}

/// The data type of a root element name (`MRSession` or `xnat:MRSession` → `xnat:mrSessionData`).
pub fn type_of_root(element: &str) -> Option<&'static str> {
    let local = element.rsplit(':').next().unwrap_or(element);
    Some(match local {
        "Project" => "xnat:projectData",
        "Subject" => "xnat:subjectData",
        "MRSession" => "xnat:mrSessionData",
        "CTSession" => "xnat:ctSessionData",
        "PETSession" => "xnat:petSessionData",
        "OtherDicomSession" => "xnat:otherDicomSessionData",
        "MRScan" => "xnat:mrScanData",
        "CTScan" => "xnat:ctScanData",
        "PETScan" => "xnat:petScanData",
        "OtherDicomScan" => "xnat:otherDicomScanData",
        _ => return None,
    })
}

/// `format=xml` of a project.
pub fn project(p: &Project) -> String {
    El::new("xnat:Project")
        .attr("ID", &p.id)
        .attr("secondary_ID", &p.secondary_id)
        .leaf("xnat:name", &p.name)
        .leaf("xnat:description", &p.description)
        .document()
}

/// `format=xml` of a subject.
pub fn subject(s: &Subject) -> String {
    let shares = s
        .shares
        .iter()
        .map(|(p, l)| {
            El::new("xnat:share")
                .attr("label", l)
                .attr("project", p)
                .attr("subject_ID", &s.id)
        })
        .collect();
    let get = |k: &str| s.fields.get(k).map(String::as_str).unwrap_or("");
    // `group` is an attribute; the demographics are one `xnat:demographicData` element.
    let mut demographics = El::new("xnat:demographics").attr("xsi:type", "xnat:demographicData");
    for k in crate::sim::model::SUBJECT_FIELDS
        .iter()
        .filter(|k| **k != "group")
    {
        demographics = demographics.leaf(&format!("xnat:{k}"), get(k));
    }
    let mut el = El::new("xnat:Subject")
        .attr("ID", &s.id)
        .attr("project", &s.project)
        .attr("group", get("group"))
        .attr("label", &s.label)
        .group("xnat:sharing", shares);
    if !demographics.children.is_empty() {
        el.children.push(demographics);
    }
    el.document()
}

fn resource(element: &str, r: &Resource, uri: &str) -> El {
    El::new(element)
        .attr("xsi:type", "xnat:resourceCatalog")
        .attr("label", &r.label)
        .attr("file_count", &r.files.len().to_string())
        .attr("file_size", &r.total_size().to_string())
        .attr("URI", uri)
        .attr("format", &r.format)
        .attr("content", &r.content)
}

/// A scan as an element: `xnat:scan` inside a session, or the scan's root element.
fn scan_el(element: &str, e: &Experiment, s: &Scan, catalog: &dyn Fn(&Resource) -> String) -> El {
    let mut el = El::new(element);
    if element == "xnat:scan" {
        el = el.attr("xsi:type", &s.xsi_type);
    }
    let files = s
        .resources
        .iter()
        .map(|r| resource("xnat:file", r, &catalog(r)))
        .collect::<Vec<_>>();
    let mut el = el
        .attr("ID", &s.id)
        .attr("type", &s.scan_type)
        .attr("UID", &s.uid)
        .attr("project", &e.project)
        .leaf("xnat:image_session_ID", &e.id)
        .leaf("xnat:quality", &s.quality)
        .leaf("xnat:series_description", &s.series_description)
        .leaf("xnat:modality", &s.modality)
        .leaf("xnat:frames", &s.frames.to_string());
    el.children.extend(files);
    el
}

/// `format=xml` of a scan; `catalog` names a resource's catalog file.
pub fn scan(e: &Experiment, s: &Scan, catalog: &dyn Fn(&Resource) -> String) -> String {
    scan_el(&root_element(&s.xsi_type), e, s, catalog).document()
}

/// `format=xml` of an imaging session with its shares, resources and scans; `scan_catalog` and
/// `session_catalog` name the catalog files of scan and session resources.
pub fn experiment(
    e: &Experiment,
    scan_catalog: &dyn Fn(&Scan, &Resource) -> String,
    session_catalog: &dyn Fn(&Resource) -> String,
) -> String {
    let shares = e
        .shares
        .iter()
        .map(|(p, l)| El::new("xnat:share").attr("label", l).attr("project", p))
        .collect();
    let resources = e
        .resources
        .iter()
        .map(|r| resource("xnat:resource", r, &session_catalog(r)))
        .collect();
    let scans = e
        .scans
        .iter()
        .map(|s| scan_el("xnat:scan", e, s, &|r| scan_catalog(s, r)))
        .collect();
    El::new(&root_element(&e.xsi_type))
        .attr("ID", &e.id)
        .attr("project", &e.project)
        .attr("label", &e.label)
        .attr("modality", &e.modality)
        .attr("UID", &e.uid)
        .group("xnat:sharing", shares)
        .leaf("xnat:date", &e.date)
        .leaf("xnat:time", &e.time)
        .group("xnat:resources", resources)
        .leaf("xnat:subject_ID", &e.subject_id)
        .group("xnat:scans", scans)
        .leaf("xnat:dcmPatientId", &e.dcm_patient_id)
        .leaf("xnat:dcmPatientName", &e.dcm_patient_name)
        .document()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_follow_the_schema_layout() {
        let e = Experiment {
            id: "E1".into(),
            project: "P".into(),
            subject_id: "S1".into(),
            label: "L<1>".into(),
            date: "2024-01-02".into(),
            xsi_type: "xnat:mrSessionData".into(),
            uid: "1.2.3".into(),
            modality: "MR".into(),
            scans: vec![Scan {
                id: "1".into(),
                scan_type: "T1".into(),
                series_description: "T1 sag".into(),
                frames: 3,
                xsi_type: "xnat:mrScanData".into(),
                ..Scan::default()
            }],
            ..Experiment::default()
        };
        let x = experiment(&e, &|_, _| String::new(), &|_| String::new());
        assert!(x.contains("<xnat:MRSession xmlns:xnat=\"http://nrg.wustl.edu/xnat\""));
        assert!(
            x.contains("label=\"L&lt;1&gt;\" modality=\"MR\" UID=\"1.2.3\">"),
            "{x}"
        );
        let date = x.find("<xnat:date>2024-01-02</xnat:date>").unwrap();
        let subject = x.find("<xnat:subject_ID>S1</xnat:subject_ID>").unwrap();
        let scans = x.find("<xnat:scans>").unwrap();
        assert!(date < subject && subject < scans, "{x}");
        assert!(x.contains("<xnat:scan xsi:type=\"xnat:mrScanData\" ID=\"1\" type=\"T1\""));
        assert!(x.contains("<xnat:series_description>T1 sag</xnat:series_description>"));
        assert!(x.contains("<xnat:frames>3</xnat:frames>"));
        assert!(!x.contains("dcmPatientId"), "empty values are left out");
    }

    #[test]
    fn subjects_carry_group_and_demographics() {
        let mut s = Subject {
            id: "S1".into(),
            project: "P".into(),
            label: "L".into(),
            ..Subject::default()
        };
        assert!(!subject(&s).contains("demographics"));
        s.fields.insert("group".into(), "control".into());
        s.fields.insert("gender".into(), "F".into());
        let x = subject(&s);
        assert!(
            x.contains("project=\"P\" group=\"control\" label=\"L\""),
            "{x}"
        );
        assert!(
            x.contains("<xnat:demographics xsi:type=\"xnat:demographicData\">"),
            "{x}"
        );
        assert!(x.contains("<xnat:gender>F</xnat:gender>"), "{x}");
    }

    #[test]
    fn root_elements_and_types_map_both_ways() {
        for t in ["xnat:mrSessionData", "xnat:petScanData", "xnat:subjectData"] {
            assert_eq!(type_of_root(&root_element(t)), Some(t));
        }
        assert_eq!(type_of_root("Unknown"), None);
    }
}
