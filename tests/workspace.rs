//! README's test command is the whole contract: `cargo test` at the root must test every workspace
//! member (the simulator, the façade, the runner, the snippets, xtask and the book), and CI must run
//! exactly that command.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `cargo metadata` of this workspace: (package ids of the members, package ids `cargo test` selects).
fn members_and_defaults() -> (Vec<String>, Vec<String>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(ROOT)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8(out.stdout).unwrap();
    (id_list(&json, "workspace_members"), id_list(&json, "workspace_default_members"))
}

/// The strings of the top-level array `"key": [...]` of cargo's JSON (package ids contain no `]`).
fn id_list(json: &str, key: &str) -> Vec<String> {
    let start =
        json.find(&format!("\"{key}\":[")).unwrap_or_else(|| panic!("no {key} in cargo metadata")) + key.len() + 4;
    let end = start + json[start..].find(']').unwrap();
    let mut ids: Vec<String> =
        json[start..end].split(',').map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect();
    ids.sort();
    ids
}

#[test]
fn cargo_test_at_the_root_tests_every_workspace_member() {
    let (members, defaults) = members_and_defaults();
    assert!(members.len() >= 6, "too few workspace members: {members:?}");
    let left_out: Vec<&String> = members.iter().filter(|m| !defaults.contains(m)).collect();
    assert!(
        left_out.is_empty(),
        "`cargo test` at the root leaves these members' tests out (add them to default-members in Cargo.toml): {left_out:?}"
    );
}

#[test]
fn members_left_out_of_default_members_are_found() {
    let json = r#"{"workspace_members":["path+file:///r#a@0.1.0","path+file:///r/x#b@0.1.0"],"workspace_default_members":["path+file:///r#a@0.1.0"]}"#;
    let (members, defaults) = (id_list(json, "workspace_members"), id_list(json, "workspace_default_members"));
    let left_out: Vec<&String> = members.iter().filter(|m| !defaults.contains(m)).collect();
    assert_eq!(left_out, ["path+file:///r/x#b@0.1.0"]);
}

/// The command lines of the `console` block that README's "Two commands" section opens with.
fn readme_test_command() -> String {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = &readme[readme.find("## Two commands").expect("README has no \"Two commands\" section")..];
    let block = &section[section.find("```console\n").unwrap() + 11..];
    let block = &block[..block.find("```").unwrap()];
    let line = block.lines().find(|l| l.starts_with("$ cargo test")).expect("README gives no `cargo test` command");
    line.trim_start_matches("$ ").split('#').next().unwrap().trim().to_string()
}

#[test]
fn ci_runs_exactly_readmes_test_command() {
    let command = readme_test_command();
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    let runs: Vec<&str> = ci.lines().map(str::trim).filter(|l| l.starts_with("cargo test")).collect();
    assert_eq!(runs, [command.as_str()], ".ci/run must run README's test command, and only it");
}
