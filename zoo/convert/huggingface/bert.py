"""Hugging Face transformers BERT and ALBERT checkpoints -> zoo encoders.

BERT (`BertModel`, and the `bert.`-prefixed encoders inside
`BertForSequenceClassification`, `BertForPreTraining`, ...) and ALBERT
(`AlbertModel`, `albert.`-prefixed), read from `.safetensors` (or `.npz`)
with the parameter names transformers writes:

| transformers name (BERT)                              | zoo weight                                   |
|-------------------------------------------------------|----------------------------------------------|
| `embeddings.word_embeddings.weight`                   | `token_embedding/embeddings`                 |
| `embeddings.position_embeddings.weight`               | `position_embedding/embeddings`              |
| `embeddings.token_type_embeddings.weight`             | `segment_embedding/embeddings`               |
| `embeddings.LayerNorm.{weight,bias}`                  | `embeddings_norm/{gamma,beta}`               |
| `encoder.layer.{i}.attention.self.{query,key,value}.*`| `transformer_layer_{i}/attention/{...}/*`    |
| `encoder.layer.{i}.attention.output.dense.*`          | `transformer_layer_{i}/attention/output/*`   |
| `encoder.layer.{i}.attention.output.LayerNorm.*`      | `transformer_layer_{i}/attention_norm/*`     |
| `encoder.layer.{i}.intermediate.dense.*`              | `transformer_layer_{i}/intermediate/*`       |
| `encoder.layer.{i}.output.dense.*`                    | `transformer_layer_{i}/output/*`             |
| `encoder.layer.{i}.output.LayerNorm.*`                | `transformer_layer_{i}/output_norm/*`        |
| `pooler.dense.*`                                      | `pooler/*`                                   |

ALBERT: `encoder.embedding_hidden_mapping_in` -> `embeddings_projection`,
`encoder.albert_layer_groups.{g}.albert_layers.0.` + `attention.{query,key,
value}`, `attention.dense`, `attention.LayerNorm`, `ffn`, `ffn_output`,
`full_layer_layer_norm` -> `transformer_group_{g}/` + `attention/{...}`,
`attention/output`, `attention_norm`, `intermediate`, `output`,
`output_norm`.

Linear weights are `[out, in]` in torch and are transposed; old checkpoints
name layer-norm parameters `gamma`/`beta`, which are read too. Task heads
(`classifier.*`, `cls.*`, `qa_outputs.*`) and buffers (`position_ids`) are
not part of the encoder and are skipped (logged).
"""

import logging
import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

logger = logging.getLogger("zoo")

#: transformers' `hidden_act` names -> zoo activation names.
HF_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "gelu_fast": "gelu_approximate",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "tanh": "tanh",
}

_NORM = {"weight": "gamma", "bias": "beta", "gamma": "gamma", "beta": "beta"}
_DENSE = {"weight": "kernel", "bias": "bias"}

_BERT_BLOCK = {
    "attention.self.query": ("attention/query", _DENSE),
    "attention.self.key": ("attention/key", _DENSE),
    "attention.self.value": ("attention/value", _DENSE),
    "attention.output.dense": ("attention/output", _DENSE),
    "attention.output.LayerNorm": ("attention_norm", _NORM),
    "intermediate.dense": ("intermediate", _DENSE),
    "output.dense": ("output", _DENSE),
    "output.LayerNorm": ("output_norm", _NORM),
}
_ALBERT_BLOCK = {
    "attention.query": ("attention/query", _DENSE),
    "attention.key": ("attention/key", _DENSE),
    "attention.value": ("attention/value", _DENSE),
    "attention.dense": ("attention/output", _DENSE),
    "attention.LayerNorm": ("attention_norm", _NORM),
    "ffn": ("intermediate", _DENSE),
    "ffn_output": ("output", _DENSE),
    "full_layer_layer_norm": ("output_norm", _NORM),
}
_EMBEDDINGS = {
    "embeddings.word_embeddings": ("token_embedding", {"weight": "embeddings"}),
    "embeddings.position_embeddings": ("position_embedding",
                                       {"weight": "embeddings"}),
    "embeddings.token_type_embeddings": ("segment_embedding",
                                         {"weight": "embeddings"}),
    "embeddings.LayerNorm": ("embeddings_norm", _NORM),
    "encoder.embedding_hidden_mapping_in": ("embeddings_projection", _DENSE),
    "pooler.dense": ("pooler", _DENSE),
    "pooler": ("pooler", _DENSE),  # ALBERT names its pooler Linear `pooler`
}
_SKIPPED = re.compile(
    r"^(classifier|cls|qa_outputs|predictions|sop_classifier|"
    r"dropout)\.|position_ids$")


def strip_model_prefix(state_dict):
    """Removes a leading `bert.` / `albert.` / `model.` from every name."""
    for prefix in ("bert.", "albert.", "model."):
        if any(k.startswith(prefix + "embeddings.") for k in state_dict):
            return {
                (k[len(prefix):] if k.startswith(prefix) else k): v
                for k, v in state_dict.items()
            }
    return dict(state_dict)


def _zoo_name(name):
    """(zoo layer path, {param: zoo leaf}) for a prefix-free torch name."""
    module, _, param = name.rpartition(".")
    if module in _EMBEDDINGS:
        layer, leaves = _EMBEDDINGS[module]
        return layer, leaves, param
    match = re.match(r"encoder\.layer\.(\d+)\.(.+)$", module)
    if match and match.group(2) in _BERT_BLOCK:
        sub, leaves = _BERT_BLOCK[match.group(2)]
        return f"transformer_layer_{match.group(1)}/{sub}", leaves, param
    match = re.match(
        r"encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.(.+)$",
        module)
    if match and match.group(3) in _ALBERT_BLOCK:
        if match.group(2) != "0":
            raise WeightsError(
                f"{name}: ALBERT inner_group_num > 1 has no zoo counterpart."
            )
        sub, leaves = _ALBERT_BLOCK[match.group(3)]
        return f"transformer_group_{match.group(1)}/{sub}", leaves, param
    return None, None, param


def encoder_state(state_dict):
    """Maps a transformers BERT/ALBERT state dict onto zoo encoder paths.

    Args:
        state_dict: `{torch name: numpy array}`, with or without the
            `bert.` / `albert.` prefix.

    Returns:
        (state, skipped): dict zoo path -> float32 array, and the sorted
        names that belong to no encoder weight (task heads, buffers).

    Raises:
        WeightsError: a name that looks like an encoder weight but has no
            zoo counterpart.
    """
    state, skipped = {}, []
    for name, array in strip_model_prefix(state_dict).items():
        if _SKIPPED.search(name):
            skipped.append(name)
            continue
        layer, leaves, param = _zoo_name(name)
        if layer is None or param not in leaves:
            raise WeightsError(
                f"Checkpoint tensor {name!r} has no counterpart in a zoo "
                "BERT/ALBERT encoder."
            )
        array = np.asarray(array, dtype=np.float32)
        leaf = leaves[param]
        if leaf == "kernel":
            array = array.T
        state[f"{layer}/{leaf}"] = array
    return state, sorted(skipped)


def encoder_config(config):
    """`BertEncoder` / `AlbertEncoder` arguments from a transformers config.

    Args:
        config: dict, a `config.json` of `model_type` `"bert"` or
            `"albert"`.

    Returns:
        (class name, dict of arguments): `"BertEncoder"` or
        `"AlbertEncoder"`.

    Raises:
        WeightsError: another model type, an unknown activation, or a
            position embedding other than absolute.
    """
    model_type = config.get("model_type")
    if model_type not in ("bert", "albert"):
        raise WeightsError(
            f"config.json has model_type={model_type!r}; zoo converts 'bert'"
            " and 'albert' Hugging Face models."
        )
    act = config.get("hidden_act", "gelu")
    if act not in HF_ACTIVATIONS:
        raise WeightsError(
            f"hidden_act={act!r} has no zoo counterpart; supported: "
            f"{sorted(HF_ACTIVATIONS)}."
        )
    position = config.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise WeightsError(
            f"position_embedding_type={position!r}: only 'absolute' "
            "converts."
        )
    arguments = {
        "vocabulary_size": int(config["vocab_size"]),
        "hidden_size": int(config["hidden_size"]),
        "num_layers": int(config["num_hidden_layers"]),
        "num_heads": int(config["num_attention_heads"]),
        "intermediate_size": int(config["intermediate_size"]),
        "activation": HF_ACTIVATIONS[act],
        "dropout": float(config.get("hidden_dropout_prob", 0.1)),
        "attention_dropout": float(
            config.get("attention_probs_dropout_prob", 0.1)),
        "max_sequence_length": int(config.get("max_position_embeddings",
                                              512)),
        "type_vocabulary_size": int(config.get("type_vocab_size", 2)),
        "norm_epsilon": float(config.get("layer_norm_eps", 1e-12)),
        "initializer_range": float(config.get("initializer_range", 0.02)),
    }
    if model_type == "bert":
        return "BertEncoder", arguments
    if int(config.get("inner_group_num", 1)) != 1:
        raise WeightsError(
            "ALBERT with inner_group_num != 1 has no zoo counterpart."
        )
    arguments["embedding_size"] = int(config["embedding_size"])
    arguments["num_groups"] = int(config.get("num_hidden_groups", 1))
    return "AlbertEncoder", arguments


def _fill_missing_pooler(state, backbone, path):
    """transformers' *ForMaskedLM and *ForTokenClassification checkpoints
    are saved without the pooler: it keeps its (random) values."""
    if any(k.startswith("pooler/") for k in state):
        return state
    logger.info("%s has no pooler weights; the pooler stays random.", path)
    for variable in backbone.weights:
        if variable.path.startswith("pooler/"):
            state[variable.path] = np.asarray(variable)
    return state


class _HuggingFaceEncoder(Converter):
    """What the BERT and ALBERT converters share."""

    source = "huggingface"

    def convert_config(self, config):
        """`(None, encoder arguments)` of a transformers config dict."""
        _, arguments = encoder_config(config)
        return None, arguments

    def convert_weights(self, weights, backbone):
        state, skipped = encoder_state(weights)
        heads = [name for name in skipped if not name.endswith("position_ids")]
        if heads:
            logger.info("Skipped %d tensors that are not encoder weights "
                        "(first: %s).", len(heads), heads[0])
        return _fill_missing_pooler(state, backbone, backbone.name)


@register_converter
class HuggingFaceBert(_HuggingFaceEncoder):
    """transformers `BertModel` (and the `bert.`-prefixed task models)."""

    family = "bert"
    architectures = ("bert",)

    def build_backbone(self, config, **overrides):
        from zoo.nlp.encoders.bert import BertEncoder

        _, arguments = self.convert_config(config)
        return BertEncoder(**{**arguments, **overrides})
