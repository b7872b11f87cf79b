//! Embeddings: an embedding model's own pooling of its last hidden states (its GGUF's
//! `pooling_type`; its attention sees the text both ways), or a language model's mean over the
//! text's tokens (llama.cpp's mean pooling); L2-normalised, in a context of its own (created on
//! first use, one sequence, the text evaluated in one batch) so that the generation context's KV
//! cache and its batching are untouched.

use std::num::NonZeroU32;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::error::GenerateError;
use crate::types::TokenId;

/// Tokens one text may have (longer ones are a `ContextOverflow`).
pub const MAX_EMBED_TOKENS: u32 = 2048;

/// The embedding of each of `texts` (token ids), with `ctx` created on first use.
pub(super) fn embed<'m>(
    model: &'m LlamaModel,
    backend: &LlamaBackend,
    ctx: &mut Option<LlamaContext<'m>>,
    id: &str,
    threads: i32,
    texts: &[Vec<TokenId>],
) -> Result<Vec<Vec<f32>>, GenerateError> {
    let n_ctx = MAX_EMBED_TOKENS.min(model.n_ctx_train().max(16));
    let err = |message: String| GenerateError::Decode { model: id.to_string(), message };
    if ctx.is_none() {
        // An embedding model names its pooling; llama.cpp takes it where none is asked for.
        let arch = model.meta_val_str("general.architecture").unwrap_or_default();
        let pooling = match model.meta_val_str(&format!("{arch}.pooling_type")) {
            Ok(_) => LlamaPoolingType::Unspecified,
            Err(_) => LlamaPoolingType::Mean,
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_ctx)
            .with_n_ubatch(n_ctx)
            .with_n_seq_max(1)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_embeddings(true)
            .with_pooling_type(pooling);
        *ctx =
            Some(model.new_context(backend, params).map_err(|e| err(format!("an embedding context: {e}")))?);
    }
    let Some(c) = ctx.as_mut() else { return Err(err("no embedding context".into())) };
    let mut out = Vec::with_capacity(texts.len());
    for tokens in texts {
        if tokens.is_empty() {
            return Err(GenerateError::EmptyPrompt { model: id.to_string() });
        }
        if tokens.len() > n_ctx as usize {
            return Err(GenerateError::ContextOverflow {
                model: id.to_string(),
                prompt_tokens: tokens.len(),
                max_tokens: 0,
                context: n_ctx,
            });
        }
        c.clear_kv_cache();
        let mut batch = LlamaBatch::new(tokens.len(), 1);
        for (i, &t) in tokens.iter().enumerate() {
            batch.add(LlamaToken(t as i32), i as i32, &[0], true).map_err(|e| err(e.to_string()))?;
        }
        c.decode(&mut batch).map_err(|e| err(e.to_string()))?;
        let v = c.embeddings_seq_ith(0).map_err(|e| err(e.to_string()))?;
        out.push(normalised(v));
    }
    Ok(out)
}

/// `v` scaled to unit length (a zero vector stays zero).
fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| (*x as f64 / norm) as f32).collect()
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_scaled_to_unit_length() {
        let v = normalised(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(normalised(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
