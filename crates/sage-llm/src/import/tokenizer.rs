//! An HF BPE tokenizer (`tokenizer.json`, `tokenizer_config.json`) and chat template as GGUF
//! metadata: the vocabulary with its token types, the BOS and EOS tokens and whether a BOS is
//! added; for a byte-level BPE (Llama 3, Qwen) the merges and llama.cpp's name for the
//! pre-tokenizer's split rule; for a SentencePiece BPE in HF form (Llama 2, Mistral 7B: byte
//! fallback, `▁` for spaces) llama.cpp's `llama` vocabulary, whose scores rank the merges.

use std::path::Path;

use serde_json::Value as Json;

use super::{io_err, ImportError};
use crate::gguf::writer::{GgufWriter, MetaValue};

/// Llama 3's split rule (Nemotron Nano's too): numbers in runs of up to three digits.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Mistral NeMo's ("tekken"): words split where the case changes, every digit on its own.
const TEKKEN_SPLIT: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's and Qwen 3's: every digit on its own.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// config.json's BOS and EOS ids (an id, or a list), the fallbacks where tokenizer_config.json
/// names no such token.
pub(super) type ConfigIds<'a> = (&'a Option<Json>, &'a Option<Json>);

/// Write the tokenizer of the HF folder `dir` into `w`, with `vocab_size` entries (ids the
/// tokenizer does not use get placeholder tokens).
pub(super) fn write(
    dir: &Path,
    w: &mut GgufWriter,
    vocab_size: u64,
    ids: ConfigIds,
) -> Result<(), ImportError> {
    let tpath = dir.join("tokenizer.json");
    if !tpath.exists() {
        return Err(ImportError::Missing { dir: dir.to_path_buf(), file: "tokenizer.json".into() });
    }
    let bad = |m: String| ImportError::Tokenizer { path: tpath.clone(), message: m };
    let text = std::fs::read_to_string(&tpath).map_err(io_err(&tpath))?;
    let t: Json = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if t["model"]["type"].as_str() != Some("BPE") {
        return Err(bad(format!("model type {} is not supported (BPE is)", t["model"]["type"])));
    }
    let (tokens, mut types) = vocabulary(&t, vocab_size).map_err(bad)?;
    let merges = merges(&t).map_err(bad)?;
    if sentencepiece_style(&t) {
        sentencepiece(w, &t, &tokens, &mut types, &merges).map_err(bad)?;
    } else {
        let pre = pre_tokenizer(&t["pre_tokenizer"]).map_err(bad)?;
        w.meta("tokenizer.ggml.model", MetaValue::Str("gpt2".into()))
            .meta("tokenizer.ggml.pre", MetaValue::Str(pre.into()))
            .meta("tokenizer.ggml.merges", MetaValue::Strings(merges));
    }
    let cfg_path = dir.join("tokenizer_config.json");
    let tcfg: Json = match std::fs::read_to_string(&cfg_path) {
        Ok(s) => serde_json::from_str(&s)
            .map_err(|e| ImportError::Tokenizer { path: cfg_path.clone(), message: e.to_string() })?,
        Err(_) => Json::Null,
    };
    special_tokens(w, &tokens, &tcfg, ids);
    let template = tcfg["chat_template"]
        .as_str()
        .map(str::to_string)
        .or_else(|| std::fs::read_to_string(dir.join("chat_template.jinja")).ok());
    if let Some(t) = template {
        w.meta("tokenizer.chat_template", MetaValue::Str(t));
    }
    w.meta("tokenizer.ggml.tokens", MetaValue::Strings(tokens))
        .meta("tokenizer.ggml.token_type", MetaValue::I32s(types));
    Ok(())
}

/// A SentencePiece BPE as llama.cpp's `llama` vocabulary. llama.cpp joins the neighbouring pair
/// whose join is the highest-scored token, as SentencePiece does; a token's score is minus the
/// rank of the first merge that makes it, so the joins come in the merges' order (HF's form of a
/// SentencePiece model lists every split of a piece, in the pieces' order). Byte tokens
/// (`<0x41>`) get llama.cpp's byte type, the unknown token its own; a space is put before the
/// text where HF's normalizer or `Metaspace` does.
fn sentencepiece(
    w: &mut GgufWriter,
    t: &Json,
    tokens: &[String],
    types: &mut [i32],
    merges: &[String],
) -> Result<(), String> {
    let mut rank: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (r, m) in merges.iter().enumerate() {
        rank.entry(m.replacen(' ', "", 1)).or_insert(r);
    }
    let byte = |s: &str| {
        s.len() == 6
            && s.starts_with("<0x")
            && s.ends_with('>')
            && s[3..5].chars().all(|c| c.is_ascii_hexdigit())
    };
    let unk = t["model"]["unk_token"].as_str();
    let mut bytes = 0;
    let scores: Vec<f32> = tokens
        .iter()
        .enumerate()
        .map(|(id, tok)| {
            if byte(tok) {
                types[id] = 6;
                bytes += 1;
            } else if Some(tok.as_str()) == unk {
                types[id] = 2;
            }
            match (types[id], rank.get(tok)) {
                (1, Some(&r)) => -(r as f32),
                // A piece no merge makes is joined after every one that a merge makes.
                (1, None) if tok.chars().count() > 1 => -((merges.len() + id) as f32),
                _ => 0.0,
            }
        })
        .collect();
    if bytes != 256 {
        return Err(format!(
            "a SentencePiece-style BPE needs the 256 byte tokens <0x00>..<0xFF> (byte fallback); it has {bytes}"
        ));
    }
    let pre = &t["pre_tokenizer"];
    let metaspace_prefix = pre["type"].as_str() == Some("Metaspace")
        && pre["prepend_scheme"]
            .as_str()
            .map_or(pre["add_prefix_space"].as_bool().unwrap_or(true), |s| s != "never");
    let prepend = prepends_space(&t["normalizer"]);
    w.meta("tokenizer.ggml.model", MetaValue::Str("llama".into()))
        .meta("tokenizer.ggml.scores", MetaValue::F32s(scores))
        .meta("tokenizer.ggml.add_space_prefix", MetaValue::Bool(metaspace_prefix || prepend));
    if let Some(id) = unk.and_then(|u| tokens.iter().position(|x| x == u)) {
        w.meta("tokenizer.ggml.unknown_token_id", MetaValue::U32(id as u32));
    }
    Ok(())
}

/// Whether a normalizer (or one in a `Sequence`) puts `▁` before the text, as Llama 2's does.
fn prepends_space(n: &Json) -> bool {
    match n["type"].as_str() {
        Some("Sequence") => n["normalizers"].as_array().into_iter().flatten().any(prepends_space),
        Some("Prepend") => n["prepend"].as_str() == Some("\u{2581}"),
        _ => false,
    }
}

/// Every id's token and llama.cpp token type (1 normal, 3 control, 4 user-defined, 5 unused).
fn vocabulary(t: &Json, vocab_size: u64) -> Result<(Vec<String>, Vec<i32>), String> {
    let vocab = t["model"]["vocab"].as_object().ok_or("no model.vocab")?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size as usize];
    let mut types: Vec<i32> = vec![1; vocab_size as usize];
    for (tok, id) in vocab {
        let id = id.as_u64().ok_or_else(|| format!("token {tok:?} has no id"))? as usize;
        if id >= tokens.len() {
            return Err(format!("token id {id} is outside vocab_size {vocab_size}"));
        }
        tokens[id] = Some(tok.clone());
    }
    if let Some(added) = t["added_tokens"].as_array() {
        for a in added {
            let (Some(id), Some(content)) = (a["id"].as_u64(), a["content"].as_str()) else { continue };
            if (id as usize) < tokens.len() {
                tokens[id as usize] = Some(content.to_string());
                types[id as usize] = if a["special"].as_bool().unwrap_or(false) { 3 } else { 4 };
            }
        }
    }
    // Unused ids (padding of vocab_size) get placeholder tokens, as llama.cpp's converter does.
    let tokens = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.unwrap_or_else(|| {
                types[i] = 5;
                format!("[PAD{i}]")
            })
        })
        .collect();
    Ok((tokens, types))
}

/// Whether the tokenizer is a SentencePiece model in BPE form (llama.cpp's `llama` vocabulary,
/// with scores and byte tokens), not a byte-level one: byte fallback, or spaces written as `▁` by
/// a `Metaspace` pre-tokenizer or a normalizer.
fn sentencepiece_style(t: &Json) -> bool {
    fn mentions(v: &Json, what: &str) -> bool {
        match v {
            Json::String(s) => s.contains(what),
            Json::Array(a) => a.iter().any(|x| mentions(x, what)),
            Json::Object(o) => o.values().any(|x| mentions(x, what)),
            _ => false,
        }
    }
    t["model"]["byte_fallback"].as_bool() == Some(true)
        || mentions(&t["pre_tokenizer"], "Metaspace")
        || mentions(&t["normalizer"], "\u{2581}")
}

/// The merges, as `"left right"` strings (tokenizers writes strings or pairs).
fn merges(t: &Json) -> Result<Vec<String>, String> {
    t["model"]["merges"]
        .as_array()
        .ok_or("no model.merges")?
        .iter()
        .map(|m| match m {
            Json::String(s) => Ok(s.clone()),
            Json::Array(p) if p.len() == 2 => {
                Ok(format!("{} {}", p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or("")))
            }
            _ => Err("merges must be strings or pairs".to_string()),
        })
        .collect()
}

/// llama.cpp's name for the split rule of the pre-tokenizer `pre`: `llama-bpe` (Llama 3's
/// rule), `qwen2` (Qwen's), `tekken` (Mistral NeMo's), or `gpt-2` (GPT-2's: a byte-level step
/// that splits by its own rule, no split before it). Another rule, or a split rule followed by
/// GPT-2's, is an error: llama.cpp would split text differently from HF, and every answer would
/// be tokenized wrong without a sign. (Until 2026-12-03 GPT-2's rule was written as llama.cpp's
/// `default`, which splits runs of punctuation and spaces otherwise: a sweep of random texts
/// found 133 of 300 tokenized differently.)
fn pre_tokenizer(pre: &Json) -> Result<&'static str, String> {
    if let Some(other) = other_step(pre) {
        return Err(format!("pre-tokenizer step {other} is not supported (Split and ByteLevel are)"));
    }
    let mut splits = vec![];
    collect_splits(pre, &mut splits);
    let gpt2 = byte_level_splits(pre);
    match (splits.as_slice(), gpt2) {
        ([], true) => Ok("gpt-2"),
        ([], false) => Err("a byte-level tokenizer without a split rule is not supported".into()),
        ([one], false) if *one == LLAMA3_SPLIT => Ok("llama-bpe"),
        ([one], false) if *one == QWEN2_SPLIT => Ok("qwen2"),
        ([one], false) if *one == TEKKEN_SPLIT => Ok("tekken"),
        (other, _) => Err(format!(
            "pre-tokenizer split rule `{}`{} is not one llama.cpp is known to share (Llama 3's, \
             Qwen 2's, Mistral NeMo's and GPT-2's are)",
            other.join("` then `"),
            if gpt2 { " then GPT-2's" } else { "" }
        )),
    }
}

/// A step of `pre` other than `Split` and `ByteLevel` (SmolLM's `Digits`, for one), which
/// llama.cpp's rules would not take.
fn other_step(pre: &Json) -> Option<String> {
    match pre["type"].as_str() {
        Some("Sequence") => pre["pretokenizers"].as_array().into_iter().flatten().find_map(other_step),
        Some("Split" | "ByteLevel") => None,
        Some(t) => Some(t.to_string()),
        None if pre.is_null() => None,
        None => Some(pre.to_string()),
    }
}

/// Whether a `ByteLevel` step of `pre` splits by GPT-2's rule (`use_regex`, on unless said).
fn byte_level_splits(pre: &Json) -> bool {
    match pre["type"].as_str() {
        Some("Sequence") => pre["pretokenizers"].as_array().into_iter().flatten().any(byte_level_splits),
        Some("ByteLevel") => pre["use_regex"].as_bool().unwrap_or(true),
        _ => false,
    }
}

/// The regular expressions of the `Split` steps in `pre` (a `Sequence` holds several).
fn collect_splits<'a>(pre: &'a Json, out: &mut Vec<&'a str>) {
    match pre["type"].as_str() {
        Some("Sequence") => {
            for p in pre["pretokenizers"].as_array().into_iter().flatten() {
                collect_splits(p, out);
            }
        }
        Some("Split") => out.push(pre["pattern"]["Regex"].as_str().unwrap_or("")),
        _ => {}
    }
}

/// BOS and EOS: named in tokenizer_config.json (a string, or an object with `content`), else
/// config.json's ids. A BOS is added where the tokenizer config says so (`add_bos_token`), else
/// where there is one.
fn special_tokens(w: &mut GgufWriter, tokens: &[String], tcfg: &Json, (bos_id, eos_id): ConfigIds) {
    let token_text =
        |v: &Json| v.as_str().map(str::to_string).or_else(|| v["content"].as_str().map(str::to_string));
    let id_of = |s: &str| tokens.iter().position(|t| t == s).map(|i| i as u32);
    // config.json may give one id or a list (the first is the one to add).
    let config_id = |v: &Option<Json>| {
        let v = v.as_ref()?;
        let id = v.as_u64().or_else(|| v.as_array()?.first()?.as_u64())?;
        ((id as usize) < tokens.len()).then_some(id as u32)
    };
    let bos = token_text(&tcfg["bos_token"]).and_then(|s| id_of(&s)).or_else(|| config_id(bos_id));
    let eos = token_text(&tcfg["eos_token"]).and_then(|s| id_of(&s)).or_else(|| config_id(eos_id));
    let named_bos = token_text(&tcfg["bos_token"]).is_some_and(|s| id_of(&s).is_some());
    let add_bos = tcfg["add_bos_token"].as_bool().unwrap_or(named_bos);
    if let Some(id) = bos {
        w.meta("tokenizer.ggml.bos_token_id", MetaValue::U32(id));
    }
    w.meta("tokenizer.ggml.add_bos_token", MetaValue::Bool(add_bos && bos.is_some()));
    if let Some(id) = eos {
        w.meta("tokenizer.ggml.eos_token_id", MetaValue::U32(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_split_rule_names_llama_cpp_s_pre_tokenizer() {
        let seq = |re: &str| {
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}
            ]})
        };
        assert_eq!(pre_tokenizer(&seq(LLAMA3_SPLIT)), Ok("llama-bpe"));
        assert_eq!(pre_tokenizer(&seq(QWEN2_SPLIT)), Ok("qwen2"));
        assert_eq!(pre_tokenizer(&json!({"type": "ByteLevel", "add_prefix_space": false})), Ok("gpt-2"));
        let no_rule = json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false});
        assert!(pre_tokenizer(&no_rule).unwrap_err().contains("without a split rule"));
        let twice = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated"},
            {"type": "ByteLevel", "add_prefix_space": false}
        ]});
        assert!(pre_tokenizer(&twice).unwrap_err().contains("then GPT-2's"));
        let digits = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false}
        ]});
        assert!(pre_tokenizer(&digits).unwrap_err().contains("step Digits"));
        let e = pre_tokenizer(&seq(r"\p{N}+|\s+")).unwrap_err();
        assert!(e.contains(r"\p{N}+|\s+"), "{e}");
    }

    #[test]
    fn sentencepiece_style_tokenizers_are_told_apart() {
        let byte_level = json!({"model": {"type": "BPE", "byte_fallback": false},
            "pre_tokenizer": {"type": "ByteLevel"}, "normalizer": null});
        assert!(!sentencepiece_style(&byte_level));
        // Llama 2 / Mistral 7B: a normalizer writes spaces as '▁', and bytes fall back.
        let llama2 = json!({"model": {"type": "BPE", "byte_fallback": true}, "pre_tokenizer": null,
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u{2581}"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}]}});
        assert!(sentencepiece_style(&llama2));
        let metaspace = json!({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}"}});
        assert!(sentencepiece_style(&metaspace));
    }
}
