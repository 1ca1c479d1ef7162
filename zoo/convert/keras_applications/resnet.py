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

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

KERAS_APPLICATIONS_BN_EPSILON = 1.001e-5


def _check_layout(backbone):
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


@register_converter
class KerasApplicationsResNet(Converter):
    """keras.applications ResNet50/101/152 (v1, caffe preprocessing)."""

    source = "keras_applications"
    family = "resnet"
    architectures = ("ResNet50", "ResNet101", "ResNet152")

    def convert_config(self, config):
        """`(resnet<depth>, v1 arguments)` for a keras.applications name."""
        depth = {"ResNet50": 50, "ResNet101": 101, "ResNet152": 152}[config]
        return f"resnet{depth}", {"block_variant": "v1",
                                  "bn_epsilon": KERAS_APPLICATIONS_BN_EPSILON}

    def convert_weights(self, weights, backbone):
        """Maps keras.applications ResNet layers onto a zoo ResNet.

        Args:
            weights: `{layer name: [arrays]}` (`read_legacy_keras_h5`, or
                `layers_of_model` on a live model).
            backbone: the zoo `ResNetBackbone` (v1 layout).
        """
        _check_layout(backbone)
        state = {}
        pattern = re.compile(r"conv(\d)_block(\d+)_(\d)_conv$")
        for name, arrays in weights.items():
            if name == "conv1_conv":
                kernel, bias = arrays
                state["stem_conv1/kernel"] = kernel[:, :, ::-1, :]
                _bn(state, "stem_bn1", weights["conv1_bn"], conv_bias=bias)
                continue
            match = pattern.match(name)
            if match:
                stage, block, index = match.groups()
                kernel, bias = arrays
                prefix = f"stage{stage}_block{block}"
                conv = "shortcut_conv" if index == "0" else f"conv{index}"
                bn = "shortcut_bn" if index == "0" else f"bn{index}"
                state[f"{prefix}_{conv}/kernel"] = kernel
                _bn(state, f"{prefix}_{bn}", weights[name[:-5] + "_bn"],
                    conv_bias=bias)
        return state

    def convert_head(self, weights, model):
        """`predictions` (1000 classes) -> the classifier head."""
        arrays = weights.get("predictions")
        if not arrays:
            return {}
        return {"predictions/kernel": arrays[0], "predictions/bias": arrays[1]}
