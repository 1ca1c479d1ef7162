"""transformers `ViTModel` / `DeiTModel` (and their `vit.` / `deit.`
prefixed task models) -> zoo ViT.

| transformers                                         | zoo                              |
|------------------------------------------------------|----------------------------------|
| `embeddings.patch_embeddings.projection`             | `patch_embedding`                |
| `embeddings.cls_token`, `distillation_token`, `position_embeddings` | `tokens/class_token`, `distillation_token`, `position_embedding` |
| `encoder.layer.{i}.layernorm_before`, `layernorm_after` | `block{i+1}/attention_norm`, `output_norm` |
| `encoder.layer.{i}.attention.attention.{query,key,value}` | `block{i+1}/attention/{...}` |
| `encoder.layer.{i}.attention.output.dense`           | `block{i+1}/attention/output`    |
| `encoder.layer.{i}.intermediate.dense`, `output.dense` | `block{i+1}/intermediate`, `output` |
| `layernorm`                                          | `encoder_norm`                   |

`ViTModel`'s pooler (a tanh dense on the class token) and the task heads
are not backbone weights and are skipped (logged). The layer-norm epsilon
is the config's `layer_norm_eps` (1e-12 in transformers' ViT configs).
"""

import logging
import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.convert.timm import conv_kernel, map_tensor
from zoo.errors import WeightsError

logger = logging.getLogger("zoo")

_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)")
_LAYER_PARTS = {
    "layernorm_before": ("attention_norm", "bn"),
    "layernorm_after": ("output_norm", "bn"),
    "attention.attention.query": ("attention/query", "dense"),
    "attention.attention.key": ("attention/key", "dense"),
    "attention.attention.value": ("attention/value", "dense"),
    "attention.output.dense": ("attention/output", "dense"),
    "intermediate.dense": ("intermediate", "dense"),
    "output.dense": ("output", "dense"),
}
_TOKENS = {"embeddings.cls_token": "class_token",
           "embeddings.distillation_token": "distillation_token",
           "embeddings.position_embeddings": "position_embedding"}


def vit_config(config):
    """`ViTBackbone` arguments of a transformers ViT / DeiT config dict.

    Raises:
        WeightsError: a layout zoo's ViT does not have (no qkv bias,
            another activation).
    """
    if not config.get("qkv_bias", True):
        raise WeightsError("transformers ViT with qkv_bias=false has no zoo "
                           "counterpart.")
    if config.get("hidden_act", "gelu") != "gelu":
        raise WeightsError(
            f"transformers ViT with hidden_act={config['hidden_act']!r}; "
            "zoo's ViT uses the exact GELU ('gelu').")
    size = int(config.get("image_size", 224))
    return {
        "patch_size": int(config.get("patch_size", 16)),
        "hidden_size": int(config.get("hidden_size", 768)),
        "num_layers": int(config.get("num_hidden_layers", 12)),
        "num_heads": int(config.get("num_attention_heads", 12)),
        "mlp_dim": int(config.get("intermediate_size", 3072)),
        "distilled": config.get("model_type") == "deit",
        "dropout": float(config.get("hidden_dropout_prob", 0.0)),
        "attention_dropout": float(config.get(
            "attention_probs_dropout_prob", 0.0)),
        "layer_norm_epsilon": float(config.get("layer_norm_eps", 1e-12)),
        "input_shape": (size, size, int(config.get("num_channels", 3))),
    }


@register_converter
class HuggingFaceViT(Converter):
    """transformers ViT and DeiT models."""

    source = "huggingface"
    family = "vit"
    architectures = ("vit", "deit")

    def convert_config(self, config):
        """`(None, ViTBackbone arguments)` of a transformers config dict."""
        return None, vit_config(config)

    def build_backbone(self, config, **overrides):
        from zoo.vision.backbones.vit import ViTBackbone

        return ViTBackbone(**{**vit_config(config), **overrides})

    def convert_weights(self, weights, backbone):
        """Maps a transformers ViT state dict onto a zoo ViT.

        Raises:
            WeightsError: an encoder tensor with no counterpart.
        """
        state, skipped = {}, []
        for name, array in weights.items():
            array = np.asarray(array, "float32")
            name = re.sub(r"^(vit|deit)\.", "", name)
            layer = _LAYER.fullmatch(name)
            if name in _TOKENS:
                state[f"tokens/{_TOKENS[name]}"] = array
            elif name.startswith("embeddings.patch_embeddings.projection."):
                param = name.rpartition(".")[2]
                if param == "weight":
                    state["patch_embedding/kernel"] = conv_kernel(array)
                else:
                    state["patch_embedding/bias"] = array
            elif name.startswith("layernorm."):
                map_tensor(state, "encoder_norm", "bn",
                           name.rpartition(".")[2], array)
            elif layer and layer[2] in _LAYER_PARTS:
                index, part, param = layer.groups()
                target, kind = _LAYER_PARTS[part]
                map_tensor(state, f"block{int(index) + 1}/{target}", kind,
                           param, array)
            elif name.startswith(("pooler.", "classifier.", "cls_classifier.",
                                  "distillation_classifier.")):
                skipped.append(name)
            else:
                raise WeightsError(
                    f"Checkpoint tensor {name!r} has no counterpart in "
                    f"{backbone.name}.")
        if skipped:
            logger.info("Skipped %d tensors that are not backbone weights "
                        "(first: %s).", len(skipped), skipped[0])
        return state
