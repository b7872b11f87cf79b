//! The tokenizers `sage models import` writes, on texts `tools/reference/sweep_tokenizers.py`
//! drew at random, against HF's ids for them: each folder is imported and every text tokenized
//! without special tokens. One line per folder, then the texts that differ (at most five per
//! folder, all with `--all`); the exit status is 1 if any differ.
//!
//!     cargo run --release -p sage-llm --example tokenizer_sweep -- SWEEP.json [--all]

use std::error::Error;

use sage_llm::import::import;
use sage_llm::{EngineConfig, LanguageModel, LlamaEngine};

#[derive(serde::Deserialize)]
struct Sweep {
    entries: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    folder: String,
    texts: Vec<(String, Vec<i64>)>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let file = std::env::args().nth(1).ok_or("usage: tokenizer_sweep SWEEP.json")?;
    let sweep: Sweep = serde_json::from_str(&std::fs::read_to_string(file)?)?;
    let mut differ_total = 0;
    for entry in &sweep.entries {
        let tmp = tempfile::tempdir()?;
        let out = tmp.path().join("t.gguf");
        import(std::path::Path::new(&entry.folder), &out)?;
        let config = EngineConfig { threads: Some(1), context: Some(64), ..EngineConfig::default() };
        let e = LlamaEngine::load(&out, None, config)?;
        let mut differ = vec![];
        for (text, want) in &entry.texts {
            let ours: Vec<i64> = e.tokenize(text, false)?.into_iter().map(i64::from).collect();
            if &ours != want {
                differ.push((text, ours, want));
            }
        }
        let name = entry.folder.rsplit('/').next().unwrap_or(&entry.folder);
        println!("{name:<28} {} of {} texts as HF's", entry.texts.len() - differ.len(), entry.texts.len());
        let shown = if std::env::args().any(|a| a == "--all") { differ.len() } else { 5 };
        for (text, ours, want) in differ.iter().take(shown) {
            println!("    {text:?}\n      sage {ours:?}\n      hf   {want:?}");
        }
        differ_total += differ.len();
    }
    if differ_total > 0 {
        std::process::exit(1);
    }
    Ok(())
}
