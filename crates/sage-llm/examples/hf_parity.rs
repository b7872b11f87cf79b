//! `sage models import` on a real HF folder against HF transformers' own outputs: imports DIR
//! (written by `tools/reference/gemma_hf_folder.py`, with `reference.json`), then compares
//! llama.cpp's logits on the reference prompt's recorded rows and its token ids on the recorded
//! texts with HF's.
//!
//!     cargo run --release -p sage-llm --example hf_parity -- DIR

use std::error::Error;
use std::path::PathBuf;

use sage_llm::import::import;
use sage_llm::{EngineConfig, FlashAttention, KvType, LanguageModel, LlamaEngine};

#[derive(serde::Deserialize)]
struct Reference {
    ids: Vec<u32>,
    /// HF's logits at the prompt's positions `rows`.
    logits: Vec<Vec<f32>>,
    rows: Vec<usize>,
    /// Texts and HF's ids for them (no BOS).
    texts: Vec<(String, Vec<i64>)>,
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: hf_parity DIR")?);
    let tmp = tempfile::tempdir()?;
    let out = tmp.path().join("imported.gguf");
    let started = std::time::Instant::now();
    let imported = import(&dir, &out)?;
    println!("imported {} tensors in {:.1} s", imported.tensors, started.elapsed().as_secs_f64());
    let r: Reference = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json"))?)?;
    let cfg = EngineConfig {
        threads: Some(2),
        context: Some(r.ids.len().next_power_of_two() as u32),
        kv_type: KvType::F32,
        flash_attention: FlashAttention::Off,
        ..EngineConfig::default()
    };
    let e = LlamaEngine::load(&out, None, cfg)?;
    let mut differ = 0;
    for (text, want) in &r.texts {
        let ids: Vec<i64> = e.tokenize(text, false)?.into_iter().map(i64::from).collect();
        if &ids != want {
            differ += 1;
            println!("tokens differ on {text:?}:\n  sage {ids:?}\n  hf   {want:?}");
        }
    }
    println!("token ids: {} of {} texts as HF's", r.texts.len() - differ, r.texts.len());
    let (s, _) = e.open_session(None)?;
    let logits = e.logits(s, &r.ids)?;
    let (mut max, mut same_top) = (0.0f32, 0);
    for (row, hf) in r.rows.iter().zip(&r.logits) {
        let ours = logits.get(*row).ok_or("fewer rows of logits than the prompt")?;
        max = ours.iter().zip(hf).map(|(a, b)| (a - b).abs()).fold(max, f32::max);
        same_top += usize::from(argmax(ours) == argmax(hf));
    }
    println!(
        "logits at {} positions of {}: max |Δ| {max:.2e}, the same top token at {same_top}",
        r.rows.len(),
        r.ids.len()
    );
    Ok(())
}
