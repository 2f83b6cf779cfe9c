//! The import-circle check of `cargo xtask lint`: within each library crate,
//! the files (modules) that name each other through `crate::…` or `super::…`
//! paths must form no circle — a module may use its children and its
//! siblings, but two modules that need each other are one concern split in
//! two (or a helper that belongs to a third).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`http::server`) → file, for every `.rs` under `src`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            if parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// The modules `name` refers to (comments and `#[cfg(test)] mod tests` left out).
fn references(name: &str, path: &Path, mods: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // An inline test module may use anything (a `mod tests;` declaration is
    // only a name).
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let own: Vec<&str> = if name.is_empty() {
        vec![]
    } else {
        name.split("::").collect()
    };
    // `super` of module `a::b` is `a`, whether it lives in `a/b.rs` or `a/b/mod.rs`.
    let parent = &own[..own.len().saturating_sub(1)];
    let mut out = BTreeSet::new();
    let mut scan = |prefix: &str, base: &[&str]| {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let path: Vec<&str> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            for len in (1..=path.len()).rev() {
                let mut candidate: Vec<&str> = base.to_vec();
                candidate.extend_from_slice(&path[..len]);
                let candidate = candidate.join("::");
                if mods.contains_key(&candidate) {
                    out.insert(candidate);
                    break;
                }
            }
        }
    };
    scan("crate::", &[]);
    scan("super::", parent);
    out.retain(|m| {
        m != name && !m.starts_with(&format!("{name}::")) && !name.starts_with(&format!("{m}::"))
    });
    out
}

/// Every circle in the library crates under `crates/`, as `a -> b -> a`.
pub fn import_circles(root: &Path) -> Vec<String> {
    let mut circles = Vec::new();
    let Ok(crates) = std::fs::read_dir(root.join("crates")) else {
        return circles;
    };
    for krate in crates.flatten() {
        let src = krate.path().join("src");
        let mods = modules(&src);
        let graph: BTreeMap<&String, BTreeSet<String>> = mods
            .iter()
            .map(|(name, path)| (name, references(name, path, &mods)))
            .collect();
        let mut done = BTreeSet::new();
        for start in graph.keys() {
            let mut stack: Vec<String> = Vec::new();
            visit(
                start,
                &graph,
                &mut stack,
                &mut done,
                &mut circles,
                &krate.file_name().to_string_lossy(),
            );
        }
    }
    circles
}

fn visit(
    node: &str,
    graph: &BTreeMap<&String, BTreeSet<String>>,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    circles: &mut Vec<String>,
    krate: &str,
) {
    if let Some(at) = stack.iter().position(|n| n == node) {
        let mut circle = stack[at..].to_vec();
        circle.push(node.to_owned());
        circles.push(format!("{krate}: {}", circle.join(" -> ")));
        return;
    }
    if done.contains(node) {
        return;
    }
    stack.push(node.to_owned());
    let next: Vec<String> = graph
        .iter()
        .find(|(name, _)| name.as_str() == node)
        .map(|(_, refs)| refs.iter().cloned().collect())
        .unwrap_or_default();
    for n in next {
        visit(&n, graph, stack, done, circles, krate);
    }
    stack.pop();
    done.insert(node.to_owned());
}
