#!/usr/bin/env python3
"""Loads GGUF files whose hyperparameters were set to hostile values through `sage generate`, one
process each, and sorts the outcomes: answered, refused with a typed error, or crashed / hung
(llama.cpp aborts the process on what it asserts, which the checks in
`crates/sage-llm/src/llama/hparams.rs` must refuse first).

Every numeric metadata value of the architecture (not the tokenizer's) is set in turn to
0, 1, 3, 7, 1000 and 2^31 - 1 (integers), 0, -1, NaN, +inf and 1e30 (floats), or all zeros and all
ones (arrays), in a copy of the file.

    python3 tools/hardening/gguf_mutations.py --sage target/release/sage MODEL.gguf...

Needs the `gguf` package (pip). Exit status 1 if anything crashed or hung.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import gguf

INTS = [0, 1, 3, 7, 1000, 2**31 - 1]
FLOATS = [0.0, -1.0, float("nan"), float("inf"), 1e30]


def mutations(path):
    """(key, value) for every numeric architecture value of the file."""
    r = gguf.GGUFReader(path)
    for key, field in r.fields.items():
        if key.startswith(("tokenizer", "GGUF", "general")):
            continue
        kind = field.types[0]
        if kind in (gguf.GGUFValueType.UINT32, gguf.GGUFValueType.INT32):
            yield from ((key, v) for v in INTS)
        elif kind == gguf.GGUFValueType.FLOAT32:
            yield from ((key, v) for v in FLOATS)
        elif kind == gguf.GGUFValueType.ARRAY:
            yield from ((key, v) for v in ("zeros", "ones"))


def mutated(path, out, key, value):
    shutil.copy(path, out)
    m = gguf.GGUFReader(out, "r+")
    field = m.fields[key]
    if value in ("zeros", "ones"):
        for i in field.data:
            field.parts[i][...] = 0 if value == "zeros" else 1
    else:
        field.parts[field.data[0]][...] = value
    del m


def outcome(sage, model):
    try:
        p = subprocess.run([sage, "generate", "--model", model, "--prompt", "The robot", "--max-tokens", "3"],
                           capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "HANG"
    err = p.stderr.decode(errors="replace")
    if p.returncode == 0:
        return "answered"
    if p.returncode == 1 and "GGML_ASSERT" not in err:
        return "refused"
    lines = [l for l in err.splitlines() if "GGML_ASSERT" in l or "terminate" in l]
    return f"CRASH ({p.returncode}) {lines[0][-120:] if lines else err[-160:]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sage", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "m.gguf")
        for f in args.files:
            counts = {"answered": 0, "refused": 0, "crashed or hung": 0}
            for key, value in mutations(f):
                mutated(f, out, key, value)
                o = outcome(args.sage, out)
                if o in counts:
                    counts[o] += 1
                else:
                    counts["crashed or hung"] += 1
                    bad += 1
                    print(f"{Path(f).name}: {key} = {value}: {o}", flush=True)
            print(f"{Path(f).name}: {sum(counts.values())} files, " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
