//! Lazy grammars (llama.cpp's grammar triggers): the output is free until a trigger appears in
//! it; from there on the grammar judges it, the trigger's own text included, as llama.cpp's
//! lazy grammar does (a tool call's grammar begins with the call's marker, and the model is
//! free to answer in prose instead).
//!
//! Patterns are Rust's regular expressions (`regex`), not C++'s ECMAScript ones: the same for
//! the classes, groups, alternations and anchors triggers use; look-around and back-references
//! are refused with a typed error instead of being read differently. A `pattern_full` is
//! anchored as a whole (`^(?:…)$`; llama.cpp pastes `^` and `$` around the text, which binds
//! them to the first and last alternatives only).

use regex::bytes::Regex;

use crate::types::Trigger;

/// Most triggers one request may give.
pub const MAX_TRIGGERS: usize = 64;
/// Longest trigger, bytes.
pub const MAX_TRIGGER_LEN: usize = 4096;
/// Most memory one compiled pattern may take (`regex`'s size limit), bytes.
const PATTERN_SIZE: usize = 1 << 20;

/// Why a request's triggers cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TriggerError {
    /// Too many triggers.
    #[error("{0} triggers; at most {MAX_TRIGGERS}")]
    TooMany(usize),
    /// A word or pattern is empty.
    #[error("trigger {0} is empty")]
    Empty(usize),
    /// A word or pattern is too long.
    #[error("trigger {0} is {1} bytes; at most {MAX_TRIGGER_LEN}")]
    TooLong(usize, usize),
    /// A pattern is not a regular expression SAGE reads.
    #[error("trigger {index}'s pattern {pattern:?} is not a regular expression SAGE reads: {why}")]
    Pattern {
        /// Which trigger (from 0).
        index: usize,
        /// Its text.
        pattern: String,
        /// What is wrong.
        why: String,
    },
    /// A token trigger names no token of the model.
    #[error("trigger {index} names token {token}; the vocabulary has {vocab}")]
    UnknownToken {
        /// Which trigger (from 0).
        index: usize,
        /// The token.
        token: u32,
        /// The vocabulary's size.
        vocab: usize,
    },
}

/// Whether `triggers` can be used, before any model (a token trigger's id is checked against
/// the model's vocabulary when there is one).
pub fn check(triggers: &[Trigger]) -> Result<(), TriggerError> {
    compile(triggers).map(|_| ())
}

/// Each word and pattern as a regular expression, in order.
fn compile(triggers: &[Trigger]) -> Result<Vec<(usize, Regex)>, TriggerError> {
    if triggers.len() > MAX_TRIGGERS {
        return Err(TriggerError::TooMany(triggers.len()));
    }
    let mut out = Vec::new();
    for (index, t) in triggers.iter().enumerate() {
        let text = match t {
            Trigger::Token(_) => continue,
            Trigger::Word(w) => regex::escape(w),
            Trigger::Pattern(p) => p.clone(),
            Trigger::PatternFull(p) => format!("^(?:{p})$"),
        };
        let given = match t {
            Trigger::Word(w) | Trigger::Pattern(w) | Trigger::PatternFull(w) => w.len(),
            Trigger::Token(_) => 0,
        };
        if given == 0 {
            return Err(TriggerError::Empty(index));
        }
        if given > MAX_TRIGGER_LEN {
            return Err(TriggerError::TooLong(index, given));
        }
        let re = regex::bytes::RegexBuilder::new(&text)
            .size_limit(PATTERN_SIZE)
            .dfa_size_limit(PATTERN_SIZE)
            .build()
            .map_err(|e| TriggerError::Pattern { index, pattern: text.clone(), why: e.to_string() })?;
        out.push((index, re));
    }
    Ok(out)
}

/// A lazy grammar's triggers and the output they watch.
#[derive(Debug)]
pub struct Triggers {
    patterns: Vec<Regex>,
    tokens: Vec<u32>,
    /// The output so far (each token's text as the grammar reads it).
    buffer: Vec<u8>,
    /// Each token of the output and where its text begins in `buffer`.
    starts: Vec<(u32, usize)>,
}

/// What a trigger hands the grammar: each token from the trigger on and the part of its text
/// the grammar judges (the first one's may begin inside it).
pub type Replay = Vec<(u32, Vec<u8>)>;

impl Triggers {
    /// Triggers for a vocabulary of `vocab` tokens; `token` gives the one token a word is, if
    /// it is one (it then also triggers as that token).
    pub fn new(
        triggers: &[Trigger],
        vocab: usize,
        token: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Triggers, TriggerError> {
        let patterns = compile(triggers)?.into_iter().map(|(_, re)| re).collect();
        let mut tokens = Vec::new();
        for (index, t) in triggers.iter().enumerate() {
            match t {
                Trigger::Token(id) if (*id as usize) < vocab => tokens.push(*id),
                Trigger::Token(id) => return Err(TriggerError::UnknownToken { index, token: *id, vocab }),
                Trigger::Word(w) => tokens.extend(token(w)),
                _ => {}
            }
        }
        Ok(Triggers { patterns, tokens, buffer: Vec::new(), starts: Vec::new() })
    }

    /// `token`, whose text is `piece`, was generated while the grammar waits. When it completes
    /// a trigger, what the grammar must judge now (and the triggers are done with).
    pub fn saw(&mut self, token: u32, piece: &[u8]) -> Option<Replay> {
        if self.tokens.contains(&token) {
            return Some(vec![(token, piece.to_vec())]);
        }
        self.starts.push((token, self.buffer.len()));
        self.buffer.extend_from_slice(piece);
        let from = self.patterns.iter().filter_map(|re| begins(re, &self.buffer)).next()?;
        let mut replay = Vec::new();
        for (i, &(t, start)) in self.starts.iter().enumerate() {
            let end = self.starts.get(i + 1).map_or(self.buffer.len(), |&(_, s)| s);
            if end > from && end > start {
                replay.push((t, self.buffer[start.max(from)..end].to_vec()));
            }
        }
        Some(replay)
    }
}

/// Where the grammar begins when `re` is found in `text`: its first capture group that matched
/// something, else the match's beginning (llama.cpp's rule).
fn begins(re: &Regex, text: &[u8]) -> Option<usize> {
    if re.captures_len() == 1 {
        return re.find(text).map(|m| m.start());
    }
    let caps = re.captures(text)?;
    let group = caps.iter().skip(1).flatten().find(|m| !m.is_empty());
    Some(group.unwrap_or(caps.get(0)?).start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triggers(t: &[Trigger]) -> Triggers {
        Triggers::new(t, 100, &|w| (w == "<call>").then_some(7)).expect("triggers")
    }

    fn feed(t: &mut Triggers, pieces: &[(u32, &str)]) -> Option<Vec<(u32, String)>> {
        let mut fired = None;
        for &(tok, p) in pieces {
            assert!(fired.is_none(), "fed after the trigger");
            fired = t.saw(tok, p.as_bytes());
        }
        fired.map(|r| r.into_iter().map(|(t, b)| (t, String::from_utf8_lossy(&b).into_owned())).collect())
    }

    #[test]
    fn a_word_across_tokens_replays_from_inside_the_first() {
        let mut t = triggers(&[Trigger::Word("TOOL:".into())]);
        assert_eq!(feed(&mut t, &[(1, "Sure, "), (2, "I'll call")]), None);
        let mut t2 = triggers(&[Trigger::Word("TOOL:".into())]);
        let got = feed(&mut t2, &[(1, "ok "), (2, "xTO"), (3, "OL"), (4, ": {")]);
        assert_eq!(got, Some(vec![(2, "TO".into()), (3, "OL".into()), (4, ": {".into())]));
    }

    #[test]
    fn a_word_that_is_one_token_also_triggers_as_that_token() {
        let mut t = triggers(&[Trigger::Word("<call>".into())]);
        // The special token's text may be nothing in the output; the token alone triggers.
        assert_eq!(feed(&mut t, &[(1, "hi "), (7, "")]), Some(vec![(7, String::new())]));
        let mut spelled = triggers(&[Trigger::Word("<call>".into())]);
        assert_eq!(
            feed(&mut spelled, &[(1, "<ca"), (2, "ll> x")]),
            Some(vec![(1, "<ca".into()), (2, "ll> x".into())])
        );
    }

    #[test]
    fn a_pattern_begins_at_its_first_group_that_matched() {
        let mut t = triggers(&[Trigger::Pattern(r"[\s\S]*?(\{\s*.name)".into())]);
        let got = feed(&mut t, &[(1, "Let me look. "), (2, "{ \"name")]);
        assert_eq!(got, Some(vec![(2, "{ \"name".into())]));
        let mut no_group = triggers(&[Trigger::Pattern("a+b".into())]);
        assert_eq!(
            feed(&mut no_group, &[(1, "xxaa"), (2, "b!")]),
            Some(vec![(1, "aa".into()), (2, "b!".into())])
        );
    }

    #[test]
    fn a_full_pattern_must_match_the_whole_output() {
        let full = || triggers(&[Trigger::PatternFull(r"\s*\[|\s*\{".into())]);
        assert_eq!(feed(&mut full(), &[(1, "  [")]), Some(vec![(1, "  [".into())]));
        // Not at the beginning: free text that merely holds a bracket is no call.
        assert_eq!(feed(&mut full(), &[(1, "see ["), (2, "1]")]), None);
        // The alternation is anchored as a whole, not only its first branch.
        assert_eq!(feed(&mut full(), &[(1, "x {")]), None);
    }

    #[test]
    fn bad_triggers_are_typed_errors() {
        assert_eq!(check(&[Trigger::Word(String::new())]), Err(TriggerError::Empty(0)));
        let many = vec![Trigger::Token(1); MAX_TRIGGERS + 1];
        assert_eq!(check(&many), Err(TriggerError::TooMany(MAX_TRIGGERS + 1)));
        assert!(matches!(
            check(&[Trigger::Pattern("(?=a)b".into())]),
            Err(TriggerError::Pattern { index: 0, .. })
        ));
        assert!(matches!(check(&[Trigger::Pattern("x".repeat(5000))]), Err(TriggerError::TooLong(0, 5000))));
        // A pattern that compiles past the size limit.
        assert!(matches!(
            check(&[Trigger::Pattern(r"\w{1000}\w{1000}".into())]),
            Err(TriggerError::Pattern { .. })
        ));
        let unknown = Triggers::new(&[Trigger::Token(100)], 100, &|_| None);
        assert!(matches!(unknown, Err(TriggerError::UnknownToken { token: 100, .. })));
        assert!(check(&[Trigger::Word("a.b(".into()), Trigger::PatternFull(r"^\s*x$".into())]).is_ok());
    }
}
