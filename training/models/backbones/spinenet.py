"""`backbone: {type: spinenet | spinenet_mobile, ...}`: the Model Garden's
SpineNet keys (`official/vision/configs/backbones.py`, `SpineNet` and
`SpineNetMobile`), parsed so that its SpineNet experiments and files carry
their values; zoo does not build SpineNet yet, and a run that selects it is
refused in one line."""

import dataclasses

from training.models import ParseOnlyConfig
from training.registry import register_backbone


@register_backbone("spinenet")
@dataclasses.dataclass
class SpineNetConfig(ParseOnlyConfig):
    """The Model Garden's `SpineNet`: `model_id` `'49'`, `'96'`, `'143'`,
    `'190'` (and their `S`/`XS` variants), the drop-path rate and the
    levels it outputs."""

    kind = "backbone"
    model_id: str = "49"
    stochastic_depth_drop_rate: float = 0.0
    min_level: int = 3
    max_level: int = 7


@register_backbone("spinenet_mobile")
@dataclasses.dataclass
class SpineNetMobileConfig(ParseOnlyConfig):
    """The Model Garden's `SpineNetMobile` (`'49'`, `'49S'`, `'49XS'`)."""

    kind = "backbone"
    model_id: str = "49"
    stochastic_depth_drop_rate: float = 0.0
    se_ratio: float = 0.2
    expand_ratio: int = 6
    min_level: int = 3
    max_level: int = 7
    use_keras_upsampling_2d: bool = False
