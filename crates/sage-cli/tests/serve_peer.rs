#![allow(clippy::unwrap_used)]

//! A zoo member on a remote OpenAI-compatible server, end to end through the binary: one
//! `sage serve` (the peer, with an API key) serves the default model; another names it in its
//! zoo (`engine = "openai"`, the key from the variable `api_key_env` names) and answers through
//! it. Without the key the remote model is unavailable, with a message naming the variable.

mod common;

use common::{get, post, Server};

fn zoo(dir: &std::path::Path, peer_url: &str) -> std::path::PathBuf {
    let text = format!(
        r#"profile = "local"

[[model]]
id = "local"
engine = "gguf"
path = "{model}"
role = "primary"
context = 1024
expected_mib = 320
quality = {{ "text.question" = 0.5, "text.chat" = 0.5, "text.alert" = 0.5 }}

[[model]]
id = "peer"
engine = "openai"
url = "{peer_url}"
remote_model = "gemma-3-270m-q4_k_m"
api_key_env = "SAGE_TEST_PEER_KEY"
context = 1024
expected_mib = 0
quality = {{ "text.question" = 0.9 }}
"#,
        model = common::model().display()
    );
    let p = dir.join("zoo.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn ask(addr: &str, model: &str) -> String {
    let body = format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"Name a color."}}],"max_tokens":8,"temperature":0}}"#
    );
    post(addr, "/v1/chat/completions", &body)
}

#[test]
fn a_remote_zoo_member_answers_through_its_peer() {
    let peer = Server::start("peer-a", Some("peer-secret"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let zoo = zoo(dir.path(), &peer.url);
    let zoo_arg = zoo.to_str().unwrap();
    let node =
        Server::start_with_env("peer-b", None, &["--zoo", zoo_arg], &[("SAGE_TEST_PEER_KEY", "peer-secret")]);
    let addr = node.addr();
    let models = get(&addr, "/v1/models");
    assert!(models.contains("\"peer\""), "{models}");
    let r = ask(&addr, "peer");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let (_, json) = r.split_once("\r\n\r\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["model"], "peer");
    assert!(!v["choices"][0]["message"]["content"].as_str().unwrap().is_empty(), "{v}");
    // The peer served it (with the key: it refuses requests without one).
    let m = get(&peer.addr(), "/metrics");
    assert!(m.contains("sage:requests_total{outcome=\"ok\"} 1"), "{m}");
    // Without the key's variable the remote model cannot be loaded, and says why.
    let keyless = Server::start("peer-c", None, &["--zoo", zoo_arg]);
    let r = ask(&keyless.addr(), "peer");
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.contains("SAGE_TEST_PEER_KEY"), "{r}");
}
