//! Embeddings for `/v1/embeddings` (OpenAI) and `/api/embed`, `/api/embeddings` (Ollama): an
//! embedding model's own pooling, or a language model's mean-pooled hidden states, unit length.
//! `sage` means the zoo's first embedding model (role `embedding`), else its first model.

use std::sync::Arc;

use sage_runtime::ResidencyError;

use crate::{admit, ApiError, App};

/// Texts one request may embed.
pub(crate) const MAX_INPUTS: usize = 256;

/// What an embedding request produced.
pub(crate) struct Embedded {
    /// The model that embedded.
    pub model: String,
    /// One unit vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens evaluated.
    pub tokens: usize,
    /// Seconds.
    pub seconds: f64,
}

/// Embed `texts` with `model` (a zoo id or `sage`).
pub(crate) async fn embed(app: &Arc<App>, model: &str, texts: Vec<String>) -> Result<Embedded, ApiError> {
    if texts.is_empty() {
        return Err(ApiError::invalid("input is empty", Some("input")));
    }
    if texts.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            format!("{} inputs; at most {MAX_INPUTS}", texts.len()),
            Some("input"),
        ));
    }
    let id = if model == "sage" {
        let embedder = app.specs.iter().find(|s| s.embeds_only());
        embedder.or(app.specs.first()).map(|s| s.id.clone()).ok_or_else(|| ApiError::unknown_model(model))?
    } else {
        crate::openai::check_model(app, model)?;
        model.to_string()
    };
    let slot = admit(app).await?;
    let app2 = app.clone();
    let started = std::time::Instant::now();
    let id2 = id.clone();
    let r = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let lease = app2.residency.acquire(&id2, "embeddings").map_err(|e| match e {
            ResidencyError::Unknown { .. } => ApiError::unknown_model(&id2),
            other => ApiError::unavailable(other.to_string()),
        })?;
        let m = lease.model();
        let tokens = texts.iter().map(|t| m.tokenize(t, true).map_or(0, |v| v.len())).sum();
        let vectors = m.embed(&texts).map_err(|e| match e {
            sage_llm::GenerateError::ContextOverflow { .. } => ApiError::context(e.to_string()),
            sage_llm::GenerateError::InvalidParams { .. } | sage_llm::GenerateError::EmptyPrompt { .. } => {
                ApiError::invalid(e.to_string(), Some("input"))
            }
            other => ApiError::unavailable(other.to_string()),
        })?;
        Ok::<_, ApiError>((vectors, tokens))
    })
    .await
    .map_err(|e| ApiError::internal(format!("embedding failed: {e}")))?;
    app.metrics.residency(&app.residency.take_log());
    let (vectors, tokens) = r?;
    Ok(Embedded { model: id, vectors, tokens, seconds: started.elapsed().as_secs_f64() })
}

/// `v` as little-endian f32 bytes in standard base64 (OpenAI's `encoding_format: base64`).
pub(crate) fn base64_f32(v: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_encoding() {
        // 1.0f32 = 00 00 80 3f; 1.0, 2.0 = 00 00 80 3f 00 00 00 40.
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 2.0]), "AACAPwAAAEA=");
        assert_eq!(base64_f32(&[]), "");
    }
}
