//! Words the multi-word trouble patterns of `mishaps` read since session 56 (decision 0013):
//! what a patient's line is and what pulls it, blows and the body, lengths a level moves by,
//! barriers, failing brakes, cold stores and their limits, belongings and how they are taken.
//! The older lists the patterns share with the rest of the rule stay in `patterns`.

/// Lines and dressings on a patient or an animal, which come out only by mishap ("the dog in
/// kennel 3 has pulled her drip out", held-50).
pub(super) const MEDICAL_LINES: &[&str] = &[
    "drip", "cannula", "catheter", "iv", "stitches", "sutures", "dressing", "bandage", "feeding", "chest",
    "picc",
];

/// Verbs that take a line out by mishap ("pulled her drip out", "chewed his stitches").
pub(super) const LINE_PULLS: &[&str] =
    &["pulled", "ripped", "tore", "torn", "yanked", "chewed", "dislodged", "knocked"];

/// Blows an animal or a person deals ("one of the horses kicked the stable hand", held-51;
/// "the dog bit him"); "charged" only from an animal ("the bull charged").
pub(super) const STRIKES: &[&str] = &[
    "kicked",
    "bit",
    "trampled",
    "gored",
    "butted",
    "headbutted",
    "punched",
    "mauled",
    "pecked",
    "scratched",
    "clawed",
    "stamped",
    "charged",
];

/// Parts of the body a hurt person holds ("he's holding his ribs", held-51); not the hand, which
/// is held to comfort.
pub(super) const BODY_PARTS: &[&str] = &[
    "ribs", "arm", "head", "wrist", "side", "chest", "back", "leg", "ankle", "stomach", "eye", "face",
    "knee", "shoulder", "neck", "jaw", "nose", "foot", "hip", "belly", "tummy",
];

/// Lengths a level moves by ("water levels in the reedbed have dropped a foot overnight", held-52).
pub(super) const LENGTHS: &[&str] = &[
    "foot",
    "feet",
    "metre",
    "metres",
    "meter",
    "meters",
    "inch",
    "inches",
    "cm",
    "centimetres",
    "yard",
    "yards",
];

/// What keeps people or things out, for what was thrown or jumped over it ("a phone was thrown
/// over the wall into the exercise yard", held-53).
pub(super) const BARRIERS: &[&str] = &[
    "wall",
    "walls",
    "fence",
    "fences",
    "gate",
    "barrier",
    "barriers",
    "railing",
    "railings",
    "hedge",
    "perimeter",
];

/// How something gets over a barrier ("thrown over the wall", "hopped over the fence").
pub(super) const OVER_BARRIERS: &[&str] =
    &["thrown", "threw", "chucked", "tossed", "lobbed", "jumped", "hopped", "vaulted", "got", "came"];

/// What brakes or steering do as they fail ("the haul truck's brakes faded on the ramp down",
/// held-53; "the brakes are spongy").
pub(super) const CONTROLS_FAILING: &[&str] = &[
    "faded", "fading", "fade", "spongy", "soft", "gone", "went", "locked", "locking", "binding", "smoking",
    "slipping", "grabbing", "pulling", "heavy",
];

/// What keeps food cold, too warm past [`COLD_LIMIT`] degrees ("the cafe's fridge is at 12
/// degrees", held-54); a freezer past [`FROZEN_LIMIT`].
pub(super) const COLD_STORES: &[&str] =
    &["fridge", "fridges", "chiller", "chillers", "cooler", "coolers", "cold"];
/// Degrees Celsius over which a fridge, a chiller or a cold room is too warm (food law: 8).
pub(super) const COLD_LIMIT: f64 = 8.0;
/// Degrees Celsius over which a freezer is too warm (stored frozen food: at most -12 or so).
pub(super) const FROZEN_LIMIT: f64 = -12.0;

/// Things people own that are taken from them ("a member's bike was taken from the rack inside
/// the lobby", held-55); not a sample or a reading, which are taken as routine.
pub(super) const BELONGINGS: &[&str] = &[
    "bike",
    "bikes",
    "bicycle",
    "scooter",
    "car",
    "van",
    "phone",
    "wallet",
    "purse",
    "bag",
    "handbag",
    "laptop",
    "tools",
    "keys",
    "camera",
    "tablet",
    "jewellery",
    "watch",
    "cash",
    "money",
    "helmet",
];

/// How something is taken from its owner (with "taken" only "from" it or at a clause's end).
pub(super) const TAKEN_AWAY: &[&str] = &["taken", "nicked", "pinched", "swiped", "snatched", "lifted"];

/// What fouls water where it runs into it ("effluent's running into the surface water drain",
/// held-56).
pub(super) const POLLUTANTS: &[&str] = &[
    "effluent",
    "sewage",
    "slurry",
    "diesel",
    "petrol",
    "fuel",
    "oil",
    "chemicals",
    "chemical",
    "bleach",
    "blood",
    "waste",
];

/// Waters that pollution runs into.
pub(super) const WATERS: &[&str] = &[
    "drain",
    "drains",
    "river",
    "stream",
    "watercourse",
    "brook",
    "canal",
    "pond",
    "lake",
    "ditch",
    "sea",
    "culvert",
    "beck",
    "harbour",
    "dock",
];

/// What holds water and should not spray it ("the sprinkler in aisle 3 has been spraying the
/// walkway all morning", held-57).
pub(super) const CONTAINS_WATER: &[&str] = &[
    "sprinkler",
    "sprinklers",
    "pipe",
    "pipes",
    "hose",
    "tap",
    "taps",
    "valve",
    "hydrant",
    "main",
    "mains",
    "fountain",
    "radiator",
    "tank",
    "cistern",
    "boiler",
];

/// How a vehicle leaves its way ("the gritter on route 3 has gone into a ditch", held-59; "the
/// van reversed into the wall").
pub(super) const VEERS: &[&str] = &[
    "gone", "went", "ran", "run", "drove", "driven", "slid", "skidded", "crashed", "veered", "reversed",
    "backed", "rolled", "careered", "ploughed", "plowed", "swerved", "spun",
];

/// What a vehicle ends up in or against when it leaves its way.
pub(super) const OFF_THE_WAY: &[&str] = &[
    "ditch",
    "hedge",
    "wall",
    "river",
    "canal",
    "lake",
    "pond",
    "verge",
    "barrier",
    "fence",
    "tree",
    "pole",
    "lamppost",
    "embankment",
    "bollard",
    "kerb",
    "curb",
    "gatepost",
    "sea",
    "harbour",
    "dock",
];

/// Limits that someone or something is over ("the hall is over capacity", "over budget", "past
/// the deadline").
pub(super) const LIMITS: &[&str] = &[
    "limit",
    "limits",
    "budget",
    "capacity",
    "quota",
    "allowance",
    "max",
    "maximum",
    "deadline",
    // held-62: "the CEMS shows stack emissions over the permit".
    "permit",
    "consent",
    "licence",
    "license",
    "threshold",
];

/// Limits that someone or something is over only after a possessive ("he's over his hours",
/// held-59; "two minutes over their planned time", held-60); "over the hours of darkness" and
/// "past the window" are a span and a place.
pub(super) const OWNED_LIMITS: &[&str] = &["hours", "time", "slot", "window"];

/// Whose limit it is, between "over" and [`LIMITS`].
pub(super) const LIMIT_OWNERS: &[&str] = &["his", "her", "their", "its", "my", "your", "our", "the"];

/// What is over a limit: "over", "past" or "beyond" before [`LIMITS`] or [`OWNED_LIMITS`].
pub(super) const OVER: &[&str] = &["over", "past", "beyond"];

/// Moves that end "into" something by mishap ("Tractor rolled into the irrigation ditch", "van 3
/// reversed into the gatepost"), unless into a place kept for it, [`PLACINGS`].
pub(super) const INTO_MOVERS: &[&str] = &["rolled", "drove", "reversed", "backed"];

/// Where something is moved into on purpose ("rolled into place"); a place with a number after
/// it is one too ("casks rolled into warehouse 2", held-60).
pub(super) const PLACINGS: &[&str] = &["place", "position", "storage", "stock", "line", "view"];

/// Roles of people who can be "down" (fallen, hurt) besides [`PEOPLE`] ("runner down at mile
/// 22, medics needed", held-61; "rider down on the back straight").
pub(super) const ROLES: &[&str] = &[
    "runner",
    "rider",
    "jockey",
    "climber",
    "player",
    "swimmer",
    "diver",
    "skier",
    "walker",
    "hiker",
    "officer",
    "firefighter",
    "marshal",
    "steward",
    "guard",
    "colleague",
    "teammate",
    "resident",
    "member",
    "passenger",
    "pupil",
    "child",
    "casualty",
    "spectator",
    "competitor",
    "racer",
    "biker",
];

/// Where a person who is "down" is, or the end of the clause ("man down at gate 4").
pub(super) const DOWN_WHERE: &[&str] =
    &["at", "on", "in", "near", "by", "behind", "outside", "inside", "here", "there"];

/// Who is called for when "needed" ("medics needed", "security needed at the bar").
pub(super) const RESPONDERS: &[&str] = &[
    "medic",
    "medics",
    "paramedic",
    "paramedics",
    "ambulance",
    "doctor",
    "nurse",
    "aider",
    "aiders",
    "security",
    "police",
    "firefighters",
    "backup",
    "rescue",
];

/// What is measured, before a word of [`OUT_OF_RANGE`] ("temperature high on turbine 2",
/// "vibration readings high", "CO2 readings are elevated"); never after it, as "high pressure
/// washer" and "high temperature alarm" name equipment.
pub(super) const MEASURES: &[&str] = &[
    "temperature",
    "temperatures",
    "temp",
    "temps",
    "pressure",
    "pressures",
    "vibration",
    "vibrations",
    "voltage",
    "current",
    "humidity",
    "level",
    "levels",
    "reading",
    "readings",
    "co2",
    "co",
    "oxygen",
    "o2",
    "radiation",
    "ph",
    "load",
    "flow",
    "rpm",
    "noise",
    "dust",
    "gas",
    "methane",
    "conductivity",
    "emissions",
    "moisture",
    "ammonia",
    "chlorine",
    "turbidity",
    "pulse",
    "bp",
];

/// What says a measure is out of its range, within three words after it.
pub(super) const OUT_OF_RANGE: &[&str] =
    &["high", "higher", "elevated", "abnormal", "excessive", "critical", "dangerously"];

/// Measures that are out of range when "low" too ("battery level low", "oxygen low in tank 2");
/// not when a measure that is only bad high is named ("noise levels low overnight").
pub(super) const LOW_MEASURES: &[&str] = &[
    "temperature",
    "temp",
    "pressure",
    "pressures",
    "voltage",
    "current",
    "level",
    "levels",
    "oxygen",
    "o2",
    "flow",
    "pulse",
    "bp",
    "reading",
    "readings",
];

/// When a supply will run out, after "run out" ("we'll run out by Thursday", held-63).
pub(super) const RUN_OUT_WHEN: &[&str] = &["by", "before", "soon", "within", "this", "next", "at"];

/// Money taken, which is trouble taken twice ("charged the deposit three times", held-63).
pub(super) const MONEY_TAKEN: &[&str] =
    &["charged", "charging", "charges", "billed", "billing", "debited", "invoiced", "refunded"];

/// Who or what pays, which says "charged" is money's ("a customer's card", "the deposit").
pub(super) const PAYERS: &[&str] = &[
    "card",
    "cards",
    "customer",
    "customers",
    "client",
    "clients",
    "account",
    "accounts",
    "deposit",
    "fee",
    "fees",
    "payment",
    "payments",
    "bill",
    "guest",
    "guests",
    "member",
    "members",
    "patient",
    "patients",
];
