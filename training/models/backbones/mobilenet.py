"""`backbone: {type: mobilenet, mobilenet: {...}}`: the Model Garden's
MobileNet keys (`official/vision/configs/backbones.py`, `MobileNet`) mapped
onto zoo's MobileNet (`zoo/vision/backbones/mobilenet.py`)."""

import dataclasses
from typing import Optional

from training.config.base import ConfigError
from training.models import ModelConfig
from training.registry import register_backbone

#: The Model Garden's `model_id`s zoo builds, and the zoo model of each.
MODELS = {
    "MobileNetV2": "mobilenetv2_100",
    "MobileNetV3Large": "mobilenetv3_large_100",
    "MobileNetV3Small": "mobilenetv3_small_100",
}
#: The Model Garden's other MobileNet `model_id`s
#: (`official/vision/modeling/backbones/mobilenet.py`).
NOT_YET = ("MobileNetV1", "MobileNetMultiAVG", "MobileNetMultiMAX",
           "MobileNetMultiAVGSeg", "MobileNetMultiMAXSeg",
           "MobileNetV3EdgeTPU", "MobileNetV3SmallReducedFilters",
           "MobileNetV4ConvSmall", "MobileNetV4ConvMedium",
           "MobileNetV4ConvLarge", "MobileNetV4HybridMedium",
           "MobileNetV4HybridLarge")


@register_backbone("mobilenet")
@dataclasses.dataclass
class MobileNetConfig(ModelConfig):
    """The Model Garden's MobileNet settings.

    `model_id` picks the network, `filter_size_scale` scales its widths
    (keras.applications' `alpha`), `stochastic_depth_drop_rate` is the
    drop-path rate of the last block. Batch norm takes the task's
    `norm_activation` momentum and epsilon; the activations are each
    network's own (ReLU6; ReLU and hard-swish), as in the Model Garden.
    `output_stride` 8 or 16 dilates the later blocks by the Model Garden's
    rule (`zoo/vision/backbones/mobilenet.py`). Only the default of
    `output_intermediate_endpoints` (false) is built.
    """

    model_id: str = "MobileNetV2"
    filter_size_scale: float = 1.0
    stochastic_depth_drop_rate: float = 0.0
    output_stride: Optional[int] = None
    output_intermediate_endpoints: bool = False

    def validate(self, path=""):
        if self.model_id in NOT_YET:
            raise ConfigError(
                f"{path}.model_id={self.model_id!r} is a Model Garden "
                f"MobileNet that zoo does not build yet; available: "
                f"{sorted(MODELS)}.")
        if self.model_id not in MODELS:
            raise ConfigError(
                f"{path}.model_id={self.model_id!r} is not one of "
                f"{sorted(MODELS)}.")
        if self.output_stride not in (None, 8, 16, 32):
            raise ConfigError(
                f"{path}.output_stride={self.output_stride} must be 8, 16, "
                "32 or null.")
        if self.output_intermediate_endpoints:
            raise ConfigError(
                f"{path}.output_intermediate_endpoints=true is not "
                "supported; the pyramid C2..C5 is what zoo gives.")
        if self.filter_size_scale <= 0:
            raise ConfigError(
                f"{path}.filter_size_scale={self.filter_size_scale} must be "
                "positive.")

    def model_name(self):
        return MODELS[self.model_id]

    def create_model_arguments(self, norm_activation=None):
        arguments = {"width_multiplier": self.filter_size_scale,
                     "drop_path_rate": self.stochastic_depth_drop_rate,
                     "output_stride": self.output_stride}
        if norm_activation is not None:
            arguments.update(bn_momentum=norm_activation.norm_momentum,
                             bn_epsilon=norm_activation.norm_epsilon)
        return arguments
