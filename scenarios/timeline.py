"""What make_rates.py, make_amr.py and make_drone.py share (not a scenario itself): how they read their seed,
when their operator messages arrive and how a tick is printed with its message and labels."""


def place_messages(rng, salient, routine, end, every):
    """Salient messages at random ticks from 40 on (at least 3 apart, shuffled with `rng`), and
    routine lines every `every` ticks where no salient message is within 2; returns
    {tick: (text, salient)}."""
    msg_at = {}
    order = salient[:]
    rng.shuffle(order)
    for m in order:
        while True:
            t = rng.randrange(40, end - 5)
            if t not in msg_at and all(abs(t - u) >= 3 for u in msg_at):
                break
        msg_at[t] = (m, True)
    k = 0
    for t in range(0, end, every):
        if t not in msg_at and all(abs(t - u) >= 2 for u in msg_at):
            msg_at[t] = (routine[k % len(routine)], False)
            k += 1
    return msg_at


def seed_from_argv(script, default):
    """The seed given as the first argument (`default` without one), or exit with a clear error."""
    import sys

    try:
        return int(sys.argv[1]) if len(sys.argv) > 1 else default
    except ValueError:
        sys.exit(f"{script}: the seed must be a whole number, not {sys.argv[1]!r}")


def emit(line, lab, msg_at, rng, sources):
    """Print tick `line` (its sensors filled) with its message, if one arrives at its tick, from a
    source drawn with `rng`, and the labels `lab` (a salient message's source added)."""
    import json

    t = line["t"]
    if t in msg_at:
        m, sal = msg_at[t]
        src = rng.choice(sources)
        line["text"] = [{"source": src, "text": m}]
        if sal:
            lab[src] = "salient message"
    if lab:
        line["salient"] = lab
    print(json.dumps(line))
