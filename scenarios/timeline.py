"""When operator messages arrive in a generated scenario: shared by make_rates.py and make_amr.py
(not a scenario itself)."""


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
