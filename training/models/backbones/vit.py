"""`backbone: {type: vit, vit: {...}}`: the Model Garden's Vision
Transformer keys (`official/vision/configs/backbones.py`,
`VisionTransformer` and `Transformer`) mapped onto zoo's ViT
(`zoo/vision/backbones/vit.py`).

As the Model Garden's builder does (`official/vision/modeling/backbones/
vit.py`, `build_vit`), `model_name` sets the size from VIT_SPECS
(`vit_specs.py`), over whatever `hidden_size`, `patch_size` and
`transformer` say. `pooler: token` adds a class token and classifies it,
`gap` averages the patch tokens; `representation_size` adds a tanh
pre-logits layer of that width; `init_stochastic_depth_rate` drops block
`i` of `n` at `rate * i / n` (the Model Garden's schedule); the layer-norm
epsilon is 1e-6 and `norm_activation` is not used.
"""

import dataclasses
from typing import List, Optional

from training.config.base import Config, ConfigError, config_field
from training.models import ModelConfig
from training.registry import register_backbone

#: model_name -> (hidden_size, patch_size, mlp_dim, num_heads, num_layers),
#: the Model Garden's VIT_SPECS.
VIT_SPECS = {
    "vit-ti16": (192, 16, 768, 3, 12),
    "vit-s16": (384, 16, 1536, 6, 12),
    "vit-b16": (768, 16, 3072, 12, 12),
    "vit-b32": (768, 32, 3072, 12, 12),
    "vit-l16": (1024, 16, 4096, 16, 24),
    "vit-l32": (1024, 32, 4096, 16, 24),
    "vit-h14": (1280, 14, 5120, 16, 32),
    "vit-g14": (1408, 14, 5632, 16, 40),
    "vit-G14": (1664, 14, 8192, 16, 48),
    "vit-e14": (1792, 14, 15360, 16, 56),
}
POOLERS = ("token", "gap")
#: The registered zoo model built, its sizes replaced by the spec's.
ZOO_MODEL = "vit_base_patch16_224"


@dataclasses.dataclass
class TransformerConfig(Config):
    """The encoder blocks (the Model Garden's `Transformer`; VIT_SPECS
    overrides the sizes)."""

    mlp_dim: int = 1
    num_heads: int = 1
    num_layers: int = 1
    attention_dropout_rate: float = 0.0
    dropout_rate: float = 0.0


@register_backbone("vit")
@dataclasses.dataclass
class VisionTransformerConfig(ModelConfig):
    """The Model Garden's Vision Transformer settings.

    Accepted at their defaults only (refused otherwise, where zoo does not
    build them): `pos_embed_shape` (load weights at another size with
    `zoo.from_preset(..., image_size=...)` instead), `output_encoded_tokens`
    and `output_2d_feature_maps` (a classifier's outputs),
    `layer_scale_init_value`, `output_attention_scores`.
    `transformer_partition_dims` is accepted and, as in the Model Garden,
    not used. `original_init` is accepted; zoo initialises every kernel
    with a truncated normal of 0.02 (the Model Garden's
    `original_init: false`, which its ViT recipes set).
    """

    model_name: str = "vit-b16"
    pooler: str = "token"
    representation_size: int = 0
    hidden_size: int = 1
    patch_size: int = 16
    transformer: TransformerConfig = config_field(TransformerConfig)
    init_stochastic_depth_rate: float = 0.0
    original_init: bool = True
    pos_embed_shape: Optional[List[int]] = None
    output_encoded_tokens: bool = True
    output_2d_feature_maps: bool = False
    layer_scale_init_value: float = 0.0
    transformer_partition_dims: Optional[List[int]] = None
    output_attention_scores: bool = False

    def validate(self, path=""):
        if self.model_name not in VIT_SPECS:
            raise ConfigError(
                f"{path}.model_name={self.model_name!r} is not one of "
                f"{list(VIT_SPECS)}.")
        if self.pooler not in POOLERS:
            raise ConfigError(
                f"{path}.pooler={self.pooler!r}: an image classifier pools "
                f"with one of {list(POOLERS)}.")
        fixed = {"pos_embed_shape": (self.pos_embed_shape, None),
                 "output_2d_feature_maps": (self.output_2d_feature_maps,
                                            False),
                 "layer_scale_init_value": (self.layer_scale_init_value,
                                            0.0),
                 "output_attention_scores": (self.output_attention_scores,
                                             False)}
        for name, (value, default) in fixed.items():
            if value != default:
                raise ConfigError(
                    f"{path}.{name}={value!r} is not supported yet (only "
                    f"{default!r}).")
        if not 0.0 <= self.init_stochastic_depth_rate < 1.0:
            raise ConfigError(
                f"{path}.init_stochastic_depth_rate="
                f"{self.init_stochastic_depth_rate} must be in [0, 1).")

    def create_model_arguments(self, norm_activation=None):
        hidden, patch, mlp, heads, layers = VIT_SPECS[self.model_name]
        return {
            "patch_size": patch, "hidden_size": hidden, "mlp_dim": mlp,
            "num_heads": heads, "num_layers": layers,
            "class_token": self.pooler == "token",
            "dropout": self.transformer.dropout_rate,
            "attention_dropout": self.transformer.attention_dropout_rate,
            "drop_path_rate": self.init_stochastic_depth_rate,
            "drop_path_schedule": "model_garden",
            "layer_norm_epsilon": 1e-6,
        }

    def build(self, norm_activation=None, **kwargs):
        """The zoo ViT (`model_name` here is the Model Garden's field, so
        this builds `ZOO_MODEL` with the spec's sizes): the backbone alone
        for `task=None`, else with its pooling and `representation_size`
        pre-logits layer."""
        import zoo

        head = {}
        if kwargs.get("task", "image_classifier") is not None:
            head = {"pooling": "token" if self.pooler == "token" else "avg"}
            if self.representation_size:
                head.update(head_hidden_size=self.representation_size,
                            head_hidden_activation="tanh")
        arguments = {**self.create_model_arguments(norm_activation), **head,
                     **kwargs}
        return zoo.create_model(ZOO_MODEL, **arguments)
