#![allow(clippy::unwrap_used)]

//! A reasoning model's thinking (`<think>…</think>`) apart from its answer on every API, whole
//! and streamed, over a scripted model that thinks (a test double: the default model does not).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use sage_kernel::Kernel;
use sage_runtime::driver::{kernel_config, LlmDriver};
use sage_runtime::route::Router;
use sage_runtime::scripted::{Script, ScriptedLoader};
use sage_runtime::{ManualClock, Residency, Zoo};
use sage_server::{routes, App, KernelHost, ServerConfig};

const THOUGHT: &str = "The operator asks about the dock. It is free.";
const ANSWER: &str = "The dock is free.";

fn thinker() -> Arc<App> {
    let reply = format!("<think>\n{THOUGHT}\n</think>\n\n{ANSWER}");
    app_of(Script { context: 2048, reply, ..Script::new("thinker", 0.8) })
}

/// A model whose template opens the block in the prompt (DeepSeek-R1's distillations): its
/// output holds only the block's end.
fn opener(reply: &str) -> Arc<App> {
    let template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}\
                    {% if add_generation_prompt %}<|assistant|><think>\n{% endif %}";
    let script = Script {
        context: 2048,
        reply: reply.into(),
        template: Some(template.into()),
        ..Script::new("thinker", 0.8)
    };
    app_of(script)
}

fn app_of(script: Script) -> Arc<App> {
    let zoo = "[[model]]\nid = \"thinker\"\nengine = \"gguf\"\npath = \"t.gguf\"\nrole = \"primary\"\ncontext = 2048\n\
               expected_mib = 100\nquality = { \"text.question\" = 0.8, \"text.chat\" = 0.8 }\n";
    let specs = Zoo::parse(zoo, "test zoo", std::path::Path::new(".")).unwrap().models;
    let scripts = vec![script];
    let loader = Arc::new(ScriptedLoader::new(scripts, Duration::ZERO));
    let clock = Arc::new(ManualClock::default());
    let residency = Residency::new(&specs, 1 << 30, loader, clock.clone());
    let router = Router::new(specs.clone(), residency.clone(), clock.clone(), 1);
    let kernel = Kernel::new(kernel_config(&specs, 1 << 30, &residency)).unwrap();
    let driver = LlmDriver::new(specs, residency.clone(), None, None, clock.clone());
    let app =
        App::new(router, residency, None, KernelHost::new(kernel, driver), clock, ServerConfig::default());
    app.warm_up();
    app
}

async fn post(app: &Arc<App>, path: &str, body: Value) -> (StatusCode, String) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = routes(app.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

fn sse(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// The reasoning and the content an OpenAI chat stream gave, each joined.
fn chat_stream(body: &str) -> (String, String) {
    let chunks = sse(body);
    let field =
        |k: &str| -> String { chunks.iter().filter_map(|c| c["choices"][0]["delta"][k].as_str()).collect() };
    (field("reasoning_content"), field("content"))
}

fn ask() -> Value {
    json!([{"role": "user", "content": "Is the dock free?"}])
}

#[tokio::test]
async fn openai_chat_gives_the_thinking_as_reasoning_content() {
    let a = thinker();
    let (s, body) = post(&a, "/v1/chat/completions", json!({"model": "sage", "messages": ask()})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!((m["content"].as_str(), m["reasoning_content"].as_str()), (Some(ANSWER), Some(THOUGHT)));
    // llama-server's `reasoning_format: none`: left in the content, as generated.
    let (_, body) = post(
        &a,
        "/v1/chat/completions",
        json!({"model": "sage", "messages": ask(), "reasoning_format": "none"}),
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let m = &v["choices"][0]["message"];
    assert!(m["content"].as_str().unwrap().starts_with("<think>") && m["reasoning_content"].is_null(), "{m}");
    let (s, _) = post(
        &a,
        "/v1/chat/completions",
        json!({"model": "sage", "messages": ask(), "reasoning_format": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Streamed: the same split, whatever the deltas' boundaries.
    let (_, body) =
        post(&a, "/v1/chat/completions", json!({"model": "sage", "messages": ask(), "stream": true})).await;
    let (reasoning, content) = chat_stream(&body);
    assert_eq!((reasoning.trim(), content.as_str()), (THOUGHT, ANSWER), "{body}");
}

#[tokio::test]
async fn ollama_gives_the_thinking_apart_unless_think_is_false() {
    let a = thinker();
    let (_, body) =
        post(&a, "/api/chat", json!({"model": "thinker", "messages": ask(), "stream": false})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["message"]["content"].as_str(), v["message"]["thinking"].as_str()),
        (Some(ANSWER), Some(THOUGHT))
    );
    let (_, body) = post(
        &a,
        "/api/chat",
        json!({"model": "thinker", "messages": ask(), "stream": false, "think": false}),
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["message"]["content"].as_str(), v["message"].get("thinking")), (Some(ANSWER), None));
    let (_, body) =
        post(&a, "/api/generate", json!({"model": "thinker", "prompt": "Is the dock free?"})).await;
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let thinking: String = lines.iter().filter_map(|l| l["thinking"].as_str()).collect();
    let response: String = lines.iter().filter_map(|l| l["response"].as_str()).collect();
    assert_eq!((thinking.trim(), response.as_str()), (THOUGHT, ANSWER), "{body}");
}

#[tokio::test]
async fn responses_and_anthropic_give_a_reasoning_item_and_a_thinking_block() {
    let a = thinker();
    let (_, body) = post(&a, "/v1/responses", json!({"model": "sage", "input": "Is the dock free?"})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["output"][0]["type"], "reasoning", "{v}");
    assert_eq!(v["output"][0]["content"][0]["text"], THOUGHT);
    assert_eq!(v["output"][1]["content"][0]["text"], ANSWER);
    let (_, body) =
        post(&a, "/v1/responses", json!({"model": "sage", "input": "Is the dock free?", "stream": true}))
            .await;
    let events = sse(&body);
    let last = events.last().unwrap();
    assert_eq!(last["response"]["output"][0]["type"], "reasoning", "{body}");
    let text: String = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert_eq!(text, ANSWER);
    let messages = json!({"model": "sage", "max_tokens": 256, "messages": ask()});
    let (_, body) = post(&a, "/v1/messages", messages.clone()).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["content"], json!([{"type": "text", "text": ANSWER}]), "not asked for: left out");
    let mut asked = messages.clone();
    asked["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (_, body) = post(&a, "/v1/messages", asked.clone()).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["content"][0], json!({"type": "thinking", "thinking": THOUGHT, "signature": ""}));
    assert_eq!(v["content"][1]["text"], ANSWER);
    // The next turn sends the whole answer back, thinking block included, as clients do.
    let mut next = asked.clone();
    next["messages"] = json!([{"role": "user", "content": "Is the dock free?"},
                              {"role": "assistant", "content": v["content"]},
                              {"role": "user", "content": "And the charger?"}]);
    let (s, body) = post(&a, "/v1/messages", next).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    asked["stream"] = json!(true);
    let (_, body) = post(&a, "/v1/messages", asked).await;
    let events = sse(&body);
    let thinking: String = events.iter().filter_map(|e| e["delta"]["thinking"].as_str()).collect();
    let text: String = events.iter().filter_map(|e| e["delta"]["text"].as_str()).collect();
    assert_eq!((thinking.trim(), text.as_str()), (THOUGHT, ANSWER), "{body}");
}

#[tokio::test]
async fn a_block_the_template_opened_comes_apart_while_it_streams() {
    let a = opener(&format!("{THOUGHT}\n</think>\n\n{ANSWER}"));
    let (_, body) = post(&a, "/v1/chat/completions", json!({"model": "sage", "messages": ask()})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(
        (m["content"].as_str(), m["reasoning_content"].as_str()),
        (Some(ANSWER), Some(THOUGHT)),
        "{v}"
    );
    // Streamed: no thinking shown as the answer before `</think>` comes.
    let (_, body) =
        post(&a, "/v1/chat/completions", json!({"model": "sage", "messages": ask(), "stream": true})).await;
    let (reasoning, content) = chat_stream(&body);
    assert_eq!((reasoning.trim(), content.as_str()), (THOUGHT, ANSWER), "{body}");
    // Raw, as llama-server gives it: the restored tag, then the output.
    let raw = json!({"model": "sage", "messages": ask(), "reasoning_format": "none", "stream": true});
    let (_, body) = post(&a, "/v1/chat/completions", raw).await;
    let content = chat_stream(&body).1;
    assert_eq!(content, format!("<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"));
    // Ollama streams it apart too.
    let (_, body) = post(&a, "/api/chat", json!({"model": "thinker", "messages": ask()})).await;
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let thinking: String = lines.iter().filter_map(|l| l["message"]["thinking"].as_str()).collect();
    let content: String = lines.iter().filter_map(|l| l["message"]["content"].as_str()).collect();
    assert_eq!((thinking.trim(), content.as_str()), (THOUGHT, ANSWER), "{body}");
}

#[tokio::test]
async fn an_opened_block_cut_by_the_token_limit_is_thinking_not_an_answer() {
    let a = opener(&format!("{THOUGHT}\n</think>\n\n{ANSWER}"));
    let (_, body) =
        post(&a, "/v1/chat/completions", json!({"model": "sage", "messages": ask(), "max_tokens": 8})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    assert_eq!(m["content"].as_str(), Some(""), "{v}");
    assert!(THOUGHT.starts_with(m["reasoning_content"].as_str().unwrap()), "{v}");
    // Raw completions are the model's text as generated: nothing restored.
    let (_, body) =
        post(&a, "/v1/completions", json!({"model": "thinker", "prompt": "Is it?<think>\n"})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(!text.is_empty() && THOUGHT.starts_with(text), "{v}");
}

/// A model that switches thinking by its system prompt, as Llama-Nemotron does ("detailed
/// thinking on|off"); its template renders every turn, so the prompt's length shows the switch.
fn nemotron_like() -> Arc<App> {
    let template = "{#- detailed thinking on|off in the system prompt #}\
                    {% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}\
                    {% if add_generation_prompt %}<|assistant|>{% endif %}";
    let reply = format!("<think>\n{THOUGHT}\n</think>\n\n{ANSWER}");
    app_of(Script { context: 2048, reply, template: Some(template.into()), ..Script::new("thinker", 0.8) })
}

async fn prompt_tokens(a: &Arc<App>, path: &str, body: Value) -> i64 {
    let (s, body) = post(a, path, body).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["usage"]["prompt_tokens"].as_i64().or(v["prompt_eval_count"].as_i64()).unwrap()
}

#[tokio::test]
async fn reasoning_effort_and_think_switch_llama_nemotron_s_system_prompt() {
    let a = nemotron_like();
    let chat = |extra: Value| {
        let mut b = json!({"model": "sage", "messages": ask()});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let plain = prompt_tokens(&a, "/v1/chat/completions", chat(json!({}))).await;
    // The scripted tokenizer is one token per byte: the switch adds its system turn exactly.
    let on = "<|system|>detailed thinking on\n".len() as i64;
    let off = "<|system|>detailed thinking off\n".len() as i64;
    let high = prompt_tokens(&a, "/v1/chat/completions", chat(json!({"reasoning_effort": "high"}))).await;
    assert_eq!(high - plain, on);
    let none = prompt_tokens(&a, "/v1/chat/completions", chat(json!({"reasoning_effort": "none"}))).await;
    assert_eq!(none - plain, off);
    // `chat_template_kwargs` is the explicit switch and wins over the effort.
    let both = chat(json!({"reasoning_effort": "high", "chat_template_kwargs": {"enable_thinking": false}}));
    assert_eq!(prompt_tokens(&a, "/v1/chat/completions", both).await - plain, off);
    let think = json!({"model": "thinker", "messages": ask(), "stream": false, "think": true});
    let ollama_plain = json!({"model": "thinker", "messages": ask(), "stream": false});
    assert_eq!(
        prompt_tokens(&a, "/api/chat", think).await - prompt_tokens(&a, "/api/chat", ollama_plain).await,
        on
    );
    let level = json!({"model": "thinker", "messages": ask(), "stream": false, "think": "high"});
    let ollama_plain = json!({"model": "thinker", "messages": ask(), "stream": false});
    assert_eq!(
        prompt_tokens(&a, "/api/chat", level).await - prompt_tokens(&a, "/api/chat", ollama_plain).await,
        on
    );
    let (s, body) =
        post(&a, "/api/chat", json!({"model": "thinker", "messages": ask(), "think": "max"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // The caller's own system prompt moves into the first user turn, behind the switch.
    let sys =
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is the dock free?"}]);
    let with_sys = prompt_tokens(&a, "/v1/chat/completions", json!({"model": "sage", "messages": sys})).await;
    let switched = json!({"model": "sage", "messages": sys, "reasoning_effort": "low"});
    let expected = on - "<|system|>Be brief.\n".len() as i64 + "Be brief.\n\n".len() as i64;
    assert_eq!(prompt_tokens(&a, "/v1/chat/completions", switched).await - with_sys, expected);
    let (s, body) = post(&a, "/v1/chat/completions", chat(json!({"reasoning_effort": "max"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("reasoning_effort"), "{body}");
}

#[tokio::test]
async fn a_constrained_answer_from_a_prompt_that_opened_thinking_comes_after_the_thinking() {
    // The grammar waits for `</think>` (the engine's side is tested on the real model:
    // `sage-llm/tests/default_model.rs`); the thinking comes apart, the answer is the JSON.
    let json_answer = r#"{"dock": "free"}"#;
    let a = opener(&format!("{THOUGHT}\n</think>\n\n{json_answer}"));
    let schema =
        json!({"type": "json_schema", "json_schema": {"name": "dock", "schema": {"type": "object"}}});
    let free = prompt_tokens(&a, "/v1/chat/completions", json!({"model": "sage", "messages": ask()})).await;
    let body = json!({"model": "sage", "messages": ask(), "response_format": schema});
    let (s, text) = post(&a, "/v1/chat/completions", body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(
        (m["content"].as_str(), m["reasoning_content"].as_str()),
        (Some(json_answer), Some(THOUGHT)),
        "{v}"
    );
    assert_eq!(v["usage"]["prompt_tokens"].as_i64().unwrap(), free, "the prompt is the same");
    // Streamed the same.
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (_, text) = post(&a, "/v1/chat/completions", streamed).await;
    let (reasoning, content) = chat_stream(&text);
    assert_eq!((reasoning.trim(), content.as_str()), (THOUGHT, json_answer), "{text}");
}

#[tokio::test]
async fn anthropic_s_adaptive_thinking_is_shown_and_omitted_thinking_is_not() {
    let a = thinker();
    let ask_with = |thinking: Value| json!({"model": "sage", "max_tokens": 256, "messages": ask(), "thinking": thinking});
    // Adaptive: the model decides (no switch), the thinking is shown.
    let (_, body) = post(&a, "/v1/messages", ask_with(json!({"type": "adaptive"}))).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["content"][0]["thinking"], THOUGHT, "{v}");
    let omitted = json!({"type": "enabled", "budget_tokens": 1024, "display": "omitted"});
    let (_, body) = post(&a, "/v1/messages", ask_with(omitted)).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["content"], json!([{"type": "text", "text": ANSWER}]), "{v}");
    for bad in [json!({"type": "sometimes"}), json!({"type": "adaptive", "display": "full"})] {
        let (s, body) = post(&a, "/v1/messages", ask_with(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("thinking"), "{body}");
    }
}

#[tokio::test]
async fn thinking_asked_with_a_constrained_answer_opens_the_block_so_the_model_thinks_first() {
    // A template that does not open the block (Qwen 3's; Llama-Nemotron's with "detailed
    // thinking on"): with `enable_thinking: true` and a schema, the block is opened at the
    // prompt's end and the grammar waits for its end; unasked, the prompt is left as it is.
    let json_answer = r#"{"dock": "free"}"#;
    let template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}\
                    {% if add_generation_prompt %}<|assistant|>{% endif %}";
    let reply = format!("{THOUGHT}\n</think>\n\n{json_answer}");
    let script =
        Script { context: 2048, reply, template: Some(template.into()), ..Script::new("thinker", 0.8) };
    let a = app_of(script);
    let schema =
        json!({"type": "json_schema", "json_schema": {"name": "dock", "schema": {"type": "object"}}});
    let unasked = json!({"model": "sage", "messages": ask(), "response_format": schema});
    let plain = prompt_tokens(&a, "/v1/chat/completions", unasked).await;
    let body = json!({"model": "sage", "messages": ask(), "response_format": schema,
                      "chat_template_kwargs": {"enable_thinking": true}});
    let (s, text) = post(&a, "/v1/chat/completions", body).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(
        (m["content"].as_str(), m["reasoning_content"].as_str()),
        (Some(json_answer), Some(THOUGHT)),
        "{v}"
    );
    assert_eq!(v["usage"]["prompt_tokens"].as_i64().unwrap() - plain, "<think>\n".len() as i64);
    // Thinking asked without a constraint: the model opens its block itself, nothing is added.
    let free = json!({"model": "sage", "messages": ask(), "chat_template_kwargs": {"enable_thinking": true}});
    assert_eq!(prompt_tokens(&a, "/v1/chat/completions", free).await, plain);
}

#[tokio::test]
async fn a_thinking_budget_closes_the_block_on_openai_s_and_anthropic_s_apis() {
    // A model whose block the template opened and which would think on: vLLM's
    // `thinking_token_budget` and Anthropic's `budget_tokens` end its thinking after that many
    // tokens (the scripted tokenizer: one per byte); the answer follows the closed block.
    let a = opener("The operator asks about the dock and the model keeps on thinking about it");
    let body = json!({"model": "sage", "messages": ask(), "max_tokens": 48, "thinking_token_budget": 10});
    let (s, text) = post(&a, "/v1/chat/completions", body).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(m["reasoning_content"].as_str(), Some("The operat"), "{v}");
    assert!(!m["content"].as_str().unwrap().contains("</think>"), "{v}");
    let body = json!({"model": "sage", "max_tokens": 48, "messages": ask(),
                      "thinking": {"type": "enabled", "budget_tokens": 10}});
    let (s, text) = post(&a, "/v1/messages", body).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["content"][0]["thinking"], "The operat", "{v}");
    let bad = json!({"model": "sage", "max_tokens": 48, "messages": ask(),
                     "thinking": {"type": "enabled", "budget_tokens": -5}});
    assert_eq!(post(&a, "/v1/messages", bad).await.0, StatusCode::BAD_REQUEST);
    let bad = json!({"model": "sage", "messages": ask(), "thinking_token_budget": "lots"});
    assert_eq!(post(&a, "/v1/chat/completions", bad).await.0, StatusCode::BAD_REQUEST);
    // SAGE's grace past the budget: the thought ends its line (NVIDIA's budget control), or
    // closes at the grace's end.
    let a = opener("The operator asks\nabout the dock and the model keeps on thinking about it");
    for (grace, thought) in [(20, "The operator asks"), (5, "The operator as")] {
        let body = json!({"model": "sage", "messages": ask(), "max_tokens": 48,
                          "thinking_token_budget": 10, "thinking_token_grace": grace});
        let (s, text) = post(&a, "/v1/chat/completions", body).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["choices"][0]["message"]["reasoning_content"].as_str(), Some(thought), "{grace}: {v}");
    }
    // The block closed for the model is part of the output, not of the prompt.
    let plain = json!({"model": "sage", "messages": ask(), "max_tokens": 48});
    let budgeted = json!({"model": "sage", "messages": ask(), "max_tokens": 48, "thinking_token_budget": 10});
    assert_eq!(
        prompt_tokens(&a, "/v1/chat/completions", budgeted).await,
        prompt_tokens(&a, "/v1/chat/completions", plain).await
    );
    // NVIDIA NIM's `nvext.max_thinking_tokens`: the budget with NIM's grace, 10% of it (10
    // tokens and one more, in which no line ends; 12 and 1 likewise; 17 and 1: the line ends in it).
    for (budget, thought) in [(10, "The operato"), (12, "The operator"), (17, "The operator asks")] {
        let body = json!({"model": "sage", "messages": ask(), "max_tokens": 48,
                          "nvext": {"max_thinking_tokens": budget}});
        let (s, text) = post(&a, "/v1/chat/completions", body).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["choices"][0]["message"]["reasoning_content"].as_str(), Some(thought), "{budget}: {v}");
    }
}
