"""Writes decoder_reference.json: logits of tiny random Hugging Face decoders.

The weights are NumPy draws from a fixed seed (`random_state_dict`, also
what tests/zoo/nlp/test_decoder_converters.py writes to `model.safetensors`),
so the test needs no torch; the reference implementation is Hugging Face
transformers on torch (CPU):

    pip install torch==2.13.0 transformers
    python tests/data/make_decoder_reference.py

Two checkpoints: a `LlamaForCausalLM` with grouped-query attention, rotary
base 500 and an untied head; a `GPT2LMHeadModel`. For each, the logits of
two right-padded rows (the padding masked) at every real position.
"""

import json
import pathlib
import re

import numpy as np

CONFIGS = {
    "llama": {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "vocab_size": 61, "hidden_size": 32, "intermediate_size": 40,
        "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "rope_theta": 500.0, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 64, "tie_word_embeddings": False,
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
    },
    "gpt2": {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "vocab_size": 61, "n_embd": 32, "n_layer": 2, "n_head": 4,
        "n_positions": 64, "n_inner": None, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new", "resid_pdrop": 0.0,
        "embd_pdrop": 0.0, "attn_pdrop": 0.0, "tie_word_embeddings": True,
    },
}
IDS = [[5, 17, 3, 42, 8, 0, 0], [1, 2, 3, 4, 5, 6, 7]]
MASK = [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]]
OUTPUT = pathlib.Path(__file__).with_name("decoder_reference.json")


def _shapes(kind):
    c = CONFIGS[kind]
    shapes = {}
    if kind == "llama":
        h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
        kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
        shapes["model.embed_tokens.weight"] = (v, h)
        for layer in range(c["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            shapes.update({
                p + "self_attn.q_proj.weight": (h, h),
                p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h),
                p + "self_attn.o_proj.weight": (h, h),
                p + "mlp.gate_proj.weight": (i, h),
                p + "mlp.up_proj.weight": (i, h),
                p + "mlp.down_proj.weight": (h, i),
                p + "input_layernorm.weight": (h,),
                p + "post_attention_layernorm.weight": (h,),
            })
        shapes["model.norm.weight"] = (h,)
        shapes["lm_head.weight"] = (v, h)
    else:
        h, v, n = c["n_embd"], c["vocab_size"], c["n_positions"]
        shapes["transformer.wte.weight"] = (v, h)
        shapes["transformer.wpe.weight"] = (n, h)
        for layer in range(c["n_layer"]):
            p = f"transformer.h.{layer}."
            shapes.update({
                p + "ln_1.weight": (h,), p + "ln_1.bias": (h,),
                p + "attn.c_attn.weight": (h, 3 * h),
                p + "attn.c_attn.bias": (3 * h,),
                p + "attn.c_proj.weight": (h, h),
                p + "attn.c_proj.bias": (h,),
                p + "ln_2.weight": (h,), p + "ln_2.bias": (h,),
                p + "mlp.c_fc.weight": (h, 4 * h),
                p + "mlp.c_fc.bias": (4 * h,),
                p + "mlp.c_proj.weight": (4 * h, h),
                p + "mlp.c_proj.bias": (h,),
            })
        shapes["transformer.ln_f.weight"] = (h,)
        shapes["transformer.ln_f.bias"] = (h,)
    return shapes


def random_state_dict(kind, seed=0):
    """`{transformers name: float32 array}`: norms' scales near 1, the rest
    normal with stddev 0.2."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in _shapes(kind).items():
        if name.endswith("norm.weight") or re.search(r"ln_(1|2|f)\.weight$",
                                                     name):
            state[name] = (1 + 0.1 * rng.standard_normal(shape)).astype(
                "float32")
        else:
            state[name] = (0.2 * rng.standard_normal(shape)).astype(
                "float32")
    return state


def main():
    import torch
    import transformers

    records = {}
    for kind, config in CONFIGS.items():
        cls = {"llama": transformers.LlamaConfig,
               "gpt2": transformers.GPT2Config}[kind]
        hf_config = cls(**{k: v for k, v in config.items()
                           if k not in ("model_type", "architectures")})
        model = {"llama": transformers.LlamaForCausalLM,
                 "gpt2": transformers.GPT2LMHeadModel}[kind](hf_config)
        state = {k: torch.from_numpy(v)
                 for k, v in random_state_dict(kind).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [m for m in missing if m != "lm_head.weight"]
        assert not missing and not unexpected, (missing, unexpected)
        model.eval()
        with torch.no_grad():
            logits = model(input_ids=torch.tensor(IDS),
                           attention_mask=torch.tensor(MASK)).logits
        rows = [logits[r, :sum(MASK[r])].tolist() for r in range(len(IDS))]
        records[kind] = {"logits": rows}
    OUTPUT.write_text(json.dumps({
        "source": f"transformers {transformers.__version__}, torch "
                  f"{torch.__version__}",
        "ids": IDS, "mask": MASK, **records}) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
