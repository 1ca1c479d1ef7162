"""keras-hub `BertBackbone` -> zoo `BertEncoder`.

keras-hub's BertBackbone and AlbertBackbone use Keras' MultiHeadAttention,
whose EinsumDense kernels keep the heads as their own axis; zoo's
attention projections are plain Dense layers:

| keras-hub weight                                   | zoo weight                         |
|----------------------------------------------------|------------------------------------|
| `token_embedding`, `position_embedding`, `segment_embedding` | same names           |
| `embeddings_layer_norm`                            | `embeddings_norm`                  |
| `embedding_projection` (ALBERT)                    | `embeddings_projection`            |
| `transformer_layer_{i}` / `group_{g}_inner_layer_0` | `transformer_layer_{i}` / `transformer_group_{g}` |
| `.../self_attention_layer/{query,key,value}/kernel` `[h, n, d]` | `.../attention/{...}/kernel` `[h, n*d]` |
| `.../self_attention_layer/attention_output/kernel` `[n, d, h]` | `.../attention/output/kernel` `[n*d, h]` |
| `.../self_attention_layer_norm`                    | `.../attention_norm`               |
| `.../feedforward_intermediate_dense`               | `.../intermediate`                 |
| `.../feedforward_output_dense`                     | `.../output`                       |
| `.../feedforward_layer_norm`                       | `.../output_norm`                  |
| `pooled_dense`                                     | `pooler`                           |

keras-hub's BERT and ALBERT use the tanh approximation of GELU, so the
converted encoders get `activation="gelu_approximate"`.
"""

import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

_TRANSFORMER_SUBLAYERS = {
    "self_attention_layer/query": "attention/query",
    "self_attention_layer/key": "attention/key",
    "self_attention_layer/value": "attention/value",
    "self_attention_layer/attention_output": "attention/output",
    "self_attention_layer_norm": "attention_norm",
    "feedforward_intermediate_dense": "intermediate",
    "feedforward_output_dense": "output",
    "feedforward_layer_norm": "output_norm",
}
_TOP_LEVEL = {
    "token_embedding": "token_embedding",
    "position_embedding": "position_embedding",
    "segment_embedding": "segment_embedding",
    "embeddings_layer_norm": "embeddings_norm",
    "embedding_projection": "embeddings_projection",
    "pooled_dense": "pooler",
}


def bert_config(keras_hub_backbone):
    """`BertEncoder` (or `AlbertEncoder`) arguments of a keras-hub backbone.

    Args:
        keras_hub_backbone: `keras_hub.models.BertBackbone` or
            `keras_hub.models.AlbertBackbone`.

    Returns:
        dict of encoder arguments.

    Raises:
        WeightsError: an ALBERT with `num_inner_repetitions != 1`.
    """
    config = keras_hub_backbone.get_config()
    encoder = {
        "vocabulary_size": config["vocabulary_size"],
        "hidden_size": config["hidden_dim"],
        "num_layers": config["num_layers"],
        "num_heads": config["num_heads"],
        "intermediate_size": config["intermediate_dim"],
        "activation": "gelu_approximate",
        "dropout": config["dropout"],
        "attention_dropout": config["dropout"],
        "max_sequence_length": config["max_sequence_length"],
        "type_vocabulary_size": config["num_segments"],
        "norm_epsilon": 1e-12,
    }
    if "embedding_dim" in config:
        if config.get("num_inner_repetitions", 1) != 1:
            raise WeightsError(
                "keras-hub ALBERTs with num_inner_repetitions="
                f"{config['num_inner_repetitions']} have no zoo counterpart "
                "(every released ALBERT uses 1)."
            )
        encoder["embedding_size"] = config["embedding_dim"]
        encoder["num_groups"] = config["num_groups"]
    return encoder


def bert_state(keras_hub_backbone):
    """Zoo weight paths -> arrays for a keras-hub BERT or ALBERT backbone.

    Returns:
        dict, for `zoo.weights.assign_state` on the encoder `bert_config`
        describes.

    Raises:
        WeightsError: a weight with no zoo counterpart.
    """
    state = {}
    block = re.compile(
        r"(transformer_layer_(\d+)|group_(\d+)_inner_layer_0)/(.+)/(\w+)$")
    for variable in keras_hub_backbone.weights:
        path = variable.path
        array = np.asarray(variable)
        top, _, leaf = path.rpartition("/")
        if top in _TOP_LEVEL:
            state[f"{_TOP_LEVEL[top]}/{leaf}"] = array
            continue
        match = block.match(path)
        if not match or match.group(4) not in _TRANSFORMER_SUBLAYERS:
            raise WeightsError(
                f"keras-hub weight {path!r} has no zoo counterpart."
            )
        layer, bert_index, group_index, sublayer, leaf = match.groups()
        prefix = (f"transformer_layer_{bert_index}" if bert_index is not None
                  else f"transformer_group_{group_index}")
        if sublayer == "self_attention_layer/attention_output":
            if leaf == "kernel":  # [heads, head_dim, hidden]
                array = array.reshape(-1, array.shape[-1])
        elif sublayer.startswith("self_attention_layer/"):
            if leaf == "kernel":  # [hidden, heads, head_dim]
                array = array.reshape(array.shape[0], -1)
            else:  # [heads, head_dim]
                array = array.reshape(-1)
        state[f"{prefix}/{_TRANSFORMER_SUBLAYERS[sublayer]}/{leaf}"] = array
    return state


@register_converter
class KerasHubBert(Converter):
    """keras-hub BERT backbones."""

    source = "keras_hub"
    family = "bert"
    architectures = ("BertBackbone",)

    def convert_config(self, config):
        """`(None, BertEncoder arguments)` for a keras-hub BertBackbone."""
        return None, bert_config(config)

    def build_backbone(self, config, **overrides):
        from zoo.nlp.encoders.bert import BertEncoder

        return BertEncoder(**{**bert_config(config), **overrides})

    def convert_weights(self, weights, backbone):
        return bert_state(getattr(weights, "backbone", weights))
