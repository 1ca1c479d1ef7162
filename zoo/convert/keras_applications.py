"""keras.applications ResNet weights -> zoo ResNet (block_variant="v1").

keras.applications' ResNet50/101/152 differ from a zoo ResNet in three ways,
all converted exactly:

- its convolutions have biases; each is followed by batch norm, so the bias
  folds into that norm's moving mean: `BN(conv(x) + b)` equals `BN'(conv(x))`
  with `moving_mean' = moving_mean - b`;
- it expects BGR input ('caffe' preprocessing); the first kernel's input
  channels are reversed so the converted model takes RGB (its preset then
  subtracts the RGB mean `[123.68, 116.779, 103.939]`, no std);
- its batch norms use epsilon 1.001e-5: the preset sets `bn_epsilon` to it.

Layer names there: `conv1_conv`, `conv1_bn`, `conv{s}_block{b}_{i}_conv`,
`conv{s}_block{b}_{i}_bn` (i=0 the projection shortcut), `predictions`.
"""

import re

import numpy as np

from zoo.convert.state_dict import read_legacy_keras_h5
from zoo.errors import WeightsError

KERAS_APPLICATIONS_BN_EPSILON = 1.001e-5


def _backbone_of(model):
    return getattr(model, "backbone", None) or model


def _check_resnet(backbone):
    from zoo.vision.backbones.resnet import ResNetBackbone

    if not isinstance(backbone, ResNetBackbone):
        raise WeightsError(
            "keras.applications ResNet weights need a ResNetBackbone, got "
            f"{type(backbone).__name__}."
        )
    wrong = {
        "block_type": (backbone.block_type, "bottleneck"),
        "block_variant": (backbone.block_variant, "v1"),
        "stem_type": (backbone.stem_type, "basic"),
        "avg_down": (backbone.avg_down, False),
        "se_ratio": (backbone.se_ratio, 0.0),
    }
    wrong = {k: v for k, v in wrong.items() if v[0] != v[1]}
    if wrong:
        detail = ", ".join(f"{k}={v[0]!r} (needs {v[1]!r})"
                           for k, v in wrong.items())
        raise WeightsError(
            "keras.applications ResNet weights need the v1 ResNet layout: "
            f"{detail}."
        )


def _bn(state, prefix, arrays, conv_bias=None):
    gamma, beta, mean, variance = arrays
    if conv_bias is not None:
        mean = mean - conv_bias
    state[f"{prefix}/gamma"] = gamma
    state[f"{prefix}/beta"] = beta
    state[f"{prefix}/moving_mean"] = mean
    state[f"{prefix}/moving_variance"] = variance


def resnet_state(layers, model, include_head=True):
    """Maps keras.applications ResNet layer weights onto a zoo ResNet.

    Args:
        layers: `{layer name: [arrays]}` as `read_legacy_keras_h5` returns,
            or as `layers_of_model` reads from a live keras.applications model.
        model: the zoo `ImageClassifier` or `ResNetBackbone` to fill.
        include_head: bool, map `predictions` onto the classifier head.

    Returns:
        dict zoo weight path -> array, for `zoo.weights.assign_state`.
    """
    _check_resnet(_backbone_of(model))
    state = {}
    pattern = re.compile(r"conv(\d)_block(\d+)_(\d)_conv$")
    for name, arrays in layers.items():
        if name == "conv1_conv":
            kernel, bias = arrays
            state["stem_conv1/kernel"] = kernel[:, :, ::-1, :]
            _bn(state, "stem_bn1", layers["conv1_bn"], conv_bias=bias)
            continue
        match = pattern.match(name)
        if match:
            stage, block, index = match.groups()
            kernel, bias = arrays
            prefix = f"stage{stage}_block{block}"
            conv = "shortcut_conv" if index == "0" else f"conv{index}"
            bn = "shortcut_bn" if index == "0" else f"bn{index}"
            state[f"{prefix}_{conv}/kernel"] = kernel
            _bn(state, f"{prefix}_{bn}", layers[name[:-5] + "_bn"],
                conv_bias=bias)
        elif name == "predictions" and include_head and arrays:
            state["predictions/kernel"], state["predictions/bias"] = arrays
    return state


def layers_of_model(keras_model):
    """`{layer name: [numpy arrays]}` of a live Keras model (any backend)."""
    return {
        layer.name: [np.asarray(w) for w in layer.get_weights()]
        for layer in keras_model.layers
        if layer.weights
    }


def load_keras_applications_weights(model, path, include_head=True):
    """Reads a keras.applications `.h5` file into `model`.

    Args:
        model: zoo `ImageClassifier` or `ResNetBackbone` (block_variant v1).
        path: the `*_weights_tf_dim_ordering_tf_kernels[_notop].h5` file.
        include_head: bool, also load the 1000-class `predictions` layer.
    """
    from zoo.weights import assign_state

    backbone = _backbone_of(model)
    layers = read_legacy_keras_h5(path)
    state = resnet_state(layers, model, include_head=include_head)
    skip = () if include_head and model is not backbone else ("predictions/",)
    assign_state(model, state, skip_prefixes=skip,
                 input_conv=backbone.input_conv_layer, source=str(path))
