#![allow(clippy::unwrap_used)]

//! The crate graph points one way (DESIGN.md §3, ARCHITECTURE.md): this test fails when a crate
//! depends against the intended direction, when the pure kernel grows a heavy dependency, or
//! when a new crate appears without a place in the table below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which workspace crates each crate may depend on (normal and build dependencies).
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("sage-irp", vec![]),
        ("sage-kernel", vec!["sage-irp"]),
        ("sage-llm", vec!["sage-irp"]),
        ("sage-store", vec![]),
        ("sage-runtime", vec!["sage-irp", "sage-kernel", "sage-llm", "sage-store"]),
        ("sage-server", vec!["sage-irp", "sage-kernel", "sage-llm", "sage-store", "sage-runtime"]),
        ("sage-bench", vec!["sage-irp", "sage-kernel", "sage-llm", "sage-store", "sage-runtime"]),
        (
            "sage-cli",
            vec![
                "sage-irp",
                "sage-kernel",
                "sage-llm",
                "sage-store",
                "sage-runtime",
                "sage-server",
                "sage-bench",
            ],
        ),
    ])
}

/// External dependencies the pure crates may have: derive-level and error helpers only.
const PURE_EXTERNAL: [&str; 3] = ["serde", "serde_json", "thiserror"];

fn manifests() -> BTreeMap<String, toml::Table> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(crates).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let table: toml::Table = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
        let name = table["package"]["name"].as_str().unwrap().to_string();
        assert_eq!(dir.file_name().unwrap().to_str().unwrap(), name, "folder name and crate name must match");
        out.insert(name, table);
    }
    out
}

fn deps(table: &toml::Table) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for section in ["dependencies", "build-dependencies"] {
        if let Some(t) = table.get(section).and_then(|v| v.as_table()) {
            out.extend(t.keys().cloned());
        }
    }
    out
}

#[test]
fn dependencies_point_the_intended_way() {
    let allowed = allowed();
    let manifests = manifests();
    assert!(manifests.len() >= 3);
    for (name, table) in &manifests {
        let ok = allowed.get(name.as_str()).unwrap_or_else(|| {
            panic!("crate {name} has no entry in the dependency table of this test; add one deliberately")
        });
        for dep in deps(table).into_iter().filter(|d| d.starts_with("sage-")) {
            assert!(ok.contains(&dep.as_str()), "{name} must not depend on {dep} (allowed: {ok:?})");
        }
    }
}

#[test]
fn the_pure_kernel_has_no_heavy_dependencies() {
    let manifests = manifests();
    for name in ["sage-irp", "sage-kernel"] {
        let table = &manifests[name];
        for dep in deps(table).into_iter().filter(|d| !d.starts_with("sage-")) {
            assert!(PURE_EXTERNAL.contains(&dep.as_str()), "{name} must stay pure, but depends on {dep}");
        }
    }
}
