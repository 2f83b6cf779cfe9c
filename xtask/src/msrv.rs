//! Each published crate's `rust-version` must be at least the newest one any
//! of its dependencies declares, every feature on: a lower one is a promise
//! the crate cannot keep (there is one toolchain here, so this is checked on
//! the metadata rather than by building with the old compiler).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `1.85` and `1.85.0` are the same version.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts
}

pub fn check(root: &Path) -> Result<(), String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--all-features"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages: HashMap<&str, &Value> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut problems = Vec::new();
    for member in metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(id) = member.as_str() else { continue };
        let package = packages[id];
        let name = package["name"].as_str().unwrap_or("");
        if !crate::tasks::is_published(name) {
            continue;
        }
        let declared = package["rust_version"].as_str().unwrap_or("0");
        // Normal and build dependencies, transitively (dev-dependencies are
        // not the user's).
        let (mut seen, mut stack) = (HashSet::new(), vec![id]);
        let mut newest = (Vec::new(), String::new());
        while let Some(current) = stack.pop() {
            if !seen.insert(current) {
                continue;
            }
            for dep in nodes[current]["deps"].as_array().into_iter().flatten() {
                let used = dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| matches!(k["kind"].as_str(), None | Some("build")));
                if used && let Some(pkg) = dep["pkg"].as_str() {
                    stack.push(pkg);
                }
            }
            if current != id
                && let Some(rv) = packages[current]["rust_version"].as_str()
                && version(rv) > newest.0
            {
                let who = packages[current]["name"].as_str().unwrap_or("");
                newest = (version(rv), format!("{who} needs {rv}"));
            }
        }
        if version(declared) < newest.0 {
            problems.push(format!("{name}: rust-version {declared}, but {}", newest.1));
        } else {
            eprintln!(
                "xtask: {name}: rust-version {declared} (newest dependency: {})",
                newest.1
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "rust-version too low:\n  {}",
            problems.join("\n  ")
        ))
    }
}
