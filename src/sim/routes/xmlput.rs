//! Item documents in PUT and POST bodies. XNAT accepts a project, subject, session or scan as an XML
//! document (raw `text/xml`, or one XML file in a multipart body, as pyxnat and copyxnat send it) and
//! stores what it declares. Here such a document becomes the same fields a query string can carry,
//! so the item routes treat both alike: the root element (or its `xsi:type`) gives `xsiType`, the root's
//! attributes (`label`, `UID`, `modality`, `type`, `secondary_ID`) and its child elements that hold
//! text (`date`, `time`, `dcmPatientId`, `dcmPatientName`, `series_description`, `frames`, `quality`,
//! `name`, `description`, a subject's `demographics` children, ...) give fields of the same names. Accession IDs (`ID`) and the owning
//! `project` are the server's to choose and are ignored. Query-string values win over the document's.

use crate::sim::http::Request;

/// Whether a body is meant as an item document: XML as the body, or as the one file of a multipart body.
fn xml_text(req: &Request) -> Option<String> {
    let ct = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = if ct.starts_with("multipart/form-data") {
        let parts = super::upload::multipart(req.header("content-type")?, &req.body)?;
        match parts.as_slice() {
            [(name, data)] if name.to_ascii_lowercase().ends_with(".xml") || looks_xml(data) => {
                data.clone()
            }
            _ => return None,
        }
    } else if ct.contains("xml") || looks_xml(&req.body) {
        req.body.clone()
    } else {
        return None;
    };
    String::from_utf8(bytes).ok()
}

fn looks_xml(b: &[u8]) -> bool {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    b[start..].starts_with(b"<")
}

/// The fields an item document in the request declares; empty when the body is not one.
pub fn fields(req: &Request) -> Vec<(String, String)> {
    let Some(text) = xml_text(req) else {
        return Vec::new();
    };
    let Ok(doc) = roxmltree::Document::parse(&text) else {
        return Vec::new();
    };
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(crate::sim::xmldoc::XNAT_NS) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let declared = root
        .attributes()
        .find(|a| {
            a.name() == "type"
                && a.namespace()
                    .is_some_and(|n| n.contains("XMLSchema-instance"))
        })
        .map(|a| a.value().to_string());
    let by_root = crate::sim::xmldoc::type_of_root(root.tag_name().name()).map(str::to_string);
    if let Some(t) = declared.or(by_root) {
        out.push(("xsiType".to_string(), t));
    }
    for a in root.attributes() {
        if a.namespace().is_none() && !matches!(a.name(), "ID" | "project") {
            out.push((a.name().to_string(), a.value().to_string()));
        }
    }
    for c in root.children().filter(|c| c.is_element()) {
        // A subject's demographics are one level down; other nested elements are child items.
        if c.tag_name().name() == "demographics" {
            out.extend(leaves(c));
        }
    }
    out.extend(leaves(root));
    out
}

/// The child elements of `n` that hold only text, as (local name, text).
fn leaves(n: roxmltree::Node) -> Vec<(String, String)> {
    n.children()
        .filter(|c| c.is_element() && c.children().all(|g| !g.is_element()))
        .filter_map(|c| {
            let text = c.text().unwrap_or("").trim();
            (!text.is_empty()).then(|| (c.tag_name().name().to_string(), text.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: &str, body: &str) -> Request {
        Request {
            method: "PUT".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![("content-type".into(), ct.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    const SCAN: &str = r#"<?xml version="1.0"?>
<xnat:MRScan xmlns:xnat="http://nrg.wustl.edu/xnat" ID="7" project="SRC" type="T1w" UID="1.2.3" label="7">
  <xnat:image_session_ID>XNAT_E00009</xnat:image_session_ID>
  <xnat:series_description>T1 sagittal</xnat:series_description>
  <xnat:frames>176</xnat:frames>
  <xnat:file label="DICOM" URI="/x"/>
</xnat:MRScan>"#;

    #[test]
    fn scan_documents_give_their_fields_but_not_ids() {
        let f = fields(&req("text/xml", SCAN));
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("xsiType"), Some("xnat:mrScanData"));
        assert_eq!(get("type"), Some("T1w"));
        assert_eq!(get("UID"), Some("1.2.3"));
        assert_eq!(get("series_description"), Some("T1 sagittal"));
        assert_eq!(get("frames"), Some("176"));
        assert_eq!(get("ID"), None);
        assert_eq!(get("project"), None);
        assert_eq!(get("file"), None);
    }

    #[test]
    fn subject_demographics_are_read_but_other_nested_items_are_not() {
        let doc = r#"<xnat:Subject xmlns:xnat="http://nrg.wustl.edu/xnat" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" group="control" label="S">
  <xnat:demographics xsi:type="xnat:demographicData"><xnat:gender>F</xnat:gender><xnat:yob>1970</xnat:yob></xnat:demographics>
  <xnat:experiments><xnat:experiment><xnat:date>2020-01-01</xnat:date></xnat:experiment></xnat:experiments>
</xnat:Subject>"#;
        let f = fields(&req("text/xml", doc));
        assert!(f.contains(&("group".into(), "control".into())));
        assert!(f.contains(&("gender".into(), "F".into())));
        assert!(f.contains(&("yob".into(), "1970".into())));
        assert!(!f.iter().any(|(k, _)| k == "date"), "{f:?}");
    }

    #[test]
    fn multipart_xml_files_count_and_other_bodies_do_not() {
        let body = format!(
            "--B\r\nContent-Disposition: form-data; name=\"data.xml\"; filename=\"data.xml\"\r\nContent-Type: text/xml\r\n\r\n{SCAN}\r\n--B--\r\n"
        );
        let f = fields(&req("multipart/form-data; boundary=B", &body));
        assert!(f.contains(&("type".into(), "T1w".into())));
        assert!(fields(&req("application/octet-stream", "DICM")).is_empty());
        assert!(fields(&req("text/xml", "<other xmlns=\"urn:x\" a=\"1\"/>")).is_empty());
        assert!(fields(&req("text/xml", "<broken")).is_empty());
    }
}
