//! `sage generate`: one generation, streamed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sage_llm::{
    ChatMessage, EngineConfig, Event, Flow, GenerateParams, LanguageModel, LlamaEngine, Prompt, Role,
    Sampling,
};
use serde_json::json;

use crate::engine_args::EngineArgs;
use crate::model_path;

/// Arguments of `sage generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model file (GGUF). Default: `SAGE_MODEL`, else the embedded default.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The prompt.
    #[arg(long)]
    pub prompt: String,
    /// Treat the prompt as a user message and use the chat template (or the plain chat format).
    #[arg(long)]
    pub chat: bool,
    /// Greedy decoding (temperature 0).
    #[arg(long)]
    pub greedy: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: u32,
    /// Temperature.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Top-k (0 = off).
    #[arg(long, default_value_t = 40)]
    pub top_k: u32,
    /// Top-p.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Min-p.
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Repetition penalty (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Frequency penalty over the last 64 tokens (0 = off).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub frequency_penalty: f32,
    /// Presence penalty over the last 64 tokens (0 = off).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub presence_penalty: f32,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Stop sequence (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Constrain the output to JSON matching this schema (a JSON string).
    #[arg(long)]
    pub json_schema: Option<String>,
    /// Constrain the output with a GBNF grammar file.
    #[arg(long)]
    pub grammar: Option<PathBuf>,
    /// Print one JSON object: text, token ids, logprobs and timings.
    #[arg(long)]
    pub json: bool,
    /// Alternatives per token in the JSON output.
    #[arg(long, default_value_t = 0)]
    pub top_logprobs: u32,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Run the command.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let path = model_path::resolve(args.model.as_deref())?;
    let config: EngineConfig = args.engine.config()?;
    let model =
        LlamaEngine::load(&path, None, config).with_context(|| format!("loading {}", path.display()))?;
    let sampling = if args.greedy {
        Sampling::greedy()
    } else {
        Sampling {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            repeat_last_n: 64,
            frequency_penalty: args.frequency_penalty,
            presence_penalty: args.presence_penalty,
            seed: args.seed,
        }
    };
    let constraint = match (&args.json_schema, &args.grammar) {
        (Some(s), _) => Some(sage_llm::Constraint::JsonSchema(
            serde_json::from_str(s).context("--json-schema is not valid JSON")?,
        )),
        (None, Some(g)) => Some(sage_llm::Constraint::Grammar(
            std::fs::read_to_string(g).with_context(|| format!("reading grammar {}", g.display()))?,
        )),
        (None, None) => None,
    };
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        sampling,
        stop: args.stop.clone(),
        logprobs: if args.json { Some(args.top_logprobs) } else { None },
        constraint,
        ..GenerateParams::default()
    };
    let prompt = if args.chat {
        Prompt::Chat(vec![ChatMessage::new(Role::User, args.prompt.clone())])
    } else {
        Prompt::Text(args.prompt.clone())
    };
    let (session, _) = model.open_session(None)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let streaming = !args.json;
    let generation = model.generate(session, &prompt, &params, &mut |ev| {
        if let (true, Event::Token { delta, .. }) = (streaming, ev) {
            if let Err(e) = out.write_all(delta.as_bytes()).and_then(|_| out.flush()) {
                write_error = Some(e);
                return Flow::Stop;
            }
        }
        Flow::Continue
    })?;
    if let Some(e) = write_error {
        return Err(e).context("writing the output");
    }
    if args.json {
        let info = model.info();
        let v = json!({
            "model": info.id,
            "path": info.path,
            "weights": info.weights,
            "text": generation.text,
            "finish_reason": generation.finish,
            "tokens": generation.tokens.iter().map(|t| json!({
                "id": t.id, "text": t.text, "logprob": t.logprob,
                "top_logprobs": t.top.iter().map(|(id, text, lp)| json!({"id": id, "text": text, "logprob": lp})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "timings": {
                "load_s": info.load_s,
                "resident_bytes": info.resident_bytes,
                "prompt_tokens": generation.timings.prompt_tokens,
                "generated_tokens": generation.timings.generated_tokens,
                "time_to_first_token_s": generation.timings.time_to_first_token_s,
                "prefill_tok_s": generation.timings.prefill_tok_s,
                "decode_tok_s": generation.timings.decode_tok_s,
            },
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(out)?;
        let t = generation.timings;
        eprintln!(
            "[{}: load {:.2} s · prompt {} tok at {:.0} tok/s · {} tok at {:.1} tok/s · first token {:.0} ms · {:?}]",
            model.info().id,
            model.info().load_s,
            t.prompt_tokens,
            t.prefill_tok_s,
            t.generated_tokens,
            t.decode_tok_s,
            t.time_to_first_token_s * 1e3,
            generation.finish
        );
    }
    model.close_session(session);
    Ok(())
}
