#!/usr/bin/env python3
"""Soak and abuse `sage serve`: mixed traffic for a while (chats from thousands of unique users,
completions, sensor and text observations, clients that hang up mid-stream) plus abuse (slowloris
sockets, oversized bodies, deeply nested JSON, very long ids), with the server's resident memory
sampled. Prints one JSON object: memory after warm-up (min, max, last), outcomes per kind, and
whether the server stayed up. Standard library only.

    python3 tools/hardening/soak.py --sage target/debug/sage --model MODEL.gguf --seconds 1800
"""
import argparse
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter

from serve import start


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def request(host, port, method, path, body=None, timeout=60):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers={"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sage", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--warmup", type=float, default=120)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    db = os.path.join(tempfile.mkdtemp(prefix="sage-soak-"), "sage.db")
    p, url = start(a.sage, a.model, db)
    host, port = url.replace("http://", "").split(":")
    port = int(port)
    outcomes = Counter()
    lock = threading.Lock()
    samples = []
    t0 = time.time()
    end = t0 + a.seconds

    def note(kind, status):
        with lock:
            outcomes[f"{kind} {status}"] += 1

    def sampler():
        while time.time() < end and p.poll() is None:
            samples.append((time.time() - t0, rss_mib(p.pid)))
            time.sleep(5)

    def traffic(worker):
        r = random.Random(a.seed * 100 + worker)
        n = 0
        while time.time() < end and p.poll() is None:
            n += 1
            kind = r.choice(["chat", "chat", "completion", "sensor", "text", "disconnect", "abuse"])
            try:
                if kind == "chat":
                    user = f"user-{worker}-{n}"  # a new user every time: the session map must stay bounded
                    s = request(host, port, "POST", "/v1/chat/completions",
                                {"model": "sage", "max_tokens": 8, "user": user,
                                 "messages": [{"role": "user", "content": f"Where is robot {n}?"}]})
                elif kind == "completion":
                    s = request(host, port, "POST", "/v1/completions",
                                {"model": "sage", "prompt": f"Item {n} is stored in", "max_tokens": 6,
                                 "temperature": 0.8})
                elif kind == "sensor":
                    s = request(host, port, "POST", "/sage/observations",
                                [{"source": f"imu{r.randrange(3)}", "values": [r.gauss(0, 1) for _ in range(6)]}])
                elif kind == "text":
                    s = request(host, port, "POST", "/sage/observations",
                                {"source": "operator", "text": f"Status report {n}: all quiet in bay {n % 7}."})
                elif kind == "disconnect":
                    sock = socket.create_connection((host, port), timeout=30)
                    body = json.dumps({"model": "sage", "max_tokens": 64, "stream": True,
                                       "messages": [{"role": "user", "content": "Count to one hundred."}]}).encode()
                    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                                 + f"content-length: {len(body)}\r\n\r\n".encode() + body)
                    sock.recv(256)
                    sock.close()
                    s = "hung up"
                else:
                    abuse = r.choice(["slowloris", "oversized", "nested", "long_id"])
                    kind = f"abuse:{abuse}"
                    if abuse == "slowloris":
                        sock = socket.create_connection((host, port), timeout=30)
                        sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ")
                        t = time.time()
                        try:
                            got = sock.recv(256)
                            s = f"closed after {round(time.time() - t)} s" + (" (408)" if b"408" in got else "")
                        except socket.timeout:
                            s = "still open after 30 s"
                        sock.close()
                    elif abuse == "oversized":
                        s = request(host, port, "POST", "/v1/chat/completions", b"{" + b" " * (3 << 20) + b"}")
                    elif abuse == "nested":
                        s = request(host, port, "POST", "/v1/chat/completions", b"[" * 100000 + b"]" * 100000)
                    else:
                        s = request(host, port, "POST", "/v1/chat/completions",
                                    {"model": "sage", "user": "u" * (1 << 20),
                                     "messages": [{"role": "user", "content": "hi"}]})
                note(kind, s)
            except Exception as e:
                note(kind, type(e).__name__)

    threads = [threading.Thread(target=traffic, args=(w,)) for w in range(4)] + [threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive = p.poll() is None
    try:
        final = request(host, port, "GET", "/health")
    except Exception:
        final = None
    p.terminate()
    p.wait()
    after = [m for (t, m) in samples if t >= a.warmup]
    out = {
        "seconds": a.seconds, "warmup_s": a.warmup, "alive": alive, "health_at_end": final,
        "rss_mib_after_warmup": {"min": round(min(after), 1), "max": round(max(after), 1), "last": round(after[-1], 1)} if after else None,
        "rss_mib_first": round(samples[0][1], 1) if samples else None,
        "samples": len(samples),
        "outcomes": dict(sorted(outcomes.items())),
    }
    print(json.dumps(out))
    return 0 if alive and final == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
