"""timm and torchvision state dicts (`.safetensors`, `.npz`) -> zoo models.

One module per family (`resnet.py`, `efficientnet.py`, `mobilenet.py`,
`convnext.py`); `load` reads the file and hands it to the converter of the
model's family. `map_tensor` is what they share: torch's layouts and batch
norm names into Keras'.
"""

import re

import numpy as np

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


#: torch batch-norm (and layer-norm) parameter names -> Keras weight names.
BN_NAMES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def conv_kernel(weight):
    """torch `[out, in, kh, kw]` -> Keras `[kh, kw, in, out]`."""
    return np.transpose(weight, (2, 3, 1, 0))


def map_tensor(state, zoo_name, kind, param, array):
    """Stores one torch tensor under its zoo name, in Keras' layout.

    Args:
        state: the `{zoo path: array}` being filled.
        zoo_name: the zoo layer's name (`stage2_block1_conv1`).
        kind: `"conv"` (`[out, in, kh, kw]` kernels), `"depthwise"`
            (`[channels, 1, kh, kw]`), `"dense"` (`[out, in]`), `"bn"`
            (batch or layer norm) or `"pointwise"` (a torch Linear whose
            zoo layer is a 1x1 convolution).
        param: the torch parameter name (`weight`, `bias`, `running_mean`,
            ...).
        array: the tensor.
    """
    array = np.asarray(array, dtype=np.float32)
    if kind == "bn":
        state[f"{zoo_name}/{BN_NAMES[param]}"] = array
    elif param != "weight":
        state[f"{zoo_name}/bias"] = array
    elif kind == "dense":
        state[f"{zoo_name}/kernel"] = array.T
    elif kind == "pointwise":
        state[f"{zoo_name}/kernel"] = array.T[None, None]
    elif kind == "depthwise":
        state[f"{zoo_name}/kernel"] = np.transpose(array, (2, 3, 0, 1))
    else:
        state[f"{zoo_name}/kernel"] = conv_kernel(array)
