//! `build`: the planner's entry point. Pure: (manifest, tables, inventories) -> [`Plan`]. It selects
//! each transfer's sessions, maps their labels, finds destination label collisions across the whole
//! plan, then decides each session in a fixed order (transfers in manifest order, sessions by source
//! subject then label) so that the same inputs always give the same plan.

use super::checklist::{self, Tally};
use super::decide::{self, Cand};
use super::error::PlanError;
use super::graph;
use super::labels::{check_label, missing_keys, Mapped, Mapper};
use super::model::{InventoryRef, ManifestRef, Plan, Skipped, FORMAT};
use super::phi::{self, TransferGate};
use super::select::{Picked, Selector};
use crate::dicom::profile::KeyUse;
use crate::manifest::model::{Manifest, ResolvedPolicy, Server, Transfer};
use crate::manifest::LoadedManifest;
use crate::model::inventory::Inventory;
use crate::template::{Table, Templates};
use std::collections::{BTreeMap, BTreeSet};

/// Inventories keyed by (server name in the manifest, project ID).
pub type Inventories = BTreeMap<(String, String), Inventory>;

/// Everything a plan is computed from.
pub struct PlanInput<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// Its lookup tables, by name.
    pub tables: &'a BTreeMap<String, Table>,
    /// The manifest's path as given on the command line (recorded in the plan).
    pub manifest_path: &'a str,
    /// `blake3:<hex>` of the manifest file's bytes.
    pub manifest_hash: &'a str,
    /// Every inventory the transfers read (see [`needed_inventories`]).
    pub inventories: &'a Inventories,
    /// The version of ferry writing the plan.
    pub ferry_version: &'a str,
}

impl<'a> PlanInput<'a> {
    /// The input for a loaded manifest.
    pub fn new(
        loaded: &'a LoadedManifest,
        manifest_path: &'a str,
        inventories: &'a Inventories,
        ferry_version: &'a str,
    ) -> Self {
        PlanInput {
            manifest: &loaded.manifest,
            tables: &loaded.tables,
            manifest_path,
            manifest_hash: &loaded.hash,
            inventories,
            ferry_version,
        }
    }
}

/// The (server, project) pairs whose inventories a manifest's transfers read, sorted.
pub fn needed_inventories(m: &Manifest) -> BTreeSet<(String, String)> {
    m.transfers
        .iter()
        .flat_map(|t| [&t.from, &t.to])
        .map(|e| (e.server.clone(), e.project.clone()))
        .collect()
}

/// One transfer between selection and decision.
pub(crate) struct Draft<'a> {
    pub t: &'a Transfer,
    pub policy: ResolvedPolicy,
    pub src: &'a Inventory,
    pub dest: &'a Inventory,
    pub cands: Vec<Cand<'a>>,
    pub skipped: Vec<Skipped>,
    pub tally: Tally,
    /// The key of the transfer's UID digests.
    pub uid_key: [u8; 32],
}

/// A transfer's key (see `dicom::profile::transfer_key`).
fn transfer_key_of(servers: &BTreeMap<String, Server>, t: &Transfer, purpose: KeyUse) -> [u8; 32] {
    let url = |s: &str| servers.get(s).map(|x| x.url.as_str()).unwrap_or("");
    crate::dicom::profile::transfer_key(purpose, (url(&t.to.server), &t.to.project))
}

fn inventory<'a>(
    input: &PlanInput<'a>,
    server: &str,
    project: &str,
) -> Result<&'a Inventory, PlanError> {
    input
        .inventories
        .get(&(server.to_string(), project.to_string()))
        .ok_or_else(|| PlanError::MissingInventory {
            server: server.to_string(),
            project: project.to_string(),
        })
}

/// Selects one transfer's sessions, maps their labels and finds their label problems and remaining
/// identifying data: the transfer as the decision receives it.
fn draft<'a>(
    input: &PlanInput<'a>,
    t: &'a Transfer,
    templates: &Templates,
) -> Result<Draft<'a>, PlanError> {
    let share = super::moves::native(t.mode);
    let policy = t.policy.resolve(&input.manifest.defaults.policy, t.mode);
    let src = inventory(input, &t.from.server, &t.from.project)?;
    let dest = inventory(input, &t.to.server, &t.to.project)?;
    let (mut picked, mut skipped) = Selector::new(t, share, policy.archives())?.pick(src);
    skip_unserved_types(t, dest, &mut picked, &mut skipped);
    let mapper = Mapper::new(templates, t);
    mapper.check()?;
    let gate = transfer_gate(t, templates, &policy, dest);
    let mut cands = Vec::new();
    let mut failed: Vec<(String, String, PlanError)> = Vec::new();
    for p in picked {
        let mapped = match mapper.labels(p.subject, p.session) {
            Ok(m) => m,
            Err(e) => {
                failed.push((p.subject.label.clone(), p.session.label.clone(), e));
                continue;
            }
        };
        cands.push(candidate(input, t, (&mapper, &gate), p, mapped)?);
    }
    if let Some(e) = missing_keys(t, input.tables, &failed) {
        return Err(e);
    }
    if let Some((_, _, e)) = failed.into_iter().next() {
        return Err(e);
    }
    Ok(Draft {
        t,
        policy,
        src,
        dest,
        cands,
        skipped,
        tally: Tally::default(),
        uid_key: transfer_key_of(&input.manifest.servers, t, KeyUse::Digest),
    })
}

/// A session of a data type the destination server does not serve (a plugin not installed there)
/// cannot be imported: skipped, with why. Unknown when the server did not list its types.
fn skip_unserved_types(
    t: &Transfer,
    dest: &Inventory,
    picked: &mut Vec<Picked<'_>>,
    skipped: &mut Vec<Skipped>,
) {
    let Some(types) = &dest.data_types else {
        return;
    };
    picked.retain(|p| {
        let served = types.contains(&p.session.xsi_type);
        if !served {
            skipped.push(Skipped {
                object: format!("session {}", p.session.label),
                reason: format!(
                    "data type {} is not served by the destination server `{}`: an administrator must install or enable it there",
                    p.session.xsi_type, t.to.server
                ),
            });
        }
        served
    });
}

/// The PHI gate of one transfer: the fields its templates may fill with identifying data, and the
/// fields cleared on every file, by its anonymization and by the destination's scripts.
fn transfer_gate(
    t: &Transfer,
    templates: &Templates,
    policy: &ResolvedPolicy,
    dest: &Inventory,
) -> TransferGate {
    let tainted = crate::manifest::phi_check::taint(t, templates).tainted_keys();
    let mut gate = TransferGate::new(t, policy.anonymization, tainted);
    // Fields the destination's scripts (run by ferry before upload) set on every file.
    gate.cleared
        .extend(super::destscripts::overwritten(&super::destscripts::Dest {
            mode: t.mode,
            policy,
            set: &t.dicom.set,
            dest,
        }));
    gate
}

/// One selected session with its mapped labels: its `dicom.set`, the problems of its destination
/// labels, where identifying data remains, and the StudyInstanceUID its destination copy will carry.
fn candidate<'a>(
    input: &PlanInput<'a>,
    t: &'a Transfer,
    (mapper, gate): (&Mapper<'_>, &TransferGate),
    p: Picked<'a>,
    mapped: Mapped,
) -> Result<Cand<'a>, PlanError> {
    let dicom_set = if super::moves::native(t.mode) {
        BTreeMap::new()
    } else {
        mapper.dicom_set(p.subject, p.session, &mapped.subject, &mapped.session)?
    };
    let mut problems = Vec::new();
    for (what, label) in [("subject", &mapped.subject), ("session", &mapped.session)] {
        if let Err(why) = check_label(label) {
            problems.push(format!(
                "destination {what} label `{label}` is not a valid XNAT label: {why}"
            ));
        }
    }
    let (old, new) = phi::labels(t, p.subject, p.session, &mapped.subject, &mapped.session);
    let scans: Vec<&str> = p.scans.iter().map(|s| s.id.as_str()).collect();
    let phi = phi::findings(gate, t, p.session, (&old, &new), &dicom_set, &scans);
    let dest_uid = p
        .session
        .uid
        .as_deref()
        .map(|u| crate::manifest::deidentify::destination_uid(t, &input.manifest.servers, u));
    Ok(Cand {
        dest_uid,
        id: format!("{}/{}/{}", t.name, p.subject.label, p.session.label),
        dest_subject: mapped.subject,
        dest_session: mapped.session,
        dicom_set,
        problems,
        phi,
        picked: p,
    })
}

/// Marks every pair of sessions that map onto one destination session label (anywhere in the plan),
/// and in share mode every pair of source subjects shared under one destination subject label.
fn collisions(drafts: &mut [Draft<'_>]) {
    let mut by_label: BTreeMap<(String, String, String), Vec<(usize, usize)>> = BTreeMap::new();
    for (d, draft) in drafts.iter().enumerate() {
        for (c, cand) in draft
            .cands
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
        {
            let key = (
                draft.t.to.server.clone(),
                draft.t.to.project.clone(),
                cand.dest_session.clone(),
            );
            by_label.entry(key).or_default().push((d, c));
        }
    }
    for ((_, project, label), group) in by_label.into_iter().filter(|(_, g)| g.len() > 1) {
        for &(d, c) in &group {
            let names: Vec<String> = group
                .iter()
                .map(|&(d2, c2)| {
                    let other = &drafts[d2].cands[c2];
                    let name = format!(
                        "{}/{}",
                        other.picked.subject.label, other.picked.session.label
                    );
                    if d2 == d {
                        name
                    } else {
                        format!("{name} (transfer {})", drafts[d2].t.name)
                    }
                })
                .collect();
            let (last, rest) = names.split_last().unwrap_or((&label, &[]));
            let word = if names.len() == 2 { "both" } else { "all" };
            drafts[d].cands[c].problems.push(format!(
                "collision: {} and {last} {word} map onto {project}/{label}",
                rest.join(", ")
            ));
            drafts[d].tally.collisions += 1;
        }
    }
    for draft in drafts.iter_mut().filter(|d| super::moves::native(d.t.mode)) {
        let mut by_subject: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for cand in &draft.cands {
            by_subject
                .entry(cand.dest_subject.clone())
                .or_default()
                .insert(cand.picked.subject.label.clone());
        }
        for cand in draft.cands.iter_mut() {
            let sources = &by_subject[&cand.dest_subject];
            if sources.len() > 1 {
                cand.problems.push(format!(
                    "collision: source subjects {} would all be shared as subject {}",
                    sources.iter().cloned().collect::<Vec<_>>().join(", "),
                    cand.dest_subject
                ));
                draft.tally.collisions += 1;
            }
        }
    }
}

/// Builds the plan. Pure: reads only its input.
pub fn build(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let m = input.manifest;
    let templates = Templates::new(input.tables);
    let mut servers: BTreeMap<String, Server> = BTreeMap::new();
    let mut refs: BTreeSet<InventoryRef> = BTreeSet::new();
    let mut drafts = Vec::new();
    for t in &m.transfers {
        for ep in [&t.from, &t.to] {
            let server = m
                .servers
                .get(&ep.server)
                .ok_or_else(|| PlanError::UnknownServer {
                    transfer: t.name.clone(),
                    server: ep.server.clone(),
                })?;
            servers.insert(ep.server.clone(), server.clone());
            refs.insert(InventoryRef {
                server: ep.server.clone(),
                project: ep.project.clone(),
                fingerprint: inventory(input, &ep.server, &ep.project)?.fingerprint(),
                watched: None,
            });
        }
        drafts.push(draft(input, t, &templates)?);
    }
    collisions(&mut drafts);
    let transfers = decide::transfers(&mut drafts, &templates)?;
    let steps = graph::steps(&transfers);
    let checklist = drafts
        .iter()
        .zip(&transfers)
        .flat_map(|(d, t)| checklist::items(d, t))
        .collect();
    let summary = checklist::summary(&transfers, &steps);
    let mut inventories: Vec<InventoryRef> = refs.into_iter().collect();
    for r in &mut inventories {
        let inv = inventory(input, &r.server, &r.project)?;
        r.watched = Some(super::watch::watched(
            &transfers, &r.server, &r.project, inv, None,
        ));
    }
    Ok(Plan {
        format: FORMAT.to_string(),
        ferry_version: input.ferry_version.to_string(),
        manifest: ManifestRef {
            path: input.manifest_path.to_string(),
            hash: input.manifest_hash.to_string(),
        },
        servers,
        inventories,
        summary,
        checklist,
        transfers,
        steps,
    })
}
