#!/usr/bin/env python3
"""Records HF transformers reference outputs for the embedded default model.

Writes crates/sage-llm/tests/fixtures/gemma3_reference.json with
  - token ids of tricky strings (spaces, digits, Unicode, special tokens), with and without BOS;
  - six prompts with HF's greedy 32-token continuation (fp32), for teacher-forced agreement.

The Rust tests read the JSON; they never need Python. Re-run after changing the prompts:
    python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers gguf sentencepiece
    /tmp/hf/bin/python tools/reference/gemma_reference.py PATH/TO/gemma-3-270m-q4_k_m.gguf
"""
import json
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf = Path(sys.argv[1]).resolve()
out = Path(__file__).resolve().parents[2] / "crates/sage-llm/tests/fixtures/gemma3_reference.json"

TRICKY = [
    "Hello world",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\n\n",
    "1234567890 3.14159 -42 1e-9",
    "naïve café, Zürich; 東京 and 北京; emoji 🤖🔋",
    "<start_of_turn>user\nHi<end_of_turn>",
    "<bos> is a special token written in text",
    "def f(x):\n    return x ** 2  # squared",
    "ALL CAPS AND lowercase MiXeD",
    "a" * 40,
    "",
]
PROMPTS = [
    "The robot entered the warehouse and",
    "Question: What is the capital of France?\nAnswer:",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "The three laws of robotics are",
    "Battery status: 45%. Recommended action:",
]

t0 = time.time()
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
model.eval()
print(f"loaded in {time.time() - t0:.1f} s", file=sys.stderr)

tokenization = []
for s in TRICKY:
    tokenization.append({
        "text": s,
        "ids": tok(s, add_special_tokens=False)["input_ids"],
        "ids_with_bos": tok(s, add_special_tokens=True)["input_ids"],
    })

continuations = []
with torch.no_grad():
    for p in PROMPTS:
        ids = tok(p, add_special_tokens=True)["input_ids"]
        x = torch.tensor([ids])
        gen = model.generate(x, max_new_tokens=32, do_sample=False, min_new_tokens=32)
        cont = gen[0, len(ids):].tolist()
        # Logit gap between HF's top-1 and top-2 at each continuation position (near-ties explain
        # cross-engine disagreements).
        logits = model(gen).logits[0]
        gaps = []
        for i in range(len(cont)):
            row = logits[len(ids) - 1 + i]
            top2 = torch.topk(row, 2).values
            gaps.append(round(float(top2[0] - top2[1]), 4))
        continuations.append({"prompt": p, "prompt_ids": ids, "continuation": cont, "top1_gap": gaps})

out.write_text(json.dumps({
    "model": gguf.name,
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "dtype": "float32",
    "tokenization": tokenization,
    "continuations": continuations,
}, indent=1, ensure_ascii=False) + "\n")
print(f"wrote {out}", file=sys.stderr)
