"""keras.applications ConvNeXt T/S/B/L/XL -> zoo ConvNeXt.

keras.applications names its layers `{model}_stem` (a Sequential of the
4x4 convolution and its layer norm), `{model}_downsampling_block_{i}`
(layer norm, 2x2 convolution), `{model}_stage_{s}_block_{b}_{part}` with
stages from 0, and `{model}_head_layernorm` / `{model}_head_dense`. Its
pointwise layers are dense; zoo's are 1x1 convolutions, so their kernels
gain two unit axes, and its depthwise kernel `(7, 7, 1, C)` (a grouped
Conv2D) becomes `(7, 7, C, 1)` (a DepthwiseConv2D).
"""

import re

from zoo.convert import register_converter
from zoo.convert.keras_applications import (
    KerasApplicationsConverter,
    copy_layer,
)

SIZES = ("tiny", "small", "base", "large", "xlarge")
ARCHITECTURES = {f"ConvNeXt{s.capitalize()}" if s != "xlarge"
                 else "ConvNeXtXLarge": f"convnext_{s}" for s in SIZES}

_BLOCK = re.compile(r".*_stage_(\d)_block_(\d+)_(\w+)$")
_PARTS = {"depthwise_conv": "dwconv", "layernorm": "norm",
          "pointwise_conv_1": "pwconv1", "pointwise_conv_2": "pwconv2",
          "layer_scale": "scale"}


@register_converter
class KerasApplicationsConvNeXt(KerasApplicationsConverter):
    """keras.applications ConvNeXtTiny..ConvNeXtXLarge."""

    family = "convnext"
    variants = ARCHITECTURES

    def convert_weights(self, weights, backbone):
        """Maps keras.applications' layers onto a zoo ConvNeXt."""
        state = {}
        for name, arrays in weights.items():
            match = _BLOCK.match(name)
            if not arrays:
                continue
            if match:
                stage, block, part = match.groups()
                target = (f"stage{int(stage) + 2}_block{int(block) + 1}_"
                          f"{_PARTS[part]}")
                if part == "depthwise_conv":
                    arrays = [arrays[0].transpose(0, 1, 3, 2), arrays[1]]
                elif part.startswith("pointwise"):
                    arrays = [arrays[0][None, None], arrays[1]]
                keys = (("gamma",) if part == "layer_scale" else
                        ("gamma", "beta") if part == "layernorm" else
                        ("kernel", "bias"))
                copy_layer(state, target, arrays, keys)
            elif name.endswith("_stem"):
                copy_layer(state, "stem_conv", arrays[:2])
                copy_layer(state, "stem_norm", arrays[2:], ("gamma", "beta"))
            elif "_downsampling_block_" in name:
                level = int(name.rsplit("_", 1)[1]) + 3
                copy_layer(state, f"stage{level}_downsample_norm", arrays[:2],
                           ("gamma", "beta"))
                copy_layer(state, f"stage{level}_downsample_conv",
                           arrays[2:])
        return state

    def convert_head(self, weights, model):
        """`{model}_head_layernorm` and `_head_dense` -> the head."""
        state = {}
        for name, arrays in weights.items():
            if not arrays:
                continue
            if name.endswith("_head_layernorm"):
                copy_layer(state, "head_norm", arrays, ("gamma", "beta"))
            elif name.endswith("_head_dense"):
                copy_layer(state, "predictions", arrays)
        return state
