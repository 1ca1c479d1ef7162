"""timm ConvNeXt state dicts -> zoo ConvNeXt.

| timm                                   | zoo                                 |
|----------------------------------------|-------------------------------------|
| `stem.0` (4x4 conv), `stem.1` (norm)   | `stem_conv`, `stem_norm`            |
| `stages.{i}.downsample.0`, `.1`        | `stage{i+2}_downsample_norm`, `_conv` |
| `stages.{i}.blocks.{j}.conv_dw`        | `stage{i+2}_block{j+1}_dwconv`      |
| `....norm`                             | `..._norm`                          |
| `....mlp.fc1`, `....mlp.fc2` (Linear)  | `..._pwconv1`, `..._pwconv2` (1x1 convolutions) |
| `....gamma`                            | `..._scale/gamma`                   |
| `head.norm`, `head.fc`                 | `head_norm`, `predictions`          |

Layer norms' `weight`/`bias` become `gamma`/`beta`; the epsilon (1e-6)
and the exact GELU are zoo's defaults, and every convolution either has
stride equal to its kernel or pads 3 on each side of a 7x7, so timm's
padding is TensorFlow's "same" here: no options to set.
"""

import re

from zoo.convert import Converter, register_converter
from zoo.convert.timm import map_tensor
from zoo.convert.timm.efficientnet import timm_variant
from zoo.errors import WeightsError

TIMM_NAMES = {f"convnext_{size}": (f"convnext_{size}", {})
              for size in ("tiny", "small", "base", "large", "xlarge")}

_BLOCK = re.compile(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)")
_DOWNSAMPLE = re.compile(r"stages\.(\d+)\.downsample\.([01])\.(\w+)")
_BLOCK_PARTS = {"conv_dw": ("dwconv", "depthwise"), "norm": ("norm", "bn"),
                "mlp.fc1": ("pwconv1", "pointwise"),
                "mlp.fc2": ("pwconv2", "pointwise")}


@register_converter
class TimmConvNeXt(Converter):
    """timm `convnext_tiny` .. `convnext_xlarge`."""

    source = "timm"
    family = "convnext"
    architectures = tuple(TIMM_NAMES)

    def convert_config(self, config):
        """`(zoo variant, {})` of a timm config."""
        return timm_variant(TIMM_NAMES, config)

    def convert_weights(self, weights, backbone):
        """Maps a timm ConvNeXt state dict onto a zoo ConvNeXt.

        Raises:
            WeightsError: a tensor with no counterpart.
        """
        state = {}
        for name, array in weights.items():
            module, _, param = name.rpartition(".")
            if module.startswith("head."):
                continue
            block = _BLOCK.fullmatch(name)
            downsample = _DOWNSAMPLE.fullmatch(name)
            if module in ("stem.0", "stem.1"):
                kind = "conv" if module == "stem.0" else "bn"
                map_tensor(state, "stem_conv" if kind == "conv"
                           else "stem_norm", kind, param, array)
            elif downsample:
                stage, part, param = downsample.groups()
                kind = "bn" if part == "0" else "conv"
                target = "norm" if part == "0" else "conv"
                map_tensor(state, f"stage{int(stage) + 2}_downsample_"
                           f"{target}", kind, param, array)
            elif block:
                stage, index, rest = block.groups()
                prefix = f"stage{int(stage) + 2}_block{int(index) + 1}"
                if rest == "gamma":
                    state[f"{prefix}_scale/gamma"] = array
                    continue
                part, _, param = rest.rpartition(".")
                if part not in _BLOCK_PARTS:
                    raise WeightsError(
                        f"Checkpoint tensor {name!r} has no counterpart in "
                        f"{backbone.name}.")
                target, kind = _BLOCK_PARTS[part]
                map_tensor(state, f"{prefix}_{target}", kind, param, array)
            else:
                raise WeightsError(
                    f"Checkpoint tensor {name!r} has no counterpart in "
                    f"{backbone.name}.")
        return state

    def convert_head(self, weights, model):
        """`head.norm` -> `head_norm`, `head.fc` -> `predictions`."""
        state = {}
        for param in ("weight", "bias"):
            if f"head.norm.{param}" in weights:
                map_tensor(state, "head_norm", "bn", param,
                           weights[f"head.norm.{param}"])
            if f"head.fc.{param}" in weights:
                map_tensor(state, "predictions", "dense", param,
                           weights[f"head.fc.{param}"])
        return state
