//! The shape of XNAT's item document (`GET /data/experiments/{ID}?format=json`): `items`, each with
//! `meta`, `data_fields` and `children` (`field`, then `items` again), as typed fields. Only the
//! fields ferry reads are kept; the rest of the document is skipped while it is parsed, instead of
//! being built into a tree of values first. Every part may be missing or null.

use super::json::Text;
use serde::Deserialize;

/// The document.
#[derive(Debug, Default, Deserialize)]
pub struct ItemDoc {
    #[serde(default)]
    pub items: Option<Vec<Item>>,
}

/// One item: an experiment, a scan, a resource, a share, an assessor.
#[derive(Debug, Default, Deserialize)]
pub struct Item {
    #[serde(default)]
    pub meta: Option<Meta>,
    #[serde(default)]
    pub data_fields: Option<Fields>,
    #[serde(default)]
    pub children: Option<Vec<Child>>,
}

/// An item's `meta`.
#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default, rename = "xsi:type")]
    pub xsi_type: Text,
    /// `true` for an item's earlier versions; a value of another kind counts as not `true`.
    #[serde(default, rename = "isHistory")]
    pub is_history: Option<serde_json::Value>,
}

/// The data fields ferry reads from experiments, scans, resources and shares.
#[derive(Debug, Default, Deserialize)]
pub struct Fields {
    #[serde(default, rename = "ID")]
    pub id: Text,
    #[serde(default)]
    pub project: Text,
    #[serde(default)]
    pub label: Text,
    #[serde(default, rename = "subject_ID")]
    pub subject_id: Text,
    #[serde(default)]
    pub note: Text,
    #[serde(default)]
    pub visit_id: Text,
    #[serde(default)]
    pub time: Text,
    #[serde(default)]
    pub date: Text,
    #[serde(default, rename = "UID")]
    pub uid: Text,
    #[serde(default, rename = "type")]
    pub scan_type: Text,
    #[serde(default)]
    pub quality: Text,
    #[serde(default)]
    pub series_description: Text,
    #[serde(default)]
    pub xnat_abstractresource_id: Text,
    #[serde(default)]
    pub format: Text,
    #[serde(default)]
    pub file_count: Text,
}

/// A group of children under one field path (`scans/scan`, `sharing/share`, `file`, ...).
#[derive(Debug, Default, Deserialize)]
pub struct Child {
    #[serde(default)]
    pub field: Text,
    #[serde(default)]
    pub items: Option<Vec<Item>>,
}

/// An item with nothing in it, for documents that have none.
static EMPTY: Item = Item {
    meta: None,
    data_fields: None,
    children: None,
};

impl ItemDoc {
    /// The first item, empty where there is none.
    pub fn first(&self) -> &Item {
        self.items
            .as_deref()
            .and_then(|i| i.first())
            .unwrap_or(&EMPTY)
    }

    /// The current version of the item (not one of its history entries).
    pub fn current(&self) -> Option<&Item> {
        self.items.as_deref()?.iter().find(|i| !i.is_history())
    }
}

impl Item {
    fn is_history(&self) -> bool {
        self.meta
            .as_ref()
            .and_then(|m| m.is_history.as_ref())
            .and_then(|v| v.as_bool())
            == Some(true)
    }

    /// Its data fields, empty where it has none.
    pub fn fields(&self) -> &Fields {
        static NONE: std::sync::OnceLock<Fields> = std::sync::OnceLock::new();
        self.data_fields
            .as_ref()
            .unwrap_or_else(|| NONE.get_or_init(Fields::default))
    }

    /// Its data type (`meta/xsi:type`), empty where it has none.
    pub fn xsi_type(&self) -> &str {
        self.meta.as_ref().map_or("", |m| m.xsi_type.as_str())
    }

    fn groups(&self) -> impl Iterator<Item = &Child> {
        self.children.iter().flatten()
    }

    /// The children under the field path `path`.
    pub fn children<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.groups()
            .filter(move |c| c.field.as_str() == path)
            .flat_map(|c| c.items.iter().flatten())
    }

    /// How many children it has under field paths starting with `prefix`.
    pub fn count_under(&self, prefix: &str) -> u64 {
        self.groups()
            .filter(|c| c.field.as_str().starts_with(prefix))
            .map(|c| c.items.as_ref().map_or(0, |i| i.len() as u64))
            .sum()
    }
}
