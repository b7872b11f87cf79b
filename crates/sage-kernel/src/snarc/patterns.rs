//! The text rule's patterns: word lists read by position, a word before or after another
//! (a negated modal and what equipment does, what "went out", a lapse's time words, a name's
//! verb), and phrases matched as whole words; beside [`super::lexicon`]'s stemmed lists. Each
//! came from a message set the rule missed (decision 0013, session 49).

/// Trouble said in whole words, not negated: "the compressor has been tripping all morning",
/// "the north gate camera has been offline since 6", "we're out of nitrile gloves" (not
/// "stripping", not "no cameras offline").
pub(super) const WHOLE_WORD_TROUBLE: &[&str] = &[
    "tripping",
    "offline",
    // A problem named as one (held-37: "the diver signalled a problem with his regulator"); whole
    // words, as "issued" is no issue; "no issues" is negated.
    "problem",
    "problems",
    // Damage done on purpose (held-41: "two cars have been keyed", with `cues::keyed`).
    "graffiti",
    "slashed",
    "defaced",
    "issue",
    "issues",
    // Whole word (held-45: the beach's "flags set between towers 2 and 3" shares its stem).
    "flagged",
    // Spread all around (held-45: "flies everywhere in room 6"; "glass everywhere").
    "everywhere",
    // A hole torn or worn (held-52: "the netting ... has a big hole"); not a golf course's "hole 7".
    "hole in the",
    "hole in it",
    "hole in its",
    "holes in the",
    "has a hole",
    "have a hole",
    "a big hole",
    "a huge hole",
    "a large hole",
    // A screen gone blank (held-56: "the timer screen in room 2 has gone blank mid-game").
    "gone blank",
    "went blank",
    "goes blank",
    // held-62: "the control room's second screen wall has gone black".
    "gone black",
    "went black",
    "gone dark",
    "went dark",
    "blank screen",
    // A system that hangs (held-54: "the radar's been freezing every few minutes").
    "keeps freezing",
    "kept freezing",
    "been freezing",
    "freezing up",
    "froze up",
    // held-66: "the simulator froze during an engine-failure drill".
    "froze",
    // Past a limit (held-53: "dust levels at the crusher are over the limit").
    "over the limit",
    "above the limit",
    "beyond the limit",
    "past the limit",
    "over the legal limit",
    // Pieces of what broke, in food or on the floor (held-52: "a metal fragment showed up on the
    // detector on the bread line").
    "fragment",
    "fragments",
    "shard",
    "shards",
    // Interfered with (held-60: "the spirit safe's seal has been tampered with"); not a
    // "tamper-evident seal".
    "tampered with",
    "tampering with",
    "been tampered",
    "signs of tampering",
    // held-65: "a fox has killed six birds", "it's infected" (with `mishaps::split`); whole
    // words, as a "kill switch" is equipment and "split the load" an order.
    "killed",
    "infected",
    "infection",
    "split open",
    "split in two",
    "split in half",
    // An animal loose (held-63: "a stray dog's got into the sheep paddock", "the pigs have
    // rooted under the fence into the car park").
    "stray",
    "strays",
    "under the fence",
    "through the fence",
    "under the wire",
    "through the hedge",
    "under the gate",
    // A supply gone (held-61: "the water station at mile 9 has run dry").
    "run dry",
    "ran dry",
    "running dry",
    "gone dry",
    "went dry",
    // Late (held-60's "over their planned time", with `mishaps::over_a_limit`).
    "behind schedule",
    // Food or feed gone off, said as its state (held-58: "the hay delivered this morning is
    // mouldy"); whole words, as "the mould tool" or "mold 4 changed" is a press's.
    "mouldy",
    "moldy",
    "mildewed",
    "rotten",
    "rotting",
    "rancid",
    "putrid",
    "maggots",
    "maggoty",
    // Illness, whole words (held-46: "Bella's owner says she's been vomiting since yesterday").
    "vomiting",
    "vomited",
    "vomit",
    "throwing up",
    "threw up",
    "diarrhoea",
    "diarrhea",
    "dizzy",
    "rash",
    "fever",
    "feverish",
    "allergic",
    "swallowed",
    "concussion",
    "concussed",
    "bitten",
    "stung",
    "sprained",
    "fracture",
    "fractured",
    "bruised",
    // Systems in trouble (held-46: "the online bidding platform is lagging by thirty seconds").
    "lagging",
    "laggy",
    "glitching",
    "glitchy",
    "buffering",
    "sluggish",
    "timed out",
    "timing out",
    "hacked",
    "phishing",
    "ransomware",
    "malware",
    "corrupted",
    "seeping",
    "oozing",
    // held-47: "the station's social accounts have been posting spam".
    "spam",
    "spamming",
    // Fitted the wrong way (held-48: "the belay device on rope 4 has been threaded backwards").
    "backwards",
    "back to front",
    "upside down",
    "wrong way round",
    "wrong way around",
    "inside out",
    // Gone without leave (held-48: "two boys snuck out of their cabin after lights out").
    "snuck",
    "sneaked",
    "sneaking",
    "wandered off",
    "ran away",
    "run away",
    "ran off",
    "slipped out",
    "slipped away",
    "absconded",
    "awol",
    "trouble",
    "we're out of",
    "we are out of",
    "we're all out of",
    "out of stock",
    // A sudden change: "network latency spiked to 900 ms".
    "spiked",
    "surged",
    "soared",
    "plunged",
    "plummeted",
    "skyrocketed",
    // What a screen or a camera should show and does not, and water where it should not come
    // (held-34: "CCTV cameras 5 through 9 showing no picture", "water coming through the
    // ceiling tiles").
    "showing no",
    "no picture",
    "through the ceiling",
    "through the roof",
    "pouring in",
    // Pests, and food or stock that thawed, arrived spoiled or late (held-35: "rats seen behind
    // the bins in the yard", "delivery of chicken arrived warm, 14 degrees"); whole words, as
    // the stem of "rats" is the stem of "rate".
    "rat",
    "rats",
    "rodent",
    "rodents",
    "vermin",
    "pests",
    "cockroach",
    "cockroaches",
    "infestation",
    "droppings",
    "wasps",
    "hornets",
    // Animals that are a danger where they are (held-62: "the balloon's landed in a field with a
    // bull in it"); with an article, as "the bull was moved to the top field" is farm work.
    "a bull",
    "a snake",
    "snakes",
    "an adder",
    "a viper",
    "a bear",
    "a wolf",
    "wolves",
    "a boar",
    "wild boar",
    "a scorpion",
    "scorpions",
    "a shark",
    "sharks",
    "jellyfish",
    "a swarm",
    "thawed",
    "defrosted",
    "jumped to",
    "shot up",
    "arrived warm",
    "arrived late",
    "arrived open",
    "arrived wet",
    "running late",
    "minutes late",
    "hours late",
    "too warm",
];

/// Hazards named before an "out" that ends its clause say the hazard is over: "chimney fire on
/// Church Road out, crews returning" (held-35), "the fire is out"; a routine frame. Not "fire in
/// hall 2, everybody out": the word before "out" must not be one of [`OUT_MOVERS`].
pub(super) const PUT_OUT: &[&str] = &["fire", "fires", "blaze", "flames", "flame"];

/// Words before "out" that send people out rather than say a fire is out.
pub(super) const OUT_MOVERS: &[&str] = &[
    "everybody",
    "everyone",
    "all",
    "get",
    "go",
    "come",
    "run",
    "move",
    "people",
    "them",
    "us",
    "you",
    "staff",
    "clear",
    "way",
    "head",
    "walk",
    "find",
];

/// A routine that failed is no routine: "emergency lighting test failed in block C" is trouble,
/// where "emergency lighting test passed" is a routine.
pub(super) const FAILED: &[&str] = &[
    "failed",
    "fails",
    "failure",
    "failures",
    // held-66: "the simulator froze during an engine-failure drill and threw the trainee forward".
    "froze",
    "crashed",
    "malfunctioned",
    "broke down",
];

/// Arrangements that failed, trouble that also undoes a routine frame: a booking made twice
/// (held-55: "the booking system double-booked the Saturday slots"), a bill unpaid (held-56: "a
/// hen party's booked all three rooms and only paid for one").
pub(super) const FAILED_ARRANGEMENTS: &[&str] = &[
    "double-booked",
    "double booked",
    "double-booking",
    "overbooked",
    "only paid",
    "didn't pay",
    "hasn't paid",
    "haven't paid",
    "not paid",
    "unpaid",
    "underpaid",
    "without paying",
];

/// What fails when it "went out": "lights went out in sector 4", "the pilot light has gone out";
/// not "the newsletter went out", "the shipment went out at 2".
pub(super) const GOES_OUT: &[&str] = &[
    "light",
    "lights",
    "lamp",
    "lamps",
    "bulb",
    "bulbs",
    "power",
    "electricity",
    "flame",
    "pilot",
    "beacon",
    "signal",
    "screen",
    "screens",
    "display",
    "heating",
    "heater",
    "wifi",
    "internet",
    "network",
    "radio",
    "camera",
    "cameras",
    "monitor",
    "monitors",
];

/// What a place or a device can be without ("the eyewash station has no water pressure",
/// "there's no power in block C"): after "has no", "have no", "there's no", "there is no".
pub(super) const UTILITIES: &[&str] = &[
    "water",
    "pressure",
    "power",
    "electricity",
    "signal",
    "heat",
    "heating",
    "network",
    "internet",
    "wifi",
    "air",
    "light",
    "lights",
    "connection",
    "coverage",
    "gas",
    "hot",
    "oxygen",
    "suction",
];

/// What is in trouble near its limit ("PDU B at 98% load", "disk 97% full"), unlike a charge
/// ("battery at 98 percent").
pub(super) const CAPACITY: &[&str] = &[
    "load",
    "loaded",
    "full",
    "usage",
    "used",
    "utilisation",
    "utilization",
    "capacity",
    "cpu",
    "memory",
    "ram",
    "disk",
    "storage",
    "occupancy",
];

/// Hazards said in more words, matched whole and not negated: someone who cannot breathe.
pub(super) const HAZARD_PHRASES: &[&str] = &[
    "can't breathe",
    "cant breathe",
    "cannot breathe",
    "can not breathe",
    "not breathing",
    "trouble breathing",
    "difficulty breathing",
    "short of breath",
];

/// Something that is not as it should be, said of how it looks: "the pills in the blue box look
/// different today", "the label looks wrong", "the readings seem off".
pub(super) const LOOKS_WRONG: &[&str] = &[
    "look different",
    "looks different",
    "looked different",
    "look odd",
    "looks odd",
    "look strange",
    "looks strange",
    "look off",
    "looks off",
    "seems off",
    "seem off",
    "seems different",
];

/// What a vehicle or a robot ran over ("you ran over the cat's tail"); not "the meeting ran
/// over by ten minutes".
pub(super) const RAN_OVER: &[&str] =
    &["the", "a", "an", "my", "his", "her", "their", "our", "your", "someone's", "somebody's"];

/// Time words that make a lapse of a negated perfect ("the cat hasn't eaten since yesterday",
/// "he hasn't moved for an hour").
pub(super) const LAPSE: &[&str] = &[
    "yesterday",
    "hour",
    "hours",
    "day",
    "days",
    "minutes",
    "morning",
    "night",
    "week",
    "weeks",
    "breakfast",
    "lunch",
    "dinner",
    "noon",
    "midnight",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// What one hears from a party that is there and well: "no" before one of these is a lapse
/// when a time follows ("no contact with the field camp since 0400").
pub(super) const CONTACTS: &[&str] = &[
    "contact",
    "signal",
    "word",
    "reply",
    "response",
    "answer",
    "heartbeat",
    "comms",
    "telemetry",
    "ping",
    "news",
    "update",
    "updates",
    "call",
    "calls",
];

/// Irregular past forms: "never" before one says something expected did not happen ("the
/// parcel never came").
pub(super) const PAST_FORMS: &[&str] = &[
    "came", "got", "went", "made", "left", "sent", "took", "gave", "rang", "heard", "saw", "seen", "woke",
    "ran", "paid", "brought", "showed", "turned", "arrived", "done", "shown", "given",
];

/// Negated modals, typed with or without their apostrophe: what follows will not happen.
pub(super) const NEGATED_MODALS: &[&str] = &[
    "won't",
    "wont",
    "won’t",
    "can't",
    "cant",
    "can’t",
    "cannot",
    "doesn't",
    "doesnt",
    "doesn’t",
    "didn't",
    "didnt",
    "didn’t",
];

/// Modals that "not" negates after them ("will not lock").
pub(super) const MODALS: &[&str] = &["will", "does", "did", "can", "would"];

/// What equipment does: after a negated modal ("door 9 wont lock", "the lid will not seal"),
/// something that fails to do it.
pub(super) const FUNCTIONS: &[&str] = &[
    "start", "open", "close", "shut", "lock", "unlock", "latch", "seal", "move", "charge", "connect",
    "respond", "boot", "turn", "work", "stop", "power", "release", "engage", "drain", "load",
    // held-38: "the afterburner won't light".
    "light", "ignite", "heat", "cool", "print", "spin", "flush", "pump", "fill", "flow", "retract", "extend",
    "fold", "brake", "steer", "reset", "restart", "reboot", "sync", "pair", "dispense",
    // held-54: "the car deck ramp won't lower at the far side".
    "lower", "raise", "lift", "budge", "rotate", "tilt", "slide", "deploy", "inflate",
    // held-55: "the autoclave's test strip didn't change colour".
    "change",
];

/// Where equipment does not move after a negated modal and "come" or "go" ("the loading dock
/// door won't come down", "the shutter will not go up").
pub(super) const MOVES: &[&str] = &["down", "up", "off", "out", "open", "loose"];

/// What must be ready when it is needed (a fire extinguisher, a defibrillator, an oxygen
/// canister, a fuel tank, a first aid kit): trouble when [`SPENT`] within five words after it.
pub(super) const READY_KIT: &[&str] = &[
    "extinguisher",
    "extinguishers",
    "defibrillator",
    "defib",
    "aed",
    "eyewash",
    "kit",
    "canister",
    "canisters",
    "cylinder",
    "cylinders",
    "tank",
    "tanks",
    "inhaler",
    "epipen",
    "respirator",
];

/// How what must be ready is not: "the fire extinguisher in the workshop is empty", "the AED
/// battery expired".
pub(super) const SPENT: &[&str] = &["empty", "expired", "discharged", "depleted"];

/// Verbs that follow a person's name at a message's start ("Svetlana starts on the night shift
/// tonight", "Okafor called about the order"): a capitalised first word before one of them, and
/// unknown to the source, is a name, not a sentence's capital.
pub(super) const AFTER_A_NAME: &[&str] = &[
    "starts", "started", "wants", "wanted", "says", "said", "called", "asked", "joins", "joined", "phoned",
    "rang", "emailed", "texted",
];

/// Animals that are trouble out of their place: "the cows are out on the road", "the dog got
/// out", "two sheep in the road" (with [`ANIMAL_OUT`] after them).
pub(super) const ANIMALS: &[&str] = &[
    "cow",
    "cows",
    "cattle",
    "calf",
    "calves",
    "bull",
    "bulls",
    "heifer",
    "heifers",
    "sheep",
    "lamb",
    "lambs",
    "goat",
    "goats",
    "pig",
    "pigs",
    "horse",
    "horses",
    "pony",
    "ponies",
    "dog",
    "dogs",
    "puppy",
    "cat",
    "kitten",
    "hens",
    "chickens",
    "geese",
    "ducks",
    "deer",
    "llama",
    "llamas",
    "alpaca",
    "alpacas",
    "herd",
    "flock",
    "animals",
    "livestock",
];

/// Where an animal is out of its place, within four words after it: "got out", "out on the
/// road", "loose"; not "out in the pasture", "out to graze", "out for a walk".
pub(super) const ANIMAL_OUT: &[&str] = &[
    "got out",
    "gotten out",
    "get out",
    "are out",
    "is out",
    "broke out",
    "broke through",
    "on the road",
    "in the road",
    "onto the road",
    "on the highway",
    "on the tracks",
    "on the runway",
    "in the street",
];

/// What is out of place when it is "all over" it: "there's water all over the floor in the
/// server room", "glass all over the road".
pub(super) const ALL_OVER: &[&str] =
    &["floor", "floors", "ground", "road", "place", "carpet", "deck", "bench"];

/// What something is "all over" without being out of place: "it's all over the news", "we
/// ship all over the country".
pub(super) const NOT_SPREAD: &[&str] = &[
    "world", "globe", "planet", "country", "region", "county", "state", "city", "town", "map", "news",
    "internet", "web", "papers", "press", "media", "radio", "tv",
];

/// What went bad ("all the milk went bad", "the vaccine has gone bad"): "went", "gone" or
/// "going" before "bad", "rotten" or "sour".
pub(super) const SPOILED: &[&str] = &["bad", "rotten", "sour", "mouldy", "moldy"];

/// Routine words whose bare form is mostly something else: "clear the field" orders, "path
/// clear" is a state, "the customer service desk" a place (held-33, held-34), "came in the
/// post" is mail (held-44; its stem is a poster's), "posting spam" is no notice (held-47);
/// their other forms ("cleared", "serviced") still frame a routine; "plane" is no plan.
pub(super) const NOT_ROUTINE_BARE: &[&str] = &[
    "clear", "service", "services", "post", "posts", "posting",
    // held-64: "the tug plane's oil pressure dropped on the climb" (its stem is a plan's).
    "plane", "planes", "plane's",
];

/// Orders to do nothing: in a routine frame they say the routine is no news ("fire alarm test
/// Thursday 10am, ignore the bells", held-34), and are no instruction.
pub(super) const STAND_DOWN: &[&str] = &["ignore", "disregard"];

/// Verbs before "out" that say someone lost consciousness: "there's a guy passed out behind the
/// main stage" (held-33), "she blacked out"; not "the volunteers passed out flyers" (an object
/// follows: [`WHERE_AFTER`] must, or the clause must end).
pub(super) const FAINTS: &[&str] = &["passed", "passing", "pass", "passes", "blacked", "blacking", "black"];

/// Words that may follow what happened to someone or something, saying where or when ("passed
/// out behind the stage", "kicked the robot over by the dining hall"), where an object would
/// say what was handed out or moved ("passed out flyers", "pushed the cart over to bay 4").
pub(super) const WHERE_AFTER: &[&str] = &[
    "in",
    "on",
    "at",
    "by",
    "near",
    "behind",
    "outside",
    "inside",
    "next",
    "beside",
    "under",
    "from",
    "during",
    "after",
    "again",
    "and",
    "twice",
    "here",
    "there",
    "while",
    "just",
    "completely",
];

/// What is fired in a kiln or melted in a furnace ("the bisque firing", held-42; "furnace 1
/// charged for the morning melt", held-44): "firing" or "melt" after one is the work, no fire.
pub(super) const KILN_WORDS: &[&str] = &[
    "kiln",
    "kilns",
    "bisque",
    "biscuit",
    "glaze",
    "glost",
    "raku",
    "pots",
    "pottery",
    "ceramics",
    "stoneware",
    "porcelain",
    "clay",
    "furnace",
    "furnaces",
    "cupola",
    "crucible",
    "foundry",
];

/// When something cuts out ("the sound system cut out mid-service", "keeps cutting out again").
pub(super) const CUT_OUT_WHEN: &[&str] = &[
    "again",
    "during",
    "every",
    "halfway",
    "completely",
    "randomly",
    "intermittently",
    "suddenly",
    "constantly",
    "sometimes",
    "twice",
    "now",
    "today",
    "while",
    "when",
];

/// A collision said as a verb and where it went (held-41: "forklift clipped the racking in the
/// cold store"); not "hedges clipped".
pub(super) const COLLISIONS: &[&str] = &[
    "clipped the",
    "clipped a",
    "rammed",
    "reversed into",
    "backed into",
    "bumped into",
    "drove into",
    "crashed into",
    "smashed into",
    "ploughed into",
    "plowed into",
    "ran into the",
    "ran into a",
];

/// A way in that was not a door (held-41: "a seagull got in through the loading bay").
pub(super) const GOT_IN: &[&str] = &[
    "got in through",
    "got in via",
    "got in under",
    "got inside",
    "get in through",
    "getting in through",
    "came in through",
    "coming in through",
];

/// Sign-offs that, negated, say what should be done is not ("allergen changeover not signed
/// off", held-41), beside the report words.
pub(super) const SIGNED_OFF: &[&str] = &["signed", "approved", "verified", "tested", "inspected", "locked"];

/// Negations before a report word that make it undone: "not checked", "never cleaned".
pub(super) const NOT_DONE: &[&str] = &["not", "never", "wasn't", "wasnt", "weren't", "werent"];

/// Vehicles, whose paint a key scratches ("two cars have been keyed").
pub(super) const VEHICLES: &[&str] = &[
    "car", "cars", "van", "vans", "truck", "trucks", "lorry", "lorries", "taxi", "taxis", "vehicle",
    "vehicles", "bus",
];

/// What ran out (held-38: "we've run out of 1 kg bags"); not after a negated auxiliary ("we
/// haven't run out of anything").
pub(super) const RAN_OUT: &[&str] =
    &["run out of", "ran out of", "running out of", "runs out of", "running low"];

/// Negated auxiliaries, typed with or without their apostrophe.
pub(super) const NEGATED_AUXILIARIES: &[&str] = &[
    "haven't", "havent", "hasn't", "hasnt", "hadn't", "hadnt", "didn't", "didnt", "won't", "wont", "isn't",
    "isnt", "aren't", "arent", "not", "never",
];

/// Verbs that break a way in: "the laundry room door has been kicked in" (held-38), "someone
/// prised the window open"; not "the heating kicked in at 6" (no passive before it).
pub(super) const BREAKS_IN: &[&str] =
    &["kicked", "smashed", "forced", "prised", "pried", "jimmied", "jemmied", "bashed", "levered", "booted"];

/// Who belongs to a place: someone "non-" one of them is an outsider ("a non-resident has been
/// sleeping in the common room", held-38), though a resident alone is no news.
pub(super) const MEMBERS: &[&str] = &[
    "resident",
    "residents",
    "member",
    "members",
    "staff",
    "employee",
    "employees",
    "tenant",
    "tenants",
    "passenger",
    "passengers",
    "guest",
    "guests",
    "student",
    "students",
    "patient",
];

/// Verbs of force before "over": "a student kicked the robot over", "the wind blew the sign
/// over", "someone pushed the bin over" (held-33); with at most three words between.
pub(super) const FORCES: &[&str] =
    &["kicked", "pushed", "shoved", "knocked", "blew", "blown", "flipped", "threw", "thrown", "tipped"];

/// Words after which "stop" or "halt" is the verb, an order to stop ("please stop the bot",
/// "you must stop", "tell it to stop"), where after a noun or an article it is a place or an
/// event ("fuel stop done", "a rest stop", "the line came to a halt"; held-33).
pub(super) const BEFORE_A_VERB: &[&str] = &[
    "to",
    "please",
    "pls",
    "must",
    "should",
    "will",
    "can",
    "could",
    "would",
    "and",
    "then",
    "now",
    "not",
    "don't",
    "dont",
    "never",
    "you",
    "we",
    "i",
    "they",
    "it",
    "everyone",
    "everybody",
    "all",
    "robot",
    "just",
];

/// What comes down on something ("paint overspray has landed on parked cars", held-43).
pub(super) const CAME_DOWN: &[&str] =
    &["landed", "fell", "fallen", "dropped", "dripped", "splashed", "sprayed", "blew", "blown", "collapsed"];

/// Words of a currency after a sum ("20 quid short").
pub(super) const CURRENCIES: &[&str] =
    &["quid", "pounds", "pound", "dollars", "dollar", "bucks", "euros", "euro", "pence", "cents"];

/// What a sum is when the money does not add up ("the cash cage is £500 down", held-43; "the
/// till is $20 out").
pub(super) const ADRIFT: &[&str] = &["down", "short", "out", "missing", "adrift", "over", "unaccounted"];

/// Who may turn on someone ("the crowd has turned on the press", held-44), beside [`PEOPLE`].
pub(super) const CROWDS: &[&str] = &[
    "crowd",
    "crowds",
    "mob",
    "fans",
    "protesters",
    "protestors",
    "press",
    "police",
    "stewards",
    "staff",
    "crew",
    "guards",
    "security",
    "handler",
    "keeper",
    "owner",
    "referee",
    "players",
    "dog",
    "dogs",
    "horse",
    "bull",
];

/// What must stay secret ("the gate code has been given out on social media", held-44).
pub(super) const SECRETS: &[&str] = &[
    "code",
    "codes",
    "password",
    "passwords",
    "pin",
    "passcode",
    "passcodes",
    "combination",
    "keycode",
    "credentials",
    "login",
    "logins",
];

/// Where a secret is public.
pub(super) const PUBLIC: &[&str] = &[
    "online",
    "internet",
    "social",
    "facebook",
    "twitter",
    "instagram",
    "tiktok",
    "reddit",
    "publicly",
    "strangers",
    "leaked",
];

/// Days and times a routine is due on; their possessive names a thing ("tomorrow's story").
pub(super) const DAY_NAMES: &[&str] = &[
    "today",
    "tonight",
    "tomorrow",
    "yesterday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "weekend",
];

/// Nobody, before what nobody did for a while ("nobody's seen the swimmer in the red cap for
/// ten minutes", held-45).
pub(super) const NOBODY: &[&str] = &["nobody", "nobody's", "nobodys", "noone", "no-one"];

/// What is no food, eaten or swallowed ("one of the dogs ate a sock", held-46).
pub(super) const NOT_FOOD: &[&str] = &[
    "sock",
    "socks",
    "battery",
    "batteries",
    "coin",
    "coins",
    "magnet",
    "magnets",
    "chocolate",
    "grapes",
    "raisins",
    "poison",
    "pills",
    "tablets",
    "glass",
    "plastic",
    "string",
    "toy",
    "bleach",
    "screw",
    "nail",
    "button",
    "earring",
    "ring",
    "glove",
    "stone",
    "stones",
    "rubber",
    "foil",
    "wire",
];

/// Verbs of eating, before what is no food.
pub(super) const ATE: &[&str] = &["ate", "eaten", "eat", "eats", "eating", "swallowed", "chewed", "gulped"];

/// Verbs of a drop, before a low share ("humidity down to 9 percent", held-46).
pub(super) const DROPS_TO: &[&str] = &["down", "dropped", "fell", "fallen", "falling", "dropping", "sunk"];

/// Things and places named after exercise, which frame no exercise of a drill ("a phone was
/// thrown over the wall into the exercise yard", held-53).
pub(super) const EXERCISE_PLACES: &[&str] = &[
    "yard",
    "yards",
    "bike",
    "bikes",
    "room",
    "area",
    "class",
    "classes",
    "equipment",
    "machine",
    "ball",
    "wheel",
    "pen",
];

/// Routines that gather people, during which what happens happened ("the cellist's chair
/// collapsed during the rehearsal", held-53); a drill or a test is what sounds during it.
pub(super) const GATHERINGS: &[&str] =
    &["rehearsal", "rehearsals", "briefing", "training", "practice", "refresher", "audit"];

/// What is flat when it is "drained" ("the battery's drained"); anything else drained was
/// emptied on purpose ("compressor drained", held-58).
pub(super) const POWER_STORES: &[&str] =
    &["battery", "batteries", "batt", "cell", "cells", "pack", "packs", "power", "charge", "phone", "ups"];

/// Loads that are "tipped" where they should be ("clay delivery tipped", held-63).
pub(super) const LOADS: &[&str] =
    &["delivery", "deliveries", "load", "loads", "skip", "skips", "waste", "spoil"];
