#!/usr/bin/env python3
"""Turns the embedded default model (Gemma 3 270M, GGUF) into the HF safetensors folder
transformers makes of it (weights dequantized to F32, config.json, tokenizer.json), with HF's
logits for a prompt and HF's token ids for tricky strings, to check `sage models import` on a
real Gemma 3 model and its real 262k-token SentencePiece tokenizer (docs/BENCHMARKS.md):

    python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers gguf sentencepiece accelerate
    /tmp/hf/bin/python tools/reference/gemma_hf_folder.py PATH/TO/gemma-3-270m-q4_k_m.gguf OUT_DIR
    cargo run --release -p sage-llm --example hf_parity -- OUT_DIR

OUT_DIR/reference.json holds {"ids", "logits", "texts": [[text, ids], ...]}. Nothing of it is
committed (the folder is over 1 GB).
"""
import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
# A model loaded from GGUF refuses to save; the same weights in a plain model do not.
config = loaded.config
config.quantization_config = None
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
model.load_state_dict(loaded.state_dict())
model.save_pretrained(out, safe_serialization=True)
tok.save_pretrained(out)
TRICKY = json.loads((Path(__file__).resolve().parents[2] / "crates/sage-llm/tests/fixtures/gemma3_reference.json")
                    .read_text())["tokenization"]
prompt = ("The robot entered the warehouse and checked the loading dock. Battery status: 45%. "
          "Recommended action: return to the charger, then report to the operator.") * 20
ids = tok(prompt, add_special_tokens=True)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
(out / "reference.json").write_text(json.dumps({
    "ids": ids,
    "logits": [[round(float(x), 5) for x in row] for row in logits[::8]],
    "rows": list(range(0, len(ids), 8)),
    "texts": [[t["text"], tok(t["text"], add_special_tokens=False)["input_ids"]] for t in TRICKY],
}) + "\n")
print(len(ids), "tokens;", out)
