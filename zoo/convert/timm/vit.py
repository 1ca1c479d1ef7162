"""timm VisionTransformer / DeiT state dicts -> zoo ViT.

| timm                                   | zoo                                  |
|----------------------------------------|--------------------------------------|
| `patch_embed.proj`                     | `patch_embedding`                    |
| `cls_token`, `dist_token`, `pos_embed` | `tokens/class_token`, `tokens/distillation_token`, `tokens/position_embedding` |
| `blocks.{i}.norm1`, `norm2`            | `block{i+1}/attention_norm`, `output_norm` |
| `blocks.{i}.attn.qkv` `[3h, h]`        | `block{i+1}/attention/{query,key,value}` (rows q, k, v) |
| `blocks.{i}.attn.proj`                 | `block{i+1}/attention/output`        |
| `blocks.{i}.mlp.fc1`, `fc2`            | `block{i+1}/intermediate`, `output`  |
| `norm`                                 | `encoder_norm`                       |
| `head`, `head_dist` (DeiT distilled)   | `predictions`, `predictions_dist`    |

timm's layer norms use epsilon 1e-6 and its GELU is the exact one, as
zoo's ViT. Checkpoints that pool by averaging (`fc_norm`) are refused.
"""

import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.convert.timm import conv_kernel, map_tensor
from zoo.convert.timm.efficientnet import timm_variant
from zoo.errors import WeightsError

_SIZES = {"tiny": ("16_224", "16_384"), "small": ("16_224", "16_384"),
          "base": ("16_224", "16_384", "32_224", "32_384"),
          "large": ("16_224", "16_384"), "huge": ("14_224",)}


def _timm_names():
    names = {}
    for size, patches in _SIZES.items():
        for patch in patches:
            name = f"vit_{size}_patch{patch}"
            names[name] = (name, {})
    for size, image in (("tiny", 224), ("small", 224), ("base", 224),
                        ("base", 384)):
        name = f"deit_{size}_patch16_{image}"
        names[name] = (name, {})
        names[f"deit_{size}_distilled_patch16_{image}"] = (
            name, {"distilled": True})
    return names


#: timm architecture -> (zoo variant, arguments).
TIMM_NAMES = _timm_names()

_BLOCK = re.compile(r"blocks\.(\d+)\.(norm1|norm2|attn\.qkv|attn\.proj|"
                    r"mlp\.fc1|mlp\.fc2)\.(weight|bias)")
_BLOCK_PARTS = {"norm1": ("attention_norm", "bn"),
                "norm2": ("output_norm", "bn"),
                "attn.proj": ("attention/output", "dense"),
                "mlp.fc1": ("intermediate", "dense"),
                "mlp.fc2": ("output", "dense")}
_TOKENS = {"cls_token": "class_token", "dist_token": "distillation_token",
           "pos_embed": "position_embedding"}


@register_converter
class TimmViT(Converter):
    """timm `vit_*` and `deit_*` (distilled too)."""

    source = "timm"
    family = "vit"
    architectures = tuple(TIMM_NAMES)

    def convert_config(self, config):
        """`(zoo variant, arguments)` of a timm config."""
        return timm_variant(TIMM_NAMES, config)

    def convert_weights(self, weights, backbone):
        """Maps a timm ViT state dict onto a zoo ViT.

        Raises:
            WeightsError: a tensor with no counterpart (average-pooling
                checkpoints' `fc_norm`, layer scales, register tokens).
        """
        state = {}
        for name, array in weights.items():
            array = np.asarray(array, "float32")
            block = _BLOCK.fullmatch(name)
            if name in _TOKENS:
                state[f"tokens/{_TOKENS[name]}"] = array
            elif name.startswith("patch_embed.proj."):
                param = name.rpartition(".")[2]
                state[f"patch_embedding/{'kernel' if param == 'weight' else 'bias'}"] = (
                    conv_kernel(array) if param == "weight" else array)
            elif name.startswith("norm."):
                map_tensor(state, "encoder_norm", "bn",
                           name.rpartition(".")[2], array)
            elif block:
                index, part, param = block.groups()
                prefix = f"block{int(index) + 1}"
                if part == "attn.qkv":
                    for chunk, role in zip(np.split(array, 3, axis=0),
                                           ("query", "key", "value")):
                        map_tensor(state, f"{prefix}/attention/{role}",
                                   "dense", param, chunk)
                else:
                    target, kind = _BLOCK_PARTS[part]
                    map_tensor(state, f"{prefix}/{target}", kind, param,
                               array)
            elif name.startswith(("head.", "head_dist.")):
                continue
            else:
                raise WeightsError(
                    f"Checkpoint tensor {name!r} has no counterpart in "
                    f"{backbone.name} (zoo's ViT has a final norm, no "
                    "fc_norm, layer scale or register tokens).")
        return state

    def convert_head(self, weights, model):
        """`head` -> `predictions`; DeiT's `head_dist` ->
        `predictions_dist`."""
        state = {}
        for source, target in (("head", "predictions"),
                               ("head_dist", "predictions_dist")):
            for param in ("weight", "bias"):
                if f"{source}.{param}" in weights:
                    map_tensor(state, target, "dense", param,
                               weights[f"{source}.{param}"])
        return state
