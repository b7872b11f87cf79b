//! The text rule's cues, read from messages said in many ways: each test names the message set
//! whose misses it came from where it did.

use super::*;
use crate::snarc::lexicon::stem;

fn urgency() -> HashSet<String> {
    crate::snarc::SnarcConfig::default().urgency_words.into_iter().collect()
}

pub(super) fn cues(text: &str, known: &dyn Fn(&str) -> bool) -> Cues {
    read(text, known, &urgency())
}

pub(super) fn ev(text: &str) -> f64 {
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
    assert_eq!(ev("There might be a fox in the pantry"), EVENT);
    assert_eq!(ev("There might be a rat in the pantry"), TROUBLE, "a pest (held-35)");
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
    // A cooler past 8 degrees is trouble as well (held-54); a trend alone is an event.
    assert_eq!(ev("Walk-in cooler is at 12 degrees and climbing"), TROUBLE);
    assert_eq!(ev("Walk-in cooler is at 6 degrees and climbing"), EVENT);
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

#[test]
fn held_33s_misses_and_look_alikes() {
    // Message set held-33 (session 53: a truck fleet's dispatch, a festival's crew, a campus
    // delivery robot), run once: 35 of 40; these five were missed.
    assert_eq!(ev("truck 17 jackknifed on the I-80 ramp, driver is ok but shaken"), HAZARD);
    assert_eq!(ev("there's a guy passed out behind the main stage"), HAZARD);
    assert_eq!(ev("lightning 5 miles out, we need to clear the field"), HAZARD);
    assert!(ev("a student kicked the robot over by the dining hall") >= TROUBLE);
    assert!(ev("the fuel card for unit 12 got declined at the pump") >= TROUBLE);
    // ... and these two routine lines were attended at every repeat.
    assert!(ev("fuel stop done, back on the road") < ENTITY, "a stop that is a place");
    assert!(ev("fire pit lit for the evening set") < ENTITY, "a fire kept in its pit");
    assert!(!cues("driver 12 on 30-minute break", &|_| false).entity, "a measure, not a code");
    // Their neighbours keep what they were.
    assert_eq!(ev("the volunteers passed out flyers at the gate"), 0.0, "handed out");
    assert!(ev("pushed the cart over to bay 4") < TROUBLE, "moved, not knocked over");
    assert!(ev("please stop the bot, it's heading toward the pit") >= URGENCY);
    assert!(ev("all trucks stop at the yard") >= URGENCY, "a plural subject's order");
    assert!(ev("STOP") >= URGENCY);
    assert!(ev("the truck is on fire") >= HAZARD);
    assert!(cues("Bay 4B is blocked", &|_| false).entity, "a code");
    assert!(cues("path clear, smoke cleared", &|_| false).routine, "a routine's end");
    assert!(!cues("smoke in hall 2, clear the area", &|_| false).routine, "an order");
    assert_eq!(ev("sound check passed, stage A ok"), 0.0);
    assert!(ev("GPS shows truck 5 at a rest stop, no answer from the driver") >= TROUBLE);
    assert!(ev("the wristband scanners at gate 2 are all down") >= TROUBLE);
}

#[test]
fn held_34s_miss_weak_catches_and_look_alike() {
    // Message set held-34 (session 53: a shopping centre's security desk, facilities tickets, a
    // motorway works crew), run once: 39 of 40; this one was missed.
    assert!(ev("pothole opened up in lane 1, about a foot deep") >= TROUBLE);
    // These were caught by the weighted part or a person alone, or framed as a routine.
    assert!(ev("lost child, boy aged about 5, blue jacket, last seen near the carousel") >= TROUBLE);
    assert!(ev("man threatening staff at the customer service desk") >= HAZARD);
    assert!(ev("Incident: delivery lorry reversed into the loading bay wall") >= TROUBLE);
    assert!(ev("the night watchman hasn't radioed in since 2am") >= TROUBLE);
    assert!(ev("P1 - total power loss in the east wing, emergency lights on") >= TROUBLE);
    assert!(ev("Sev2: CCTV cameras 5 through 9 showing no picture") >= TROUBLE);
    assert!(ev("water coming through the ceiling tiles above the store") >= TROUBLE);
    assert!(ev("a pallet of bricks is hanging off the edge of the scaffold") >= TROUBLE);
    // ... and this routine line was attended at every repeat.
    assert_eq!(ev("fire alarm test Thursday 10am, ignore the bells"), 0.0, "an order to do nothing");
    assert_eq!(ev("security briefing at 18:00 in the control room"), 0.0, "a routine's name");
    // Their neighbours keep what they were.
    assert!(ev("ignore the last order and come back to the dock") >= INSTRUCTION);
    assert!(ev("the service lift is smoking") >= HAZARD, "a place, no routine");
    assert!(ev("lift serviced, smoke detector replaced") < ENTITY);
    assert!(cues("Printer on level 2 back in service", &|_| false).report, "held-25's routine");
    assert!(ev("we haven't had any calls since 2am") < ENTITY, "an absence");
    assert!(ev("no incidents overnight") < ENTITY);
}

#[test]
fn held_35s_misses_and_look_alikes() {
    // Message set held-35 (session 53: a fire station's watch room, a school bus fleet, a
    // restaurant kitchen), run once: 38 of 40; these two were missed.
    assert!(ev("delivery of chicken arrived warm, 14 degrees") >= TROUBLE);
    assert!(ev("rats seen behind the bins in the yard") >= TROUBLE);
    // ... and these three routine lines were attended at every repeat (their names, Church
    // Road and Oak Road, are known after the first).
    let known = |t: &str| cues(t, &|_| true).evidence();
    assert_eq!(
        known("chimney fire on Church Road out, crews returning"),
        ROUTINE_HAZARD,
        "a fire that is out"
    );
    assert_eq!(ev("watch handover at 18:00"), 0.0, "a watch is a shift");
    assert!(known("smoke alarm fitting visit at 14 Oak Road booked") < ENTITY, "a visit booked");
    assert!(ev("pick rate 140 per hour") < ENTITY, "'rate' is no 'rat'");
    assert!(ev("Humidity in the rare book vault jumped to 80 percent") >= TROUBLE, "no booking");
    // Their neighbours keep what they were.
    assert_eq!(ev("fire in hall 2, everybody out"), HAZARD);
    assert_eq!(ev("the fire is out of control"), HAZARD);
    assert!(ev("watch the door while I fetch the keys") >= INSTRUCTION);
    assert!(ev("bus 5 is running 40 minutes late") >= TROUBLE);
}

#[test]
fn held_36s_misses_and_look_alikes() {
    // Message set held-36 (session 54: an Antarctic station, racecourse stables, an e-bike
    // courier hub), run once: 38 of 40; these two were missed.
    assert!(ev("no contact with the field camp since 0400") >= TROUBLE);
    assert!(ev("three parcels for flat 9 were signed for but never arrived") >= TROUBLE);
    // The same, said otherwise.
    assert!(ev("no heartbeat from unit 4 for ten minutes") >= TROUBLE);
    assert!(ev("the van never came back from the depot") >= TROUBLE);
    assert!(ev("the boiler has never been serviced") >= TROUBLE);
    // Their look-alikes: an absence that is good news, and an idiom.
    assert!(ev("no alarms since Monday") < ENTITY);
    assert!(ev("no faults for a week, all good") < ENTITY);
    assert_eq!(cues("never mind, found it", &|_| false).hazard, 0.0);
    assert!(ev("no-contact deliveries done for the morning") < ENTITY);
}

#[test]
fn held_37s_misses_and_look_alikes() {
    // Message set held-37 (session 54: an aquarium, a lift maintenance firm, a vertical farm, a
    // golf course), run once: 38 of 40; these two were missed.
    assert!(ev("the diver in the main tank signalled a problem with his regulator") >= TROUBLE);
    assert!(ev("geese all over the 3rd green") >= TROUBLE);
    // ... and this routine line was read as an order ("load ...") at every repeat.
    let known = |t: &str| cues(t, &|_| true).evidence();
    assert!(known("load test at Riverside Court scheduled for Tuesday") < ENTITY);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("we have an issue with the conveyor") >= TROUBLE);
    assert!(ev("paper all over the car park") >= TROUBLE);
    assert!(ev("No issues on the morning round") < ENTITY);
    assert!(ev("issue 42 resolved") < ENTITY);
    assert!(ev("Visitor badge issued to the contractor") < TROUBLE);
    assert!(ev("our robots are used all over the world") < ENTITY);
    assert!(ev("he's all over it") < ENTITY);
    assert!(ev("load the pallets onto truck 3") >= INSTRUCTION);
    assert!(ev("load boxes marked fragile onto truck 3") >= INSTRUCTION);
}

#[test]
fn held_38s_misses_and_look_alikes() {
    // Message set held-38 (session 54: a holiday park, an animal shelter, halls of residence,
    // a coffee roastery), run once: 36 of 40; these four were missed.
    assert!(ev("the laundry room door has been kicked in") >= TROUBLE);
    assert!(ev("a non-resident has been sleeping in the common room") >= EVENT);
    assert!(ev("we've run out of 1 kg bags") >= TROUBLE);
    assert!(ev("the afterburner won't light") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("someone prised the shed window open") >= TROUBLE);
    assert!(ev("the printer won't print") >= TROUBLE);
    assert!(ev("the heating kicked in at 6") < ENTITY);
    assert!(ev("residents fed and settled") < ENTITY);
    assert!(ev("we haven't run out of anything this week") < ENTITY);
}

#[test]
fn held_39s_misses_and_look_alikes() {
    // Message set held-39 (session 54: a film set, canal locks, an archaeological dig, a
    // wedding venue), run once: 33 of 40; these seven were missed.
    assert!(ev("paparazzi got past the gate and are in the unit base") >= TROUBLE);
    assert!(ev("a lad jumped in from the lock beam and hasn't come up") >= TROUBLE);
    assert!(ev("diesel sheen on the water by the boatyard") >= TROUBLE);
    assert!(ev("metal detectorist on site without permission again last night") >= TROUBLE);
    assert_eq!(ev("unexploded shell turned up in the spoil heap"), HAZARD);
    assert!(ev("site director wants all photos uploaded before 4") >= INSTRUCTION);
    assert!(ev("photographer hasn't turned up and the ceremony starts at 2") >= TROUBLE);
    // ... and this routine line was read as an order ("call ...") at every repeat.
    let known = |t: &str| cues(t, &|_| true).evidence();
    assert!(known("call sheet for tomorrow sent") < ENTITY);
    // The look-alikes keep what they were.
    assert!(ev("Smoke detector in hall 2 tested last week") < QUESTION);
    assert!(ev("check pallets once unloaded") >= INSTRUCTION);
    assert!(ev("call the site office when the van has arrived") >= INSTRUCTION);
}

#[test]
fn upkeep_done_frames_a_routine_though_its_materials_do_not() {
    // held-16's routine line, once a bare "last week" stopped framing a routine (session 54).
    assert!(cues("evacuation route signs were repainted last week", &|_| true).routine);
    assert!(!cues("wet paint on the floor by door 3", &|_| true).routine);
    assert!(ev("grease spilled all over the ramp") >= TROUBLE);
}

#[test]
fn held_40s_miss_and_look_alikes() {
    // Message set held-40 (session 54: a tree surgery crew, a water park, a self-storage site,
    // a livestock market), run once: 39 of 40; this one was missed.
    assert!(ev("rent on unit 12 hasn't been paid for four months, overlock it") >= TROUBLE);
    // ... and these routine lines were attended at every repeat: a tree felled read as a fall,
    // and "park" as an order.
    let known = |t: &str| cues(t, &|_| true).evidence();
    assert!(known("tree 2 felled and logged") < ENTITY);
    assert!(known("park opens at 10") < ENTITY);
    // Their neighbours keep what they were.
    assert_eq!(ev("a climber fell from the oak"), HAZARD);
    assert!(ev("park the van by gate 2") >= INSTRUCTION);
    assert!(ev("check tyres on van 3") >= INSTRUCTION);
}

#[test]
fn a_hazard_after_a_negated_any_is_none() {
    assert!(ev("we haven't had any alarms for a week") < ENTITY);
    assert!(ev("didn't find any leaks on the round") < ENTITY);
    assert!(ev("the tap hasn't stopped leaking") >= TROUBLE);
    assert!(ev("is there any smoke in the stairwell?") >= QUESTION);
}

#[test]
fn held_41s_misses_and_look_alikes() {
    // Message set held-41 (session 54: a taxi dispatch office, an emergency department, a
    // cathedral, an ice-cream factory), run once: 35 of 40; these five were missed.
    assert!(ev("two cars have been keyed in the rank outside the station") >= TROUBLE);
    assert!(ev("allergen changeover not signed off, line 2 is running pistachio") >= TROUBLE);
    assert!(ev("forklift clipped the racking in the cold store") >= TROUBLE);
    assert!(ev("lorry for Tesco is booked but the driver says his fridge unit is dead") >= TROUBLE);
    assert!(ev("a seagull got in through the loading bay and is in the packing room") >= TROUBLE);
    // The same, said otherwise.
    assert!(ev("the fire doors weren't checked last night") >= TROUBLE);
    assert!(ev("fire drill at 10 but the alarm in block C didn't sound") >= TROUBLE);
    assert!(ev("van 3 reversed into the gatepost") >= TROUBLE);
    // The look-alikes keep what they were.
    assert!(ev("the access code was keyed in at the gate") < ENTITY);
    assert!(ev("hedges clipped along the drive") < ENTITY);
    assert!(ev("smoke seen near bay 4, but it was the scheduled test") < ENTITY);
    assert!(ev("all doors checked and locked") < ENTITY);
}

#[test]
fn held_42s_miss_and_look_alikes() {
    // Message set held-42 (session 54: a traffic control centre, a pottery studio, a trampoline
    // park, a cemetery's grounds crew), run once: 39 of 40; this one was missed.
    assert!(ev("mourners at the east chapel say the sound system cut out mid-service") >= TROUBLE);
    // ... and this routine line was a fire at every repeat.
    let known = |t: &str| cues(t, &|_| true);
    assert_eq!(known("kiln 1 loaded for the bisque firing").hazard, 0.0);
    assert!(known("kiln 1 loaded for the bisque firing").evidence() < ENTITY);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the radio keeps cutting out") >= TROUBLE);
    assert!(ev("cut out the shapes for the class") < TROUBLE);
    assert_eq!(ev("shots fired near the east gate"), HAZARD);
    assert_eq!(ev("the kiln room is on fire"), HAZARD);
}

#[test]
fn held_43s_misses_and_look_alikes() {
    // Message set held-43 (session 55: a casino floor, a hair salon, an orchard at harvest, a
    // bridge maintenance crew), run once: 37 of 40; these were missed.
    assert!(ev("the cash cage is £500 down after the shift count") >= TROUBLE);
    assert!(ev("paint overspray has landed on parked cars under span 2") >= TROUBLE);
    assert!(cues("the engineer needs the bearing inspection report by Thursday", &|_| false).instruction);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the till is 20 quid out") >= TROUBLE);
    assert!(ev("a branch fell onto a parked car") >= TROUBLE);
    assert!(cues("the vet needs a hand in pen 4", &|_| false).instruction);
    assert!(ev("£500 deposit paid") < TROUBLE);
    assert!(ev("the drone landed on pad 2") < TROUBLE);
    assert!(!cues("the beds don't need any water today", &|_| false).instruction);
}

#[test]
fn held_44s_misses_and_look_alikes() {
    // Message set held-44 (session 55: a foundry, a heliport, a newsroom, allotments), run once:
    // 35 of 40; these were missed.
    assert!(ev("the pad lights on the north side are out") >= TROUBLE);
    assert_eq!(ev("we've had a threatening phone call about tomorrow's story"), HAZARD);
    assert!(ev("a suspicious envelope with white powder came in the post") >= TROUBLE);
    assert!(ev("the crowd has turned on the press") >= TROUBLE);
    assert!(ev("the gate code has been given out on social media") >= TROUBLE);
    // ... and this routine line was a hazard at every repeat.
    let known = |t: &str| cues(t, &|_| true);
    assert_eq!(known("furnace 1 charged for the morning melt").hazard, 0.0);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the power's out") >= TROUBLE);
    assert!(ev("the dog turned on its handler") >= TROUBLE);
    assert!(ev("lights out at 10") < TROUBLE);
    assert!(ev("someone turned on the lights") < TROUBLE);
    assert!(ev("the ice is starting to melt on the roof") >= TROUBLE);
    assert!(cues("fire drill tomorrow", &|_| false).routine);
    assert!(!cues("a parcel came in the post", &|_| false).routine);
}

#[test]
fn held_45s_misses_and_look_alikes() {
    // Message set held-45 (session 55: a beach's lifeguards, a bike-share depot, a mushroom
    // farm, a science centre), run once: 37 of 40; these were missed.
    assert!(ev("nobody's seen the swimmer in the red cap for ten minutes") >= TROUBLE);
    assert!(cues("rebalance the city centre docks before the evening rush", &|_| false).instruction);
    assert!(ev("flies everywhere in room 6") >= TROUBLE);
    // ... and this routine line was trouble at every repeat ("flags" shared "flagged"'s stem).
    let known = |t: &str| cues(t, &|_| true);
    assert_eq!(known("flags set between towers 2 and 3").hazard, 0.0);
    // The same, said otherwise, and the look-alikes.
    assert!(cues("water the seedlings in tunnel 2", &|_| false).instruction);
    assert!(cues("press the red button", &|_| false).instruction);
    assert!(ev("weigh station flagged us as overweight") >= TROUBLE);
    for not_an_order in [
        "alright all the machines are off for the night",
        "escalator A annual service booked",
        "outside the gate a van is waiting",
        "update: the pump is fixed",
        "tomorrow the crew starts at 6",
    ] {
        assert!(!cues(not_an_order, &|_| false).instruction, "{not_an_order}");
    }
}

#[test]
fn held_46s_misses_and_look_alikes() {
    // Message set held-46 (session 55: a funicular railway, a fire lookout, a dog daycare, an
    // auction house), run once: 33 of 40; these were missed.
    for missed in [
        "car 2 stopped halfway up with forty passengers aboard",
        "humidity down to 9 percent this afternoon",
        "Bella's owner says she's been vomiting since yesterday",
        "one of the dogs ate a sock",
        "the online bidding platform is lagging by thirty seconds",
        "the lot numbers in the catalogue are out by one from 200",
    ] {
        assert!(ev(missed) >= TROUBLE, "{missed}");
    }
    assert!(cues("the consignor wants lot 45 withdrawn before it comes up", &|_| false).instruction);
    // ... and this routine line was a fire at every repeat.
    let known = |t: &str| cues(t, &|_| true);
    assert_eq!(known("fire danger board set to moderate").hazard, 0.0);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("battery dropped to 15%") >= TROUBLE);
    assert!(ev("the toddler swallowed a coin") >= TROUBLE);
    assert_eq!(ev("fire in the board room"), HAZARD);
    for not_trouble in ["the dogs ate their dinner", "bus stopped at gate 3", "queue down to 40 percent"] {
        assert!(ev(not_trouble) < TROUBLE, "{not_trouble}");
    }
}

#[test]
fn held_47s_misses_and_look_alikes() {
    // Message set held-47 (session 55: a motorway service station, a shearing shed, a dialysis
    // unit, a radio station), run once: 37 of 40; these were missed.
    assert!(ev("a lorry driver has been asleep in his cab with the engine running for six hours") >= EVENT);
    assert!(ev("the fuel tanker is due but the forecourt is full of queuing cars") >= TROUBLE);
    assert!(ev("the station's social accounts have been posting spam") >= TROUBLE);
    // The look-alikes.
    assert!(ev("the van is full of stock for the morning") < TROUBLE);
    assert!(cues("session times posted for half term", &|_| false).routine);
}

#[test]
fn held_48s_misses_and_look_alikes() {
    // Message set held-48 (session 55: an indoor climbing wall, an MRI suite, a scrapyard's car
    // auction, a children's summer camp), run once: 38 of 40; these were missed.
    assert!(ev("the belay device on rope 4 has been threaded backwards") >= TROUBLE);
    assert!(ev("two boys snuck out of their cabin after lights out") >= TROUBLE);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the label on tank 3 is upside down") >= TROUBLE);
    assert!(ev("resident 4 has wandered off from the garden") >= TROUBLE);
    assert!(ev("no one has wandered off today") < TROUBLE);
}

#[test]
fn held_49s_misses_and_look_alikes() {
    // Message set held-49 (session 55: a cheese dairy, a karting track, a hospice, a removals
    // firm), run once: 38 of 40; these were missed.
    assert!(ev("cheese cloths have run out in the moulding room") >= TROUBLE);
    assert!(cues("a birthday group of 20 wants to race together but the max is 12", &|_| false).instruction);
    // The same, said otherwise, and the look-alikes.
    assert!(ev("the gloves have run out") >= TROUBLE);
    assert!(ev("we haven't run out yet") < TROUBLE);
}

#[test]
fn every_cut_of_every_message_set_reads_without_a_panic() {
    // The rule's patterns look words ahead and behind; every message of every set, cut at
    // each word from either end, must read without indexing past the message.
    let sets: serde_json::Value =
        serde_json::from_str(include_str!("../../../../scenarios/messages.json")).expect("messages.json");
    let mut read = 0;
    for set in sets.as_object().expect("sets").values() {
        for kind in ["salient", "routine"] {
            for line in set[kind].as_array().expect("lines") {
                let words: Vec<&str> = line.as_str().expect("a line").split_whitespace().collect();
                for cut in 0..=words.len() {
                    let _ = cues(&words[..cut].join(" "), &|_| false);
                    let _ = cues(&words[cut..].join(" "), &|_| true);
                    read += 2;
                }
            }
        }
    }
    assert!(read > 10_000, "{read}");
}
