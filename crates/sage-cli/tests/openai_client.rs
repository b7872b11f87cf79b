#![allow(clippy::unwrap_used)]

//! `sage serve` with the default model, driven by a client nobody here wrote: the official
//! `openai` Python package, installed by `scripts/setup.sh` into the cache folder. CI sets
//! `SAGE_REQUIRE_CLIENTS=1`, so that a missing package fails rather than skips.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cache() -> PathBuf {
    if let Some(c) = std::env::var_os("SAGE_CACHE") {
        return c.into();
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("sage");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/sage")
}

#[test]
fn the_official_openai_client_talks_to_sage_serve() {
    let package = cache().join("pip/openai");
    if !package.join("openai").exists() {
        assert!(
            std::env::var("SAGE_REQUIRE_CLIENTS").is_err(),
            "the openai package is missing from {}; run scripts/setup.sh",
            package.display()
        );
        eprintln!("skipped: the openai package is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sage-openai-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.join("sage.db"))
        .env("SAGE_API_KEY", "sage-test-key")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("sage serve ended before listening").unwrap();
        if let Some(rest) = line.strip_prefix("sage serve: ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining the server's log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/clients/openai_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("{url}/v1"))
        .env("PYTHONPATH", &package)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["models"][0], "sage");
    assert!(!v["plain"]["content"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["plain"]["model"], "gemma-3-270m-q4_k_m");
    assert!(v["stream"]["chunks"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["stream"]["finish_reason"].is_string(), "{v}");
    assert!(v["logprobs"]["tokens"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["logprobs"]["first"].as_f64().unwrap() <= 0.0, "{v}");
    assert_eq!(v["logprobs"]["top"], 2);
    let parsed = &v["json_schema"]["parsed"];
    assert!(parsed["battery"].is_i64(), "schema-constrained output parses: {v}");
    assert!(["ok", "low"].contains(&parsed["status"].as_str().unwrap()), "{v}");
    assert_eq!(v["unknown_model"]["status"], 404);
    assert_eq!(v["overflow"]["code"], "context_length_exceeded");
    assert!(!v["completion"]["text"].as_str().unwrap().is_empty(), "{v}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
