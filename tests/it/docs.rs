//! Every `ferry …` command shown in the README and docs/ names a real subcommand and real flags.

use crate::support::{ferry, stdout};
use std::path::Path;

fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = t == "```sh";
            continue;
        }
        if in_sh {
            let cmd = t.split('#').next().unwrap_or("").trim();
            if let Some(rest) = cmd.strip_prefix("cargo run --release -- ") {
                out.push(format!("ferry {rest}"));
            } else if cmd.starts_with("ferry ") {
                out.push(cmd.to_string());
            }
        }
    }
    out
}

#[test]
fn every_documented_command_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut n = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for cmd in commands(&text) {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let sub = words[1];
            let help = ferry(&[sub, "--help"]);
            assert!(
                help.status.success(),
                "{}: `{cmd}`: no subcommand `{sub}`",
                f.display()
            );
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                assert!(
                    stdout(&help).contains(flag),
                    "{}: `{cmd}`: `ferry {sub}` has no flag {flag}",
                    f.display()
                );
            }
            n += 1;
        }
    }
    assert!(n >= 6, "only {n} commands found");
}
