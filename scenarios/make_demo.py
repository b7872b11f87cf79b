#!/usr/bin/env python3
"""Writes scenarios/demo.jsonl, the bundled demo of `sage run`.

A warehouse robot on patrol: routine sensor readings and operator messages, a door fault, a
person in the corridor (a burst of salient events that focuses the robot), a collision (an
external crisis signal), then a quiet night in which it rests, dreams and wakes.

Deterministic (fixed seed); run it again after changing the story and commit both files:
    python3 scenarios/make_demo.py > scenarios/demo.jsonl
"""
import json
import math
import random

rng = random.Random(7)
END = 240


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


def camera(t, clear=True):
    # Four features: free-space, motion, person-likelihood, brightness.
    f = [0.8, 0.05, 0.02, 0.6] if clear else [0.2, 0.7, 0.9, 0.55]
    return [round(x + rng.gauss(0, 0.02), 3) for x in f]


texts = {
    3: ("operator", "Good morning. Starting the warehouse patrol, route B.", None),
    10: ("operator", "battery status nominal, all systems normal", None),
    15: ("operator", "What is the battery level?", None),
    25: ("operator", "battery status nominal, all systems normal", None),
    32: ("operator", "Warning: door sensor fault in bay 3!", None),
    41: ("operator", "URGENT: a person is in the corridor, stop the robot now!", 0.95),
    44: ("operator", "Person still in the path, do not move!", 0.9),
    47: ("operator", "Help is coming, keep the arm retracted, stop all motion", 0.85),
    60: ("robot", "COLLISION! Bumper pressed, motors halted, error code 7", 0.95),
    75: ("operator", "Collision cleared. Nobody hurt, the path is clear now.", None),
    120: ("operator", "battery status nominal, all systems normal", None),
    200: ("operator", "Morning shift starts. Can you resume the patrol?", None),
}
notes = {
    0: "patrol starts: routine sensors",
    32: "a door fault: worth attending, the operator confirms it mattered",
    40: "a person steps into the corridor: lidar, camera and operator agree something is wrong",
    60: "collision: the bumper raises the crisis signal",
    68: "crisis signal clears",
    80: "a quiet night begins",
    200: "morning",
}

print(json.dumps({
    "scenario": "demo",
    "description": "A warehouse robot on patrol: routine, a door fault, a person in the corridor, a collision, a quiet night.",
    "tick_s": 1.0,
    "seed": 7,
    "end": END,
}))
for t in range(0, END + 1):
    ev = {"t": t, "sensors": {}}
    burst = 40 <= t <= 52
    crash = 60 <= t <= 62
    night = t >= 80 and t < 200
    if not night or t % 5 == 0:
        ev["sensors"]["imu"] = imu(t, jolt=(1.5 if crash else 0.6 if burst and t % 2 else 0.0))
        ev["sensors"]["lidar"] = lidar(t, obstacle=(0.9 if burst or crash else 0.0))
        if t % 2 == 0:
            ev["sensors"]["camera"] = camera(t, clear=not (burst or crash))
    if t in texts:
        src, text, sem = texts[t]
        m = {"source": src, "text": text}
        if sem is not None:
            m["semantic"] = sem
        ev["text"] = [m]
    if t in notes:
        ev["note"] = notes[t]
    if t == 34:
        ev["feedback"] = [
            {"stream": "operator", "reward": 1.0},
            {"expert": "intent", "class": "text.alert", "success": True, "quality": 0.95},
        ]
    if t == 50:
        ev["feedback"] = [{"expert": "smooth-lite", "class": "sensor", "success": False},
                          {"expert": "smooth-lite", "class": "sensor", "success": False},
                          {"expert": "smooth-lite", "class": "sensor", "success": False}]
    if t == 60:
        ev["crisis"] = True
    if t == 68:
        ev["crisis"] = False
    if len(ev) == 2 and not ev["sensors"]:
        continue
    if not ev["sensors"]:
        del ev["sensors"]
    print(json.dumps(ev, separators=(",", ":")))
