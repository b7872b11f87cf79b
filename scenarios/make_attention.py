#!/usr/bin/env python3
"""Writes scenarios/attention.jsonl, the labelled scenario of `sage bench attention`.

Ten minutes of a warehouse robot's patrol, one tick per second: an IMU and a lidar every tick,
a camera every other tick, and operator messages. The labels come from how the file is made,
not from SAGE: the generator injects a known event and labels exactly that observation salient,
with the reason written next to it ("salient": {"lidar": "an obstacle 0.6 m ahead"}). Salient:
a physical anomaly injected into a sensor (an obstacle in the lidar, a jolt in the IMU, a person
in the camera), and an operator message that asks the robot something or warns it of a hazard.
Trivial (unlabelled): sensor noise around the patrol's normal readings and the operator's
routine status messages, which repeat. Salient events are at least eight seconds apart, so that
no event is lost to the per-state plugin limit by construction.

Deterministic (fixed seed); rerun after a change and commit both files:
    python3 scenarios/make_attention.py > scenarios/attention.jsonl
"""
import json
import math
import random

rng = random.Random(11)
END = 600


def imu(t, jolt=0.0):
    return [round(v, 3) for v in [
        0.02 * math.sin(t / 3) + rng.gauss(0, 0.02) + jolt,
        0.02 * math.cos(t / 4) + rng.gauss(0, 0.02) - jolt,
        9.81 + rng.gauss(0, 0.03) + 2 * jolt,
        rng.gauss(0, 0.01), rng.gauss(0, 0.01), 0.1 * jolt + rng.gauss(0, 0.01),
    ]]


def lidar(t, obstacle=0.0):
    base = [4.0, 3.5, 3.0, 2.8, 2.8, 3.0, 3.5, 4.0]
    out = []
    for i, b in enumerate(base):
        near = obstacle * math.exp(-((i - 3.5) ** 2) / 2.0)
        out.append(round(max(0.1, b * (1 - 0.8 * near) + rng.gauss(0, 0.03)), 3))
    return out


def camera(person=False):
    f = [0.2, 0.7, 0.9, 0.55] if person else [0.8, 0.05, 0.02, 0.6]
    return [round(x + rng.gauss(0, 0.02), 3) for x in f]


ROUTINE = [
    "battery status nominal, all systems normal",
    "patrol checkpoint passed, nothing to report",
    "shift log saved",
    "aisle temperature normal",
]
SALIENT_TEXT = [
    ("Warning: spilled oil near bay 2, slow down!", "a hazard warning"),
    ("What is your battery level?", "a question to the robot"),
    ("Stop at the loading dock and wait for the forklift.", "an instruction"),
    ("URGENT: fire alarm in aisle 7, leave the area now!", "a hazard warning"),
    ("Can you check whether door 4 is closed?", "a question to the robot"),
    ("Careful, a child is walking near the shelves!", "a hazard warning"),
    ("Why did you stop in aisle 3?", "a question to the robot"),
    ("Return to the charger immediately, battery critical!", "an urgent instruction"),
    ("Is the path to bay 9 clear?", "a question to the robot"),
    ("Danger: a pallet is falling in row 5!", "a hazard warning"),
    ("Where are you right now?", "a question to the robot"),
    ("Emergency stop requested by the supervisor!", "an urgent instruction"),
]
SENSOR_EVENTS = [
    ("lidar", "an obstacle appears 0.6 m ahead"),
    ("imu", "a jolt: the robot bumped into something"),
    ("camera", "a person steps into the camera's view"),
]

# Salient events every 20-30 s from t=30, alternating sensor anomalies and messages.
events = {}
t = 30
k = 0
while t < END - 20:
    if k % 2 == 0:
        events[t] = ("sensor", SENSOR_EVENTS[(k // 2) % len(SENSOR_EVENTS)])
    else:
        events[t] = ("text", SALIENT_TEXT[(k // 2) % len(SALIENT_TEXT)])
    k += 1
    t += rng.randint(20, 30)

print(json.dumps({"scenario": "attention", "description": "Labelled: salient events injected into a routine patrol; see scenarios/make_attention.py for how labels are made.", "tick_s": 1.0, "seed": 11, "end": END}))
for t in range(END + 1):
    ev = events.get(t)
    kind, what = ev if ev else (None, None)
    line = {"t": t, "sensors": {}}
    salient = {}
    obstacle = 0.9 if kind == "sensor" and what[0] == "lidar" else 0.0
    jolt = 1.5 if kind == "sensor" and what[0] == "imu" else 0.0
    person = kind == "sensor" and what[0] == "camera"
    line["sensors"]["imu"] = imu(t, jolt)
    line["sensors"]["lidar"] = lidar(t, obstacle)
    if t % 2 == 0 or person:
        line["sensors"]["camera"] = camera(person)
    if kind == "sensor":
        salient[what[0]] = what[1]
    if kind == "text":
        line["text"] = [{"source": "operator", "text": what[0]}]
        salient["operator"] = what[1]
    elif t % 7 == 3:
        line["text"] = [{"source": "operator", "text": ROUTINE[(t // 7) % len(ROUTINE)]}]
    if salient:
        line["salient"] = salient
    print(json.dumps(line, separators=(",", ":")))
