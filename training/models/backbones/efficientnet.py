"""`backbone: {type: efficientnet, efficientnet: {...}}`: the Model Garden's
EfficientNet keys (`official/vision/configs/backbones.py`, `EfficientNet`)
mapped onto zoo's EfficientNet (`zoo/vision/backbones/efficientnet.py`).

The Model Garden's network differs from keras.applications' EfficientNet
in what its config leaves to other places
(`official/vision/modeling/backbones/efficientnet.py`, `build_efficientnet`):

- squeeze-excitation only with `se_ratio > 0` (default 0.0: none), of
  `max(1, int(block input width * se_ratio))` channels, its inner
  activation always ReLU, its gate a sigmoid;
- the activation and batch norm of the task's `norm_activation` (ReLU by
  default, not swish);
- stochastic depth at the same rate in every residual block, not rising
  linearly;
- no head dropout of its own: `task.model.dropout_rate` (0.0) applies.

The stage table, the width and depth coefficients of `b0`..`b7` and the
channel rounding are the same.
"""

import dataclasses

from training.config.base import ConfigError
from training.models import ModelConfig, norm_arguments
from training.registry import register_backbone

#: The Model Garden's `model_id`s (SCALING_MAP of its efficientnet.py).
MODEL_IDS = tuple(f"b{i}" for i in range(8))


@register_backbone("efficientnet")
@dataclasses.dataclass
class EfficientNetConfig(ModelConfig):
    """The Model Garden's EfficientNet settings.

    `model_id` picks the scaling (`b0`..`b7`); `se_ratio` adds
    squeeze-excitation to every block (0.0: none, the Model Garden's
    default; 0.25 is the paper's); `stochastic_depth_drop_rate` drops every
    residual block's branch at that rate.
    """

    model_id: str = "b0"
    se_ratio: float = 0.0
    stochastic_depth_drop_rate: float = 0.0

    def validate(self, path=""):
        if self.model_id not in MODEL_IDS:
            raise ConfigError(
                f"{path}.model_id={self.model_id!r} is not one of "
                f"{list(MODEL_IDS)}.")
        if not 0.0 <= self.se_ratio <= 1.0:
            raise ConfigError(
                f"{path}.se_ratio={self.se_ratio} must be in [0, 1].")
        if not 0.0 <= self.stochastic_depth_drop_rate < 1.0:
            raise ConfigError(
                f"{path}.stochastic_depth_drop_rate="
                f"{self.stochastic_depth_drop_rate} must be in [0, 1).")

    def model_name(self):
        return f"efficientnet_{self.model_id}"

    def create_model_arguments(self, norm_activation=None):
        return {
            "se_ratio": self.se_ratio,
            "se_activation": "relu",
            "drop_path_rate": self.stochastic_depth_drop_rate,
            "drop_path_schedule": "constant",
            "activation": "relu",  # NormActivation's default
            **norm_arguments(norm_activation),
        }
