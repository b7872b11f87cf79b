#!/usr/bin/env python3
"""Random tiny HF models of every family `sage models import` converts, for a parity sweep on
shapes and settings the committed fixtures were not made from.

Usage: sweep_import.py SEED COUNT OUT
Writes COUNT folders per family under OUT (config.json, model.safetensors, tokenizer files and
reference.json with 40 ids and HF's logits at every position, as the fixtures of
make_tiny_llamas.py have), each drawn from SEED: hidden sizes, head counts, GQA ratios, head
sizes, layers, tied or untied embeddings, biases, RoPE bases and scalings (M-RoPE sections for
Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3-VL-MoE and Qwen3-Omni), windows, soft caps, experts (Qwen3-VL-MoE's
fused, half of them written as published, half as transformers 5 saves them). Then run:
    cargo run --release -p sage-llm --example import_sweep -- OUT/*
Needs torch, transformers, tokenizers and sentencepiece.
"""
import json
import random
import sys
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_tiny_llamas as tiny  # noqa: E402  (its tokenizers and model classes)
from transformers import PreTrainedTokenizerFast  # noqa: E402

# New families go at the end: a seed then draws the same models of the others as before.
FAMILIES = ["llama", "mistral", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "nemotron_h", "phi3", "granite",
            "qwen3vl", "qwen3omni", "qwen25vl", "qwen3vlmoe", "qwen2vl"]


def draw_nemotron_h(r):
    """A Nemotron-H (or Nemotron 3, with expert layers) config's keyword arguments."""
    heads = r.choice([2, 4])
    # A model with experts has no plain MLP layers (llama.cpp makes every one a mixture; refused).
    kinds = ["linear_attention", "full_attention"] + (["moe"] if r.random() < 0.5 else ["mlp"])
    # At least one Mamba-2 and one attention layer (llama.cpp's hybrid cache needs both).
    layers = ["linear_attention", "full_attention"] + [r.choice(kinds) for _ in range(r.randint(0, 3))]
    r.shuffle(layers)
    mamba_heads = r.choice([2, 4, 8])
    kw = dict(hidden_size=r.choice([32, 48, 64]), intermediate_size=r.choice([48, 64]),
              layers_block_type=layers, num_attention_heads=heads,
              num_key_value_heads=r.choice([k for k in (1, 2, 4) if heads % k == 0]),
              head_dim=r.choice([8, 16]), ssm_state_size=r.choice([8, 16]), mamba_num_heads=mamba_heads,
              mamba_head_dim=r.choice([4, 8]), n_groups=r.choice([g for g in (1, 2) if mamba_heads % g == 0]),
              conv_kernel=4, chunk_size=16, tie_word_embeddings=r.random() < 0.5)
    if "moe" in layers:
        n = r.choice([2, 4])
        kw.update(n_routed_experts=n, num_experts_per_tok=r.randint(1, n), moe_intermediate_size=r.choice([16, 32]),
                  moe_shared_expert_intermediate_size=r.choice([16, 40]), n_shared_experts=1,
                  routed_scaling_factor=r.choice([1.0, 2.5]), norm_topk_prob=True, n_group=1, topk_group=1)
    return kw


def rope(r, family, theta):
    """A RoPE setting the family's importer accepts, drawn."""
    kinds = ["default", "linear", "yarn"] + (["llama3"] if family in ("llama", "mistral", "granite") else [])
    if family in ("gemma2", "phi3"):
        # HF's Phi-3 takes only Long RoPE (refused here) as a scaling.
        kinds = ["default"]
    if family == "gemma3":
        kinds = ["default", "linear"]
    kind = r.choice(kinds)
    p = {"rope_type": kind, "rope_theta": theta}
    if kind == "linear":
        p["factor"] = r.choice([2.0, 4.0, 8.0])
    if kind == "yarn":
        p.update(factor=r.choice([2.0, 4.0, 8.0]), original_max_position_embeddings=r.choice([16, 32, 64]))
        if r.random() < 0.3:
            p["attention_factor"] = round(r.uniform(0.8, 1.5), 3)
    if kind == "llama3":
        p.update(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                 original_max_position_embeddings=r.choice([16, 32, 64]))
    return p


def draw(r, family):
    """A config's keyword arguments for `family`."""
    if family == "nemotron_h":
        return draw_nemotron_h(r)
    heads = r.choice([2, 4, 8])
    kv = r.choice([k for k in (1, 2, 4, 8) if heads % k == 0])
    head_dim = r.choice([8, 12, 16, 24, 32])
    hidden = r.choice([32, 48, 64, 96])
    if family in ("qwen2", "phi3", "qwen25vl", "qwen2vl"):
        # llama.cpp's Qwen 2 and Phi-3 graphs size the queries by the hidden size.
        head_dim = hidden // heads
        if head_dim % 2 or (family in ("qwen25vl", "qwen2vl") and head_dim < 6):
            # Odd, or too small for M-RoPE's three sections.
            hidden, head_dim = heads * 8, 8
    theta = r.choice([10000.0, 500000.0, 1000000.0])
    kw = dict(hidden_size=hidden, intermediate_size=r.choice([48, 64, 96, 128]),
              num_hidden_layers=r.randint(1, 4), num_attention_heads=heads, num_key_value_heads=kv,
              head_dim=head_dim, tie_word_embeddings=r.random() < 0.5,
              rope_parameters=rope(r, family, theta))
    if family in ("llama", "granite"):
        kw.update(attention_bias=r.random() < 0.3, mlp_bias=r.random() < 0.3)
    if family == "granite":
        kw.update(embedding_multiplier=round(r.uniform(0.5, 12.0), 3), residual_multiplier=round(r.uniform(0.1, 1.0), 3),
                  attention_multiplier=round(r.uniform(0.02, 0.3), 4), logits_scaling=round(r.uniform(1.0, 8.0), 3))
    if family in ("mistral", "phi3"):
        kw["sliding_window"] = r.choice([None, 64, 128])
    if family == "phi3":
        kw.pop("head_dim")
        kw["pad_token_id"] = 0
        partial = r.choice([None, 0.5, 0.75])
        if partial and (head_dim * partial) % 2 == 0:
            kw["rope_parameters"]["partial_rotary_factor"] = partial
    if family == "qwen2":
        kw.update(use_sliding_window=False, sliding_window=4096)
    if family in ("qwen25vl", "qwen2vl"):
        kw.pop("head_dim")
        kw.update(use_sliding_window=False)
    if family in ("qwen3vl", "qwen3omni", "qwen25vl", "qwen3vlmoe", "qwen2vl"):
        # Interleaved M-RoPE: each frequency's position from one of three axes (sections that
        # cover half the head); plain RoPE on text.
        half = head_dim // 2
        t = r.randint(1, half - 2)
        h = r.randint(1, half - t - 1)
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": theta, "mrope_section": [t, h, half - t - h],
                                 **({} if family in ("qwen25vl", "qwen2vl") else
                                    {("interleaved" if family == "qwen3omni" else "mrope_interleaved"): True})}
    if family in ("qwen3moe", "qwen3omni", "qwen3vlmoe"):
        kw.update(num_experts=r.choice([2, 4, 8]), moe_intermediate_size=r.choice([16, 32]),
                  norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[])
        kw["num_experts_per_tok"] = r.randint(1, kw["num_experts"])
    if family in ("gemma2", "gemma3"):
        n = kw["num_hidden_layers"]
        kw.update(query_pre_attn_scalar=head_dim, sliding_window=r.choice([8, 16, 32]),
                  layer_types=[r.choice(["sliding_attention", "full_attention"]) for _ in range(n)])
        kw.pop("tie_word_embeddings")
    if family == "gemma2":
        kw.update(attn_logit_softcapping=r.choice([None, 5.0, 50.0]), final_logit_softcapping=r.choice([None, 3.0, 30.0]))
    if family == "gemma3":
        local = {"rope_type": "default", "rope_theta": r.choice([10000.0, 20000.0])}
        kw["rope_parameters"] = {"full_attention": kw["rope_parameters"], "sliding_attention": local}
        kw["final_logit_softcapping"] = r.choice([None, 30.0])
    return kw


def main():
    seed, count, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    r = random.Random(seed)
    torch.manual_seed(seed)
    toks = {"llama": tiny.tokenizer(), "qwen": tiny.tokenizer(qwen=True), "spm": tiny.spm_tokenizer()}
    for family in FAMILIES:
        for k in range(count):
            kw = draw(r, family)
            qwen, spm = family.startswith("qwen"), family.startswith("gemma") or family in ("mistral", "phi3")
            tok = toks["qwen" if qwen else "spm" if spm else "llama"]
            if spm:
                fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
                bos, eos = 1, 2
            elif qwen:
                fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
                bos = eos = tok.token_to_id("<|endoftext|>")
            else:
                fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
                bos, eos = tok.token_to_id("<|begin_of_text|>"), tok.token_to_id("<|eot_id|>")
            config_cls, model_cls = tiny.CLASSES[family]
            eps = "layer_norm_epsilon" if family == "nemotron_h" else "rms_norm_eps"
            cfg = config_cls(vocab_size=tok.get_vocab_size(), max_position_embeddings=256, **{eps: 1e-5},
                             bos_token_id=bos, eos_token_id=eos, **kw)
            if family == "gemma2":
                cfg._attn_implementation = "eager"
            cfg = tiny.wrap_qwen(family, cfg)
            model = model_cls(cfg).to(torch.float32).eval()
            tiny.draw_weights(model)
            # Not "phi3" in the name: llama.cpp then looks up Phi-3's <|endoftext|>.
            d = out / f"{family.replace('phi3', 'phi_3')}-{seed}-{k}"
            d.mkdir(parents=True, exist_ok=True)
            fast.save_pretrained(d)
            model.save_pretrained(d, safe_serialization=True)
            if family == "qwen3vlmoe" and r.random() < 0.5:
                # As published (input × output), not as transformers 5 saves the fused experts.
                tiny.publish_fused_experts(d / "model.safetensors")
            first = [] if qwen else [bos]
            ids = (first + tok.encode(tiny.CORPUS[0] + " " + tiny.CORPUS[2], add_special_tokens=False).ids)[:40]
            logits = tiny.logits_of(family, model, ids)
            reference = {"transformers": transformers.__version__, "family": family, "config": kw, "ids": ids,
                         "logits": [[round(float(x), 6) for x in row] for row in logits]}
            (d / "reference.json").write_text(json.dumps(reference) + "\n")
            print(d.name)


if __name__ == "__main__":
    main()
