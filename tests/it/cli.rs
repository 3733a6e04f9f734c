//! The command line as documented: README's command list and `minik --help` agree (every
//! command and subcommand listed, every option of each named in its README lines and no
//! option named that does not exist). Needs no Docker.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::text;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_minik"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "minik {args:?} --help failed");
    text(&out.stdout)
}

/// The names under "Commands:" in a help text (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The options of a help text, each as its names (`-p`, `--profile`), without the global
/// -v/-q/-h/-V.
fn options(help: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for l in help.lines().skip_while(|l| !l.starts_with("Options:")) {
        let l = l.trim_start();
        if !l.starts_with('-') {
            continue;
        }
        let names: Vec<String> = l
            .split_whitespace()
            .take_while(|w| w.starts_with('-'))
            .map(|w| w.trim_end_matches(',').to_string())
            .collect();
        if !names
            .iter()
            .any(|n| ["--verbose", "--quiet", "--help", "--version"].contains(&n.as_str()))
        {
            out.push(names);
        }
    }
    out
}

/// README's "Using it" block: each `minik …` line with its continuation lines.
fn readme_entries() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Using it"))
        .skip(1)
        .take_while(|l| !l.starts_with("The default profile"))
        .collect();
    let mut entries: Vec<(String, String)> = Vec::new();
    for l in block {
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("minik ") {
            entries.push((rest.to_string(), t.to_string()));
        } else if !t.is_empty() {
            if let Some(last) = entries.last_mut() {
                last.1.push(' ');
                last.1.push_str(t);
            }
        }
    }
    entries
}

#[test]
fn readme_lists_every_command_with_its_options() {
    let entries = readme_entries();
    assert!(
        !entries.is_empty(),
        "README has no command list under ## Using it"
    );
    let mut documented = BTreeSet::new();
    let mut checked = 0;
    for top in subcommands(&help(&[])) {
        let top_help = help(&[&top]);
        let nested = subcommands(&top_help);
        let paths: Vec<Vec<String>> = if nested.is_empty() {
            vec![vec![top.clone()]]
        } else {
            nested
                .iter()
                .flat_map(|n| {
                    let h = help(&[&top, n]);
                    let deeper = subcommands(&h);
                    if deeper.is_empty() {
                        vec![vec![top.clone(), n.clone()]]
                    } else {
                        deeper
                            .into_iter()
                            .map(|d| vec![top.clone(), n.clone(), d])
                            .collect()
                    }
                })
                .collect()
        };
        for path in paths {
            let words: Vec<&str> = path.iter().map(String::as_str).collect();
            let prefix = words.join(" ");
            let lines: Vec<&String> = entries
                .iter()
                .filter(|(rest, _)| rest == &prefix || rest.starts_with(&format!("{prefix} ")))
                .map(|(_, full)| full)
                .collect();
            assert!(!lines.is_empty(), "README does not list `minik {prefix}`");
            documented.insert(prefix.clone());
            let text = lines
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let opts = options(&help(&words));
            let mentioned: Vec<&str> = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter(|w| w.starts_with('-') && w.len() > 1)
                .collect();
            for names in &opts {
                assert!(
                    names.iter().any(|n| mentioned.contains(&n.as_str())),
                    "README's `minik {prefix}` lines do not mention {}: {text}",
                    names.join("/")
                );
                checked += 1;
            }
            for m in mentioned.iter().filter(|m| **m != "--") {
                assert!(
                    opts.iter().flatten().any(|n| n == m),
                    "README's `minik {prefix}` lines name {m}, which it does not have: {text}"
                );
            }
        }
    }
    // Nothing documented that does not exist.
    for (rest, full) in &entries {
        assert!(
            documented
                .iter()
                .any(|d| rest == d || rest.starts_with(&format!("{d} "))),
            "README lists a command minik does not have: {full}"
        );
    }
    assert!(checked > 20, "too few options checked: {checked}");
}
