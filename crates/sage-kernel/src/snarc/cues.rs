//! The text rule: what in a message makes it worth attention, whatever the source.
//!
//! A message's evidence is the strongest of its cues (each in `[0, 1]`). Hazard, trouble and
//! routine words are compared by stem (`lexicon::stem`: "tipped" is "tip"); the lists are in
//! `lexicon.rs`.
//!
//! | cue | evidence | how it is read |
//! |---|---|---|
//! | hazard | 1.0 | a hazard word (fire, smoke, injured, intruder, leak, collision, sparking, fainted, jackknifed, lightning, threatening, unexploded...) not negated ("no smoke", "we haven't had any alarms") and not naming equipment ("smoke detectors", "fire alarm panel", "fire pit", "gas station"; "Fire! Exit now" is a fire), or an emergency code ("code blue", "code red", "code silver"...), or someone who "can't breathe" or "passed out" (at a clause's end or before where: not "passed out flyers") |
//! | trouble | 0.7 | no emergency on its own: a trouble word (outage, slippery, damaged, broken, blocked, jammed, loud, smell, fault, failed, wrong, unattended, declined, flagged, pothole, incident, loss, sheen...) read the same way, or, as whole words, "problem", "issue" or "trouble" ("a problem with his regulator"; not "no issues"), or a phrase ("stopped responding", "no answer from", "won't close", "the scanners are all down", "showing no picture", "water coming through the ceiling", "hanging off", pests ("rats"), "arrived warm", "running late", "jumped to", "kicked the robot over" (a force and an "over" that ends the clause or says where; not "pushed the cart over to bay 4"), "out of order", "the lights went out" (not "the newsletter went out"), "has been tripping", "offline", "we're out of", "spiked", "has no water pressure", "at 98% load", "ran over the", "hasn't eaten since yesterday" or "since 2am" or "for four months", "no contact with the field camp since 0400", "signed for but never arrived" (not "never mind"), "looks different", "the door was forced" or "has been kicked in" (not "the heating kicked in"), "we've run out of" (not "we haven't run out of"), an animal out of its place ("the cows are out on the road", "the dog got out"; not "out in the pasture"), "all over the floor" or "all over the 3rd green" (not "all over the news"), "the milk went bad", "covered in", "rolled into", "tipped over", "slipped", "can't get up", "has stopped", "hasn't checked in", "hasn't turned up", "got past the gate", "got in through the loading bay", "clipped the racking", "not signed off", "two cars have been keyed", "the sound system cut out mid-service" (not "cut out the shapes"), "can't find", a negated modal before what equipment does ("wont lock", "will not seal", "won't light") or before "come" or "go" and a direction ("won't come down"), what must be ready spent ("the fire extinguisher is empty", "AED pads expired"), "climbed over", "on the floor", "was left" or "found open" not negated; since session 56 also a blow ("one of the horses kicked the stable hand"; not "the heating kicked in"), a patient's line pulled out, something in an eye, "has a big hole", fragments, a level moved by a length ("dropped a foot overnight"), over a barrier ("thrown over the wall"), brakes failing ("brakes faded"), tyres let down, "over the limit", "keeps freezing", lights that "cut at 8", a fridge past 8 °C or a freezer past -12 °C (not "-18"), a belonging taken ("a bike was taken from the rack"; not "the car was taken to the garage"), a way forced ("the door's been jimmied"), something foul running into water, a screen "gone blank", an arrangement failed ("double-booked", "only paid for one"; it also undoes a routine frame), "but only 9" of what was asked, water "spraying" from a sprinkler or pipe; since session 57 also food gone off ("is mouldy"), a vehicle gone into a ditch, a wall or a barrier, over a limit ("over his hours", "over capacity", "past the deadline", "behind schedule"), "down to the last", a person down ("runner down at mile 22") or a responder needed ("medics needed"), "run dry", a dangerous animal ("a bull in it"), a measure out of its range ("temperature high on turbine 2", "readings off the scale", "pressure low"; not "high pressure washer"), a supply that will run out ("we'll run out by Thursday"), an animal loose ("stray", "under the fence"), "and only 7" after a larger number, money taken twice, "tampered with", "killed", "infected", "has split", "froze"; not "compressor drained", "clay delivery tipped", "casks rolled into warehouse 2", "van stocked with traps", "glasses ready"; a trouble word in a set phrase, "lost and found", is none; "blocked", not "cell block": a word of [`BARE_NOUNS`] in its bare form is a noun), or something that "stopped" doing something or "stopped" at a clause's end; never raises CRISIS |
//! | hazard in a routine frame | 0.25 | the same with a routine marker (drill, scheduled, test, self-test, inspection, maintenance, replaced, resolved, false alarm...; not the bare "clear" or "service", a place or an order, nor the "last" of "last seen" or "again last night"; "booked" as a whole word; a fire that is out: "chimney fire on Church Road out", not "fire in hall 2, everybody out"), unless "not a drill", "not a test" undoes it; a routine that "failed" (or froze, crashed, broke down) is trouble (0.7); a marker before a "but" frames nothing after it ("lorry is booked but his fridge unit is dead" is trouble) |
//! | urgency | 0.7 | an urgency word (urgent, emergency, immediately, asap, caution...; "stop" and "halt" only as orders, not as a place after a noun: "fuel stop done", "at a rest stop"), haste ("right away", "at once"), a warning ("heads up", "watch your step", "keep clear"), or shouting with `!` |
//! | question | 0.6 | ends with `?`, or starts with a question word or an auxiliary (what, what's, where, can, is...), or asks without a question's form ("I wonder", "any idea", "do you know", "let me know") |
//! | instruction | 0.6 | (none in a routine frame with an order to do nothing: "fire alarm test Thursday, ignore the bells") a clause starts with an imperative verb (stop, go, bring, check, stay, don't, do not...; not an order that is a noun too with a number or a state after it, "dock 3 vacant", or a metric and its value, "pick rate 140", or with what happened to it, "store opened on time", "return shelf emptied", "report sent", or with a verb it is the subject of, "park opens at 10", or a compound and the routine that frames it, "load test at Riverside Court scheduled for Tuesday"; not a label's value, "weather: clear skies"), or with a verb that orders only with an object, a direction or a manner after it ("locate the cart", "proceed to waypoint C", or more of something after a verb that brings supplies: "order in more dabbers"; not "map updated"), possibly after "please", greetings or an address and a comma ("Hey robot, ..."), unless the message is a status report; or "please", "you must", "you need to", "we need to", "I need you to", "we need you", "everybody out", "make sure", someone's wish passed on ("the boss wants the report by 5", "site director wants all photos uploaded") anywhere |
//! | unknown entity | 0.5 | a name or code the source never used before: a capitalised word not at the start (or at the start before a verb that follows names: "Svetlana starts tonight", "Okafor called"), or letters and digits together (B7, R2-D2) outside a status report and not a measure or an ordinal ("30-minute", "3pm", "2nd"), or "new" before a word the source never used ("the new drone from agrivision arrived"; not "no new messages"), or "a new" or "the new" before a newcomer however often the word was used ("the new trader in unit 5") |
//! | something happening | 0.5 | outside a status report: a person ("someone", "a worker", "grandma", "the baby", "a lad", an outsider: "a non-resident"; not negated), a change going on ("is swelling", "keeps beeping"; not a steady state such as "is charging"), a trend ("and climbing", "pressure rising"; not after an article), something perceived ("spotted", "heard", "felt", "came from", "went off"; not negated), or something there ("there's a fox", "theres a kid", "there might be a rat"; not "there are no") |
//! | news | 0.5 | set by the scorer, which knows the source: after its first 10 messages, a message at least three quarters in words the source has not used lately (numbers aside), neither a report nor in a routine frame nor a line heard lately from another source |
//!
//! A status report has a report word (passed, complete, done, ok, updated, checked, returned...;
//! not in a condition such as "when you're done" or "when the van has arrived", nor qualified
//! by a "but" within three words, "driver is ok but shaken", nor the "passed" of "passed out")
//! and no `!` or `?`.
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
use mishaps::{kit_spent, lapse, never_happened, trouble_in_patterns, will_not_work};

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
/// injury; "the bisque firing" or "furnace 1 charged for the morning melt" (a word of
/// [`KILN_WORDS`] within six words before) is no fire.
fn names_the_work(words: &[String], i: usize) -> bool {
    // "kiln 1 loaded for the bisque firing" (held-42) fires pots, not a building.
    let kiln = matches!(words[i].as_str(), "firing" | "fired" | "firings" | "melt" | "melts")
        && words[i.saturating_sub(6)..i].iter().any(|w| in_list(KILN_WORDS, w));
    // "clay delivery tipped" (held-63) is a load dumped where it should be; "the lorry tipped
    // over" or "tipped onto the road" is trouble.
    let dumped = words[i] == "tipped"
        && i > 0
        && in_list(LOADS, &words[i - 1])
        && words.get(i + 1).is_none_or(|n| matches!(n.as_str(), "at" | "in" | "by" | "and" | "for"));
    // "compressor drained" (held-58) is work done; "the battery's drained" is flat.
    let drained =
        words[i] == "drained" && !words.iter().any(|w| in_list(POWER_STORES, w.trim_end_matches("'s")));
    kiln || drained
        || dumped
        || in_list(WORK_FORMS, &words[i])
        || words[i] == "wound"
            && (i.checked_sub(1).is_some_and(|j| words[j].chars().all(|c| c.is_ascii_digit()))
                || words.get(i + 1).is_some_and(|w| in_list(WOUND_UP, w)))
}

/// Whether the "new" at word `i` of `words` names something new: a word after it the source has
/// not used (`known`; "the new drone from agrivision arrived", lower case as a transcript writes
/// it), or a newcomer after "a new" or "the new", however often the word was used ("the new
/// trader in unit 5, a coffee roaster, moves in on Monday", held-66).
fn names_something_new(words: &[String], i: usize, known: &dyn Fn(&str) -> bool) -> bool {
    let after_new = &words[i + 1..(i + 3).min(words.len())];
    let newcomer = i > 0
        && matches!(words[i - 1].as_str(), "a" | "the")
        && after_new.iter().any(|w| in_list(NEWCOMERS, w) || in_list(PEOPLE, w));
    newcomer || after_new.iter().any(|w| !w.is_empty() && !is_stopword(w) && !known(w))
}

/// Whether word `i` of `words` is the subject of a verb of [`SUBJECT_PROGRESSIVES`] that a time
/// follows: "park opening at 10" (held-58) says when the park opens; "stop opening the doors"
/// orders; "the gate keeps opening at night" repeats.
fn subject_of_a_progressive(words: &[String], i: usize) -> bool {
    !matches!(words[i].as_str(), "keeps" | "keep" | "kept")
        && words.get(i + 1).is_some_and(|n| in_list(SUBJECT_PROGRESSIVES, n))
        && words.get(i + 2).is_some_and(|t| {
            a_time(t) || in_list(WHEN_PREPOSITIONS, t) && words.get(i + 3).is_some_and(|u| a_time(u))
        })
}

/// Whether a word says when: a number ("10", "9:30"), a day, a month or [`WHEN_WORDS`].
fn a_time(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit())
        || in_list(WHEN_WORDS, w)
        || in_list(DAY_NAMES, w)
        || in_list(MONTHS, w)
}

/// Whether word `i` of `words` is a "last" that dates what happened rather than a routine:
/// "tested last week" dates a routine and "no alarms in the last hour" frames a status; "came
/// loose during the last flight" (or "the last shift change") dates what happened, and
/// "drifting since the storm last night" since when; a bare "last" and a time ("on site without
/// permission again last night") dates what happened too, as a routine done then says so with
/// its own word ("tested last week"). A gathering of [`GATHERINGS`] after "during" dates what
/// happened too ("collapsed during the rehearsal"; not "sounded during the weekly test").
fn dates_an_event(words: &[String], i: usize) -> bool {
    // "lost last night's data" (held-52): a time's possessive is a time too.
    let timed = words
        .get(i + 1)
        .is_some_and(|next| in_list(TIME_UNITS, next.trim_end_matches("'s").trim_end_matches("’s")));
    let span = i >= 2 && in_list(SPAN_OPENERS, &words[i - 2]) && timed;
    let bare = timed && !(i > 0 && matches!(words[i - 1].as_str(), "the" | "this" | "that"));
    let since = bare || words[i.saturating_sub(4)..i].iter().any(|w| w == "since");
    // "last seen near the carousel" dates when it was seen.
    // "last contact 4 hours ago" (held-51): when something was last known of.
    let seen = words.get(i + 1).is_some_and(|n| {
        matches!(
            n.as_str(),
            "seen" | "heard" | "spotted" | "known" | "contact" | "sighting" | "sighted" | "ping"
        )
    });
    // "she's been vomiting since yesterday" (held-46): since a day, not on it.
    let since_day = i > 0 && words[i - 1] == "since" && in_list(DAY_NAMES, &words[i]);
    // "the cellist's chair collapsed during the rehearsal" (held-53): what happened during a
    // gathering happened; an alarm "during the weekly test" is the test.
    let during =
        in_list(GATHERINGS, &words[i]) && words[i.saturating_sub(3)..i].iter().any(|w| w == "during");
    // "we're down to our last two pallets" (held-59): a supply's last, no routine's date.
    let supply = words[i.saturating_sub(3)..i].windows(2).any(|p| p[0] == "down" && p[1] == "to");
    since_day
        || during
        || words[i] == "last" && (since || seen || supply || i > 0 && words[i - 1] == "the" && !span)
}

/// Whether the message (its `raw` words and their normalized `words`) says someone lost
/// consciousness: a word of [`FAINTS`] and "out", at the clause's end or before where or when
/// ([`WHERE_AFTER`]): "there's a guy passed out behind the main stage"; not "the volunteers
/// passed out flyers".
fn fainted(raw: &[&str], words: &[String]) -> bool {
    (0..words.len().saturating_sub(1))
        .any(|i| in_list(FAINTS, &words[i]) && words[i + 1] == "out" && ends_or_says_where(raw, words, i + 1))
}

/// Whether word `i` ends its clause, or the word after it says where or when ([`WHERE_AFTER`]).
fn ends_or_says_where(raw: &[&str], words: &[String], i: usize) -> bool {
    i + 1 == raw.len()
        || raw[i].ends_with(['.', '!', ',', ';', '?'])
        || words.get(i + 1).is_some_and(|n| in_list(WHERE_AFTER, n))
}

/// Whether word `i` of `words` (`raw`: as written) is "stop" or "halt" as a noun, a place or an
/// event ("fuel stop done", "at a rest stop", "came to a halt"), not an order: it follows a word
/// that is neither a clause's end, nor a word after which a verb comes ([`BEFORE_A_VERB`]:
/// "please stop", "you must stop"), nor a plural subject ("all trucks stop at the yard").
fn names_a_stop(raw: &[&str], words: &[String], i: usize) -> bool {
    let plural = |w: &str| w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us");
    matches!(words[i].as_str(), "stop" | "halt")
        && i > 0
        && !raw[i - 1].ends_with(['.', '!', ',', ';', ':', '?'])
        && !in_list(BEFORE_A_VERB, &words[i - 1])
        && !plural(&words[i - 1])
}

/// Whether `core` (a word's letters, digits and hyphens) is a measure or an ordinal, not a code:
/// digits and then a unit ("30-minute", "10kg", "5pm", "2nd"): digits, then two or more lower
/// case letters, or a hyphen and three or more.
fn is_measure(core: &str) -> bool {
    let unit = core.trim_start_matches(|c: char| c.is_ascii_digit());
    let letters = |u: &str, least: usize| u.len() >= least && u.chars().all(|c| c.is_ascii_lowercase());
    unit.len() < core.len() && (letters(unit, 2) || unit.strip_prefix('-').is_some_and(|u| letters(u, 3)))
}

/// Whether the message (its normalized `words`) passes on a wish or a need: "want(s)" or
/// "need(s)" before a word of [`WISHED`] ("boss want the report by 5", "the engineer needs the
/// bearing inspection report by Thursday", held-43), or "want(s)", a thing and a participle
/// within three words ("the consignor wants lot 45 withdrawn", held-46), or "wants to" ("a
/// birthday group of 20 wants to race together", held-49); a need not negated before it ("the
/// beds don't need any water today").
fn wishes(words: &[String]) -> bool {
    (0..words.len().saturating_sub(1)).any(|i| {
        let wish = matches!(words[i].as_str(), "want" | "wants");
        let need = matches!(words[i].as_str(), "need" | "needs")
            && !words[i.saturating_sub(2)..i].iter().any(|w| {
                in_list(NEGATED_MODALS, w) || in_list(NEGATIONS, w) || in_list(NEGATED_AUXILIARIES, w)
            });
        // "the consignor wants lot 45 withdrawn before it comes up" (held-46): a thing and
        // what is to be done to it.
        let done_to = words[i + 1..(i + 5).min(words.len())]
            .iter()
            .skip(1)
            .any(|w| w.len() > 4 && w.ends_with("ed") || in_list(IRREGULAR_PARTICIPLES, w));
        // "a birthday group of 20 wants to race together" (held-49): a wish passed on.
        let wants_to = words[i] == "wants" && words[i + 1] == "to";
        (wish || need) && (in_list(WISHED, &words[i + 1]) || wish && done_to || wants_to)
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says a fire is out: a word
/// of [`PUT_OUT`], then within five words an "out" that ends its clause and does not follow a
/// word of [`OUT_MOVERS`] ("chimney fire on Church Road out, crews returning"; not "fire in
/// hall 2, everybody out").
fn put_out(raw: &[&str], words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        in_list(PUT_OUT, &words[i])
            && (i + 1..(i + 6).min(words.len())).any(|j| {
                words[j] == "out"
                    && (j + 1 == raw.len() || raw[j].ends_with(['.', ',', ';']))
                    && !in_list(OUT_MOVERS, &words[j - 1])
            })
    })
}

/// Whether `word` is a day's possessive, which names a thing rather than when a routine is due
/// ("a threatening phone call about tomorrow's story", held-44; not "drill tomorrow").
fn possessive_day(word: &str) -> bool {
    let base = word.replace('’', "'");
    base.strip_suffix("'s").is_some_and(|day| in_list(DAY_NAMES, day))
}

/// Whether word `i` of `words` is a day something comes to, not a routine's: "we'll run out by
/// Thursday" (held-63).
fn deadline_day(words: &[String], i: usize) -> bool {
    in_list(DAY_NAMES, &words[i])
        && i > 0
        && matches!(words[i - 1].as_str(), "by" | "before" | "until" | "till")
}

/// Whether word `i` of `words` names a plan that something overran rather than a routine:
/// "behind schedule", "two minutes over their planned time" (held-60): after "behind", or after a
/// possessive after "over", "past" or "beyond".
fn overran(words: &[String], i: usize) -> bool {
    let owned = |j: usize| in_list(&["his", "her", "their", "its", "my", "your", "our"], &words[j]);
    i >= 1 && words[i - 1] == "behind"
        || i >= 2 && owned(i - 1) && matches!(words[i - 2].as_str(), "over" | "past" | "beyond" | "behind")
}

/// Whether the message (its `words`, their `stems`, its text in `lower` case) has a routine
/// frame (a drill, a schedule, a test, maintenance): "self-test" is a test; "this is not a
/// drill" is no routine.
fn routine_frame(raw: &[&str], words: &[String], stems: &[String], lower: &str) -> bool {
    let marked = (0..stems.len()).any(|i| {
        let w = &stems[i];
        // "clear the field" orders and "path clear" is a state; "cleared" is a routine's end.
        let exercise_place =
            words[i] == "exercise" && words.get(i + 1).is_some_and(|n| in_list(EXERCISE_PLACES, n));
        !dates_an_event(words, i)
            && !overran(words, i)
            && !deadline_day(words, i)
            && !in_list(NOT_ROUTINE_BARE, &words[i])
            && !exercise_place
            && !possessive_day(&words[i])
            && (ROUTINES.has(w)
                || in_list(ROUTINE_EXACT, &words[i])
                || words[i]
                    .split('-')
                    .any(|part| !in_list(NOT_ROUTINE_BARE, part) && ROUTINES.has(&stem(part))))
    });
    (marked || lower.contains("all clear") || lower.contains("false alarm") || put_out(raw, words))
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
            && (EQUIPMENTS.has(next) || (hazardous && masked[i + 1]) || bulletin(words, i + 1));
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

/// Whether word `at` of `words` is a forecast named as a bulletin that was handled, a report
/// word after it ("avalanche forecast noted in the log", held-51); not "hail forecast for
/// tonight", which warns.
fn bulletin(words: &[String], at: usize) -> bool {
    words[at] == "forecast"
        && words.get(at + 1).is_some_and(|w| {
            in_list(REPORT_WORDS, w) || in_list(MORE_REPORT, w) || matches!(w.as_str(), "noted" | "read")
        })
}

/// Whether the message (its normalized `words`, its text in `lower` case) says a routine
/// failed: a drill or a test that failed is trouble, whatever the hazard it names; so is a
/// routine that never happened ("the boiler has never been serviced"), an extinguisher found
/// empty (extinguishers frame a routine: "fire extinguishers inspected"), what a test showed
/// will not work ("the autoclave's test strip didn't change colour", held-55) and an
/// arrangement that failed ("double-booked"). A lapse, whose time word ("since yesterday") would
/// frame a routine, counts too; the caller adds it.
fn routine_failed(words: &[String], lower: &str) -> bool {
    FAILED.iter().chain(FAILED_ARRANGEMENTS).any(|p| says(lower, p) && phrase_not_negated(lower, p))
        || never_happened(words)
        || will_not_work(words)
        || kit_spent(words)
}

/// The hazard evidence of a message that names a `hazard` or `trouble`, in a `routine` frame or
/// not, and says whether the routine `failed`: [`HAZARD`], [`TROUBLE`], [`ROUTINE_HAZARD`] or 0.
fn hazard_evidence(hazard: bool, trouble: bool, routine: bool, failed: bool) -> f64 {
    match (hazard || trouble, routine, failed) {
        (false, _, _) => 0.0,
        (true, true, false) => ROUTINE_HAZARD,
        (true, false, _) if hazard => HAZARD,
        (true, _, _) => TROUBLE,
    }
}

/// Read the cues of `text`; `known` says whether this source used a word recently, `urgency`
/// holds the urgency words (lower case; `SnarcConfig::urgency_words`).
pub fn read(text: &str, known: &dyn Fn(&str) -> bool, urgency: &HashSet<String>) -> Cues {
    let raw: Vec<&str> = text.split_whitespace().collect();
    let words: Vec<String> = raw.iter().map(|w| normalize_word(w)).collect();
    let mut cues = Cues::default();

    let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
    // "no smoke", "not leaking"; "we haven't had any alarms for a week", "didn't find any leaks".
    let negated = |i: usize| {
        (i.saturating_sub(2)..i).any(|j| in_list(NEGATIONS, &words[j]))
            || i > 0
                && words[i - 1] == "any"
                && words[i.saturating_sub(4)..i - 1]
                    .iter()
                    .any(|w| in_list(NEGATED_AUXILIARIES, w) || in_list(NEGATED_MODALS, w))
    };
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
        || fainted(&raw, &words)
        || HAZARD_PHRASES.iter().any(|p| says(&lower, p) && phrase_not_negated(&lower, p));
    let lapsed = lapse(&words);
    let trouble = said(&TROUBLES) || lapsed || trouble_in_patterns(&raw, &words, &lower);

    let routine = routine_frame(&raw, &words, &stems, &lower);
    let failed = lapsed || routine_failed(&words, &lower);
    cues.hazard = hazard_evidence(hazard, trouble, routine, failed);

    let shouting = text.contains('!')
        && raw.iter().any(|w| {
            let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
            letters.len() >= 3 && letters.iter().all(|c| c.is_uppercase())
        });
    // Whole words: "remind the crew" does not say "mind the", nor "that once" "at once".
    let warning = WARNING_PHRASES.iter().chain(HASTE_PHRASES).any(|p| says(&lower, p));
    let urgent_word = (0..words.len()).any(|i| urgency.contains(&words[i]) && !names_a_stop(&raw, &words, i));
    if !routine && (urgent_word || shouting || warning) {
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
    let report = reports(text, &words, &lower);
    // "fire alarm test Thursday, ignore the bells": an order to do nothing in a routine frame.
    let stand_down = routine && words.iter().any(|w| in_list(STAND_DOWN, w));
    let orders = opens_with_order(&raw, &words, first);
    cues.instruction = !stand_down
        && (orders && !report
            || words.iter().any(|w| in_list(PLEASE, w))
            || INSTRUCTION_PHRASES.iter().any(|p| lower.contains(p))
            || wishes(&words));

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
        let code = has_digit && has_letter && !report && !is_measure(&core);
        // A sentence's first word is a name where a verb that follows names does
        // ("Svetlana starts tonight"), unless it is a stopword or a question word.
        let named = sentence_start
            && words.get(i + 1).is_some_and(|next| in_list(AFTER_A_NAME, next))
            && !is_stopword(n)
            && !in_list(WH_WORDS, n);
        let name = ((capitalised && (!sentence_start || named)) || code) && !calendar;
        let new_thing = n == "new" && !negated(i) && names_something_new(&words, i, known);
        if name && !n.is_empty() && !known(n) || new_thing {
            cues.entity = true;
        }
        // "Mrs. Oduya": an honorific's full stop does not end the sentence.
        sentence_start = w.ends_with(['.', '!', '?', ':']) && !in_list(HONORIFICS, n);
    }
    cues.event = !report && happening(&words, &stems, &lower);
    cues.report = report;
    cues.routine = routine;
    // "lorry for Tesco is booked but the driver says his fridge unit is dead": a routine before
    // a "but" frames nothing after it (held-41).
    if let Some(tail) = after_the_last_but(text) {
        cues.hazard = cues.hazard.max(read(&tail, known, urgency).hazard);
    }
    cues
}

/// Whether the message (`text`, its normalized `words`, its text in `lower` case) is a status
/// report: a report word not in a condition ("when you're done") nor qualified by a "but"
/// ("driver is ok but shaken"), nor the "passed" of "passed out", and no `!` or `?`.
fn reports(text: &str, words: &[String], lower: &str) -> bool {
    let reported = (0..words.len()).any(|i| {
        // "when you're done" is a condition of an order, not a report.
        let condition = (i.saturating_sub(4)..i).any(|j| in_list(CONDITIONS, &words[j]));
        // "driver is ok but shaken": a report qualified; "passed out" is no check passed.
        let but = words[i + 1..(i + 4).min(words.len())].iter().any(|w| w == "but");
        let out = words[i] == "passed" && words.get(i + 1).is_some_and(|n| n == "out");
        (in_list(REPORT_WORDS, &words[i]) || in_list(MORE_REPORT, &words[i])) && !condition && !but && !out
    });
    !text.contains(['!', '?'])
        && (reported
            || lower.contains("nothing to report")
            || says(lower, "back in service")
            || says(lower, "in service again"))
}

/// What follows the last "but" of `text`, in lower case, where at least two words do ("the test
/// is done but the bell did not ring").
fn after_the_last_but(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower
        .match_indices("but")
        .filter(|(at, _)| {
            !lower[..*at].ends_with(char::is_alphanumeric)
                && !lower[at + 3..].starts_with(char::is_alphanumeric)
        })
        .last()?
        .0;
    let tail = lower[at + 3..].trim();
    (tail.split_whitespace().count() >= 2).then(|| tail.to_string())
}

/// Whether a message says something is happening: a person is in it ("someone is hiding"), a
/// change is going on ("the battery pack is swelling"; not a steady state such as "is
/// charging"), or something is there ("there's a fox in the warehouse"; not "there are no...").
fn happening(words: &[String], stems: &[String], lower: &str) -> bool {
    let negated = |i: usize| (i.saturating_sub(2)..i).any(|j| in_list(NEGATIONS, &words[j]));
    let outsider =
        |w: &str| w.strip_prefix("non-").is_some_and(|r| in_list(PEOPLE, r) || in_list(MEMBERS, r));
    let person = (0..words.len()).any(|i| (in_list(PEOPLE, &words[i]) || outsider(&words[i])) && !negated(i));
    let perceived = (0..words.len()).any(|i| EVENTS.has(&stems[i]) && !negated(i))
        || EVENT_PHRASES.iter().any(|p| lower.contains(p));
    let be = |w: &str| matches!(w, "is" | "are" | "was" | "were" | "it's" | "keeps" | "keep");
    // Not a routine's own name ("security briefing at 18:00", "training", "testing").
    let changing = |w: &str| {
        w.len() > 4
            && w.ends_with("ing")
            && !in_list(STEADY, w)
            && !in_list(ROUTINE_MOTION, w)
            && !in_list(ROUTINE_WORDS, w)
            && !in_list(MORE_ROUTINE, w)
    };
    // "the battery is swelling", and "crane 2 hook swinging in the wind": a thing, then what it
    // is doing (not after a preposition or an article: "in the morning", "a warning").
    // "a deer is running toward the pad": a steady state with where it goes is a motion.
    let heading = |i: usize| words.get(i + 2).is_some_and(|w| in_list(HEADINGS, w));
    // "park opening at 10" (held-58) is a timetable, not what is happening.
    let ongoing = words.windows(2).enumerate().any(|(i, p)| {
        !subject_of_a_progressive(words, i)
            && ((be(&p[0])
                && p[1].len() > 4
                && p[1].ends_with("ing")
                && (!in_list(STEADY, &p[1]) || heading(i)))
                || (changing(&p[1])
                    && !p[0].is_empty()
                    && !in_list(FUNCTION_WORDS, &p[0])
                    && !in_list(KILN_WORDS, &p[0])
                    && !p[0].ends_with("ing")))
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
        // "load test at Riverside Court scheduled for Tuesday": a compound, and later in its
        // clause the routine that frames it; "call sheet for tomorrow sent": a compound, and
        // what happened to it at the clause's end (not after a condition: "check pallets once
        // unloaded" orders).
        let scheduled = || {
            let end = (i + 2..raw.len())
                .find(|&j| raw[j].ends_with([',', ';', '.', '!', ':']))
                .unwrap_or(raw.len() - 1);
            let clause = &words[i + 2..=end];
            let routine = clause.iter().any(|m| {
                m.len() > 4 && m.ends_with("ed") && (ROUTINES.has(&stem(m)) || in_list(ROUTINE_EXACT, m))
            });
            let last = &words[end];
            let done = (last.len() > 4 && last.ends_with("ed") || in_list(IRREGULAR_PARTICIPLES, last))
                && !clause.iter().any(|m| in_list(CONDITIONS, m));
            routine || done
        };
        let compound = words.get(i + 1).is_some_and(|n| {
            n.chars().all(char::is_alphabetic) && !in_list(OBJECT_OPENERS, n) && !in_list(FUNCTION_WORDS, n)
        }) && !raw.get(i + 1).is_some_and(|r| r.ends_with([',', ';', '.', '!', ':']))
            && (happened_at(i + 2) || i + 2 < words.len() && scheduled());
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
                || happened_at(i + 1)
                || words.get(i + 1).is_some_and(|n| in_list(SUBJECT_VERBS, n))
                || subject_of_a_progressive(words, i));
        // "weather: clear skies", "path: clear": a label's value, not an order.
        let value = i > 0 && raw[i - 1].ends_with(':') && in_list(STATES, &w);
        // A verb that is also a noun orders with an object or a direction after it.
        let object = ends_clause || words.get(i + 1).is_none_or(|n| in_list(OBJECT_OPENERS, n));
        !value
            && (((in_list(IMPERATIVES, &w) || again) && !named)
                || (w == "do" && words.get(i + 1).is_some_and(|n| n == "not"))
                || (in_list(VERBS, &w) && object)
                || bare_verb_with_object(raw, words, i))
    })
}

/// Whether the clause that opens at word `i` of `words` (the message's `raw` words) opens with
/// a bare verb and its object, a verb no list names: a plain word, then a determiner of
/// [`DETERMINERS`] ("rebalance the city centre docks before the evening rush", held-45; "water
/// the seedlings"). Not a word that cannot be a bare verb: a function word, a word of
/// [`NOT_BARE_VERBS`] (prepositions, adverbs, people addressed) or [`DAY_NAMES`], an "-ly",
/// "-ed", "-ing" or "-s" form, a past form, a number or a possessive, or a word that ends its
/// clause ("update: the ..."). A particle may stand between the verb and its object.
fn bare_verb_with_object(raw: &[&str], words: &[String], i: usize) -> bool {
    let w = &words[i];
    let plain = w.len() > 2 && w.chars().all(|c| c.is_ascii_lowercase());
    // "-s" is a plural or a verb with its subject left out; "press", "cross" are bare.
    let form = ["ly", "ed", "ing"].iter().any(|end| w.ends_with(end))
        || w.ends_with('s') && !w.ends_with("ss")
        || in_list(PAST_FORMS, w)
        || in_list(IRREGULAR_PARTICIPLES, w);
    plain
        && !form
        && !is_stopword(w)
        && !in_list(FUNCTION_WORDS, w)
        && !in_list(NOT_BARE_VERBS, w)
        && !in_list(DAY_NAMES, w)
        && !in_list(QUESTION_STARTS, w)
        && !raw[i].ends_with([',', ';', '.', '!', ':', '?'])
        && object_follows(raw, words, i + 1)
}

/// Whether a determiner of [`DETERMINERS`] opens the object at word `at`, or after a verb's
/// particle there ("top up the sulphur in tank 3", held-50; "clear out the fridge"). Not a
/// capital "A": "escalator A annual service booked" names a code, not an article.
fn object_follows(raw: &[&str], words: &[String], at: usize) -> bool {
    // "order in more dabbers" (held-59): more of something after a verb that brings supplies
    // (not "much more rain expected"), and "in" a particle before it.
    let supply = at > 0 && in_list(SUPPLY_VERBS, &words[at - 1]);
    // "order two more pallets" (held-63): a count may stand before "more".
    let more = |j: usize| {
        supply
            && (words.get(j).is_some_and(|w| in_list(MORE_OF, w))
                || words.get(j).is_some_and(|w| is_count(w))
                    && words.get(j + 1).is_some_and(|w| in_list(MORE_OF, w)))
    };
    let particle = words.get(at).is_some_and(|w| in_list(VERB_PARTICLES, w) || w == "in" && more(at + 1))
        && !raw[at].ends_with([',', ';', '.', '!', ':', '?']);
    let at = if particle { at + 1 } else { at };
    (words.get(at).is_some_and(|n| in_list(DETERMINERS, n)) || more(at))
        && !raw[at].chars().any(char::is_uppercase)
}

fn in_list(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// Whether a word is a count: a whole number ("12") or a count in words ("two", "dozen").
fn is_count(w: &str) -> bool {
    in_list(COUNT_WORDS, w) || (!w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
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

#[path = "mishaps.rs"]
mod mishaps;

#[cfg(test)]
#[path = "cues_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "cues_held_tests.rs"]
mod held_tests;
