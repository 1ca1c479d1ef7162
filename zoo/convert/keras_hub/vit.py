"""keras-hub `ViTBackbone` / `ViTImageClassifier` -> zoo ViT.

| keras-hub weight                                               | zoo weight                            |
|----------------------------------------------------------------|---------------------------------------|
| `vit_patching_and_embedding/patch_embedding`                   | `patch_embedding`                     |
| `vit_patching_and_embedding/class_token` `[1, 1, h]`           | `tokens/class_token`                  |
| `vit_patching_and_embedding/position_embedding/embeddings` `[n, h]` | `tokens/position_embedding` `[1, n, h]` |
| `vit_encoder/transformer_block_{i}/ln_1`, `ln_2`               | `block{i}/attention_norm`, `output_norm` |
| `.../mha/{query,key,value}/kernel` `[h, heads, d]`             | `block{i}/attention/{...}/kernel` `[h, heads*d]` |
| `.../mha/attention_output/kernel` `[heads, d, h]`              | `block{i}/attention/output/kernel` `[heads*d, h]` |
| `.../mlp/dense_1`, `dense_2`                                   | `block{i}/intermediate`, `output`     |
| `vit_encoder/ln`                                               | `encoder_norm`                        |
| `pre_logits` (classifier `intermediate_dim`, tanh)             | `head_hidden`                         |
| `predictions`                                                  | `predictions`                         |

keras-hub's GELU is the exact one and its layer-norm epsilon is an
argument, so the zoo model computes the same function.
"""

import re

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

_BLOCK = re.compile(r"vit_encoder/transformer_block_(\d+)/(.+)/(\w+)$")
_BLOCK_PARTS = {"ln_1": "attention_norm", "ln_2": "output_norm",
                "mha/query": "attention/query", "mha/key": "attention/key",
                "mha/value": "attention/value",
                "mha/attention_output": "attention/output",
                "mlp/dense_1": "intermediate", "mlp/dense_2": "output"}


def vit_config(keras_hub_backbone):
    """`ViTBackbone` arguments of a keras-hub `ViTBackbone`.

    Raises:
        WeightsError: a layout without the biases zoo's ViT has.
    """
    config = keras_hub_backbone.get_config()
    for flag in ("use_mha_bias", "use_mlp_bias", "use_patch_bias"):
        if not config.get(flag, True):
            raise WeightsError(
                f"keras-hub ViT with {flag}=False has no zoo counterpart.")
    patch = config["patch_size"]
    patch = patch[0] if isinstance(patch, (list, tuple)) else patch
    if isinstance(config["patch_size"], (list, tuple)) and len(
            set(config["patch_size"])) != 1:
        raise WeightsError(
            f"keras-hub ViT with patch_size={config['patch_size']}: zoo's "
            "patches are square.")
    return {
        "patch_size": int(patch),
        "hidden_size": config["hidden_dim"],
        "num_layers": config["num_layers"],
        "num_heads": config["num_heads"],
        "mlp_dim": config["mlp_dim"],
        "class_token": config.get("use_class_token", True),
        "dropout": config.get("dropout_rate", 0.0),
        "attention_dropout": config.get("attention_dropout", 0.0),
        "layer_norm_epsilon": config.get("layer_norm_epsilon", 1e-6),
        "input_shape": tuple(config["image_shape"]),
    }


@register_converter
class KerasHubViT(Converter):
    """keras-hub ViT backbones and image classifiers."""

    source = "keras_hub"
    family = "vit"
    architectures = ("ViTBackbone",)

    def convert_config(self, config):
        """`(None, ViTBackbone arguments)` for a keras-hub ViTBackbone."""
        return None, vit_config(config)

    def build_backbone(self, config, **overrides):
        from zoo.vision.backbones.vit import ViTBackbone

        return ViTBackbone(**{**vit_config(config), **overrides})

    def build_task(self, keras_hub_task, backbone):
        """The zoo `ImageClassifier` of a keras-hub `ViTImageClassifier`.

        Raises:
            WeightsError: `pooling="gap"` (keras-hub averages the class
                token in with the patches; zoo averages the patches).
        """
        from zoo.vision.image_classifier import ImageClassifier

        config = keras_hub_task.get_config()
        if config.get("pooling", "token") != "token":
            raise WeightsError(
                f"keras-hub ViTImageClassifier pooling="
                f"{config['pooling']!r} averages the class token with the "
                "patches; zoo converts pooling='token' classifiers.")
        return ImageClassifier(
            backbone, num_classes=config["num_classes"], pooling="token",
            activation=config.get("activation"),
            head_hidden_size=config.get("intermediate_dim"),
            head_hidden_activation="tanh")

    def convert_weights(self, weights, backbone):
        """Zoo weight paths -> arrays from a live keras-hub ViT."""
        kh_backbone = getattr(weights, "backbone", weights)
        state = {}
        for variable in kh_backbone.weights:
            path, array = variable.path, np.asarray(variable)
            top, _, leaf = path.rpartition("/")
            match = _BLOCK.match(path)
            if path.endswith("/class_token"):
                state["tokens/class_token"] = array
            elif top.endswith("/position_embedding"):
                state["tokens/position_embedding"] = array[None]
            elif top.endswith("/patch_embedding"):
                state[f"patch_embedding/{leaf}"] = array
            elif top == "vit_encoder/ln":
                state[f"encoder_norm/{leaf}"] = array
            elif match and match[2] in _BLOCK_PARTS:
                index, part, leaf = match.groups()
                if part == "mha/attention_output" and leaf == "kernel":
                    array = array.reshape(-1, array.shape[-1])
                elif part.startswith("mha/"):
                    array = (array.reshape(array.shape[0], -1)
                             if leaf == "kernel" else array.reshape(-1))
                state[f"block{int(index)}/{_BLOCK_PARTS[part]}/{leaf}"] = (
                    array)
            else:
                raise WeightsError(
                    f"keras-hub weight {path!r} has no zoo counterpart.")
        return state

    def convert_head(self, weights, model):
        """`pre_logits` and `predictions` of a keras-hub classifier."""
        if getattr(weights, "backbone", None) is None:
            return {}
        state = {}
        for source, target in (("pre_logits", "head_hidden"),
                               ("predictions", "predictions")):
            try:
                layer = weights.get_layer(source)
            except ValueError:
                continue
            state[f"{target}/kernel"] = np.asarray(layer.kernel)
            state[f"{target}/bias"] = np.asarray(layer.bias)
        return state
