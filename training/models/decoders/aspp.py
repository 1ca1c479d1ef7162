"""`decoder: {type: aspp, aspp: {...}}`: the Model Garden's ASPP keys
(`official/vision/configs/decoders.py`, `ASPP`) mapped onto the ASPP of
`zoo.SemanticSegmenter` (`zoo/vision/segmentation/heads.py`)."""

import dataclasses
from typing import List, Optional

from training.config.base import ConfigError, config_field
from training.models import ModelConfig
from training.registry import register_decoder


@register_decoder("aspp")
@dataclasses.dataclass
class ASPPConfig(ModelConfig):
    """The Model Garden's ASPP settings.

    ASPP reads the backbone's map at `level` (4: stride 16); one 3x3
    branch per `dilation_rates` entry (empty: the 1x1 and pooling branches
    only), `num_filters` channels, `dropout_rate` after the projection;
    `pool_kernel_size` (in input pixels, divided by `2 ** level`) is the
    pooling branch's average pool, None or empty for global pooling.
    `spp_layer_version` `"v1"` and `"v2"` are the same network here (v2's
    fixed-size resize of the pooled map aside); `output_tensor` changes
    nothing in zoo.
    """

    level: int = 4
    dilation_rates: List[int] = config_field(list)
    dropout_rate: float = 0.0
    num_filters: int = 256
    use_depthwise_convolution: bool = False
    pool_kernel_size: Optional[List[int]] = None
    spp_layer_version: str = "v1"
    output_tensor: bool = False

    def validate(self, path=""):
        if self.num_filters < 1:
            raise ConfigError(f"{path}.num_filters must be positive, got "
                              f"{self.num_filters}.")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ConfigError(f"{path}.dropout_rate={self.dropout_rate} is "
                              "not in [0, 1).")
        if self.pool_kernel_size and len(self.pool_kernel_size) != 2:
            raise ConfigError(f"{path}.pool_kernel_size must be [height, "
                              f"width], got {self.pool_kernel_size}.")
        if self.spp_layer_version not in ("v1", "v2"):
            raise ConfigError(f"{path}.spp_layer_version="
                              f"{self.spp_layer_version!r} is not 'v1' or "
                              "'v2'.")

    def model_name(self):
        raise ConfigError("ASPP is built inside a segmenter, not alone.")

    def create_model_arguments(self, norm_activation=None):
        pool = None
        if self.pool_kernel_size:
            pool = [max(1, int(p) // 2 ** self.level)
                    for p in self.pool_kernel_size]
        return {"level": self.level,
                "aspp_dilation_rates": list(self.dilation_rates),
                "aspp_filters": self.num_filters,
                "aspp_dropout": self.dropout_rate,
                "aspp_pool_size": pool,
                "aspp_use_depthwise_convolution":
                    self.use_depthwise_convolution}
