//! Constrained generation's matcher: a GBNF grammar (llama.cpp's language, and what its JSON
//! schema converter writes) judging which tokens may come next.
//!
//! llama.cpp's own matcher keeps one pushdown stack per way of matching the text so far and
//! checks each candidate token by a depth-first walk over them that merges nothing, so an
//! ambiguous grammar multiplies its work with every character: a 1.2 KB run of 200 `"a"?`
//! held the engine for 19 s on one token, a loop over 200 equal alternatives for more than six
//! minutes. This one interns every stack and every set of stacks (`grammar/stacks.rs`): the ways of
//! matching that reach the same stack are one, a set's move on a character is computed once
//! and then looked up, and a token's check is one lookup per character; the whole vocabulary
//! is judged in one walk over the tokens sorted by text (`grammar/judge.rs`). Its work is bounded
//! (`MAX_STATE`, `MAX_SET` in `grammar/stacks.rs`) and interruptible (a deadline, checked while it
//! runs), so no grammar can hold the engine. The tokens it allows are the ones llama.cpp's allows (tests
//! compare them on the default model's vocabulary); decision 0026.

mod judge;
mod parse;
mod stacks;
pub mod trigger;

use std::sync::Arc;
use std::time::Instant;

use stacks::{Engine, Partial, Set, DEAD, EMPTY};

/// Why a grammar cannot be used, or cannot go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrammarError {
    /// The text is not a grammar llama.cpp's language allows.
    #[error("the grammar does not parse: {0}")]
    Syntax(String),
    /// Its state grew past what a request may hold: an ambiguity that even merged stacks do
    /// not contain.
    #[error("the grammar is too ambiguous: its matcher's state grew past {0} stacks")]
    TooLarge(usize),
    /// Judging the candidates passed the deadline.
    #[error("judging one token's candidates passed the grammar's time limit ({0} ms)")]
    TooSlow(u128),
    /// The token given is one the grammar does not allow next.
    #[error("token {0} does not follow the grammar")]
    NotAllowed(u32),
}

/// Whether `text` is a grammar (start rule `root`) the matcher takes, before any model: its
/// `<text>` token references are checked when a model's vocabulary is there.
/// Parsed on a thread of its own with [`PARSE_STACK`] bytes of stack: parentheses nest by
/// recursion, and a request handler's thread has 2 MiB.
pub fn check(text: &str) -> Result<(), GrammarError> {
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("grammar-check".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, || parse::parse(text, "root", &|_| Some(0)).map(|_| ()))
            .map_err(|e| GrammarError::Syntax(format!("cannot start a thread to parse the grammar: {e}")))?;
        parser.join().map_err(|_| GrammarError::Syntax("the grammar's parser panicked".into()))?
    })
}

/// The stack a grammar is parsed on: [`MAX_GRAMMAR_NESTING`] levels of
/// parentheses took under 4 MiB in a debug build (each level is two calls); the engine thread
/// has 16 MiB.
pub const PARSE_STACK: usize = 16 << 20;

/// Deepest nesting of parentheses a grammar may have: grammars are parsed recursively, and
/// 100,000 levels overflowed the engine thread's stack in llama.cpp's parser (a request that
/// killed the server).
pub const MAX_GRAMMAR_NESTING: usize = 1000;
/// Most rules a grammar may have: llama.cpp's matcher followed a chain of rules each starting
/// with the next recursively (100,000 overflowed the stack); SAGE's does not recurse there and
/// keeps the limit as a bound on what one request makes the parser build.
pub const MAX_GRAMMAR_RULES: usize = 10_000;

/// Whether a GBNF grammar's nesting and rule count are within the limits
/// ([`MAX_GRAMMAR_NESTING`], [`MAX_GRAMMAR_RULES`]); the reason when not.
pub fn grammar_within_limits(text: &str) -> Result<(), String> {
    let rules = text.matches("::=").count();
    if rules > MAX_GRAMMAR_RULES {
        return Err(format!("{rules} rules, more than {MAX_GRAMMAR_RULES}"));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            // A literal or a character class: skipped, escapes and all.
            '"' | '[' => {
                let end = if c == '"' { '"' } else { ']' };
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        d if d == end => break,
                        _ => {}
                    }
                }
            }
            // A comment, to the end of its line.
            '#' => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_GRAMMAR_NESTING {
        return Err(format!("parentheses nested {deepest} deep, more than {MAX_GRAMMAR_NESTING}"));
    }
    Ok(())
}

/// What the matcher needs of a vocabulary: each token's text (as llama.cpp renders it for its
/// grammar, special tokens included, up to a NUL byte) and whether it ends a generation.
pub struct Vocab {
    /// Every token's text, one after another (262,144 boxes of a few bytes each took several
    /// times the memory).
    text: Vec<u8>,
    /// Where each token's text ends in `text` (it begins where the one before ends).
    ends: Vec<u32>,
    end_of_generation: Vec<bool>,
    /// The tokens sorted by their text, made the first time the whole vocabulary is judged.
    sorted: std::sync::OnceLock<judge::Sorted>,
}

impl Vocab {
    /// A vocabulary from each token's text and whether it ends a generation, by token id.
    pub fn new(pieces: impl IntoIterator<Item = (Vec<u8>, bool)>) -> Vocab {
        let (mut text, mut ends, mut eogs) = (Vec::new(), Vec::new(), Vec::new());
        for (piece, eog) in pieces {
            let upto = piece.iter().position(|&b| b == 0).unwrap_or(piece.len());
            text.extend_from_slice(&piece[..upto]);
            ends.push(text.len() as u32);
            eogs.push(eog);
        }
        Vocab { text, ends, end_of_generation: eogs, sorted: std::sync::OnceLock::new() }
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it has no tokens.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Token `t`'s text, if there is such a token.
    pub(crate) fn piece(&self, t: u32) -> Option<&[u8]> {
        let end = *self.ends.get(t as usize)? as usize;
        let begin = match t {
            0 => 0,
            _ => self.ends[t as usize - 1] as usize,
        };
        self.text.get(begin..end)
    }
}

/// A grammar and where the text generated so far has brought it.
pub struct Grammar {
    rules: parse::Rules,
    vocab: Arc<Vocab>,
    engine: Engine,
    /// The stacks the text so far leaves.
    now: Set,
    /// A character the last token left unfinished.
    partial: Partial,
}

/// How many candidates are judged between two looks at the clock.
const CLOCK_EVERY: usize = 1024;

impl Grammar {
    /// Parse `text` (start rule `root`) for `vocab`; `token` turns a `<text>` reference into
    /// the one token it must be (None: not exactly one).
    pub fn new(
        text: &str,
        root: &str,
        vocab: Arc<Vocab>,
        token: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Grammar, GrammarError> {
        let rules = parse::parse(text, root, token)?;
        let mut engine = Engine::new(&rules);
        let now = engine.start(&rules);
        let g = Grammar { rules, vocab, engine, now, partial: Partial::default() };
        g.within_bounds()?;
        Ok(g)
    }

    /// Whether the matcher's state is within its bounds ([`GrammarError::TooLarge`] when not:
    /// the grammar cannot go on, and every token is refused).
    pub fn within_bounds(&self) -> Result<(), GrammarError> {
        if self.engine.overflow {
            return Err(GrammarError::TooLarge(stacks::MAX_SET));
        }
        match self.engine.size() > stacks::MAX_STATE {
            true => Err(GrammarError::TooLarge(stacks::MAX_STATE)),
            false => Ok(()),
        }
    }

    /// Whether the text so far is a whole match (a token that ends the generation may come).
    pub fn complete(&self) -> bool {
        self.engine.stacks(self.now).contains(&EMPTY)
    }

    /// Whether `token` may come next.
    pub fn allows(&mut self, token: u32) -> bool {
        let Grammar { rules, vocab, engine, now, partial } = self;
        let Some(piece) = vocab.piece(token) else { return false };
        if vocab.end_of_generation[token as usize] {
            return !engine.overflow && engine.stacks(*now).contains(&EMPTY);
        }
        allows_piece(rules, engine, (*now, *partial), token, piece)
    }

    /// Whether `piece` may come next as `token`'s text (part of it, where a lazy grammar's
    /// trigger began inside the token).
    fn allows_text(&mut self, token: u32, piece: &[u8]) -> bool {
        let Grammar { rules, engine, now, partial, .. } = self;
        allows_piece(rules, engine, (*now, *partial), token, piece)
    }

    /// Of `tokens`, those that may come next, in their order.
    pub fn filter(&mut self, tokens: impl IntoIterator<Item = u32>) -> Vec<u32> {
        tokens.into_iter().filter(|&t| self.allows(t)).collect()
    }

    /// Judge every candidate (a token id and its logit): those that may not come next get a
    /// logit of -inf. Past `deadline` it stops with [`GrammarError::TooSlow`] (`limit_ms` is
    /// what the message reports), and the candidates are left as they were.
    pub fn apply(
        &mut self,
        candidates: &mut [(u32, &mut f32)],
        deadline: Option<(Instant, u128)>,
    ) -> Result<(), GrammarError> {
        self.within_bounds()?;
        // Most of the vocabulary: judged in one walk over the tokens sorted by text (not where a
        // token reference may come next: those match token ids, not text).
        if candidates.len() >= self.vocab.len() / 2 && !self.engine.has_token_tops(self.now) {
            let Grammar { rules, vocab, engine, now, partial } = self;
            let sorted = vocab.sorted.get_or_init(|| judge::Sorted::of(vocab));
            let allowed = judge::allowed(engine, rules, (*now, *partial), vocab, sorted, deadline)?;
            let complete = engine.stacks(*now).contains(&EMPTY);
            if engine.overflow {
                return Err(GrammarError::TooLarge(stacks::MAX_SET));
            }
            for (token, logit) in candidates.iter_mut() {
                let ok = match vocab.end_of_generation.get(*token as usize) {
                    Some(true) => complete,
                    Some(false) => allowed[*token as usize],
                    None => false,
                };
                if !ok {
                    **logit = f32::NEG_INFINITY;
                }
            }
            return Ok(());
        }
        let mut refused = Vec::new();
        for (i, (token, _)) in candidates.iter().enumerate() {
            if i % CLOCK_EVERY == CLOCK_EVERY - 1 {
                if let Some((_, limit_ms)) = deadline.filter(|(at, _)| Instant::now() > *at) {
                    return Err(GrammarError::TooSlow(limit_ms));
                }
                self.within_bounds()?;
            }
            if !self.allows(*token) {
                refused.push(i);
            }
        }
        self.within_bounds()?;
        for i in refused {
            *candidates[i].1 = f32::NEG_INFINITY;
        }
        Ok(())
    }

    /// `token` came next: move past it.
    pub fn accept(&mut self, token: u32) -> Result<(), GrammarError> {
        self.within_bounds()?;
        if !self.allows(token) {
            self.within_bounds()?;
            return Err(GrammarError::NotAllowed(token));
        }
        if self.vocab.end_of_generation[token as usize] {
            return Ok(());
        }
        let vocab = Arc::clone(&self.vocab);
        self.advance(token, vocab.piece(token).unwrap_or_default());
        self.within_bounds()
    }

    /// `piece`, the end of `token`'s text, came next (a lazy grammar's trigger began inside
    /// the token, and the grammar judges the text from there, as llama.cpp's does): move past it.
    pub fn accept_text(&mut self, token: u32, piece: &[u8]) -> Result<(), GrammarError> {
        self.within_bounds()?;
        if piece.is_empty() || !self.allows_text(token, piece) {
            self.within_bounds()?;
            return Err(GrammarError::NotAllowed(token));
        }
        self.advance(token, piece);
        self.within_bounds()
    }

    /// Token `t`'s text as the grammar reads it (special tokens as their text).
    pub fn piece(&self, t: u32) -> Option<&[u8]> {
        self.vocab.piece(t)
    }

    /// Move past `piece`, allowed as `token`'s text.
    fn advance(&mut self, token: u32, piece: &[u8]) {
        let Grammar { rules, engine, now, partial, .. } = self;
        let mut next = match whole_token(piece, *partial) {
            true => engine.step_token(rules, *now, token),
            false => Vec::new(),
        };
        let (mut set, mut chars) = (*now, 0);
        let left = stacks::decode(piece, *partial, |c| {
            chars += 1;
            set = engine.step(rules, set, c);
            set != DEAD
        });
        // A token that finished no character (a byte of one begun) leaves the stacks as they
        // were but for the empty one: a character is pending, so the match is not complete (as
        // llama.cpp drops the empty stack with every token).
        next.extend(engine.stacks(set).iter().filter(|&&s| chars > 0 || s != EMPTY));
        *now = engine.intern_set(next);
        *partial = left.filter(|p| p.remain > 0).unwrap_or_default();
        // What other paths took is given back once it grows: only the stacks the text has
        // reached are kept.
        if self.engine.size() > stacks::MAX_STATE / 16 {
            let (fresh, now) = self.engine.compact(self.now);
            (self.engine, self.now) = (fresh, now);
        }
    }
}

/// Whether `piece` (not a token that ends the generation) may come next as `token`'s text from
/// the stacks `now` with `partial` pending.
fn allows_piece(
    rules: &parse::Rules,
    engine: &mut Engine,
    (now, partial): (Set, Partial),
    token: u32,
    piece: &[u8],
) -> bool {
    if engine.overflow || piece.is_empty() {
        return false;
    }
    if engine.has_token_tops(now)
        && whole_token(piece, partial)
        && !engine.step_token(rules, now, token).is_empty()
    {
        return true;
    }
    let mut set = now;
    let Some(left) = stacks::decode(piece, partial, |c| {
        set = engine.step(rules, set, c);
        set != DEAD
    }) else {
        return false;
    };
    match left.remain {
        0 => set != DEAD,
        r if r < 0 => false,
        _ => engine.partial_fits(rules, set, left),
    }
}

/// Whether `piece` may match a token reference: as llama.cpp, only a text that holds a whole
/// character and is valid UTF-8 (after what the last token left open, `partial`).
fn whole_token(piece: &[u8], partial: Partial) -> bool {
    let mut chars = 0;
    let left = stacks::decode(piece, partial, |_| {
        chars += 1;
        true
    });
    chars > 0 && left.is_some_and(|p| p.remain >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of single bytes a-z, some two-letter tokens, "é" split in two bytes, and an
    /// end token (id 0).
    fn vocab() -> Arc<Vocab> {
        let mut v: Vec<(Vec<u8>, bool)> = vec![(b"</s>".to_vec(), true)];
        v.extend((b'a'..=b'z').map(|c| (vec![c], false)));
        v.extend(["ab", "aa", "aaaa", "{\"", "\"}", " "].iter().map(|s| (s.as_bytes().to_vec(), false)));
        v.push((vec![0xc3], false));
        v.push((vec![0xa9], false));
        v.push((vec![], false));
        Arc::new(Vocab::new(v))
    }

    fn id(text: &[u8]) -> u32 {
        let v = vocab();
        (0..v.len() as u32).find(|&t| v.piece(t) == Some(text)).expect("in the vocabulary")
    }

    fn grammar(text: &str) -> Grammar {
        Grammar::new(text, "root", vocab(), &|_| None).expect("grammar")
    }

    fn allowed(g: &mut Grammar) -> Vec<String> {
        let n = g.vocab.len() as u32;
        g.filter(0..n)
            .into_iter()
            .map(|t| String::from_utf8_lossy(g.vocab.piece(t).unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn the_end_of_a_token_is_judged_from_where_a_trigger_began() {
        let mut g = grammar(r#"root ::= "ab" "c"*"#);
        // "aa" with a trigger at its second letter: the grammar reads "a" of it.
        assert_eq!(g.accept_text(id(b"aa"), b"a"), Ok(()));
        assert!(!g.complete());
        assert_eq!(g.accept_text(id(b"b"), b"b"), Ok(()));
        assert!(g.complete());
        assert_eq!(g.accept_text(id(b"x"), b"x"), Err(GrammarError::NotAllowed(id(b"x"))));
        assert_eq!(g.accept_text(id(b"c"), b""), Err(GrammarError::NotAllowed(id(b"c"))));
        assert_eq!(g.piece(id(b"ab")), Some(&b"ab"[..]));
    }

    #[test]
    fn a_literal_allows_its_prefixes_and_then_the_end() {
        let mut g = grammar("root ::= \"ab\"");
        assert_eq!(allowed(&mut g), ["a", "ab"]);
        g.accept(id(b"a")).expect("a");
        assert_eq!(allowed(&mut g), ["b"]);
        g.accept(id(b"b")).expect("b");
        assert_eq!(allowed(&mut g), ["</s>"]);
        assert!(g.complete());
        assert_eq!(g.accept(id(b"a")), Err(GrammarError::NotAllowed(id(b"a"))));
    }

    #[test]
    fn an_ambiguous_run_is_one_lookup_per_character() {
        let g = format!("root ::= {}\"b\"", "\"a\"? ".repeat(200));
        let mut g = grammar(&g);
        for _ in 0..197 {
            assert!(g.allows(id(b"aaaa")));
            g.accept(id(b"a")).expect("a");
        }
        assert!(!g.allows(id(b"aaaa")), "only 3 a's are left");
        assert!(g.allows(id(b"aa")));
        assert!(g.allows(id(b"b")));
        assert!(g.engine.size() < 100_000, "state {}", g.engine.size());
    }

    #[test]
    fn equal_alternatives_in_a_loop_stay_small() {
        let alts = vec!["\"a\""; 200].join(" | ");
        let mut g = grammar(&format!("root ::= ({alts})* \"b\""));
        for _ in 0..100 {
            g.accept(id(b"aaaa")).expect("aaaa");
        }
        assert!(g.allows(id(b"b")));
        assert!(g.engine.size() < 100_000, "state {}", g.engine.size());
    }

    #[test]
    fn a_grammar_with_exponentially_many_different_stacks_ends_with_a_typed_error() {
        let mut g = grammar("root ::= [^a] [ab]? root{0,3}");
        let b = id(b"b");
        let ended = (0..200).find_map(|_| g.accept(b).err());
        assert_eq!(ended, Some(GrammarError::TooLarge(stacks::MAX_SET)));
        assert!(!g.allows(b), "every token is refused once it cannot go on");
    }

    #[test]
    fn compacting_the_state_keeps_what_is_allowed() {
        let mut g = grammar("root ::= (\"{\\\"\" [a-z]+ \"\\\"}\" \" \"?)+");
        for t in [b"{\"".as_slice(), b"ab", b"c", b"\"}", b" ", b"{\"", b"aaaa"] {
            g.accept(id(t)).expect("follows");
        }
        let before = allowed(&mut g);
        let size = g.engine.size();
        let (fresh, now) = g.engine.compact(g.now);
        (g.engine, g.now) = (fresh, now);
        assert!(g.engine.size() < size, "{} -> {}", size, g.engine.size());
        assert_eq!(allowed(&mut g), before);
        g.accept(id(b"\"}")).expect("follows");
        assert!(allowed(&mut g).contains(&"</s>".to_string()));
    }

    #[test]
    fn a_match_is_not_complete_while_a_character_is_pending() {
        let mut g = grammar("root ::= [a-zé]+");
        g.accept(id(b"a")).expect("a");
        assert!(g.allows(0), "complete after a");
        g.accept(id(&[0xc3])).expect("first byte of é");
        assert!(!g.allows(0), "not complete in the middle of é");
        g.accept(id(&[0xa9])).expect("second byte");
        assert!(g.allows(0), "complete after é");
    }

    #[test]
    fn a_character_split_across_tokens() {
        let mut g = grammar("root ::= [é] \"a\"");
        assert_eq!(allowed(&mut g), ["\u{fffd}"], "the first byte of é only");
        g.accept(id(&[0xc3])).expect("first byte");
        assert!(!g.allows(id(b"a")));
        g.accept(id(&[0xa9])).expect("second byte");
        assert_eq!(allowed(&mut g), ["a"]);
        // As llama.cpp: a negated class refuses a partial character that could complete to a
        // character it names, and takes one that cannot.
        let mut not_e = grammar("root ::= [^é] \"a\"");
        assert!(!not_e.allows(id(&[0xa9])), "a continuation byte alone is invalid");
        assert!(!not_e.allows(id(&[0xc3])));
        assert!(grammar("root ::= [^a] \"a\"").allows(id(&[0xc3])));
    }

    #[test]
    fn token_references_match_whole_tokens() {
        let mut g = Grammar::new("root ::= <[27]> \"b\" | !<[1]> \"c\"", "root", vocab(), &|_| None)
            .expect("grammar");
        let tokens = allowed(&mut g);
        assert!(
            tokens.contains(&"ab".to_string())
                && !tokens.contains(&"a".to_string())
                && tokens.contains(&"b".to_string())
        );
        g.accept(27).expect("token 27");
        assert_eq!(allowed(&mut g), ["b", "c"], "both alternatives took token 27");
    }

    #[test]
    fn empty_tokens_never_and_the_end_only_when_complete() {
        let mut g = grammar("root ::= \"a\"*");
        let empty = g.vocab.len() as u32 - 1;
        assert!(!g.allows(empty));
        assert!(g.allows(0));
        g.accept(id(b"a")).expect("a");
        assert!(g.allows(0));
        let mut g = grammar("root ::= \"a\"+");
        assert!(!g.allows(0));
    }

    #[test]
    fn the_deadline_interrupts() {
        let mut g = grammar("root ::= [a-z]*");
        let mut logits = vec![0.0f32; 5000];
        let mut cands: Vec<(u32, &mut f32)> =
            logits.iter_mut().enumerate().map(|(i, l)| (i as u32 % 30, l)).collect();
        let past = Instant::now().checked_sub(std::time::Duration::from_millis(1)).expect("clock");
        assert_eq!(g.apply(&mut cands, Some((past, 1))), Err(GrammarError::TooSlow(1)));
        assert!(logits.iter().all(|&l| l == 0.0), "nothing changed");
    }
}
