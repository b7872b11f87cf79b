//! What a stream may show of an answer as its pieces come: a reasoning model's thinking apart
//! from its answer (`sage_llm::reasoning`), and, while tools are offered, text that may still
//! be a call held back until it is known not to be one (`tools::Holder`). Every API's stream
//! goes through it, so they all show the same answer the same way.

use sage_llm::reasoning::{Piece, Splitter};

use crate::tools::Holder;

/// The state of one stream.
#[derive(Debug, Default)]
pub(crate) struct Deltas {
    splitter: Option<Splitter>,
    holder: Option<Holder>,
}

impl Deltas {
    /// A stream that tells thinking apart (unless `raw`) and holds back possible calls (when
    /// `tools` are offered).
    pub fn new(raw: bool, tools: bool) -> Self {
        Self { splitter: (!raw).then(Splitter::default), holder: tools.then(Holder::default) }
    }

    /// What a piece of the answer lets the stream show now.
    pub fn push(&mut self, delta: &str) -> Vec<Piece> {
        let pieces = match self.splitter.as_mut() {
            Some(s) => s.push(delta),
            None => vec![Piece::Content(delta.to_string())],
        };
        self.hold(pieces)
    }

    /// What the splitter still held at the end (the holder's text stays for [`Deltas::held`]).
    pub fn flush(&mut self) -> Vec<Piece> {
        let pieces = self.splitter.as_mut().map(Splitter::finish).unwrap_or_default();
        self.hold(pieces)
    }

    /// The text held back as a possible call, taken at the end.
    pub fn held(&mut self) -> String {
        self.holder.as_mut().map(Holder::rest).unwrap_or_default()
    }

    fn hold(&mut self, pieces: Vec<Piece>) -> Vec<Piece> {
        pieces
            .into_iter()
            .filter_map(|p| match (p, self.holder.as_mut()) {
                (Piece::Content(c), Some(h)) => h.push(&c).map(Piece::Content),
                (p, _) => Some(p),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_comes_apart_and_a_call_is_held() {
        let mut d = Deltas::new(false, true);
        let mut shown = d.push("<think>call the battery tool</think>");
        shown.extend(d.push("{\"name\": \"get_battery\""));
        shown.extend(d.flush());
        assert_eq!(shown, vec![Piece::Reasoning("call the battery tool".into())]);
        assert_eq!(d.held(), "{\"name\": \"get_battery\"");
        let mut raw = Deltas::new(true, false);
        assert_eq!(raw.push("<think>x</think>y"), vec![Piece::Content("<think>x</think>y".into())]);
    }
}
