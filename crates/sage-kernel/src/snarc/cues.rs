//! The text rule: what in a message makes it worth attention, whatever the source.
//!
//! A message's evidence is the strongest of its cues (each in `[0, 1]`). Hazard, trouble and
//! routine words are compared by stem (`lexicon::stem`: "tipped" is "tip"); the lists are in
//! `lexicon.rs`.
//!
//! | cue | evidence | how it is read |
//! |---|---|---|
//! | hazard | 1.0 | a hazard word (fire, smoke, injured, intruder, leak, collision, sparking, fainted...) not negated ("no smoke") and not naming equipment ("smoke detectors", "fire alarm panel"; "Fire! Exit now" is a fire), or an emergency code ("code blue", "code red", "code silver"...), or someone who "can't breathe" |
//! | trouble | 0.7 | no emergency on its own: a trouble word (outage, slippery, damaged, broken, blocked, jammed, loud, smell, fault, failed, wrong, unattended...) read the same way, or a phrase ("stopped responding", "won't close", "out of order", "the lights went out" (not "the newsletter went out"), "has been tripping", "offline", "we're out of", "spiked", "has no water pressure", "at 98% load", "ran over the", "hasn't eaten since yesterday", "looks different", "the door was forced", an animal out of its place ("the cows are out on the road", "the dog got out"; not "out in the pasture"), "all over the floor", "the milk went bad", "covered in", "rolled into", "tipped over", "slipped", "can't get up", "has stopped", "hasn't checked in", "can't find", a negated modal before what equipment does ("wont lock", "will not seal") or before "come" or "go" and a direction ("won't come down"), what must be ready spent ("the fire extinguisher is empty", "AED pads expired"), "climbed over", "on the floor", "was left" or "found open" not negated; a trouble word in a set phrase, "lost and found", is none; "blocked", not "cell block": a word of [`BARE_NOUNS`] in its bare form is a noun), or something that "stopped" doing something or "stopped" at a clause's end; never raises CRISIS |
//! | hazard in a routine frame | 0.25 | the same with a routine marker (drill, scheduled, test, self-test, inspection, maintenance, replaced, resolved, false alarm...), unless "not a drill", "not a test" undoes it; a routine that "failed" is trouble (0.7) |
//! | urgency | 0.7 | an urgency word (urgent, emergency, immediately, asap, caution...), haste ("right away", "at once"), a warning ("heads up", "watch your step", "keep clear"), or shouting with `!` |
//! | question | 0.6 | ends with `?`, or starts with a question word or an auxiliary (what, what's, where, can, is...), or asks without a question's form ("I wonder", "any idea", "do you know", "let me know") |
//! | instruction | 0.6 | a clause starts with an imperative verb (stop, go, bring, check, stay, don't, do not...; not an order that is a noun too with a number or a state after it, "dock 3 vacant", or a metric and its value, "pick rate 140", or with what happened to it, "store opened on time", "return shelf emptied", "report sent"; not a label's value, "weather: clear skies"), or with a verb that orders only with an object, a direction or a manner after it ("locate the cart", "proceed to waypoint C"; not "map updated"), possibly after "please", greetings or an address and a comma ("Hey robot, ..."), unless the message is a status report; or "please", "you must", "you need to", "I need you to", "we need you", "everybody out", "make sure", someone's wish passed on ("the boss wants the report by 5") anywhere |
//! | unknown entity | 0.5 | a name or code the source never used before: a capitalised word not at the start (or at the start before a verb that follows names: "Svetlana starts tonight", "Okafor called"), or letters and digits together (B7, R2-D2) outside a status report, or "new" before a word the source never used ("the new drone from agrivision arrived"; not "no new messages") |
//! | something happening | 0.5 | outside a status report: a person ("someone", "a worker", "grandma", "the baby"; not negated), a change going on ("is swelling", "keeps beeping"; not a steady state such as "is charging"), a trend ("and climbing", "pressure rising"; not after an article), something perceived ("spotted", "heard", "felt", "came from", "went off"; not negated), or something there ("there's a fox", "theres a kid", "there might be a rat"; not "there are no") |
//! | news | 0.5 | set by the scorer, which knows the source: after its first 10 messages, a message at least three quarters in words the source has not used lately (numbers aside), neither a report nor in a routine frame nor a line heard lately from another source |
//!
//! A status report has a report word (passed, complete, done, ok, updated, checked, returned...;
//! not in a condition such as "when you're done") and no `!` or `?`.
//!
//! The attention threshold in WAKE is 0.35: a hazard, an urgent message, a question, an
//! instruction and a new name are attended; routine status lines and hazard words in a routine
//! frame are not. Routine repeats habituate through the weighted part (their surprise and
//! novelty fall); a name is new only until the source has used it.

use std::collections::HashSet;

use super::lexicon::*;
use super::orders::*;
use super::patterns::*;
use crate::text::{is_stopword, normalize_word};

/// Evidence of a hazard.
pub const HAZARD: f64 = 1.0;
/// Trouble that is no emergency on its own ("the network is down", "oil on the floor").
pub const TROUBLE: f64 = 0.7;
/// A hazard word in a routine frame (a drill, a scheduled test, a resolved alarm).
pub const ROUTINE_HAZARD: f64 = 0.25;
/// Urgency without a hazard.
pub const URGENCY: f64 = 0.7;
/// A direct question.
pub const QUESTION: f64 = 0.6;
/// An instruction.
pub const INSTRUCTION: f64 = 0.6;
/// A name or code never seen from this source.
pub const ENTITY: f64 = 0.5;
/// Something happening: a person in the message, an ongoing change, something that is there.
pub const EVENT: f64 = 0.5;
/// News: a source whose routine is known says something in words it has not used lately.
pub const NEWS: f64 = 0.5;

/// The cues of one message.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cues {
    /// Hazard evidence: [`HAZARD`], [`TROUBLE`], [`ROUTINE_HAZARD`] or 0.
    pub hazard: f64,
    /// Urgency without a hazard: [`URGENCY`] or 0.
    pub urgency: f64,
    /// A direct question.
    pub question: bool,
    /// An instruction.
    pub instruction: bool,
    /// A name or code this source never used.
    pub entity: bool,
    /// Something happening: a person, an ongoing change, something that is there.
    pub event: bool,
    /// News: mostly words the source has not used lately (set by the caller, who knows the
    /// source's history: `SnarcScorer`).
    pub news: bool,
    /// The message reports status ("patrol complete", "checkpoint 3 passed").
    pub report: bool,
    /// The message has a routine frame (a drill, a schedule, a test, maintenance).
    pub routine: bool,
}

impl Cues {
    /// The evidence: the strongest cue.
    pub fn evidence(&self) -> f64 {
        [
            self.hazard,
            self.urgency,
            if self.question { QUESTION } else { 0.0 },
            if self.instruction { INSTRUCTION } else { 0.0 },
            if self.entity { ENTITY } else { 0.0 },
            if self.event { EVENT } else { 0.0 },
            if self.news { NEWS } else { 0.0 },
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }

    /// How intense the message is (its arousal): hazard or urgency.
    pub fn intensity(&self) -> f64 {
        self.hazard.max(self.urgency)
    }
}

/// Whether word `i` of `words` is a trouble word's form that names the work done: "lane oiling
/// finished" is not oil on the floor; "reel 41 wound" (or "wound up") is from "wind", not an
/// injury.
fn names_the_work(words: &[String], i: usize) -> bool {
    in_list(WORK_FORMS, &words[i])
        || words[i] == "wound"
            && (i.checked_sub(1).is_some_and(|j| words[j].chars().all(|c| c.is_ascii_digit()))
                || words.get(i + 1).is_some_and(|w| in_list(WOUND_UP, w)))
}

/// Whether word `i` of `words` is a "last" that dates what happened rather than a routine:
/// "tested last week" dates a routine and "no alarms in the last hour" frames a status; "came
/// loose during the last flight" (or "the last shift change") dates what happened, and
/// "drifting since the storm last night" since when.
fn dates_an_event(words: &[String], i: usize) -> bool {
    let span = i >= 2
        && in_list(SPAN_OPENERS, &words[i - 2])
        && words.get(i + 1).is_some_and(|next| in_list(TIME_UNITS, next));
    let since = words[i.saturating_sub(4)..i].iter().any(|w| w == "since");
    words[i] == "last" && (since || i > 0 && words[i - 1] == "the" && !span)
}

/// Whether the message (its normalized `words`) says a light, the power or a signal went out
/// ("lights went out in sector 4", "the pilot light has gone out"): a word of [`GOES_OUT`]
/// within three words before "went/gone/goes out". What else "went out" was sent.
fn went_out(words: &[String]) -> bool {
    words.windows(2).enumerate().any(|(i, p)| {
        matches!(p[0].as_str(), "went" | "gone" | "goes")
            && p[1] == "out"
            && words[i.saturating_sub(3)..i].iter().any(|w| in_list(GOES_OUT, w))
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says something was forced
/// open: "the generator room door was forced", "forced open", "forced entry"; not "the
/// shuttle was forced to wait".
fn forced(raw: &[&str], words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let next = words.get(i + 1).map(String::as_str);
        let ends = i + 1 == raw.len() || raw[i].ends_with(['.', '!', ',', ';']);
        words[i] == "forced"
            && (matches!(next, Some("open" | "entry"))
                || ends && i > 0 && matches!(words[i - 1].as_str(), "was" | "were" | "been" | "is"))
    })
}

/// Whether the message (its normalized `words`) says something ran over someone or something:
/// "ran", "run" or "runs" before "over" and a determiner ([`RAN_OVER`]).
fn ran_over(words: &[String]) -> bool {
    words.windows(3).any(|p| {
        matches!(p[0].as_str(), "ran" | "run" | "runs") && p[1] == "over" && in_list(RAN_OVER, &p[2])
    })
}

/// Whether the message (its normalized `words`) says an animal is out of its place: a word of
/// [`ANIMALS`] and, within four words after it, a phrase of [`ANIMAL_OUT`] ("the cows are out
/// on the road", "the dog got out"), where an "out" is not followed by where it belongs ("the
/// cows are out in the pasture", "out to graze", "out for a walk").
fn animal_out(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let after = &words[i + 1..(i + 5).min(words.len())];
        in_list(ANIMALS, &words[i])
            && ANIMAL_OUT.iter().any(|p| {
                let p: Vec<&str> = p.split(' ').collect();
                after.windows(p.len()).enumerate().any(|(j, w)| {
                    let next = after.get(j + p.len()).or_else(|| words.get(i + 1 + j + p.len()));
                    w.iter().zip(&p).all(|(a, b)| a == b)
                        && !next
                            .is_some_and(|n| matches!(n.as_str(), "in" | "to" | "for" | "of" | "with" | "at"))
                })
            })
    })
}

/// Whether the message (its normalized `words`) says what must be ready is spent: a word of
/// [`READY_KIT`] and, within five words after it, one of [`SPENT`] ("the fire extinguisher in
/// the workshop is empty"; not "water tanks topped up").
fn kit_spent(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        in_list(READY_KIT, &words[i])
            && words[i + 1..(i + 6).min(words.len())].iter().any(|w| in_list(SPENT, w))
    })
}

/// Whether the message (its normalized `words`) says something is all over a place ("water
/// all over the floor") or went bad ("all the milk went bad"): [`ALL_OVER`], [`SPOILED`].
fn spread_or_spoiled(words: &[String]) -> bool {
    let all_over = (0..words.len().saturating_sub(2)).any(|i| {
        let place = if in_list(RAN_OVER, &words[i + 2]) { words.get(i + 3) } else { words.get(i + 2) };
        words[i] == "all" && words[i + 1] == "over" && place.is_some_and(|w| in_list(ALL_OVER, w))
    });
    let spoiled = words
        .windows(2)
        .any(|p| matches!(p[0].as_str(), "went" | "gone" | "going" | "goes") && in_list(SPOILED, &p[1]));
    all_over || spoiled
}

/// Whether the message (its normalized `words`) says something has not happened for a while
/// that should have: a negated perfect ("hasn't", "has not", "haven't") and, within six words
/// after it, "since", "for" or "in" and a time word ([`LAPSE`]): "the cat hasn't eaten since
/// yesterday"; not "we haven't had any alarms for a week" (an absence of "any" or "no" thing).
fn lapse(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let negated =
            matches!(words[i].as_str(), "hasn't" | "hasnt" | "haven't" | "havent" | "hasn’t" | "haven’t")
                || words[i] == "not" && i > 0 && matches!(words[i - 1].as_str(), "has" | "have");
        let after = &words[i + 1..(i + 7).min(words.len())];
        negated
            && after.iter().any(|w| matches!(w.as_str(), "since" | "for" | "in"))
            && after.iter().any(|w| in_list(LAPSE, w))
            && !after.iter().any(|w| w == "any" || w == "no")
    })
}

/// Whether the message (its normalized `words`) says a place or a device is without what it
/// runs on: "has no", "have no", "there's no" or "there is no", then within two words a word of
/// [`UTILITIES`] ("the eyewash station has no water pressure"); not "no water leaks found".
fn lacks_a_utility(words: &[String]) -> bool {
    words.windows(2).enumerate().any(|(i, p)| {
        let lacks =
            p[1] == "no" && matches!(p[0].as_str(), "has" | "have" | "there's" | "theres" | "is" | "got");
        let there = p[0] != "is" || i > 0 && words[i - 1] == "there";
        lacks && there && words.iter().skip(i + 2).take(2).any(|w| in_list(UTILITIES, w))
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says something is near its
/// limit: a share of 90% or more ("98%", "95 percent") with a word of [`CAPACITY`] within two
/// words of it ("PDU B at 98% load", "disk 97% full"); not "battery at 98 percent".
fn near_capacity(raw: &[&str], words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let share = raw[i].contains('%') || words.get(i + 1).is_some_and(|n| n == "percent" || n == "pct");
        let high = words[i].parse::<f64>().is_ok_and(|v| (90.0..=100.0).contains(&v));
        let near = words[i.saturating_sub(2)..(i + 4).min(words.len())].iter().any(|w| in_list(CAPACITY, w));
        share && high && near
    })
}

/// Whether the message (its normalized `words`) says something will not do what it is for:
/// a negated modal, with or without its apostrophe ("wont", "will not"), then within two words
/// a verb of what equipment does ("door 9 wont lock", "the freezer door doesn't shut anymore",
/// "the lid will not fully seal"), or "come" or "go" and a direction of [`MOVES`] ("the loading
/// dock door won't come down"; not "he won't come back until 5").
fn will_not_work(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let negated = in_list(NEGATED_MODALS, &words[i])
            || words[i] == "not" && i > 0 && in_list(MODALS, &words[i - 1]);
        let after = &words[i + 1..(i + 4).min(words.len())];
        let moves = after.windows(2).any(|p| matches!(p[0].as_str(), "come" | "go") && in_list(MOVES, &p[1]));
        negated && (after.iter().take(2).any(|w| in_list(FUNCTIONS, w)) || moves)
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says a count fell short:
/// "the count is two ampoules short" (a count within three words before a "short" that ends the
/// clause), "short of gloves", "short by 4", "came up short"; not "a short break at 10".
fn falls_short(raw: &[&str], words: &[String]) -> bool {
    let count =
        |w: &String| in_list(COUNT_WORDS, w) || (!w.is_empty() && w.chars().all(|c| c.is_ascii_digit()));
    words.iter().enumerate().any(|(i, w)| {
        let ends = i + 1 == raw.len() || raw[i].ends_with(['.', '!', ',', ';', '?']);
        w == "short"
            && (words.get(i + 1).is_some_and(|n| n == "of" || n == "by")
                || i > 0 && words[i - 1] == "up"
                || ends && words[i.saturating_sub(3)..i].iter().any(count))
    })
}

/// Whether the message (its `words`, their `stems`, its text in `lower` case) has a routine
/// frame (a drill, a schedule, a test, maintenance): "self-test" is a test; "this is not a
/// drill" is no routine.
fn routine_frame(words: &[String], stems: &[String], lower: &str) -> bool {
    let marked = (0..stems.len()).any(|i| {
        let w = &stems[i];
        !dates_an_event(words, i) && (ROUTINES.has(w) || w.split('-').any(|part| ROUTINES.has(&stem(part))))
    });
    (marked || lower.contains("all clear") || lower.contains("false alarm"))
        && !NOT_ROUTINE.iter().any(|p| lower.contains(p))
}

/// Per word of the message: whether it is no hazard or trouble word whatever its stem says:
/// equipment named after a hazard ("smoke detectors", "gas meter", "fire alarm panel"; "Fire!
/// Exit now" is no fire exit: the comma or the mark ends the name), or a word of a set phrase
/// that names no trouble ("lost and found").
fn masked(raw: &[&str], words: &[String], stems: &[String]) -> Vec<bool> {
    let mut masked = vec![false; words.len()];
    for i in (0..words.len().saturating_sub(1)).rev() {
        let next = &stems[i + 1];
        let hazardous = HAZARDS.has(next) || TROUBLES.has(next);
        masked[i] = raw[i].ends_with(|c: char| c.is_alphanumeric())
            && (EQUIPMENTS.has(next) || (hazardous && masked[i + 1]));
    }
    for phrase in IDIOMS {
        let here = |i: usize| {
            words.get(i..i + phrase.len()).is_some_and(|w| w.iter().zip(*phrase).all(|(a, b)| a == b))
        };
        for at in (0..words.len()).filter(|&i| here(i)) {
            masked[at..at + phrase.len()].fill(true);
        }
    }
    masked
}

/// Whether the message (its `raw` words, their normalized `words`, its text in `lower` case)
/// says trouble in more than a word: something that stopped ("the fan stopped spinning",
/// "ventilation fan 4 stopped."), a count short, what will not work, a light gone out, a
/// missing utility, something run over or forced, a change of look, a share near its limit,
/// or a phrase of the lists ([`WHOLE_WORD_TROUBLE`], [`TROUBLE_PHRASES`], [`NEGATABLE_TROUBLE`]).
fn trouble_in_patterns(raw: &[&str], words: &[String], lower: &str) -> bool {
    let stopped =
        words.windows(2).any(|p| p[0] == "stopped" && p[1].len() > 4 && p[1].ends_with("ing"))
            || raw.iter().zip(words).enumerate().any(|(i, (r, w))| {
                w == "stopped" && (i + 1 == raw.len() || r.ends_with(['.', '!', ',', ';']))
            });
    stopped
        || falls_short(raw, words)
        || will_not_work(words)
        || went_out(words)
        || lacks_a_utility(words)
        || ran_over(words)
        || animal_out(words)
        || spread_or_spoiled(words)
        || kit_spent(words)
        || forced(raw, words)
        || LOOKS_WRONG.iter().any(|p| says(lower, p))
        || near_capacity(raw, words)
        || WHOLE_WORD_TROUBLE.iter().any(|p| says(lower, p) && phrase_not_negated(lower, p))
        || TROUBLE_PHRASES.iter().any(|p| lower.contains(p))
        || NEGATABLE_TROUBLE.iter().any(|p| phrase_not_negated(lower, p))
}

/// Read the cues of `text`; `known` says whether this source used a word recently, `urgency`
/// holds the urgency words (lower case; `SnarcConfig::urgency_words`).
pub fn read(text: &str, known: &dyn Fn(&str) -> bool, urgency: &HashSet<String>) -> Cues {
    let raw: Vec<&str> = text.split_whitespace().collect();
    let words: Vec<String> = raw.iter().map(|w| normalize_word(w)).collect();
    let mut cues = Cues::default();

    let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
    let negated = |i: usize| (i.saturating_sub(2)..i).any(|j| in_list(NEGATIONS, &words[j]));
    let lower = text.to_lowercase().replace('’', "'");
    let masked = masked(&raw, &words, &stems);
    // "blocked" is trouble, "cell block D" a place (no hazard word is one of these nouns).
    let said = |set: &Stems| {
        (0..words.len()).any(|i| {
            set.has(&stems[i])
                && !negated(i)
                && !masked[i]
                && !in_list(BARE_NOUNS, &words[i])
                && !names_the_work(&words, i)
        })
    };
    // "Code blue in ward 5": an emergency called by its code.
    let code = words.windows(2).any(|p| p[0] == "code" && in_list(EMERGENCY_CODES, &p[1]));
    let hazard = said(&HAZARDS)
        || code
        || HAZARD_PHRASES.iter().any(|p| says(&lower, p) && phrase_not_negated(&lower, p));
    let lapsed = lapse(&words);
    let trouble = said(&TROUBLES) || lapsed || trouble_in_patterns(&raw, &words, &lower);

    let routine = routine_frame(&words, &stems, &lower);
    // A drill or a test that failed is trouble, whatever the hazard it names; so is a lapse,
    // whose time word ("since yesterday") would frame a routine, and an extinguisher found
    // empty (extinguishers frame a routine: "fire extinguishers inspected").
    let failed = FAILED.iter().any(|p| says(&lower, p) && phrase_not_negated(&lower, p))
        || lapsed
        || kit_spent(&words);
    if hazard {
        cues.hazard = match (routine, failed) {
            (false, _) => HAZARD,
            (true, true) => TROUBLE,
            (true, false) => ROUTINE_HAZARD,
        };
    } else if trouble {
        cues.hazard = if routine && !failed { ROUTINE_HAZARD } else { TROUBLE };
    }

    let shouting = text.contains('!')
        && raw.iter().any(|w| {
            let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
            letters.len() >= 3 && letters.iter().all(|c| c.is_uppercase())
        });
    // Whole words: "remind the crew" does not say "mind the", nor "that once" "at once".
    let warning = WARNING_PHRASES.iter().chain(HASTE_PHRASES).any(|p| says(&lower, p));
    if !routine && (words.iter().any(|w| urgency.contains(w)) || shouting || warning) {
        cues.urgency = URGENCY;
    }

    let first = skip_address(&raw, &words);
    // "what's" asks as "what" does; "don't" orders.
    let opening = words.get(first).map(|w| w.replace('’', "'")).unwrap_or_default();
    let opening_stem = opening.split('\'').next().unwrap_or_default();
    // "whats", "wheres": typed without the apostrophe.
    let asks =
        |w: &str| in_list(QUESTION_STARTS, w) || w.strip_suffix('s').is_some_and(|b| in_list(WH_WORDS, b));
    cues.question = text.trim_end().ends_with('?')
        || (asks(opening_stem) && raw.len() > 2)
        || QUESTION_PHRASES.iter().any(|p| lower.contains(p));
    let report = !text.contains(['!', '?'])
        && ((0..words.len()).any(|i| {
            // "when you're done" is a condition of an order, not a report.
            let condition = (i.saturating_sub(3)..i).any(|j| in_list(CONDITIONS, &words[j]));
            (in_list(REPORT_WORDS, &words[i]) || in_list(MORE_REPORT, &words[i])) && !condition
        }) || lower.contains("nothing to report"));
    let orders = opens_with_order(&raw, &words, first);
    cues.instruction = orders && !report
        || words.iter().any(|w| in_list(PLEASE, w))
        || INSTRUCTION_PHRASES.iter().any(|p| lower.contains(p));

    let mut sentence_start = true;
    for (i, (w, n)) in raw.iter().zip(&words).enumerate() {
        let core: String = w.chars().filter(|c| c.is_alphanumeric() || *c == '-').collect();
        let has_digit = core.chars().any(|c| c.is_ascii_digit());
        let has_letter = core.chars().any(|c| c.is_alphabetic());
        let capitalised = core.chars().next().is_some_and(char::is_uppercase)
            && core.chars().skip(1).any(char::is_lowercase);
        // Days and months are capitalised but name nothing new.
        let calendar = in_list(ROUTINE_WORDS, n) || in_list(MONTHS, n);
        // A code in a status report ("waypoint WP-17 reached") is a sequence number, not news.
        let code = has_digit && has_letter && !report;
        // A sentence's first word is a name where a verb that follows names does
        // ("Svetlana starts tonight"), unless it is a stopword or a question word.
        let named = sentence_start
            && words.get(i + 1).is_some_and(|next| in_list(AFTER_A_NAME, next))
            && !is_stopword(n)
            && !in_list(WH_WORDS, n);
        let name = ((capitalised && (!sentence_start || named)) || code) && !calendar;
        // "the new drone from agrivision arrived": something new, in words the source has not
        // used (lower case, as a transcript writes it); not "no new messages".
        let new_thing = n == "new"
            && !negated(i)
            && words[i + 1..(i + 3).min(words.len())]
                .iter()
                .any(|w| !w.is_empty() && !is_stopword(w) && !known(w));
        if name && !n.is_empty() && !known(n) || new_thing {
            cues.entity = true;
        }
        // "Mrs. Oduya": an honorific's full stop does not end the sentence.
        sentence_start = w.ends_with(['.', '!', '?', ':']) && !in_list(HONORIFICS, n);
    }
    cues.event = !report && happening(&words, &stems, &lower);
    cues.report = report;
    cues.routine = routine;
    cues
}

/// Whether a message says something is happening: a person is in it ("someone is hiding"), a
/// change is going on ("the battery pack is swelling"; not a steady state such as "is
/// charging"), or something is there ("there's a fox in the warehouse"; not "there are no...").
fn happening(words: &[String], stems: &[String], lower: &str) -> bool {
    let negated = |i: usize| (i.saturating_sub(2)..i).any(|j| in_list(NEGATIONS, &words[j]));
    let person = (0..words.len()).any(|i| in_list(PEOPLE, &words[i]) && !negated(i));
    let perceived = (0..words.len()).any(|i| EVENTS.has(&stems[i]) && !negated(i))
        || EVENT_PHRASES.iter().any(|p| lower.contains(p));
    let be = |w: &str| matches!(w, "is" | "are" | "was" | "were" | "it's" | "keeps" | "keep");
    let changing =
        |w: &str| w.len() > 4 && w.ends_with("ing") && !in_list(STEADY, w) && !in_list(ROUTINE_MOTION, w);
    // "the battery is swelling", and "crane 2 hook swinging in the wind": a thing, then what it
    // is doing (not after a preposition or an article: "in the morning", "a warning").
    // "a deer is running toward the pad": a steady state with where it goes is a motion.
    let heading = |i: usize| words.get(i + 2).is_some_and(|w| in_list(HEADINGS, w));
    let ongoing = words.windows(2).enumerate().any(|(i, p)| {
        (be(&p[0]) && p[1].len() > 4 && p[1].ends_with("ing") && (!in_list(STEADY, &p[1]) || heading(i)))
            || (changing(&p[1])
                && !p[0].is_empty()
                && !in_list(FUNCTION_WORDS, &p[0])
                && !p[0].ends_with("ing"))
    });
    let there = THERE_PHRASES.iter().any(|p| lower.contains(p));
    let trend = (0..words.len()).any(|i| {
        in_list(TRENDS, &words[i]) && (i == 0 || !matches!(words[i - 1].as_str(), "the" | "a" | "an"))
    });
    person || ongoing || there || perceived || trend
}

/// Whether `phrase` is in `lower` as whole words (no letter or digit just before or after it).
fn says(lower: &str, phrase: &str) -> bool {
    lower.match_indices(phrase).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Whether `phrase` is in `lower` without a negation among the four words before it ("nothing
/// on the floor", "no boxes left on the floor").
fn phrase_not_negated(lower: &str, phrase: &str) -> bool {
    lower.match_indices(phrase).any(|(at, _)| {
        let before: Vec<String> = lower[..at].split_whitespace().map(normalize_word).collect();
        !before.iter().rev().take(4).any(|w| in_list(NEGATIONS, w))
    })
}

/// Whether a clause of the message opens with an order (`raw`: its words as written, `words`:
/// normalised, `first`: the first word after a greeting or an address): an imperative (not a
/// noun-verb that a number, a state or what happened to it follows, "dock 3 vacant", "store
/// opened on time"; not a state after a label's colon, "weather: clear"), "do not", or a verb
/// that orders only with an object or a direction after it.
fn opens_with_order(raw: &[&str], words: &[String], first: usize) -> bool {
    // An order may open any clause: "Oil on the floor near machine 4, avoid it".
    let clause_starts = std::iter::once(first).chain(
        raw.iter().enumerate().filter(|(_, w)| w.ends_with([',', ';', '.', '!', ':'])).map(|(i, _)| i + 1),
    );
    clause_starts.filter(|&i| i < words.len()).any(|i| {
        let w = words[i].replace('’', "'");
        // "restock shelf 14", "reposition the arm": an order again, object or not.
        let again = w.strip_prefix("re").is_some_and(|rest| {
            !in_list(IMPERATIVES, &w)
                && !in_list(VERBS, &w)
                && (in_list(IMPERATIVES, rest) || in_list(VERBS, rest))
        });
        let ends_clause = raw[i].ends_with(['.', '!', ',', ';', ':']);
        // "dock 3 vacant", "charge 80 percent": a noun with a number or a state after it;
        // "store opened on time", "dock cleared": a noun, and what happened to it.
        // "return shelf emptied": the noun of a compound, then what happened to it (`at`: where
        // what happened is).
        let happened_at = |at: usize| {
            words
                .get(at)
                .is_some_and(|n| n.len() > 4 && n.ends_with("ed") || in_list(IRREGULAR_PARTICIPLES, n))
                && words
                    .get(at + 1)
                    .is_none_or(|m| m.chars().all(|c| c.is_ascii_digit()) || in_list(AFTER_DONE, m))
        };
        let compound = words.get(i + 1).is_some_and(|n| {
            n.chars().all(char::is_alphabetic) && !in_list(OBJECT_OPENERS, n) && !in_list(FUNCTION_WORDS, n)
        }) && !raw.get(i + 1).is_some_and(|r| r.ends_with([',', ';', '.', '!', ':']))
            && happened_at(i + 2);
        let number = |n: &String| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.');
        // "pick rate 140 per hour": a metric's label and its value.
        let metric =
            words.get(i + 1).is_some_and(|n| in_list(METRICS, n)) && words.get(i + 2).is_some_and(number);
        let named = in_list(NOUN_VERBS, &w)
            && !ends_clause
            && (metric
                || compound
                || words
                    .get(i + 1)
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()) || in_list(STATES, n))
                || happened_at(i + 1));
        // "weather: clear skies", "path: clear": a label's value, not an order.
        let value = i > 0 && raw[i - 1].ends_with(':') && in_list(STATES, &w);
        // A verb that is also a noun orders with an object or a direction after it.
        let object = ends_clause || words.get(i + 1).is_none_or(|n| in_list(OBJECT_OPENERS, n));
        !value
            && (((in_list(IMPERATIVES, &w) || again) && !named)
                || (w == "do" && words.get(i + 1).is_some_and(|n| n == "not"))
                || (in_list(VERBS, &w) && object))
    })
}

fn in_list(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// Index of the first word after a vocative ("Robot, ...", "Hey robot, ...", "Sage: ...") or
/// "please": an opening of up to three words ending with a comma or a colon whose first word is
/// not itself an order ("Stop, ..."), or greetings and fillers.
fn skip_address(raw: &[&str], words: &[String]) -> usize {
    let mut i = 0;
    let comma = raw.iter().take(3).position(|w| w.ends_with(',') || w.ends_with(':'));
    if let Some(c) = comma.filter(|&c| c + 1 < raw.len()) {
        if !in_list(IMPERATIVES, &words[0]) {
            i = c + 1;
        }
    }
    while words.get(i).is_some_and(|w| in_list(GREETINGS, w)) && i + 1 < words.len() {
        i += 1;
    }
    if words.get(i).is_some_and(|w| in_list(PLEASE, w)) {
        i += 1;
    }
    i
}

/// Words of a message as the rule compares them (for repeats and the known vocabulary).
pub fn content(text: &str) -> HashSet<String> {
    text.split_whitespace().map(normalize_word).filter(|w| !w.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snarc::lexicon::stem;

    fn urgency() -> HashSet<String> {
        crate::snarc::SnarcConfig::default().urgency_words.into_iter().collect()
    }

    fn cues(text: &str, known: &dyn Fn(&str) -> bool) -> Cues {
        read(text, known, &urgency())
    }

    fn ev(text: &str) -> f64 {
        cues(text, &|_| false).evidence()
    }

    #[test]
    fn hazards_questions_and_instructions_are_evidence() {
        assert_eq!(ev("URGENT: What is your battery level? Please report now, there is a fire!"), HAZARD);
        assert_eq!(ev("Someone fell near dock 3 and is not moving"), HAZARD);
        assert_eq!(ev("intruder at the north gate"), HAZARD);
        assert_eq!(ev("where are you right now"), QUESTION);
        assert_eq!(ev("bring the toolbox to the loading bay"), INSTRUCTION);
        assert_eq!(ev("Robot, go back to the charger"), INSTRUCTION);
        assert_eq!(ev("hurry up with the delivery"), URGENCY);
    }

    #[test]
    fn paraphrases_read_as_their_cue() {
        assert_eq!(ev("What's the temperature in the server room"), QUESTION);
        assert_eq!(ev("Hey robot, move aside, the stretcher is coming through"), INSTRUCTION);
        assert_eq!(ev("Don't touch the red button"), INSTRUCTION);
        assert_eq!(ev("do not enter the cold store"), INSTRUCTION);
        assert_eq!(ev("I need you to come to bay 4"), INSTRUCTION);
        assert_eq!(ev("Robot 5 has stopped responding"), TROUBLE);
        assert_eq!(ev("A man without a badge is in the lab"), TROUBLE);
        assert_eq!(ev("The robot arm is sparking"), HAZARD);
        assert_eq!(ev("Power outage in the east wing"), TROUBLE);
        // Something happening, without a hazard word.
        assert_eq!(ev("I think someone is hiding behind the racks"), EVENT);
        assert_eq!(ev("The battery pack on unit 2 is smouldering"), HAZARD);
        assert_eq!(ev("The belt on unit 2 is slipping"), EVENT);
        assert_eq!(ev("There's a fox in the warehouse"), EVENT);
        assert!(cues("Mrs. Oduya needs an escort", &|_| false).entity);
        assert_eq!(ev("The generator won't start"), TROUBLE);
        // Trouble is attended but is no hazard: an input that raises CRISIS on hazards ignores it.
        assert!(cues("the network is down", &|_| false).hazard < HAZARD);
        // Steady states, absences and reports are not events.
        assert_eq!(ev("unit 4 is charging"), 0.0);
        assert_eq!(ev("there are no open tickets"), 0.0);
        assert_eq!(ev("nobody in zone B"), 0.0);
        assert_eq!(ev("crew finished cleaning aisle 8, visitor badge logged"), 0.0);
        // Negated or in a routine frame, the new words are not hazards either.
        assert_eq!(ev("no damaged pallets found"), 0.0);
        assert_eq!(ev("wet floor drill planned for monday"), ROUTINE_HAZARD);
    }

    #[test]
    fn routine_frames_and_negations_are_not_hazards() {
        assert_eq!(ev("the fire in bay 3 was a drill"), ROUTINE_HAZARD);
        assert_eq!(ev("the alarm sounded during the weekly test"), ROUTINE_HAZARD);
        // Equipment named after a hazard is no hazard: "Fire! Exit now" still is.
        assert_eq!(ev("fire drill scheduled for friday"), 0.0);
        assert_eq!(ev("smoke detectors replaced in hall B"), 0.0);
        assert_eq!(ev("gas meter reading logged"), 0.0);
        assert_eq!(ev("fire alarm panel inspected"), 0.0);
        assert_eq!(ev("fire alarm sounding in hall 2"), HAZARD);
        assert_eq!(ev("Fire! Exit now"), HAZARD);
        assert_eq!(ev("The fire door on level 2 won't close"), TROUBLE);
        assert_eq!(ev("no smoke detected, status nominal"), 0.0);
        assert_eq!(ev("battery status nominal, all systems normal"), 0.0);
    }

    #[test]
    fn a_status_report_that_begins_like_an_order_does_not_instruct() {
        assert_eq!(ev("patrol checkpoint passed, nothing to report"), 0.0);
        assert_eq!(ev("scan complete, no anomalies"), 0.0);
        assert_eq!(ev("check of bay 2 completed"), 0.0);
        // Orders stay orders, and asking or shouting is never a report.
        assert_eq!(ev("patrol the north corridor"), INSTRUCTION);
        assert_eq!(ev("scan the shelves again"), INSTRUCTION);
        assert_eq!(ev("check whether the door is ok?"), QUESTION);
        assert_eq!(ev("please confirm the scan is complete"), INSTRUCTION);
        assert_eq!(ev("the crates are in aisle 4, take them to bay 2"), INSTRUCTION);
        // Nor does a report's sequence code name something new; a name in it still does.
        assert_eq!(ev("waypoint WP-17 reached, status ok"), 0.0);
        assert!(cues("visitor Patel arrived at reception", &|_| false).entity);
        assert!(cues("the new robot Unit-K4 joins the fleet today", &|_| false).entity);
    }

    #[test]
    fn inflections_reach_their_stem_and_nouns_order_only_with_an_object() {
        assert_eq!(stem("tipped"), stem("tip"));
        assert_eq!(stem("spilled"), stem("spill"));
        assert_eq!(stem("leaking"), stem("leaks"));
        assert_eq!(stem("injuries"), stem("injury"));
        assert_eq!(ev("Forklift tipped over in aisle 9"), TROUBLE);
        assert_eq!(ev("Cables exposed near workstation 6"), TROUBLE);
        assert_eq!(ev("Heads up: pallet jack rolling down the ramp"), URGENCY);
        assert_eq!(ev("A loud bang came from the generator room"), TROUBLE);
        assert_eq!(ev("Unknown drone spotted over the yard"), TROUBLE);
        assert_eq!(ev("a drone was spotted over the yard"), EVENT);
        assert_eq!(ev("no motion detected in zone 3"), 0.0);
        assert_eq!(ev("Water on the floor by the sinks"), TROUBLE);
        assert_eq!(ev("nothing on the floor in aisle 2"), 0.0);
        // A verb that is also a noun orders only with an object or a direction.
        assert_eq!(ev("Proceed to waypoint C and hold position"), INSTRUCTION);
        assert_eq!(ev("Locate the cart and report back"), INSTRUCTION);
        assert_eq!(ev("Retreat!"), INSTRUCTION);
        assert_eq!(ev("map updated"), 0.0);
        assert_eq!(ev("count 12 finished"), 0.0);
        // A report word in a condition does not make an order a report.
        assert_eq!(ev("Return the cart to the shed when you're done"), INSTRUCTION);
        assert_eq!(ev("inventory sync done"), 0.0);
        // A noun with a number or a state after it is a status line; an order stays one.
        assert_eq!(ev("dock 3 vacant"), 0.0);
        assert_eq!(ev("Dock at bay 3 now"), INSTRUCTION);
        assert_eq!(ev("Stand clear of the doors"), INSTRUCTION);
        assert_eq!(ev("alarm system armed for the night"), 0.0);
        // Something that was going on stopped; something there, maybe; a thing gone wrong.
        assert_eq!(ev("The ventilation fan stopped spinning"), TROUBLE);
        assert_eq!(ev("There might be a rat in the pantry"), EVENT);
        assert_eq!(ev("Lights went out in sector 4"), TROUBLE);
        // As operators type: "pls", "whats", "restock" without an article, a thing and what it
        // is doing without "is"; a steady state is still none.
        assert_eq!(ev("pls check dock 4"), INSTRUCTION);
        assert_eq!(ev("whats the eta on the next truck"), QUESTION);
        assert_eq!(ev("restock shelf 14 before noon"), INSTRUCTION);
        assert_eq!(ev("crane 2 hook swinging in the wind"), EVENT);
        assert_eq!(ev("temperature holding at 19 degrees"), 0.0);
        assert_eq!(ev("robot 3 moving to dock 2"), 0.0);
        assert_eq!(ev("reboot complete"), 0.0);
    }

    #[test]
    fn a_new_name_is_evidence_until_known() {
        assert!(cues("visitor Patel at reception", &|_| false).entity);
        assert!(!cues("visitor Patel at reception", &|w| w == "patel").entity);
        assert!(cues("badge scanned by unit B7", &|_| false).entity);
        assert!(!cues("badge scanned by unit B7", &|w| w == "b7").entity);
        // Sentence-initial capitals, days and months are not names.
        assert!(!cues("Battery at eighty percent.", &|_| false).entity);
        assert!(!cues("the audit moves to Friday, 3 March", &|_| false).entity);
    }

    #[test]
    fn a_noun_and_what_happened_to_it_or_a_labels_value_is_no_order() {
        // Found by held-11 of scenarios/make_messages.py: "store opened on time" and "weather:
        // clear skies" were attended as orders every time they came round.
        for line in [
            "store opened on time",
            "dock cleared at 9",
            "Check completed",
            "weather: clear skies",
            "path: clear",
        ] {
            assert!(!cues(line, &|_| false).instruction, "{line}");
        }
        for order in [
            "Clear blocked exits",
            "Store the boxes in bay 2",
            "Check damaged pallets in aisle 3",
            "Reminder: check the filters",
            "Clear the walkway",
        ] {
            assert!(cues(order, &|_| false).instruction, "{order}");
        }
    }

    #[test]
    fn an_emergency_code_is_a_hazard_and_a_vehicle_off_its_way_is_trouble() {
        assert_eq!(ev("Code blue in ward 5"), HAZARD);
        assert_eq!(ev("code red on level 2"), HAZARD);
        assert!(ev("code red drill at 3 pm") < QUESTION, "a drill");
        assert!(ev("barcode blue labels printed") < QUESTION);
        assert!(ev("Tractor rolled into the irrigation ditch") >= TROUBLE);
        assert!(ev("The pallet jack tipped over in aisle 4") >= TROUBLE);
    }

    #[test]
    fn a_fall_a_stop_a_trend_and_an_indirect_question_are_read() {
        // Each of these was ignored by the rule before (held-12's misses).
        assert!(ev("Grandma slipped in the bathroom and cannot get up") >= TROUBLE);
        assert!(ev("Ventilation fan 4 has stopped") >= TROUBLE);
        assert!(ev("conveyor 2 stopped.") >= TROUBLE);
        assert!(ev("Unattended bag left at gate B22") >= TROUBLE);
        assert_eq!(ev("Walk-in cooler is at 12 degrees and climbing"), EVENT);
        assert_eq!(ev("I wonder whether the dishwasher finished"), QUESTION);
        assert_eq!(ev("any idea where the cart went"), QUESTION);
        assert_eq!(ev("the baby is crying in the nursery"), EVENT);
        // Equipment named after a hazard, a trend named as a thing, a stop that is not the end.
        assert_eq!(ev("fume hood airflow within limits"), 0.0);
        assert_eq!(ev("gas monitors calibrated"), 0.0);
        assert_eq!(ev("photos of the rising tide archived"), 0.0);
        assert!(ev("robot stopped at waypoint 4 as planned") < QUESTION);
        // A metric's label is no order (held-13); an order with a number still is.
        assert_eq!(ev("pick rate 140 per hour"), 0.0);
        assert_eq!(ev("scan count 52"), 0.0);
        assert_eq!(ev("pick box 14 for the next order"), INSTRUCTION);
    }

    #[test]
    fn a_name_before_its_verb_a_need_to_know_and_a_shake_felt_are_read() {
        // held-23 (session 49): missed, each at 0.21-0.25.
        assert!(cues("Svetlana starts on the night shift tonight", &|_| false).entity);
        assert!(!cues("Svetlana starts on the night shift tonight", &|w| w == "svetlana").entity);
        assert!(cues("Okafor called about the order", &|_| false).entity);
        assert!(!cues("Who called?", &|_| false).entity, "a question word is no name");
        assert!(!cues("Shift starts at 6", &|w| w == "shift").entity, "a word the source used");
        assert!(ev("Need to know if the delivery truck left already") >= QUESTION);
        assert!(ev("Everyone in the canteen felt the floor shake") >= EVENT);
        assert!(ev("Nobody felt anything during the test") < QUESTION, "negated");
    }

    #[test]
    fn what_will_not_work_is_trouble_and_a_wish_passed_on_is_an_order() {
        // held-24 (session 49): missed at 0.28 and 0.25.
        assert!(ev("door 9 wont lock") >= TROUBLE);
        assert!(ev("The lab fridge door will not fully seal") >= TROUBLE);
        assert!(ev("The freezer door doesn't shut anymore") >= TROUBLE);
        assert!(ev("We won't need the van today") < QUESTION);
        assert!(ev("boss want the report by 5") >= INSTRUCTION);
        assert!(ev("The captain wants us on deck") >= INSTRUCTION);
        // Its routine line "report sent" was an order at every repeat.
        assert!(ev("report sent") < QUESTION);
        assert!(ev("Report your position") >= INSTRUCTION);
    }

    #[test]
    fn tripping_offline_out_of_stock_and_lights_that_went_out_are_trouble() {
        // held-25 (session 49): missed at 0.22-0.27, and "FYI the newsletter went out" was
        // trouble at every sighting.
        assert!(ev("Just so you know, the compressor in unit 3 has been tripping all morning") >= TROUBLE);
        assert!(ev("FYI the north gate camera has been offline since 6") >= TROUBLE);
        assert!(ev("Looks like we're out of nitrile gloves in every size") >= TROUBLE);
        assert!(ev("Lights went out in sector 4") >= TROUBLE);
        assert!(ev("FYI the newsletter went out") < QUESTION);
        assert!(ev("No cameras offline on the last check") < QUESTION, "negated");
        assert!(ev("Floor stripping finished in hall 2") < QUESTION, "not a whole word");
    }

    #[test]
    fn a_test_that_failed_and_a_sudden_spike_are_trouble() {
        // held-26 (session 49): missed at 0.30 and 0.18.
        assert!(ev("Emergency lighting test failed in block C") >= TROUBLE);
        assert!(ev("Fire alarm test failed on level 3") >= TROUBLE);
        assert!(ev("Emergency lighting test passed in block C") < QUESTION);
        assert!(ev("Fire drill scheduled for Friday") < QUESTION);
        assert!(ev("Network latency spiked to 900 ms") >= TROUBLE);
    }

    #[test]
    fn a_share_near_its_limit_a_missing_utility_and_people_in_danger_are_read() {
        // held-27 (session 49): missed at 0.22-0.30, and "Crash cart checked and sealed" was a
        // hazard at every sighting.
        assert!(ev("PDU B in rack 14 at 98% load") >= TROUBLE);
        assert!(ev("WARN: disk 97% full on /var/log") >= TROUBLE);
        assert!(ev("Battery at 98 percent") < QUESTION);
        assert!(ev("Disk 52% used") < QUESTION);
        assert!(ev("Eyewash station in lab 2 has no water pressure") >= TROUBLE);
        assert!(ev("There's no power in block C") >= TROUBLE);
        assert!(ev("No water leaks found on the round") < QUESTION);
        assert!(ev("Scaffold tag is red on tower B but guys are up there") >= EVENT);
        assert!(ev("Crash cart checked and sealed") < QUESTION);
    }

    #[test]
    fn a_creature_run_over_a_lapse_a_change_of_look_and_a_breath_are_read() {
        // held-28 (session 49): missed at 0.22-0.30.
        assert!(ev("You ran over the cat's tail") >= TROUBLE);
        assert!(ev("The meeting ran over by ten minutes") < QUESTION);
        assert!(ev("The cat hasn't eaten since yesterday") >= TROUBLE);
        let words = |t: &str| t.split_whitespace().map(normalize_word).collect::<Vec<_>>();
        assert!(!lapse(&words("We haven't had any alarms for a week")));
        assert!(ev("The pills in the blue box look different today") >= TROUBLE);
        assert_eq!(ev("I can't breathe properly"), HAZARD);
    }

    #[test]
    fn a_needle_found_and_a_door_forced_are_read() {
        // held-29 (session 49): missed at 0.24 and 0.25.
        assert_eq!(ev("Housekeeping found a needle in room 127"), HAZARD);
        assert!(ev("The generator room door was forced") >= TROUBLE);
        assert!(ev("Door sensor 12 reports forced open") >= TROUBLE);
        assert!(ev("The shuttle was forced to wait at the gate") < QUESTION);
    }

    #[test]
    fn an_empty_extinguisher_is_trouble() {
        // held-32 (session 50), a polar station and a space habitat: missed at 0.25.
        assert!(ev("the fire extinguisher in the workshop is empty") >= TROUBLE);
        assert!(ev("AED pads expired on deck 2") >= TROUBLE);
        assert!(ev("water tanks topped up") < ENTITY);
        assert!(ev("dishwasher emptied") < ENTITY);
    }

    #[test]
    fn a_door_that_will_not_come_down_is_trouble() {
        // held-31 (session 50), a team's chat: missed at 0.27.
        assert!(ev("the loading dock door won't come down") >= TROUBLE);
        assert!(ev("the shutter will not go up") >= TROUBLE);
        assert!(ev("he won't come back until 5") < ENTITY);
    }

    #[test]
    fn a_transcript_s_animals_out_spills_spoils_and_new_things_are_read() {
        // held-30 (session 50), speech transcribed in lower case without punctuation: missed at
        // 0.23, 0.25, 0.24 and 0.30.
        assert!(ev("uh the cows are out on the road") >= TROUBLE);
        assert!(ev("so the dog got out") >= TROUBLE);
        assert!(ev("the cows are out in the pasture") < ENTITY);
        assert!(ev("the dog is out for a walk") < ENTITY);
        assert!(ev("theres water all over the floor in the server room") >= TROUBLE);
        assert!(ev("glass all over the road by gate 2") >= TROUBLE);
        assert!(ev("the fridge is warm all the milk went bad") >= TROUBLE);
        assert_eq!(ev("theres a fox in the barn"), EVENT);
        let new = |text: &str, known: &dyn Fn(&str) -> bool| cues(text, known).entity;
        assert!(new("the new drone from agrivision arrived today", &|_| false));
        // Said before, the drone is no longer new; nor is "no new messages".
        assert!(!new("the new drone from agrivision arrived today", &|w| w != "new"));
        assert!(!new("no new messages", &|_| false));
        assert!(!new("nothing new", &|_| false));
    }

    #[test]
    fn a_count_that_fell_short_is_trouble_and_a_short_break_is_not() {
        // held-20 (session 48), run once before this rule: the first was missed.
        assert!(ev("The controlled drugs count is two ampoules short") >= TROUBLE);
        assert!(ev("we are one driver short.") >= TROUBLE);
        assert!(ev("Ward 3 is short of gloves") >= TROUBLE);
        assert!(ev("Stock take came up short") >= TROUBLE);
        assert!(ev("Shortage of saline in theatre 2") >= TROUBLE);
        assert!(ev("Short break at 10") < QUESTION);
        assert!(ev("Kept the safety briefing short") < QUESTION);
    }

    #[test]
    fn a_place_named_like_trouble_is_none_and_an_absence_or_an_open_latch_is_trouble() {
        // held-17 (session 45): "Cell block count matches roster" was trouble at every repeat,
        // and these two were missed.
        assert_eq!(ev("Cell block count matches roster"), 0.0);
        assert!(ev("exit 3 blocked by pallets") >= TROUBLE);
        assert!(ev("The zebra enclosure gate was left unlatched") >= TROUBLE);
        assert!(ev("The lion keeper hasn't checked in for an hour") >= TROUBLE);
        assert!(ev("nothing was left on the dock") < QUESTION, "negated");
        // held-21 (session 49): missed.
        assert!(ev("The gate to the road was found open after lunch") >= TROUBLE);
        assert!(ev("Fire door propped open with a wedge") >= TROUBLE);
        assert!(ev("No doors found open on the night round") < QUESTION, "negated");
        assert!(ev("Gates open at 9") < QUESTION);
        assert!(ev("floor drain cleaned") < QUESTION);
        assert!(ev("sink draining slowly in the staff kitchen") >= TROUBLE);
    }

    #[test]
    fn a_desk_a_compound_noun_and_a_harmless_adjective_are_routine_and_haste_or_a_real_alarm_is_not() {
        // held-18 (session 46): these three routine lines were attended at every repeat, and
        // the next three were missed.
        assert!(ev("Lost and found: one umbrella handed in") < QUESTION);
        assert!(ev("Return shelf emptied") < QUESTION);
        assert!(ev("Chemical delivery received and logged") < QUESTION);
        assert!(ev("We need you at the sorting belt right away") >= INSTRUCTION);
        assert!(ev("A fan climbed over the barrier onto the pitch") >= TROUBLE);
        assert!(ev("The evacuation drill is now a real evacuation, everybody out") >= INSTRUCTION);
        // Their neighbours keep what they were.
        assert!(ev("Lost the signal from drone 2") >= TROUBLE);
        assert!(ev("Return the cart to bay 4") >= INSTRUCTION);
        assert!(ev("check point cleared at 9") < QUESTION);
        assert!(ev("Chemical spill in aisle 3") >= HAZARD);
        assert!(ev("Fire in hall 2, this is not a drill") >= HAZARD);
        assert!(ev("Fire drill in hall 2 at noon") < QUESTION);
        assert_eq!(ev("Battery swap for unit 4 at once"), URGENCY, "haste alone");
        // The drone check (scenarios/make_drone.py, session 46) missed these two.
        assert!(ev("The battery cover on drone 2 came loose") >= TROUBLE);
        assert!(ev("A deer is running toward the landing pad") >= EVENT);
        assert!(ev("pump 2 is running at 80 percent") < EVENT, "a steady state");
        assert_eq!(ev("Battery swap for unit 4 that once stood in bay 2"), 0.0, "whole words");
        assert!(ev("Remind the day shift about the rota") < URGENCY, "an order, not 'mind the'");
    }

    #[test]
    fn the_last_flight_dates_what_happened_and_last_week_a_routine() {
        // The drone check (session 46) missed the first in all 20 of its seeds.
        assert!(ev("Battery cover on drone 2 came loose during the last flight") >= TROUBLE);
        assert!(ev("Smoke detector in hall 2 tested last week") < QUESTION);
        assert!(ev("Fire door in hall 2 inspected during the last round") < QUESTION);
        assert!(ev("No H2S detected on the last round") < QUESTION);
        let routine = |t: &str| cues(t, &|_| false).routine;
        assert!(routine("no alarms in the last hour"), "a status's time frame");
        assert!(!routine("Battery cover on drone 2 came loose during the last flight"));
        // Message set held-19 (session 47), run once, missed these two and attended the two
        // routine lines at every repeat.
        assert!(ev("The forklift battery started hissing during the last shift change") >= TROUBLE);
        assert!(ev("Boat 7 has been drifting loose since the storm last night") >= TROUBLE);
        assert!(ev("Reel 41 wound") < QUESTION, "wound from 'wind'");
        assert!(ev("Lane oiling finished") < QUESTION, "the work, not oil on the floor");
        // Their neighbours keep what they were.
        assert!(ev("Operator has a deep wound on his arm") >= TROUBLE);
        assert!(ev("Oil on the floor by lane 3") >= TROUBLE);
        assert!(routine("no incidents over the last shift"), "a span of time");
    }
}
