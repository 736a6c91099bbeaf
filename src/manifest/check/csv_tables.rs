//! The manifest's lookup tables: CSV files of `old,new` rows, read and checked, with the tables that
//! feed XNAT labels held to XNAT's label rule.

use super::super::load::Sink;
use super::super::model::Transfer;
use crate::template::{Table, Templates};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The tables that label templates (`map.subject`, `map.session`) read: their `new` values become
/// XNAT labels, so they are checked against XNAT's label rule.
pub fn label_tables(transfers: &[(usize, Transfer)]) -> BTreeSet<String> {
    let templates = Templates::new(&BTreeMap::new());
    let mut out = BTreeSet::new();
    for (_, t) in transfers {
        for src in [&t.map.subject, &t.map.session].into_iter().flatten() {
            for v in templates.variables(src).unwrap_or_default() {
                if let Some(name) = v.strip_prefix("tables.") {
                    out.insert(name.split('.').next().unwrap_or(name).to_string());
                }
            }
        }
    }
    out
}

/// Reads the manifest's tables: CSV with a header `old,new`, no duplicate `old`; in tables that
/// feed labels (`labels`), every `new` value a valid XNAT label.
pub fn tables(
    sink: &mut Sink<'_>,
    base: &Path,
    decl: &BTreeMap<String, String>,
    labels: &BTreeSet<String>,
) -> BTreeMap<String, Table> {
    let mut out = BTreeMap::new();
    for (name, rel) in decl {
        let path = format!("tables.{name}");
        let file = base.join(rel);
        if let Some(table) = read_table(sink, (&path, &file), labels.contains(name)) {
            out.insert(name.clone(), table);
        }
    }
    out
}

/// Reads one table (its manifest path and its file): `None` when the file cannot be read or is not
/// CSV, an empty table when its header is not `old,new`.
fn read_table(
    sink: &mut Sink<'_>,
    (path, file): (&str, &Path),
    feeds_labels: bool,
) -> Option<Table> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            sink.at(
                path,
                format!("cannot read the table `{}`: {e}", file.display()),
            );
            return None;
        }
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => {
            sink.other(file, Some(1), path, format!("not CSV: {e}"));
            return None;
        }
    };
    if header != ["old", "new"] {
        sink.other(
            file,
            Some(1),
            path,
            format!(
                "the first line must be the header `old,new`, found `{}`; the table is not read until it is",
                header.join(",")
            ),
        );
        // Registered empty, so that templates using it raise no second, misleading problem.
        return Some(Table::new());
    }
    Some(table_rows(sink, (path, file), &mut rdr, feeds_labels))
}

/// The rows of one table after its header: each with two columns and an `old` value not seen
/// before, and in a table that feeds labels, a `new` value that is a valid XNAT label.
fn table_rows(
    sink: &mut Sink<'_>,
    (path, file): (&str, &Path),
    rdr: &mut csv::Reader<&[u8]>,
    feeds_labels: bool,
) -> Table {
    let mut table = Table::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    for (i, row) in rdr.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                sink.other(file, Some(line), path, format!("not CSV: {e}"));
                break;
            }
        };
        if row.len() != 2 {
            sink.other(
                file,
                Some(line),
                path,
                format!("expected 2 columns (old,new), found {}", row.len()),
            );
            continue;
        }
        let (old, new) = (row[0].trim().to_string(), row[1].trim().to_string());
        if let Some(prev) = first_line.get(&old) {
            sink.other(
                file,
                Some(line),
                path,
                format!("duplicate old value \"{old}\" (first on line {prev})"),
            );
            continue;
        }
        if feeds_labels {
            if let Err(why) = crate::plan::check_label(&new) {
                sink.other(
                    file,
                    Some(line),
                    path,
                    format!("\"{new}\" (for \"{old}\") becomes a label in map templates, and is not a valid XNAT label: {why}"),
                );
            }
        }
        first_line.insert(old.clone(), line);
        table.insert(old, new);
    }
    table
}
