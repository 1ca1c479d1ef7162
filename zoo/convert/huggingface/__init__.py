"""Hugging Face transformers checkpoints -> zoo models, one module per
family (`model_type`).

`load` reads a `.safetensors` (or `.npz`) state dict into a zoo model of
the family's converter; `build_from_config` builds the zoo model a
transformers `config.json` describes.
"""

from zoo.convert import (
    assign_converted,
    family_of,
    find_converter,
)
from zoo.errors import WeightsError

SOURCE = "huggingface"


def converter_for(config):
    """The converter for a transformers config dict (by `model_type`).

    Raises:
        WeightsError: a `model_type` no zoo family converts.
    """
    model_type = config.get("model_type")
    if model_type is None:
        raise WeightsError("config.json has no model_type: not a Hugging "
                           "Face transformers model.")
    return find_converter(SOURCE, architecture=model_type)


def build_from_config(config, **overrides):
    """The zoo backbone (random weights) a transformers config describes."""
    return converter_for(config).build_backbone(config, **overrides)


def load(model, path, include_head=True):
    """Reads a transformers checkpoint into a zoo model.

    Only the backbone is converted (transformers' heads are not zoo's), so
    `include_head` is ignored.
    """
    del include_head
    from zoo.convert.state_dict import read_state_dict

    converter = find_converter(SOURCE, family=family_of(model))
    assign_converted(model, converter, read_state_dict(path),
                     include_head=False, source=str(path))
