#!/usr/bin/env python3
"""A labelled attention scenario in a fourth style, written in session 46 without changing the
rule after it: an agricultural drone spraying a field. Six channels read every 1, 2, 4, 5 and 10
ticks: an IMU whose six dimensions carry the rotors' vibration (a sine of 4-9 readings and 3-10
sigma, each dimension in its own phase; the rotors speed up by 10-25% once, mid-flight, and stop
at landing), a GPS fix in metres that flies a lawnmower path (rows at a steady speed, turns that
take eight readings) and now and then jumps for a single reading (multipath: not salient), four
motor temperatures that warm from the ambient after take-off toward their working level, a
96-band spectrometer whose bands' noise differs a hundredfold and shares a common part, a pump's
flow and pressure (its pump runs throughout), and a battery's voltage (to 0.01 V) and charge (whole percent). 20 events of
6-12 sigma of the dimension's own noise (one dimension, now and then two or three; lasting 3-10
readings, one in five a step that stays), 10 of 3-5 sigma that are not salient; 14 salient
messages from a pilot, the ground crew and the farm office among routine lines and look-alikes
("Drift test flight scheduled for Monday"); 900 ticks, about 2,700 observations.

    python3 scenarios/make_drone.py SEED > /tmp/drone.jsonl
    ./target/release/sage bench attention /tmp/drone.jsonl

Labels: an event is salient at its first reading; its other readings and its return are not; a
GPS spike, a turn, the rotors' change of speed and their stop, and the motors warming are not; a
salient message is salient. Seeds 1-3 were run while writing it (to check that it runs and what
it labels, not tuned on); 100-119 were run with the rules of sessions 46 and 47 while the
cycle watch was changed for it, 120-139 once with the rule of session 47 (decision 0013); report
on seeds from 140 on.
"""
import math, os, random, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timeline import emit, place_messages, seed_from_argv  # noqa: E402

seed = seed_from_argv("make_drone.py", 100)
rng = random.Random(seed)
END = 900
TAKEOFF = rng.randrange(60, 120)
LANDING = END - rng.randrange(100, 140)
SPEEDUP = rng.randrange(TAKEOFF + 250, LANDING - 150)

# channel: dimensions, read every `period` ticks; per dimension a level and a noise sigma.
chans = {
    "imu": (6, 1),
    "gps": (3, 5),
    "motor_temp": (4, 2),
    "spectro": (96, 4),
    "pump": (2, 1),
    "battery": (2, 10),
}
sigma = {
    "imu": [rng.uniform(0.002, 0.05) for _ in range(6)],
    "gps": [rng.uniform(0.5, 2.0) for _ in range(2)] + [rng.uniform(1.0, 3.0)],
    "motor_temp": [rng.uniform(0.2, 0.5) for _ in range(4)],
    "spectro": [10 ** rng.uniform(-3, -1) for _ in range(96)],
    "pump": [rng.uniform(0.01, 0.03), rng.uniform(0.5, 1.5)],
    "battery": [0.02, 0.0],
}
# the spectrometer's common part: each reading adds COMMON * sigma * g (g shared by all bands),
# so a band's whole noise is sigma * sqrt(1 + COMMON^2); events are sized against that.
COMMON = 0.5
level0 = {
    "imu": [rng.uniform(-0.5, 0.5) for _ in range(5)] + [9.81],
    "gps": [rng.uniform(-500, 500), rng.uniform(-500, 500), rng.uniform(20, 40)],
    "motor_temp": [rng.uniform(15, 30)] * 4,
    "spectro": [rng.uniform(0.1, 1.0) for _ in range(96)],
    "pump": [rng.uniform(0.8, 1.6), rng.uniform(150, 250)],
    "battery": [25.2, 100.0],
}
vib_amp = [rng.uniform(3, 10) for _ in range(6)]
vib_phase = [rng.uniform(0, 2 * math.pi) for _ in range(6)]
vib_period = rng.uniform(4, 9)
speedup = rng.uniform(1.1, 1.25)
warm = [rng.uniform(25, 45) for _ in range(4)]  # degrees above ambient when working
tau = [rng.uniform(200, 400) for _ in range(4)]  # ticks
row_speed = rng.uniform(0.2, 0.4)  # metres a tick
row_len = rng.randrange(120, 200)  # ticks a row
turn_len = 40  # ticks a turn (eight GPS readings)
spec_drift = [rng.uniform(-1, 1) * 0.002 for _ in range(96)]


def whole_sigma(c, i):
    s = sigma[c][i]
    return s * math.sqrt(1 + COMMON ** 2) if c == "spectro" else s


def present(c, t):
    return t % chans[c][1] == 0


def readings_from(c, t, n):
    return [u for u in range(t, END) if present(c, u)][:n]


# events: (tick, channel, dimensions, sizes in sigma, readings it lasts or None: a step, salient)
events = []
tries = 0
while len(events) < 30 and tries < 100000:
    tries += 1
    c = rng.choice(["imu", "gps", "motor_temp", "spectro", "spectro", "pump", "battery"])
    d, p = chans[c]
    t = rng.randrange(max(60, 40 * p), END - 60)
    if not present(c, t):
        continue
    if any(abs(t - e[0]) < 15 for e in events):
        continue
    if any(e[1] == c and abs(t - e[0]) < (25 + (e[4] or 35)) * p for e in events):
        continue
    salient = len(events) < 20
    ln = None if salient and rng.random() < 0.2 else rng.randint(3, 10)
    dims_ok = [0] if c == "battery" else list(range(d))  # the charge is a counter
    nd = 1 if rng.random() < 0.75 or len(dims_ok) == 1 else rng.randint(2, min(3, len(dims_ok)))
    dims = rng.sample(dims_ok, nd)
    lo, hi = (6, 12) if salient else (3, 5)
    sizes = [rng.choice([-1, 1]) * rng.uniform(lo, hi) for _ in dims]
    events.append((t, c, dims, sizes, ln, salient))

salient_msgs = [
    "Tractor just pulled into row 7, hold the drone above it",
    "Is the nozzle on the left boom still dripping?",
    "Land now, there's a thunderstorm coming in from the west",
    "Somebody is walking across the north field without a vest",
    "The spray tank pressure warning came on twice",
    "Could you check whether we covered the strip by the creek",
    "Agronomist Dr. Mbeki wants a photo of the yellow patch near the pond",
    "Stop spraying, the wind has picked up to 25 km/h",
    "A deer is running toward the landing pad",
    "Hold position, a crop duster is crossing at low altitude",
    "Battery cover on drone 2 came loose during the last flight",
    "Where did you drop the last soil sample?",
    "Smoke rising from the barn behind the silos",
    "Skip the organic plots by the hedge, they must not be sprayed",
]
routine = [
    "Row 12 done", "Tank refilled to 40 litres", "Wind 6 km/h from the south",
    "Drift test flight scheduled for Monday", "Field map synced", "Nozzle check passed",
    "Ground crew on break", "Spray log saved", "Fire extinguisher at the trailer inspected",
    "Weather: clear skies", "Battery pack 3 charging", "No birds near the field this morning",
    "Coverage 42 percent", "Heartbeat", "Pump primed", "Harvest meeting moved to Friday",
]
sources = ["pilot", "ground_crew", "farm_office"]
msg_at = place_messages(rng, salient_msgs, routine, END, 7)


def base(c, i, t):
    """The channel's value at tick `t` without noise or events."""
    flying = TAKEOFF <= t < LANDING
    if c == "imu":
        if not flying:
            return level0[c][i]
        # the rotors spool up over five ticks
        spool = min(1.0, (t - TAKEOFF + 1) / 5.0)
        # phase continuous across the rotors' change of speed
        cycles = (min(t, SPEEDUP) - TAKEOFF) / vib_period + max(0, t - SPEEDUP) * speedup / vib_period
        return level0[c][i] + spool * vib_amp[i] * sigma[c][i] * math.sin(2 * math.pi * cycles + vib_phase[i])
    if c == "gps":
        if i == 2:
            # climbs and descends 25 m over 60 ticks (twelve readings)
            up = min(1.0, max(0.0, (t - TAKEOFF) / 60.0))
            down = min(1.0, max(0.0, (t - LANDING) / 60.0))
            return level0[c][2] - 25.0 + 25.0 * up - 25.0 * down
        u = max(0, min(t, LANDING) - TAKEOFF)
        leg = row_len + turn_len
        k, r = divmod(u, leg)
        length = row_speed * row_len
        heading = -1 if k % 2 else 1  # rows flown east, then west
        x = level0[c][0] + (length if k % 2 else 0.0)
        y = level0[c][1] + k * 10.0
        if r < row_len:
            x += heading * row_speed * r
        else:
            # a half circle to the next row, 10 m over, bulging 2 m past the row's end
            a = math.pi * (r - row_len) / turn_len
            x += heading * (length + 2.0 * math.sin(a))
            y += 5.0 - 5.0 * math.cos(a)
        return x if i == 0 else y
    if c == "motor_temp":
        u = max(0, min(t, LANDING) - TAKEOFF)
        cool = max(0, t - LANDING)
        heat = warm[i] * (1 - math.exp(-u / tau[i]))
        return level0[c][i] + heat * math.exp(-cool / 150.0)
    if c == "spectro":
        return level0[c][i] + spec_drift[i] * sigma[c][i] * t
    if c == "pump":
        return level0[c][i]
    if c == "battery":
        used = max(0, min(t, LANDING) - TAKEOFF) / (LANDING - TAKEOFF)
        return 25.2 - 2.4 * used if i == 0 else 100.0 - 70.0 * used
    raise KeyError(c)


print(
    '{"scenario": "drone", "description": "labelled: see scenarios/make_drone.py", '
    f'"tick_s": 1.0, "seed": {seed}, "end": {END}}}'
)
for t in range(END):
    line = {"t": t, "sensors": {}}
    lab = {}
    for c, (d, p) in chans.items():
        if not present(c, t):
            continue
        g = rng.gauss(0, 1)
        vals = []
        for i in range(d):
            v = base(c, i, t) + rng.gauss(0, sigma[c][i])
            if c == "spectro":
                v += COMMON * sigma[c][i] * g
            if c == "gps" and i < 2 and rng.random() < 0.015:
                v += rng.choice([-1, 1]) * rng.uniform(5, 15) * sigma[c][i]
            for et, ec, dims, sizes, ln, sal in events:
                if ec != c or i not in dims:
                    continue
                size = sizes[dims.index(i)] * whole_sigma(c, i)
                if (ln is None and t >= et) or (ln is not None and t in readings_from(c, et, ln)):
                    v += size
                if t == et and sal:
                    lab[c] = "jump"
            if c == "battery":
                v = round(v, 2) if i == 0 else float(round(v))
            vals.append(round(v, 6))
        line["sensors"][c] = vals
    emit(line, lab, msg_at, rng, sources)
