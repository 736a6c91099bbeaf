//! Response shapes XNAT uses: Restlet status pages for errors (the message in `<h3>`), ResultSet
//! listings as JSON or CSV with string values, and XFT item documents as JSON (their XML form is in
//! [`super::xmldoc`]).

use super::http::Response;
use super::util::xml_escape;
use serde_json::{json, Map, Value};

/// A Restlet-style HTML status page carrying `message` in `<h3>`.
pub fn status_page(status: u16, message: &str) -> Response {
    let title = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let body = format!(
        "<html>\n<head>\n   <title>Status page</title>\n</head>\n<body style=\"font-family: sans-serif;\">\n\
         <p style=\"font-size: 1.2em;font-weight: bold;margin: 1em 0px;\">{title}</p>\n\
         <h3>{}</h3>\n<p>You can get technical details <a href=\"http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html\">here</a>.<br>\n\
         Please continue your visit at our <a href=\"/\">home page</a>.\n</p>\n</body>\n</html>\n",
        xml_escape(message)
    );
    Response::bytes(status, "text/html;charset=UTF-8", body.into_bytes())
}

/// `401` with the Basic challenge.
pub fn unauthorized(message: &str) -> Response {
    status_page(401, message).with_header("WWW-Authenticate", "Basic realm=\"XNAT\"")
}

/// A plain-text `200` reply.
pub fn text(status: u16, body: impl Into<String>) -> Response {
    Response::bytes(status, "text/plain", body.into().into_bytes())
}

/// A JSON reply.
pub fn json_value(status: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::bytes(status, "application/json", body)
}

/// A `text/uri-list` reply: each URI followed by CRLF.
pub fn uri_list(status: u16, uris: &[String]) -> Response {
    let body: String = uris.iter().map(|u| format!("{u}\r\n")).collect();
    Response::bytes(status, "text/uri-list", body.into_bytes())
}

/// The meta fields of a ResultSet besides its rows.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// `title`, when the endpoint sets one.
    pub title: Option<&'static str>,
    /// Whether to add `totalRecords`.
    pub total: bool,
    /// Whether to add the file-listing `Columns` entry.
    pub uri_columns: bool,
}

/// A listing: column names and rows of string values.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names in order.
    pub columns: Vec<String>,
    /// Rows; each has one value per column.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Builds a table from rows given as field maps, keeping `columns` in order (missing fields are
    /// empty strings).
    pub fn from_maps(columns: &[String], maps: &[Map<String, Value>]) -> Table {
        let rows = maps
            .iter()
            .map(|m| {
                columns
                    .iter()
                    .map(|c| match m.get(c) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(v) => v.to_string(),
                    })
                    .collect()
            })
            .collect();
        Table {
            columns: columns.to_vec(),
            rows,
        }
    }

    /// Renders as `{"ResultSet": {"Result": [...], ...}}`.
    pub fn to_json(&self, meta: &Meta) -> Value {
        let result: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                for (c, v) in self.columns.iter().zip(r) {
                    m.insert(c.clone(), Value::String(v.clone()));
                }
                Value::Object(m)
            })
            .collect();
        let mut rs = Map::new();
        rs.insert("Result".into(), Value::Array(result));
        if meta.total {
            rs.insert(
                "totalRecords".into(),
                Value::String(self.rows.len().to_string()),
            );
        }
        if let Some(t) = meta.title {
            rs.insert("title".into(), Value::String(t.into()));
        }
        if meta.uri_columns {
            rs.insert("Columns".into(), json!([{"key": "URI", "serverRoot": ""}]));
        }
        json!({ "ResultSet": Value::Object(rs) })
    }

    /// Renders as CSV: a header line, then one line per row, `\n` line ends, fields quoted only when
    /// they need it.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .flexible(true)
            .from_writer(Vec::new());
        // Writing to memory cannot fail; a row of another width is written as it is.
        let _ = w.write_record(&self.columns);
        for r in &self.rows {
            let _ = w.write_record(r);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// Renders in the requested format (`csv`, else JSON).
    pub fn respond(&self, format: &str, meta: &Meta) -> Response {
        match format {
            "csv" => Response::bytes(200, "text/csv", self.to_csv().into_bytes()),
            "xml" => Response::bytes(200, "text/xml", self.to_xml().into_bytes()),
            _ => json_value(200, &self.to_json(meta)),
        }
    }

    /// Renders as a simple XFT-like results XML document.
    pub fn to_xml(&self) -> String {
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ResultSet>\n<results>\n");
        for r in &self.rows {
            out.push_str("<row>");
            for v in r {
                out.push_str(&format!("<cell>{}</cell>", xml_escape(v)));
            }
            out.push_str("</row>\n");
        }
        out.push_str("</results>\n</ResultSet>\n");
        out
    }
}

/// One XFT item: `meta`, `data_fields` and `children`.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// `xsi:type`.
    pub xsi_type: String,
    /// Flattened fields.
    pub fields: Map<String, Value>,
    /// Child collections: (field path, items).
    pub children: Vec<(String, Vec<Item>)>,
}

impl Item {
    /// A new item of a type.
    pub fn new(xsi_type: &str) -> Item {
        Item {
            xsi_type: xsi_type.into(),
            ..Item::default()
        }
    }

    /// Sets a string field.
    pub fn field(mut self, name: &str, value: impl Into<String>) -> Item {
        self.fields
            .insert(name.to_string(), Value::String(value.into()));
        self
    }

    /// Adds a child collection (skipped when empty, as XNAT does).
    pub fn child(mut self, path: &str, items: Vec<Item>) -> Item {
        if !items.is_empty() {
            self.children.push((path.to_string(), items));
        }
        self
    }

    /// The item as JSON.
    pub fn to_value(&self) -> Value {
        let children: Vec<Value> = self
            .children
            .iter()
            .map(|(f, items)| {
                json!({"field": f, "items": items.iter().map(Item::to_value).collect::<Vec<_>>()})
            })
            .collect();
        json!({
            "meta": {"isHistory": false, "xsi:type": self.xsi_type, "create_event_id": 1,
                     "start_date": "Mon Jan 01 00:00:00 UTC 2024"},
            "data_fields": Value::Object(self.fields.clone()),
            "children": children,
        })
    }

    /// The document `{"items": [item]}`.
    pub fn document(&self) -> Value {
        json!({ "items": [self.to_value()] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render_strings_json_and_csv() {
        let mut m = Map::new();
        m.insert("ID".into(), json!("P1"));
        m.insert("n".into(), json!(3));
        let t = Table::from_maps(&["ID".into(), "n".into(), "x".into()], &[m]);
        let meta = Meta {
            total: true,
            ..Meta::default()
        };
        let v = t.to_json(&meta);
        assert_eq!(v["ResultSet"]["Result"][0]["n"], "3");
        assert_eq!(v["ResultSet"]["Result"][0]["x"], "");
        assert_eq!(v["ResultSet"]["totalRecords"], "1");
        assert_eq!(t.to_csv(), "ID,n,x\nP1,3,\n");
        m = Map::new();
        m.insert("ID".into(), json!("a,b \"c\""));
        let t = Table::from_maps(&["ID".into()], &[m]);
        assert_eq!(t.to_csv(), "ID\n\"a,b \"\"c\"\"\"\n");
    }

    #[test]
    fn status_pages_carry_the_message_in_h3() {
        let r = status_page(409, "Label already in use:X");
        let super::super::http::Body::Bytes(b) = r.body else {
            panic!("bytes expected")
        };
        let s = String::from_utf8(b).unwrap();
        assert!(s.starts_with("<html>"));
        assert!(s.contains("<h3>Label already in use:X</h3>"));
    }

    #[test]
    fn items_have_meta_and_children() {
        let i = Item::new("xnat:mrSessionData")
            .field("ID", "E1")
            .child(
                "scans/scan",
                vec![Item::new("xnat:mrScanData").field("ID", "1")],
            )
            .child("sharing/share", vec![]);
        let v = i.document();
        assert_eq!(v["items"][0]["meta"]["xsi:type"], "xnat:mrSessionData");
        assert_eq!(v["items"][0]["children"][0]["field"], "scans/scan");
        assert_eq!(v["items"][0]["children"].as_array().unwrap().len(), 1);
    }
}
