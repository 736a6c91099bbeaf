//! Reviewing a committed plan: `ferry show` renders it as the terminal diff, as Markdown and as JSON
//! without any server, the JSON matches the checked-in `schemas/plan.schema.json`, and the plan
//! reference documents every property of that schema.

use crate::apply::work;
use crate::support::{ferry, ferry_in, stderr, stdout, Sim};
use serde_json::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A planned demo world whose emulator is stopped again: what a reviewer has after a checkout.
fn committed_plan() -> (tempfile::TempDir, String) {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    let o = w.plan();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    drop(sim);
    (w.dir, stdout(&o))
}

#[test]
fn show_renders_a_committed_plan_without_any_server() {
    let (dir, planned) = committed_plan();
    let text = ferry_in(dir.path(), &["show", "plan.yaml", "--color", "never"]);
    assert!(text.status.success(), "{}", stderr(&text));
    // The same diff `ferry plan` printed, without the line about where it was written.
    assert_eq!(
        stdout(&text),
        planned.replace("plan written to plan.yaml\n", "")
    );

    let md = ferry_in(dir.path(), &["show", "plan.yaml", "--format", "markdown"]);
    assert!(md.status.success(), "{}", stderr(&md));
    let md = stdout(&md);
    for want in [
        "## ferry plan for `ferry.yaml`",
        "**Plan: 3 subjects to create, 4 sessions to create, 0 to merge, 0 to share, 1 skipped, 3 blocked;",
        "### Transfer `pilot-into-main`: copy `local/PILOT` → `local/MAIN`",
        "| | action | source | destination | scans | files | size | reason |",
        "| `+` | create | `SUB001/SUB001_MR1` | `MAIN_001/MAIN_001_20240115` | 3 | 30 |",
        "| `!` | blocked | `SUB004/SUB004_MR1` | `MAIN_004/MAIN_004_20240301` |",
        "### Pre-transfer checklist",
        "<summary>Not transferred: 9 items in scope</summary>",
    ] {
        assert!(md.contains(want), "missing `{want}` in\n{md}");
    }
}

#[test]
fn show_refuses_an_edited_plan_and_a_missing_one() {
    let (dir, _) = committed_plan();
    let path = dir.path().join("plan.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("MAIN_001_20240115", "MAIN_001_20990101", 1),
    )
    .unwrap();
    for args in [
        &["show", "plan.yaml"][..],
        &["show", "plan.yaml", "--format", "json"][..],
        &["show", "nothing.yaml"][..],
    ] {
        let o = ferry_in(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?} printed {}", stdout(&o));
    }
    let o = ferry_in(dir.path(), &["show", "plan.yaml"]);
    assert!(stderr(&o).contains("seal"), "{}", stderr(&o));
}

#[test]
fn the_checked_in_plan_schema_is_current() {
    let o = ferry(&["schema", "--plan"]);
    assert!(o.status.success());
    let checked_in = std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap();
    assert!(
        stdout(&o) == checked_in,
        "schemas/plan.schema.json is stale: run `cargo run -- schema --plan > schemas/plan.schema.json`"
    );
}

#[test]
fn show_json_is_the_plan_and_matches_its_schema() {
    let (dir, _) = committed_plan();
    let o = ferry_in(dir.path(), &["show", "plan.yaml", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["format"], "ferry-plan/1");
    // The JSON holds exactly the plan file's content.
    let path = dir.path().join("plan.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let plan = ferry::plan::from_yaml(&yaml, &path).unwrap();
    let back: ferry::plan::Plan = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, plan);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let mut errors = Vec::new();
    conforms(&schema, &schema, &json, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    // The checker does find a violation.
    let mut bad = json.clone();
    bad["summary"]["files"] = Value::from("many");
    bad["transfers"][0]["actions"][0]["kind"] = Value::from("teleport");
    bad["surprise"] = Value::from(1);
    let mut errors = Vec::new();
    conforms(&schema, &schema, &bad, "$", &mut errors);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

/// Every property name in the plan schema appears in the plan reference.
#[test]
fn the_plan_reference_covers_every_property() {
    let schema: Value = serde_json::from_str(&stdout(&ferry(&["schema", "--plan"]))).unwrap();
    let doc = std::fs::read_to_string(root().join("docs/plan.md")).unwrap();
    let mut names = std::collections::BTreeSet::new();
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    out.extend(props.keys().cloned());
                }
                for x in m.values() {
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&schema, &mut names);
    assert!(names.len() > 40, "{names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/plan.md does not document {missing:?}"
    );
}

/// A checker for the JSON Schema keywords schemars writes (`$ref`, `type`, `properties`, `required`,
/// `additionalProperties`, `items`, `oneOf`, `anyOf`, `enum`, `const`, `minimum`).
fn conforms(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{at}: not allowed"));
        }
        return;
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        conforms(root, &root["$defs"][name], v, at, errors);
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errors.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(options)) = s.get(key) {
            let matching = options
                .iter()
                .filter(|o| {
                    let mut e = Vec::new();
                    conforms(root, o, v, at, &mut e);
                    e.is_empty()
                })
                .count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                errors.push(format!("{at}: {v} matches {matching} of {key}"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or_default();
            if !obj.contains_key(r) {
                errors.push(format!("{at}: `{r}` is missing"));
            }
        }
        for (k, x) in obj {
            let here = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(p), _) => conforms(root, p, x, &here, errors),
                (None, Some(extra)) => conforms(root, extra, x, &here, errors),
                (None, None) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            conforms(root, items, x, &format!("{at}[{i}]"), errors);
        }
    }
}

/// The `ferry …` command lines in a YAML value's strings (one per line of a script).
fn ferry_lines(v: &serde_yaml::Value, out: &mut Vec<String>) {
    match v {
        serde_yaml::Value::String(s) => {
            for line in s.lines() {
                let line = line.trim().trim_start_matches("- ").trim();
                if line.starts_with("ferry ") {
                    out.push(line.to_string());
                }
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|x| ferry_lines(x, out)),
        serde_yaml::Value::Mapping(m) => m.values().for_each(|x| ferry_lines(x, out)),
        serde_yaml::Value::Tagged(t) => ferry_lines(&t.value, out),
        _ => {}
    }
}

/// docs/ci.md: both recipes are valid YAML, and every ferry command in them exists with its flags.
#[test]
fn the_ci_recipes_parse_and_their_commands_exist() {
    let doc = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert_eq!(blocks.len(), 2, "a GitLab and a GitHub recipe");
    let gitlab: serde_yaml::Value = serde_yaml::from_str(&blocks[0]).expect("GitLab YAML");
    let github: serde_yaml::Value = serde_yaml::from_str(&blocks[1]).expect("GitHub YAML");
    assert!(gitlab["stages"].is_sequence() && gitlab["apply"]["script"].is_sequence());
    assert!(
        github["on"]["pull_request"].is_mapping() && github["jobs"]["apply"]["steps"].is_sequence()
    );
    let mut all = Vec::new();
    for (name, v) in [("GitLab", &gitlab), ("GitHub", &github)] {
        let mut cmds = Vec::new();
        ferry_lines(v, &mut cmds);
        for sub in ["validate", "check", "show", "plan", "apply", "audit"] {
            assert!(
                cmds.iter().any(|c| c.starts_with(&format!("ferry {sub} "))),
                "{name}: no `ferry {sub}` in {cmds:?}"
            );
        }
        all.extend(cmds);
    }
    for cmd in all {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let help = ferry(&[words[1], "--help"]);
        assert!(
            help.status.success(),
            "`{cmd}`: no subcommand `{}`",
            words[1]
        );
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            assert!(stdout(&help).contains(flag), "`{cmd}`: no flag {flag}");
        }
        // The values given exist too (`--format markdown`).
        if let Some(i) = words.iter().position(|w| *w == "--format") {
            assert!(stdout(&help).contains(words[i + 1]), "`{cmd}`");
        }
    }
}
