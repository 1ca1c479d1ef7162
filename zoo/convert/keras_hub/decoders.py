"""keras-hub `GPT2Backbone` -> zoo `GPT2Backbone`, keras-hub
`LlamaBackbone` -> zoo `LlamaBackbone`.

keras-hub's attention projections are `EinsumDense` layers whose kernels
keep the heads as an axis; zoo's are plain `Dense` layers:

| keras-hub weight | zoo weight |
|---|---|
| `token_embedding/embeddings` | `token_embedding/embeddings` |
| `token_embedding/reverse_embeddings` (untied Llama) | `lm_head/kernel` |
| `position_embedding/embeddings` (GPT-2) | `position_embedding/embeddings` |
| `transformer_layer_{i}/self_attention/{query,key,value}/kernel` `[h, n, d]` | `.../attention/{...}/kernel` `[h, n*d]` |
| `.../self_attention/attention_output/kernel` `[n, d, h]` | `.../attention/output/kernel` `[n*d, h]` |
| `.../self_attention_layer_norm`, `.../self_attention_layernorm` | `.../attention_norm` |
| `.../feedforward_layer_norm`, `.../feedforward_layernorm` | `.../feed_forward_norm` |
| `.../feedforward_{intermediate,gate,output}_dense` | `.../feed_forward_{intermediate,gate,output}` |
| `layer_norm` (GPT-2), `sequence_output_layernorm` (Llama) | `final_norm` |
"""

import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

_SUBLAYERS = {
    "self_attention/query": "attention/query",
    "self_attention/key": "attention/key",
    "self_attention/value": "attention/value",
    "self_attention/attention_output": "attention/output",
    "self_attention_layer_norm": "attention_norm",
    "self_attention_layernorm": "attention_norm",
    "feedforward_layer_norm": "feed_forward_norm",
    "feedforward_layernorm": "feed_forward_norm",
    "feedforward_intermediate_dense": "feed_forward_intermediate",
    "feedforward_gate_dense": "feed_forward_gate",
    "feedforward_output_dense": "feed_forward_output",
}
_TOP_LEVEL = {
    "token_embedding/embeddings": "token_embedding/embeddings",
    "token_embedding/reverse_embeddings": "lm_head/kernel",
    "position_embedding/embeddings": "position_embedding/embeddings",
    "layer_norm/gamma": "final_norm/gamma",
    "layer_norm/beta": "final_norm/beta",
    "sequence_output_layernorm/scale": "final_norm/scale",
}
_BLOCK = re.compile(r"transformer_layer_(\d+)/(.+)/(\w+)$")


def decoder_state(keras_hub_backbone):
    """Zoo weight paths -> arrays of a keras-hub GPT-2 or Llama backbone.

    Raises:
        WeightsError: a weight with no zoo counterpart.
    """
    state = {}
    for variable in keras_hub_backbone.weights:
        path, array = variable.path, np.asarray(variable)
        if path in _TOP_LEVEL:
            state[_TOP_LEVEL[path]] = array
            continue
        match = _BLOCK.match(path)
        if not match or match.group(2) not in _SUBLAYERS:
            raise WeightsError(
                f"keras-hub weight {path!r} has no zoo counterpart.")
        index, sublayer, leaf = match.groups()
        if sublayer == "self_attention/attention_output":
            if leaf == "kernel":  # [heads, head_dim, hidden]
                array = array.reshape(-1, array.shape[-1])
        elif sublayer.startswith("self_attention/"):
            array = (array.reshape(array.shape[0], -1) if leaf == "kernel"
                     else array.reshape(-1))
        state[f"transformer_layer_{index}/{_SUBLAYERS[sublayer]}/{leaf}"] = (
            array)
    return state


class _KerasHubDecoder(Converter):
    source = "keras_hub"
    #: The preset loader wraps the backbone in a `CausalLM`.
    task = "causal_lm"

    def convert_weights(self, weights, backbone):
        return decoder_state(getattr(weights, "backbone", weights))


@register_converter
class KerasHubGPT2(_KerasHubDecoder):
    """keras-hub `GPT2Backbone` (`gpt2_base_en`, ...)."""

    family = "gpt2"
    architectures = ("GPT2Backbone",)

    def convert_config(self, keras_hub_backbone):
        config = keras_hub_backbone.get_config()
        return None, {
            "vocabulary_size": config["vocabulary_size"],
            "num_layers": config["num_layers"],
            "hidden_size": config["hidden_dim"],
            "num_heads": config["num_heads"],
            "intermediate_size": config["intermediate_dim"],
            "max_sequence_length": config["max_sequence_length"],
            "dropout": config["dropout"],
        }

    def build_backbone(self, keras_hub_backbone, **overrides):
        from zoo.nlp.decoders.gpt2 import GPT2Backbone

        _, arguments = self.convert_config(keras_hub_backbone)
        return GPT2Backbone(**{**arguments, **overrides})


@register_converter
class KerasHubLlama(_KerasHubDecoder):
    """keras-hub `LlamaBackbone`."""

    family = "llama"
    architectures = ("LlamaBackbone",)

    def convert_config(self, keras_hub_backbone):
        config = keras_hub_backbone.get_config()
        if (config.get("rope_position_scaling_factor", 1.0) != 1.0
                or config.get("rope_frequency_adjustment_factor")):
            raise WeightsError(
                "keras-hub Llama with rope scaling (Llama 3.1) is not built "
                "by zoo's Llama decoder.")
        tied = not any(v.path == "token_embedding/reverse_embeddings"
                       for v in keras_hub_backbone.weights)
        return None, {
            "vocabulary_size": config["vocabulary_size"],
            "num_layers": config["num_layers"],
            "hidden_size": config["hidden_dim"],
            "intermediate_size": config["intermediate_dim"],
            "num_heads": config["num_query_heads"],
            "num_key_value_heads": config["num_key_value_heads"],
            "rope_max_wavelength": float(config["rope_max_wavelength"]),
            "norm_epsilon": float(config["layer_norm_epsilon"]),
            "dropout": float(config.get("dropout", 0.0)),
            "tie_word_embeddings": tied,
        }

    def build_backbone(self, keras_hub_backbone, **overrides):
        from zoo.nlp.decoders.llama import LlamaBackbone

        _, arguments = self.convert_config(keras_hub_backbone)
        return LlamaBackbone(**{**arguments, **overrides})
