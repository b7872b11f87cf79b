#!/usr/bin/env python3
"""HF transformers (the Python reference SAGE's stack) on the same GGUF and prompt as
`sage bench llm`: load (model and tokenizer), prefill and greedy decode speed, peak memory.
Prints one JSON object. Usage: hf_generate_bench.py MODEL.gguf THREADS N_GEN PROMPT_FILE"""
import json
import resource
import sys
import time

t_import = time.perf_counter()
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

path, threads, n_gen, prompt_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
prompt = open(prompt_file, encoding="utf-8").read()
torch.set_num_threads(threads)
import os  # noqa: E402

d, f = os.path.split(os.path.abspath(path))
t0 = time.perf_counter()
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
model.eval()
load_s = time.perf_counter() - t0
ids = torch.tensor([tok(prompt)["input_ids"]])
with torch.no_grad():
    t1 = time.perf_counter()
    out = model(ids, use_cache=True)
    prefill_s = time.perf_counter() - t1
    past = out.past_key_values
    nxt = out.logits[0, -1].argmax().view(1, 1)
    t2 = time.perf_counter()
    for _ in range(n_gen - 1):
        out = model(nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[0, -1].argmax().view(1, 1)
    decode_s = time.perf_counter() - t2
print(json.dumps({
    "load_s": load_s,
    "import_s": t0 - t_import,
    "prompt_tokens": ids.shape[1],
    "prefill_tok_s": ids.shape[1] / prefill_s,
    "generated": n_gen,
    "decode_tok_s": (n_gen - 1) / decode_s,
    "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
