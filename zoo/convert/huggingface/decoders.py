"""Hugging Face transformers decoders -> zoo: `LlamaForCausalLM` (and
`LlamaModel`) into `LlamaBackbone`, `GPT2LMHeadModel` (and `GPT2Model`)
into `GPT2Backbone`, from `config.json` and `model.safetensors`.

| transformers name (Llama, `model.` prefix optional) | zoo weight |
|---|---|
| `embed_tokens.weight` | `token_embedding/embeddings` |
| `layers.{i}.self_attn.{q,k,v,o}_proj.weight` | `transformer_layer_{i}/attention/{query,key,value,output}/kernel` |
| `layers.{i}.mlp.{gate,up,down}_proj.weight` | `.../feed_forward_{gate,intermediate,output}/kernel` |
| `layers.{i}.input_layernorm.weight` | `.../attention_norm/scale` |
| `layers.{i}.post_attention_layernorm.weight` | `.../feed_forward_norm/scale` |
| `norm.weight` | `final_norm/scale` |
| `lm_head.weight` (untied only) | `lm_head/kernel` |

| transformers name (GPT-2, `transformer.` prefix optional) | zoo weight |
|---|---|
| `wte.weight`, `wpe.weight` | `token_embedding/embeddings`, `position_embedding/embeddings` |
| `h.{i}.ln_1.*`, `h.{i}.ln_2.*` | `transformer_layer_{i}/attention_norm/*`, `.../feed_forward_norm/*` |
| `h.{i}.attn.c_attn.*` (query, key, value side by side) | `.../attention/{query,key,value}/*` |
| `h.{i}.attn.c_proj.*` | `.../attention/output/*` |
| `h.{i}.mlp.c_fc.*`, `h.{i}.mlp.c_proj.*` | `.../feed_forward_intermediate/*`, `.../feed_forward_output/*` |
| `ln_f.*` | `final_norm/*` |

Linear weights are `[out, in]` in Llama (transposed here); GPT-2's
`Conv1D` weights are already `[in, out]`. GPT-2's causal-mask buffers
(`attn.bias`, `attn.masked_bias`) and a tied `lm_head.weight` are skipped.
"""

import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError


def _strip(state_dict, prefix):
    return {(k[len(prefix):] if k.startswith(prefix) else k): v
            for k, v in state_dict.items()}


class _Tensors:
    """A state dict read by name, remembering what was read, so that a
    tensor nothing reads is an error (`check_all_read`)."""

    def __init__(self, state_dict):
        self.state_dict, self.used = state_dict, set()

    def take(self, name):
        """The float32 tensor `name`."""
        if name not in self.state_dict:
            raise WeightsError(f"The checkpoint has no {name!r}.")
        self.used.add(name)
        return np.asarray(self.state_dict[name], dtype="float32")

    def check_all_read(self, skip=()):
        """Raises on a tensor neither read nor matched by a `skip`
        pattern."""
        left = sorted(k for k in self.state_dict if k not in self.used
                      and not any(re.search(p, k) for p in skip))
        if left:
            raise WeightsError(
                f"Checkpoint tensor {left[0]!r} has no counterpart in the "
                f"zoo decoder ({len(left)} unused).")


@register_converter
class HuggingFaceLlama(Converter):
    """transformers `LlamaForCausalLM` / `LlamaModel` (SmolLM2, ...)."""

    source = "huggingface"
    family = "llama"
    architectures = ("llama",)

    def convert_config(self, config):
        """`(None, LlamaBackbone arguments)` of a transformers config.

        Raises:
            WeightsError: an option zoo's decoder does not build (rope
                scaling, biases, an activation other than SiLU).
        """
        if config.get("rope_scaling"):
            raise WeightsError(
                f"rope_scaling={config['rope_scaling']!r} is not built by "
                "zoo's Llama decoder.")
        for key in ("attention_bias", "mlp_bias"):
            if config.get(key):
                raise WeightsError(f"{key}=true is not built by zoo's Llama "
                                   "decoder.")
        if config.get("hidden_act", "silu") != "silu":
            raise WeightsError(
                f"hidden_act={config['hidden_act']!r}: zoo's Llama decoder "
                "is SwiGLU (silu).")
        heads = int(config["num_attention_heads"])
        return None, {
            "vocabulary_size": int(config["vocab_size"]),
            "num_layers": int(config["num_hidden_layers"]),
            "hidden_size": int(config["hidden_size"]),
            "intermediate_size": int(config["intermediate_size"]),
            "num_heads": heads,
            "num_key_value_heads": int(config.get("num_key_value_heads")
                                       or heads),
            "head_dim": config.get("head_dim"),
            "rope_max_wavelength": float(config.get("rope_theta", 10000.0)),
            "norm_epsilon": float(config.get("rms_norm_eps", 1e-6)),
            "max_sequence_length": int(config.get("max_position_embeddings",
                                                  2048)),
            "tie_word_embeddings": bool(config.get("tie_word_embeddings",
                                                   False)),
            "initializer_range": float(config.get("initializer_range",
                                                  0.02)),
        }

    def build_backbone(self, config, **overrides):
        from zoo.nlp.decoders.llama import LlamaBackbone

        _, arguments = self.convert_config(config)
        return LlamaBackbone(**{**arguments, **overrides})

    def convert_weights(self, weights, backbone):
        tensors = _Tensors(_strip(weights, "model."))
        take, state = tensors.take, {}
        state["token_embedding/embeddings"] = take("embed_tokens.weight")
        state["final_norm/scale"] = take("norm.weight")
        if backbone.lm_head is not None:
            state["lm_head/kernel"] = take("lm_head.weight").T
        else:
            tensors.used.add("lm_head.weight")
        for i in range(backbone.num_layers):
            hf, zoo_ = f"layers.{i}.", f"transformer_layer_{i}/"
            for source, target in (("self_attn.q_proj", "attention/query"),
                                   ("self_attn.k_proj", "attention/key"),
                                   ("self_attn.v_proj", "attention/value"),
                                   ("self_attn.o_proj", "attention/output"),
                                   ("mlp.gate_proj", "feed_forward_gate"),
                                   ("mlp.up_proj",
                                    "feed_forward_intermediate"),
                                   ("mlp.down_proj", "feed_forward_output")):
                state[f"{zoo_}{target}/kernel"] = take(
                    f"{hf}{source}.weight").T
            state[f"{zoo_}attention_norm/scale"] = take(
                f"{hf}input_layernorm.weight")
            state[f"{zoo_}feed_forward_norm/scale"] = take(
                f"{hf}post_attention_layernorm.weight")
        tensors.check_all_read(skip=(r"rotary_emb\.inv_freq$",))
        return state


@register_converter
class HuggingFaceGPT2(Converter):
    """transformers `GPT2LMHeadModel` / `GPT2Model`."""

    source = "huggingface"
    family = "gpt2"
    architectures = ("gpt2",)

    def convert_config(self, config):
        """`(None, GPT2Backbone arguments)` of a transformers config."""
        activation = config.get("activation_function", "gelu_new")
        if activation not in ("gelu_new", "gelu_pytorch_tanh"):
            raise WeightsError(
                f"activation_function={activation!r}: zoo's GPT-2 uses the "
                "tanh approximation of GELU (gelu_new).")
        return None, {
            "vocabulary_size": int(config["vocab_size"]),
            "num_layers": int(config["n_layer"]),
            "hidden_size": int(config["n_embd"]),
            "num_heads": int(config["n_head"]),
            "intermediate_size": config.get("n_inner"),
            "max_sequence_length": int(config.get("n_positions", 1024)),
            "dropout": float(config.get("resid_pdrop", 0.1)),
            "norm_epsilon": float(config.get("layer_norm_epsilon", 1e-5)),
            "initializer_range": float(config.get("initializer_range",
                                                  0.02)),
        }

    def build_backbone(self, config, **overrides):
        from zoo.nlp.decoders.gpt2 import GPT2Backbone

        _, arguments = self.convert_config(config)
        return GPT2Backbone(**{**arguments, **overrides})

    def convert_weights(self, weights, backbone):
        tensors = _Tensors(_strip(weights, "transformer."))
        take, state = tensors.take, {}
        hidden = backbone.hidden_size

        def norm(source, target):
            state[f"{target}/gamma"] = take(f"{source}.weight")
            state[f"{target}/beta"] = take(f"{source}.bias")

        state["token_embedding/embeddings"] = take("wte.weight")
        state["position_embedding/embeddings"] = take("wpe.weight")
        norm("ln_f", "final_norm")
        for i in range(backbone.num_layers):
            hf, zoo_ = f"h.{i}.", f"transformer_layer_{i}/"
            norm(f"{hf}ln_1", f"{zoo_}attention_norm")
            norm(f"{hf}ln_2", f"{zoo_}feed_forward_norm")
            kernel = take(f"{hf}attn.c_attn.weight")
            bias = take(f"{hf}attn.c_attn.bias")
            for third, name in enumerate(("query", "key", "value")):
                cut = slice(third * hidden, (third + 1) * hidden)
                state[f"{zoo_}attention/{name}/kernel"] = kernel[:, cut]
                state[f"{zoo_}attention/{name}/bias"] = bias[cut]
            for source, target in (("attn.c_proj", "attention/output"),
                                   ("mlp.c_fc", "feed_forward_intermediate"),
                                   ("mlp.c_proj", "feed_forward_output")):
                state[f"{zoo_}{target}/kernel"] = take(f"{hf}{source}.weight")
                state[f"{zoo_}{target}/bias"] = take(f"{hf}{source}.bias")
        tensors.check_all_read(skip=(r"attn\.(masked_)?bias$",
                                     r"^lm_head\.weight$"))
        return state
