"""keras-hub backbones -> zoo models: ResNet, BERT and ALBERT.

ResNetBackbone -> zoo ResNet (block_variant="v1.5"); BertBackbone and
AlbertBackbone -> `BertEncoder` / `AlbertEncoder` (see the table above
`bert_config`).

keras-hub's (post-activation) ResNet matches torchvision's layout, so the
conversion is a renaming:

| keras-hub layer            | zoo layer                               |
|----------------------------|-----------------------------------------|
| `conv{i}_conv`, `conv{i}_bn` | `stem_conv{i}`, `stem_bn{i}`          |
| `stack{k}_block{j}_{i}_conv` | `stage{k+2}_block{j+1}_conv{i}`       |
| `stack{k}_block{j}_{i}_bn`   | `stage{k+2}_block{j+1}_bn{i}`         |
| `stack{k}_block{j}_0_*`      | `stage{k+2}_block{j+1}_shortcut_*`    |
| `predictions` (classifier)   | `predictions`                         |

The `_vd` block types are ResNet-D (average-pool shortcuts, deep stem).
Pre-activation (ResNetV2) backbones have no zoo counterpart yet.
"""

import re

import numpy as np

from zoo.errors import WeightsError

BLOCK_TYPES = {
    "basic_block": ("basic", False),
    "bottleneck_block": ("bottleneck", False),
    "basic_block_vd": ("basic", True),
    "bottleneck_block_vd": ("bottleneck", True),
}


def resnet_config(keras_hub_backbone):
    """`ResNetBackbone` arguments equivalent to a keras-hub ResNetBackbone."""
    kh = keras_hub_backbone
    if kh.use_pre_activation:
        raise WeightsError(
            "keras-hub pre-activation ResNets (ResNetV2) have no zoo "
            "counterpart."
        )
    if list(kh.stackwise_num_strides) != [1, 2, 2, 2]:
        raise WeightsError(
            "Only keras-hub ResNets with stackwise_num_strides [1, 2, 2, 2] "
            f"convert; got {kh.stackwise_num_strides}."
        )
    block_type, avg_down = BLOCK_TYPES[kh.block_type]
    filters = list(kh.input_conv_filters)
    if len(filters) == 1 and list(kh.input_conv_kernel_sizes) == [7]:
        stem = {"stem_type": "basic", "stem_width": filters[0]}
    elif (len(filters) == 3 and filters[2] == 2 * filters[0]
          and list(kh.input_conv_kernel_sizes) == [3, 3, 3]):
        stem = {"stem_type": "deep", "stem_width": filters[0]}
    else:
        raise WeightsError(
            f"keras-hub stem {filters} x {kh.input_conv_kernel_sizes} has no "
            "zoo counterpart."
        )
    return {
        "stage_blocks": list(kh.stackwise_num_blocks),
        "stage_filters": list(kh.stackwise_num_filters),
        "block_type": block_type,
        "block_variant": "v1.5",
        "avg_down": avg_down,
        "bn_epsilon": 1e-5,
        "input_shape": tuple(kh.image_shape),
        **stem,
    }


def resnet_state(keras_hub_model):
    """Zoo weight paths -> arrays for a keras-hub ResNet backbone or classifier."""
    state = {}
    pattern = re.compile(r"stack(\d+)_block(\d+)_(\d)_(conv|bn)$")
    stem = re.compile(r"conv(\d)_(conv|bn)$")
    backbone = getattr(keras_hub_model, "backbone", keras_hub_model)
    layers = list(backbone.layers)
    if backbone is not keras_hub_model:
        layers += [keras_hub_model.get_layer("predictions")]
    for layer in layers:
        if not layer.weights:
            continue
        match = pattern.match(layer.name)
        stem_match = stem.match(layer.name)
        if match:
            stack, block, index, kind = match.groups()
            prefix = f"stage{int(stack) + 2}_block{int(block) + 1}"
            suffix = f"shortcut_{kind}" if index == "0" else f"{kind}{index}"
            zoo_name = f"{prefix}_{suffix}"
        elif stem_match:
            index, kind = stem_match.groups()
            zoo_name = f"stem_{kind}{index}"
        elif layer.name == "predictions":
            zoo_name = "predictions"
        else:
            raise WeightsError(
                f"keras-hub layer {layer.name!r} has no zoo counterpart."
            )
        for variable in layer.weights:
            state[f"{zoo_name}/{variable.name}"] = np.asarray(variable)
    return state


def from_keras_hub_resnet(keras_hub_model, **kwargs):
    """Builds a zoo ResNet with the weights of a keras-hub ResNet.

    Args:
        keras_hub_model: `keras_hub.models.ResNetBackbone`, or a keras-hub
            `ResNetImageClassifier` (its head is converted too).
        **kwargs: overrides of the zoo `ResNetBackbone` arguments.

    Returns:
        `ResNetBackbone`, or `ImageClassifier` for a classifier.
    """
    from zoo.vision.backbones.resnet import ResNetBackbone
    from zoo.vision.image_classifier import ImageClassifier
    from zoo.weights import assign_state

    kh_backbone = getattr(keras_hub_model, "backbone", keras_hub_model)
    backbone = ResNetBackbone(**{**resnet_config(kh_backbone), **kwargs})
    model = backbone
    if kh_backbone is not keras_hub_model:
        head = keras_hub_model.get_layer("predictions")
        model = ImageClassifier(
            backbone,
            num_classes=head.units,
            activation=keras_hub_model.activation,
        )
    assign_state(model, resnet_state(keras_hub_model),
                 input_conv=backbone.input_conv_layer,
                 source=keras_hub_model.name)
    return model


# --- BERT and ALBERT ----------------------------------------------------------
#
# keras-hub's BertBackbone and AlbertBackbone use Keras' MultiHeadAttention,
# whose EinsumDense kernels keep the heads as their own axis; zoo's
# attention projections are plain Dense layers:
#
# | keras-hub weight                                   | zoo weight                         |
# |----------------------------------------------------|------------------------------------|
# | `token_embedding`, `position_embedding`, `segment_embedding` | same names           |
# | `embeddings_layer_norm`                            | `embeddings_norm`                  |
# | `embedding_projection` (ALBERT)                    | `embeddings_projection`            |
# | `transformer_layer_{i}` / `group_{g}_inner_layer_0` | `transformer_layer_{i}` / `transformer_group_{g}` |
# | `.../self_attention_layer/{query,key,value}/kernel` `[h, n, d]` | `.../attention/{...}/kernel` `[h, n*d]` |
# | `.../self_attention_layer/attention_output/kernel` `[n, d, h]` | `.../attention/output/kernel` `[n*d, h]` |
# | `.../self_attention_layer_norm`                    | `.../attention_norm`               |
# | `.../feedforward_intermediate_dense`               | `.../intermediate`                 |
# | `.../feedforward_output_dense`                     | `.../output`                       |
# | `.../feedforward_layer_norm`                       | `.../output_norm`                  |
# | `pooled_dense`                                     | `pooler`                           |
#
# keras-hub's BERT and ALBERT use the tanh approximation of GELU, so the
# converted encoders get `activation="gelu_approximate"`.

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


def from_keras_hub_bert(keras_hub_backbone, **kwargs):
    """Builds a zoo encoder with the weights of a keras-hub BERT or ALBERT.

    Args:
        keras_hub_backbone: `keras_hub.models.BertBackbone` (gives a
            `BertEncoder`) or `keras_hub.models.AlbertBackbone` (gives an
            `AlbertEncoder`).
        **kwargs: overrides of the encoder arguments (e.g. `dtype`).

    Returns:
        `BertEncoder` or `AlbertEncoder`, outputs equal to keras-hub's
        `sequence_output` and `pooled_output`.
    """
    from zoo.nlp.encoders import AlbertEncoder, BertEncoder
    from zoo.weights import assign_state

    config = {**bert_config(keras_hub_backbone), **kwargs}
    cls = AlbertEncoder if "embedding_size" in config else BertEncoder
    encoder = cls(**config)
    assign_state(encoder, bert_state(keras_hub_backbone),
                 source=f"keras-hub {keras_hub_backbone.name}")
    return encoder
