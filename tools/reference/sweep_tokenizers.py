#!/usr/bin/env python3
"""Random texts through the tokenizers of HF folders, for a sweep of `sage models import`'s
tokenizer conversion on text no fixture was made from.

Usage: sweep_tokenizers.py SEED COUNT OUT.json FOLDER...
Draws COUNT texts from SEED (words of several scripts and cases, digits in runs, punctuation,
spaces and newlines in runs, emoji, accents, code, text that looks like special tokens) and
writes, for each folder, HF's ids for each text without special tokens. Then run:
    cargo run --release -p sage-llm --example tokenizer_sweep -- OUT.json
Needs transformers and tokenizers.
"""
import json
import random
import sys

from transformers import AutoTokenizer

PIECES = [
    "robot", "Robot", "ROBOT", "warehouse", "battery", "the", "The", " ", "  ", "   ", "\n", "\n\n", "\t",
    "123", "4567890", "3.14", "1,000", "12:45", "x86_64", "don't", "WON'T", "I'm", "it's", "we'll",
    "Élan", "café", "naïve", "straße", "ÉCOLE", "Ωμέγα", "привет", "МИР", "日本語", "中文", "한국어",
    "🙂", "🤖", "👍🏽", "→", "—", "…", "«", "»", "¿", "¡", "#", "@", "$", "%", "&", "*", "(", ")", "[", "]",
    "{", "}", "<", ">", "/", "\\", "|", "~", "`", "^", "_", "-", "+", "=", ":", ";", ",", ".", "!", "?",
    "def", "f(x):", "return", "x**2", "getHTTPResponse", "snake_case", "camelCase", "CamelCase",
    "<s>", "</s>", "<|im_start|>", "<|endoftext|>", "[INST]", "<unk>",
]


def text(r):
    n = r.randint(1, 14)
    out = []
    for _ in range(n):
        p = r.choice(PIECES)
        out.append(p)
        out.append(r.choice(["", " ", " ", " ", "  ", "\n"]))
    return "".join(out)


def main():
    seed, count, out, folders = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    r = random.Random(seed)
    texts = [text(r) for _ in range(count)]
    entries = []
    for folder in folders:
        tok = AutoTokenizer.from_pretrained(folder)
        entries.append({"folder": folder, "texts": [[t, tok(t, add_special_tokens=False)["input_ids"]] for t in texts]})
    with open(out, "w") as f:
        json.dump({"seed": seed, "entries": entries}, f)


if __name__ == "__main__":
    main()
