//! The text rule: what in a message makes it worth attention, whatever the source.
//!
//! A message's evidence is the strongest of its cues (each in `[0, 1]`):
//!
//! | cue | evidence | how it is read |
//! |---|---|---|
//! | hazard | 1.0 | a hazard word (fire, smoke, injured, intruder, leak, collision...) not negated ("no smoke") |
//! | hazard in a routine frame | 0.25 | the same with a routine marker (drill, scheduled, test, inspection, resolved, false alarm...) |
//! | urgency | 0.7 | an urgency word (urgent, emergency, immediately, asap...), or shouting with `!` |
//! | question | 0.6 | ends with `?`, or starts with a question word or an auxiliary (what, where, can, is...) |
//! | instruction | 0.6 | starts with an imperative verb (stop, go, bring, check...), possibly after "please" or a name and a comma; or "please", "you must", "you need to" anywhere |
//! | unknown entity | 0.5 | a name or code the source never used before: a capitalised word not at the start, or letters and digits together (B7, R2-D2) |
//!
//! The attention threshold in WAKE is 0.35: a hazard, an urgent message, a question, an
//! instruction and a new name are attended; routine status lines and hazard words in a routine
//! frame are not. Routine repeats habituate through the weighted part (their surprise and
//! novelty fall); a name is new only until the source has used it.

use std::collections::HashSet;

use crate::text::normalize_word;

/// Evidence of a hazard.
pub const HAZARD: f64 = 1.0;
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

const HAZARD_WORDS: &[&str] = &[
    "fire",
    "fires",
    "flame",
    "flames",
    "burning",
    "burn",
    "smoke",
    "smoking",
    "explosion",
    "exploded",
    "blast",
    "injured",
    "injury",
    "injuries",
    "hurt",
    "bleeding",
    "unconscious",
    "collapsed",
    "fell",
    "fallen",
    "falling",
    "intruder",
    "intruders",
    "intrusion",
    "trespasser",
    "break-in",
    "burglar",
    "leak",
    "leaking",
    "gas",
    "spill",
    "spilled",
    "flood",
    "flooding",
    "collision",
    "collided",
    "crash",
    "crashed",
    "emergency",
    "danger",
    "dangerous",
    "hazard",
    "evacuate",
    "evacuation",
    "help",
    "trapped",
    "stuck",
    "overheating",
    "sparks",
    "shock",
    "toxic",
    "chemical",
    "weapon",
    "attack",
    "alarm",
];

const ROUTINE_WORDS: &[&str] = &[
    "drill",
    "drills",
    "scheduled",
    "schedule",
    "test",
    "testing",
    "tested",
    "exercise",
    "practice",
    "training",
    "planned",
    "simulation",
    "simulated",
    "reminder",
    "remind",
    "inspection",
    "inspected",
    "certified",
    "certificate",
    "resolved",
    "cleared",
    "false",
    "tomorrow",
    "friday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "saturday",
    "sunday",
    "weekly",
    "monthly",
    "annual",
    "yesterday",
    "last",
    "next",
    "manual",
    "poster",
    "signage",
    "refill",
    "refilled",
    "extinguishers",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const NEGATIONS: &[&str] = &["no", "not", "without", "zero", "never", "none", "nothing"];

const QUESTION_STARTS: &[&str] = &[
    "what", "why", "how", "when", "where", "who", "whom", "whose", "which", "can", "could", "would", "will",
    "is", "are", "was", "were", "do", "does", "did", "should", "shall", "may", "have", "has",
];

const IMPERATIVES: &[&str] = &[
    "stop", "go", "move", "come", "bring", "fetch", "check", "report", "return", "pick", "drop", "open",
    "close", "turn", "charge", "send", "call", "wait", "halt", "follow", "clean", "inspect", "take", "put",
    "deliver", "lift", "avoid", "slow", "start", "begin", "resume", "pause", "cancel", "abort", "dock",
    "navigate", "head", "look", "find", "show", "tell", "give", "hold", "keep", "leave", "get", "carry",
    "scan", "patrol", "shut", "switch", "restart", "reboot", "load", "unload", "park", "back", "clear",
    "secure", "notify", "alert", "evacuate", "help",
];

/// Words of a status report: a message whose first word could be an order ("patrol", "scan",
/// "check", "report"...) but that also says how something went ("patrol checkpoint passed",
/// "scan complete, no anomalies") reports; it does not instruct, and a code in it ("waypoint
/// WP-17 reached") is a sequence number, not a new name.
const REPORT_WORDS: &[&str] = &[
    "passed",
    "complete",
    "completed",
    "finished",
    "ok",
    "okay",
    "nominal",
    "normal",
    "saved",
    "logged",
    "stable",
    "successful",
    "successfully",
    "succeeded",
    "reached",
    "arrived",
];

fn in_list(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// The cues of one message.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cues {
    /// Hazard evidence: [`HAZARD`], [`ROUTINE_HAZARD`] or 0.
    pub hazard: f64,
    /// Urgency without a hazard: [`URGENCY`] or 0.
    pub urgency: f64,
    /// A direct question.
    pub question: bool,
    /// An instruction.
    pub instruction: bool,
    /// A name or code this source never used.
    pub entity: bool,
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
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }

    /// How intense the message is (its arousal): hazard or urgency.
    pub fn intensity(&self) -> f64 {
        self.hazard.max(self.urgency)
    }
}

/// Read the cues of `text`; `known` says whether this source used a word recently, `urgency`
/// holds the urgency words (lower case; `SnarcConfig::urgency_words`).
pub fn read(text: &str, known: &dyn Fn(&str) -> bool, urgency: &HashSet<String>) -> Cues {
    let raw: Vec<&str> = text.split_whitespace().collect();
    let words: Vec<String> = raw.iter().map(|w| normalize_word(w)).collect();
    let mut cues = Cues::default();

    let negated = |i: usize| (i.saturating_sub(2)..i).any(|j| in_list(NEGATIONS, &words[j]));
    let hazard = (0..words.len()).any(|i| in_list(HAZARD_WORDS, &words[i]) && !negated(i));
    let routine = words.iter().any(|w| in_list(ROUTINE_WORDS, w))
        || text.to_lowercase().contains("all clear")
        || text.to_lowercase().contains("false alarm");
    if hazard {
        cues.hazard = if routine { ROUTINE_HAZARD } else { HAZARD };
    }

    let shouting = text.contains('!')
        && raw.iter().any(|w| {
            let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
            letters.len() >= 3 && letters.iter().all(|c| c.is_uppercase())
        });
    if !routine && (words.iter().any(|w| urgency.contains(w)) || shouting) {
        cues.urgency = URGENCY;
    }

    let first = skip_address(&raw, &words);
    cues.question = text.trim_end().ends_with('?')
        || words.get(first).is_some_and(|w| in_list(QUESTION_STARTS, w) && raw.len() > 2);
    let report = !text.contains(['!', '?'])
        && (words.iter().any(|w| in_list(REPORT_WORDS, w))
            || text.to_lowercase().contains("nothing to report"));
    cues.instruction = words.get(first).is_some_and(|w| in_list(IMPERATIVES, w)) && !report
        || words.iter().any(|w| w == "please")
        || text.to_lowercase().contains("you must")
        || text.to_lowercase().contains("you need to");

    let mut sentence_start = true;
    for (w, n) in raw.iter().zip(&words) {
        let core: String = w.chars().filter(|c| c.is_alphanumeric() || *c == '-').collect();
        let has_digit = core.chars().any(|c| c.is_ascii_digit());
        let has_letter = core.chars().any(|c| c.is_alphabetic());
        let capitalised = core.chars().next().is_some_and(char::is_uppercase)
            && core.chars().skip(1).any(char::is_lowercase);
        // Days and months are capitalised but name nothing new.
        let calendar = in_list(ROUTINE_WORDS, n) || in_list(MONTHS, n);
        // A code in a status report ("waypoint WP-17 reached") is a sequence number, not news.
        let code = has_digit && has_letter && !report;
        let name = ((capitalised && !sentence_start) || code) && !calendar;
        if name && !n.is_empty() && !known(n) {
            cues.entity = true;
        }
        sentence_start = w.ends_with(['.', '!', '?', ':']);
    }
    cues
}

/// Index of the first word after a vocative ("Robot, ...", "Sage: ...") or "please".
fn skip_address(raw: &[&str], words: &[String]) -> usize {
    let mut i = 0;
    if raw.len() > 1 && (raw[0].ends_with(',') || raw[0].ends_with(':')) {
        i = 1;
    }
    if words.get(i).is_some_and(|w| w == "please") {
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
    fn routine_frames_and_negations_are_not_hazards() {
        assert_eq!(ev("fire drill scheduled for friday"), ROUTINE_HAZARD);
        assert_eq!(ev("smoke detector test completed in zone b"), ROUTINE_HAZARD);
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
        // Nor does a report's sequence code name something new; a name in it still does.
        assert_eq!(ev("waypoint WP-17 reached, status ok"), 0.0);
        assert!(cues("visitor Patel arrived at reception", &|_| false).entity);
        assert!(cues("the new robot Unit-K4 joins the fleet today", &|_| false).entity);
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
}
