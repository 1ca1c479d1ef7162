"""`backbone: {type: mobiledet, mobiledet: {...}}`: the Model Garden's
MobileDet keys (`official/vision/configs/backbones.py`, `MobileDet`),
parsed; zoo does not build MobileDet yet, and a run that selects it is
refused in one line."""

import dataclasses

from training.models import ParseOnlyConfig
from training.registry import register_backbone


@register_backbone("mobiledet")
@dataclasses.dataclass
class MobileDetConfig(ParseOnlyConfig):
    """The Model Garden's `MobileDet`: `model_id` (`'MobileDetCPU'`,
    `'MobileDetDSP'`, `'MobileDetEdgeTPU'`, `'MobileDetGPU'`) and its
    width scale."""

    kind = "backbone"
    model_id: str = "MobileDetCPU"
    filter_size_scale: float = 1.0
