#!/usr/bin/env python3
"""kill -9 `sage serve` while requests are in flight, many times, and check after each restart:
the store passes SQLite's integrity check, every request that was answered (acknowledged) is in
the store's request log, and the restarted server answers. Standard library only.

    python3 tools/hardening/kill9.py --sage target/debug/sage --model MODEL.gguf --rounds 100
"""
import argparse
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request

from serve import start


def post(url, body, timeout=60):
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def ready(url, wait=30):
    end = time.time() + wait
    while time.time() < end:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.05)
    return False


def check(db, acked):
    con = sqlite3.connect(db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    logged = "\n".join(b for (b,) in con.execute("SELECT body FROM decisions WHERE kind = 'request'"))
    con.close()
    lost = [m for m in acked if m not in logged]
    return ok, lost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sage", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="sage-kill9-")
    db = os.path.join(work, "sage.db")
    acked, sent, bad_integrity, lost_set, first_failed = [], 0, 0, set(), 0
    for rnd in range(a.rounds):
        p, url = start(a.sage, a.model, db)
        if not ready(url):
            first_failed += 1
        try:
            s, _ = post(url, {"model": "sage", "max_tokens": 4,
                              "messages": [{"role": "user", "content": f"after restart {rnd}"}]})
            if s != 200:
                first_failed += 1
        except Exception:
            first_failed += 1
        lock = threading.Lock()
        stop = threading.Event()

        def client(c):
            nonlocal sent
            i = 0
            while not stop.is_set():
                marker = f"marker-{rnd}-{c}-{i}"
                i += 1
                with lock:
                    sent += 1
                try:
                    s, _ = post(url, {"model": "sage", "max_tokens": 6, "user": f"u{c}",
                                      "messages": [{"role": "user", "content": f"Note {marker}, please."}]}, timeout=30)
                    if s == 200:
                        with lock:
                            acked.append(marker)
                except Exception:
                    return

        threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.1, 2.0))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        stop.set()
        for t in threads:
            t.join()
        ok, lost = check(db, acked)
        bad_integrity += 0 if ok else 1
        lost_set.update(lost)
        print(f"round {rnd + 1}: integrity {'ok' if ok else 'FAILED'}, acknowledged so far {len(acked)}, lost {len(lost)}",
              file=sys.stderr)
    result = {"rounds": a.rounds, "kills": a.rounds, "requests_sent": sent, "acknowledged": len(acked),
              "lost": len(lost_set), "integrity_failures": bad_integrity, "failed_first_requests": first_failed}
    print(json.dumps(result))
    return 0 if (not lost_set and bad_integrity == 0 and first_failed == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
