"""`decoder: {type: identity}`: the Model Garden's `Identity` decoder
(`official/vision/configs/decoders.py`; no keys), which passes a
multi-level backbone's features (SpineNet's) straight to the head. Parsed;
zoo's detectors build an FPN, and a run that selects it is refused in one
line."""

import dataclasses

from training.models import ParseOnlyConfig
from training.registry import register_decoder


@register_decoder("identity")
@dataclasses.dataclass
class IdentityConfig(ParseOnlyConfig):
    """The Model Garden's `Identity` decoder (no fields)."""

    kind = "decoder"
