"""`decoder: {type: fpn, fpn: {...}}`: the Model Garden's FPN keys
(`official/vision/configs/decoders.py`, `FPN`) mapped onto the FPN of
`zoo.ObjectDetector` (`zoo/vision/detection/fpn.py`)."""

import dataclasses

from training.config.base import ConfigError
from training.models import ModelConfig
from training.registry import register_decoder


@register_decoder("fpn")
@dataclasses.dataclass
class FPNConfig(ModelConfig):
    """The Model Garden's FPN settings.

    `num_filters` channels on every level, `fusion_type` `"sum"` or
    `"concat"` of the top-down path, `use_separable_conv` separable 3x3
    convolutions. `use_keras_layer` picks between two Model Garden
    implementations of the same network and changes nothing here.
    """

    num_filters: int = 256
    fusion_type: str = "sum"
    use_separable_conv: bool = False
    use_keras_layer: bool = False

    def validate(self, path=""):
        if self.fusion_type not in ("sum", "concat"):
            raise ConfigError(f"{path}.fusion_type={self.fusion_type!r} is "
                              "not 'sum' or 'concat'.")
        if self.num_filters < 1:
            raise ConfigError(f"{path}.num_filters must be positive, got "
                              f"{self.num_filters}.")

    def model_name(self):
        raise ConfigError("An FPN is built inside a detector, not alone.")

    def create_model_arguments(self, norm_activation=None):
        return {"decoder_filters": self.num_filters,
                "fusion_type": self.fusion_type,
                "use_separable_conv": self.use_separable_conv}
