"""keras-hub ResNetBackbone -> zoo ResNet (block_variant="v1.5").

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
