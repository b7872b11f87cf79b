//! `sage models`: inspect model files.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::time::Instant;

use sage_llm::gguf::{file_type_name, GgufFile, LayerKinds, Value};
use sage_llm::import::nemotron_h::HybridModel;
use sage_llm::llama_arch::LlamaShape;
use sage_llm::quantize::{quantize, Quant};
use sage_llm::synth::{synth, synth_hybrid};

/// Arguments of `sage models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Print a model's architecture, shapes, quantization, context, chat template and size.
    Inspect {
        /// GGUF file. Default: `SAGE_MODEL`, else the embedded default.
        path: Option<PathBuf>,
        /// Print JSON (every metadata key and tensor).
        #[arg(long)]
        json: bool,
    },
    /// Print where the default model lives (fetching it if missing).
    Default,
    /// Write a GGUF with a published model's exact shape and random weights (for speed and
    /// memory figures without downloading the model).
    Synth {
        /// Shape: nemotron-nano-4b, nemotron-h-4b (hybrid Mamba-2), llama-3.2-1b, llama-3.2-3b,
        /// llama-3.1-8b or tiny.
        #[arg(long)]
        shape: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Quantize the result (q8_0, q4_k_m); default: keep F16.
        #[arg(long)]
        quant: Option<String>,
        /// Write F32 weights instead of F16.
        #[arg(long)]
        f32: bool,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Turn an HF safetensors folder (Llama 2/3.x, Nemotron Nano, Mistral, Qwen 2/2.5, Qwen 3 and its MoE,
    /// Gemma 3's text model, also inside a multimodal Gemma 3, Nemotron-H, Nemotron 3) into a
    /// GGUF, optionally quantized.
    Import {
        /// Folder with config.json, tokenizer.json, tokenizer_config.json and *.safetensors.
        dir: PathBuf,
        /// Output GGUF (default: in SAGE's cache).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Quantize the result (q8_0, q4_k_m).
        #[arg(long)]
        quant: Option<String>,
    },
    /// Quantize a GGUF through llama.cpp.
    Quantize {
        /// Input GGUF (F32/F16/BF16).
        input: PathBuf,
        /// Output GGUF.
        output: PathBuf,
        /// q8_0, q4_k_m or f16.
        #[arg(long = "type", default_value = "q4_k_m")]
        quant: String,
        /// Threads (0 = all cores).
        #[arg(long, default_value_t = 0)]
        threads: u32,
    },
}

/// A published shape `sage models synth` writes.
enum Published {
    Llama(LlamaShape),
    Hybrid(HybridModel),
}

fn parse_quant(s: &str) -> anyhow::Result<Quant> {
    Quant::parse(s).ok_or_else(|| anyhow::anyhow!("unknown quantization {s:?}: use q8_0, q4_k_m or f16"))
}

/// Bytes in KiB below a MiB, else in MiB.
fn kib_or_mib(b: u64) -> String {
    if b < 1 << 20 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        mib(b)
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// Run the command.
pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    match args.what {
        What::Synth { shape, out, quant, f32, seed } => synth_cmd(shape, out, quant, f32, seed),
        What::Import { dir, out, quant } => {
            let quant = quant.as_deref().map(parse_quant).transpose()?;
            let out = out.unwrap_or_else(|| crate::model_path::import_cache_path(&dir));
            let path = crate::model_path::import_folder(&dir, &out, quant)?;
            println!("{}", path.display());
            Ok(())
        }
        What::Quantize { input, output, quant, threads } => {
            let q = parse_quant(&quant)?;
            let start = Instant::now();
            quantize(&input, &output, q, threads)
                .with_context(|| format!("quantizing {} into {}", input.display(), output.display()))?;
            eprintln!("quantized in {:.1} s", start.elapsed().as_secs_f64());
            Ok(())
        }
        What::Default => {
            println!("{}", crate::model_path::resolve(None)?.display());
            Ok(())
        }
        What::Inspect { path, json } => inspect(path, json),
    }
}

/// `sage models synth`.
fn synth_cmd(shape: String, out: PathBuf, quant: Option<String>, f32: bool, seed: u64) -> anyhow::Result<()> {
    let model = match (LlamaShape::named(&shape), HybridModel::named(&shape)) {
        (Some(s), _) => Published::Llama(s),
        (None, Some(h)) => Published::Hybrid(h),
        (None, None) => {
            let known: Vec<&str> = LlamaShape::NAMES.iter().chain(&HybridModel::NAMES).copied().collect();
            anyhow::bail!("unknown shape {shape:?}; known: {}", known.join(", "))
        }
    };
    let (name, parameters) = match &model {
        Published::Llama(s) => (s.name.clone(), s.parameters()),
        Published::Hybrid(h) => (h.name().to_string(), h.parameters()),
    };
    let quant = quant.as_deref().map(parse_quant).transpose()?;
    let raw = match quant {
        Some(_) => out.with_extension("f16.tmp.gguf"),
        None => out.clone(),
    };
    let start = Instant::now();
    eprintln!("writing {name} ({} parameters) to {}", count(parameters), raw.display());
    match &model {
        Published::Llama(s) => synth(s, &raw, f32, seed),
        Published::Hybrid(h) => synth_hybrid(h, &raw, f32, seed),
    }
    .with_context(|| format!("writing {}", raw.display()))?;
    eprintln!("wrote in {:.1} s", start.elapsed().as_secs_f64());
    if let Some(q) = quant {
        let start = Instant::now();
        let r = quantize(&raw, &out, q, 0);
        let _ = std::fs::remove_file(&raw);
        r.with_context(|| format!("quantizing into {}", out.display()))?;
        eprintln!("quantized in {:.1} s", start.elapsed().as_secs_f64());
    }
    println!("{}", out.display());
    Ok(())
}

/// `sage models inspect`.
fn inspect(path: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let path = crate::model_path::resolve(path.as_deref())?;
    let g = GgufFile::open(&path).with_context(|| format!("inspecting {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&g)?);
        return Ok(());
    }
    let arch = g.architecture().unwrap_or("?");
    let u = |k: &str| g.arch_value(k).and_then(Value::as_u64);
    println!("file          {} ({}, GGUF v{})", path.display(), mib(g.file_bytes), g.version);
    println!("name          {}", g.get("general.name").and_then(Value::as_str).unwrap_or("-"));
    println!("architecture  {arch}");
    println!(
        "quantization  {}",
        g.get("general.file_type").and_then(Value::as_u64).map(file_type_name).unwrap_or("-")
    );
    println!(
        "parameters    {} ({} tensors, {})",
        count(g.parameters()),
        g.tensors.len(),
        mib(g.tensor_bytes())
    );
    let heads = u("attention.head_count");
    let kv = u("attention.head_count_kv");
    let hidden = u("embedding_length");
    let head_dim = u("attention.key_length").or(match (hidden, heads) {
        (Some(h), Some(n)) if n > 0 => Some(h / n),
        _ => None,
    });
    let show = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
    println!(
        "shape         {} layers · hidden {} · ffn {} · heads {} · kv heads {} · head dim {}",
        show(u("block_count")),
        show(hidden),
        per_layer(g.arch_value("feed_forward_length")),
        show(heads),
        kv.map_or_else(|| per_layer(g.arch_value("attention.head_count_kv")), |v| v.to_string()),
        show(head_dim)
    );
    if let Some(layers) = hybrid_layers(&g) {
        println!("layers        {layers}");
    } else if let Some(n) = u("expert_count").filter(|&n| n > 0) {
        println!(
            "experts       {n} a layer, {} used a token, each {} wide",
            show(u("expert_used_count")),
            show(u("expert_feed_forward_length"))
        );
    }
    let recurrent = g.recurrent_bytes_per_sequence();
    println!(
        "cache         KV {} a token (F16){}",
        g.kv_bytes_per_token().map_or("-".into(), |b| format!("{} KiB", b as f64 / 1024.0)),
        if recurrent > 0 {
            format!(" · recurrent state {} a sequence", kib_or_mib(recurrent))
        } else {
            String::new()
        }
    );
    println!("context       {} (trained)", show(u("context_length")));
    if let Some(base) = g.arch_value("rope.freq_base").and_then(Value::as_f64) {
        let mut scaling =
            g.arch_value("rope.scaling.type").and_then(Value::as_str).unwrap_or("none").to_owned();
        if let Some(f) = g.arch_value("rope.scaling.factor").and_then(Value::as_f64) {
            scaling += &format!(" ×{f}");
        }
        if let Some(n) = g.arch_value("rope.scaling.original_context_length").and_then(Value::as_u64) {
            scaling += &format!(" of {n}");
        }
        let rope_freqs = g.tensors.iter().any(|t| t.name == "rope_freqs.weight");
        println!(
            "rope          base {base} · scaling {scaling}{}",
            if rope_freqs { " · rope_freqs (Llama 3.1)" } else { "" }
        );
    }
    let vocab = match g.get("tokenizer.ggml.tokens") {
        Some(Value::Array { len, .. }) => len.to_string(),
        _ => "-".into(),
    };
    println!(
        "tokenizer     {} ({}), vocabulary {vocab}",
        g.get("tokenizer.ggml.model").and_then(Value::as_str).unwrap_or("-"),
        g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("-")
    );
    match g.chat_template() {
        Some(t) => {
            println!("chat template {} bytes: {:?}…", t.len(), t.chars().take(60).collect::<String>())
        }
        None => println!("chat template none (a base model: SAGE uses the plain completion format)"),
    }
    let types: Vec<String> =
        g.type_histogram().iter().map(|(name, n, b)| format!("{name} ×{n} ({})", mib(*b))).collect();
    println!("tensor types  {}", types.join(" · "));
    // What `--load auto` would do with this file on this machine, and why.
    let plan = sage_llm::LoadPlan::for_file(&g, sage_llm::LoadMode::Auto, 0);
    println!("on this CPU   {} (--load auto)", plan.reason());
    Ok(())
}

/// A parameter count as people say it: 3.97 B, 270 M, 38.5 k.
pub(crate) fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// A value that may differ per layer: the number, or the range of a per-layer array.
fn per_layer(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array { head, .. }) => {
            let values: Vec<u64> = head.iter().filter_map(Value::as_u64).collect();
            match (values.iter().min(), values.iter().max()) {
                (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
                (Some(lo), Some(hi)) => format!("{lo}–{hi} by layer"),
                _ => "-".into(),
            }
        }
        Some(v) => v.as_u64().map_or("-".into(), |x| x.to_string()),
        None => "-".into(),
    }
}

/// A hybrid model's layers by kind (llama.cpp's rule: no KV heads and no MLP is a Mamba layer),
/// with the Mamba-2 and expert sizes; None for a model without `ssm.*` keys.
fn hybrid_layers(g: &GgufFile) -> Option<String> {
    let u = |k: &str| g.arch_value(k).and_then(Value::as_u64);
    let (state, inner, heads) = (u("ssm.state_size")?, u("ssm.inner_size")?, u("ssm.time_step_rank")?);
    let LayerKinds { recurrent: mamba, attention, ffn } = g.layer_kinds();
    let experts = u("expert_count").filter(|&n| n > 0);
    let ffn_kind = match experts {
        Some(n) => {
            format!("{ffn} mixture of experts ({n} experts, {} used)", u("expert_used_count").unwrap_or(0))
        }
        None => format!("{ffn} MLP"),
    };
    Some(format!(
        "{mamba} Mamba-2 (state {state}, {heads} heads of {}, {} groups) · {attention} attention · {ffn_kind}",
        inner.checked_div(heads).unwrap_or(0),
        u("ssm.group_count").unwrap_or(1)
    ))
}
