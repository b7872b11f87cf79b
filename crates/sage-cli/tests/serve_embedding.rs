#![allow(clippy::unwrap_used)]

//! An embedding model in the zoo, end to end through the binary: a tiny Llama that generates
//! and a tiny Llama-Nemotron-style embedding model (both HF folders, imported at first use).
//! `sage` on the embedding endpoints means the embedding model, whose vectors are HF's; chat
//! never routes to it, and asking it by name for a chat is a bad request.

mod common;

use common::{post, Server};

fn fixture(name: &str) -> String {
    format!("{}/../sage-llm/tests/fixtures/tiny/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn zoo(dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        r#"profile = "local"

[[model]]
id = "tiny"
engine = "hf"
path = "{generator}"
context = 256
expected_mib = 10
quality = {{ "text.question" = 0.5, "text.chat" = 0.5, "text.alert" = 0.5 }}

[[model]]
id = "embedder"
engine = "hf"
path = "{embedder}"
role = "embedding"
context = 256
expected_mib = 10
"#,
        generator = fixture("llama_tied_mqa"),
        embedder = fixture("llama_bidirectional_embed"),
    );
    let p = dir.join("zoo.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The JSON body of a response that must have `status`.
fn body(r: &str, status: &str) -> serde_json::Value {
    assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{r}");
    serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1).unwrap()
}

#[test]
fn the_zoo_s_embedding_model_embeds_and_never_generates() {
    let dir = tempfile::tempdir().unwrap();
    let zoo = zoo(dir.path());
    let cache = dir.path().join("cache");
    let server = Server::start_with_env(
        "embedding",
        None,
        &["--zoo", zoo.to_str().unwrap()],
        &[("SAGE_CACHE", cache.to_str().unwrap())],
    );
    let addr = server.addr();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/reference.json", fixture("llama_bidirectional_embed"))).unwrap(),
    )
    .unwrap();
    let texts = &reference["texts"];
    let input: Vec<&str> = texts.as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
    // OpenAI's endpoint: `sage` is the embedding model, and its vectors are HF's.
    let v = body(
        &post(&addr, "/v1/embeddings", &serde_json::json!({"model": "sage", "input": input}).to_string()),
        "200",
    );
    assert_eq!(v["model"], "embedder", "{v}");
    for (i, t) in texts.as_array().unwrap().iter().enumerate() {
        let got: Vec<f64> =
            v["data"][i]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let want: Vec<f64> = t["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let cos: f64 = got.iter().zip(&want).map(|(a, b)| a * b).sum();
        assert!(cos > 0.99999, "{}: cosine {cos}", t["text"]);
    }
    // Ollama's endpoint means the same model (it echoes the name asked for, as Ollama does).
    let o = body(&post(&addr, "/api/embed", r#"{"model":"sage","input":"Battery low."}"#), "200");
    let a = body(&post(&addr, "/v1/embeddings", r#"{"model":"embedder","input":"Battery low."}"#), "200");
    let (ollama, openai) = (&o["embeddings"][0], &a["data"][0]["embedding"]);
    assert_eq!(ollama.as_array().unwrap().len(), 48);
    assert_eq!(ollama, openai);
    // Chat is routed to the model that generates; asking the embedding model for one is a bad
    // request that says why.
    let chat = |model: &str| {
        post(
            &addr,
            "/v1/chat/completions",
            &serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
                .to_string(),
        )
    };
    let routed = body(&chat("sage"), "200");
    assert_eq!(routed["model"], "tiny", "{routed}");
    let refused = body(&chat("embedder"), "400");
    assert!(refused.to_string().contains("embedding model"), "{refused}");
}
