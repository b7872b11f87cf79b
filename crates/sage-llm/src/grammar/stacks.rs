//! The matcher's state: llama.cpp's pushdown stacks, but each stack interned once (a stack is
//! its top position over the stack below it, so equal stacks are one number), and each set of
//! stacks interned too, with its transitions on a character remembered. Two ways of matching
//! the same text that reach the same stack are one stack, and a set seen before is not
//! recomputed: the work per character is one lookup, however ambiguous the grammar.

use std::collections::HashMap;
use std::sync::Arc;

use super::parse::{El, Rules};

/// An interned stack; [`EMPTY`] is the empty one (the grammar has matched all it asks for).
pub(crate) type Stack = u32;
pub(crate) const EMPTY: Stack = u32::MAX;

/// An interned set of stacks; [`DEAD`] is the empty set (nothing can follow).
pub(crate) type Set = u32;
pub(crate) const DEAD: Set = 0;

/// A UTF-8 sequence a token left unfinished: its value so far and how many bytes it still
/// needs (negative: invalid).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Partial {
    pub value: u32,
    pub remain: i8,
}

/// A fast hash for the matcher's small integer keys (a multiply and a rotate per word, as
/// rustc's FxHash): the standard one, built against hostile keys, made a lookup the largest cost
/// of judging a vocabulary. The keys are the matcher's own numbers, not a client's text.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

#[derive(Default)]
pub(crate) struct Engine {
    /// Each stack's top position and the stack below it.
    nodes: Vec<(u32, Stack)>,
    node_ids: FxMap<(u32, Stack), Stack>,
    /// Memo: the stacks a stack advances to (each with a terminal on top, or empty).
    advanced: FxMap<Stack, Box<[Stack]>>,
    /// Each set's stacks, sorted.
    sets: Vec<Box<[Stack]>>,
    /// Whether each set has a stack with a token reference on top.
    token_tops: Vec<bool>,
    /// Memo of each set's moves on ASCII characters (`UNKNOWN` where not computed yet), made
    /// for a set the first time it moves: most text is ASCII, and an array is faster than a map.
    ascii: Vec<Option<Box<[Set; 128]>>>,
    set_ids: FxMap<Box<[Stack]>, Set>,
    /// Memo: the set a set moves to on a character.
    moves: FxMap<(Set, u32), Set>,
    /// Memo: whether some character a begun UTF-8 sequence may complete to could move a set.
    begun: FxMap<(Set, u32, i8), bool>,
    /// Stacks held in sets and memos, all together.
    held: usize,
    /// A set or an expansion grew past [`MAX_SET`]: the grammar cannot go on.
    pub overflow: bool,
    /// Which positions of the grammar hold a token reference.
    is_token: Arc<[bool]>,
}

/// Not computed yet (in [`Engine::ascii`]).
const UNKNOWN: Set = u32::MAX;

/// Most stacks one set, or one expansion, may hold. Merging equal stacks does not bound them:
/// a grammar can keep exponentially many different ones (`root ::= [^a] [ab]? root{0,3}`
/// counts, for each level it has entered, the repetitions left), and llama.cpp's matcher spent
/// minutes and gigabytes on one such token. Past this the grammar ends with a typed error.
pub(crate) const MAX_SET: usize = 20_000;

/// How large the matcher's memory may grow for one request before the grammar is called too
/// ambiguous: interned stacks, sets and remembered moves together.
pub(crate) const MAX_STATE: usize = 4_000_000;

impl Engine {
    pub fn new(rules: &Rules) -> Engine {
        let is_token = rules.elems.iter().map(|e| matches!(e, El::Token(_) | El::TokenNot(_))).collect();
        Engine::with_tokens(is_token)
    }

    fn with_tokens(is_token: Arc<[bool]>) -> Engine {
        let mut e = Engine { is_token, ..Engine::default() };
        e.token_tops.push(false);
        e.ascii.push(None);
        e.sets.push(Box::new([]));
        e.set_ids.insert(Box::new([]), DEAD);
        e
    }

    /// How much the matcher holds (see [`MAX_STATE`]).
    pub fn size(&self) -> usize {
        self.nodes.len() + self.sets.len() + self.moves.len() + self.held
    }

    pub fn stacks(&self, set: Set) -> &[Stack] {
        &self.sets[set as usize]
    }

    pub fn top(&self, s: Stack) -> Option<u32> {
        (s != EMPTY).then(|| self.nodes[s as usize].0)
    }

    fn below(&self, s: Stack) -> Stack {
        self.nodes[s as usize].1
    }

    fn push(&mut self, below: Stack, pos: u32) -> Stack {
        if let Some(&id) = self.node_ids.get(&(pos, below)) {
            return id;
        }
        let id = self.nodes.len() as Stack;
        self.nodes.push((pos, below));
        self.node_ids.insert((pos, below), id);
        id
    }

    /// `s` without its top, then `next` pushed where it does not end an alternative.
    fn replace_top(&mut self, rules: &Rules, s: Stack, next: u32) -> Stack {
        let below = self.below(s);
        match rules.elems[next as usize].ends() {
            true => below,
            false => self.push(below, next),
        }
    }

    pub fn intern_set(&mut self, mut stacks: Vec<Stack>) -> Set {
        stacks.sort_unstable();
        stacks.dedup();
        let stacks = stacks.into_boxed_slice();
        if let Some(&id) = self.set_ids.get(&stacks) {
            return id;
        }
        if stacks.len() > MAX_SET {
            self.overflow = true;
            return DEAD;
        }
        let id = self.sets.len() as Set;
        self.held += stacks.len();
        let tokens = stacks.iter().any(|&s| self.top(s).is_some_and(|p| self.is_token[p as usize]));
        self.token_tops.push(tokens);
        self.ascii.push(None);
        self.sets.push(stacks.clone());
        self.set_ids.insert(stacks, id);
        id
    }

    /// The set the grammar starts in: every alternative of the root, advanced.
    pub fn start(&mut self, rules: &Rules) -> Set {
        let mut out = Vec::new();
        for alt in rules.alternatives(rules.root).collect::<Vec<_>>() {
            let s = match rules.elems[alt as usize].ends() {
                true => EMPTY,
                false => self.push(EMPTY, alt),
            };
            out.extend_from_slice(&self.advance(rules, s));
        }
        self.intern_set(out)
    }

    /// The stacks `start` becomes once every rule reference on top is expanded: each with a
    /// terminal (a character class or a token) on top, or empty.
    pub fn advance(&mut self, rules: &Rules, start: Stack) -> Box<[Stack]> {
        if let Some(done) = self.advanced.get(&start) {
            return done.clone();
        }
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut todo = vec![start];
        while let Some(s) = todo.pop() {
            if !seen.insert(s) {
                continue;
            }
            if seen.len() > MAX_SET {
                self.overflow = true;
                return Box::new([]);
            }
            let Some(pos) = self.top(s) else {
                out.push(EMPTY);
                continue;
            };
            match rules.elems[pos as usize] {
                El::Ref(r) => {
                    let below = self.replace_top(rules, s, pos + 1);
                    for alt in rules.alternatives(r).collect::<Vec<_>>() {
                        todo.push(match rules.elems[alt as usize].ends() {
                            true => below,
                            false => self.push(below, alt),
                        });
                    }
                }
                _ => out.push(s),
            }
        }
        out.sort_unstable();
        out.dedup();
        let out = out.into_boxed_slice();
        self.held += out.len();
        self.advanced.insert(start, out.clone());
        out
    }

    /// Whether some stack of `set` has a token reference on top.
    pub fn has_token_tops(&self, set: Set) -> bool {
        self.token_tops[set as usize]
    }

    /// The set `set` moves to when the text goes on with character `c`.
    pub fn step(&mut self, rules: &Rules, set: Set, c: u32) -> Set {
        if set == DEAD {
            return DEAD;
        }
        if c < 128 {
            if let Some(known) = &self.ascii[set as usize] {
                if known[c as usize] != UNKNOWN {
                    return known[c as usize];
                }
            }
            let to = self.step_uncached(rules, set, c);
            let known = &mut self.ascii[set as usize];
            if known.is_none() {
                *known = Some(Box::new([UNKNOWN; 128]));
                self.held += 128;
            }
            if let Some(known) = known {
                known[c as usize] = to;
            }
            return to;
        }
        if let Some(&to) = self.moves.get(&(set, c)) {
            return to;
        }
        let to = self.step_uncached(rules, set, c);
        self.moves.insert((set, c), to);
        to
    }

    fn step_uncached(&mut self, rules: &Rules, set: Set, c: u32) -> Set {
        let mut out = Vec::new();
        for i in 0..self.sets[set as usize].len() {
            let s = self.sets[set as usize][i];
            let Some(pos) = self.top(s) else { continue };
            if let Some((true, after)) = match_char(rules, pos, c) {
                let next = self.replace_top(rules, s, after);
                out.extend_from_slice(&self.advance(rules, next));
                if out.len() > 4 * MAX_SET || self.overflow {
                    self.overflow = true;
                    return DEAD;
                }
            }
        }
        self.intern_set(out)
    }

    /// The stacks of `set` whose top is a token `token` matches, each moved past it.
    pub fn step_token(&mut self, rules: &Rules, set: Set, token: u32) -> Vec<Stack> {
        let mut out = Vec::new();
        for i in 0..self.sets[set as usize].len() {
            let s = self.sets[set as usize][i];
            let Some(pos) = self.top(s) else { continue };
            let matches = match rules.elems[pos as usize] {
                El::Token(t) => t == token,
                El::TokenNot(t) => t != token,
                _ => false,
            };
            if matches {
                let next = self.replace_top(rules, s, pos + 1);
                out.extend_from_slice(&self.advance(rules, next));
            }
        }
        out
    }

    /// Whether some character that `partial` (a UTF-8 sequence begun, not finished) may complete
    /// to could move `set`: an over-estimate (a negated class is taken to allow some), so that a
    /// walk may skip what it refuses. Not llama.cpp's test for a token that ends unfinished
    /// ([`Engine::partial_fits`]), which refuses some completions a negated class allows.
    pub fn could_continue(&mut self, rules: &Rules, set: Set, partial: Partial) -> bool {
        if let Some(&known) = self.begun.get(&(set, partial.value, partial.remain)) {
            return known;
        }
        let remain = partial.remain.max(0) as u32;
        let low = partial.value << (remain * 6);
        let high = low | ((1u32 << (remain * 6)) - 1);
        let could = self
            .stacks(set)
            .iter()
            .any(|&s| self.top(s).is_some_and(|pos| class_meets(rules, pos, low, high)));
        self.begun.insert((set, partial.value, partial.remain), could);
        self.held += 1;
        could
    }

    /// Whether some stack of `set` could match a character `partial` may complete to.
    pub fn partial_fits(&self, rules: &Rules, set: Set, partial: Partial) -> bool {
        self.stacks(set).iter().any(|&s| self.top(s).is_some_and(|pos| match_partial(rules, pos, partial)))
    }

    /// A fresh engine holding only `set`'s stacks (what the generation goes on from), and the
    /// set's id in it: the memory other paths took is given back.
    pub fn compact(&self, set: Set) -> (Engine, Set) {
        let mut fresh = Engine::with_tokens(Arc::clone(&self.is_token));
        let mut map: FxMap<Stack, Stack> = FxMap::default();
        let mut stacks = Vec::new();
        for &s in self.stacks(set) {
            // The chain from the bottom up, copied where not copied yet.
            let mut chain = Vec::new();
            let mut at = s;
            while at != EMPTY && !map.contains_key(&at) {
                chain.push(at);
                at = self.below(at);
            }
            let mut below = if at == EMPTY { EMPTY } else { map[&at] };
            for &old in chain.iter().rev() {
                below = fresh.push(below, self.nodes[old as usize].0);
                map.insert(old, below);
            }
            stacks.push(if s == EMPTY { EMPTY } else { map[&s] });
        }
        let id = fresh.intern_set(stacks);
        (fresh, id)
    }
}

/// A character class in the grammar, read range by range (`.` is one range, every
/// character); `at` is the position after what has been read.
struct Class<'a> {
    elems: &'a [El],
    at: usize,
    /// False for a negated class (`[^...]`).
    positive: bool,
    started: bool,
}

/// The class at `pos`; None where `pos` holds no character class.
fn class(rules: &Rules, pos: u32) -> Option<Class<'_>> {
    let positive = match rules.elems[pos as usize] {
        El::Char(_) | El::Any => true,
        El::CharNot(_) => false,
        _ => return None,
    };
    Some(Class { elems: &rules.elems, at: pos as usize, positive, started: false })
}

impl Iterator for Class<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.started && !matches!(self.elems.get(self.at), Some(El::CharAlt(_))) {
            return None;
        }
        self.started = true;
        let low = match self.elems[self.at] {
            El::Char(v) | El::CharNot(v) | El::CharAlt(v) => v,
            _ => {
                self.at += 1;
                return Some((0, u32::MAX));
            }
        };
        match self.elems.get(self.at + 1) {
            Some(&El::Upper(high)) => {
                self.at += 2;
                Some((low, high))
            }
            _ => {
                self.at += 1;
                Some((low, low))
            }
        }
    }
}

/// Whether character `c` matches the class at `pos`, and the position after the class; None
/// where `pos` holds no character class.
pub(crate) fn match_char(rules: &Rules, pos: u32, c: u32) -> Option<(bool, u32)> {
    let mut class = class(rules, pos)?;
    let mut found = false;
    for (low, high) in class.by_ref() {
        found |= low <= c && c <= high;
    }
    Some((found == class.positive, class.at as u32))
}

/// Whether some character in `low..=high` could match the class at `pos` (a negated class or
/// `.`: taken to).
fn class_meets(rules: &Rules, pos: u32, low: u32, high: u32) -> bool {
    match class(rules, pos) {
        Some(c) if c.positive => c.into_iter().any(|(lo, hi)| lo <= high && low <= hi),
        Some(_) => true,
        None => false,
    }
}

/// Whether some completion of `partial` could match the class at `pos`, as llama.cpp judges a
/// token that ends in the middle of a character: a negated class refuses it where a character
/// it names is among the completions.
fn match_partial(rules: &Rules, pos: u32, partial: Partial) -> bool {
    let Some(class) = class(rules, pos) else { return false };
    let remain = partial.remain as u32;
    if partial.remain < 0 || (remain == 1 && partial.value < 2) {
        return false;
    }
    let mut low = partial.value << (remain * 6);
    let high = low | ((1u32 << (remain * 6)) - 1);
    if low == 0 {
        low = match remain {
            2 => 1 << 11,
            3 => 1 << 16,
            _ => low,
        };
    }
    if rules.elems[pos as usize] == El::Any {
        return true;
    }
    let positive = class.positive;
    for (lo, hi) in class {
        if lo <= high && low <= hi {
            return positive;
        }
    }
    !positive
}

/// How many bytes follow a UTF-8 sequence's first byte, by its high four bits (-1: not a first
/// byte).
pub(crate) const EXTRA: [i32; 16] = [0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, 1, 1, 2, 3];

/// Decode `bytes` as UTF-8 continuing `partial` (a sequence the previous token left open):
/// each whole character to `each`, which may stop the walk by returning false. Returns the
/// sequence left open at the end, or None where the walk was stopped. Invalid UTF-8 ends the
/// walk with a partial whose `remain` is negative.
pub(crate) fn decode(bytes: &[u8], partial: Partial, mut each: impl FnMut(u32) -> bool) -> Option<Partial> {
    let (mut value, mut remain) = (partial.value, partial.remain as i32);
    let mut i = 0;
    while i < bytes.len() && remain > 0 {
        let b = bytes[i];
        if b >> 6 != 2 {
            return Some(Partial { value: 0, remain: -1 });
        }
        value = (value << 6) + (b & 0x3f) as u32;
        i += 1;
        remain -= 1;
    }
    if partial.remain > 0 && remain == 0 && !each(value) {
        return None;
    }
    while i < bytes.len() {
        let first = bytes[i];
        remain = EXTRA[(first >> 4) as usize];
        if remain < 0 {
            return Some(Partial { value: 0, remain: -1 });
        }
        value = (first & ((1u8 << (7 - remain)) - 1)) as u32;
        i += 1;
        while i < bytes.len() && remain > 0 {
            value = (value << 6) + (bytes[i] & 0x3f) as u32;
            i += 1;
            remain -= 1;
        }
        if remain == 0 && !each(value) {
            return None;
        }
    }
    Some(Partial { value, remain: remain as i8 })
}
