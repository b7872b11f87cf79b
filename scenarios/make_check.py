#!/usr/bin/env python3
"""A labelled attention scenario written from the judgment issue's description alone, not from
`crates/sage-bench/src/families.rs`: three sensor channels of 16 dimensions (units around 0.7, 35
and -2), noise sigma 0.05 around a slow drift and a slow oscillation, 17 jumps of 6-11 sigma in one
dimension that persist three readings and go back (labelled salient at their first reading), ten
salient operator messages (hazards, questions, instructions, new names) among routine status
lines and look-alikes ("fire drill scheduled for friday"), 600 ticks, about 1,870 observations.

    python3 scenarios/make_check.py SEED [WANDER] > /tmp/check.jsonl
    ./target/release/sage bench attention /tmp/check.jsonl

WANDER (default 0: none) replaces the drift and the oscillation by a level that wanders: every
reading, each dimension's level takes a random step of WANDER noise sigmas (a random walk; 0.2
was run on seeds 20-39 while the level learned to follow it, 40-59, 60-79, 80-99, 100-119 and
120-139, 140-159, 160-179 and 180-199 once each for docs/BENCHMARKS.md; report on seeds from
200 on).

Seeds 0-19 were used while changing the salience rule (decision 0013; seed 5 is in the tests); 100-119 were run once and
their misses looked at; 200-219, 300-319, 400-419, 500-519, 600-619 (seed 602's miss led to a
change), 700-719, 800-819, 820-839, 840-859, 860-879, 880-899, 900-919 and 920-939 were run once
for docs/BENCHMARKS.md; seeds 20-99 (without WANDER) were the tuning seeds of session 22's change.
940-959 were run once for docs/BENCHMARKS.md after the level learned to follow a level in
motion, 960-979 after the threshold learned heavy-tailed noise, 980-999 after a source's spikes counted
sooner. Report on seeds from 1000 on.
"""
import json, math, random, sys
try:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 5
except ValueError:
    sys.exit(f"make_check.py: the seed must be a whole number, not {sys.argv[1]!r}")
try:
    wander = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
except ValueError:
    sys.exit(f"make_check.py: WANDER must be a number, not {sys.argv[2]!r}")
if not (0 <= wander < 100):
    sys.exit(f"make_check.py: WANDER must be at least 0 and under 100 (noise sigmas a reading), not {sys.argv[2]!r}")
rng = random.Random(seed)
END = 600
chans = {"arm_joints": 0.7, "thermal": 35.0, "wheel_odom": -2.0}
base = {c: [lvl + rng.uniform(-1, 1) for _ in range(16)] for c, lvl in chans.items()}
drift = {c: [rng.uniform(-0.002, 0.002) for _ in range(16)] for c in chans}
# 17 jumps at random ticks (>=12 apart), random channel and dimension, 6-11 sigma
ticks = []
while len(ticks) < 17:
    t = rng.randrange(40, END - 10)
    if all(abs(t - u) >= 12 for u in ticks):
        ticks.append(t)
jumps = {t: (rng.choice(list(chans)), rng.randrange(16), rng.choice([-1, 1]) * rng.uniform(6, 11) * 0.05) for t in ticks}
routine = ["status: all nominal", "heartbeat ok", "battery at 80 percent, nominal", "route segment 3 complete",
           "log rotated", "telemetry uplink stable", "status: all nominal", "heartbeat ok",
           "fire drill scheduled for friday at 10", "weekly maintenance completed without findings"]
salient_msgs = [
    "Smoke coming out of the charging station, get away from it",
    "Is the left gripper still holding the box?",
    "Please head back to dock B right now",
    "Someone fell down near rack 12, they look hurt",
    "Who is the person in the red jacket at gate 3?",
    "There's an intruder climbing the fence on the north side",
    "How much payload are you carrying?",
    "Turn off the conveyor immediately",
    "Gas leak reported in corridor D, avoid it",
    "A technician named Okafor will meet you at bay 9",
]
msg_ticks = []
while len(msg_ticks) < 10:
    t = rng.randrange(30, END - 5)
    if all(abs(t - u) >= 8 for u in msg_ticks + ticks):
        msg_ticks.append(t)
msg_at = dict(zip(sorted(msg_ticks), salient_msgs))
active = {}
walk = {c: [0.0] * 16 for c in chans}
print(json.dumps({"scenario": "independent", "description": "independent check", "tick_s": 1.0, "seed": seed, "end": END}))
n = 0
for t in range(END):
    line = {"t": t, "sensors": {}}
    sal = {}
    if t in jumps:
        c, d, size = jumps[t]
        active[(c, d)] = (t, size)
        sal[c] = f"jump {size/0.05:.1f} sigma in dim {d}"
    for c in chans:
        v = []
        for d in range(16):
            if wander > 0:
                walk[c][d] += rng.gauss(0, wander * 0.05)
                x = base[c][d] + walk[c][d] + rng.gauss(0, 0.05)
            else:
                x = base[c][d] + drift[c][d] * t + 0.03 * math.sin(t / 50 + d) + rng.gauss(0, 0.05)
            a = active.get((c, d))
            if a and t - a[0] < 3:
                x += a[1]
            v.append(round(x, 4))
        line["sensors"][c] = v
        n += 1
    if t in msg_at:
        line["text"] = [{"source": "operator", "text": msg_at[t]}]
        sal["operator"] = "salient message"
        n += 1
    elif t % 10 == 5:
        line["text"] = [{"source": "operator", "text": routine[(t // 10) % len(routine)]}]
        n += 1
    if sal:
        line["salient"] = sal
    print(json.dumps(line))
print(f"{n} observations", file=sys.stderr)
