//! Teacher forcing: every position's logits of given tokens, from an empty cache (parity and
//! agreement tests). The last row alone (`next_logits`) is a prompt with nothing to generate,
//! evaluated in the shared steps (see `admit`).

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::DecodeError;

use super::{Scheduler, ABORTED};
use crate::error::GenerateError;
use crate::types::TokenId;

impl Scheduler<'_> {
    /// Teacher forcing: every position's logits, evaluated from an empty cache in `slot`.
    pub(super) fn logits(&mut self, slot: usize, tokens: &[TokenId]) -> Result<Vec<Vec<f32>>, GenerateError> {
        self.w.check_tokens(tokens)?;
        if tokens.is_empty() {
            return Err(GenerateError::EmptyPrompt { model: self.model() });
        }
        let window = self.slots[slot].owner.and_then(|o| self.sessions.get(&o)).map_or(0, |s| s.window);
        if tokens.len() > window as usize {
            return Err(GenerateError::ContextOverflow {
                model: self.model(),
                prompt_tokens: tokens.len(),
                max_tokens: 0,
                context: window,
            });
        }
        self.seq_clear(slot, 0);
        let mut batch = LlamaBatch::new(self.n_batch, 1);
        let mut out = Vec::with_capacity(tokens.len());
        for (c, chunk) in tokens.chunks(self.n_batch).enumerate() {
            batch.clear();
            for (j, &t) in chunk.iter().enumerate() {
                batch
                    .add(LlamaToken(t as i32), (c * self.n_batch + j) as i32, &[slot as i32], true)
                    .map_err(|e| self.w.err_decode(e))?;
            }
            loop {
                match self.ctx.decode(&mut batch) {
                    Ok(()) => break,
                    // A generation was cancelled: it stops now, and this chunk is evaluated again.
                    Err(DecodeError::Unknown(ABORTED)) => {
                        self.aborted_steps += 1;
                        let kept = self.slots[slot].cached.len();
                        self.seq_clear(slot, kept);
                        self.reap_cancelled();
                    }
                    Err(e) => {
                        self.seq_clear(slot, 0);
                        return Err(self.w.err_decode(e));
                    }
                }
            }
            for j in 0..chunk.len() {
                out.push(self.ctx.get_logits_ith(j as i32).to_vec());
            }
            self.slots[slot].cached.extend_from_slice(chunk);
        }
        Ok(out)
    }
}
