#![allow(clippy::unwrap_used)]

//! llama-server's own endpoints through `sage serve` with the default model: `/completion`
//! answers what `/v1/completions` answers for the same greedy request, whole and streamed;
//! `/tokenize` and `/detokenize` round-trip; a GBNF `grammar` holds; `logit_bias` bans a token
//! on both APIs and the frequency and presence penalties repeat less.

mod common;

use common::{post, Server};
use serde_json::Value;

fn json_of(r: &str) -> Value {
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let (_, body) = r.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn llama_server_endpoints_agree_with_the_openai_ones_on_the_real_model() {
    let server = Server::start("llama-server-api", None, &[]);
    let addr = server.addr();
    let prompt = "The capital of France is";
    let whole = json_of(&post(
        &addr,
        "/completion",
        &format!(r#"{{"prompt":"{prompt}","n_predict":8,"temperature":0}}"#),
    ));
    let openai = json_of(&post(
        &addr,
        "/v1/completions",
        &format!(r#"{{"model":"gemma-3-270m-q4_k_m","prompt":"{prompt}","max_tokens":8,"temperature":0}}"#),
    ));
    let text = whole["content"].as_str().unwrap();
    assert!(!text.is_empty(), "{whole}");
    assert_eq!(text, openai["choices"][0]["text"].as_str().unwrap());
    assert_eq!(
        (whole["stop_type"].as_str(), whole["tokens_predicted"].as_u64()),
        (Some("limit"), Some(8)),
        "{whole}"
    );
    assert_eq!(whole["tokens_evaluated"], openai["usage"]["prompt_tokens"], "{whole} {openai}");
    // Streamed: JSON events whose pieces add up to the same text, the last one stopping.
    let r = post(
        &addr,
        "/completion",
        &format!(r#"{{"prompt":"{prompt}","n_predict":8,"temperature":0,"stream":true}}"#),
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let events: Vec<Value> = r
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let streamed: String = events.iter().filter_map(|e| e["content"].as_str()).collect();
    assert_eq!(streamed, text);
    assert_eq!(events.last().unwrap()["stop"], true);
    // Tokens round-trip, with the model's own pieces.
    let t = json_of(&post(&addr, "/tokenize", r#"{"content":"Hello world","with_pieces":true}"#));
    let pieces: String =
        t["tokens"].as_array().unwrap().iter().map(|p| p["piece"].as_str().unwrap()).collect();
    assert_eq!(pieces, "Hello world", "{t}");
    let ids: Vec<u64> = t["tokens"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
    let back = json_of(&post(&addr, "/detokenize", &format!(r#"{{"tokens":{ids:?}}}"#)));
    assert_eq!(back["content"], "Hello world");
    // The prompt a conversation makes, as llama-server's /apply-template gives it: this base model
    // ships no chat template, so SAGE's plain format, as the generation itself uses.
    let p =
        json_of(&post(&addr, "/apply-template", r#"{"messages":[{"role":"user","content":"Battery?"}]}"#));
    assert_eq!(p["prompt"], "User: Battery?\nAssistant:", "{p}");
    // A GBNF grammar constrains the answer.
    let g = json_of(&post(
        &addr,
        "/completion",
        r#"{"prompt":"Is water wet? Answer:","n_predict":4,"grammar":"root ::= \" yes\" | \" no\"","seed":3}"#,
    ));
    assert!([" yes", " no"].contains(&g["content"].as_str().unwrap()), "{g}");
    // A banned token stays out, on both APIs alike (greedy), and penalties repeat less.
    let yes = json_of(&post(&addr, "/tokenize", r#"{"content":" yes"}"#))["tokens"][0].as_u64().unwrap();
    let prompt = "yes yes yes yes yes yes yes yes";
    let banned = json_of(&post(
        &addr,
        "/completion",
        &format!(r#"{{"prompt":"{prompt}","n_predict":6,"temperature":0,"logit_bias":[[{yes},false]]}}"#),
    ));
    let banned = banned["content"].as_str().unwrap();
    assert!(!banned.contains("yes") && !banned.is_empty(), "{banned:?}");
    let openai = json_of(&post(
        &addr,
        "/v1/completions",
        &format!(
            r#"{{"model":"sage","prompt":"{prompt}","max_tokens":6,"temperature":0,"logit_bias":{{"{yes}":-100}}}}"#
        ),
    ));
    assert_eq!(openai["choices"][0]["text"], banned);
    let repeats = |body: &str| {
        let v = json_of(&post(&addr, "/completion", body));
        v["content"].as_str().unwrap().matches("yes").count()
    };
    let plain = repeats(&format!(r#"{{"prompt":"{prompt}","n_predict":12,"temperature":0}}"#));
    let penalised = repeats(&format!(
        r#"{{"prompt":"{prompt}","n_predict":12,"temperature":0,"frequency_penalty":1.5,"presence_penalty":1.5}}"#
    ));
    assert!(penalised < plain, "{penalised} repeats with penalties, {plain} without");
    // llama-server's extensions of the OpenAI endpoints: a grammar and top_k on /v1/completions.
    let g = json_of(&post(
        &addr,
        "/v1/completions",
        r#"{"model":"sage","prompt":"Is water wet? Answer:","max_tokens":4,"top_k":5,"grammar":"root ::= \" yes\" | \" no\""}"#,
    ));
    assert!([" yes", " no"].contains(&g["choices"][0]["text"].as_str().unwrap()), "{g}");
    // A stop sequence cuts the answer exactly before it, whole and streamed alike (the whole
    // completion once kept the stop; the stream dropped the text held back at its end).
    let free = json_of(&post(
        &addr,
        "/completion",
        r#"{"prompt":"Count: one, two, three,","n_predict":12,"temperature":0}"#,
    ));
    let free = free["content"].as_str().unwrap().to_string();
    let word =
        free.split_whitespace().nth(2).unwrap().trim_matches(|c: char| !c.is_alphanumeric()).to_string();
    let expected = &free[..free.find(&word).unwrap()];
    let body = |stream: bool| {
        format!(
            r#"{{"model":"sage","prompt":"Count: one, two, three,","max_tokens":12,"temperature":0,"stop":["{word}"],"stream":{stream}}}"#
        )
    };
    let whole = json_of(&post(&addr, "/v1/completions", &body(false)));
    assert_eq!(whole["choices"][0]["text"], expected, "stop {word:?} in {free:?}");
    let streamed: String = post(&addr, "/v1/completions", &body(true))
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(streamed, expected);
    let native = json_of(&post(
        &addr,
        "/completion",
        &format!(
            r#"{{"prompt":"Count: one, two, three,","n_predict":12,"temperature":0,"stop":["{word}"]}}"#
        ),
    ));
    assert_eq!((native["content"].as_str(), native["stop_type"].as_str()), (Some(expected), Some("word")));
    // n_probs: every generated token with its log-probability and its best alternatives; greedy
    // takes the best of them.
    let probs = json_of(&post(
        &addr,
        "/completion",
        &format!(r#"{{"prompt":"{prompt}","n_predict":4,"temperature":0,"n_probs":3}}"#),
    ));
    let probs = probs["completion_probabilities"].as_array().unwrap().clone();
    assert_eq!(probs.len(), 4, "{probs:?}");
    for p in &probs {
        let top = p["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3, "{p}");
        assert_eq!(top[0]["id"], p["id"], "greedy takes the most likely: {p}");
        assert!(p["logprob"].as_f64().unwrap() <= 0.0, "{p}");
    }
    // A grammar that does not parse is the client's error, named before any model sees it, and
    // the server goes on.
    let bad = post(&addr, "/completion", r#"{"prompt":"x","n_predict":4,"grammar":"root ::= [a-"}"#);
    assert!(
        bad.starts_with("HTTP/1.1 400")
            && bad.contains("does not parse")
            && bad.contains("\"param\":\"grammar\""),
        "{bad}"
    );
    assert!(post(&addr, "/completion", r#"{"prompt":"x","n_predict":2}"#).starts_with("HTTP/1.1 200"));
}

/// `sage serve --chat-template-file`: the given template is the model's on every API
/// (`/props` shows it), and a thinking template makes the default model's output a thinking
/// block, closed at the budget, apart from the answer.
#[test]
fn a_chat_template_file_serves_in_place_of_the_models() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/thinking.jinja");
    let server = Server::start("chat-template-file", None, &["--chat-template-file", file]);
    let addr = server.addr();
    let props = json_of(&common::get(&addr, "/props"));
    assert_eq!(props["chat_template"].as_str(), Some(std::fs::read_to_string(file).unwrap().as_str()));
    let body = r#"{"model":"sage","messages":[{"role":"user","content":"Is the door open?"}],
                   "max_tokens":16,"temperature":0,"thinking_token_budget":3}"#;
    let v = json_of(&post(&addr, "/v1/chat/completions", body));
    let m = &v["choices"][0]["message"];
    let thought = m["reasoning_content"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(!thought.trim().is_empty(), "{v}");
    assert!(!m["content"].as_str().unwrap().starts_with("</think>"), "{v}");
    // The prompt is the given template's, thinking switched as it reads `enable_thinking`.
    let render = |vars: &str| {
        let body =
            format!(r#"{{"messages":[{{"role":"user","content":"Hi"}}],"chat_template_kwargs":{vars}}}"#);
        json_of(&post(&addr, "/apply-template", &body))["prompt"].as_str().unwrap().to_string()
    };
    assert!(render("{}").ends_with("<start_of_turn>model\n<think>\n"), "{}", render("{}"));
    let off = render(r#"{"enable_thinking":false}"#);
    assert!(off.ends_with("<think>\n\n</think>\n\n"), "{off}");
}
