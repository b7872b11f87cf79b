//! The text rule read on the message sets written from session 56 on (held-50 and later), each
//! test named for the set whose misses it came from; the earlier sets' are in `cues_tests.rs`.

use super::tests::{cues, ev};
use super::*;

#[test]
fn held_50s_misses_and_look_alikes() {
    // Message set held-50 (session 56: a recycling plant, a veterinary surgery, a winery at
    // crush, a printing works), run once: 38 of 40; these were missed, and the routine line
    // read as trouble at every repeat.
    assert!(ev("the dog in kennel 3 has pulled her drip out") >= TROUBLE);
    assert!(cues("top up the sulphur in tank 3 before lunch", &|_| false).instruction);
    assert!(ev("glass bay emptied by the haulier") < TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("her cannula has come out") >= TROUBLE);
    assert!(ev("the dog chewed through his stitches") >= TROUBLE);
    assert!(ev("drip tray emptied") < TROUBLE);
    assert!(cues("clear out the fridge in the staff room", &|_| false).instruction);
    assert!(!cues("crew on the way to site", &|_| false).instruction);
    assert!(!cues("lorry back in the yard", &|_| false).instruction);
    assert!(ev("there's glass in the bin by the door") >= TROUBLE);
}

#[test]
fn held_51s_misses_and_look_alikes() {
    // Message set held-51 (session 56: a circus, a commercial laundry, a mountain rescue team, a
    // flower market), run once: 38 of 40; these were missed, and the routine line read as a
    // hazard at every repeat.
    assert!(ev("one of the horses kicked the stable hand, he's holding his ribs") >= TROUBLE);
    assert!(ev("walker reported overdue on the ridge, last contact 4 hours ago") >= TROUBLE);
    assert!(ev("avalanche forecast noted in the log") < TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the dog bit the postman") >= TROUBLE);
    assert!(ev("a visitor punched him") >= TROUBLE);
    assert!(ev("she's clutching her wrist") >= TROUBLE);
    assert!(ev("the heating kicked in at 6") < TROUBLE);
    assert!(ev("the tyres are a bit scratched") < TROUBLE);
    assert!(ev("holding her hand in room 7") < TROUBLE);
    assert!(ev("avalanche warning for the north gully") >= TROUBLE);
}

#[test]
fn held_52s_misses_and_look_alikes() {
    // Message set held-52 (session 56: an observatory, a paintball park, an industrial bakery, a
    // nature reserve), run once: 35 of 40; these were missed, and the routine line read as a
    // hazard at every repeat.
    assert!(ev("the observing log server has lost last night's data") >= TROUBLE);
    assert!(ev("the netting between pitch 2 and the car park has a big hole") >= TROUBLE);
    assert!(ev("a metal fragment showed up on the detector on the bread line") >= TROUBLE);
    assert!(ev("an operator got flour in his eyes from the silo hatch") >= TROUBLE);
    assert!(ev("water levels in the reedbed have dropped a foot overnight") >= TROUBLE);
    assert!(ev("guns cleaned and racked") < TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("there's a hole in the fence by the gate") >= TROUBLE);
    assert!(ev("the river rose two metres since lunch") >= TROUBLE);
    assert!(ev("hole 7 flag replaced") < TROUBLE);
    assert!(ev("parcel dropped at the front desk") < TROUBLE);
    assert!(ev("the blood was cleaned up but the patient is still bleeding") >= HAZARD);
}

#[test]
fn held_53s_misses_and_look_alikes() {
    // Message set held-53 (session 56: a prison wing, a concert hall, a car wash, a quarry), run
    // once: 35 of 40; these were missed.
    assert!(ev("a phone was thrown over the wall into the exercise yard") >= TROUBLE);
    assert!(ev("the cellist's chair collapsed during the rehearsal") >= TROUBLE);
    assert!(ev("a lad's been letting down tyres in the car park") >= TROUBLE);
    assert!(ev("the haul truck's brakes faded on the ramp down") >= TROUBLE);
    assert!(ev("dust levels at the crusher are over the limit") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the steering went heavy on the forklift") >= TROUBLE);
    assert!(ev("someone hopped over the fence by gate 3") >= TROUBLE);
    assert!(ev("brake pads replaced on van 2") < TROUBLE);
    assert!(ev("the drone passed over the fence line on its survey") < TROUBLE);
    assert!(ev("the ball went over the fence") < TROUBLE);
    assert!(ev("evacuation exercise on Tuesday") < TROUBLE);
    assert!(ev("fire drill during the morning") < TROUBLE);
}

#[test]
fn held_54s_misses_and_look_alikes() {
    // Message set held-54 (session 56: an ambulance control room, a ferry crossing, a skatepark,
    // a botanical garden), run once: 36 of 40; these were missed.
    assert!(ev("the car deck ramp won't lower at the far side") >= TROUBLE);
    assert!(ev("the radar's been freezing every few minutes") >= TROUBLE);
    assert!(ev("the lights over the park cut at 8 and there are still riders in") >= TROUBLE);
    assert!(ev("the cafe's fridge is at 12 degrees") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("freezer 2 reading minus 5 degrees") >= TROUBLE);
    assert!(ev("freezer at -8°C") >= TROUBLE);
    assert!(ev("the chiller is at 15°") >= TROUBLE);
    assert!(ev("freezer 2 at -18 degrees") < TROUBLE);
    assert!(ev("fridge temperature logged at 4 degrees") < TROUBLE);
    assert!(ev("grass cut at 8") < TROUBLE);
}

#[test]
fn held_55s_misses_and_look_alikes() {
    // Message set held-55 (session 56: a hydroelectric dam, a tattoo studio, a fishing trawler,
    // a coworking space), run once: 37 of 40; these were missed.
    assert!(ev("the autoclave's test strip didn't change colour") >= TROUBLE);
    assert!(ev("the booking system double-booked the Saturday slots") >= TROUBLE);
    assert!(ev("a member's bike was taken from the rack inside the lobby") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("my phone got nicked") >= TROUBLE);
    assert!(ev("the car was taken to the garage") < TROUBLE);
    assert!(ev("the patient's blood was taken at 9") < TROUBLE);
    assert!(ev("siren test on the first Monday of the month") < TROUBLE);
    assert!(ev("room booked for Saturday") < TROUBLE);
}

#[test]
fn held_56s_misses_and_look_alikes() {
    // Message set held-56 (session 56: a rowing club, a meat plant, an escape-room venue, a
    // railway signal box), run once: 36 of 40; these were missed.
    assert!(ev("the boathouse door's been jimmied and two sets of blades are gone") >= TROUBLE);
    assert!(ev("effluent's running into the surface water drain") >= TROUBLE);
    assert!(ev("the timer screen in room 2 has gone blank mid-game") >= TROUBLE);
    assert!(ev("a hen party's booked all three rooms and only paid for one") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("slurry leaking into the stream by the farm") >= TROUBLE);
    assert!(ev("the lock was prised") >= TROUBLE);
    assert!(ev("rainwater running into the drain") < TROUBLE);
    assert!(ev("all three rooms booked and paid for") < TROUBLE);
}

#[test]
fn held_57s_misses_and_look_alikes() {
    // Message set held-57 (session 56: a community pharmacy, a treetop adventure course, a
    // recording studio, a garden centre), run once: 38 of 40; these were missed.
    assert!(ev("the booking system shows a group of 12 but only 9 harnesses are free") >= TROUBLE);
    assert!(ev("the sprinkler in aisle 3 has been spraying the walkway all morning") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("we ordered 50 pallets but only 40 came") >= TROUBLE);
    assert!(ev("a burst pipe is gushing water in the basement") >= TROUBLE);
    assert!(ev("roses sprayed for greenfly") < TROUBLE);
    assert!(ev("crop spraying finished in the top field") < TROUBLE);
}

#[test]
fn held_58s_misses_and_look_alikes() {
    // Message set held-58 (session 57: a riding school, a dry cleaner's, a theme park's rides,
    // a tyre garage), run once: 39 of 40; this was missed, and two routine lines were read as
    // trouble and as an order at every repeat.
    assert!(ev("the hay delivered this morning is mouldy") >= TROUBLE);
    assert!(ev("compressor drained") < QUESTION);
    assert!(ev("park opening at 10") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the chicken in the walk-in smells rotten") >= TROUBLE);
    assert!(ev("the battery's drained") >= TROUBLE);
    assert!(ev("pool drained for the winter") < QUESTION);
    assert!(ev("the gift shop closing early today") < QUESTION);
    assert!(ev("greenkeeper reports a sinkhole opening on the practice ground") >= EVENT);
    assert!(ev("the gate keeps opening at night") >= EVENT);
    assert!(ev("mould tool changed on press 4") < QUESTION);
    assert!(cues("stop opening the doors", &|_| false).instruction);
}

#[test]
fn held_59s_misses_and_look_alikes() {
    // Message set held-59 (session 57: an oyster farm, a bingo hall, a chocolate factory, a
    // snow-clearing depot), run once: 37 of 40; these were missed.
    let dabbers = cues("order in more dabbers, we're down to the last box", &|_| false);
    assert!(dabbers.instruction && dabbers.evidence() >= TROUBLE);
    assert!(ev("the gritter on route 3 has gone into a ditch") >= TROUBLE);
    assert!(ev("a driver's been out for 14 hours, he's over his hours") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("we're down to our last two pallets") >= TROUBLE);
    assert!(ev("the van reversed into the wall by the gate") >= TROUBLE);
    assert!(ev("the lift is over its weight limit") >= TROUBLE);
    assert!(ev("the hall is over capacity") >= TROUBLE);
    assert!(cues("bring extra blankets to ward 4", &|_| false).instruction);
    assert!(ev("he went into the office") < QUESTION);
    assert!(ev("patrols over the hours of darkness") < QUESTION);
    assert!(ev("much more rain expected") < QUESTION);
    assert!(ev("two extra shifts covered") < QUESTION);
    assert!(ev("three more trucks arrived") < QUESTION);
}

#[test]
fn held_60s_misses_and_look_alikes() {
    // Message set held-60 (session 57: a whisky distillery, a dive boat, a fireworks display
    // crew, a village post office), run once: 37 of 40; these were missed, and two routine
    // lines were read as trouble and as an order at every repeat.
    assert!(ev("the spirit safe's seal has been tampered with") >= TROUBLE);
    assert!(ev("buddy pair on the second drop is two minutes over their planned time") >= TROUBLE);
    assert!(ev("a shell went sideways into the crowd barrier") >= TROUBLE);
    assert!(ev("casks rolled into warehouse 2") < QUESTION);
    assert!(ev("show starts at 8") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the delivery is behind schedule") >= TROUBLE);
    assert!(ev("we're past the deadline for the permit") >= TROUBLE);
    assert!(ev("the trolley rolled into the road") >= TROUBLE);
    assert!(ev("bus rolled into bay 4") < QUESTION);
    assert!(ev("scaffold tower rolled into place") < QUESTION);
    assert!(ev("tamper seal checked") < QUESTION);
    assert!(ev("the drone flew past the window") < QUESTION);
    assert!(cues("show me the map", &|_| false).instruction);
}

#[test]
fn held_61s_misses_and_look_alikes() {
    // Message set held-61 (session 57: a marathon's race control, a lambing shed, a TV outside
    // broadcast, a hospital's sterile services), run once: 38 of 40; these were missed, and a
    // routine line was read as an order at every repeat.
    assert!(ev("runner down at mile 22, medics needed") >= TROUBLE);
    assert!(ev("the water station at mile 9 has run dry and the lead pack is ten minutes out") >= TROUBLE);
    assert!(ev("start pens opened") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("man down at gate 4") >= TROUBLE);
    assert!(ev("rider down on the back straight") >= TROUBLE);
    assert!(ev("security needed at the bar") >= TROUBLE);
    assert!(ev("the well has run dry") >= TROUBLE);
    assert!(ev("a dry run of the show at 5") < QUESTION);
    assert!(ev("power down at 6") < QUESTION);
    assert!(ev("visitors down on last year") < TROUBLE);
    assert!(cues("start the pump", &|_| false).instruction);
    assert!(cues("start now", &|_| false).instruction);
}

#[test]
fn held_62s_misses_and_look_alikes() {
    // Message set held-62 (session 57: a hot-air balloon company, a petrol station, a youth
    // hostel, a power station's control room), run once: 37 of 40; these were missed, and a
    // routine line was read as trouble at every repeat.
    assert!(ev("the balloon's landed in a field with a bull in it") >= TROUBLE);
    assert!(ev("the CEMS shows stack emissions over the permit") >= TROUBLE);
    assert!(ev("the control room's second screen wall has gone black") >= TROUBLE);
    assert!(ev("turbine vibration readings taken") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("temperature high on turbine 2") >= TROUBLE);
    assert!(ev("pressure readings high on line 2") >= TROUBLE);
    assert!(ev("radiation readings off the scale") >= TROUBLE);
    assert!(ev("tyre pressure low on van 3") >= TROUBLE);
    assert!(ev("there's a snake in the tool shed") >= TROUBLE);
    assert!(ev("the bull was moved to the top field") < QUESTION);
    assert!(ev("high pressure washer cleaned") < QUESTION);
    assert!(ev("high temperature alarm tested") < QUESTION);
    assert!(ev("dust levels low today") < QUESTION);
    assert!(ev("temperature logged at 5 degrees") < QUESTION);
}

#[test]
fn held_63s_misses_and_look_alikes() {
    // Message set held-63 (session 57: a brickworks, a city farm, a fishing harbour, a car
    // rental desk), run once: 34 of 40; these were missed, and a routine line was read as
    // trouble at every repeat.
    let wrap = cues("order two more pallets of shrink wrap, we'll run out by Thursday", &|_| false);
    assert!(wrap.instruction && wrap.evidence() >= TROUBLE && !wrap.routine);
    assert!(ev("the pigs have rooted under the fence into the car park") >= TROUBLE);
    assert!(ev("a stray dog's got into the sheep paddock") >= TROUBLE);
    assert!(ev("the key safe has been forced and three sets of keys are gone") >= TROUBLE);
    assert!(ev("we've got 12 reservations for vans and only 7 on the lot") >= TROUBLE);
    assert!(ev("a customer's card was charged the deposit three times") >= TROUBLE);
    assert!(ev("clay delivery tipped") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("we're going to run out of milk") >= TROUBLE);
    assert!(ev("the reader is charging customers twice") >= TROUBLE);
    assert!(ev("the skip lorry tipped over on the bend") >= TROUBLE);
    assert!(ev("battery charged twice today") < QUESTION);
    assert!(ev("fire alarm test by Friday") < QUESTION);
    assert!(ev("the kids will run out into the yard") < TROUBLE);
}

#[test]
fn held_64s_miss_and_look_alikes() {
    // Message set held-64 (session 57: a gliding club, a pest control firm, a maternity unit, a
    // crane hire yard), run once: 39 of 40; this was missed ("plane" read as a plan, framing a
    // routine), and a routine line was read as someone trapped at every repeat.
    assert!(ev("the tug plane's oil pressure dropped on the climb") >= TROUBLE);
    assert!(ev("van stocked with traps") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("a worker is trapped under the pallet") >= TROUBLE);
    assert!(ev("the planes on stand 4 are leaking fuel") >= TROUBLE);
    assert!(ev("flight plan filed") < QUESTION);
}

#[test]
fn held_65s_misses_and_look_alikes() {
    // Message set held-65 (session 57: a phone repair shop, a tram network, a poultry farm, an
    // opticians), run once: 37 of 40; these were missed, and a routine line was read as broken
    // glass at every repeat.
    assert!(ev("a fox has killed six birds in the free range paddock") >= TROUBLE);
    assert!(ev("a worker's been pecked badly on the arm and it's infected") >= TROUBLE);
    assert!(ev("the water line to shed 4 has split") >= TROUBLE);
    assert!(ev("glasses ready for collection") < QUESTION);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("a worker's been pecked badly") >= TROUBLE);
    assert!(ev("the hose has split near the tap") >= TROUBLE);
    assert!(ev("the pipe's split") >= TROUBLE);
    assert!(ev("glass on the floor in aisle 3") >= TROUBLE);
    assert!(ev("the team has split into two groups") < QUESTION);
    assert!(ev("kill switch tested") < QUESTION);
}

#[test]
fn held_66s_misses_and_look_alikes() {
    // Message set held-66 (session 57: a stonemason's yard, an indoor market, a crematorium, a
    // flight training school), run once: 38 of 40; these were missed.
    let trader = |w: &str| w == "trader" || w == "unit";
    assert!(cues("the new trader in unit 5, a coffee roaster, moves in on Monday", &trader).entity);
    assert!(
        ev("the simulator froze during an engine-failure drill and threw the trainee forward") >= TROUBLE
    );
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the screen froze") >= TROUBLE);
    assert!(ev("the backup server crashed during the weekly test") >= TROUBLE);
    assert!(ev("alarm sounded during the weekly test") < TROUBLE);
    assert!(ev("crash test completed") < QUESTION);
    assert!(!cues("new stock delivered", &|_| true).entity);
    assert!(!cues("no new messages", &|_| false).entity);
}
