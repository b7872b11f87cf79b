#!/usr/bin/env python3
"""Labelled operator messages in plain words, for the text rule of the salience (decision 0013):
forty salient messages of one set (hazards, questions, orders, new names, said in many ways), one
every 15 ticks from tick 40, among twenty routine status lines of that set, one every 5 ticks.
Text only, 700 ticks.

    python3 scenarios/make_messages.py SET > /tmp/messages.jsonl   # SET: tuning, held-1 ... held-66
    ./target/release/sage bench attention /tmp/messages.jsonl [--with-model]

`tuning` was written first and the rule's word lists were widened on it. Each `held-N` was
written before a change of the rule and run once after it (held-1 to held-14: 38, 26, 35, 29,
40, 29, 33, 39, 36, 39, 38, 35, 40 and 40 of 40; held-5 by an author who knew the words the change added,
held-6 written to break the rule, held-11 in farm, building-site, ward and shop words, held-12
shouted, terse and indirect in a home, a mine, an airport and a kitchen, held-13 on a ship, in a
warehouse, a home and a wind farm, held-14 in a rail depot, a school, a greenhouse, a car park and
a hotel, in radio calls, typos and text-speak), and its
misses were then used to change the rule again, so every set but held-14, held-15 and held-16 is tuned on now
(held-15, in a brewery, a ski resort, a museum, a container port, a dental clinic, a care home, a
drone hub and a data centre, politely indirect, passive and terse, was written in session 21 and
run once: 40 of 40, nothing changed after it; held-16, in a theatre, a water works, an ice rink, a
vault, a recycling line, a vineyard, a studio, a cleanroom and a metro tunnel, was written in
session 23 without reading the rule's word lists and run once: 40 of 40; held-17, in a zoo, a
bakery, a prison, an observatory, a laundrette, a bus depot, an archive, a trawler and a reactor,
was written in session 45 before the rule was run on it and run once: 38 of 40, and its misses
then changed the rule (40 of 40); held-18, in a stadium, an oil rig, a fish farm, a library, a
cinema, a quarry, a chemical plant, a sorting centre, a botanical garden and a ferry, was written
in session 46 before the rule was run on it (by an author who had read the rule's word lists) and
run once: 37 of 40, precision 0.607, and its misses and its three routine lines attended at every
repeat then changed the rule; held-19, in a tunnel boring site, a cold store, a marina, a paper
mill, a call centre, a solar farm, a veterinary clinic, a bowling alley, a glassworks and a
mountain hut, was written in session 47 by the author of that session's change to "the last",
to test it, and run once: 38 of 40, precision 0.679, and its misses and its two routine lines
attended at every repeat then changed the rule; held-20, in a dairy farm, a sawmill, a baggage
hall, a swimming pool, a hospital pharmacy, a cruise ship, a circus, a gym, a lighthouse and a
print shop, was written in session 48 by an author who had read the rule's word lists and run
once: 39 of 40, precision 0.886, and its miss ("two ampoules short") then changed the rule;
held-21, in a pit lane, an apiary, a textile mill, a cement plant, a launch pad, a kindergarten,
a hydro dam, a car wash, a fairground and a blood bank, was written in session 49 before the
rule was run on it and run once: 39 of 40, precision 0.848, and its miss ("found open") then
changed the rule; held-22, a robot fleet's operators in the words a test of a robot's kernel
would use, was written in session 49 after that change and run once: 40 of 40, precision 0.833,
nothing changed after it; held-23, plain words that need no hazard word in a home, a care home,
a warehouse, a lab and a school, was written in session 49 after held-22 and run once: 37 of 40,
precision 0.841, and its misses ("need to know if", a name at the start, "felt") then changed the
rule; held-24, typed by hurried or non-native operators, was written after that change and run
once: 38 of 40, precision 0.745, and its misses ("wont lock", "boss want the report") and its
routine "report sent" read as an order then changed the rule; held-25, said politely, hedged or
in passing, was written after that change and run once: 37 of 40, precision 0.822, and its
misses ("tripping", "offline", "we're out of") and "the newsletter went out" read as trouble
then changed the rule; held-26, a robot's own logs and its operator, was written after that
change and run once: 38 of 40, precision 0.844, and its misses ("test failed", "spiked") then
changed the rule; held-27, a ward, a lab, a building site and a data centre in their own
jargon, was written after that change and run once: 37 of 40, precision 0.740, and its misses
("98% load", "has no water pressure", "guys are up there") and "crash cart" read as a hazard
then changed the rule; held-28, an old person at home speaking to a home robot, was written
after that change and run once: 36 of 40, precision 0.947, and its misses ("ran over the cat's
tail", "look different", "hasn't eaten since yesterday", "can't breathe") then changed the rule;
held-29, a hotel, an airport and a shop's staff, was written after that change and run once: 38
of 40, precision 0.884, and its misses ("a needle", "the door was forced") then changed the
rule; held-30, speech transcribed on a farm, in a workshop and at home (lower case, no
punctuation, fillers), was written after that change and run once: 36 of 40, precision 0.900,
and its misses ("the cows are out on the road", "water all over the floor", "the milk went
bad", "the new drone from agrivision") then changed the rule; held-31, a team's chat with emoji
and abbreviations, was written after that change and run once: 39 of 40, precision 0.867, and
its miss ("the loading dock door won't come down") then changed the rule; held-32, a polar
station and a space habitat, was written after that change and run once: 39 of 40, precision
0.951, and its miss ("the fire extinguisher in the workshop is empty") then changed the rule;
held-33, a truck fleet's dispatch, a music festival's crew and a campus delivery robot's
operator, was written in session 53 and committed before the rule was run on it, and run once:
35 of 40, precision 0.636, and its misses ("jackknifed", "passed out", "lightning", "kicked the
robot over", "declined") and its two routine lines attended at every repeat ("fuel stop done",
"fire pit lit") then changed the rule; held-34, a shopping centre's security desk, facilities
tickets and a motorway works crew, was written after that change and committed before the rule
was run on it, and run once: 39 of 40, precision 0.736, and its miss ("pothole") and its routine
line attended at every repeat ("fire alarm test Thursday 10am, ignore the bells") then changed
the rule; held-35, a fire station's watch room, a school bus fleet and a restaurant kitchen,
was written after that change and committed before the rule was run on it, and run once: 38 of
40, precision 0.613, and its misses ("arrived warm", "rats seen") and its three routine lines
attended at every repeat ("chimney fire ... out", "watch handover", "smoke alarm fitting visit
... booked") then changed the rule; held-36, an Antarctic research station, a racecourse's
stables and an e-bike courier hub, was written in session 54 and committed before the rule was
run on it, and run once: 38 of 40, precision 0.884 ("no contact ... since 0400", "never
arrived" missed); held-37, an aquarium, a lift maintenance firm, a vertical farm and a golf
course, was written after held-36's run and committed before the rule was run on it, and run
once: 38 of 40, precision 0.704 ("a problem with his regulator", "geese all over the 3rd
green" missed); held-38, a holiday park, an animal shelter, a university's halls of residence
and a coffee roastery, was written after held-37's run and committed before the rule was run
on it, and run once: 36 of 40, precision 0.878 ("kicked in", "a non-resident", "run out of",
"won't light" missed); held-39, a film set, a canal's locks, an archaeological dig and a
wedding venue, was written after held-38's run and committed before the rule was run on it,
and run once: 33 of 40, precision 0.673 ("got past the gate", "hasn't come up", "diesel
sheen", "again last night", "unexploded", "wants all photos", "hasn't turned up" missed); the
misses of each then changed the rule; held-40, a tree surgery crew, a water park, a
self-storage site and a livestock market, was written after held-39's change and committed
before the rule was run on it, and run once: 39 of 40, precision 0.629 ("hasn't been paid for
four months" missed; "tree 2 felled" read as a fall and "park opens at 10" as an order at
every repeat), which then changed the rule; held-41, a taxi dispatch office, a hospital's
emergency department, a cathedral and an ice-cream factory, was written after held-40's
change and committed before the rule was run on it, and run once: 35 of 40, precision 0.875
("keyed", "not signed off", "clipped the racking", "booked but ... dead", "got in through"
missed), which then changed the rule; held-42, a city's traffic control centre, a pottery
studio, a trampoline park and a cemetery's grounds crew, was written after held-41's change
and committed before the rule was run on it, and run once: 39 of 40, precision 0.812 ("cut out
mid-service" missed; "the bisque firing" read as a fire at every repeat), which then changed
the rule; held-43, a casino floor, a hair salon, an orchard at harvest and a bridge maintenance
crew, was written in session 55 and committed before the rule was run on it, and run once: 37
of 40, precision 0.841 ("£500 down", "overspray has landed on parked cars", "needs the ...
report by Thursday" missed), which then changed the rule; held-44, a foundry, a heliport, a
newsroom and allotments, was written after held-43's change and committed before the rule was
run on it, and run once: 35 of 40, precision 0.778 ("the pad lights ... are out", "a
threatening phone call about tomorrow's story", "a suspicious envelope ... came in the post",
"the crowd has turned on the press", "the gate code has been given out on social media"
missed; "the morning melt" read as a hazard at every repeat), which then changed the rule;
held-45, a beach's lifeguards, a bike-share depot, a mushroom farm and a science centre, was
written after held-44's change and committed before the rule was run on it, and run once: 37
of 40, precision 0.725 ("nobody's seen the swimmer ... for ten minutes", "rebalance the city
centre docks", "flies everywhere" missed; "flags set between towers 2 and 3" read as trouble at
every repeat), which then changed the rule; held-46, a funicular railway, a fire lookout, a dog
daycare and an auction house, was written after held-45's change and committed before the rule
was run on it, and run once: 33 of 40, precision 0.702 ("stopped halfway", "humidity down to 9
percent", "vomiting since yesterday", "ate a sock", "lagging", "out by one", "wants lot 45
withdrawn" missed; "fire danger board set to moderate" read as a fire at every repeat), which
then changed the rule; held-47, a motorway service station, a shearing shed, a dialysis unit
and a radio station, was written after held-46's change and committed before the rule was run
on it, and run once: 37 of 40, precision 0.860 ("a lorry driver has been asleep ... for six
hours", "full of queuing cars", "posting spam" missed), which then changed the rule; held-48,
an indoor climbing wall, an MRI suite, a scrapyard's car auction and a children's summer camp,
was written after held-47's change and committed before the rule was run on it, and run
once: 38 of 40, precision 0.844 ("threaded backwards", "snuck out" missed), which then changed
the rule; held-49, a cheese dairy, a karting track, a hospice and a removals firm, was written
after held-48's change and committed before the rule was run on it, and run once: 38 of 40,
precision 0.905 ("have run out in the moulding room", "wants to race together" missed), which
then changed the rule; held-50, a recycling plant, a veterinary surgery, a winery at crush and
a printing works, was written after held-49's change and committed before the rule was run on it,
and run once: 38 of 40, precision 0.731 ("pulled her drip out", "top up the sulphur" missed;
"glass bay emptied by the haulier" attended at every repeat), which then changed the rule;
held-51, a circus, a commercial laundry, a mountain rescue team and a flower market, was
written after held-50's change and committed before the rule was run on it, and run once: 38 of
40, precision 0.809 ("the horses kicked the stable hand, he's holding his ribs", "walker
reported overdue ..., last contact 4 hours ago" missed; "avalanche forecast noted in the log"
attended at every repeat), which then changed the rule; held-52, an observatory, a paintball
park, an industrial bakery and a nature reserve's rangers, was written after held-51's change
and committed before the rule was run on it, and run once: 35 of 40, precision 0.673 ("has a
big hole", "a metal fragment", "flour in his eyes", "dropped a foot overnight", "lost last
night's data" missed; "guns cleaned and racked" attended at every repeat), which then changed
the rule; held-53, a prison wing, a concert hall, a car wash and a quarry, was written after
held-52's change and committed before the rule was run on it, and run once: 35 of 40,
precision 0.921 ("thrown over the wall into the exercise yard", "collapsed during the
rehearsal", "letting down tyres", "brakes faded", "over the limit" missed), which then changed
the rule; held-54, an ambulance control room, a ferry crossing, a skatepark and a botanical
garden, was written after held-53's change and committed before the rule was run on it, and
run once: 36 of 40, precision 0.878 ("won't lower", "been freezing every few minutes",
"the lights ... cut at 8", "the cafe's fridge is at 12 degrees" missed), which then changed the
rule; held-55, a hydroelectric dam, a tattoo studio, a fishing trawler and a coworking space,
was written after held-54's change and committed before the rule was run on it, and run once:
37 of 40, precision 0.860 ("test strip didn't change colour", "double-booked the Saturday
slots", "a member's bike was taken from the rack" missed), which then changed the rule;
held-56, a rowing club, a meat plant, an escape-room venue and a railway signal box, was
written after held-55's change and committed before the rule was run on it, and run once: 36
of 40, precision 0.878 ("the boathouse door's been jimmied", "effluent's running into the
surface water drain", "has gone blank mid-game", "only paid for one" missed), which then
changed the rule; held-57, a community pharmacy, a treetop adventure course, a recording studio
and a garden centre, was written after held-56's change and committed before the rule was run
on it, and run once: 38 of 40, precision 0.844 ("a group of 12 but only 9 harnesses are free",
"the sprinkler ... has been spraying the walkway" missed), which then changed the rule;
held-58, a riding school, a dry cleaner's, a theme park's rides and a tyre garage, was written
after held-57's change and committed before the rule was run on it, and run once: 39 of 40,
precision 0.672 ("is mouldy" missed; "park opening at 10" and "compressor drained" attended at
every repeat); held-59, an oyster farm, a bingo hall, a chocolate factory and a snow-clearing
depot, likewise after held-58's change: 37 of 40, precision 0.841 ("order in more dabbers,
we're down to the last box", "has gone into a ditch", "he's over his hours" missed); held-60, a
whisky distillery, a dive boat, a fireworks display crew and a village post office: 37 of 40,
precision 0.627 ("tampered with", "over their planned time", "went sideways into the crowd
barrier" missed; "casks rolled into warehouse 2" and "show starts at 8" attended at every
repeat); held-61, a marathon's race control, a lambing shed, a TV outside broadcast and a
hospital's sterile services: 38 of 40, precision 0.760 ("runner down at mile 22, medics
needed", "has run dry" missed; "start pens opened" attended at every repeat); held-62, a hot-air
balloon company, a petrol station, a youth hostel and a power station's control room: 37 of
40, precision 0.712 ("a bull in it", "over the permit", "has gone black" missed; "turbine
vibration readings taken" attended at every repeat); held-63, a brickworks, a city farm, a
fishing harbour and a car rental desk: 34 of 40, precision 0.756 ("order two more ..., we'll run
out by Thursday", "rooted under the fence", "a stray dog", "has been forced and", "12
reservations ... and only 7", "charged the deposit three times" missed; "clay delivery tipped"
attended at every repeat); held-64, a gliding club, a pest control firm, a maternity unit and a
crane hire yard: 39 of 40, precision 0.780 ("the tug plane's oil pressure dropped" missed; "van
stocked with traps" attended at every repeat); held-65, a phone repair shop, a tram network, a
poultry farm and an opticians: 37 of 40, precision 0.755 ("has killed six birds", "been pecked
... infected", "has split" missed; "glasses ready for collection" attended at every repeat);
held-66, a stonemason's yard, an indoor market, a crematorium and a flight training school: 38
of 40, precision 0.826 ("the new trader in unit 5", "the simulator froze during an
engine-failure drill" missed); each set's misses then changed the rule; decision 0013;
held-10's and held-11's routine lines "weather: clear skies" and "store opened on time" were read
as orders, which held-11 showed). Write a new set to check the rule again.

The sets themselves are in `scenarios/messages.json` (each: its salient messages and routine
lines).
"""
import json
import os
import sys

SETS = {
    name: (s["salient"], s["routine"])
    for name, s in json.load(
        open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "messages.json"), encoding="utf-8")
    ).items()
}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "tuning"
    if name not in SETS:
        sys.exit(f"unknown set {name!r}; one of {', '.join(SETS)}")
    salient, routine = SETS[name]
    print(json.dumps({"scenario": f"messages-{name}", "tick_s": 1.0, "seed": 1, "end": 700}))
    for t in range(700):
        line = {"t": t}
        k = (t - 40) // 15
        if t >= 40 and (t - 40) % 15 == 0 and k < len(salient):
            line["text"] = [{"source": "operator", "text": salient[k]}]
            line["salient"] = {"operator": salient[k]}
        elif t % 5 == 2:
            line["text"] = [{"source": "operator", "text": routine[(t // 5) % len(routine)]}]
        print(json.dumps(line))


if __name__ == "__main__":
    main()
