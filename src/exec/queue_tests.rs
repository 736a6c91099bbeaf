//! Tests of the dependency queue.

use super::*;

fn q(edges: &[(&str, &[&str])]) -> Result<DependencyQueue<String>, QueueError> {
    DependencyQueue::new(
        edges
            .iter()
            .map(|(k, d)| (k.to_string(), d.iter().map(|s| s.to_string()).collect())),
    )
}

#[test]
fn hands_out_steps_in_dependency_order() {
    let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("x", &[])]).unwrap();
    assert_eq!(q.next_ready().as_deref(), Some("a"));
    assert_eq!(q.next_ready().as_deref(), Some("x"));
    assert_eq!(q.next_ready(), None, "b waits for a");
    assert!(q.any_running());
    q.finish(&"a".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("b"));
    q.finish(&"b".into(), true);
    q.finish(&"x".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("c"));
    q.finish(&"c".into(), true);
    assert!(q.is_finished());
}

#[test]
fn among_ready_steps_the_lowest_rank_goes_first() {
    // a -> b; c and d ready from the start. By ID alone: a, c, d, then b.
    let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &[]), ("d", &[])])
        .unwrap()
        .with_ranks(|k| match k.as_str() {
            "b" => 0,
            "d" => 1,
            _ => 2,
        });
    assert_eq!(q.next_ready().as_deref(), Some("d"), "d outranks a and c");
    assert_eq!(q.next_ready().as_deref(), Some("a"), "then the smallest ID");
    q.finish(&"a".to_string(), true);
    assert_eq!(
        q.next_ready().as_deref(),
        Some("b"),
        "b, ready now, outranks c"
    );
    assert_eq!(q.next_ready().as_deref(), Some("c"));
}

#[test]
fn limited_steps_wait_while_the_limit_runs() {
    let mut q = q(&[("r1", &[]), ("r2", &[]), ("x", &[])])
        .unwrap()
        .with_limit(|k| k.starts_with('r'), 1);
    assert_eq!(q.next_ready().as_deref(), Some("r1"));
    assert_eq!(q.next_ready().as_deref(), Some("x"), "r2 waits for r1");
    assert_eq!(q.next_ready(), None);
    q.finish(&"r1".to_string(), true);
    assert_eq!(q.next_ready().as_deref(), Some("r2"));
}

#[test]
fn limited_steps_have_room_beside_the_outside_limit() {
    let mut q = q(&[("r1", &[]), ("r2", &[]), ("x", &[]), ("y", &[])])
        .unwrap()
        .with_limit(|k| k.starts_with('r'), 1)
        .with_outside_limit(1);
    assert_eq!(q.next_ready().as_deref(), Some("r1"));
    assert_eq!(q.next_ready().as_deref(), Some("x"), "r1 leaves room for x");
    assert_eq!(q.next_ready(), None, "r2 waits for r1, y for x");
    q.finish(&"x".to_string(), true);
    assert_eq!(q.next_ready().as_deref(), Some("y"));
    q.finish(&"r1".to_string(), true);
    assert_eq!(
        q.next_ready().as_deref(),
        Some("r2"),
        "y does not hold r2 back"
    );
}

#[test]
fn gated_steps_wait_for_the_gate() {
    let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &[])])
        .unwrap()
        .with_gate(|k| k != "a");
    assert_eq!(q.next_ready().as_deref(), Some("a"));
    q.finish(&"a".to_string(), true);
    assert_eq!(q.next_ready(), None, "b and c wait for the gate");
    assert!(!q.is_finished());
    q.open_gate();
    assert_eq!(q.next_ready().as_deref(), Some("b"));
    assert_eq!(q.next_ready().as_deref(), Some("c"));
}

#[test]
fn before_the_gate_opens_the_early_limit_holds_and_after_it_does_not() {
    let mut q = q(&[("d1", &[]), ("d2", &[]), ("d3", &[]), ("u", &["d1"])])
        .unwrap()
        .with_gate(|k| k == "u")
        .with_early_limit(|k| k.starts_with('d'), 1);
    assert_eq!(q.next_ready().as_deref(), Some("d1"));
    assert_eq!(q.next_ready(), None, "one download at a time while gated");
    q.finish(&"d1".to_string(), true);
    assert_eq!(q.next_ready().as_deref(), Some("d2"));
    assert_eq!(q.next_ready(), None, "u waits for the gate, d3 for d2");
    q.open_gate();
    assert_eq!(q.next_ready().as_deref(), Some("d3"));
    assert_eq!(q.next_ready().as_deref(), Some("u"));
}

#[test]
fn within_a_rank_the_lower_order_goes_first() {
    let mut q = q(&[("a", &[]), ("b", &[]), ("c", &[])])
        .unwrap()
        .with_order(|k| if k == "c" { 1 } else { 2 });
    assert_eq!(q.next_ready().as_deref(), Some("c"));
    assert_eq!(q.next_ready().as_deref(), Some("a"));
    assert_eq!(q.next_ready().as_deref(), Some("b"));
}

#[test]
fn failure_skips_everything_downstream_only() {
    let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]).unwrap();
    let a = q.next_ready().unwrap();
    let skipped = q.finish(&a, false);
    assert_eq!(skipped, vec!["b".to_string(), "c".to_string()]);
    assert_eq!(
        q.states()["c"],
        StepState::Skipped {
            upstream: "a".into()
        }
    );
    assert_eq!(q.next_ready().as_deref(), Some("d"));
    q.finish(&"d".into(), true);
    assert!(q.is_finished());
}

#[test]
fn resumed_steps_are_not_handed_out_again() {
    let mut q = q(&[("a", &[]), ("b", &["a"])]).unwrap();
    q.mark_done(&"a".into());
    assert_eq!(q.next_ready().as_deref(), Some("b"));
}

#[test]
fn refuses_bad_graphs() {
    assert_eq!(
        q(&[("a", &["zz"])]).unwrap_err(),
        QueueError::UnknownDependency {
            step: "a".into(),
            dep: "zz".into()
        }
    );
    assert!(matches!(
        q(&[("a", &["b"]), ("b", &["a"])]).unwrap_err(),
        QueueError::Cycle(_)
    ));
    assert_eq!(
        q(&[("a", &[]), ("a", &[])]).unwrap_err(),
        QueueError::Duplicate("a".into())
    );
}

#[test]
fn a_full_window_holds_new_sessions_back_until_one_closes() {
    // Three sessions: download (d), upload (u), verify (v). Two may be open at once.
    let mut q = q(&[
        ("d1", &[]),
        ("u1", &["d1"]),
        ("v1", &["u1"]),
        ("d2", &[]),
        ("u2", &["d2"]),
        ("v2", &["u2"]),
        ("d3", &[]),
        ("u3", &["d3"]),
        ("v3", &["u3"]),
    ])
    .unwrap()
    .with_window((1..=3).map(|n| (format!("d{n}"), format!("v{n}"))), 2);
    assert_eq!(q.next_ready().as_deref(), Some("d1"));
    assert_eq!(q.next_ready().as_deref(), Some("d2"));
    assert_eq!(q.next_ready(), None, "d3 waits: two sessions are open");
    q.finish(&"d1".into(), true);
    q.finish(&"d2".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("u1"), "open sessions go on");
    assert_eq!(q.next_ready().as_deref(), Some("u2"));
    assert_eq!(q.next_ready(), None, "d3 still waits");
    q.finish(&"u1".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("v1"));
    assert_eq!(q.next_ready(), None, "verifying is still open");
    q.finish(&"v1".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("d3"), "session 1 closed");
}

#[test]
fn a_failed_session_closes_its_place_in_the_window() {
    let mut q = q(&[("d1", &[]), ("v1", &["d1"]), ("d2", &[]), ("v2", &["d2"])])
        .unwrap()
        .with_window(
            [("d1", "v1"), ("d2", "v2")].map(|(a, b)| (a.into(), b.into())),
            1,
        );
    assert_eq!(q.next_ready().as_deref(), Some("d1"));
    assert_eq!(q.next_ready(), None);
    // d1 fails: v1 is skipped, and session 1 no longer holds the window.
    assert_eq!(q.finish(&"d1".into(), false), vec!["v1".to_string()]);
    assert_eq!(q.next_ready().as_deref(), Some("d2"));
}

#[test]
fn a_session_resumed_between_its_steps_counts_as_open() {
    let mut q = q(&[("d1", &[]), ("v1", &["d1"]), ("d2", &[]), ("v2", &["d2"])])
        .unwrap()
        .with_window(
            [("d1", "v1"), ("d2", "v2")].map(|(a, b)| (a.into(), b.into())),
            1,
        );
    q.mark_done(&"d1".into());
    assert_eq!(
        q.next_ready().as_deref(),
        Some("v1"),
        "d2 waits for session 1"
    );
    assert_eq!(q.next_ready(), None);
    q.finish(&"v1".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("d2"));
}

#[test]
fn the_window_never_stalls_a_run_with_nothing_running() {
    // Session 1's closing step waits on session 2's opening step: held back, it would stall.
    let mut q = q(&[
        ("d1", &[]),
        ("v1", &["d1", "d2"]),
        ("d2", &[]),
        ("v2", &["d2"]),
    ])
    .unwrap()
    .with_window(
        [("d1", "v1"), ("d2", "v2")].map(|(a, b)| (a.into(), b.into())),
        1,
    );
    assert_eq!(q.next_ready().as_deref(), Some("d1"));
    assert_eq!(q.next_ready(), None, "d1 runs, session 1 is open");
    q.finish(&"d1".into(), true);
    assert_eq!(
        q.next_ready().as_deref(),
        Some("d2"),
        "nothing runs: d2 goes"
    );
    q.finish(&"d2".into(), true);
    assert_eq!(q.next_ready().as_deref(), Some("v1"));
}

#[test]
fn while_the_gate_is_closed_the_window_holds_even_with_nothing_running() {
    // Uploads (u) wait for the gate; downloads (d) do not.
    let mut q = q(&[("d1", &[]), ("u1", &["d1"]), ("d2", &[]), ("u2", &["d2"])])
        .unwrap()
        .with_gate(|k| k.starts_with('u'))
        .with_window(
            [("d1", "u1"), ("d2", "u2")].map(|(a, b)| (a.into(), b.into())),
            1,
        );
    assert_eq!(q.next_ready().as_deref(), Some("d1"));
    q.finish(&"d1".into(), true);
    assert_eq!(
        q.next_ready(),
        None,
        "d2 waits for session 1, u1 for the gate"
    );
    q.open_gate();
    assert_eq!(q.next_ready().as_deref(), Some("u1"));
}

/// What the queue hands out, as the first version chose it: a pass over every step, the limits counted
/// afresh each time. The indexed queue must choose the same.
fn chosen_by_a_full_pass(q: &DependencyQueue<String>) -> Option<String> {
    let running = |k: &String| q.state.get(k) == Some(&StepState::Running);
    let open = q
        .window
        .0
        .iter()
        .filter(|(o, c)| {
            matches!(q.state[*o], StepState::Running | StepState::Done)
                && matches!(q.state[*c], StepState::Pending | StepState::Running)
        })
        .count();
    let any_running = q.state.values().any(|s| *s == StepState::Running);
    let pass = |window_full: bool| {
        let inside = q.limited.0.iter().filter(|k| running(k)).count();
        let all = q.state.keys().filter(|k| running(k)).count();
        let early_full = !q.gated.1 && q.early.0.iter().filter(|k| running(k)).count() >= q.early.1;
        q.state
            .iter()
            .filter(|(_, s)| **s == StepState::Pending)
            .map(|(k, _)| k)
            .filter(|k| match q.limited.0.contains(*k) {
                true => inside < q.limited.1,
                false => all - inside < q.outside,
            })
            .filter(|k| !(early_full && q.early.0.contains(*k)))
            .filter(|k| !(window_full && q.window.0.contains_key(*k)))
            .filter(|k| q.gated.1 || !q.gated.0.contains(*k))
            .filter(|k| q.deps[*k].iter().all(|d| q.state[d] == StepState::Done))
            .min_by_key(|k| {
                (
                    q.rank.get(*k).copied().unwrap_or(0),
                    q.order.get(*k).copied().unwrap_or(0),
                    *k,
                )
            })
            .cloned()
    };
    let window_full = open >= q.window.1;
    match pass(window_full) {
        Some(k) => Some(k),
        None if window_full && q.gated.1 && !any_running => pass(false),
        None => None,
    }
}

/// Random plans of sessions (subject step, download, rewrite, upload, verify) under every limit the
/// executor sets, some steps done by an earlier run, random successes and failures, the gate opened
/// part way: at every point the queue hands out exactly what a full pass over the steps would.
#[test]
fn the_indexed_queue_hands_out_what_a_full_pass_would() {
    for seed in 0..60u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let sessions = rng.usize(1..25);
        let mut steps = Vec::new();
        let mut pairs = Vec::new();
        for i in 0..sessions {
            let subject = format!("t/S{}/create_subject", i % 7);
            if !steps
                .iter()
                .any(|(k, _): &(String, Vec<String>)| *k == subject)
            {
                steps.push((subject.clone(), vec![]));
            }
            let s = |k: &str| format!("t/S{}/E{i}/{k}", i % 7);
            steps.push((s("download"), vec![]));
            steps.push((s("rewrite"), vec![s("download")]));
            steps.push((s("upload"), vec![s("rewrite"), subject.clone()]));
            steps.push((s("verify"), vec![s("upload")]));
            pairs.push((s("download"), s("verify")));
        }
        let sizes: Vec<u64> = (0..steps.len()).map(|_| rng.u64(0..4)).collect();
        let order: BTreeMap<String, u64> =
            steps.iter().map(|(k, _)| k.clone()).zip(sizes).collect();
        let ends = |k: &String, kind: &str| k.ends_with(kind);
        let mut q = DependencyQueue::new(steps.clone())
            .unwrap()
            .with_ranks(|k| match () {
                _ if ends(k, "create_subject") => 0,
                _ if ends(k, "download") => 4,
                _ if ends(k, "rewrite") => 3,
                _ if ends(k, "upload") => 2,
                _ => 1,
            })
            .with_order(|k| order[k])
            .with_limit(|k| ends(k, "rewrite"), rng.usize(1..3))
            .with_outside_limit(rng.usize(1..5))
            .with_gate(|k| !ends(k, "download") && !ends(k, "rewrite"))
            .with_early_limit(|k| ends(k, "download"), 1)
            .with_window(pairs, rng.usize(1..5));
        for (k, _) in &steps {
            if rng.u8(0..10) == 0 {
                q.mark_done(k);
            }
        }
        let mut running: Vec<String> = Vec::new();
        for _ in 0..10_000 {
            if rng.u8(0..8) == 0 {
                q.open_gate();
            }
            let want = chosen_by_a_full_pass(&q);
            let got = q.next_ready();
            assert_eq!(got, want, "seed {seed}");
            assert_eq!(q.any_running(), !running.is_empty() || got.is_some());
            if let Some(k) = got {
                running.push(k);
                continue;
            }
            if running.is_empty() {
                if q.gated.1 {
                    break;
                }
                q.open_gate();
                continue;
            }
            let k = running.remove(rng.usize(0..running.len()));
            q.finish(&k, rng.u8(0..12) != 0);
        }
        let unsettled = q
            .states()
            .values()
            .filter(|s| matches!(s, StepState::Pending | StepState::Running))
            .count();
        assert_eq!(q.is_finished(), unsettled == 0, "seed {seed}");
        assert!(q.is_finished(), "seed {seed}: the run ends");
    }
}
