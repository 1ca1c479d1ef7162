"""timm and torchvision state dicts (`.safetensors`, `.npz`) -> zoo models.

One module per family (`resnet.py`, ...); `load` reads the file and hands
it to the converter of the model's family.
"""

import re

from zoo.convert import (
    assign_converted,
    converters,
    family_of,
    find_converter,
)

SOURCE = "timm"


def load(model, path, include_head=True):
    """Reads a timm/torchvision state dict file into `model`.

    Raises:
        WeightsError: unreadable file, or tensors that do not fit `model`.
    """
    from zoo.convert.state_dict import read_state_dict

    converter = find_converter(SOURCE, family=family_of(model))
    assign_converted(model, converter, read_state_dict(path), include_head,
                     source=str(path))


def architectures():
    """Every timm architecture name some zoo family converts."""
    return sorted(a for c in converters(SOURCE).values()
                  for a in c.architectures)


def base_architecture(architecture):
    """`resnet50.a1_in1k` -> `resnet50`."""
    return re.sub(r"\..*$", "", architecture)


def zoo_model_for(config):
    """`(zoo model name, arguments)` for a timm `config.json` dict.

    Raises:
        WeightsError: an architecture no zoo family converts.
    """
    architecture = base_architecture(str(config.get("architecture", "")))
    converter = find_converter(SOURCE, architecture=architecture)
    return converter.convert_config(config)


def preprocessing(pretrained_cfg):
    """`ImagePreprocessor` arguments of a timm `pretrained_cfg`, or None."""
    if "input_size" not in pretrained_cfg:
        return None
    return {
        "image_size": list(pretrained_cfg["input_size"][1:]),
        "crop_pct": float(pretrained_cfg.get("crop_pct", 0.875)),
        "interpolation": pretrained_cfg.get("interpolation", "bilinear"),
        "scale": 1.0 / 255.0,
        "mean": list(pretrained_cfg.get("mean", (0.485, 0.456, 0.406))),
        "std": list(pretrained_cfg.get("std", (0.229, 0.224, 0.225))),
    }
