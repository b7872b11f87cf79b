//! The counts llama.cpp asserts on (it aborts the process, it does not return an error): checked
//! here first, so that a hostile or broken file is a typed error naming the key, and a running
//! server that loads it lazily stays up. The limits are llama.cpp's own (`llama-hparams.h`,
//! `llama_model::load_hparams`).

use crate::gguf::{GgufFile, Value};

/// `LLAMA_MAX_LAYERS`.
pub const MAX_LAYERS: u64 = 512;
/// `LLAMA_MAX_EXPERTS`.
pub const MAX_EXPERTS: u64 = 1024;

/// Why the file's hyperparameters would abort llama.cpp, or None.
pub fn check(g: &GgufFile) -> Option<String> {
    let count = |key: &str| -> Result<Option<u64>, String> {
        match g.arch_value(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("{key} is not a count: {v:?}")),
        }
    };
    // A per-layer array (expert_used_count may be one): its largest known element.
    let count_or_array = |key: &str| -> Result<Option<u64>, String> {
        match g.arch_value(key) {
            Some(Value::Array { head, .. }) => Ok(head.iter().filter_map(Value::as_u64).max()),
            _ => count(key),
        }
    };
    let run = || -> Result<(), String> {
        let layers = count("block_count")?.ok_or("block_count is missing")?;
        if !(1..=MAX_LAYERS).contains(&layers) {
            return Err(format!("block_count {layers} is outside 1..={MAX_LAYERS}"));
        }
        norms_rope_and_windows(g)?;
        // Nemotron-H's hybrid cache holds recurrent and attention layers; llama.cpp aborts the
        // process on a file with none of either.
        if matches!(g.architecture(), Some("nemotron_h" | "nemotron_h_moe")) {
            let k = g.layer_kinds();
            if k.recurrent == 0 || k.attention == 0 {
                return Err(format!(
                    "a hybrid model needs recurrent and attention layers ({} recurrent, {} attention)",
                    k.recurrent, k.attention
                ));
            }
        }
        for key in ["nextn_predict_layers", "posnet.block_count", "convnext.block_count"] {
            if let Some(n) = count(key)?.filter(|&n| n > layers) {
                return Err(format!("{key} {n} exceeds block_count {layers}"));
            }
        }
        let experts = count("expert_count")?.unwrap_or(0);
        if experts > MAX_EXPERTS {
            return Err(format!("expert_count {experts} exceeds {MAX_EXPERTS}"));
        }
        let used = count_or_array("expert_used_count")?.unwrap_or(0);
        if used > experts {
            return Err(format!("expert_used_count {used} exceeds expert_count {experts}"));
        }
        if experts > 0 {
            if used == 0 {
                return Err(format!("expert_count {experts} with no expert_used_count"));
            }
            let groups = count("expert_group_count")?.unwrap_or(0);
            if groups >= experts {
                return Err(format!("expert_group_count {groups} is not below expert_count {experts}"));
            }
            if groups > 1 {
                if experts % groups != 0 {
                    return Err(format!(
                        "expert_count {experts} is not a multiple of expert_group_count {groups}"
                    ));
                }
                if count("expert_group_used_count")?.unwrap_or(0) == 0 {
                    return Err("expert groups with no expert_group_used_count".into());
                }
            }
        }
        Ok(())
    };
    run().err()
}

/// What llama.cpp's graph asserts on at the first evaluation: a norm's epsilon that is negative
/// or not a number, a RoPE width that is odd, zero (it hangs) or wider than a head, and a
/// sliding-window pattern that marks no layer local (the windowed cache asserts that one is).
/// Found by mutating the metadata of imported files (decision 0010, amended).
fn norms_rope_and_windows(g: &GgufFile) -> Result<(), String> {
    for key in ["attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"] {
        if let Some(v) = g.arch_value(key) {
            if !v.as_f64().is_some_and(|e| e.is_finite() && e >= 0.0) {
                return Err(format!("{key} {v} is not a non-negative number"));
            }
        }
    }
    let u = |k: &str| g.arch_value(k).and_then(Value::as_u64);
    if let Some(v) = g.arch_value("rope.dimension_count") {
        let n = v.as_u64().ok_or_else(|| format!("rope.dimension_count is not a count: {v}"))?;
        if n < 2 || !n.is_multiple_of(2) {
            return Err(format!("rope.dimension_count {n} is not an even count of at least 2"));
        }
        let head = u("attention.key_length")
            .or_else(|| Some(u("embedding_length")? / u("attention.head_count").filter(|&h| h > 0)?));
        if let Some(head) = head.filter(|&h| n > h) {
            return Err(format!("rope.dimension_count {n} exceeds the head size {head}"));
        }
    }
    match g.arch_value("attention.sliding_window_pattern") {
        Some(Value::Array { head, len, .. })
            if *len as usize == head.len()
                && head.iter().all(|x| matches!(x, Value::Bool(false)) || x.as_u64() == Some(0)) =>
        {
            return Err("attention.sliding_window_pattern marks no layer local".into());
        }
        Some(v) if v.as_u64() == Some(1) => {
            return Err("attention.sliding_window_pattern 1 marks no layer local".into());
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::writer::{GgufWriter, MetaValue};

    fn file(meta: &[(&str, u32)]) -> (tempfile::TempDir, GgufFile) {
        file_of("llama", meta)
    }

    fn file_of(arch: &str, meta: &[(&str, u32)]) -> (tempfile::TempDir, GgufFile) {
        let meta: Vec<(&str, MetaValue)> = meta.iter().map(|(k, v)| (*k, MetaValue::U32(*v))).collect();
        file_with(arch, &meta)
    }

    fn file_with(arch: &str, meta: &[(&str, MetaValue)]) -> (tempfile::TempDir, GgufFile) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("m.gguf");
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str(arch.into()));
        for (k, v) in meta {
            w.meta(&format!("{arch}.{k}"), v.clone());
        }
        w.write(&path).unwrap_or_else(|e| panic!("{e}"));
        let g = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        (dir, g)
    }

    #[test]
    fn counts_llama_cpp_would_abort_on_are_errors() {
        let bad: &[(&[(&str, u32)], &str)] = &[
            (&[("block_count", 100_000)], "block_count 100000"),
            (&[("block_count", 0)], "block_count 0"),
            (&[], "block_count is missing"),
            (&[("block_count", 4), ("nextn_predict_layers", 5)], "nextn_predict_layers"),
            (&[("block_count", 4), ("expert_count", 5000), ("expert_used_count", 2)], "expert_count 5000"),
            (&[("block_count", 4), ("expert_count", 8), ("expert_used_count", 9)], "expert_used_count 9"),
            (&[("block_count", 4), ("expert_count", 8)], "no expert_used_count"),
            (
                &[
                    ("block_count", 4),
                    ("expert_count", 8),
                    ("expert_used_count", 2),
                    ("expert_group_count", 3),
                ],
                "multiple",
            ),
        ];
        for (meta, want) in bad {
            let (_d, g) = file(meta);
            let why = check(&g).unwrap_or_else(|| panic!("{meta:?} passed"));
            assert!(why.contains(want), "{meta:?}: {why}");
        }
        let (_d, g) = file(&[("block_count", 32), ("expert_count", 8), ("expert_used_count", 2)]);
        assert_eq!(check(&g), None);
        let (_d, g) = file(&[("block_count", 512)]);
        assert_eq!(check(&g), None);
    }

    #[test]
    fn norms_rope_widths_and_window_patterns_llama_cpp_asserts_on_are_errors() {
        use MetaValue::{I32s, F32, U32};
        let shape = || {
            vec![
                ("block_count", U32(4)),
                ("embedding_length", U32(64)),
                ("attention.head_count", U32(4)),
                ("attention.key_length", U32(16)),
            ]
        };
        let bad: Vec<(Vec<(&str, MetaValue)>, &str)> = vec![
            (vec![("attention.layer_norm_rms_epsilon", F32(-1.0))], "layer_norm_rms_epsilon -1"),
            (vec![("attention.layer_norm_epsilon", F32(f32::NAN))], "layer_norm_epsilon NaN"),
            (vec![("rope.dimension_count", U32(0))], "rope.dimension_count 0"),
            (vec![("rope.dimension_count", U32(7))], "rope.dimension_count 7"),
            (vec![("rope.dimension_count", U32(1000))], "exceeds the head size 16"),
            (vec![("attention.sliding_window_pattern", I32s(vec![0; 4]))], "marks no layer local"),
            (vec![("attention.sliding_window_pattern", U32(1))], "marks no layer local"),
        ];
        for (extra, want) in bad {
            let mut meta = shape();
            meta.extend(extra);
            let (_d, g) = file_with("gemma3", &meta);
            let why = check(&g).unwrap_or_else(|| panic!("{want}: passed"));
            assert!(why.contains(want), "{want}: {why}");
        }
        let mut good = shape();
        good.extend([
            ("attention.layer_norm_rms_epsilon", F32(1e-6)),
            ("rope.dimension_count", U32(16)),
            ("attention.sliding_window_pattern", I32s(vec![1, 0, 1, 0])),
        ]);
        let (_d, g) = file_with("gemma3", &good);
        assert_eq!(check(&g), None);
    }

    #[test]
    fn a_hybrid_model_without_either_kind_of_layer_is_an_error() {
        // Every layer recurrent (no KV heads, no MLP), then every layer attention.
        for (meta, want) in [
            (&[("block_count", 4)][..], "0 attention"),
            (&[("block_count", 4), ("attention.head_count_kv", 2)][..], "0 recurrent"),
        ] {
            let (_d, g) = file_of("nemotron_h", meta);
            let why = check(&g).unwrap_or_else(|| panic!("{meta:?} passed"));
            assert!(why.contains(want), "{meta:?}: {why}");
        }
    }
}
