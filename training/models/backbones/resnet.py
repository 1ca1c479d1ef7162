"""`backbone: {type: resnet, resnet: {...}}`: the Model Garden's ResNet keys
(`official/vision/configs/backbones.py`, `ResNet`) mapped onto zoo's ResNet
(`zoo/vision/backbones/resnet.py`)."""

import dataclasses
from typing import List, Optional

from training.config.base import ConfigError
from training.models import ModelConfig, norm_arguments
from training.registry import register_backbone

#: `model_id` values zoo builds (the Model Garden's RESNET_SPECS): the
#: registered `resnet<depth>` models, and `resnetrs<depth>` beyond 152.
DEPTHS = (18, 34, 50, 101, 152, 200, 270, 350, 420)


@register_backbone("resnet")
@dataclasses.dataclass
class ResNetConfig(ModelConfig):
    """The Model Garden's ResNet settings.

    `model_id` picks the depth; `stem_type` `"v0"` is the 7x7 stem and
    `"v1"` the deep stem (three 3x3); `resnetd_shortcut` the average-pool
    shortcut of ResNet-D (as the Model Garden pools: before every
    projection, the first stage's stride-1 one too); `replace_stem_max_pool`
    a strided 3x3 convolution for the stem's max pool (ResNet-RS);
    `depth_multiplier` scales every width;
    `se_ratio` adds squeeze-excitation; `stochastic_depth_drop_rate` is
    the drop-path rate of the last block. `block_variant` is zoo's: `"v1.5"`
    (stride in the 3x3, the Model Garden's) or `"v1"` (keras.applications').
    """

    model_id: int = 50
    depth_multiplier: float = 1.0
    stem_type: str = "v0"
    se_ratio: float = 0.0
    stochastic_depth_drop_rate: float = 0.0
    scale_stem: bool = True
    resnetd_shortcut: bool = False
    replace_stem_max_pool: bool = False
    bn_trainable: bool = True
    block_variant: str = "v1.5"

    def validate(self, path=""):
        if self.model_id not in DEPTHS:
            raise ConfigError(
                f"{path}.model_id={self.model_id} is not one of "
                f"{list(DEPTHS)}.")
        if self.stem_type not in ("v0", "v1"):
            raise ConfigError(
                f"{path}.stem_type={self.stem_type!r} is not 'v0' or 'v1'.")
        if self.block_variant not in ("v1", "v1.5"):
            raise ConfigError(
                f"{path}.block_variant={self.block_variant!r} is not 'v1' "
                "or 'v1.5'.")

    def model_name(self):
        if self.model_id > 152:
            # Every ResNet-RS option is set by create_model_arguments.
            return f"resnetrs{self.model_id}"
        return f"resnet{self.model_id}"

    def create_model_arguments(self, norm_activation=None):
        deep = self.stem_type == "v1"
        # The Model Garden scales the stem with the widths only when
        # `scale_stem` is set.
        stem_scale = self.depth_multiplier if self.scale_stem else 1.0
        return _resnet_arguments(
            self, (32 if deep else 64) * stem_scale, norm_activation,
            block_variant=self.block_variant, bn_trainable=self.bn_trainable)


def _resnet_arguments(config, stem_width, norm_activation, **extra):
    """The `ResNetBackbone` arguments the ResNet configs share: stem, widths
    (times `depth_multiplier`), ResNet-D and -RS options, squeeze-excitation,
    stochastic depth and the norm settings."""
    scale = config.depth_multiplier
    return {
        "stem_type": "deep" if config.stem_type == "v1" else "basic",
        "stem_width": max(8, int(stem_width)),
        "stage_filters": tuple(max(8, int(f * scale))
                               for f in (64, 128, 256, 512)),
        "avg_down": "all" if config.resnetd_shortcut else False,
        "replace_stem_pool": config.replace_stem_max_pool,
        "se_ratio": config.se_ratio,
        "drop_path_rate": config.stochastic_depth_drop_rate,
        **norm_arguments(norm_activation),
        **extra,
    }


#: `model_id` values of the Model Garden's DilatedResNet (its RESNET_SPECS
#: in official/vision/modeling/backbones/resnet_deeplab.py: bottlenecks
#: only), and zoo's basic-block 18 and 34.
DILATED_DEPTHS = (18, 34, 50, 101, 152, 200)
#: Blocks of the last stage per depth (what `multigrid` must match).
LAST_STAGE_BLOCKS = {18: 2, 34: 3, 50: 3, 101: 3, 152: 3, 200: 3}


@register_backbone("dilated_resnet")
@dataclasses.dataclass
class DilatedResNetConfig(ModelConfig):
    """The Model Garden's DilatedResNet settings (DeepLab's backbone;
    fields and defaults from `official/vision/configs/backbones.py`,
    `DilatedResNet`).

    `output_stride` 16 or 8 keeps the stride of the stages past it at 1
    and dilates their 3x3 convolutions instead; `multigrid` multiplies
    the last stage's rates, one value per block (`[1, 2, 4]`). The
    Model Garden's `v1` stem here is three 3x3 convolutions of 64, 64 and
    128 channels (its ResNet's is 32, 32, 64). `last_stage_repeats` above
    1 (repeating the last stage with ever larger rates) is not built.
    zoo's own: `model_id` 18 and 34 (basic blocks) and `depth_multiplier`
    (every width scaled, as the ResNet config's), for small segmenters.
    """

    model_id: int = 50
    output_stride: int = 16
    multigrid: Optional[List[int]] = None
    stem_type: str = "v0"
    last_stage_repeats: int = 1
    se_ratio: float = 0.0
    stochastic_depth_drop_rate: float = 0.0
    resnetd_shortcut: bool = False
    replace_stem_max_pool: bool = False
    depth_multiplier: float = 1.0

    def validate(self, path=""):
        if self.model_id not in DILATED_DEPTHS:
            raise ConfigError(
                f"{path}.model_id={self.model_id} is not one of "
                f"{list(DILATED_DEPTHS)} (the Model Garden's dilated "
                "ResNets).")
        if self.output_stride not in (8, 16, 32):
            raise ConfigError(
                f"{path}.output_stride={self.output_stride} is not 8, 16 "
                "or 32.")
        if self.stem_type not in ("v0", "v1"):
            raise ConfigError(
                f"{path}.stem_type={self.stem_type!r} is not 'v0' or 'v1'.")
        if self.last_stage_repeats != 1:
            raise ConfigError(
                f"{path}.last_stage_repeats={self.last_stage_repeats}: "
                "only 1 is built by zoo (the Model Garden's default).")
        if self.stem_type == "v1" and self.replace_stem_max_pool:
            raise ConfigError(
                f"{path}: stem_type 'v1' with replace_stem_max_pool is not "
                "built by zoo (the Model Garden narrows 128 channels to 64 "
                "there); use one of them.")
        blocks = LAST_STAGE_BLOCKS[self.model_id]
        if self.multigrid is not None and len(self.multigrid) != blocks:
            raise ConfigError(
                f"{path}.multigrid={list(self.multigrid)} must have one "
                f"rate per block of the last stage ({blocks}).")

    def model_name(self):
        # ResNet-200 is registered as resnetrs200; every option the
        # ResNet-RS variant sets is set by create_model_arguments.
        return ResNetConfig.model_name(self)

    def create_model_arguments(self, norm_activation=None):
        # The v1 stem is 64, 64, 128 wide here (stem_width 64).
        return _resnet_arguments(
            self, 64 * self.depth_multiplier, norm_activation,
            block_variant="v1.5", output_stride=self.output_stride,
            multigrid=(list(self.multigrid) if self.multigrid is not None
                       else None))
