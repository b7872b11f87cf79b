#![allow(clippy::unwrap_used)]

//! The crate graph points one way (ARCHITECTURE.md): this test fails when a crate
//! depends against the intended direction, when the pure kernel grows a heavy dependency, or
//! when a new crate appears without a place in the table below. And the tidy rules of
//! ARCHITECTURE.md's invariants, over every crate's sources: SQL only in sage-store, the
//! environment read only in sage-cli, `anyhow` only in sage-cli, concrete engines named only
//! where allowed, `unsafe` only in the allowed files, no source file over the agreed size.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which workspace crates each crate may depend on (normal and build dependencies).
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("sage-irp", vec![]),
        ("sage-kernel", vec!["sage-irp"]),
        ("sage-llm", vec!["sage-irp"]),
        ("sage-store", vec![]),
        ("sage-io", vec!["sage-kernel"]),
        ("sage-fed", vec!["sage-kernel"]),
        ("sage-runtime", vec!["sage-irp", "sage-kernel", "sage-llm", "sage-store"]),
        (
            "sage-server",
            vec!["sage-irp", "sage-kernel", "sage-llm", "sage-store", "sage-runtime", "sage-fed"],
        ),
        ("sage-bench", vec!["sage-irp", "sage-kernel", "sage-llm", "sage-store", "sage-runtime", "sage-fed"]),
        (
            "sage-fuzz",
            vec![
                "sage-irp",
                "sage-kernel",
                "sage-llm",
                "sage-store",
                "sage-runtime",
                "sage-server",
                "sage-fed",
            ],
        ),
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
                "sage-io",
                "sage-fed",
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

/// Every source file of the crates (`src/`, not tests): (crate, path relative to the crate, the
/// lines that are code, comments left out).
fn sources() -> Vec<(String, String, Vec<String>)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut out = vec![];
    let mut stack: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(crates)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("src").is_dir())
        .map(|d| (d.file_name().unwrap().to_string_lossy().into_owned(), d.join("src")))
        .collect();
    while let Some((krate, dir)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push((krate.clone(), p));
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| l.split(" // ").next().unwrap_or("").to_string())
                    .collect();
                let rel = p.strip_prefix(crates.join(&krate)).unwrap().to_string_lossy().into_owned();
                out.push((krate.clone(), rel, code));
            }
        }
    }
    assert!(out.len() > 20);
    out
}

/// Lines of `sources()` outside `allowed` crates (or `crate/file` paths) that contain any of
/// `needles`.
fn offending(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut bad = vec![];
    for (krate, file, code) in sources() {
        let here = format!("{krate}/{file}");
        if allowed.iter().any(|a| *a == krate || *a == here) {
            continue;
        }
        for line in code.iter().filter(|l| needles.iter().any(|n| l.contains(n))) {
            bad.push(format!("{here}: {}", line.trim()));
        }
    }
    bad
}

#[test]
fn sql_lives_in_the_store_only() {
    let bad = offending(
        &["rusqlite", "SELECT ", "INSERT INTO", "CREATE TABLE", "DELETE FROM", "PRAGMA "],
        &["sage-store"],
    );
    assert!(bad.is_empty(), "SQL outside sage-store: {bad:#?}");
}

#[test]
fn only_the_binary_reads_the_environment() {
    let bad = offending(&["env::var", "env::vars"], &["sage-cli"]);
    assert!(bad.is_empty(), "environment read outside sage-cli: {bad:#?}");
}

#[test]
fn anyhow_only_in_the_binary() {
    for (name, table) in manifests() {
        if name != "sage-cli" {
            assert!(
                !deps(&table).contains("anyhow"),
                "{name} depends on anyhow: libraries return typed errors"
            );
        }
    }
    let bad = offending(&["anyhow"], &["sage-cli"]);
    assert!(bad.is_empty(), "anyhow outside sage-cli: {bad:#?}");
}

#[test]
fn concrete_engines_are_named_where_allowed() {
    // sage-llm defines them, sage-cli composes them, sage-bench measures llama.cpp's own loop
    // beside ours.
    let bad = offending(
        &["LlamaEngine", "OpenAiModel", "llama_cpp_2", "llama_cpp_sys_2"],
        &["sage-llm", "sage-cli", "sage-bench"],
    );
    assert!(bad.is_empty(), "a concrete engine named outside sage-llm, sage-cli, sage-bench: {bad:#?}");
}

#[test]
fn zenoh_and_recordings_live_in_sage_io() {
    // The robot's transports and recording formats are one crate's business; the federation
    // is the other crate that speaks Zenoh (to peers, not to the robot).
    let bad = offending(&["zenoh::", "mcap::", "cdr_encoding::"], &["sage-io", "sage-fed"]);
    assert!(bad.is_empty(), "Zenoh, MCAP or CDR named outside sage-io and sage-fed: {bad:#?}");
    let bad = offending(&["mcap::", "cdr_encoding::"], &["sage-io"]);
    assert!(bad.is_empty(), "MCAP or CDR named outside sage-io: {bad:#?}");
}

#[test]
fn unsafe_code_only_in_the_allowed_files() {
    let bad: Vec<String> = offending(
        &["unsafe "],
        &[
            "sage-llm/src/quantize.rs",
            "sage-llm/src/llama/weights.rs",
            "sage-llm/src/llama/abort.rs",
            "sage-llm/src/llama/logits.rs",
        ],
    )
    .into_iter()
    .filter(|l| !l.contains("unsafe_code"))
    .collect();
    assert!(bad.is_empty(), "unsafe outside the allow-list of ARCHITECTURE.md: {bad:#?}");
}

/// Lines a source file may have; a longer file has a second purpose to split out.
const MAX_LINES: usize = 1_000;

#[test]
fn no_source_file_is_over_the_agreed_size() {
    // The kernel's tick is split into stages by the live-robot issue (#11), which rewrites it.
    let exceptions: [&str; 0] = [];
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for (krate, file, _) in sources() {
        let here = format!("{krate}/{file}");
        let lines = std::fs::read_to_string(crates.join(&here)).unwrap().lines().count();
        if !exceptions.contains(&here.as_str()) {
            assert!(lines <= MAX_LINES, "{here} has {lines} lines (at most {MAX_LINES}): split it by stage");
        }
    }
}
