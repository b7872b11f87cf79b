//! A request's samplers: its grammar, when the grammar starts judging the output (at once,
//! after a text, from a trigger on), and the rest of llama.cpp's chain.

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

#[cfg(doc)]
use super::MAX_GRAMMAR_STEP;
#[cfg(doc)]
use crate::types::GenerateParams;

/// A request's samplers: its constraint's grammar apart from the rest of the chain (bias,
/// penalties, truncation, temperature), so that the grammar can judge the token the rest
/// chooses before it is run over the whole vocabulary (`batching::sample`).
pub(crate) struct Samplers {
    /// The constraint, if any.
    pub grammar: Option<crate::grammar::Grammar>,
    /// Everything else.
    pub rest: LlamaSampler,
    /// Constrain every candidate before each draw ([`GenerateParams::exact_constraint`]).
    pub exact: bool,
    /// When the grammar starts judging the output.
    pub gate: Gate,
    /// Special tokens written into the output as their text
    /// ([`GenerateParams::preserved_tokens`]).
    pub preserved: Vec<u32>,
    /// The grammar gives way where the output at its trigger does not follow it
    /// ([`GenerateParams::constraint_gives_way`]).
    pub gives_way: bool,
    /// Longest one token's grammar work may take (the engine's
    /// `EngineConfig::grammar_step_limit`, by default [`MAX_GRAMMAR_STEP`]).
    pub step_limit: std::time::Duration,
    /// Why the constraint cannot go on, if it cannot: it allowed no token at all (a grammar no
    /// text can follow, such as one character that is never generated), or one token's grammar
    /// work took longer than `step_limit`. The generation ends with a typed error.
    pub dead_end: Option<String>,
}

/// When a request's grammar starts judging the output.
#[derive(Debug)]
pub(crate) enum Gate {
    /// From the first token (or there is no grammar).
    Open,
    /// Once the output holds `text` ([`GenerateParams::constraint_after`]), from the next token
    /// on as `then` says; `seen` is the output's tail where the awaited text may begin (across
    /// tokens and calls).
    After { text: String, seen: String, then: Box<Gate> },
    /// From a trigger on, the trigger's text included ([`GenerateParams::constraint_triggers`]).
    Lazy(crate::grammar::trigger::Triggers),
}

impl Samplers {
    /// Whether the grammar constrains the next token.
    pub fn constraining(&self) -> bool {
        self.grammar.is_some() && !self.waiting()
    }

    /// Whether a grammar waits for its text or its trigger.
    pub fn waiting(&self) -> bool {
        !matches!(self.gate, Gate::Open)
    }

    /// `token` was chosen (or generated earlier by the same request): advance the grammar (once
    /// it constrains) and the penalties' history. A token the grammar does not allow leaves it
    /// where it was (callers choose allowed tokens); a grammar whose state grows past its bound
    /// ends the generation (`dead_end`).
    pub fn accept(&mut self, token: LlamaToken) {
        if !self.waiting() {
            if let Some(g) = &mut self.grammar {
                if let Err(e @ crate::grammar::GrammarError::TooLarge(_)) = g.accept(token.0 as u32) {
                    self.dead_end = Some(e.to_string());
                }
            }
        }
        self.rest.accept(token);
    }

    /// `token`, whose text in the output is `text`, came (after [`Samplers::accept`]): a
    /// waiting grammar looks for its text or its trigger. A trigger hands the grammar the output
    /// from the trigger on; text there that the grammar does not allow ends the generation
    /// (`dead_end`: llama.cpp's server fails the request the same way), or, where the grammar
    /// gives way (`gives_way`), drops the grammar and leaves the output free.
    pub fn generated(&mut self, token: u32, text: &str) {
        match &mut self.gate {
            Gate::Open => {}
            Gate::After { text: awaited, seen, then } => {
                seen.push_str(text);
                if let Some(at) = seen.find(awaited.as_str()) {
                    let rest = seen.as_bytes()[at + awaited.len()..].to_vec();
                    self.gate = std::mem::replace(then.as_mut(), Gate::Open);
                    self.rest_of_token(token, &rest);
                    return;
                }
                let mut from = seen.len().saturating_sub(awaited.len());
                while !seen.is_char_boundary(from) {
                    from -= 1;
                }
                seen.drain(..from);
            }
            Gate::Lazy(_) => {
                let piece = match &self.grammar {
                    Some(g) => g.piece(token).unwrap_or_default().to_vec(),
                    None => return,
                };
                self.lazy_saw(token, &piece);
            }
        }
    }

    /// The token the awaited text ended in may go on past it (`>{"` after a `</think>` a
    /// Llama 3 tokenizer writes as plain text): a lazy grammar's triggers watch that rest; a
    /// grammar that judges from the text on judges it, the white space it begins with aside (the
    /// answer after a thinking block is read without it), and ends the generation where the
    /// rest does not follow it (`dead_end`).
    fn rest_of_token(&mut self, token: u32, rest: &[u8]) {
        match &self.gate {
            Gate::Lazy(_) => self.lazy_saw(token, rest),
            Gate::Open => {
                let text = rest.trim_ascii_start();
                let Some(g) = self.grammar.as_mut().filter(|_| !text.is_empty()) else { return };
                if let Err(e) = g.accept_text(token, text) {
                    let shown = String::from_utf8_lossy(text);
                    self.dead_end = Some(format!(
                        "the output after the awaited text does not follow the grammar at {shown:?}: {e}"
                    ));
                }
            }
            Gate::After { .. } => {}
        }
    }

    /// A waiting lazy grammar's triggers see `piece` of `token` (its whole text, or the part
    /// after an awaited text); a completed trigger hands the grammar the output from it on.
    fn lazy_saw(&mut self, token: u32, piece: &[u8]) {
        let Gate::Lazy(triggers) = &mut self.gate else { return };
        let Some(g) = &mut self.grammar else { return };
        let Some(replay) = triggers.saw(token, piece) else { return };
        self.gate = Gate::Open;
        for (t, piece) in replay {
            let judged = match g.piece(t) == Some(&piece[..]) {
                true => g.accept(t),
                false => g.accept_text(t, &piece),
            };
            if let Err(e) = judged {
                let shown = String::from_utf8_lossy(&piece).into_owned();
                let why = format!(
                    "the output from the lazy grammar's trigger on does not follow the grammar at {shown:?}: {e}"
                );
                match self.gives_way {
                    true => {
                        tracing::debug!("the grammar gives way: {why}");
                        self.grammar = None;
                    }
                    false => self.dead_end = Some(why),
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::grammar::{Grammar, Vocab};

    /// A grammar after `</think>` over a vocabulary of every byte and two pieces that run past
    /// the tag's `>`: `>{` (256) and `>` with a blank line (257).
    fn after_think() -> Samplers {
        let mut pieces: Vec<(Vec<u8>, bool)> = (0..=255u8).map(|b| (vec![b], false)).collect();
        pieces.push((b">{".to_vec(), false));
        pieces.push((b">\n\n".to_vec(), false));
        let vocab = Arc::new(Vocab::new(pieces));
        let grammar = Grammar::new("root ::= \"{\" [a-z]+ \"}\"", "root", vocab, &|_| None).unwrap();
        Samplers {
            grammar: Some(grammar),
            rest: LlamaSampler::greedy(),
            exact: false,
            gate: Gate::After { text: "</think>".into(), seen: String::new(), then: Box::new(Gate::Open) },
            preserved: vec![],
            gives_way: false,
            step_limit: crate::llama::MAX_GRAMMAR_STEP,
            dead_end: None,
        }
    }

    fn think_then(s: &mut Samplers, last: u32, text: &str) {
        for b in "<think>x</think".bytes() {
            s.accept(LlamaToken(b as i32));
            s.generated(b as u32, &(b as char).to_string());
        }
        assert!(s.waiting());
        s.accept(LlamaToken(last as i32));
        s.generated(last, text);
    }

    #[test]
    fn the_rest_of_the_token_the_awaited_text_ends_in_is_judged() {
        // `>{`: the brace is the answer's first character; the grammar goes on after it.
        let mut s = after_think();
        think_then(&mut s, 256, ">{");
        let g = s.grammar.as_mut().unwrap();
        assert!(s.dead_end.is_none() && g.allows(b'a' as u32) && !g.allows(b'{' as u32));
        // A blank line before the answer is not judged: the grammar still awaits its brace.
        let mut s = after_think();
        think_then(&mut s, 257, ">\n\n");
        let g = s.grammar.as_mut().unwrap();
        assert!(s.dead_end.is_none() && g.allows(b'{' as u32));
        // A rest the grammar does not allow ends the generation.
        let mut s = after_think();
        think_then(&mut s, b'>' as u32, ">x");
        assert!(s.dead_end.as_deref().unwrap().contains("after the awaited text"), "{:?}", s.dead_end);
    }
}
