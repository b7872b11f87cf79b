//! The parsers of outside bytes, each as a target: its seeds (real files of the repository, or
//! files our writers produce) and how one input is fed to it. A target reports nothing: a panic
//! (caught by the runner), a hang (the watchdog) or a memory blow-up (peak RSS) is the finding.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sage_llm::gguf::writer::{GgufWriter, MetaValue, TensorData};
use sage_llm::template::{render_template, TemplateContext};
use sage_llm::{ChatMessage, Role};

/// A parser under test.
pub struct Target {
    /// Name (`gguf`, `scenario`, ...).
    pub name: &'static str,
    /// Inputs the mutations start from.
    pub seeds: Vec<Vec<u8>>,
    run: Feed,
}

/// How one input reaches a parser.
type Feed = Box<dyn FnMut(&[u8]) -> u16>;

impl Target {
    /// Feed one input; what became of it: 0 accepted, 1 refused with a typed error (parsers), or
    /// the HTTP status (routes).
    pub fn exec(&mut self, input: &[u8]) -> u16 {
        (self.run)(input)
    }
}

/// Setting a target up failed (a fixture missing, a temporary folder).
#[derive(Debug, thiserror::Error)]
#[error("fuzz target {target}: {message}")]
pub struct SetupError {
    /// Target.
    pub target: &'static str,
    /// What.
    pub message: String,
}

fn setup(target: &'static str) -> impl Fn(std::io::Error) -> SetupError {
    move |e| SetupError { target, message: e.to_string() }
}

/// The names of every target.
pub const NAMES: &[&str] = &[
    "gguf",
    "scenario",
    "zoo",
    "recording",
    "template",
    "grammar",
    "lazy_grammar",
    "hf_import",
    "http_chat",
    "http_completions",
    "http_responses",
    "http_anthropic_messages",
    "http_observations",
    "http_embeddings",
    "http_ollama_chat",
    "http_ollama_generate",
    "http_ollama_embed",
    "http_ollama_show",
    "http_llama_completion",
    "http_llama_tokenize",
    "http_llama_detokenize",
];

/// The target `name`; `root` is the workspace (its fixtures are the seeds), `work` a folder for
/// the files a target writes.
pub fn target(name: &str, root: &Path, work: &Path) -> Result<Target, SetupError> {
    match name {
        "gguf" => gguf(work),
        "scenario" => Ok(text_target(
            "scenario",
            seeds_from(root, &["scenarios/demo.jsonl", "scenarios/attention.jsonl"], 40)?,
            |t| verdict(sage_kernel::scenario::Scenario::parse(t).is_ok()),
        )),
        "zoo" => {
            let base = work.to_path_buf();
            Ok(text_target("zoo", seeds_from(root, &["docs/zoo.example.toml"], usize::MAX)?, move |t| {
                verdict(sage_runtime::Zoo::parse(t, "fuzz", &base).is_ok())
            }))
        }
        "recording" => recording(root),
        "template" => template(root),
        "grammar" => Ok(grammar()),
        "lazy_grammar" => Ok(lazy_grammar()),
        "hf_import" => hf_import(root, work),
        n if n.starts_with("http_") && NAMES.contains(&n) => http(name),
        other => Err(SetupError { target: "?", message: format!("no target {other}: {}", NAMES.join(", ")) }),
    }
}

fn seeds_from(root: &Path, files: &[&str], max_lines: usize) -> Result<Vec<Vec<u8>>, SetupError> {
    let mut out = vec![];
    for f in files {
        let text = std::fs::read_to_string(root.join(f)).map_err(setup("seeds"))?;
        let lines: Vec<&str> = text.lines().take(max_lines).collect();
        out.push(lines.join("\n").into_bytes());
    }
    Ok(out)
}

/// 0 for an accepted input, 1 for one refused with a typed error.
fn verdict(accepted: bool) -> u16 {
    u16::from(!accepted)
}

fn text_target(name: &'static str, seeds: Vec<Vec<u8>>, f: impl Fn(&str) -> u16 + 'static) -> Target {
    Target { name, seeds, run: Box::new(move |b| f(&String::from_utf8_lossy(b))) }
}

/// The GGUF reader, on small files of our own writer (every metadata type, tensors of several
/// ggml types), written to a file per input (the reader takes a path).
fn gguf(work: &Path) -> Result<Target, SetupError> {
    let path = work.join("fuzz.gguf");
    let mut seeds = vec![];
    for variant in 0..3u32 {
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str("llama".into()));
        w.meta("general.name", MetaValue::Str(format!("fuzz {variant}")));
        w.meta("llama.block_count", MetaValue::U32(2 + variant));
        w.meta("llama.context_length", MetaValue::U32(128));
        w.meta("llama.rope.freq_base", MetaValue::F32(10000.0));
        w.meta("tokenizer.ggml.scores", MetaValue::F32s(vec![0.0, -1.0, -2.0]));
        w.meta("tokenizer.ggml.token_type", MetaValue::I32s(vec![1, 1, 3]));
        w.meta("tokenizer.chat_template", MetaValue::Str("{{ messages[0]['content'] }}".into()));
        w.tensor(TensorData { name: "a.weight".into(), dims: vec![4, 2], ggml_type: 0, data: vec![0; 32] });
        w.tensor(TensorData { name: "b.weight".into(), dims: vec![8], ggml_type: 1, data: vec![0; 16] });
        w.write(&path).map_err(setup("gguf"))?;
        seeds.push(std::fs::read(&path).map_err(setup("gguf"))?);
    }
    let run = move |b: &[u8]| {
        if std::fs::write(&path, b).is_err() {
            return 2;
        }
        match sage_llm::gguf::GgufFile::open(&path) {
            Ok(g) => {
                let _ = (g.architecture(), g.parameters(), g.tensor_bytes(), g.chat_template());
                0
            }
            Err(_) => 1,
        }
    };
    Ok(Target { name: "gguf", seeds, run: Box::new(run) })
}

/// Recordings (`sage replay` files): one written by our writer around a real scenario.
fn recording(root: &Path) -> Result<Target, SetupError> {
    let scenario = String::from_utf8_lossy(&seeds_from(root, &["scenarios/demo.jsonl"], 30)?[0]).into_owned();
    let rec =
        sage_runtime::record::write(&sage_kernel::KernelConfig::default(), &scenario, &Default::default());
    Ok(text_target("recording", vec![rec.into_bytes()], |t| verdict(sage_runtime::record::parse(t).is_ok())))
}

/// Chat templates (from model files: a hostile one is outside bytes), rendered on fuel.
fn template(root: &Path) -> Result<Target, SetupError> {
    let llama3 = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
    let mut seeds = seeds_from(
        root,
        &["crates/sage-llm/tests/fixtures/tiny/llama_tied_mqa/chat_template.jinja"],
        usize::MAX,
    )?;
    seeds.push(llama3.as_bytes().to_vec());
    let msgs = [
        ChatMessage::new(Role::System, "Be brief."),
        ChatMessage::new(Role::User, "Hi"),
        ChatMessage::new(Role::Assistant, "Hello."),
        ChatMessage::new(Role::User, "Battery?"),
    ];
    Ok(text_target("template", seeds, move |t| {
        let ctx = TemplateContext {
            model: "fuzz",
            bos: Some("<s>"),
            eos: Some("</s>"),
            date: None,
            tools: &[],
            vars: None,
        };
        verdict(render_template(t, &msgs, &ctx).is_ok())
    }))
}

/// GBNF grammars (a client's `grammar` field), each then walked over the text after a `%%`
/// line: parsed as the server checks them, and matched with a vocabulary of every byte, some
/// longer pieces and an end token, every token judged at every step, within the engine's time
/// limit for one token.
fn grammar() -> Target {
    use sage_llm::grammar::{Grammar, Vocab};
    let mut pieces: Vec<(Vec<u8>, bool)> = vec![(b"</s>".to_vec(), true)];
    pieces.extend((1..=255u8).map(|b| (vec![b], false)));
    for p in ["{\"", "\": ", "\"}", "true", "null", "aaaa", "ab", "é", "中文", "😀", "<think>", "  "] {
        pieces.push((p.as_bytes().to_vec(), false));
    }
    let vocab = Arc::new(Vocab::new(pieces));
    let seeds = [
        "root ::= object\nobject ::= \"{\" ws (string \":\" ws value (\",\" ws string \":\" ws value)*)? \"}\"\nvalue ::= object | string | [0-9]+ | \"true\"\nstring ::= \"\\\"\" [^\"\\\\]* \"\\\"\" ws\nws ::= [ \\t\\n]{0,3}\n%%\n{\"a\": {\"b\": 12}}",
        "root ::= (\"yes\" | \"no\" | \"y\")+ [.!]? # ambiguous\n%%\nyesyesno!",
        "root ::= \"a\"? \"a\"? \"a\"? \"a\"? \"a\"? \"b\"\n%%\naaab",
        "root ::= [^a] [ab]? root{0,3}\n%%\nbbbbbbbbbbbbbbbbbbbbbb",
        "root ::= <[3]> [\\u00e0-\\u00ff]{1,4} !<[5]> .\n%%\n\u{3}éàxy",
        "root ::= ( \"(\" root \")\" )* | \"x\"{2,}\n%%\n(()(()))",
    ];
    let seeds = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    text_target("grammar", seeds, move |t| {
        let (text, walk) = t.split_once("\n%%\n").unwrap_or((t, ""));
        if sage_llm::llama::grammar_within_limits(text).is_err() || sage_llm::grammar::check(text).is_err() {
            return 1;
        }
        let Ok(mut g) = Grammar::new(text, "root", Arc::clone(&vocab), &|_| None) else { return 1 };
        let mut logits = vec![0.0f32; vocab.len()];
        for b in walk.bytes().filter(|&b| b != 0) {
            if !judge_then_accept(&mut g, &mut logits, b) {
                break;
            }
        }
        0
    })
}

/// The grammar judges the whole vocabulary within the engine's limit, as before a draw, then
/// takes the byte `b` (a token of its own); whether it took it.
fn judge_then_accept(g: &mut sage_llm::grammar::Grammar, logits: &mut [f32], b: u8) -> bool {
    let limit = sage_llm::llama::MAX_GRAMMAR_STEP;
    logits.iter_mut().for_each(|l| *l = 0.0);
    let mut judged: Vec<(u32, &mut f32)> =
        logits.iter_mut().enumerate().map(|(i, l)| (i as u32, l)).collect();
    let deadline = (std::time::Instant::now() + limit, limit.as_millis());
    g.apply(&mut judged, Some(deadline)).is_ok() && g.accept(b as u32).is_ok()
}

/// Lazy grammars (llama-server's `grammar_triggers`): a grammar, `%%`, its triggers one per line
/// (`w:` a word, `p:` a pattern, `f:` a full pattern, `t:` a token id), `%%`, an output fed
/// byte by byte (every byte a token) to the triggers and, once one fires, to the grammar from
/// the trigger on, each later byte judged against the whole vocabulary first, as the engine
/// does (`Samplers::generated`).
fn lazy_grammar() -> Target {
    use sage_llm::grammar::trigger::Triggers;
    use sage_llm::grammar::{Grammar, Vocab};
    use sage_llm::Trigger;
    let mut pieces: Vec<(Vec<u8>, bool)> = vec![(b"</s>".to_vec(), true)];
    pieces.extend((1..=255u8).map(|b| (vec![b], false)));
    let vocab = Arc::new(Vocab::new(pieces));
    let seeds = [
        "root ::= \"<tool_call>\" [ a-z{}\":]+ \"</tool_call>\"\n%%\nw:<tool_call>\n%%\nLet me check. <tool_call>{\"name\": \"x\"}</tool_call>",
        "root ::= \"{\" [a-z\": ]* \"}\"\n%%\np:^\\s*(\\{\\s*\"name)\nf:\\s*\\[[\\s\\S]*\n%%\n  {\"name\": \"ab\"}",
        "root ::= [0-9]+\n%%\nt:50\nw:1\n%%\nabc1234",
    ];
    let seeds = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    text_target("lazy_grammar", seeds, move |t| {
        let mut parts = t.splitn(3, "\n%%\n");
        let (text, specs, output) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let triggers: Vec<Trigger> = specs
            .lines()
            .filter_map(|l| match l.split_once(':')? {
                ("w", v) => Some(Trigger::Word(v.into())),
                ("p", v) => Some(Trigger::Pattern(v.into())),
                ("f", v) => Some(Trigger::PatternFull(v.into())),
                ("t", v) => v.parse().ok().map(Trigger::Token),
                _ => None,
            })
            .collect();
        if sage_llm::grammar::trigger::check(&triggers).is_err()
            || sage_llm::llama::grammar_within_limits(text).is_err()
            || sage_llm::grammar::check(text).is_err()
        {
            return 1;
        }
        let Ok(mut g) = Grammar::new(text, "root", Arc::clone(&vocab), &|_| None) else { return 1 };
        let Ok(mut waiting) =
            Triggers::new(&triggers, vocab.len(), &|w| (w.len() == 1).then(|| w.as_bytes()[0] as u32))
        else {
            return 1;
        };
        let mut fired = false;
        let mut logits = vec![0.0f32; vocab.len()];
        for b in output.bytes().filter(|&b| b != 0) {
            if !fired {
                let Some(replay) = waiting.saw(b as u32, &[b]) else { continue };
                fired = true;
                for (tok, piece) in replay {
                    if g.accept_text(tok, &piece).is_err() {
                        return 0;
                    }
                }
                continue;
            }
            if !judge_then_accept(&mut g, &mut logits, b) {
                break;
            }
        }
        0
    })
}

/// The HF folder importer: one of config.json, tokenizer.json, tokenizer_config.json or the
/// safetensors header of one of six real tiny fixtures (a Llama, a Nemotron-H with Mamba-2 and
/// expert layers, a Qwen 3 with YaRN, a Gemma 2 with its soft caps, Qwen3-Omni's thinker,
/// Qwen3-VL-MoE with its fused experts) is the input (first byte: which), the rest of that
/// folder as it is; the GGUF
/// goes to a file that is overwritten each time.
fn hf_import(root: &Path, work: &Path) -> Result<Target, SetupError> {
    const FILES: [&str; 4] = ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"];
    /// A fixture copied to a work folder: its files' bytes, and its safetensors' tensor bytes.
    struct Folder {
        dir: PathBuf,
        originals: Vec<Vec<u8>>,
        tensors: Vec<u8>,
    }
    let mut folders = vec![];
    let mut seeds: Vec<Vec<u8>> = vec![];
    for (k, name) in [
        "llama_tied_mqa",
        "nemotron_h_moe",
        "qwen3_yarn",
        "gemma2_softcaps",
        "qwen3_omni_thinker",
        "qwen3_vl_moe",
    ]
    .into_iter()
    .enumerate()
    {
        let fixture = root.join("crates/sage-llm/tests/fixtures/tiny").join(name);
        let dir = work.join(format!("hf-{name}"));
        std::fs::create_dir_all(&dir).map_err(setup("hf_import"))?;
        let mut originals = vec![];
        for f in FILES {
            let b = std::fs::read(fixture.join(f)).map_err(setup("hf_import"))?;
            std::fs::write(dir.join(f), &b).map_err(setup("hf_import"))?;
            originals.push(b);
        }
        // The safetensors header: 8 bytes of length, then that much JSON.
        let st = &originals[3];
        let header_len =
            st.get(..8).map_or(0, |h| u64::from_le_bytes(h.try_into().unwrap_or([0; 8])) as usize);
        let header_end = (8 + header_len).min(st.len());
        for (i, original) in originals.iter().enumerate() {
            let mut s = vec![(k * FILES.len() + i) as u8];
            s.extend_from_slice(if i == 3 { &st[..header_end] } else { original });
            seeds.push(s);
        }
        let tensors = st[header_end..].to_vec();
        folders.push(Folder { dir, originals, tensors });
    }
    // The converted file is not what is under test: where the system has a sink, it goes there.
    let sink = Path::new("/dev/null");
    let out = if sink.exists() { sink.to_path_buf() } else { work.join("hf.gguf") };
    let run = move |b: &[u8]| {
        let Some((&which, content)) = b.split_first() else { return 1 };
        let which = which as usize % (folders.len() * FILES.len());
        let (folder, i) = (&folders[which / FILES.len()], which % FILES.len());
        let mut bytes = content.to_vec();
        if i == 3 {
            bytes.extend_from_slice(&folder.tensors);
        }
        let accepted = std::fs::write(folder.dir.join(FILES[i]), &bytes).is_ok()
            && sage_llm::import::import(&folder.dir, &out).is_ok();
        let _ = std::fs::write(folder.dir.join(FILES[i]), &folder.originals[i]);
        verdict(accepted)
    };
    Ok(Target { name: "hf_import", seeds, run: Box::new(run) })
}

/// The HTTP targets' scripted model, a reasoning one: its template opens the thinking block
/// unless `enable_thinking` is false and says "detailed thinking" (Llama-Nemotron's switch),
/// its reply thinks first.
fn reasoning_script() -> sage_runtime::scripted::Script {
    let template = "{#- detailed thinking on|off #}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}\
                    {% if add_generation_prompt %}<|assistant|><think>\n\
                    {%- if enable_thinking is defined and enable_thinking is false %}</think>\n\n{% endif %}{% endif %}";
    sage_runtime::scripted::Script {
        template: Some(template.into()),
        reply: "The battery reads 87.\n</think>\n\n{\"battery\": 87}".into(),
        ..sage_runtime::scripted::Script::new("a", 0.8)
    }
}

/// The HTTP API's bodies, through the real routes over scripted models (test doubles: the
/// parsing and validation are what is under test).
fn http(name: &str) -> Result<Target, SetupError> {
    use sage_runtime::scripted::ScriptedLoader;
    let zoo = "[[model]]\nid = \"a\"\nengine = \"gguf\"\npath = \"a.gguf\"\nrole = \"primary\"\ncontext = 2048\nexpected_mib = 100\nquality = { \"text.question\" = 0.8, \"text.chat\" = 0.8, \"text.alert\" = 0.8 }\n";
    let err = |message: String| SetupError { target: "http", message };
    let specs =
        sage_runtime::Zoo::parse(zoo, "fuzz zoo", Path::new(".")).map_err(|e| err(e.to_string()))?.models;
    let loader = Arc::new(ScriptedLoader::new(vec![reasoning_script()], std::time::Duration::ZERO));
    let clock = Arc::new(sage_runtime::ManualClock::default());
    let residency = sage_runtime::Residency::new(&specs, 1 << 30, loader, clock.clone());
    let router = sage_runtime::route::Router::new(specs.clone(), residency.clone(), clock.clone(), 1);
    let config = sage_runtime::driver::kernel_config(&specs, 1 << 30, &residency);
    let kernel = sage_kernel::Kernel::new(config).map_err(|e| err(e.to_string()))?;
    let driver = sage_runtime::driver::LlmDriver::new(specs, residency.clone(), None, None, clock.clone())
        .without_tape();
    let app = sage_server::App::new(
        router,
        residency,
        None,
        sage_server::KernelHost::new(kernel, driver),
        clock,
        sage_server::ServerConfig::default(),
    );
    app.warm_up();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(setup("http"))?;
    let (path, seeds) = http_route(name);
    let router = sage_server::routes(app);
    let run = move |b: &[u8]| {
        use tower::ServiceExt;
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(b.to_vec()));
        let Ok(req) = req else { return 0 };
        let svc = router.clone();
        rt.block_on(async move {
            let Ok(resp) = svc.oneshot(req).await;
            let status = resp.status().as_u16();
            let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
            status
        })
    };
    let name: &'static str = NAMES.iter().find(|n| **n == name).copied().unwrap_or("http");
    Ok(Target { name, seeds: seeds.into_iter().map(|s| s.as_bytes().to_vec()).collect(), run: Box::new(run) })
}

/// An HTTP target's route and the request bodies it mutates.
fn http_route(name: &str) -> (&'static str, Vec<&'static str>) {
    match name {
        "http_chat" => (
            "/v1/chat/completions",
            vec![
                r#"{"model":"sage","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Battery?"}],"max_tokens":8,"temperature":0.7,"seed":3,"stop":["\n"],"logprobs":true,"top_logprobs":2}"#,
                r#"{"model":"a","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"x":{"type":"integer"}}}}}}"#,
                r#"{"model":"sage","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"JSON?"}],"reasoning_effort":"high","chat_template_kwargs":{"enable_thinking":true},"reasoning_format":"deepseek","response_format":{"type":"json_object"},"stream":true}"#,
                r#"{"model":"sage","messages":[{"role":"user","content":"Why?"}],"max_tokens":24,"thinking_token_budget":6,"thinking_token_grace":4,"nvext":{"max_thinking_tokens":9}}"#,
            ],
        ),
        "http_completions" => (
            "/v1/completions",
            vec![
                r#"{"model":"sage","prompt":"The robot","max_tokens":4,"logprobs":2,"stream":false,"n":1,"user":"u1"}"#,
                r#"{"model":"a","prompt":"yes","presence_penalty":1.5,"frequency_penalty":-2,"logit_bias":{"5":-100,"7":3}}"#,
            ],
        ),
        "http_responses" => (
            "/v1/responses",
            vec![
                r#"{"model":"sage","input":"Battery?","instructions":"Be brief.","max_output_tokens":8,"temperature":0.7,"store":true,"metadata":{"k":"v"}}"#,
                r#"{"model":"a","input":[{"role":"developer","content":"Be brief."},{"type":"message","role":"user","content":[{"type":"input_text","text":"Battery?"}]},{"type":"function_call","call_id":"call_1","name":"get_battery","arguments":"{}"},{"type":"function_call_output","call_id":"call_1","output":"87"}],"tools":[{"type":"function","name":"get_battery","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"get_battery"},"stream":true}"#,
                r#"{"model":"sage","input":"JSON","text":{"format":{"type":"json_schema","name":"r","schema":{"type":"object","properties":{"x":{"type":"integer"}}},"strict":true}},"previous_response_id":"resp_1","truncation":"auto"}"#,
            ],
        ),
        "http_anthropic_messages" => (
            "/v1/messages",
            vec![
                r#"{"model":"sage","max_tokens":8,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":"Battery?"}],"stop_sequences":["%"],"temperature":0.5,"top_k":20}"#,
                r#"{"model":"a","max_tokens":16,"stream":true,"tools":[{"name":"get_battery","description":"d","input_schema":{"type":"object","properties":{"unit":{"type":"string"}}}}],"tool_choice":{"type":"tool","name":"get_battery","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"Battery?"},{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"get_battery","input":{"unit":"percent"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"87"}],"is_error":false},{"type":"text","text":"Thanks"}]}]}"#,
                r#"{"model":"sage","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"JSON"}]}],"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"x":{"type":"integer"}}}}},"thinking":{"type":"disabled"}}"#,
                r#"{"model":"a","max_tokens":2048,"stream":true,"messages":[{"role":"user","content":"Battery?"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":""},{"type":"text","text":"87"}]},{"role":"user","content":"And now?"}],"thinking":{"type":"adaptive","display":"summarized"}}"#,
            ],
        ),
        "http_embeddings" => (
            "/v1/embeddings",
            vec![r#"{"model":"sage","input":["battery low","all quiet"],"encoding_format":"base64"}"#],
        ),
        "http_ollama_chat" => (
            "/api/chat",
            vec![
                r#"{"model":"a:latest","messages":[{"role":"user","content":"Battery?"}],"stream":false,"options":{"temperature":0.5,"seed":4,"num_predict":8,"stop":["\n"]},"keep_alive":"5m"}"#,
                r#"{"model":"sage","messages":[{"role":"user","content":"JSON"}],"format":{"type":"object"},"keep_alive":-1}"#,
                r#"{"model":"a","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Battery?"}],"think":"high","stream":true}"#,
            ],
        ),
        "http_ollama_generate" => (
            "/api/generate",
            vec![
                r#"{"model":"a","prompt":"The robot","system":"Be brief.","raw":false,"stream":true,"options":{"top_k":20,"top_p":0.9},"keep_alive":0}"#,
            ],
        ),
        "http_ollama_embed" => {
            ("/api/embed", vec![r#"{"model":"a","input":"battery low","keep_alive":"1h30m"}"#])
        }
        "http_ollama_show" => ("/api/show", vec![r#"{"model":"a:latest"}"#, r#"{"name":"sage"}"#]),
        "http_llama_completion" => (
            "/completion",
            vec![
                r#"{"prompt":"The robot","n_predict":8,"temperature":0.5,"top_k":-1,"seed":-1,"stop":["\n"],"repeat_last_n":-1,"cache_prompt":true}"#,
                r#"{"prompt":["Battery?"],"stream":true,"model":"a","json_schema":{"type":"object"}}"#,
                r#"{"prompt":"x","grammar":"root ::= \"yes\" | \"no\"","model":"sage"}"#,
                r#"{"prompt":"yes","presence_penalty":1.5,"frequency_penalty":-0.5,"logit_bias":[[5,false],[7,-2.5]]}"#,
                r#"{"prompt":"yes","logit_bias":{"5":1.5}}"#,
                r#"{"prompt":"Q","grammar":"root ::= \"<c>\" [0-9]+","grammar_lazy":true,"grammar_triggers":[{"type":1,"value":"<c>"},{"type":"pattern","value":"a(b+)"},{"type":3,"value":"\\s*x"},{"type":0,"value":"<t>","token":3}],"preserved_tokens":["<c>"]}"#,
            ],
        ),
        "http_llama_tokenize" => (
            "/tokenize",
            vec![r#"{"content":"Battery low","add_special":true,"with_pieces":true,"model":"a"}"#],
        ),
        "http_llama_detokenize" => ("/detokenize", vec![r#"{"tokens":[1,2,300,-4],"model":"sage"}"#]),
        _ => (
            "/sage/observations",
            vec![
                r#"{"observations":[{"source":"imu","values":[0.1,9.8,0.2]},{"source":"op","text":"Fire in aisle 4!","semantic":0.9}],"crisis":false}"#,
                r#"[{"source":"lidar","values":[1,2,3]}]"#,
            ],
        ),
    }
}

/// The workspace root (this crate's grandparent).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
