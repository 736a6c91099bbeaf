//! Figure 6: choosing steps at scale, in the driver's own process (no server): `apply`'s queue for a
//! run of many sessions, every step handed out and finished in turn, as the workers of
//! `--jobs 4` would.

use super::stats::{interleave, ratio, show_ratio, verdict};
use super::ROUNDS;
use crate::exec::schedule::{queue_of, Step};
use crate::plan::StepKind;
use std::collections::{BTreeMap, VecDeque};

/// The steps of `sessions` sessions, one per subject: the subject, then download, rewrite, upload
/// (after the subject) and verification; each download paired with its verification.
fn steps(sessions: usize) -> (Vec<Step>, Vec<(String, String)>) {
    let mut steps = Vec::with_capacity(sessions * 5);
    let mut windows = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let subject = format!("t/S{i:06}/create_subject");
        let at = |k: &str| format!("t/S{i:06}/S{i:06}_MR1/{k}");
        steps.push((subject.clone(), vec![], StepKind::CreateSubject));
        steps.push((at("download"), vec![], StepKind::Download));
        steps.push((at("rewrite"), vec![at("download")], StepKind::Rewrite));
        steps.push((at("upload"), vec![at("rewrite"), subject], StepKind::Upload));
        steps.push((at("verify"), vec![at("upload")], StepKind::Verify));
        windows.push((at("download"), at("verify")));
    }
    (steps, windows)
}

/// Hands out and finishes every step of `sessions` sessions (the oldest running step finishes
/// first); microseconds per session.
fn schedule(sessions: usize) -> Result<f64, String> {
    let (steps, windows) = steps(sessions);
    let total = steps.len();
    let t = std::time::Instant::now();
    let mut q = queue_of(steps, &BTreeMap::new(), windows, (4, 1)).map_err(|e| e.to_string())?;
    q.open_gate();
    let mut running = VecDeque::new();
    let mut handed = 0;
    loop {
        while let Some(k) = q.next_ready() {
            handed += 1;
            running.push_back(k);
        }
        match running.pop_front() {
            Some(k) => {
                q.finish(&k, true);
            }
            None => break,
        }
    }
    if handed != total || !q.is_finished() {
        return Err(format!("{handed} of {total} steps were handed out"));
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / sessions as f64)
}

/// Figure 6: the time per session for a small and a ten times larger run, interleaved.
pub(super) fn run(quick: bool) {
    let small = if quick { 200 } else { 1_000 };
    let large = small * 10;
    let mut a = || schedule(small);
    let mut b = || schedule(large);
    let s = interleave(ROUNDS, &mut [&mut a, &mut b]);
    let r = ratio(&s[1], &s[0]);
    println!(
        "6. choosing steps (driver's process; every step of a run handed out and finished, --jobs 4's limits), µs per session: {small} sessions {}, {large} sessions {}: ×{} per session (goal: <= ×1.5, about linear: {})",
        s[0].show(1, ""),
        s[1].show(1, ""),
        show_ratio(r),
        verdict(r, 1.5, false)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_of_the_run_is_handed_out_once() {
        assert!(schedule(30).unwrap() > 0.0);
        let (steps, windows) = steps(3);
        assert_eq!((steps.len(), windows.len()), (15, 3));
    }
}
