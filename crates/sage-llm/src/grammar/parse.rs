//! GBNF, the grammar language of llama.cpp, parsed into rules of flat elements: the same
//! language and the same rewriting of repetitions (`x{m,n}` into `m` copies and nested optional
//! rules), so that a grammar written for llama-server means here what it means there.

use std::collections::HashMap;

use super::GrammarError;

/// Most rules a repetition may multiply into (llama.cpp's limit, so that the same grammars are
/// refused: `x{0,2000}` nested twice would be four million rules).
const MAX_REPETITION: u64 = 2000;

/// One element of a rule. A rule is its alternatives one after another, each ended by `Alt`
/// and the last by `End`; a character class is its first element (`Char`, `CharNot`) followed
/// by `CharAlt`s, each of them and the first optionally followed by `Upper` (a range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum El {
    End,
    Alt,
    Ref(u32),
    Char(u32),
    CharNot(u32),
    Upper(u32),
    CharAlt(u32),
    Any,
    Token(u32),
    TokenNot(u32),
}

impl El {
    /// Whether the element ends an alternative.
    pub(crate) fn ends(self) -> bool {
        matches!(self, El::End | El::Alt)
    }
}

/// A parsed grammar: every rule's elements in one array; a position in the grammar is an index
/// into it.
#[derive(Debug)]
pub(crate) struct Rules {
    pub elems: Vec<El>,
    /// Where each rule's elements begin.
    pub starts: Vec<u32>,
    /// The rule generation starts from.
    pub root: u32,
}

/// Parse `text`; `root` names the start rule and `token` turns a `<text>` token reference into
/// the single token it must be.
pub(crate) fn parse(
    text: &str,
    root: &str,
    token: &dyn Fn(&str) -> Option<u32>,
) -> Result<Rules, GrammarError> {
    if text.contains('\0') {
        return Err(GrammarError::Syntax("the grammar holds a NUL character".into()));
    }
    let mut p = Parser { src: text, names: HashMap::new(), rules: Vec::new(), token, expanded: 0 };
    let mut pos = p.space(0, true);
    while pos < text.len() {
        pos = p.rule(pos)?;
    }
    p.finish(root)
}

struct Parser<'a> {
    src: &'a str,
    names: HashMap<String, u32>,
    /// Each symbol's rule, once defined.
    rules: Vec<Option<Vec<El>>>,
    token: &'a dyn Fn(&str) -> Option<u32>,
    /// Elements the repetitions have written so far (see [`MAX_EXPANSION`]).
    expanded: usize,
}

/// Most elements the repetitions of one grammar may write. Each repetition is held to 2,000
/// rules as llama.cpp holds it, but a grammar may have many: 600 copies of `"a"{0,2000}` (7 KB)
/// would be 1.2 million rules. JSON schemas' grammars write a few thousand.
pub(crate) const MAX_EXPANSION: usize = 1_000_000;

fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

impl<'a> Parser<'a> {
    fn at(&self, pos: usize) -> u8 {
        self.src.as_bytes().get(pos).copied().unwrap_or(0)
    }

    /// The text from `pos`, shortened, for an error message.
    fn near(&self, pos: usize) -> String {
        self.src.get(pos..).unwrap_or("").chars().take(32).collect()
    }

    fn err(&self, what: &str, pos: usize) -> GrammarError {
        GrammarError::Syntax(format!("{what} at byte {pos}: {:?}", self.near(pos)))
    }

    /// Spaces, tabs and comments (and line ends where `newlines`).
    fn space(&self, mut pos: usize, newlines: bool) -> usize {
        loop {
            match self.at(pos) {
                b' ' | b'\t' => pos += 1,
                b'\r' | b'\n' if newlines => pos += 1,
                b'#' => {
                    while !matches!(self.at(pos), 0 | b'\r' | b'\n') {
                        pos += 1;
                    }
                }
                _ => return pos,
            }
        }
    }

    fn name_end(&self, pos: usize) -> Result<usize, GrammarError> {
        let mut end = pos;
        while word(self.at(end)) {
            end += 1;
        }
        if end == pos {
            return Err(self.err("expected a name", pos));
        }
        Ok(end)
    }

    fn int(&self, pos: usize) -> Result<(u64, usize), GrammarError> {
        let mut end = pos;
        while self.at(end).is_ascii_digit() {
            end += 1;
        }
        let n = self.src[pos..end].parse::<u64>().map_err(|_| self.err("expected a number", pos))?;
        Ok((n, end))
    }

    fn symbol(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        self.new_symbol(name.to_string())
    }

    /// A symbol for a rule the parser makes (a group, a repetition), under a name no grammar
    /// can write.
    fn generated(&mut self, base: &str) -> u32 {
        let id = self.rules.len();
        self.new_symbol(format!("{base} #{id}"))
    }

    fn new_symbol(&mut self, name: String) -> u32 {
        let id = self.rules.len() as u32;
        self.names.insert(name, id);
        self.rules.push(None);
        id
    }

    fn hex(&self, pos: usize, size: usize) -> Result<(u32, usize), GrammarError> {
        let digits = self.src.get(pos..pos + size).ok_or_else(|| self.err("expected hex digits", pos))?;
        let v = u32::from_str_radix(digits, 16)
            .ok()
            .filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.err(&format!("expected {size} hex digits"), pos))?;
        Ok((v, pos + size))
    }

    /// One character of a literal or a class, escapes decoded.
    fn char(&self, pos: usize) -> Result<(u32, usize), GrammarError> {
        if self.at(pos) == b'\\' {
            let simple = |c: char| Ok((c as u32, pos + 2));
            return match self.at(pos + 1) {
                b'x' => self.hex(pos + 2, 2),
                b'u' => self.hex(pos + 2, 4),
                b'U' => self.hex(pos + 2, 8),
                b't' => simple('\t'),
                b'r' => simple('\r'),
                b'n' => simple('\n'),
                c @ (b'\\' | b'"' | b'[' | b']' | b'-') => simple(c as char),
                _ => Err(self.err("unknown escape", pos)),
            };
        }
        match self.src.get(pos..).and_then(|s| s.chars().next()) {
            Some(c) => Ok((c as u32, pos + c.len_utf8())),
            None => Err(self.err("unexpected end of the grammar", pos)),
        }
    }

    /// A token reference, `<[id]>` or `<text>` (one token's text).
    fn token_ref(&self, pos: usize) -> Result<(u32, usize), GrammarError> {
        if self.at(pos) != b'<' {
            return Err(self.err("expected '<'", pos));
        }
        if self.at(pos + 1) == b'[' {
            let (id, end) = self.int(pos + 2)?;
            if self.at(end) != b']' || self.at(end + 1) != b'>' {
                return Err(self.err("expected ']>'", end));
            }
            let id = u32::try_from(id).map_err(|_| self.err("token id too large", pos))?;
            return Ok((id, end + 2));
        }
        let close = self.src[pos..].find('>').ok_or_else(|| self.err("expected '>'", pos))?;
        let text = &self.src[pos..pos + close + 1];
        let id = (self.token)(text).ok_or_else(|| self.err("not exactly one token", pos))?;
        Ok((id, pos + close + 1))
    }

    fn rule(&mut self, pos: usize) -> Result<usize, GrammarError> {
        let end = self.name_end(pos)?;
        let name = self.src[pos..end].to_string();
        let id = self.symbol(&name);
        let pos = self.space(end, false);
        if !self.src[pos..].starts_with("::=") {
            return Err(self.err("expected '::='", pos));
        }
        let pos = self.space(pos + 3, true);
        let mut pos = self.alternates(pos, &name, id, false)?;
        match self.at(pos) {
            b'\r' => pos += if self.at(pos + 1) == b'\n' { 2 } else { 1 },
            b'\n' => pos += 1,
            0 => {}
            _ => return Err(self.err("expected the end of a line", pos)),
        }
        Ok(self.space(pos, true))
    }

    fn alternates(&mut self, pos: usize, name: &str, id: u32, nested: bool) -> Result<usize, GrammarError> {
        let mut rule = Vec::new();
        let mut pos = self.sequence(pos, name, &mut rule, nested)?;
        while self.at(pos) == b'|' {
            rule.push(El::Alt);
            pos = self.space(pos + 1, true);
            pos = self.sequence(pos, name, &mut rule, nested)?;
        }
        rule.push(El::End);
        self.rules[id as usize] = Some(rule);
        Ok(pos)
    }

    fn sequence(
        &mut self,
        mut pos: usize,
        name: &str,
        rule: &mut Vec<El>,
        nested: bool,
    ) -> Result<usize, GrammarError> {
        let mut last = rule.len();
        let mut prev_rules: u64 = 1;
        while pos < self.src.len() {
            let b = self.at(pos);
            match b {
                b'"' => {
                    last = rule.len();
                    prev_rules = 1;
                    pos = self.literal(pos + 1, rule)?;
                    pos = self.space(pos, nested);
                }
                b'[' => {
                    last = rule.len();
                    prev_rules = 1;
                    pos = self.char_class(pos + 1, rule)?;
                    pos = self.space(pos, nested);
                }
                b'<' | b'!' => {
                    let not = b == b'!';
                    let (id, end) = self.token_ref(pos + not as usize)?;
                    last = rule.len();
                    prev_rules = 1;
                    rule.push(if not { El::TokenNot(id) } else { El::Token(id) });
                    pos = self.space(end, nested);
                }
                b if word(b) => {
                    let end = self.name_end(pos)?;
                    let src = self.src;
                    let id = self.symbol(&src[pos..end]);
                    pos = self.space(end, nested);
                    last = rule.len();
                    prev_rules = 1;
                    rule.push(El::Ref(id));
                }
                b'(' => {
                    pos = self.space(pos + 1, true);
                    let before = self.rules.len();
                    let sub = self.generated(name);
                    pos = self.alternates(pos, name, sub, true)?;
                    prev_rules = ((self.rules.len() - before) as u64).max(1);
                    last = rule.len();
                    rule.push(El::Ref(sub));
                    if self.at(pos) != b')' {
                        return Err(self.err("expected ')'", pos));
                    }
                    pos = self.space(pos + 1, nested);
                }
                b'.' => {
                    last = rule.len();
                    prev_rules = 1;
                    rule.push(El::Any);
                    pos = self.space(pos + 1, nested);
                }
                b'*' | b'+' | b'?' => {
                    let (min, max) = match b {
                        b'*' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.repeat(rule, last, &mut prev_rules, (min, max), name, pos)?;
                    pos = self.space(pos + 1, nested);
                }
                b'{' => {
                    let at = pos;
                    let (min, max, end) = self.bounds(pos + 1, nested)?;
                    pos = end;
                    if min > MAX_REPETITION {
                        return Err(self.err(&format!("more than {MAX_REPETITION} repetitions"), at));
                    }
                    // As llama.cpp: a bound above the limit is no bound.
                    let max = max.filter(|&m| m <= MAX_REPETITION);
                    if max.is_some_and(|m| m < min) {
                        return Err(self.err("a repetition's maximum below its minimum", at));
                    }
                    self.repeat(rule, last, &mut prev_rules, (min, max), name, at)?;
                }
                _ => break,
            }
        }
        Ok(pos)
    }

    /// A literal's characters (from after its opening quote) onto `rule`; the position after
    /// its closing quote.
    fn literal(&self, mut pos: usize, rule: &mut Vec<El>) -> Result<usize, GrammarError> {
        while self.at(pos) != b'"' {
            if pos >= self.src.len() {
                return Err(self.err("unterminated literal", pos));
            }
            let (c, next) = self.char(pos)?;
            rule.push(El::Char(c));
            pos = next;
        }
        Ok(pos + 1)
    }

    /// A character class (from after its `[`) onto `rule`: its first character (`Char`, or
    /// `CharNot` after `^`), the others as `CharAlt`, each with its range's `Upper`; the position
    /// after its `]`.
    fn char_class(&self, mut pos: usize, rule: &mut Vec<El>) -> Result<usize, GrammarError> {
        let negated = self.at(pos) == b'^';
        pos += negated as usize;
        let first = rule.len();
        while self.at(pos) != b']' {
            if pos >= self.src.len() {
                return Err(self.err("unterminated character class", pos));
            }
            let (c, next) = self.char(pos)?;
            pos = next;
            rule.push(match (rule.len() > first, negated) {
                (true, _) => El::CharAlt(c),
                (false, true) => El::CharNot(c),
                (false, false) => El::Char(c),
            });
            if self.at(pos) == b'-' && self.at(pos + 1) != b']' {
                if pos + 1 >= self.src.len() {
                    return Err(self.err("unterminated character class", pos));
                }
                let (upper, next) = self.char(pos + 1)?;
                rule.push(El::Upper(upper));
                pos = next;
            }
        }
        Ok(pos + 1)
    }

    /// A repetition's bounds (from after its `{`): `{m}`, `{m,}` or `{m,n}`, and the position
    /// after the `}` and the space after it.
    fn bounds(&self, pos: usize, nested: bool) -> Result<(u64, Option<u64>, usize), GrammarError> {
        let mut pos = self.space(pos, nested);
        if !self.at(pos).is_ascii_digit() {
            return Err(self.err("expected a number", pos));
        }
        let (min, end) = self.int(pos)?;
        pos = self.space(end, nested);
        let max = match self.at(pos) {
            b'}' => Some(min),
            b',' => {
                pos = self.space(pos + 1, nested);
                let mut max = None;
                if self.at(pos).is_ascii_digit() {
                    let (m, end) = self.int(pos)?;
                    max = Some(m);
                    pos = self.space(end, nested);
                }
                if self.at(pos) != b'}' {
                    return Err(self.err("expected '}'", pos));
                }
                max
            }
            _ => return Err(self.err("expected ',' or '}'", pos)),
        };
        Ok((min, max, self.space(pos + 1, nested)))
    }

    /// Rewrite the item that begins at `last` for a repetition: `S{m,n}` is S `m` times then
    /// `n - m` nested optional rules (`S' ::= S S'' |`), `S{m,}` is S `m` times then
    /// `S' ::= S S' |`.
    fn repeat(
        &mut self,
        rule: &mut Vec<El>,
        last: usize,
        prev_rules: &mut u64,
        (min, max): (u64, Option<u64>),
        name: &str,
        pos: usize,
    ) -> Result<(), GrammarError> {
        if last == rule.len() {
            return Err(self.err("a repetition with nothing before it", pos));
        }
        let item: Vec<El> = rule[last..].to_vec();
        let total = match max {
            Some(m) if m > 0 => m,
            _ => min.max(1),
        };
        if prev_rules.saturating_mul(total) > MAX_REPETITION {
            return Err(self.err("a repetition too large (more than 2000 rules)", pos));
        }
        let optional = max.map_or(1, |m| m - min);
        let copies = min.saturating_sub(1).saturating_add(optional) as usize;
        self.expanded = self.expanded.saturating_add(copies.saturating_mul(item.len() + 3));
        if self.expanded > MAX_EXPANSION {
            return Err(self.err(&format!("the repetitions expand past {MAX_EXPANSION} elements"), pos));
        }
        if min == 0 {
            rule.truncate(last);
        } else {
            for _ in 1..min {
                rule.extend_from_slice(&item);
            }
        }
        let mut previous = 0;
        for i in 0..optional {
            let id = self.generated(name);
            let mut r = item.clone();
            if max.is_none() {
                r.push(El::Ref(id));
            } else if i > 0 {
                r.push(El::Ref(previous));
            }
            r.extend([El::Alt, El::End]);
            self.rules[id as usize] = Some(r);
            previous = id;
        }
        if optional > 0 {
            rule.push(El::Ref(previous));
        }
        *prev_rules = prev_rules.saturating_mul(total);
        Ok(())
    }

    /// Every rule defined, the root found, no left recursion: the rules flattened.
    fn finish(self, root: &str) -> Result<Rules, GrammarError> {
        let mut names: Vec<(&String, &u32)> = self.names.iter().collect();
        names.sort_by_key(|(_, &id)| id);
        if let Some((name, _)) = names.iter().find(|(_, &id)| self.rules[id as usize].is_none()) {
            return Err(GrammarError::Syntax(format!("rule '{name}' is used but not defined")));
        }
        let root = *self
            .names
            .get(root)
            .ok_or_else(|| GrammarError::Syntax(format!("the grammar has no rule '{root}'")))?;
        let mut elems = Vec::new();
        let mut starts = Vec::with_capacity(self.rules.len());
        for r in self.rules.into_iter().flatten() {
            starts.push(elems.len() as u32);
            elems.extend(r);
        }
        let rules = Rules { elems, starts, root };
        if let Some((r, why)) = left_recursive(&rules) {
            let name = names.iter().find(|(_, &id)| id == r).map_or("?", |(n, _)| n.as_str());
            return Err(GrammarError::Syntax(format!(
                "rule '{}' is left-recursive ({why})",
                name.split(" #").next().unwrap_or(name)
            )));
        }
        Ok(rules)
    }
}

impl Rules {
    /// The alternatives of rule `r`: the position each begins at.
    pub(crate) fn alternatives(&self, r: u32) -> impl Iterator<Item = u32> + '_ {
        let mut at = Some(self.starts[r as usize]);
        std::iter::from_fn(move || {
            let begin = at?;
            let mut end = begin;
            while !self.elems[end as usize].ends() {
                end += 1;
            }
            at = (self.elems[end as usize] == El::Alt).then_some(end + 1);
            Some(begin)
        })
    }
}

/// A rule that can begin with itself in a way the matcher cannot take, if any: either as
/// llama.cpp finds it (through references to rules with an empty alternative: the same
/// grammars refused), or through rules that can match nothing in a way llama.cpp does not look
/// for, where each round leaves something to match after it and the stacks would grow without
/// end (llama.cpp takes such a grammar and never finishes expanding it). A rule that begins
/// with itself only as its alternative's last item (`x' ::= x x' |` with `x` able to match
/// nothing: what `(x)+` becomes) comes back to the same stack, which the matcher has seen, and
/// is taken, as llama.cpp takes it.
fn left_recursive(rules: &Rules) -> Option<(u32, &'static str)> {
    let shallow: Vec<bool> = (0..rules.starts.len() as u32)
        .map(|r| rules.alternatives(r).any(|alt| rules.elems[alt as usize].ends()))
        .collect();
    let edges = begins_with(rules, &shallow);
    if let Some(r) = on_a_cycle(&edges, |_| true) {
        return Some((r, "it can begin with itself"));
    }
    let edges = begins_with(rules, &nullable(rules));
    on_a_cycle(&edges, |pushes| pushes)
        .map(|r| (r, "it can begin with itself through rules that match nothing, and its stacks would grow without end"))
}

/// For each rule, the rules it may begin with, each with whether matching it leaves more of the
/// alternative to match (something pushed on the stack): the first reference of each
/// alternative, and the next while those before it may match nothing (`empty`).
fn begins_with(rules: &Rules, empty: &[bool]) -> Vec<Vec<(u32, bool)>> {
    (0..rules.starts.len() as u32)
        .map(|r| {
            let mut out = Vec::new();
            for alt in rules.alternatives(r) {
                let mut at = alt as usize;
                while let El::Ref(s) = rules.elems[at] {
                    out.push((s, !rules.elems[at + 1].ends()));
                    if !empty[s as usize] {
                        break;
                    }
                    at += 1;
                }
            }
            out
        })
        .collect()
}

/// A rule on a cycle of `edges` that passes an edge `counts` takes, if any: the graph's strongly
/// connected components (Kosaraju's, without recursion: a chain of 10,000 rules is deep), then
/// an edge within one.
fn on_a_cycle(edges: &[Vec<(u32, bool)>], counts: impl Fn(bool) -> bool) -> Option<u32> {
    let n = edges.len();
    // First pass: the order in which the rules are finished.
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut path = vec![(start, 0usize)];
        while let Some(&mut (r, ref mut i)) = path.last_mut() {
            match edges[r].get(*i) {
                Some(&(s, _)) => {
                    *i += 1;
                    if !seen[s as usize] {
                        seen[s as usize] = true;
                        path.push((s as usize, 0));
                    }
                }
                None => {
                    order.push(r);
                    path.pop();
                }
            }
        }
    }
    // Second pass, over the reversed edges in reverse finishing order: the components.
    let mut reverse = vec![Vec::new(); n];
    for (r, es) in edges.iter().enumerate() {
        for &(s, _) in es {
            reverse[s as usize].push(r);
        }
    }
    let mut component = vec![usize::MAX; n];
    for &root in order.iter().rev() {
        if component[root] != usize::MAX {
            continue;
        }
        component[root] = root;
        let mut todo = vec![root];
        while let Some(r) = todo.pop() {
            for &s in &reverse[r] {
                if component[s] == usize::MAX {
                    component[s] = root;
                    todo.push(s);
                }
            }
        }
    }
    edges.iter().enumerate().find_map(|(r, es)| {
        es.iter()
            .any(|&(s, pushes)| counts(pushes) && component[s as usize] == component[r])
            .then_some(r as u32)
    })
}

/// Which rules may match the empty text (a fixed point).
fn nullable(rules: &Rules) -> Vec<bool> {
    let n = rules.starts.len();
    let mut empty = vec![false; n];
    loop {
        let mut changed = false;
        for r in 0..n {
            if empty[r] {
                continue;
            }
            let any = rules.alternatives(r as u32).any(|alt| {
                let mut at = alt as usize;
                loop {
                    match rules.elems[at] {
                        El::End | El::Alt => return true,
                        El::Ref(s) if empty[s as usize] => at += 1,
                        _ => return false,
                    }
                }
            });
            if any {
                empty[r] = true;
                changed = true;
            }
        }
        if !changed {
            return empty;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_tokens(_: &str) -> Option<u32> {
        None
    }

    fn rules(text: &str) -> Result<Rules, GrammarError> {
        parse(text, "root", &no_tokens)
    }

    #[test]
    fn literals_classes_and_escapes() {
        let r = rules("root ::= \"a\\x41\\n\" [^b-d\\]] .\n").expect("parses");
        assert_eq!(
            r.elems,
            vec![
                El::Char('a' as u32),
                El::Char(0x41),
                El::Char('\n' as u32),
                El::CharNot('b' as u32),
                El::Upper('d' as u32),
                El::CharAlt(']' as u32),
                El::Any,
                El::End
            ]
        );
    }

    #[test]
    fn repetitions_become_rules() {
        let r = rules("root ::= \"a\"{2,3}").expect("parses");
        // root: a a ref(opt) ; opt ::= a |
        assert_eq!(r.starts.len(), 2);
        assert_eq!(&r.elems[..4], &[El::Char(97), El::Char(97), El::Ref(1), El::End]);
        assert_eq!(&r.elems[4..], &[El::Char(97), El::Alt, El::End]);
    }

    #[test]
    fn errors_are_typed() {
        for bad in [
            "root ::= foo",
            "root ::= \"a",
            "root ::= [a",
            "root ::= (\"a\"",
            "root ::= \"\\q\"",
            "root = \"a\"",
            "other ::= \"a\"",
            "root ::= root \"a\"",
            "root ::= x \"a\"\nx ::= y\ny ::= | root",
            "root ::= \"a\"{3,2}",
            "root ::= \"a\"{2001}",
            "root ::= (\"a\"{0,100}){0,100}",
            "root ::= *",
            "root ::= <[12]",
            "root ::= <tok>",
        ] {
            assert!(rules(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn many_large_repetitions_are_refused_before_they_are_built() {
        let g = format!("root ::= {}", "\"a\"{0,2000} ".repeat(600));
        let e = rules(&g).map(|r| r.starts.len()).unwrap_err();
        assert!(e.to_string().contains("expand past"), "{e}");
        // A long literal repeated: its characters count.
        let g = format!("root ::= \"{}\"{{0,2000}}", "a".repeat(1000));
        assert!(rules(&g).is_err());
        // What a JSON schema writes is far below.
        let g = "root ::= [0-9]{1,16} (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,16})? [ \t]{0,20}";
        assert!(rules(g).is_ok());
    }

    #[test]
    fn left_recursion_is_refused_where_it_would_grow_the_stacks() {
        // As llama.cpp: through a rule with an empty alternative, or directly.
        assert!(rules("root ::= e root \"a\" | \"b\"\ne ::= \"\" | \"c\"").is_err());
        assert!(rules("root ::= root | \"a\"").is_err());
        // Through a rule that matches nothing only through others: llama.cpp takes it and
        // never finishes expanding it.
        assert!(rules("root ::= n root \"z\" | \"b\"\nn ::= m\nm ::= \"\" | \"c\"").is_err());
        // Taken: right recursion, and `(x)+` with an `x` that may match nothing (its
        // recursion is the alternative's last item: the stack comes back the same).
        assert!(rules("root ::= \"a\" root | \"b\"").is_ok());
        assert!(rules("root ::= (\"a\"?)+ \"b\"").is_ok());
        assert!(rules("root ::= (x x | y*)+\nx ::= | \"a\"\ny ::= \"b\"").is_ok());
    }

    #[test]
    fn the_deepest_nesting_allowed_parses_on_a_quarter_of_the_parse_stack() {
        let depth = crate::llama::MAX_GRAMMAR_NESTING;
        let g = format!("root ::= {}\"a\"{}", "(".repeat(depth), ")".repeat(depth));
        let handle = std::thread::Builder::new()
            .stack_size(crate::grammar::PARSE_STACK / 4)
            .spawn(move || rules(&g).map(|r| r.starts.len()))
            .expect("thread");
        assert_eq!(handle.join().expect("no overflow").expect("parses"), depth + 1);
    }

    #[test]
    fn a_long_chain_of_rules_parses_without_recursion_trouble() {
        let mut g = String::from("root ::= r0\n");
        for i in 0..10_000 {
            g.push_str(&format!("r{i} ::= r{} \"x\" | \"y\"\n", i + 1));
        }
        g.push_str("r10000 ::= \"z\"\n");
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || rules(&g).map(|r| r.starts.len()))
            .expect("thread");
        assert_eq!(handle.join().expect("no overflow").expect("parses"), 10_002);
    }
}
