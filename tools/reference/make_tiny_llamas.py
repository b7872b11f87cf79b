#!/usr/bin/env python3
"""Creates tiny random Llama-family models as HF safetensors folders, with reference logits from
HF transformers, for the parity tests of `sage models import` + llama.cpp.

Writes crates/sage-llm/tests/fixtures/tiny/<name>/{config.json, model.safetensors,
tokenizer.json, tokenizer_config.json, reference.json}. The folders are small (tens of KiB) and
committed; the Rust tests never need Python. Re-run with a Python that has torch, transformers
and tokenizers:
    python tools/reference/make_tiny_llamas.py
"""
import json
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

OUT = Path(__file__).resolve().parents[2] / "crates/sage-llm/tests/fixtures/tiny"
CORPUS = [
    "The robot entered the warehouse and checked the loading dock.",
    "Battery status nominal, all systems normal. What is the battery level?",
    "URGENT: a person is in the corridor, stop the robot now!",
    "def f(x):\n    return x ** 2  # squared; 1234567890",
] * 50
CHAT_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

VARIANTS = {
    # Llama 3.1 rope scaling, GQA, head_dim != hidden/heads (like Nemotron Nano 4B), untied.
    "llama31_gqa_headdim": dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                                rope_theta=500000.0, tie_word_embeddings=False,
                                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
    # Tied embeddings, head_dim == hidden/heads, no rope scaling, multi-query attention.
    "llama_tied_mqa": dict(hidden_size=48, intermediate_size=80, num_hidden_layers=3,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=12,
                           rope_theta=10000.0, tie_word_embeddings=True, rope_scaling=None),
}


def tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def main():
    torch.manual_seed(0)
    tok = tokenizer()
    for name, kw in VARIANTS.items():
        d = OUT / name
        d.mkdir(parents=True, exist_ok=True)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                       eos_token="<|eot_id|>")
        fast.chat_template = CHAT_TEMPLATE
        fast.save_pretrained(d)
        vocab = tok.get_vocab_size()
        cfg = LlamaConfig(vocab_size=vocab, max_position_embeddings=256, rms_norm_eps=1e-5,
                          bos_token_id=tok.token_to_id("<|begin_of_text|>"),
                          eos_token_id=tok.token_to_id("<|eot_id|>"), **kw)
        model = LlamaForCausalLM(cfg).to(torch.float32).eval()
        with torch.no_grad():
            # Larger random weights than the default init, so that logits differ visibly.
            for p in model.parameters():
                if p.dim() > 1:
                    p.normal_(0.0, 0.08)
                else:
                    p.uniform_(0.8, 1.2)
        model.save_pretrained(d, safe_serialization=True)
        ids = [tok.token_to_id("<|begin_of_text|>")] + tok.encode(CORPUS[0] + " " + CORPUS[2]).ids
        ids = ids[:40]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        (d / "reference.json").write_text(json.dumps({
            "transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
            "ids": ids, "logits": [[round(float(x), 6) for x in row] for row in logits],
        }) + "\n")
        print(name, "vocab", vocab, "ids", len(ids))


if __name__ == "__main__":
    main()
