#!/usr/bin/env python3
"""Labelled operator messages in plain words, for the text rule of the salience (decision 0013):
forty salient messages of one set (hazards, questions, orders, new names, said in many ways), one
every 15 ticks from tick 40, among twenty routine status lines of that set, one every 5 ticks.
Text only, 700 ticks.

    python3 scenarios/make_messages.py SET > /tmp/messages.jsonl     # SET: tuning, held-1, held-2
    ./target/release/sage bench attention /tmp/messages.jsonl [--with-model]

`tuning` was written first and the rule's word lists were widened on it; `held-1` was written
before that change and run once after it (then its two misses were fixed, so it is tuned on too);
`held-2` was written before that second change and run once after it. Write a new set to check
the rule again.
"""
import json
import sys

SETS = {
    'tuning': (
        [
            'I need you to come to bay 4',
            'Could you grab the red box from shelf 2',
            'Battery is overheating on unit 3',
            "There's water leaking from the ceiling in aisle 5",
            'Someone collapsed near the entrance',
            'We have a person trapped under a pallet',
            'Evacuate the building immediately',
            'Alarm triggered in sector 7',
            'Watch out, the floor is slippery near dock A',
            'The robot arm is sparking',
            'Go to the charging station',
            'Tell me your current position',
            "What's the temperature in the server room",
            'Are you able to lift 20 kg',
            'Report your status',
            'Hey robot, move aside, the stretcher is coming through',
            'Meet Dr. Nakamura at the lobby',
            'A delivery truck from Fedex is arriving at gate 2',
            'Emergency: chemical spill in lab 3',
            'Power outage in the east wing',
            'The door to the freezer is stuck open',
            "Help! I can't get out",
            'Do not enter zone C, there is broken glass',
            'Pause all tasks now',
            'Can you hear me',
            'Where did you put the toolbox',
            'A stranger is wandering in the warehouse',
            'Explosion heard near the boiler',
            'Check the pressure valve in room 12',
            'Stay where you are',
            'Something is burning in the kitchen',
            'Critical: motor temperature above limit',
            'The shelf is about to fall',
            'Bring me the first aid kit',
            'Is the loading dock clear',
            'New operator Svensson takes over the night shift',
            'Robot 5 has stopped responding',
            'Intruder alert at the back door',
            'Move to the exit and wait there',
            'Why did you stop',
        ],
        [
            'status ok',
            'all systems nominal',
            'heartbeat',
            'battery at 76 percent',
            'patrol complete',
            'temperature 21 degrees',
            'uplink stable',
            'log saved',
            'checkpoint 4 passed',
            'no anomalies detected',
            'fire drill scheduled for friday',
            'weekly inspection done',
            'conveyor running',
            'night shift started as planned',
            'scan complete, nothing to report',
            'doors locked as usual',
            'zone B quiet',
            'charging finished',
            'route 3 completed',
            'system check passed',
        ],
    ),
    'held-1': (
        [
            'Robot, halt right there',
            'Get away from the conveyor belt',
            'There is a fire in the storage room',
            'Can somebody help, my hand is caught in the machine',
            'Which aisle are you in right now',
            'How many boxes are left on pallet 9',
            'Please slow down near the office',
            'You must return to base',
            'Careful, forklift reversing behind you',
            'The emergency exit is blocked by crates',
            'Unknown vehicle parked at loading bay 6',
            'Did you finish the inventory count',
            'A child wandered into the loading area',
            'Hold position until further notice',
            'Smoke alarm going off in hallway B',
            'Mr. Abernathy from safety will inspect you at 3pm',
            'Sensor array on the left side is damaged',
            'Deliver these documents to the front office',
            'Oil on the floor near machine 4, avoid it',
            'Shut down the welding station immediately',
            'Someone is injured in aisle 11',
            'Open the gate for the ambulance',
            'How is your battery doing',
            'The ceiling light is flickering and smoking',
            'Lock down the server room',
            'A man without a badge is in the lab',
            'Turn around and go back to dock 3',
            "There's a gas smell near the boiler room",
            'When will you be done with the delivery',
            'Follow me to the storage area',
            'We lost contact with drone 2',
            'The pallet jack is tipping over',
            'Take the cart to bay 8 please',
            'Is anyone else in the building',
            'Water is flooding the basement',
            'Come here quickly',
            'Alert: temperature sensor reads 90 degrees in freezer',
            'Who gave you that instruction',
            'Keep clear of the crane',
            'Technician Ramirez will replace your wheel tomorrow',
        ],
        [
            'status green',
            'all clear on floor 2',
            'battery 64 percent',
            'heartbeat received',
            'inventory sync finished',
            'temperature stable at 20 degrees',
            'no alerts in the last hour',
            'maintenance window planned for sunday',
            'evacuation drill next tuesday',
            'lights on in zone D',
            'cleaning crew finished aisle 4',
            'route 12 completed',
            'camera feed nominal',
            'door 3 closed',
            'shift handover done',
            'backup completed successfully',
            'checkpoint 7 passed',
            'wifi signal good',
            'queue empty',
            'charging at dock 1',
        ],
    ),
    'held-2': (
        [
            "Robot, there's glass all over aisle 6, go around it",
            'Fetch the ladder from the maintenance room',
            'A pipe burst in the basement',
            'How far are you from the charging dock',
            "Sage, what's your battery percentage",
            'Stand by for instructions',
            "There's a fox in the warehouse",
            "The fire door on level 2 won't close",
            'Please announce the evacuation on all speakers',
            "Somebody left the furnace on overnight and it's glowing red",
            'Who is currently at the front gate',
            'Wheel 3 is making a grinding noise',
            'Drop everything and come to the lab',
            'I think someone is hiding behind the racks',
            'Pick up the package at reception and bring it to room 204',
            'Are the emergency lights working',
            'Visitor Zhao is waiting in the lobby for a tour',
            'A forklift just hit the shelving in row 9',
            'Patient in bed 4 is asking for water',
            'The elevator is stuck between floors with people inside',
            "Return the cart to the shed when you're done",
            'What happened to the camera on the north wall',
            'Heavy rain is coming through the roof hatch',
            "Freeze, don't move",
            'Your left gripper is slipping',
            'Can you confirm the loading bay door is shut',
            "Someone's screaming in the parking lot",
            "Call security, there's a fight in the canteen",
            'Turn off the lights in zone F',
            'A box fell off the top shelf and nearly hit a worker',
            'New shipment from Kowalski Logistics arrives tonight',
            'Did anyone report the broken window',
            'Grab the extinguisher and head to the kitchen',
            'The battery pack on unit 2 is swelling',
            'Record the serial numbers on pallet 12',
            'Has the delivery van left yet',
            'Cover the server rack, the sprinklers are on',
            'There is a strong smell of burning plastic',
            'Escort the guest to meeting room 3',
            'Where is the nearest defibrillator',
        ],
        [
            'status: idle',
            'all zones nominal',
            'battery at 58 percent',
            'heartbeat ack',
            'shipment 88 logged',
            'temperature holding at 19 degrees',
            'no faults reported',
            'fire alarm test scheduled for thursday',
            'maintenance done on lift 2 as planned',
            'lights off in zone A',
            'aisle 7 swept',
            'route 5 finished',
            'gate camera online',
            'door 9 locked',
            'night mode active',
            'sync ok',
            'checkpoint 2 passed',
            'signal strength good',
            'task queue empty',
            'docked and charging',
        ],
    ),
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
