//! `sage models import` on folders `tools/reference/sweep_import.py` drew at random: each is
//! imported and its logits at every position compared with HF's (F32 weights and cache, flash
//! attention off, as the parity tests do). One line per folder; the exit status is 1 if any
//! folder is refused or differs by more than the parity tests allow (1e-3; Gemma 3e-2, for
//! llama.cpp's table of GELU).
//!
//!     cargo run --release -p sage-llm --example import_sweep -- DIR...

use std::error::Error;
use std::path::Path;

use sage_llm::import::import;
use sage_llm::{EngineConfig, FlashAttention, KvType, LanguageModel, LlamaEngine};

#[derive(serde::Deserialize)]
struct Reference {
    family: String,
    ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

/// The largest |Δlogit| of the folder `dir` imported, against its reference.
fn parity(dir: &Path, r: &Reference) -> Result<f32, Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    let out = tmp.path().join("imported.gguf");
    import(dir, &out)?;
    let cfg = EngineConfig {
        threads: Some(2),
        context: Some(64),
        kv_type: KvType::F32,
        flash_attention: FlashAttention::Off,
        ..EngineConfig::default()
    };
    let e = LlamaEngine::load(&out, None, cfg)?;
    let (s, _) = e.open_session(None)?;
    let logits = e.logits(s, &r.ids)?;
    if logits.len() != r.logits.len() {
        return Err(format!("{} rows of logits for {} positions", logits.len(), r.logits.len()).into());
    }
    let mut max = 0.0f32;
    for (ours, hf) in logits.iter().zip(&r.logits) {
        max = ours.iter().zip(hf).map(|(a, b)| (a - b).abs()).fold(max, f32::max);
    }
    Ok(max)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        return Err("usage: import_sweep DIR...".into());
    }
    let mut failed = 0;
    let mut worst: std::collections::BTreeMap<String, (f32, usize)> = Default::default();
    for d in &dirs {
        let dir = Path::new(d);
        let r: Reference = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json"))?)?;
        let bound = if r.family.starts_with("gemma") { 3e-2 } else { 1e-3 };
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match parity(dir, &r) {
            Ok(max) => {
                let ok = max <= bound;
                failed += usize::from(!ok);
                let w = worst.entry(r.family.clone()).or_insert((0.0, 0));
                *w = (w.0.max(max), w.1 + 1);
                println!("{name:<24} max |Δlogit| {max:.2e}  {}", if ok { "ok" } else { "DIFFERS" });
            }
            Err(e) => {
                failed += 1;
                println!("{name:<24} failed: {e}");
            }
        }
    }
    for (family, (max, n)) in &worst {
        println!("{family:<10} {n} folders, worst |Δlogit| {max:.2e}");
    }
    println!("{} of {} folders within the parity bound", dirs.len() - failed, dirs.len());
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
