"""timm MobileNetV2 and MobileNetV3 state dicts -> zoo MobileNet.

timm builds them from EfficientNet's blocks (see `efficientnet.py` here for
the names inside a block); zoo's layers carry keras.applications' names,
numbered over the whole network (`expanded_conv_`, then `block_1_` ...
for V2, `expanded_conv_1_` ... for V3), so the n-th timm block in order
fills the n-th zoo block. Around them:

| timm                         | zoo                                      |
|------------------------------|------------------------------------------|
| `conv_stem`, `bn1`           | `Conv1`, `bn_Conv1` (V2); `conv`, `conv_bn` (V3) |
| `conv_head`, `bn2` (V2)      | `Conv_1`, `Conv_1_bn`                    |
| last block `conv`, `bn1` (V3)| `conv_1`, `conv_1_bn`                    |
| `conv_head` (V3, after pooling, with a bias) | `head_hidden` (dense)    |
| `classifier`                 | `predictions`                            |

timm trains these in PyTorch: `padding="symmetric"`, batch-norm epsilon
1e-5 (`convert_config`).
"""

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.convert.timm import map_tensor
from zoo.convert.timm.efficientnet import (
    PYTORCH_PADDING,
    classifier_head,
    convert_block,
    convert_outer,
    split_blocks,
    timm_variant,
)
from zoo.errors import WeightsError

#: timm architecture -> (zoo variant, arguments).
TIMM_NAMES = {
    **{f"mobilenetv2_{w}": (f"mobilenetv2_{w}", PYTORCH_PADDING)
       for w in ("035", "050", "075", "100", "140")},
    **{f"mobilenetv3_{size}_{w}": (f"mobilenetv3_{size}_{w}",
                                   PYTORCH_PADDING)
       for size in ("large", "small") for w in ("075", "100")},
}


@register_converter
class TimmMobileNet(Converter):
    """timm `mobilenetv2_*` and `mobilenetv3_{large,small}_*`."""

    source = "timm"
    family = "mobilenet"
    architectures = tuple(TIMM_NAMES)

    def convert_config(self, config):
        """`(zoo variant, padding and epsilon)` of a timm config."""
        return timm_variant(TIMM_NAMES, config)

    def convert_weights(self, weights, backbone):
        """Maps a timm MobileNet state dict onto a zoo MobileNet.

        Raises:
            WeightsError: a tensor with no counterpart, or another number of
                blocks than the zoo model's.
        """
        v2 = backbone.version == "v2"
        blocks, others = split_blocks(weights)
        state = {}
        items, head = list(blocks.items()), {}
        if not v2 and items:
            # V3's last stage is one 1x1 convolution (timm's ConvBnAct).
            (stage, index), last = items.pop()
            outer = {f"blocks.{stage}.{index}.{name}": array
                     for name, array in last.items()}
            others = {**others, **outer}
            head = {f"blocks.{stage}.{index}.conv": "conv_1",
                    f"blocks.{stage}.{index}.bn1": "conv_1_bn"}
        for number, ((stage, index), tensors) in enumerate(items):
            names = backbone.block_names(backbone.version, number)
            if not any(layer.name == names["project"]
                       for layer in backbone.layers):
                raise WeightsError(
                    f"Checkpoint block blocks.{stage}.{index} is block "
                    f"{number + 1}; {backbone.name} has fewer.")
            convert_block(state, tensors, names, f"blocks.{stage}.{index}")
        if v2:
            modules = {"conv_stem": "Conv1", "bn1": "bn_Conv1",
                       "conv_head": "Conv_1", "bn2": "Conv_1_bn"}
        else:
            others = {k: v for k, v in others.items()
                      if not k.startswith("conv_head.")}
            modules = {"conv_stem": "conv", "bn1": "conv_bn", **head}
        convert_outer(state, others, modules, backbone.name)
        return state

    def convert_head(self, weights, model):
        """`classifier` -> `predictions`; V3's `conv_head` (a 1x1
        convolution on the pooled features) -> the dense `head_hidden`."""
        state = classifier_head(weights)
        if "conv_head.bias" in weights:  # V3: V2's conv_head has no bias
            if not getattr(model, "head_hidden_size", None):
                raise WeightsError(
                    "timm MobileNetV3 weights carry a hidden head layer "
                    "(conv_head); build the classifier with "
                    f"head_hidden_size={weights['conv_head.bias'].shape[0]}.")
            kernel = np.asarray(weights["conv_head.weight"])
            map_tensor(state, "head_hidden", "dense", "weight",
                       kernel.reshape(kernel.shape[:2]))
            map_tensor(state, "head_hidden", "dense", "bias",
                       weights["conv_head.bias"])
        return state
