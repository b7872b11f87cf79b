//! Trouble said in more than a word, for the text rule (`cues`): something that stopped, went
//! out, ran out, fell short or will not work; a lapse; something never done, forced, run over,
//! spread, spoiled or made public; harm from a crowd or from what was eaten (decision 0013).
//! Each predicate reads a message's `raw` words and their normalized `words`; what they share
//! with the rest of the rule (`in_list`, `says`, `ends_or_says_where`) stays in `cues`.

use super::{ends_or_says_where, in_list, is_count, phrase_not_negated, says};
use crate::snarc::lexicon::*;
use crate::snarc::mishap_words::*;
use crate::snarc::orders::*;
use crate::snarc::patterns::*;
use crate::text::normalize_word;

/// Whether the message (its `raw` words and their normalized `words`) says a light, the power
/// or a signal went out ("lights went out in sector 4", "the pilot light has gone out"): a word
/// of [`GOES_OUT`] within three words before "went/gone/goes out", or within five words before
/// "is/are out" that ends its clause or says where ("the pad lights on the north side are
/// out", held-44; "the power's out"). What else "went out" was sent; "lights out at 10" is a
/// time.
fn went_out(raw: &[&str], words: &[String]) -> bool {
    let goes_out = |w: &String| in_list(GOES_OUT, w.trim_end_matches("'s").trim_end_matches("’s"));
    words.windows(2).enumerate().any(|(i, p)| {
        let went = matches!(p[0].as_str(), "went" | "gone" | "goes")
            && words[i.saturating_sub(3)..i].iter().any(goes_out);
        let is = (matches!(p[0].as_str(), "is" | "are" | "was" | "were")
            || p[0].ends_with("'s")
            || p[0].ends_with("’s"))
            && ends_or_says_where(raw, words, i + 1)
            && words[i.saturating_sub(5)..=i].iter().any(goes_out);
        p[1] == "out" && (went || is)
    })
}

/// Whether the message (its normalized `words`) says people or animals turned on someone: a
/// word of [`PEOPLE`] or [`CROWDS`] within three words before "turned on", and one within two
/// words after it, or a pronoun ("the crowd has turned on the press", held-44; "the dog turned
/// on its handler"); not "someone turned on the lights".
fn turned_on(words: &[String]) -> bool {
    let who = |w: &String| in_list(PEOPLE, w) || in_list(CROWDS, w);
    (1..words.len().saturating_sub(1)).any(|i| {
        matches!(words[i].as_str(), "turned" | "turning" | "turns")
            && words[i + 1] == "on"
            && words[i.saturating_sub(3)..i].iter().any(who)
            && words[i + 2..(i + 4).min(words.len())]
                .iter()
                .any(|w| who(w) || matches!(w.as_str(), "us" | "me" | "him" | "her" | "them"))
    })
}

/// Whether the message (its normalized `words`) says a secret was made public: a word of
/// [`SECRETS`], then within ten words a word of [`PUBLIC`] ("the gate code has been given out on
/// social media", held-44; "the wifi password is on the whiteboard" says neither).
fn secret_out(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        in_list(SECRETS, &words[i])
            && words[i + 1..(i + 11).min(words.len())].iter().any(|w| in_list(PUBLIC, w))
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says something was
/// knocked over by force: a word of [`FORCES`], then within four words an "over" that ends its
/// clause or says where ("a student kicked the robot over by the dining hall"); not "pushed the
/// cart over to bay 4", which moved it.
fn forced_over(raw: &[&str], words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        in_list(FORCES, &words[i])
            && (i + 1..(i + 5).min(words.len()))
                .any(|j| words[j] == "over" && ends_or_says_where(raw, words, j))
    })
}

/// Whether the message (its normalized `words`) says what should be done is not: a word of a
/// report or a sign-off ([`SIGNED_OFF`]) after "not", "never" or a negated auxiliary within two
/// words ("allergen changeover not signed off", "the doors weren't checked", "hasn't been
/// cleaned").
fn unfinished(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let done = in_list(REPORT_WORDS, &words[i])
            || in_list(MORE_REPORT, &words[i])
            || in_list(SIGNED_OFF, &words[i]);
        done && words[i.saturating_sub(2)..i]
            .iter()
            .any(|w| in_list(NEGATED_AUXILIARIES, w) || in_list(NOT_DONE, w))
    })
}

/// Whether the message (its normalized `words`) says a vehicle was scratched with a key: "two
/// cars have been keyed in the rank" (held-41); "keyed" after a passive, a vehicle within four
/// words before it (not "the code was keyed in").
fn keyed(words: &[String]) -> bool {
    (1..words.len()).any(|i| {
        words[i] == "keyed"
            && matches!(words[i - 1].as_str(), "been" | "was" | "were" | "got")
            && words[i.saturating_sub(5)..i - 1].iter().any(|w| in_list(VEHICLES, w))
    })
}

/// Whether the message (its normalized `words`) says what is no food was eaten: a word of [`ATE`]
/// and within three words after it one of [`NOT_FOOD`] ("one of the dogs ate a sock", held-46;
/// not "the dogs ate their dinner").
fn ate_no_food(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        in_list(ATE, &words[i]) && words[i + 1..(i + 4).min(words.len())].iter().any(|w| in_list(NOT_FOOD, w))
    })
}

/// Whether the message (its normalized `words`) says a patient's line came out by mishap: a word
/// of [`LINE_PULLS`] within three words before a word of [`MEDICAL_LINES`] ("the dog in kennel 3
/// has pulled her drip out", held-50; "chewed through his stitches"), or the line, then "came",
/// "come" or "fallen" "out" ("her cannula has come out"); not "drip tray emptied".
fn line_pulled(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let pulled = words[i.saturating_sub(3)..i].iter().any(|w| in_list(LINE_PULLS, w));
        let came_out = words[i + 1..(i + 4).min(words.len())]
            .windows(2)
            .any(|p| matches!(p[0].as_str(), "came" | "come" | "fallen" | "fell") && p[1] == "out");
        in_list(MEDICAL_LINES, &words[i]) && (pulled || came_out)
    })
}

/// Whether the message (its normalized `words`) says an animal or a person struck someone: a word
/// of [`STRIKES`] with an animal of [`ANIMALS`] within five words before it ("one of the horses
/// kicked the stable hand", held-51), or, but "charged", a person of [`PEOPLE`] or a pronoun
/// within three words after it ("a visitor punched him"). Not "kicked off", "kicked in" or "a
/// bit".
fn struck(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let w = words[i].as_str();
        let before = &words[i.saturating_sub(5)..i];
        let idiom = words.get(i + 1).is_some_and(|n| matches!(n.as_str(), "off" | "in" | "out" | "up"))
            || i > 0 && matches!(words[i - 1].as_str(), "a" | "little" | "quite" | "tiny");
        let animal = before.iter().any(|b| in_list(ANIMALS, b));
        let person = w != "charged"
            && words[i + 1..(i + 4).min(words.len())]
                .iter()
                .any(|n| in_list(PEOPLE, n) || matches!(n.as_str(), "him" | "her" | "me" | "us" | "them"));
        // "a worker's been pecked badly on the arm" (held-65): a person struck, said passively.
        let struck_person = i > 0
            && matches!(words[i - 1].as_str(), "been" | "was" | "were" | "got" | "get" | "gets")
            && before.iter().any(|b| {
                let b = b.trim_end_matches("'s");
                in_list(PEOPLE, b) || in_list(ROLES, b) || matches!(b, "he" | "she" | "they" | "i" | "we")
            });
        in_list(STRIKES, w) && !idiom && (animal || person || struck_person)
    })
}

/// Whether the message (its normalized `words`) says someone holds a part of the body as the hurt
/// do: "holding" and a possessive, then a word of [`BODY_PARTS`] ("he's holding his ribs",
/// held-51); not "holding her hand".
fn holding_hurt(words: &[String]) -> bool {
    words.windows(3).any(|p| {
        matches!(p[0].as_str(), "holding" | "clutching" | "clutched" | "clutches")
            && matches!(p[1].as_str(), "his" | "her" | "their" | "my" | "its" | "your")
            && in_list(BODY_PARTS, &p[2])
    })
}

/// Whether the message (its normalized `words`) says something got in someone's eye: "in", a
/// possessive, then "eye" or "eyes" ("an operator got flour in his eyes from the silo hatch",
/// held-52); not "keep an eye on it".
fn in_the_eye(words: &[String]) -> bool {
    words.windows(3).any(|p| {
        p[0] == "in"
            && matches!(p[1].as_str(), "his" | "her" | "their" | "my" | "your" | "its" | "the")
            && matches!(p[2].as_str(), "eye" | "eyes")
    })
}

/// Whether the message (its normalized `words`) says a level moved by a length: a word of
/// [`DROPS_TO`] or a rise, then within three words a length of [`LENGTHS`] ("water levels in
/// the reedbed have dropped a foot overnight", held-52; "the river rose two metres"); not "the
/// parcel dropped at the front desk".
fn level_moved(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let moved = in_list(DROPS_TO, &words[i]) || matches!(words[i].as_str(), "rose" | "risen" | "rising");
        moved && words[i + 1..(i + 4).min(words.len())].iter().any(|w| in_list(LENGTHS, w))
    })
}

/// Whether the message (its normalized `words`) says something or someone went over a barrier: a
/// word of [`OVER_BARRIERS`] within three words before "over", then within two words a word of
/// [`BARRIERS`] ("a phone was thrown over the wall into the exercise yard", held-53); not
/// "passed over the bridge".
fn over_a_barrier(words: &[String]) -> bool {
    (1..words.len()).any(|i| {
        words[i] == "over"
            && words[i.saturating_sub(3)..i].iter().any(|w| in_list(OVER_BARRIERS, w))
            && words[i + 1..(i + 3).min(words.len())].iter().any(|w| in_list(BARRIERS, w))
    })
}

/// Whether the message (its normalized `words`) says brakes or steering are failing: "brakes",
/// "brake" or "steering" (a possessive too), then within two words a word of
/// [`CONTROLS_FAILING`] ("the haul truck's brakes faded on the ramp down", held-53); not "brake
/// pads replaced".
fn controls_failing(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let control = words[i].trim_end_matches("'s").trim_end_matches("’s");
        matches!(control, "brakes" | "brake" | "steering")
            && words[i + 1..(i + 3).min(words.len())].iter().any(|w| in_list(CONTROLS_FAILING, w))
    })
}

/// Whether the message (its normalized `words`) says someone let a vehicle's tyres down: "let",
/// "lets" or "letting", then within four words "down" and a tyre, either way round ("a lad's
/// been letting down tyres in the car park", held-53; "let the tyres down on van 3"); not
/// "let down the blinds".
fn tyres_let_down(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let after = &words[i + 1..(i + 6).min(words.len())];
        matches!(words[i].as_str(), "let" | "lets" | "letting")
            && after.iter().any(|w| w == "down")
            && after.iter().any(|w| matches!(w.as_str(), "tyres" | "tires" | "tyre" | "tire"))
    })
}

/// Whether the message (its normalized `words`) says a fridge or a freezer is too warm: a word of
/// [`COLD_STORES`] or a freezer within five words before a number of degrees past
/// [`COLD_LIMIT`] or [`FROZEN_LIMIT`] ("the cafe's fridge is at 12 degrees", held-54; a freezer
/// at "minus 5"; not "fridge temperature logged at 4 degrees", nor a freezer at "-18C").
fn too_warm(raw: &[&str], words: &[String]) -> bool {
    let store = |w: &String| w.trim_end_matches("'s").trim_end_matches("’s").to_string();
    (0..words.len()).any(|i| {
        let Ok(value) = words[i].trim_end_matches("°c").trim_end_matches('°').parse::<f64>() else {
            return false;
        };
        let below_zero = raw[i].starts_with(['-', '−']) || i > 0 && words[i - 1] == "minus";
        let value = if below_zero { -value } else { value };
        let degrees = raw[i].contains('°')
            || words.get(i + 1).is_some_and(|n| matches!(n.as_str(), "degrees" | "°c" | "c" | "deg"));
        let before: Vec<String> = words[i.saturating_sub(5)..i].iter().map(store).collect();
        let freezer = before.iter().any(|w| matches!(w.as_str(), "freezer" | "freezers"));
        let cold = before.iter().any(|w| in_list(COLD_STORES, w));
        degrees && (if freezer { value > FROZEN_LIMIT } else { cold && value > COLD_LIMIT })
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says lights or power cut:
/// a word of [`GOES_OUT`] within five words before "cut" that ends its clause or says where or
/// when ("the lights over the park cut at 8 and there are still riders in", held-54); not "grass
/// cut at 8".
fn lights_cut(raw: &[&str], words: &[String]) -> bool {
    (1..words.len()).any(|i| {
        words[i] == "cut"
            && ends_or_says_where(raw, words, i)
            && words[i.saturating_sub(5)..i].iter().any(|w| in_list(GOES_OUT, w))
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says a belonging was taken:
/// a word of [`BELONGINGS`], then within three words "was", "were", "been" or "got" and a word of
/// [`TAKEN_AWAY`] ("a member's bike was taken from the rack inside the lobby", held-55; "my
/// phone got nicked"); "taken" only before "from" or at the clause's end (not "the car was
/// taken to the garage").
fn belonging_taken(raw: &[&str], words: &[String]) -> bool {
    (0..words.len().saturating_sub(1)).any(|i| {
        let taken = |j: usize| {
            in_list(TAKEN_AWAY, &words[j])
                && (words[j] != "taken"
                    || words.get(j + 1).is_some_and(|n| n == "from")
                    || j + 1 == raw.len()
                    || raw[j].ends_with(['.', '!', ',', ';']))
        };
        in_list(BELONGINGS, &words[i])
            && (i + 1..(i + 4).min(words.len() - 1))
                .any(|j| matches!(words[j].as_str(), "was" | "were" | "been" | "got") && taken(j + 1))
    })
}

/// Whether the message (its normalized `words`) says something foul runs into water: a word of
/// [`POLLUTANTS`] within four words before "into", then within four words a water of
/// [`WATERS`] ("effluent's running into the surface water drain", held-56); not "rainwater
/// running into the drain".
fn polluting(words: &[String]) -> bool {
    let bare = |w: &String| w.trim_end_matches("'s").trim_end_matches("’s").to_string();
    (1..words.len()).any(|i| {
        words[i] == "into"
            && words[i.saturating_sub(4)..i].iter().any(|w| in_list(POLLUTANTS, &bare(w)))
            && words[i + 1..(i + 5).min(words.len())].iter().any(|w| in_list(WATERS, w))
    })
}

/// Whether the message (its normalized `words`) says water sprays from what should hold it: a
/// word of [`CONTAINS_WATER`] within six words before "spraying", "gushing" or "spurting" ("the
/// sprinkler in aisle 3 has been spraying the walkway all morning", held-57); not "roses
/// sprayed".
fn spraying(words: &[String]) -> bool {
    (1..words.len()).any(|i| {
        matches!(words[i].as_str(), "spraying" | "gushing" | "spurting" | "squirting")
            && words[i.saturating_sub(6)..i].iter().any(|w| in_list(CONTAINS_WATER, w))
    })
}

/// Whether the message (its normalized `words`) says a share dropped low: a word of [`DROPS_TO`],
/// "to", and a number of at most 20 before "percent" or with "%" ("humidity down to 9 percent
/// this afternoon", held-46; "battery dropped to 15%"); not "queue down to 40 percent".
fn dropped_low(raw: &[&str], words: &[String]) -> bool {
    (0..words.len().saturating_sub(2)).any(|i| {
        let low = |j: usize| {
            words[j].parse::<f64>().is_ok_and(|v| (0.0..=20.0).contains(&v))
                && (raw[j].contains('%')
                    || words.get(j + 1).is_some_and(|n| matches!(n.as_str(), "percent" | "per")))
        };
        in_list(DROPS_TO, &words[i]) && words[i + 1] == "to" && low(i + 2)
    })
}

/// Whether the message (its normalized `words`) says a place is packed: "full of", then within
/// two words a word of [`VEHICLES`], [`PEOPLE`] or [`CROWDS`] ("the forecourt is full of
/// queuing cars", held-47); not "full of stock".
fn packed(words: &[String]) -> bool {
    (0..words.len().saturating_sub(2)).any(|i| {
        words[i] == "full"
            && words[i + 1] == "of"
            && words[i + 2..(i + 4).min(words.len())]
                .iter()
                .any(|w| in_list(VEHICLES, w) || in_list(PEOPLE, w) || in_list(CROWDS, w))
    })
}

/// Whether the message (its normalized `words`) says something came down on a vehicle or a
/// person: a word of [`CAME_DOWN`], then "on" or "onto", then within three words a word of
/// [`VEHICLES`] or [`PEOPLE`] ("paint overspray has landed on parked cars under span 2",
/// held-43); not "the drone landed on pad 2" nor "landed on time".
fn came_down_on(words: &[String]) -> bool {
    (0..words.len().saturating_sub(2)).any(|i| {
        in_list(CAME_DOWN, &words[i])
            && matches!(words[i + 1].as_str(), "on" | "onto")
            && words[i + 2..(i + 5).min(words.len())]
                .iter()
                .any(|w| in_list(VEHICLES, w) || in_list(PEOPLE, w))
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says a sum of money is adrift: a sum, with its currency
/// sign ("£500", "$20") or word after it ("20 quid"), then a word of [`ADRIFT`] ("the cash cage
/// is £500 down after the shift count", held-43; "the till is $20 out"); not "£500 deposit".
fn money_adrift(raw: &[&str], words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let digits = |w: &str| w.chars().next().is_some_and(|c| c.is_ascii_digit());
        let signed =
            raw[i].trim_start_matches(['(', '"']).starts_with(['£', '$', '€', '¥']) && digits(&words[i]);
        let worded = digits(&words[i]) && words.get(i + 1).is_some_and(|w| in_list(CURRENCIES, w));
        let next = if worded { i + 2 } else { i + 1 };
        (signed || worded) && words.get(next).is_some_and(|w| in_list(ADRIFT, w))
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says something stopped
/// working for a while: "cut out", "cuts out" or "cutting out" at a clause's end, before where or
/// when, or before a word of [`CUT_OUT_WHEN`] ("the sound system cut out mid-service", held-42;
/// "the mic keeps cutting out"); not "cut out the shapes".
fn cut_out(raw: &[&str], words: &[String]) -> bool {
    (0..words.len().saturating_sub(1)).any(|i| {
        let when = |n: &String| in_list(CUT_OUT_WHEN, n) || n.starts_with("mid");
        matches!(words[i].as_str(), "cut" | "cuts" | "cutting")
            && words[i + 1] == "out"
            && (ends_or_says_where(raw, words, i + 1) || words.get(i + 2).is_some_and(when))
    })
}

/// Whether the message (its text in `lower` case) says something ran out ([`RAN_OUT`]), not
/// after a negated auxiliary within two words ("we haven't run out of anything").
fn ran_out(lower: &str) -> bool {
    RAN_OUT.iter().any(|p| {
        lower.match_indices(p).any(|(at, _)| {
            let whole = !lower[..at].ends_with(char::is_alphanumeric)
                && !lower[at + p.len()..].starts_with(char::is_alphanumeric);
            let before: Vec<String> = lower[..at].split_whitespace().map(normalize_word).collect();
            whole && !before.iter().rev().take(2).any(|w| in_list(NEGATED_AUXILIARIES, w))
        })
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says a supply has run out
/// with nothing after "out" but where or when: a perfect ("have", "has", "had" or a contraction
/// of one, not negated) before "run out" at its clause's end or before where ("cheese cloths
/// have run out in the moulding room", held-49; "the gloves have run out"), or a future ("will",
/// "'ll", "going to") before it and then where or when ("we'll run out by Thursday", held-63);
/// not "the kids ran out into the yard".
fn run_out_of_supply(raw: &[&str], words: &[String]) -> bool {
    (1..words.len().saturating_sub(1)).any(|i| {
        let perfect = matches!(words[i - 1].as_str(), "have" | "has" | "had")
            || ["'ve", "'s", "'d", "’ve", "’s", "’d"].iter().any(|c| words[i - 1].ends_with(c));
        let negated = words[i.saturating_sub(3)..i].iter().any(|w| in_list(NEGATED_AUXILIARIES, w));
        // "we'll run out by Thursday" (held-63): a supply that will run out, and when.
        let future = matches!(words[i - 1].as_str(), "will" | "gonna" | "might" | "could")
            || words[i - 1].ends_with("'ll")
            || words[i - 1].ends_with("’ll")
            || i >= 2 && words[i - 1] == "to" && matches!(words[i - 2].as_str(), "going" | "about");
        let when = words.get(i + 2).is_some_and(|w| in_list(RUN_OUT_WHEN, w) || in_list(DAY_NAMES, w));
        words[i] == "run"
            && words[i + 1] == "out"
            && (perfect && ends_or_says_where(raw, words, i + 1)
                || future && (ends_or_says_where(raw, words, i + 1) || when))
            && !negated
    })
}

/// Whether the message (its `raw` words and their normalized `words`) says something was forced
/// open: "the generator room door was forced", "forced open", "forced entry", a verb of
/// [`BREAKS_IN`] before "open" within four words ("someone prised the window open") or after a
/// passive and before "in" ("the door has been kicked in"), or prised, jimmied or levered after
/// a passive ("the door's been jimmied"); not "the shuttle was forced to wait", nor "the heating
/// kicked in at 6".
fn forced(raw: &[&str], words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let next = words.get(i + 1).map(String::as_str);
        let ends = i + 1 == raw.len() || raw[i].ends_with(['.', '!', ',', ';']);
        let passive = i > 0 && matches!(words[i - 1].as_str(), "was" | "were" | "been" | "is" | "got");
        let breaks = in_list(BREAKS_IN, &words[i])
            && (words[i + 1..(i + 5).min(words.len())].iter().any(|w| w == "open")
                || passive && matches!(next, Some("in" | "into")));
        // "the boathouse door's been jimmied and two sets of blades are gone" (held-56): a lock
        // tool's verb after a passive forces whatever follows.
        let levered =
            passive && matches!(words[i].as_str(), "prised" | "pried" | "jimmied" | "jemmied" | "levered");
        // "the key safe has been forced and three sets of keys are gone" (held-63).
        let and = matches!(next, Some("and" | "but" | "overnight" | "again"));
        breaks
            || levered
            || words[i] == "forced" && (matches!(next, Some("open" | "entry")) || (ends || and) && passive)
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
pub(super) fn kit_spent(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        in_list(READY_KIT, &words[i])
            && words[i + 1..(i + 6).min(words.len())].iter().any(|w| in_list(SPENT, w))
    })
}

/// Whether the message (its normalized `words`) says something is all over a place ("water
/// all over the floor", "geese all over the 3rd green": any place after a determiner but the
/// world and the news, [`NOT_SPREAD`]; a place of [`ALL_OVER`] without one) or went bad ("all
/// the milk went bad"): [`SPOILED`].
fn spread_or_spoiled(words: &[String]) -> bool {
    let all_over = (0..words.len().saturating_sub(2)).any(|i| {
        let determined = in_list(RAN_OVER, &words[i + 2]);
        let spread = match words.get(i + 3) {
            Some(place) if determined => !in_list(NOT_SPREAD, place),
            _ => in_list(ALL_OVER, &words[i + 2]),
        };
        words[i] == "all" && words[i + 1] == "over" && spread
    });
    let spoiled = words
        .windows(2)
        .any(|p| matches!(p[0].as_str(), "went" | "gone" | "going" | "goes") && in_list(SPOILED, &p[1]));
    all_over || spoiled
}

/// Whether the message (its normalized `words`) says something has not happened for a while
/// that should have: a negated perfect ("hasn't", "has not", "haven't") and, within eleven words
/// after it, "since", "for" or "in" and a time word ([`LAPSE`], [`TIME_UNITS`]): "the cat hasn't
/// eaten since yesterday", "rent hasn't been paid for four months"; not "we haven't had any
/// alarms for a week" (an absence of "any" or "no" thing). "no" before a word of [`CONTACTS`]
/// is such a negation too ("no contact with the field camp since 0400", "no heartbeat from unit
/// 4 for ten minutes"), and so is [`NOBODY`] ("nobody's seen the swimmer in the red cap for ten
/// minutes", held-45; "no one has heard from him since 6").
pub(super) fn lapse(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let negated =
            matches!(words[i].as_str(), "hasn't" | "hasnt" | "haven't" | "havent" | "hasn’t" | "haven’t")
                || words[i] == "not" && i > 0 && matches!(words[i - 1].as_str(), "has" | "have")
                || words[i] == "no" && words.get(i + 1).is_some_and(|w| in_list(CONTACTS, w))
                || in_list(NOBODY, &words[i].replace('’', "'"))
                || words[i] == "no" && words.get(i + 1).is_some_and(|w| w == "one");
        let after = &words[i + 1..(i + 12).min(words.len())];
        negated
            && after.iter().any(|w| matches!(w.as_str(), "since" | "for" | "in"))
            && after.iter().any(|w| in_list(LAPSE, w) || in_list(TIME_UNITS, w) || is_clock(w))
            && !after.iter().any(|w| w == "any" || w == "no")
    })
}

/// Whether the message (its normalized `words`) says something expected never happened:
/// "never" and a past form, directly or after "been", "even", "actually" or "once" ("signed for
/// but never arrived", "the van never came back", "has never been serviced"); not "never mind".
pub(super) fn never_happened(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let mut next = words.get(i + 1);
        if next.is_some_and(|n| matches!(n.as_str(), "been" | "even" | "actually" | "once")) {
            next = words.get(i + 2).or(next);
        }
        w == "never" && next.is_some_and(|n| n.len() > 3 && n.ends_with("ed") || in_list(PAST_FORMS, n))
    })
}

/// Whether `w` (normalized) is a time of day: "2am", "11pm", "0600" or "14:30" (normalization
/// keeps the colon inside a word).
fn is_clock(w: &str) -> bool {
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let ampm = matches!(&w[digits.len()..], "am" | "pm");
    let clock = digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit())
        || digits.split_once(':').is_some_and(|(h, m)| {
            !h.is_empty() && m.len() == 2 && h.chars().chain(m.chars()).all(|c| c.is_ascii_digit())
        });
    !digits.is_empty() && (ampm && digits.chars().all(|c| c.is_ascii_digit()) || clock && w == digits)
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
pub(super) fn will_not_work(words: &[String]) -> bool {
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
/// clause), "short of gloves", "short by 4", "came up short", "out by one", "off by 3", "but only
/// 9"; not "a short break at 10".
fn falls_short(raw: &[&str], words: &[String]) -> bool {
    let count = |w: &String| is_count(w);
    words.iter().enumerate().any(|(i, w)| {
        let ends = i + 1 == raw.len() || raw[i].ends_with(['.', '!', ',', ';', '?']);
        // "the lot numbers in the catalogue are out by one from 200" (held-46), "off by 3".
        let out_by = matches!(w.as_str(), "out" | "off")
            && words.get(i + 1).is_some_and(|n| n == "by")
            && words.get(i + 2).is_some_and(count);
        // "a group of 12 but only 9 harnesses are free" (held-57): fewer than asked for; "12
        // reservations for vans and only 7 on the lot" (held-63): fewer than a number before.
        let only = words.get(i + 1).is_some_and(|n| n == "only") && words.get(i + 2).is_some_and(count);
        let fewer = words
            .get(i + 2)
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| words[..i].iter().filter_map(|m| m.parse::<u64>().ok()).any(|m| m > n));
        let but_only = only && (w == "but" || w == "and" && fewer);
        out_by
            || but_only
            || w == "short"
                && (words.get(i + 1).is_some_and(|n| n == "of" || n == "by")
                    || i > 0 && words[i - 1] == "up"
                    || ends && words[i.saturating_sub(3)..i].iter().any(count))
    })
}

/// Whether the message (its normalized `words`) says a vehicle left its way into something:
/// a verb of [`VEERS`], "into", a determiner and, within two words, a place of [`OFF_THE_WAY`]
/// ("the gritter on route 3 has gone into a ditch", held-59; "reversed into the wall"); not
/// "went into the office".
fn off_the_way(words: &[String]) -> bool {
    (1..words.len().saturating_sub(2)).any(|i| {
        // "a shell went sideways into the crowd barrier" (held-60): a word may say how.
        words[i] == "into"
            && words[i.saturating_sub(2)..i].iter().any(|w| in_list(VEERS, w))
            && in_list(DETERMINERS, &words[i + 1])
            && words[i + 2..(i + 4).min(words.len())].iter().any(|w| in_list(OFF_THE_WAY, w))
    })
}

/// Whether the message (its normalized `words`) says something moved into something by mishap:
/// a word of [`INTO_MOVERS`] before "into", not into a place of [`PLACINGS`] nor a numbered place
/// ("casks rolled into warehouse 2", held-60; "the lorry reversed into the loading bay wall" is
/// trouble).
fn moved_into(words: &[String]) -> bool {
    let number = |w: &String| w.starts_with(|c: char| c.is_ascii_digit());
    (0..words.len().saturating_sub(1)).any(|i| {
        let placed = words.get(i + 2).is_some_and(|w| in_list(PLACINGS, w))
            || words.get(i + 3).is_some_and(number)
                && words.get(i + 2).is_some_and(|w| !in_list(DETERMINERS, w));
        in_list(INTO_MOVERS, &words[i]) && words[i + 1] == "into" && !placed
    })
}

/// Whether the message (its `raw` words, their normalized `words`) says a person is down (fallen
/// or hurt): one person of [`PEOPLE`] or [`ROLES`] (not a plural: "visitors down on last year"
/// is a count), "down", then a place of [`DOWN_WHERE`] or the clause's end ("runner down at mile
/// 22", held-61; "man down"); or calls for a responder of [`RESPONDERS`] ("medics needed").
fn someone_down(raw: &[&str], words: &[String]) -> bool {
    let person = |w: &String| (in_list(PEOPLE, w) || in_list(ROLES, w)) && !w.ends_with('s');
    let down = (0..words.len().saturating_sub(1)).any(|i| {
        let ends = i + 2 == raw.len() || raw[i + 1].ends_with(['.', '!', ',', ';']);
        person(&words[i])
            && words[i + 1] == "down"
            && (ends || words.get(i + 2).is_some_and(|w| in_list(DOWN_WHERE, w)))
    });
    let called = words
        .windows(2)
        .any(|p| in_list(RESPONDERS, &p[0]) && matches!(p[1].as_str(), "needed" | "required"));
    down || called
}

/// Whether the message (its normalized `words`) says a measure is out of its range: a word of
/// [`MEASURES`] and, within three words after it, a word of [`OUT_OF_RANGE`] ("temperature
/// high on turbine 2", "vibration readings high", "CO2 readings are elevated") or "low" after
/// one of [`LOW_MEASURES`] where no measure only bad high is named, or "off the
/// scale", "off the charts", "out of range" or "out of spec" ("radiation readings off the
/// scale"). Not a measure after the word ("high pressure washer cleaned").
fn out_of_range(words: &[String]) -> bool {
    let only_bad_high = words.iter().any(|w| in_list(MEASURES, w) && !in_list(LOW_MEASURES, w));
    (0..words.len()).any(|i| {
        let low = !only_bad_high && in_list(LOW_MEASURES, &words[i]);
        let after = &words[i + 1..(i + 5).min(words.len())];
        let off = after.windows(3).any(|p| {
            matches!(
                (p[0].as_str(), p[1].as_str(), p[2].as_str()),
                ("off", "the", "scale" | "charts" | "chart") | ("out", "of", "range" | "spec" | "limits")
            )
        });
        let out = |w: &String| in_list(OUT_OF_RANGE, w) || low && w == "low";
        in_list(MEASURES, &words[i]) && (after.iter().take(3).any(out) || off)
    })
}

/// Whether the message (its `raw` words, their normalized `words`) says something has split: a
/// perfect before "split" at its clause's end or before where ("the water line to shed 4 has
/// split", held-65; "the pipe's split."); not "the team has split into two groups".
fn split(raw: &[&str], words: &[String]) -> bool {
    (1..words.len()).any(|i| {
        let ends = i + 1 == raw.len() || raw[i].ends_with(['.', '!', ',', ';', '?']);
        // "the pipe's split" at the clause's end; not "the pipe's split end".
        let contracted = words[i - 1].ends_with("'s") && ends;
        words[i] == "split"
            && (matches!(words[i - 1].as_str(), "has" | "have" | "had" | "is" | "are")
                && ends_or_says_where(raw, words, i)
                || contracted)
    })
}

/// Whether the message (its normalized `words`) says money was taken more than once: a word of
/// [`MONEY_TAKEN`] and, within five words after it, "twice", "double" or a count and "times"
/// ("a customer's card was charged the deposit three times", held-63); or "double charged"; with
/// a payer or money named ([`PAYERS`], "£40").
fn taken_again(raw: &[&str], words: &[String]) -> bool {
    let count = |w: &String| is_count(w);
    // Money, not a battery: "battery charged twice today" is no trouble.
    let money = words.iter().any(|w| in_list(PAYERS, w.trim_end_matches("'s")))
        || raw.iter().any(|r| r.starts_with(['£', '$', '€']));
    money
        && (0..words.len()).any(|i| {
            let after = &words[i + 1..(i + 6).min(words.len())];
            let again = after.iter().any(|w| w == "twice" || w == "double")
                || after.windows(2).any(|p| count(&p[0]) && p[1] == "times");
            in_list(MONEY_TAKEN, &words[i]) && (again || i > 0 && words[i - 1] == "double")
        })
}

/// Whether the message (its normalized `words`) says someone or something is over a limit: a
/// word of [`OVER`], an owner of [`LIMIT_OWNERS`] or none, and a word of [`LIMITS`] ("the hall is
/// over capacity"), or of [`OWNED_LIMITS`] after a possessive ("he's over his hours", held-59;
/// not "stayed over the hours of darkness").
pub(super) fn over_a_limit(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let owner = words.get(i + 1).filter(|w| in_list(LIMIT_OWNERS, w));
        let at = i + 1 + usize::from(owner.is_some());
        let owned = owner.is_some_and(|o| o != "the");
        let limit = |l: &String| in_list(LIMITS, l) || owned && in_list(OWNED_LIMITS, l);
        // "over its weight limit", "over their planned time": one word may name the limit.
        in_list(OVER, &words[i])
            && (words.get(at).is_some_and(limit) || owner.is_some() && words.get(at + 1).is_some_and(limit))
    })
}

/// Whether the message (its normalized `words`) says a supply is down to its last: "down to",
/// an owner or none, and "last" ("we're down to the last box", held-59; "down to our last
/// roll").
fn down_to_the_last(words: &[String]) -> bool {
    words.windows(2).enumerate().any(|(i, p)| {
        let owner = words.get(i + 2).filter(|w| in_list(LIMIT_OWNERS, w));
        let last = words.get(i + 2 + usize::from(owner.is_some()));
        p[0] == "down" && p[1] == "to" && last.is_some_and(|l| l == "last")
    })
}

/// Whether the message (its `raw` words, their normalized `words`, its text in `lower` case)
/// says trouble in more than a word: something that stopped ("the fan stopped spinning",
/// "ventilation fan 4 stopped."), a count short, what will not work, a light gone out, a
/// missing utility, something run over or forced, a change of look, a share near its limit,
/// or a phrase of the lists ([`WHOLE_WORD_TROUBLE`], [`TROUBLE_PHRASES`], [`NEGATABLE_TROUBLE`]).
pub(super) fn trouble_in_patterns(raw: &[&str], words: &[String], lower: &str) -> bool {
    let stopped = words.windows(2).any(|p| p[0] == "stopped" && p[1].len() > 4 && p[1].ends_with("ing"))
        || raw.iter().zip(words).enumerate().any(|(i, (r, w))| {
            // "car 2 stopped halfway up with forty passengers aboard" (held-46).
            let when = words.get(i + 1).is_some_and(|n| in_list(CUT_OUT_WHEN, n));
            w == "stopped" && (i + 1 == raw.len() || r.ends_with(['.', '!', ',', ';']) || when)
        });
    stopped
        || never_happened(words)
        || unfinished(words)
        || keyed(words)
        || COLLISIONS.iter().chain(GOT_IN).any(|p| says(lower, p) && phrase_not_negated(lower, p))
        || ran_out(lower)
        || run_out_of_supply(raw, words)
        || cut_out(raw, words)
        || falls_short(raw, words)
        || money_adrift(raw, words)
        || ate_no_food(words)
        || line_pulled(words)
        || struck(words)
        || holding_hurt(words)
        || in_the_eye(words)
        || level_moved(words)
        || over_a_barrier(words)
        || controls_failing(words)
        || tyres_let_down(words)
        || too_warm(raw, words)
        || lights_cut(raw, words)
        || belonging_taken(raw, words)
        || polluting(words)
        || spraying(words)
        || off_the_way(words)
        || moved_into(words)
        || someone_down(raw, words)
        || out_of_range(words)
        || taken_again(raw, words)
        || split(raw, words)
        || over_a_limit(words)
        || down_to_the_last(words)
        || packed(words)
        || dropped_low(raw, words)
        || came_down_on(words)
        || will_not_work(words)
        || went_out(raw, words)
        || turned_on(words)
        || secret_out(words)
        || lacks_a_utility(words)
        || ran_over(words)
        || forced_over(raw, words)
        || animal_out(words)
        || spread_or_spoiled(words)
        || kit_spent(words)
        || forced(raw, words)
        || LOOKS_WRONG.iter().any(|p| says(lower, p))
        || near_capacity(raw, words)
        || WHOLE_WORD_TROUBLE
            .iter()
            .chain(FAILED_ARRANGEMENTS)
            .any(|p| says(lower, p) && phrase_not_negated(lower, p))
        || TROUBLE_PHRASES.iter().any(|p| lower.contains(p))
        || NEGATABLE_TROUBLE.iter().any(|p| phrase_not_negated(lower, p))
}
