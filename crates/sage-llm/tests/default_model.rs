#![allow(clippy::unwrap_used)]

//! The llama.cpp engine on the embedded default model (a real Gemma 3 270M base model, Q4_K_M),
//! checked against HF transformers references recorded by `tools/reference/gemma_reference.py`.
//!
//! The model comes from `SAGE_MODEL` or the default cache path; `scripts/test.sh` fetches it.

mod common;

use std::sync::OnceLock;

use common::model_path;
use sage_llm::{
    ChatMessage, Constraint, EngineConfig, Event, FinishReason, Flow, GenerateError, GenerateParams, KvType,
    LanguageModel, LlamaEngine, LoadError, LoadMode, Prompt, Role, Sampling,
};
use serde::Deserialize;

fn engine() -> &'static LlamaEngine {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    E.get_or_init(|| {
        let cfg = EngineConfig {
            threads: Some(2),
            context: Some(1024),
            kv_type: KvType::F32,
            ..EngineConfig::default()
        };
        LlamaEngine::load(model_path(), Some("gemma3-270m"), cfg).unwrap()
    })
}

#[derive(Deserialize)]
struct Reference {
    tokenization: Vec<TokCase>,
    continuations: Vec<Continuation>,
}

#[derive(Deserialize)]
struct TokCase {
    text: String,
    ids: Vec<u32>,
    ids_with_bos: Vec<u32>,
}

#[derive(Deserialize)]
struct Continuation {
    prompt: String,
    prompt_ids: Vec<u32>,
    continuation: Vec<u32>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("fixtures/gemma3_reference.json")).unwrap()
}

fn greedy(max_tokens: u32) -> GenerateParams {
    GenerateParams { max_tokens, sampling: Sampling::greedy(), ..GenerateParams::default() }
}

fn run(prompt: &Prompt, params: &GenerateParams) -> Result<sage_llm::Generation, GenerateError> {
    let e = engine();
    let (s, _) = e.open_session(None)?;
    let r = e.generate(s, prompt, params, &mut |_| Flow::Continue);
    e.close_session(s);
    r
}

#[test]
fn loads_with_measured_info() {
    let info = engine().info();
    assert_eq!(info.architecture, "gemma3");
    assert_eq!(info.vocab, 262_144);
    assert_eq!(info.layers, 18);
    assert_eq!(info.train_context, 32_768);
    assert!(info.chat_template.is_none(), "the default model is a base model");
    assert_eq!(info.bos.as_deref(), Some("<bos>"));
    assert!(info.load_s > 0.0);
    assert!(info.parameters > 250_000_000 && info.parameters < 300_000_000, "{}", info.parameters);
}

#[test]
fn reading_the_file_gives_the_model_that_mapping_it_gives() {
    // The shared engine decides for itself (`Auto`); this one is told to read the file.
    let read = LlamaEngine::load(
        model_path(),
        Some("gemma3-read"),
        EngineConfig {
            threads: Some(2),
            context: Some(256),
            kv_type: KvType::F32,
            load: LoadMode::Read,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    assert_eq!(read.info().weights.as_deref(), Some("weights read: as configured"));
    assert!(engine().info().weights.as_deref().is_some_and(|w| w.starts_with("weights ")));
    let ids = engine().tokenize("The robot checks the loading dock", true).unwrap();
    let logits = |e: &LlamaEngine| {
        let (s, _) = e.open_session(None).unwrap();
        let l = e.logits(s, &ids).unwrap();
        e.close_session(s);
        l
    };
    let (a, b) = (logits(engine()), logits(&read));
    assert_eq!(a.len(), b.len());
    let worst = a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "max |logit difference| {worst}");
}

#[test]
fn tokenization_matches_hf_transformers() {
    let e = engine();
    for case in reference().tokenization {
        assert_eq!(e.tokenize(&case.text, false).unwrap(), case.ids, "without BOS: {:?}", case.text);
        assert_eq!(e.tokenize(&case.text, true).unwrap(), case.ids_with_bos, "with BOS: {:?}", case.text);
        if !case.text.contains('<') {
            assert_eq!(e.detokenize(&case.ids).unwrap(), case.text, "round trip");
        }
    }
}

#[test]
fn teacher_forced_agreement_with_hf_is_at_least_94_percent() {
    let e = engine();
    let (s, _) = e.open_session(None).unwrap();
    let (mut agree, mut total) = (0, 0);
    for c in reference().continuations {
        assert_eq!(e.tokenize(&c.prompt, true).unwrap(), c.prompt_ids);
        let mut ids = c.prompt_ids.clone();
        ids.extend_from_slice(&c.continuation);
        let logits = e.logits(s, &ids).unwrap();
        for (i, &next) in c.continuation.iter().enumerate() {
            let row = &logits[c.prompt_ids.len() - 1 + i];
            let argmax = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
            agree += (argmax == next) as u32;
            total += 1;
        }
    }
    e.close_session(s);
    let share = agree as f64 / total as f64;
    eprintln!("teacher-forced top-1 agreement with HF transformers: {agree}/{total} = {:.1}%", share * 100.0);
    assert!(share >= 0.94, "{agree}/{total}");
}

#[test]
fn greedy_generation_is_deterministic_and_reports_timings() {
    // A prompt no other test starts with: were it whole in the cache (another test ran it
    // first), nothing would be evaluated and the prefill rate would honestly be zero.
    const PROMPT: &str = "A courier drone landed on the roof of the depot and";
    let p = Prompt::Text(PROMPT.into());
    let a = run(&p, &greedy(24)).unwrap();
    let b = run(&p, &greedy(24)).unwrap();
    assert_eq!(
        a.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        b.tokens.iter().map(|t| t.id).collect::<Vec<_>>()
    );
    assert_eq!(a.finish, FinishReason::Length);
    assert_eq!(a.tokens.len(), 24);
    assert!(!a.text.trim().is_empty());
    let t = a.timings;
    assert_eq!(t.generated_tokens, 24);
    // Every prompt token is either evaluated or reused from the cache (other tests' prompts
    // that start the same way lend their cells).
    assert_eq!((t.prompt_tokens + t.cached_tokens) as usize, engine().tokenize(PROMPT, true).unwrap().len());
    assert!(t.prompt_tokens > 0, "the first run of a new prompt evaluates some of it");
    assert!(t.prefill_tok_s > 0.0 && t.decode_tok_s > 0.0 && t.time_to_first_token_s > 0.0);
}

#[test]
fn logprobs_are_log_probabilities_and_greedy_picks_the_top() {
    let mut p = greedy(8);
    p.logprobs = Some(3);
    let g = run(&Prompt::Text("Question: What is the capital of France?\nAnswer:".into()), &p).unwrap();
    for t in &g.tokens {
        let lp = t.logprob.unwrap();
        assert!(lp <= 0.0 && lp.is_finite());
        assert_eq!(t.top.len(), 3);
        assert_eq!(t.top[0].0, t.id, "greedy chose the most likely token");
        assert!((t.top[0].2 - lp).abs() < 1e-4);
        assert!(t.top[0].2 >= t.top[1].2 && t.top[1].2 >= t.top[2].2);
    }
    assert!(g.mean_nll().unwrap() >= 0.0);
}

#[test]
fn a_conversation_growing_by_a_turn_reuses_the_cache() {
    // Its own engine: with one sequence, the other tests' sessions would take its cache between
    // the turns (that eviction is tested in tests/batching.rs).
    static OWN: OnceLock<LlamaEngine> = OnceLock::new();
    let e = common::load_once(
        &OWN,
        "gemma3-270m-turns",
        EngineConfig { context: Some(1024), ..EngineConfig::default() },
    );
    let (s, _) = e.open_session(None).unwrap();
    let mut msgs = vec![
        ChatMessage::new(Role::System, "You are a warehouse robot. Answer briefly."),
        ChatMessage::new(Role::User, "What is your battery level?"),
    ];
    let first = e.generate(s, &Prompt::Chat(msgs.clone()), &greedy(12), &mut |_| Flow::Continue).unwrap();
    assert_eq!(first.timings.cached_tokens, 0);
    msgs.push(ChatMessage::new(Role::Assistant, first.text.clone()));
    msgs.push(ChatMessage::new(Role::User, "And your position?"));
    let second = e.generate(s, &Prompt::Chat(msgs), &greedy(12), &mut |_| Flow::Continue).unwrap();
    assert!(second.timings.cached_tokens > 10, "{:?}", second.timings);
    assert!(second.timings.prompt_tokens < second.timings.cached_tokens);
    e.close_session(s);
}

#[test]
fn context_overflow_is_an_error_before_any_generation() {
    let e = engine();
    assert!(matches!(e.open_session(Some(1_000_000_000)), Err(GenerateError::InvalidParams { .. })));
    let (s, n_ctx) = e.open_session(Some(64)).unwrap();
    // llama.cpp rounds the window up to its padding.
    assert!(n_ctx >= 64);
    let mut events = 0;
    let long = "word ".repeat(n_ctx as usize - 16);
    let r = e.generate(s, &Prompt::Text(long), &greedy(32), &mut |_| {
        events += 1;
        Flow::Continue
    });
    match r {
        Err(GenerateError::ContextOverflow { prompt_tokens, max_tokens: 32, context, .. }) => {
            assert_eq!(context, n_ctx);
            assert!(prompt_tokens + 32 > n_ctx as usize);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events, 0);
    e.close_session(s);
}

#[test]
fn bad_requests_are_typed_errors() {
    let e = engine();
    let mut p = greedy(4);
    p.sampling.temperature = -1.0;
    assert!(matches!(run(&Prompt::Text("x".into()), &p), Err(GenerateError::InvalidParams { .. })));
    let mut p = greedy(4);
    p.sampling = Sampling { top_p: 0.0, temperature: 0.7, ..Sampling::default() };
    assert!(matches!(run(&Prompt::Text("x".into()), &p), Err(GenerateError::InvalidParams { .. })));
    assert!(matches!(run(&Prompt::Tokens(vec![]), &greedy(4)), Err(GenerateError::EmptyPrompt { .. })));
    assert!(matches!(
        run(&Prompt::Tokens(vec![2, 999_999_999]), &greedy(4)),
        Err(GenerateError::Tokenize(_))
    ));
    let bad_chat = Prompt::Chat(vec![ChatMessage::new(Role::Assistant, "hi")]);
    assert!(matches!(run(&bad_chat, &greedy(4)), Err(GenerateError::Template(_))));
    assert!(e.detokenize(&[u32::MAX]).is_err());
    let (s, _) = e.open_session(None).unwrap();
    e.close_session(s);
    assert!(matches!(
        e.generate(s, &Prompt::Text("x".into()), &greedy(2), &mut |_| Flow::Continue),
        Err(GenerateError::NoSession { .. })
    ));
    let mut p = greedy(4);
    p.constraint = Some(Constraint::Grammar("root ::= (".into()));
    assert!(matches!(run(&Prompt::Text("x".into()), &p), Err(GenerateError::Constraint { .. })));
}

#[test]
fn json_schema_constrains_the_output() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"action": {"type": "string", "enum": ["stop", "go", "wait"]}, "confidence": {"type": "integer"}},
        "required": ["action", "confidence"]
    });
    let mut p = greedy(48);
    p.constraint = Some(Constraint::JsonSchema(schema));
    let g = run(&Prompt::Text("The robot sees an obstacle. Decision as JSON:".into()), &p).unwrap();
    assert_eq!(g.finish, FinishReason::EndOfTurn, "{g:?}");
    let v: serde_json::Value = serde_json::from_str(&g.text).unwrap();
    assert!(["stop", "go", "wait"].contains(&v["action"].as_str().unwrap()), "{v}");
    assert!(v["confidence"].is_i64());
}

/// A constraint that waits for a text (a reasoning model's `</think>`): the output is free until
/// the text has come, then follows the constraint; taken in chunks (continuations), the same.
#[test]
fn a_constraint_after_a_text_leaves_the_output_free_until_the_text_comes() {
    let ask = "The robot sees an obstacle. Decision as JSON:";
    let free = run(&Prompt::Text(ask.into()), &greedy(6)).unwrap();
    let trigger: String = free.tokens[..3].iter().map(|t| t.text.as_str()).collect();
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"action": {"type": "string", "enum": ["stop", "go", "wait"]}},
        "required": ["action"]
    });
    let mut p = greedy(48);
    p.constraint = Some(Constraint::JsonSchema(schema));
    p.constraint_after = Some(trigger.clone());
    let g = run(&Prompt::Text(ask.into()), &p).unwrap();
    let ids = |g: &sage_llm::Generation| g.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&g)[..3], ids(&free)[..3], "free until the text: {:?} {:?}", g.text, free.text);
    assert_eq!(g.finish, FinishReason::EndOfTurn, "{g:?}");
    let answer = g.text.strip_prefix(&trigger).unwrap_or_else(|| panic!("{:?} {trigger:?}", g.text));
    let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_else(|e| panic!("{answer:?}: {e}"));
    assert!(["stop", "go", "wait"].contains(&v["action"].as_str().unwrap()), "{v}");
    // In chunks, cut before the text has come and after: the same tokens.
    let prompt = engine().tokenize(ask, true).unwrap();
    for cut in [2, 5] {
        let first =
            run(&Prompt::Tokens(prompt.clone()), &GenerateParams { max_tokens: cut, ..p.clone() }).unwrap();
        let mut more = prompt.clone();
        more.extend(ids(&first));
        let rest = GenerateParams { max_tokens: 48 - cut, continuation: cut, ..p.clone() };
        let second = run(&Prompt::Tokens(more), &rest).unwrap();
        assert_eq!([ids(&first), ids(&second)].concat(), ids(&g), "cut after {cut}");
    }
    // A continuation whose earlier tokens do not follow the constraint is a typed error (fed to
    // llama.cpp's grammar, such a token aborted the process).
    let mut broken = prompt.clone();
    broken.extend(engine().tokenize("hello there", false).unwrap());
    let n = broken.len() - prompt.len();
    let strict = GenerateParams { constraint_after: None, continuation: n as u32, ..p.clone() };
    assert!(matches!(run(&Prompt::Tokens(broken), &strict), Err(GenerateError::Constraint { .. })));
    // Without the text ever coming, nothing is constrained: the free answer.
    let never = GenerateParams { constraint_after: Some("\u{1}never".into()), max_tokens: 6, ..p.clone() };
    assert_eq!(ids(&run(&Prompt::Text(ask.into()), &never).unwrap()), ids(&free));
}

/// The constraint checked on the chosen token first (the default) gives a greedy answer the
/// grammar-first chain gives, and a sampled one that still follows the schema.
#[test]
fn checking_the_chosen_token_first_keeps_the_constrained_answer() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]},
                       "note": {"type": "string"}},
        "required": ["battery", "status", "note"]
    });
    let grammar = "root ::= (\"yes\" | \"no\") \", because \" [a-z ]+ \".\"";
    let asks = ["Battery report as JSON:", "The robot docked. JSON status:", "Is the dock free? Answer:"];
    for (i, ask) in asks.iter().enumerate() {
        let constraint =
            if i < 2 { Constraint::JsonSchema(schema.clone()) } else { Constraint::Grammar(grammar.into()) };
        let mut lazy = greedy(48);
        lazy.constraint = Some(constraint);
        let exact = GenerateParams { exact_constraint: true, ..lazy.clone() };
        let (a, b) = (
            run(&Prompt::Text((*ask).into()), &lazy).unwrap(),
            run(&Prompt::Text((*ask).into()), &exact).unwrap(),
        );
        assert_eq!(a.text, b.text, "{ask}");
        assert_eq!(a.tokens.len(), b.tokens.len(), "{ask}");
    }
    let mut finished = 0;
    for seed in 0..4 {
        let mut p = greedy(64);
        p.sampling = Sampling { temperature: 0.9, seed, ..Sampling::default() };
        p.constraint = Some(Constraint::JsonSchema(schema.clone()));
        let g = run(&Prompt::Text("Battery report as JSON:".into()), &p).unwrap();
        if g.finish == FinishReason::EndOfTurn {
            finished += 1;
            let v: serde_json::Value =
                serde_json::from_str(&g.text).unwrap_or_else(|e| panic!("{:?}: {e}", g.text));
            assert!(v["battery"].is_i64() && ["ok", "low"].contains(&v["status"].as_str().unwrap()), "{v}");
        }
    }
    assert!(finished >= 2, "only {finished} of 4 sampled answers closed their object within 64 tokens");
}

#[test]
fn the_caller_can_stop_and_stop_sequences_cut_the_text() {
    let e = engine();
    let (s, _) = e.open_session(None).unwrap();
    let mut seen = 0;
    let g = e
        .generate(s, &Prompt::Text("Once upon a time".into()), &greedy(50), &mut |ev| {
            if let Event::Token { .. } = ev {
                seen += 1;
                if seen == 3 {
                    return Flow::Stop;
                }
            }
            Flow::Continue
        })
        .unwrap();
    assert_eq!(g.finish, FinishReason::Cancelled);
    assert_eq!(seen, 3);
    assert_eq!(g.tokens.len(), 3, "the tokens seen before stopping are returned");
    // Find a word the greedy continuation contains, then stop on it.
    let free = e
        .generate(s, &Prompt::Text("Once upon a time".into()), &greedy(40), &mut |_| Flow::Continue)
        .unwrap();
    let word = free.text.split_whitespace().nth(3).unwrap().to_string();
    let mut p = greedy(40);
    p.stop = vec![word.clone()];
    let mut streamed = String::new();
    let cut = e
        .generate(s, &Prompt::Text("Once upon a time".into()), &p, &mut |ev| {
            if let Event::Token { delta, .. } = ev {
                streamed.push_str(delta);
            }
            Flow::Continue
        })
        .unwrap();
    assert_eq!(cut.finish, FinishReason::Stop);
    assert!(!cut.text.contains(&word), "{:?} still contains {word:?}", cut.text);
    assert!(free.text.starts_with(&cut.text));
    assert!(!streamed.contains(&word), "streamed text leaked the stop sequence");
    // A stop of several tokens is found where it ends, the text cut exactly before it.
    let words: Vec<&str> = free.text.split_whitespace().collect();
    let phrase = format!("{} {}", words[5], words[6]);
    let expected = &free.text[..free.text.find(&phrase).unwrap()];
    let mut p = greedy(40);
    p.stop = vec!["never in this text".into(), phrase.clone()];
    let cut = e.generate(s, &Prompt::Text("Once upon a time".into()), &p, &mut |_| Flow::Continue).unwrap();
    assert_eq!((cut.finish, cut.text.as_str()), (FinishReason::Stop, expected), "{phrase:?}");
    e.close_session(s);
}

/// A chat template given in place of the file's (`--chat-template-file`) renders the chat; one
/// that does not parse is refused at load, naming the file.
#[test]
fn a_chat_template_given_replaces_the_files() {
    let given = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant] ";
    let cfg = EngineConfig { chat_template: Some(given.into()), ..EngineConfig::default() };
    let e = LlamaEngine::load(model_path(), Some("templated"), cfg).unwrap();
    assert_eq!(e.info().chat_template.as_deref(), Some(given));
    let r = e.render_chat(&[sage_llm::ChatMessage::new(sage_llm::Role::User, "Hi")]).unwrap();
    assert_eq!(r.text, "[user] Hi\n[assistant] ");
    drop(e);
    let broken =
        EngineConfig { chat_template: Some("{% for m in messages %}".into()), ..EngineConfig::default() };
    let err = LlamaEngine::load(model_path(), None, broken).unwrap_err();
    assert!(matches!(err, LoadError::Settings { .. }), "{err}");
    assert!(err.to_string().contains("chat template") && err.to_string().contains(".gguf"), "{err}");
}

#[test]
fn bad_files_are_typed_load_errors() {
    let dir = std::env::temp_dir().join(format!("sage-llm-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.gguf");
    assert!(matches!(
        LlamaEngine::load(&missing, None, EngineConfig::default()),
        Err(LoadError::NotFound(_))
    ));
    let text = dir.join("text.gguf");
    std::fs::write(&text, "not a model").unwrap();
    assert!(matches!(LlamaEngine::load(&text, None, EngineConfig::default()), Err(LoadError::Gguf(_))));
    // The real model, truncated.
    let bytes = std::fs::read(model_path()).unwrap();
    let cut = dir.join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = LlamaEngine::load(&cut, None, EngineConfig::default()).unwrap_err();
    assert!(matches!(e, LoadError::Gguf(_)), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    // A valid GGUF of an architecture llama.cpp does not know.
    let alien = dir.join("alien.gguf");
    let mut w = sage_llm::gguf::writer::GgufWriter::new();
    w.meta("general.architecture", sage_llm::gguf::writer::MetaValue::Str("alien9000".into()));
    w.write(&alien).unwrap();
    let e = LlamaEngine::load(&alien, None, EngineConfig::default()).unwrap_err();
    assert!(matches!(e, LoadError::Engine { .. }), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Embeddings: one unit vector per text, as wide as the model's hidden state, the same for the
/// same text, and closer for texts that say the same thing than for unrelated ones.
#[test]
fn embeddings_are_unit_vectors_closer_for_similar_texts() {
    let e = engine();
    let texts: Vec<String> = [
        "The battery of the robot is almost empty.",
        "The robot's battery is nearly flat.",
        "Paris is the capital city of France.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let v = e.embed(&texts).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].len(), 640, "Gemma 3 270M's hidden size");
    for x in &v {
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]), "{} vs {}", cos(&v[0], &v[1]), cos(&v[0], &v[2]));
    assert_eq!(e.embed(&texts[..1]).unwrap()[0], v[0], "the same text, the same vector");
}

/// `logit_bias` moves the greedy choice: banning the first token greedy picks makes it pick
/// another, a large bonus makes a chosen token first; biases outside the vocabulary and
/// penalties that are not numbers are typed errors.
#[test]
fn logit_bias_bans_and_forces_tokens() {
    let prompt = Prompt::Text("The robot entered the warehouse and".into());
    let plain = run(&prompt, &greedy(4)).unwrap();
    let first = plain.tokens[0].id;
    let banned =
        run(&prompt, &GenerateParams { logit_bias: vec![(first, f32::NEG_INFINITY)], ..greedy(4) }).unwrap();
    assert_ne!(banned.tokens[0].id, first, "{:?} {:?}", plain.text, banned.text);
    let wanted = engine().tokenize(" slowly", false).unwrap()[0];
    let forced = run(&prompt, &GenerateParams { logit_bias: vec![(wanted, 100.0)], ..greedy(1) }).unwrap();
    assert_eq!(forced.tokens[0].id, wanted, "{:?}", forced.text);
    for bias in [vec![(262_144, 1.0)], vec![(5, f32::NAN)], vec![(5, f32::INFINITY)]] {
        let p = GenerateParams { logit_bias: bias.clone(), ..greedy(2) };
        assert!(matches!(run(&prompt, &p), Err(GenerateError::InvalidParams { .. })), "{bias:?}");
    }
    let mut p = greedy(2);
    p.sampling.presence_penalty = f32::NAN;
    assert!(matches!(run(&prompt, &p), Err(GenerateError::InvalidParams { .. })));
}

/// Frequency and presence penalties work on the tokens in the window: a prompt that invites
/// repeating one word repeats it less with them on.
#[test]
fn frequency_and_presence_penalties_repeat_less() {
    let prompt = Prompt::Text("yes yes yes yes yes yes yes yes".into());
    let yes = engine().tokenize(" yes", false).unwrap()[0];
    let count = |g: &sage_llm::Generation| g.tokens.iter().filter(|t| t.id == yes).count();
    let mut p = greedy(16);
    p.sampling.repeat_last_n = 64;
    let plain = run(&prompt, &p).unwrap();
    p.sampling.frequency_penalty = 1.5;
    p.sampling.presence_penalty = 1.5;
    let penalised = run(&prompt, &p).unwrap();
    assert!(count(&plain) >= 8, "the model repeats without a penalty: {:?}", plain.text);
    assert!(count(&penalised) < count(&plain) / 2, "{:?} against {:?}", penalised.text, plain.text);
}

/// A client's enormous penalty window is capped (llama.cpp allocates the window when the sampler
/// is made: 2^31 tokens would be 8 GiB).
#[test]
fn an_enormous_penalty_window_is_capped() {
    let mut p = greedy(4);
    p.sampling.repeat_penalty = 1.1;
    p.sampling.repeat_last_n = u32::MAX;
    let g = run(&Prompt::Text("The robot entered the warehouse and".into()), &p).unwrap();
    assert_eq!(g.tokens.len(), 4);
    let rss = sage_llm::llama::rss_bytes();
    assert!(rss < 4 << 30, "resident {} MiB", rss >> 20);
}

/// A logit bias that bans every token a grammar allows (llama-server's `false`): the grammar
/// wins (the best token it allows), never llama.cpp's abort on a token its grammar refuses.
#[test]
fn a_bias_that_bans_everything_the_grammar_allows_gives_way_to_the_grammar() {
    let e = engine();
    let banned: Vec<(u32, f32)> = (0..e.info().vocab)
        .filter(|&t| {
            let piece = e.detokenize(&[t]).unwrap_or_default();
            !piece.is_empty() && "yes".starts_with(&piece)
        })
        .map(|t| (t, f32::NEG_INFINITY))
        .collect();
    assert!(banned.len() >= 3, "{banned:?}");
    let mut p = greedy(4);
    p.constraint = Some(Constraint::Grammar("root ::= \"yes\"".into()));
    p.logit_bias = banned;
    let g = run(&Prompt::Text("Answer:".into()), &p).unwrap();
    assert_eq!((g.text.as_str(), g.finish), ("yes", FinishReason::EndOfTurn), "{:?}", g.tokens);
}

/// Grammars no model text can follow, or only barely: a typed result every time, never
/// llama.cpp's abort on a token its grammar refuses; one that allows no token at all ends the
/// generation with a typed error instead of letting free text through.
#[test]
fn hostile_grammars_give_typed_results() {
    let cases: [(&str, bool); 5] = [
        (r#"root ::= "\x00""#, false),
        (r#"root ::= "" "#, true),
        (r#"root ::= "a"*"#, true),
        (r#"root ::= [\x01-\x02]+"#, true),
        ("root ::= x\nx ::= x \"a\" | \"b\"", false),
    ];
    for (g, ok) in cases {
        for sampling in
            [Sampling::greedy(), Sampling { temperature: 0.8, seed: 1, top_k: 40, ..Sampling::default() }]
        {
            let mut p = greedy(6);
            p.sampling = sampling;
            p.constraint = Some(Constraint::Grammar(g.into()));
            match run(&Prompt::Text("Answer:".into()), &p) {
                Ok(r) => assert!(ok, "{g:?}: {r:?}"),
                Err(e) => assert!(!ok && matches!(e, GenerateError::Constraint { .. }), "{g:?}: {e:?}"),
            }
        }
    }
}

/// Grammars deeper than llama.cpp's recursive parser and matcher take (100,000 nested
/// parentheses, a chain of 100,000 rules overflowed the engine thread's stack and killed the
/// process) are refused with a typed error; the deepest allowed run.
#[test]
fn grammars_beyond_the_engine_s_limits_are_refused_and_the_deepest_allowed_run() {
    use sage_llm::llama::{MAX_GRAMMAR_NESTING, MAX_GRAMMAR_RULES};
    let nested = |depth: usize| format!("root ::= {}\"a\"{}", "(".repeat(depth), ")".repeat(depth));
    let chain = |n: usize| {
        let mut g = String::from("root ::= r0\n");
        for k in 0..n - 2 {
            g.push_str(&format!("r{k} ::= r{}\n", k + 1));
        }
        g + &format!("r{} ::= \"a\"\n", n - 2)
    };
    for (g, ok) in [
        (nested(MAX_GRAMMAR_NESTING), true),
        (chain(MAX_GRAMMAR_RULES), true),
        (nested(100_000), false),
        (chain(100_000), false),
    ] {
        let mut p = greedy(2);
        p.constraint = Some(Constraint::Grammar(g));
        match run(&Prompt::Text("Answer:".into()), &p) {
            Ok(r) => assert!(ok && r.text == "a", "{:?}", r.text),
            Err(e) => assert!(!ok && matches!(e, GenerateError::Constraint { .. }), "{e:?}"),
        }
        assert_eq!(sage_llm::check_constraint(p.constraint.as_ref().unwrap()).is_ok(), ok);
    }
}

/// A chain of `$ref`s deeper than llama.cpp's converter took on a server thread's stack (2,000
/// overflowed it and killed the process) converts on a thread of its own up to the limit, and is
/// refused beyond it; a cycle of references converts.
#[test]
fn json_schemas_with_long_ref_chains_convert_up_to_the_limit_and_are_refused_beyond() {
    use sage_llm::llama::MAX_SCHEMA_REFS;
    let chain = |n: usize| {
        let mut defs = serde_json::Map::new();
        for k in 0..n - 1 {
            defs.insert(format!("d{k}"), serde_json::json!({"$ref": format!("#/$defs/d{}", k + 1)}));
        }
        defs.insert(format!("d{}", n - 1), serde_json::json!({"type": "string"}));
        Constraint::JsonSchema(serde_json::json!({"$ref": "#/$defs/d0", "$defs": defs}))
    };
    // Run where a request's handler runs: a thread with the default 2 MiB stack.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            assert!(sage_llm::check_constraint(&chain(MAX_SCHEMA_REFS)).is_ok());
            let e = sage_llm::check_constraint(&chain(MAX_SCHEMA_REFS + 1)).unwrap_err();
            assert!(e.to_string().contains("$refs"), "{e}");
            let cycle = serde_json::json!({"$ref": "#/$defs/a",
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}});
            assert!(sage_llm::check_constraint(&Constraint::JsonSchema(cycle)).is_ok());
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Ambiguous grammars: llama.cpp's matcher kept one stack per way of matching and merged none,
/// so a run of 200 `"a"?` held the engine for minutes (19 s for the first token alone) and a
/// loop over 200 equal alternatives longer. SAGE's matcher merges equal stacks: both generate,
/// and what they generate follows them.
#[test]
fn ambiguous_grammars_generate_and_are_followed() {
    let run_of = format!("root ::= {}", "\"a\"? ".repeat(200));
    let alternatives = format!("root ::= ({})* \"b\"", vec!["\"a\""; 200].join(" | "));
    for g in [run_of, alternatives] {
        let mut p = greedy(48);
        p.constraint = Some(Constraint::Grammar(g.clone()));
        let r = run(&Prompt::Text("aaaa".into()), &p).unwrap();
        let a = r.text.trim_end_matches('b');
        assert!(
            !r.text.is_empty() && a.chars().all(|c| c == 'a') && r.text.len() - a.len() <= 1,
            "{:?}",
            r.text
        );
    }
}

/// A lazy grammar (llama-server's `grammar_lazy`): the output is free until the trigger, then
/// follows the grammar from the trigger's own text on, whichever token the trigger began in.
#[test]
fn a_lazy_grammar_leaves_the_text_free_until_its_trigger() {
    let prompt = Prompt::Text("Q: What is the capital of France?\nA: The capital of France is".into());
    let free = run(&prompt, &greedy(24)).unwrap();
    let grammar = r#"root ::= "Paris" " (code " [0-9] [0-9] [0-9] ")." "#;
    let mut p = greedy(24);
    p.constraint = Some(Constraint::Grammar(grammar.into()));
    p.constraint_triggers = vec![sage_llm::Trigger::Word("Paris".into())];
    let lazy = run(&prompt, &p).unwrap();
    let at = free.text.find("Paris").expect("the model names Paris unconstrained");
    // Before the trigger, the free text; from it on, the grammar's form, then the end.
    assert_eq!(&lazy.text[..at], &free.text[..at], "{:?} / {:?}", lazy.text, free.text);
    let tail = &lazy.text[at..];
    assert!(
        tail.len() == "Paris (code 000).".len()
            && tail.starts_with("Paris (code ")
            && tail[12..15].chars().all(|c| c.is_ascii_digit())
            && tail.ends_with(")."),
        "{:?}",
        lazy.text
    );
    assert_eq!(lazy.finish, FinishReason::EndOfTurn, "{lazy:?}");
    // A trigger that never comes leaves the whole answer free.
    p.constraint_triggers = vec![sage_llm::Trigger::Word("Zanzibar".into())];
    assert_eq!(run(&prompt, &p).unwrap().text, free.text);
    // A trigger whose text the grammar does not begin with ends the generation with a typed error.
    p.constraint = Some(Constraint::Grammar(r#"root ::= "Lyon""#.into()));
    p.constraint_triggers = vec![sage_llm::Trigger::Pattern("(Par)is".into())];
    let err = run(&prompt, &p).unwrap_err().to_string();
    assert!(err.contains("does not follow the grammar"), "{err}");
    // ...unless the grammar gives way (SAGE's own hold on tool calls): the answer stays free.
    p.constraint_gives_way = true;
    assert_eq!(run(&prompt, &p).unwrap().text, free.text);
    // Awaiting a text first (a reasoning model's `</think>`) whose token goes on into the
    // trigger: the triggers watch the rest of that token (they missed it).
    let first = &free.tokens[0].text;
    let inside = first.find("Paris").filter(|&i| i > 0).expect("the first token is \" Paris\"");
    p.constraint = Some(Constraint::Grammar(grammar.into()));
    p.constraint_triggers = vec![sage_llm::Trigger::Word("Paris".into())];
    p.constraint_gives_way = false;
    p.constraint_after = Some(first[..inside].to_string());
    let after = run(&prompt, &p).unwrap();
    assert_eq!(after.text, lazy.text, "{:?}", after.text);
}
