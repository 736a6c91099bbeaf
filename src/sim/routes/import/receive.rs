//! Receiving one routed group of an import into the prearchive: a session for its study (an open one
//! reused), its objects written under their scans' folders, and the scans and file entries recorded.

use super::{Object, Target};
use crate::sim::dicomio::Header;
use crate::sim::http::Response;
use crate::sim::model::{
    scan_order, scan_type_for, session_type_for, FileEntry, PrearcSession, Resource, Scan,
};
use crate::sim::paths::folder_name;
use crate::sim::routes::{fail, Ctx};
use crate::sim::store::Store;
use crate::sim::util::{md5_hex, now_prearc, now_sql, valid_id};
use std::path::Path;

fn io_fail(_: std::io::Error) -> Response {
    fail(500, "The server could not store the upload.")
}

/// Stores a group of objects in a prearchive session (reusing an open one for the same study).
pub(super) fn receive(
    store: &mut Store,
    ctx: &Ctx,
    t: &Target,
    objs: Vec<Object>,
) -> Result<(String, String, String), Response> {
    let mut session = open_session(store, ctx, t, &objs[0].header);
    let dir = store.root().join(session.dir());
    let rename = ctx.flag("rename");
    for o in objs {
        let h = &o.header;
        let scan_id = scan_id_of(h);
        let name = if rename {
            renamed(h, &scan_id)
        } else {
            o.name.clone()
        };
        let scan_dir = dir.join("SCANS").join(&scan_id).join("DICOM");
        write_object(store, &scan_dir, &name, &o.bytes)?;
        let idx = scan_index(&mut session, h, &scan_id);
        let scan = &mut session.scans[idx];
        let entry = FileEntry {
            size: o.bytes.len() as u64,
            digest: o.digest.clone(),
            uid: h.sop_uid.clone(),
            format: "DICOM".into(),
        };
        if let Some(r) = scan.resources.first_mut() {
            r.files.insert(name, entry);
            scan.frames = r.files.len() as u64 * h.frames.max(1);
        }
    }
    session.status = "READY".into();
    session.lastmod = now_sql();
    let key = session.key();
    store.put_prearc(session).map_err(io_fail)?;
    Ok(key)
}

/// The prearchive session a group goes into: an open one of the same project, study and label
/// (receiving, ready, in error or in conflict), else a new one.
fn open_session(store: &Store, ctx: &Ctx, t: &Target, first: &Header) -> PrearcSession {
    let reusable = ["RECEIVING", "READY", "ERROR", "CONFLICT"];
    let existing = store
        .prearchive
        .values()
        .find(|p| {
            p.project == t.project
                && p.tag == t.study_uid
                && p.label == t.session
                && reusable.contains(&p.status.as_str())
        })
        .cloned();
    match existing {
        Some(s) => s,
        None => PrearcSession {
            prevent_anon: ctx.flag("prevent_anon"),
            ..new_prearc(store, t, first)
        },
    }
}

/// The scan an object belongs to: its series number, else the last part of its series UID, else
/// `1`. The scan ID becomes a folder name: only XNAT's identifier characters survive.
fn scan_id_of(h: &Header) -> String {
    folder_name(&h.series_number)
        .or_else(|| folder_name(h.series_uid.rsplit('.').next().unwrap_or("")))
        .unwrap_or_else(|| "1".into())
}

/// The file name XNAT gives an object under `rename=true`: study UID, scan, instance number and a
/// hash of its SOP class and instance UIDs.
fn renamed(h: &Header, scan_id: &str) -> String {
    let hash = md5_hex(format!("{}{}", h.sop_class, h.sop_uid).as_bytes());
    format!(
        "{}-{}-{}-{}.dcm",
        h.study_uid,
        scan_id,
        h.instance_number,
        &hash[..8]
    )
}

/// Writes one object's bytes as `name` in its scan's DICOM folder, inside the emulator's state.
fn write_object(store: &Store, scan_dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Response> {
    store.guard(&scan_dir.join(name)).map_err(io_fail)?;
    std::fs::create_dir_all(scan_dir).map_err(io_fail)?;
    std::fs::write(scan_dir.join(name), bytes).map_err(io_fail)
}

/// The index of the session's scan `scan_id`, adding the scan (with an empty DICOM resource,
/// described by the object's header) in scan order when the session has none yet.
fn scan_index(session: &mut PrearcSession, h: &Header, scan_id: &str) -> usize {
    if let Some(i) = session.scans.iter().position(|s| s.id == scan_id) {
        return i;
    }
    session.scans.push(Scan {
        id: scan_id.to_string(),
        scan_type: h.series_description.clone(),
        series_description: h.series_description.clone(),
        uid: h.series_uid.clone(),
        xsi_type: scan_type_for(&h.modality).into(),
        modality: h.modality.clone(),
        quality: "usable".into(),
        resources: vec![Resource {
            label: "DICOM".into(),
            format: "DICOM".into(),
            content: "RAW".into(),
            ..Resource::default()
        }],
        ..Scan::default()
    });
    session.scans.sort_by(|a, b| scan_order(&a.id, &b.id));
    session
        .scans
        .iter()
        .position(|s| s.id == scan_id)
        .unwrap_or(0)
}

/// A new prearchive session for a group: a timestamp unique in its project, and the study's date,
/// time, modality and patient from the first object's header.
fn new_prearc(store: &Store, t: &Target, h: &Header) -> PrearcSession {
    let mut ts = now_prearc();
    // Timestamps are unique per project.
    while store
        .prearchive
        .keys()
        .any(|k| k.0 == t.project && k.1 == ts)
    {
        let n: u64 = ts.replace('_', "").parse().unwrap_or(0) + 1;
        let s = format!("{n:017}");
        ts = format!("{}_{}", &s[..8], &s[8..]);
    }
    let folder = if valid_id(&t.session) {
        t.session.clone()
    } else {
        "dicom_upload".into()
    };
    PrearcSession {
        project: t.project.clone(),
        timestamp: ts,
        folder,
        label: t.session.clone(),
        subject: t.subject.clone(),
        tag: t.study_uid.clone(),
        status: "RECEIVING".into(),
        scan_date: h.study_date.clone(),
        scan_time: h.study_time.clone(),
        uploaded: now_sql(),
        lastmod: now_sql(),
        autoarchive: false,
        xsi_type: session_type_for(&h.modality).into(),
        modality: h.modality.clone(),
        dcm_patient_id: h.patient_id.clone(),
        dcm_patient_name: h.patient_name.clone(),
        scans: Vec::new(),
        prevent_anon: false,
    }
}
