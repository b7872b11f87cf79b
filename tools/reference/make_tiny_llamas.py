#!/usr/bin/env python3
"""Creates tiny random Llama-family (also a bidirectional embedding model), Mistral, Qwen 2/3 (dense and MoE, YaRN; Qwen2.5-VL's, Qwen3-VL's and Qwen3-Omni's language models), Gemma 2 and 3, Phi-3, Granite and Nemotron-H models as HF safetensors folders, with
reference logits (and, for Qwen's split rule, reference token ids) from HF transformers, for the
parity tests of `sage models import` + llama.cpp.

Writes crates/sage-llm/tests/fixtures/tiny/<name>/{config.json, model.safetensors,
tokenizer.json, tokenizer_config.json, reference.json}. The folders are small (tens of KiB) and
committed; the Rust tests never need Python. Re-run with a Python that has torch, transformers
and tokenizers (all variants, or the ones named):
    python tools/reference/make_tiny_llamas.py [NAME ...]
"""
import json
import sys
import tempfile
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (GraniteConfig, GraniteForCausalLM, Gemma2Config, Gemma2ForCausalLM, Gemma3Config, Gemma3ForCausalLM, Gemma3ForConditionalGeneration, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, LlamaModel, MistralConfig,
                          MistralForCausalLM, NemotronHConfig, NemotronHForCausalLM, Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM, Qwen3OmniMoeConfig,
                          Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeTextConfig, Qwen3VLConfig,
                          Qwen3VLForConditionalGeneration, Qwen3VLTextConfig, Qwen3VLMoeConfig,
                          Qwen3VLMoeForConditionalGeneration, Qwen3VLMoeTextConfig, Qwen2_5_VLConfig,
                          Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLTextConfig, Qwen2VLConfig,
                          Qwen2VLForConditionalGeneration, Qwen2VLTextConfig, SiglipVisionConfig)

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
# Qwen's ChatML tokens, template and split rule (every digit on its own; Llama 3 splits runs of three).
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Mistral NeMo's split rule ("tekken"): words split at case changes, every digit on its own.
TEKKEN_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
                r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Text whose case changes, accents, scripts and digits that rule cuts in its own way.
TEKKEN_TEXTS = ["HelloWorld iPhone McDonald's", "The ROBOT said: STOP now!", "CamelCaseWord snake_case_word 12345",
                "Élan vital, straße, ÉCOLE, naïve café", "Ωμέγα ΑΛΦΑ привет МИР", "emoji 🙂 ok\nnext line\ttab",
                "don't WON'T I'm", "path/to/file.txt and C:\\Temp", "getHTTPResponse XMLHttpRequest",
                "caféBar ÉlanVital straßeNord"]
# Text whose digits the two split rules cut differently.
DIGITS = "Call 1234567890 at 12:45, room 305."
# Text a SentencePiece tokenizer must fall back to bytes for, with spaces in a row and at the start.
SPM_TEXTS = ["The robot entered the warehouse", " Battery  level? 1234", "héllo wörld \U0001F642 ok\nnext line"]
# And corpus words in other orders, glued and spaced at random: where two joins compete, the
# order of the merges decides.
_words = " ".join(CORPUS[:4]).split()
_rng = __import__("random").Random(0)
SPM_TEXTS += ["".join(w + _rng.choice(["", " ", "  "]) for w in _rng.sample(_words, 8)) for _ in range(24)]
MISTRAL_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{{- '[INST] ' + message['content'] + ' [/INST]' }}{%- else %}{{- message['content'] + eos_token }}"
    "{%- endif %}{%- endfor %}"
)

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
    # Llama with biases on Q, K, V, O (attention_bias) and on the MLP (mlp_bias).
    "llama_biases": dict(hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=12,
                         rope_theta=10000.0, tie_word_embeddings=False, rope_scaling=None,
                         attention_bias=True, mlp_bias=True),
    # Mistral: the Llama block with a sliding window (wider than the test's 40 tokens).
    "mistral_window": dict(arch="mistral", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=12,
                           rope_theta=10000.0, tie_word_embeddings=False, sliding_window=64),
    # Qwen 2: biases on Q, K and V, GQA, NeoX RoPE, Qwen's tokenizer.
    "qwen2_bias_gqa": dict(arch="qwen2", hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0,
                           tie_word_embeddings=False, use_sliding_window=False, sliding_window=4096),
    # Qwen 3: per-head RMS norms on Q and K, head_dim != hidden/heads, tied embeddings.
    "qwen3_qknorm_headdim": dict(arch="qwen3", hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                 rope_theta=1000000.0, tie_word_embeddings=True),
    # Mistral 7B's kind of tokenizer: SentencePiece BPE with byte fallback, in Llama 2's HF form.
    "mistral_spm": dict(arch="mistral", tokenizer="spm", hidden_size=48, intermediate_size=64,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=12,
                        rope_theta=10000.0, tie_word_embeddings=False, sliding_window=None),
    # Gemma 3's text model: local layers (a window of 16 of the test's 40 tokens, RoPE base 10^4)
    # between global ones (10^6), Q/K norms, post-norms, GELU, head_dim != hidden/heads.
    "gemma3_local_global": dict(arch="gemma3", tokenizer="spm", hidden_size=48, intermediate_size=64,
                                num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                query_pre_attn_scalar=16, sliding_window=16,
                                layer_types=["sliding_attention", "full_attention"] * 2,
                                rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                                 "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}),
    # Gemma 3 4B's kind of folder: the text model inside a multimodal one (a tiny SigLIP tower
    # beside it, tensors under language_model.model.*), linear RoPE scaling on the global layers.
    "gemma3_multimodal": dict(arch="gemma3mm", tokenizer="spm", hidden_size=48, intermediate_size=64,
                              num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                              query_pre_attn_scalar=16, sliding_window=16,
                              layer_types=["sliding_attention", "sliding_attention", "full_attention",
                                           "sliding_attention"],
                              rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0,
                                                                  "rope_theta": 1e6},
                                               "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}),
    # Nemotron-H: Mamba-2 layers (4 heads of 8, 2 groups, state 16) between attention without
    # positional encoding and squared-ReLU MLPs, as Nemotron-H 4B interleaves them.
    "nemotron_h_hybrid": dict(arch="nemotron_h", hidden_size=48, intermediate_size=64,
                              layers_block_type=["linear_attention", "mlp", "linear_attention", "full_attention",
                                                 "mlp"],
                              num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                              ssm_state_size=16, mamba_num_heads=4, mamba_head_dim=8, n_groups=2, conv_kernel=4,
                              chunk_size=16, tie_word_embeddings=False),
    # Nemotron 3's kind: mixture-of-experts layers (4 squared-ReLU experts, 2 used, sigmoid
    # routing with a selection bias, normalised and scaled weights, a shared expert) between
    # Mamba-2 and attention.
    "nemotron_h_moe": dict(arch="nemotron_h", hidden_size=48, intermediate_size=64,
                           layers_block_type=["linear_attention", "moe", "full_attention", "moe"],
                           num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                           ssm_state_size=16, mamba_num_heads=4, mamba_head_dim=8, n_groups=2, conv_kernel=4,
                           chunk_size=16, tie_word_embeddings=False, n_routed_experts=4, num_experts_per_tok=2,
                           moe_intermediate_size=32, moe_shared_expert_intermediate_size=40, n_shared_experts=1,
                           routed_scaling_factor=2.5, norm_topk_prob=True, n_group=1, topk_group=1),
    # Mistral NeMo's kind of tokenizer: byte-level BPE with the "tekken" split rule.
    "mistral_tekken": dict(arch="mistral", tokenizer="tekken", hidden_size=48, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=12,
                           rope_theta=10000.0, tie_word_embeddings=False, sliding_window=None),
    # Qwen 3's mixture of experts (Qwen3-30B-A3B's kind): 4 SwiGLU experts of 32, 2 used per token.
    "qwen3_moe": dict(arch="qwen3moe", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_theta=1000000.0,
                      tie_word_embeddings=False, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                      norm_topk_prob=True),
    # Qwen 3 with YaRN (Qwen's long-context setting): frequencies blended between interpolated
    # and extrapolated over the correction range, cos/sin scaled by 0.1 ln(factor) + 1.
    "qwen3_yarn": dict(arch="qwen3", hidden_size=64, intermediate_size=80, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, tie_word_embeddings=True,
                       rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                        "original_max_position_embeddings": 64}),
    # Qwen 2 with YaRN and an attention factor the config sets.
    "qwen2_yarn_attention_factor": dict(arch="qwen2", hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False,
                                        use_sliding_window=False, sliding_window=4096,
                                        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0,
                                                         "original_max_position_embeddings": 32,
                                                         "attention_factor": 1.25}),
    # Llama with linear RoPE scaling (positions divided by the factor).
    "llama_linear": dict(hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=12, tie_word_embeddings=False,
                         rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}),
    # Gemma 2: every other layer local (a window of 16 of the test's 40 tokens), post-norms, GELU,
    # attention and final logits soft-capped (caps small enough to bite on random weights).
    "gemma2_softcaps": dict(arch="gemma2", tokenizer="spm", hidden_size=48, intermediate_size=64,
                            num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                            query_pre_attn_scalar=16, sliding_window=16, attn_logit_softcapping=5.0,
                            final_logit_softcapping=3.0),
    # NVIDIA's Llama-Nemotron embedding models' kind (LlamaBidirectionalModel): the Llama block
    # attending both ways, no LM head, tensors at the top, the mean of the last hidden states.
    "llama_bidirectional_embed": dict(arch="llama_embed", hidden_size=48, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      head_dim=12, rope_theta=500000.0, tie_word_embeddings=False),
    # Phi-3 (Phi-3-mini's kind, with Phi-4-mini's partial rotary): Q, K and V in one projection,
    # gate and up in one, RoPE on the first 3/4 of each head, a window wider than the test. (Not
    # named "phi3": llama.cpp then looks up Phi-3's <|endoftext|>, which this vocabulary lacks.)
    "phi_3_fused_partial": dict(arch="phi3", tokenizer="spm", hidden_size=64, intermediate_size=96,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                               rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                "partial_rotary_factor": 0.75},
                               tie_word_embeddings=False, sliding_window=64, pad_token_id=0),
    # IBM Granite 3's kind: the Llama block with embedding, residual, attention and logit
    # multipliers (values far from one, so that each counts), tied embeddings, GQA.
    "granite_multipliers": dict(arch="granite", hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0,
                                tie_word_embeddings=True, embedding_multiplier=6.0, residual_multiplier=0.4,
                                attention_multiplier=0.09, logits_scaling=3.5),
    # Qwen3-Omni's thinker (the seed's "Q3-Omni"): a Qwen 3 mixture of experts inside
    # `thinker.*`, with tiny audio and vision towers beside it and interleaved M-RoPE, which
    # text alone (the same position on all three axes) turns into plain RoPE; no talker.
    "qwen3_omni_thinker": dict(arch="qwen3omni", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=4,
                               num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True,
                               rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                                "mrope_section": [4, 2, 2], "interleaved": True}),
    # Qwen3-VL's language model (a dense Qwen 3 inside `model.language_model.*`), a tiny vision
    # tower beside it, interleaved M-RoPE, tied embeddings as the 2B and 4B models have.
    "qwen3_vl": dict(arch="qwen3vl", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                      "mrope_section": [4, 2, 2], "mrope_interleaved": True}),
    # Qwen2.5-VL's language model (a Qwen 2: Q/K/V biases, NeoX RoPE), M-RoPE in sections, not
    # interleaved; untied, as the 7B model.
    "qwen2_5_vl": dict(arch="qwen25vl", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 1, 3]}),
    # Qwen3-VL-MoE's language model (Qwen3-VL-30B-A3B's kind): a Qwen 3 mixture whose experts
    # are published fused, `experts.gate_up_proj` (experts × hidden × 2·width) and
    # `experts.down_proj` (experts × width × hidden); written here as published, not as
    # transformers 5 saves them (transposed).
    "qwen3_vl_moe": dict(arch="qwen3vlmoe", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=4,
                         num_experts_per_tok=2, moe_intermediate_size=32, tie_word_embeddings=False,
                         rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                          "mrope_section": [4, 2, 2], "mrope_interleaved": True}),
    # Qwen2-VL's language model (2B, 7B): a Qwen 2 with M-RoPE in sections, as Qwen2.5-VL's.
    "qwen2_vl": dict(arch="qwen2vl", hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 2, 2]}),
}
# Texts whose embeddings the embedding fixture records.
EMBED_TEXTS = ["The robot entered the warehouse and checked the loading dock.",
               "URGENT: a person is in the corridor, stop the robot now!",
               "Battery status nominal, all systems normal."]
CLASSES = {
    "llama": (LlamaConfig, LlamaForCausalLM),
    "mistral": (MistralConfig, MistralForCausalLM),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    "gemma3": (Gemma3TextConfig, Gemma3ForCausalLM),
    "gemma2": (Gemma2Config, Gemma2ForCausalLM),
    "llama_embed": (LlamaConfig, LlamaModel),
    "phi3": (Phi3Config, Phi3ForCausalLM),
    "granite": (GraniteConfig, GraniteForCausalLM),
    "gemma3mm": (Gemma3TextConfig, Gemma3ForConditionalGeneration),
    "nemotron_h": (NemotronHConfig, NemotronHForCausalLM),
    "qwen3moe": (Qwen3MoeConfig, Qwen3MoeForCausalLM),
    "qwen3omni": (Qwen3OmniMoeTextConfig, Qwen3OmniMoeForConditionalGeneration),
    "qwen3vl": (Qwen3VLTextConfig, Qwen3VLForConditionalGeneration),
    "qwen25vl": (Qwen2_5_VLTextConfig, Qwen2_5_VLForConditionalGeneration),
    "qwen3vlmoe": (Qwen3VLMoeTextConfig, Qwen3VLMoeForConditionalGeneration),
    "qwen2vl": (Qwen2VLTextConfig, Qwen2VLForConditionalGeneration),
}
# The towers beside the language models of the multimodal Qwen 3 variants: as small as they go.
QWEN_VISION = dict(depth=1, hidden_size=32, intermediate_size=40, num_heads=2, patch_size=4, spatial_merge_size=2,
                   num_position_embeddings=16,
                   temporal_patch_size=2, deepstack_visual_indexes=[0])
QWEN_AUDIO = dict(num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, d_model=32,
                  n_window=8, n_window_infer=8, downsample_hidden_size=8, conv_chunksize=16)
# Gemma 3's image tokens, added to the multimodal variant's tokenizer after its vocabulary.
IMAGE_TOKENS = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]


def tekken_tokenizer():
    """A byte-level BPE trained on CORPUS and TEKKEN_TEXTS with GPT-2's rule, then given Mistral
    NeMo's split rule, with Mistral's special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS + TEKKEN_TEXTS * 20, trainer)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(TEKKEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    return tok


def tokenizer(qwen=False):
    tok = Tokenizer(models.BPE())
    # Trained with GPT-2's rule, which keeps runs of digits together, so that the vocabulary has
    # merges of digits: Qwen's rule, set afterwards, never lets them apply, and a converter that
    # took Qwen's tokenizer for Llama 3's would tokenize DIGITS differently.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=QWEN_SPECIAL if qwen else SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS + [DIGITS] * 20 if qwen else CORPUS, trainer)
    if qwen:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    return tok


def spm_tokenizer():
    """A SentencePiece BPE model (byte fallback, a space prefix) trained on CORPUS, written in the
    form transformers' Llama converter gives Llama 2 and Mistral 7B (its own converter fails on BPE
    models in transformers 5.24): the model's pieces as vocabulary, merges generated from them in
    piece order, '▁' for spaces by a normalizer, `<s>` added first."""
    import sentencepiece as spm
    from transformers.convert_slow_tokenizer import SentencePieceExtractor
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "corpus.txt").write_text("\n".join(CORPUS))
        spm.SentencePieceTrainer.train(
            input=str(Path(d) / "corpus.txt"), model_prefix=str(Path(d) / "m"), vocab_size=400, model_type="bpe",
            byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            add_dummy_prefix=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
            split_digits=True, allow_whitespace_only_pieces=True, minloglevel=2)
        extracted = SentencePieceExtractor(str(Path(d) / "m.model")).extract(models.BPE)
        sp = spm.SentencePieceProcessor(model_file=str(Path(d) / "m.model"))
    tok = Tokenizer(models.BPE(extracted["vocab"], extracted["merges"], unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    for text in SPM_TEXTS + CORPUS[:4]:
        # The HF form tokenizes as SentencePiece itself does.
        assert tok.encode(text, add_special_tokens=False).ids == sp.encode(text), text
    return tok


def write_embedding_reference(d, model, tok, bos):
    """The embedding fixture: config.json as NVIDIA's embedding models publish it, and for each
    of EMBED_TEXTS its ids (BOS first) and the unit mean of its last hidden states with every
    token attending to every other (a 4-D mask of zeros; no layer causal)."""
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"] = ["LlamaBidirectionalModel"]
    cfg["model_type"] = "llama_bidirec"
    cfg["pooling"] = "avg"
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    texts = []
    for text in EMBED_TEXTS:
        ids = [bos] + tok.encode(text, add_special_tokens=False).ids
        # The same model read causally (as a language model reads), to show the test that the
        # direction matters.
        for layer in model.layers:
            layer.self_attn.is_causal = True
        with torch.no_grad():
            causal = model(torch.tensor([ids])).last_hidden_state[0].mean(dim=0)
        for layer in model.layers:
            layer.self_attn.is_causal = False
        mask = torch.zeros(1, 1, len(ids), len(ids))
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), attention_mask=mask).last_hidden_state[0]
        mean = hidden.mean(dim=0)
        mean = mean / mean.norm()
        texts.append({"text": text, "ids": ids, "embedding": [round(float(x), 7) for x in mean],
                      "causal_embedding": [round(float(x), 7) for x in causal / causal.norm()]})
    reference = {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
                 "texts": texts}
    (d / "reference.json").write_text(json.dumps(reference) + "\n")


def wrap_qwen(arch, cfg):
    """The multimodal config around a Qwen 3 text config (`qwen3omni`, `qwen3vl`), with tiny
    towers beside it; other configs unchanged."""
    if arch == "qwen3omni":
        return Qwen3OmniMoeConfig(thinker_config={"text_config": cfg.to_dict(),
                                                  "audio_config": dict(QWEN_AUDIO, output_dim=cfg.hidden_size),
                                                  "vision_config": dict(QWEN_VISION, out_hidden_size=cfg.hidden_size)},
                                  enable_audio_output=False)
    if arch == "qwen3vl":
        return Qwen3VLConfig(text_config=cfg.to_dict(), vision_config=dict(QWEN_VISION, out_hidden_size=cfg.hidden_size),
                             tie_word_embeddings=cfg.tie_word_embeddings)
    if arch == "qwen3vlmoe":
        return Qwen3VLMoeConfig(text_config=cfg.to_dict(), vision_config=dict(QWEN_VISION, out_hidden_size=cfg.hidden_size),
                                tie_word_embeddings=cfg.tie_word_embeddings)
    if arch == "qwen2vl":
        vision = dict(depth=1, embed_dim=32, hidden_size=cfg.hidden_size, mlp_ratio=2, num_heads=2, patch_size=4,
                      spatial_merge_size=2, temporal_patch_size=2)
        return Qwen2VLConfig(text_config=cfg.to_dict(), vision_config=vision, tie_word_embeddings=cfg.tie_word_embeddings)
    if arch == "qwen25vl":
        vision = dict(depth=1, hidden_size=32, intermediate_size=40, num_heads=2, out_hidden_size=cfg.hidden_size,
                      patch_size=4, spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[0], window_size=16)
        return Qwen2_5_VLConfig(text_config=cfg.to_dict(), vision_config=vision, tie_word_embeddings=cfg.tie_word_embeddings)
    return cfg


def publish_fused_experts(path):
    """Qwen3-VL-MoE's fused experts as the published checkpoints hold them: transformers 5
    saves each expert's matrices as `nn.Linear` weights (out × in) and transposes the published
    (in × out) ones on load."""
    tensors = load_file(path)
    for name in list(tensors):
        if name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj"):
            tensors[name] = tensors[name].transpose(1, 2).contiguous()
    save_file(tensors, path, metadata={"format": "pt"})


def logits_of(arch, model, ids):
    """HF's logits for `ids` (Qwen3-Omni answers through its thinker; text alone)."""
    with torch.no_grad():
        runner = model.thinker if arch == "qwen3omni" else model
        return runner(input_ids=torch.tensor([ids])).logits[0]


def draw_weights(model):
    """Larger random weights than the default init, so that logits differ visibly; biases around
    zero, not one; MoE routers' selection bias (a buffer) drawn too, so that it counts."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.08)
            else:
                p.uniform_(0.8, 1.2)
        for n, p in model.named_parameters():
            if n.endswith(".bias"):
                p.uniform_(-0.2, 0.2)
        for n, b in model.named_buffers():
            if n.endswith("e_score_correction_bias"):
                b.uniform_(-0.3, 0.3)


def main():
    torch.manual_seed(0)
    only = set(sys.argv[1:])
    llama_tok, qwen_tok, spm_tok = tokenizer(), tokenizer(qwen=True), spm_tokenizer()
    tekken_tok = tekken_tokenizer()
    for name, kw in VARIANTS.items():
        kw = dict(kw)
        arch = kw.pop("arch", "llama")
        qwen = arch.startswith("qwen")
        kind = kw.pop("tokenizer", None)
        spm, tekken = kind == "spm", kind == "tekken"
        tok = qwen_tok if qwen else spm_tok if spm else tekken_tok if tekken else llama_tok
        if arch == "gemma3mm":
            tok = Tokenizer.from_str(spm_tok.to_str())
            tok.add_special_tokens(IMAGE_TOKENS)
        if spm or tekken:
            fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
            fast.chat_template = MISTRAL_TEMPLATE
            bos, eos = 1, 2
        elif qwen:
            fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
            fast.chat_template = QWEN_TEMPLATE
            bos = eos = tok.token_to_id("<|endoftext|>")
        else:
            fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                           eos_token="<|eot_id|>")
            fast.chat_template = CHAT_TEMPLATE
            bos, eos = tok.token_to_id("<|begin_of_text|>"), tok.token_to_id("<|eot_id|>")
        config_cls, model_cls = CLASSES[arch]
        eps = "layer_norm_epsilon" if arch == "nemotron_h" else "rms_norm_eps"
        cfg = config_cls(vocab_size=tok.get_vocab_size(), max_position_embeddings=256, **{eps: 1e-5},
                         bos_token_id=bos, eos_token_id=eos, **kw)
        if arch == "gemma3mm":
            boi, eoi, image = (tok.token_to_id(t) for t in IMAGE_TOKENS)
            vision = SiglipVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=28, patch_size=14)
            cfg = Gemma3Config(text_config=cfg, vision_config=vision, mm_tokens_per_image=4,
                               boi_token_index=boi, eoi_token_index=eoi, image_token_index=image)
        cfg = wrap_qwen(arch, cfg)
        if arch == "gemma2":
            # HF applies Gemma 2's attention soft cap only in its eager attention.
            cfg._attn_implementation = "eager"
        # Drawn for every variant, written only for the ones asked for, so that each variant's
        # weights do not depend on which were asked for.
        model = model_cls(cfg).to(torch.float32).eval()
        draw_weights(model)
        if only and name not in only:
            continue
        d = OUT / name
        d.mkdir(parents=True, exist_ok=True)
        fast.save_pretrained(d)
        model.save_pretrained(d, safe_serialization=True)
        if arch == "qwen3vlmoe":
            publish_fused_experts(d / "model.safetensors")
        first = [] if qwen else [bos]
        if arch == "llama_embed":
            write_embedding_reference(d, model, tok, bos)
            print(name, "vocab", tok.get_vocab_size(), "texts", len(EMBED_TEXTS))
            continue
        ids = (first + tok.encode(CORPUS[0] + " " + CORPUS[2], add_special_tokens=False).ids)[:40]
        logits = logits_of(arch, model, ids)
        reference = {
            "transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
            "ids": ids, "logits": [[round(float(x), 6) for x in row] for row in logits],
        }
        if qwen:
            reference["text"] = DIGITS
            reference["text_ids"] = fast(DIGITS, add_special_tokens=False)["input_ids"]
        if spm:
            reference["texts"] = [[t, fast(t, add_special_tokens=False)["input_ids"]] for t in SPM_TEXTS]
        if tekken:
            reference["texts"] = [[t, fast(t, add_special_tokens=False)["input_ids"]] for t in TEKKEN_TEXTS]
        (d / "reference.json").write_text(json.dumps(reference) + "\n")
        print(name, "vocab", tok.get_vocab_size(), "ids", len(ids))


if __name__ == "__main__":
    main()
