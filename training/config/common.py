"""Configs that several vision tasks share, as the Model Garden's
`official/vision/configs/common.py` declares them (field names and
defaults): normalisation and activation, augmentations, MixUp/CutMix."""

import dataclasses
from typing import List, Optional

from training.config.base import (Config, ConfigError, OneOfConfig,
                                  config_field)



@dataclasses.dataclass
class NormActivation(Config):
    """Batch-norm settings (Keras momentum convention) and the activation.

    `use_sync_bn` defaults to True, as in the Model Garden's class; its
    task configs set False. Keras 3 synchronises batch statistics across
    replicas with `BatchNormalization(synchronized=True)` on TensorFlow;
    single-device runs ignore it.
    """

    activation: str = "relu"
    use_sync_bn: bool = True
    norm_momentum: float = 0.99
    norm_epsilon: float = 0.001


@dataclasses.dataclass
class RandAugment(Config):
    """RandAugment (Cubuk et al. 2019), run by `keras.layers.RandAugment`.

    `magnitude` is on the 0-10 scale of the paper; `magnitude_std`,
    `cutout_const`, `translate_const`, `prob_to_apply` and `exclude_ops`
    are the Model Garden's (applied where Keras' layer has the knob; see
    `training.data.augment`).
    """

    num_layers: int = 2
    magnitude: float = 10.0
    cutout_const: float = 40.0
    translate_const: float = 10.0
    magnitude_std: float = 0.0
    prob_to_apply: Optional[float] = None
    exclude_ops: List[str] = config_field(list)


@dataclasses.dataclass
class AutoAugment(Config):
    """AutoAugment policy settings (the Model Garden's `autoaug`)."""

    augmentation_name: str = "v0"
    cutout_const: float = 100.0
    translate_const: float = 250.0


@dataclasses.dataclass
class Augmentation(OneOfConfig):
    """Extra training augmentation: `randaug` or `autoaug`."""

    type: Optional[str] = None
    randaug: RandAugment = config_field(RandAugment)
    autoaug: AutoAugment = config_field(AutoAugment)


@dataclasses.dataclass
class RandomErasing(Config):
    """Random erasing (Zhong et al. 2017) settings: the Model Garden's four
    fields (official/vision/configs/common.py); its `max_aspect` (None:
    `1 / min_aspect`), `min_count` = `max_count` = 1 and `trials` = 10 are
    class constants there, not config keys, and fixed here alike."""

    probability: float = 0.25
    min_area: float = 0.02
    max_area: float = 1 / 3
    min_aspect: float = 0.3

    def validate(self, path=""):
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(
                f"{path}.probability={self.probability} must be in [0, 1].")
        if not 0.0 < self.min_area <= self.max_area <= 1.0:
            raise ConfigError(
                f"{path}: need 0 < min_area <= max_area <= 1, got "
                f"min_area={self.min_area}, max_area={self.max_area}.")
        if not 0.0 < self.min_aspect <= 1.0:
            raise ConfigError(
                f"{path}.min_aspect={self.min_aspect} must be in (0, 1] "
                "(the largest aspect is its inverse).")


@dataclasses.dataclass
class MixupAndCutmix(Config):
    """MixUp and CutMix strengths (0 disables either)."""

    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1
