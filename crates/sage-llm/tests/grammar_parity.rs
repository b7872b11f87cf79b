#![allow(clippy::unwrap_used)]

//! SAGE's grammar matcher against llama.cpp's, on the default model's whole vocabulary (262,144
//! tokens): for each grammar, a walk of seeded random steps, and at every step the set of tokens
//! each allows must be the same. The grammars cover what constrained generation sends (JSON
//! schemas through llama.cpp's converter, the JSON grammar, tool-call shapes) and every part of
//! the language: classes, negated and with ranges, `.`, escapes, repetitions, token references,
//! multi-byte characters split across tokens, ambiguity small enough for llama.cpp.

mod common;

use std::sync::{Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use sage_llm::grammar::{Grammar, Vocab};

struct Loaded {
    model: LlamaModel,
    vocab: Arc<Vocab>,
}

fn backend() -> &'static LlamaBackend {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let mut b = LlamaBackend::init().unwrap();
        b.void_logs();
        b
    })
}

fn load(path: &std::path::Path) -> Loaded {
    let model = LlamaModel::load_from_file(backend(), path, &LlamaModelParams::default()).unwrap();
    let vocab = Arc::new(sage_llm::llama::grammar_vocab(&model));
    Loaded { model, vocab }
}

/// The default model.
fn loaded() -> &'static Loaded {
    static MODEL: OnceLock<Loaded> = OnceLock::new();
    MODEL.get_or_init(|| load(&common::model_path()))
}

/// The tokens ours allows next, judged as a draw over the whole vocabulary judges them (one
/// walk over the tokens sorted by text).
fn ours_all(g: &mut Grammar, n: u32) -> Result<Vec<u32>, sage_llm::grammar::GrammarError> {
    let mut logits = vec![0.0f32; n as usize];
    let mut judged: Vec<(u32, &mut f32)> =
        logits.iter_mut().enumerate().map(|(i, l)| (i as u32, l)).collect();
    g.apply(&mut judged, None)?;
    Ok((0..n).filter(|&t| logits[t as usize].is_finite()).collect())
}

/// The tokens llama.cpp's grammar allows next.
fn theirs(sampler: &mut LlamaSampler, n: u32) -> Vec<u32> {
    let data = (0..n).map(|t| LlamaTokenData::new(LlamaToken(t as i32), 0.0, 0.0));
    let mut cands = LlamaTokenDataArray::from_iter(data, false);
    cands.apply_sampler(sampler);
    cands.data.iter().filter(|c| c.logit().is_finite()).map(|c| c.id().0 as u32).collect()
}

fn text(m: &LlamaModel, t: u32) -> String {
    String::from_utf8_lossy(&m.vocab().token_to_piece(LlamaToken(t as i32), true, None)).into_owned()
}

/// Walk `steps` random steps (seed `seed`) through `grammar` with both matchers, comparing the
/// allowed sets at each.
fn walk(grammar: &str, steps: usize, seed: u64) {
    walk_on(loaded(), grammar, steps, seed, false)
}

/// [`walk`] on model `l`'s vocabulary; a `generated` grammar may end as too ambiguous for ours
/// (then llama.cpp is not asked: it would take minutes).
fn walk_on(l: &Loaded, grammar: &str, steps: usize, seed: u64, generated: bool) {
    let n = l.vocab.len() as u32;
    let token = |s: &str| match l.model.vocab().tokenize(s.as_bytes(), false, true)[..] {
        [t] => Some(t.0 as u32),
        _ => None,
    };
    let mut ours = Grammar::new(grammar, "root", Arc::clone(&l.vocab), &token).unwrap();
    let mut theirs_g = LlamaSampler::grammar(&l.model, grammar, "root").unwrap();
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut path = String::new();
    for step in 0..steps {
        let got = ours.filter(0..n);
        let Ok(all) = ours_all(&mut ours, n) else {
            assert!(generated, "{grammar:?}: only generated grammars may be too ambiguous");
            return;
        };
        assert_eq!(all, got, "{grammar:?} after {path:?}: the walk over the sorted vocabulary");
        let want = theirs(&mut theirs_g, n);
        if want != got {
            let only = |a: &[u32], b: &[u32]| -> Vec<String> {
                a.iter().filter(|t| b.binary_search(t).is_err()).take(8).map(|&t| text(&l.model, t)).collect()
            };
            panic!(
                "{grammar:?} after {path:?} (step {step}): {} allowed by llama.cpp, {} by ours; only llama.cpp: {:?}; only ours: {:?}",
                want.len(),
                got.len(),
                only(&want, &got),
                only(&got, &want)
            );
        }
        // Go on with a token neither would end on, when there is one.
        let go: Vec<u32> =
            got.iter().copied().filter(|&t| !l.model.vocab().is_eog(LlamaToken(t as i32))).collect();
        if go.is_empty() {
            return;
        }
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let t = go[(rng >> 33) as usize % go.len()];
        path.push_str(&text(&l.model, t));
        ours.accept(t).unwrap();
        theirs_g.accept(LlamaToken(t as i32));
    }
}

const JSON: &str = r#"root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
"#;

#[test]
fn the_json_grammar_allows_what_llama_cpp_allows() {
    for seed in 0..3 {
        walk(JSON, 24, seed);
    }
}

#[test]
fn json_schemas_allow_what_llama_cpp_allows() {
    let schemas = [
        serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}, "required": ["name"]}),
        serde_json::json!({"type": "array", "items": {"enum": ["red", "green", "blue"]}, "minItems": 1, "maxItems": 3}),
        serde_json::json!({"type": "object", "properties": {"tool": {"const": "get_weather"}, "arguments": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"enum": ["c", "f"]}}}}, "required": ["tool", "arguments"]}),
        serde_json::json!({"oneOf": [{"type": "number"}, {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"}, {"type": "boolean"}]}),
    ];
    for (i, s) in schemas.iter().enumerate() {
        let g = sage_llm::llama::schema_to_grammar(s).unwrap();
        walk(&g, 20, i as u64);
    }
}

const LANGUAGE: [&str; 14] = [
    r#"root ::= "The answer is " [0-9]+ "." "#,
    "root ::= [a-zA-Z_] [a-zA-Z0-9_]{0,7} \"(\" args? \")\"\nargs ::= [0-9]+ (\", \" [0-9]+)*",
    r#"root ::= [^\n]{1,20} "\n" "#,
    r#"root ::= . . . "!""#,
    r#"root ::= ("é" | "ñ" | "中文" | [\u00C0-\u00FF]+ | "😀") "x""#,
    r#"root ::= [^aeiou\u0080-\U0010FFFF]+"#,
    r#"root ::= "\x41\u0042\t" [\-\]]* "\\""#,
    "root ::= (\"yes\" | \"no\" | \"y\" | \"yes sir\")+ # ambiguous, a little\n",
    r#"root ::= ("a" | "ab" | "b")* "c""#,
    r#"root ::= "<start_of_turn>" | <start_of_turn> "x" | !<[2]> "y""#,
    r#"root ::= <[106]> [a-z]+"#,
    "root ::= item{2,4}\nitem ::= \"- \" [a-z]+ \"\\n\"",
    "root ::= \"a\"{3} \"b\"{0,2} \"c\"{2,}",
    "root ::= ( \"(\" root \")\" )* | \"x\"",
];

#[test]
fn every_part_of_the_language_allows_what_llama_cpp_allows() {
    let grammars = LANGUAGE;
    for (i, g) in grammars.iter().enumerate() {
        walk(g, 16, 10 + i as u64);
    }
}

/// The grammar that held llama.cpp's engine for minutes: here every step takes milliseconds
/// (its sets are compared with llama.cpp's on the first step only, which it takes seconds for).
#[test]
fn an_ambiguous_grammar_is_quick_and_right() {
    let g = format!("root ::= {}\"b\"", "\"a\"? ".repeat(40));
    walk(&g, 1, 0);
    let big = format!("root ::= {}\"b\"", "\"a\"? ".repeat(200));
    let l = loaded();
    let mut ours = Grammar::new(&big, "root", Arc::clone(&l.vocab), &|_| None).unwrap();
    let a = l.model.vocab().tokenize(b"a", false, false)[0].0 as u32;
    for _ in 0..150 {
        let allowed = ours.filter(0..l.vocab.len() as u32);
        assert!(allowed.contains(&a));
        ours.accept(a).unwrap();
    }
}

/// A seeded random stream (64-bit LCG, high bits).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize % n.max(1)
    }
}

/// A random grammar of `root` and up to three more rules: literals (ASCII, escapes, two- to
/// four-byte characters), classes (negated, with ranges), `.`, references to any rule (so some
/// are left-recursive or undefined and must be refused by both), groups and every repetition.
fn random_grammar(r: &mut Rng) -> String {
    const PIECES: [&str; 14] =
        ["a", "b", "ab", " ", "x y", "\\n", "\\\"", "é", "中", "😀", "{", "}", "1", "\\x41"];
    const CLASSES: [&str; 9] = [
        "[a-z]",
        "[^a-z]",
        "[0-9]",
        "[ab]",
        "[^\\n\"]",
        "[\\u00e0-\\u00ff]",
        "[^a]",
        "[a-c x-z]",
        "[\\-\\]]",
    ];
    let rules = 1 + r.below(4);
    let name = |i: usize| if i == 0 { "root".to_string() } else { format!("r{i}") };
    fn item(
        r: &mut Rng,
        (rules, now): (usize, usize),
        depth: usize,
        name: &dyn Fn(usize) -> String,
    ) -> String {
        let base = match r.below(if depth > 1 { 4 } else { 5 }) {
            0 | 1 => format!("\"{}\"", PIECES[r.below(PIECES.len())]),
            2 => CLASSES[r.below(CLASSES.len())].to_string(),
            3 => match r.below(40) {
                0..=4 => ".".to_string(),
                5 => name(rules),
                // Mostly a later rule: a grammar where every rule may refer to every other is
                // mostly left-recursive.
                6..=14 => name(r.below(rules)),
                _ if now + 1 < rules => name(now + 1 + r.below(rules - now - 1)),
                _ => format!("\"{}\"", PIECES[r.below(PIECES.len())]),
            },
            _ => {
                let alts: Vec<String> = (0..1 + r.below(3))
                    .map(|_| {
                        (0..1 + r.below(3))
                            .map(|_| item(r, (rules, now), depth + 1, name))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                format!("({})", alts.join(" | "))
            }
        };
        let rep = ["", "", "", "*", "+", "?", "{2}", "{0,3}", "{1,}"][r.below(9)];
        base + rep
    }
    let mut g = String::new();
    for i in 0..rules {
        let mut alts: Vec<String> = (0..1 + r.below(3))
            .map(|_| (0..r.below(4)).map(|_| item(r, (rules, i), 0, &name)).collect::<Vec<_>>().join(" "))
            .collect();
        // An empty last alternative would run on into the next line (GBNF reads on after `|`
        // and `::=`): written as `""`.
        if let Some(last) = alts.last_mut().filter(|a| a.is_empty()) {
            *last = "\"\"".into();
        }
        g.push_str(&format!("{} ::= {}\n", name(i), alts.join(" | ")));
    }
    g
}

/// Both matchers on random grammars: refused by both or by neither, and where taken, the same
/// tokens allowed at every step of a random walk, judged over every token of at most two bytes
/// and 2,000 others of up to four bytes. Seeds 0-299 (what CI runs) were run while the matcher
/// was written; held-out seeds, run once at the end (`GRAMMAR_SEEDS_FROM`, `GRAMMAR_SEEDS_TO`),
/// are in docs/BENCHMARKS.md.
#[test]
fn generated_grammars_allow_what_llama_cpp_allows() {
    let l = loaded();
    let n = l.vocab.len() as u32;
    let mut r = Rng(7);
    let len = |t: u32| l.model.vocab().token_to_piece(LlamaToken(t as i32), true, None).len();
    let mut judged: Vec<u32> = (0..n).filter(|&t| len(t) <= 2).collect();
    // And 2,000 more of up to 4 bytes: llama.cpp's work on an ambiguous grammar grows as a
    // power of a token's length.
    judged.extend((0..20_000).map(|_| r.below(n as usize) as u32).filter(|&t| len(t) <= 4).take(2000));
    judged.sort_unstable();
    judged.dedup();
    let (mut taken, mut refused, mut grown, mut overflowed, mut steps) = (0, 0, 0, 0, 0);
    let seeds =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    for seed in seeds("GRAMMAR_SEEDS_FROM", 0)..seeds("GRAMMAR_SEEDS_TO", 300) {
        let mut r = Rng(seed);
        let g = random_grammar(&mut r);
        if std::env::var_os("GRAMMAR_SHOW_SEEDS").is_some() {
            eprintln!("seed {seed}: {g}");
        }
        let ours = Grammar::new(&g, "root", Arc::clone(&l.vocab), &|_| None);
        // A left recursion llama.cpp does not look for: it would take the grammar and never
        // finish expanding it (a hang), so it is not asked.
        if ours.as_ref().err().is_some_and(|e| e.to_string().contains("without end")) {
            grown += 1;
            continue;
        }
        let theirs_g = LlamaSampler::grammar(&l.model, &g, "root");
        assert_eq!(ours.is_ok(), theirs_g.is_ok(), "seed {seed}: {g}\nours: {:?}", ours.err());
        let (Ok(mut ours), Ok(mut theirs_g)) = (ours, theirs_g) else {
            refused += 1;
            continue;
        };
        taken += 1;
        for step in 0..8 {
            let got = ours.filter(judged.iter().copied());
            // The whole vocabulary may find more ways of matching than the tokens judged here:
            // too ambiguous is then a typed error, as below.
            let Ok(all) = ours_all(&mut ours, n) else {
                overflowed += 1;
                break;
            };
            assert_eq!(
                all.iter().filter(|t| judged.binary_search(t).is_ok()).copied().collect::<Vec<_>>(),
                got,
                "seed {seed} step {step}: the walk, {g}"
            );
            // Where ours has more ways of matching than it keeps (exponentially many different
            // stacks), it has ended with a typed error; llama.cpp would take minutes and
            // gigabytes, so it is not asked.
            if ours.within_bounds().is_err() {
                overflowed += 1;
                break;
            }
            let data = judged.iter().map(|&t| LlamaTokenData::new(LlamaToken(t as i32), 0.0, 0.0));
            let mut cands = LlamaTokenDataArray::from_iter(data, false);
            cands.apply_sampler(&mut theirs_g);
            let want: Vec<u32> =
                cands.data.iter().filter(|c| c.logit().is_finite()).map(|c| c.id().0 as u32).collect();
            assert_eq!(want, got, "seed {seed} step {step}: {g}");
            steps += 1;
            let go: Vec<u32> =
                got.into_iter().filter(|&t| !l.model.vocab().is_eog(LlamaToken(t as i32))).collect();
            if go.is_empty() {
                break;
            }
            let t = go[r.below(go.len())];
            ours.accept(t).unwrap();
            theirs_g.accept(LlamaToken(t as i32));
        }
    }
    assert!(
        taken >= refused && refused >= 10,
        "{taken} taken, {refused} refused: the generator should make both"
    );
    eprintln!(
        "{taken} grammars taken, {refused} refused by both, {grown} refused by ours alone (growing left recursion), {overflowed} ended as too ambiguous, {steps} steps compared"
    );
}

/// Two more vocabularies, of the tiny fixtures imported from their HF folders: a byte-level BPE
/// (Llama 3's kind, the seed's Nemotron Nano's: a character of two or more bytes is often split
/// across tokens) and a SentencePiece one with byte fallback (Mistral's). The JSON grammar, the
/// grammars of the language and 40 generated ones, every step compared.
#[test]
fn other_vocabularies_allow_what_llama_cpp_allows() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["llama_tied_mqa", "mistral_spm"] {
        let out = dir.path().join(format!("{name}.gguf"));
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny").join(name);
        sage_llm::import::import(&folder, &out).unwrap();
        let l = load(&out);
        for seed in 0..3 {
            walk_on(&l, JSON, 24, seed, false);
        }
        for (i, g) in LANGUAGE.iter().enumerate() {
            if !g.contains("<start_of_turn>") && !g.contains("<[106]>") {
                walk_on(&l, g, 16, 10 + i as u64, false);
            }
        }
        let mut taken = 0;
        let seeds = |name: &str, default: u64| {
            std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
        };
        for seed in seeds("GRAMMAR_SEEDS_FROM", 0)..seeds("GRAMMAR_SEEDS_TO", 40) {
            let g = random_grammar(&mut Rng(seed));
            let token = |_: &str| None;
            if Grammar::new(&g, "root", Arc::clone(&l.vocab), &token).is_ok() {
                walk_on(&l, &g, 8, seed, true);
                taken += 1;
            }
        }
        assert!(taken >= 20, "{name}: {taken} generated grammars taken");
        eprintln!("{name}: {} tokens, {taken} generated grammars walked", l.vocab.len());
    }
}
