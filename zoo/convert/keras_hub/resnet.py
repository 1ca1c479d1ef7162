"""keras-hub `ResNetBackbone` / `ResNetImageClassifier` -> zoo ResNet
(block_variant="v1.5").

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

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

BLOCK_TYPES = {
    "basic_block": ("basic", False),
    "bottleneck_block": ("bottleneck", False),
    "basic_block_vd": ("basic", True),
    "bottleneck_block_vd": ("bottleneck", True),
}

#: zoo layer name -> keras-hub layer name, for the two ResNet layouts.
STEM = re.compile(r"stem_(conv|bn)(\d)$")
BLOCK = re.compile(r"stage(\d)_block(\d+)_(conv|bn)(\d)$")
SHORTCUT = re.compile(r"stage(\d)_block(\d+)_shortcut_(conv|bn)$")


def keras_hub_layer_name(zoo_name):
    """The keras-hub ResNet layer holding what zoo calls `zoo_name`.

    The one place the two naming schemes meet; the converter here and the
    benchmarks' peer builder both read it.
    """
    match = STEM.match(zoo_name)
    if match:
        kind, index = match.groups()
        return f"conv{index}_{kind}"
    match = BLOCK.match(zoo_name)
    if match:
        stage, block, kind, index = match.groups()
        return f"stack{int(stage) - 2}_block{int(block) - 1}_{index}_{kind}"
    match = SHORTCUT.match(zoo_name)
    if match:
        stage, block, kind = match.groups()
        return f"stack{int(stage) - 2}_block{int(block) - 1}_0_{kind}"
    if zoo_name == "predictions":
        return "predictions"
    raise WeightsError(f"zoo layer {zoo_name!r} has no keras-hub ResNet "
                       "counterpart.")


def _layer_weights(layer):
    return {v.name: np.asarray(v) for v in layer.weights}


@register_converter
class KerasHubResNet(Converter):
    """keras-hub ResNets (v1.5 and `_vd` blocks), backbones and classifiers."""

    source = "keras_hub"
    family = "resnet"
    architectures = ("ResNetBackbone",)

    def convert_config(self, config):
        """`(None, ResNetBackbone arguments)` for a keras-hub ResNetBackbone."""
        kh = config
        if kh.use_pre_activation:
            raise WeightsError(
                "keras-hub pre-activation ResNets (ResNetV2) have no zoo "
                "counterpart.")
        if list(kh.stackwise_num_strides) != [1, 2, 2, 2]:
            raise WeightsError(
                "Only keras-hub ResNets with stackwise_num_strides "
                f"[1, 2, 2, 2] convert; got {kh.stackwise_num_strides}.")
        block_type, avg_down = BLOCK_TYPES[kh.block_type]
        filters = list(kh.input_conv_filters)
        if len(filters) == 1 and list(kh.input_conv_kernel_sizes) == [7]:
            stem = {"stem_type": "basic", "stem_width": filters[0]}
        elif (len(filters) == 3 and filters[2] == 2 * filters[0]
              and list(kh.input_conv_kernel_sizes) == [3, 3, 3]):
            stem = {"stem_type": "deep", "stem_width": filters[0]}
        else:
            raise WeightsError(
                f"keras-hub stem {filters} x {kh.input_conv_kernel_sizes} "
                "has no zoo counterpart.")
        return None, {
            "stage_blocks": list(kh.stackwise_num_blocks),
            "stage_filters": list(kh.stackwise_num_filters),
            "block_type": block_type,
            "block_variant": "v1.5",
            "avg_down": avg_down,
            "bn_epsilon": 1e-5,
            "input_shape": tuple(kh.image_shape),
            **stem,
        }

    def source_config(self, backbone):
        """The keras-hub `ResNetBackbone` arguments of a zoo ResNet: the
        other direction of `convert_config`, so that both live here.

        Raises:
            WeightsError: a layout keras-hub has no counterpart of
                (squeeze-excitation, `channels_first`, v1 blocks).
        """
        if backbone.se_ratio or backbone.data_format != "channels_last" or (
                backbone.block_variant != "v1.5"):
            raise WeightsError(
                "keras-hub has no ResNet with squeeze-excitation, "
                f"channels_first data or v1 blocks; {backbone.name} has "
                f"se_ratio={backbone.se_ratio}, "
                f"data_format={backbone.data_format!r}, "
                f"block_variant={backbone.block_variant!r}.")
        width = backbone.stem_width
        if backbone.stem_type == "deep":
            stem = {"input_conv_filters": [width, width, 2 * width],
                    "input_conv_kernel_sizes": [3, 3, 3]}
        else:
            stem = {"input_conv_filters": [width],
                    "input_conv_kernel_sizes": [7]}
        block_type = f"{backbone.block_type}_block"
        if backbone.avg_down:
            block_type += "_vd"
        return {
            "stackwise_num_filters": list(backbone.stage_filters),
            "stackwise_num_blocks": list(backbone.stage_blocks),
            "stackwise_num_strides": [1] + [2] * (
                len(backbone.stage_blocks) - 1),
            "block_type": block_type,
            "image_shape": tuple(backbone.image_shape),
            **stem,
        }

    def build_backbone(self, config, **overrides):
        from zoo.vision.backbones.resnet import ResNetBackbone

        _, arguments = self.convert_config(config)
        return ResNetBackbone(**{**arguments, **overrides})

    def build_task(self, keras_hub_task, backbone):
        from zoo.vision.image_classifier import ImageClassifier

        head = keras_hub_task.get_layer("predictions")
        return ImageClassifier(backbone, num_classes=head.units,
                               activation=keras_hub_task.activation)

    def convert_weights(self, weights, backbone):
        """Zoo weight paths -> arrays from a keras-hub ResNet (backbone or
        classifier, live)."""
        kh_backbone = getattr(weights, "backbone", weights)
        state = {}
        for layer in backbone.layers:
            if not layer.weights:
                continue
            source = kh_backbone.get_layer(keras_hub_layer_name(layer.name))
            for leaf, array in _layer_weights(source).items():
                state[f"{layer.name}/{leaf}"] = array
        return state

    def convert_head(self, weights, model):
        if getattr(weights, "backbone", None) is None:
            return {}
        return {f"predictions/{leaf}": array for leaf, array in
                _layer_weights(weights.get_layer("predictions")).items()}
