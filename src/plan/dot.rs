//! The execution graph as Graphviz DOT (`ferry plan --graph dot`): one node per step, grouped in a
//! cluster per action, one edge per dependency.

use super::model::{Plan, Step, StepKind};
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn node(out: &mut String, s: &Step, indent: &str) {
    let shape = match s.kind {
        StepKind::CreateSubject | StepKind::ShareSubject => "ellipse",
        StepKind::DeleteSource => "octagon",
        _ => "box",
    };
    let _ = writeln!(
        out,
        "{indent}{} [label={}, shape={shape}];",
        quote(&s.id),
        quote(s.kind.as_str())
    );
}

/// The plan's steps as a DOT digraph.
pub fn render_dot(plan: &Plan) -> String {
    let mut out =
        String::from("digraph ferry {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    let mut clusters: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
    for s in &plan.steps {
        match &s.action {
            Some(a) => clusters.entry(a.as_str()).or_default().push(s),
            None => {
                let label = format!("{}: {}", s.kind.as_str(), s.dest_subject);
                let _ = writeln!(
                    out,
                    "  {} [label={}, shape=ellipse];",
                    quote(&s.id),
                    quote(&label)
                );
            }
        }
    }
    for (i, (action, steps)) in clusters.iter().enumerate() {
        let label = match plan.action(action) {
            Some((_, a)) => format!(
                "{}/{} -> {}/{}",
                a.source.subject, a.source.session, a.dest.subject, a.dest.session
            ),
            None => action.to_string(),
        };
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label={};",
            quote(&label)
        );
        for s in steps {
            node(&mut out, s, "    ");
        }
        out.push_str("  }\n");
    }
    for s in &plan.steps {
        for a in &s.after {
            let _ = writeln!(out, "  {} -> {};", quote(a), quote(&s.id));
        }
    }
    out.push_str("}\n");
    out
}
