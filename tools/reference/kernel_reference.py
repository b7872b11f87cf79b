#!/usr/bin/env python3
"""Times the Python reference SAGE (dp-web4/HRM, folder sage/) on the workloads of
`sage bench kernel`, so that the benchmark can print ratios against a baseline measured in the
same run. Prints one JSON object: {"workload": ops_per_second or null, ...}.

    python3 tools/reference/kernel_reference.py PATH/TO/HRM [seconds-per-workload]

PATH/TO/HRM is a checkout of https://github.com/dp-web4/HRM (not part of this repository); the
reference needs numpy (and imports torch where available). Nothing of it is copied here.
"""
import asyncio
import json
import random
import sys
import time

import os

hrm = sys.argv[1]
real_stdout = sys.stdout
sys.stdout = open(os.devnull, "w")  # the reference prints on every state change
per = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
sys.path.insert(0, hrm)
results = {}
errors = {}


def rate(fn, seconds=per):
    fn()  # warm up
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


# 1. S90 expert selection over 128 experts.
try:
    from sage.experiments.session90_trust_as_resource_permission import ResourceAwareTrustSelector

    random.seed(1)
    sel = ResourceAwareTrustSelector(num_experts=128)
    results["select"] = rate(lambda: sel.select_expert(layer=0, context="ctx"))
except Exception as e:  # noqa: BLE001
    errors["select"] = repr(e)

# 2. SNARCService, 3 sensors x 64 dims, history full.
try:
    import numpy as np
    from sage.services.snarc.snarc_service import SNARCService

    rng = np.random.default_rng(2)
    frames = [{k: rng.uniform(-1, 1, 64) for k in ("a", "b", "c")} for _ in range(256)]
    svc = SNARCService()
    for f in frames[:200]:
        svc.assess_salience(f)
    i = [0]

    def snarc():
        svc.assess_salience(frames[i[0] % len(frames)])
        i[0] += 1

    results["snarc"] = rate(snarc)
except Exception as e:  # noqa: BLE001
    errors["snarc"] = repr(e)

# 3. SAGEConsciousness.step with mock sensors and no plugins.
try:
    from sage.core.sage_consciousness import SAGEConsciousness

    sage = SAGEConsciousness(config={"plugins": {}}, enable_circadian=True, simulation_mode=True)
    loop = asyncio.new_event_loop()
    results["tick"] = rate(lambda: loop.run_until_complete(sage.step()))
except Exception as e:  # noqa: BLE001
    errors["tick"] = repr(e)

print(json.dumps({"rates": results, "errors": errors}), file=real_stdout)
