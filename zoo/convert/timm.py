"""timm / torchvision ResNet state dicts -> zoo ResNet (block_variant="v1.5").

timm's ResNet uses torchvision's parameter names, so one mapping serves both:

| torch name                      | zoo path                                  |
|---------------------------------|-------------------------------------------|
| `conv1.weight`, `bn1.*`         | `stem_conv1/kernel`, `stem_bn1/*`         |
| `conv1.{0,3,6}.weight` (deep)   | `stem_conv{1,2,3}/kernel`                 |
| `conv1.{1,4}.*`, `bn1.*` (deep) | `stem_bn{1,2}/*`, `stem_bn3/*`            |
| `layer{L}.{B}.conv{i}.weight`   | `stage{L+1}_block{B+1}_conv{i}/kernel`    |
| `layer{L}.{B}.bn{i}.*`          | `stage{L+1}_block{B+1}_bn{i}/*`           |
| `layer{L}.{B}.downsample.{0,1}` | `..._shortcut_conv`, `..._shortcut_bn`    |
| `...downsample.{1,2}` (avg_down)| `..._shortcut_conv`, `..._shortcut_bn`    |
| `layer{L}.{B}.se.fc{1,2}.*`     | `..._se/reduce/*`, `..._se/expand/*`      |
| `fc.weight`, `fc.bias`          | `predictions/kernel`, `predictions/bias`  |

Batch norm: `weight`, `bias`, `running_mean`, `running_var` -> `gamma`,
`beta`, `moving_mean`, `moving_variance`; `num_batches_tracked` is dropped.
Convolution kernels go from `[out, in, kh, kw]` to `[kh, kw, in, out]`.
"""

import re

import numpy as np

from zoo.errors import WeightsError

BN_NAMES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}

#: timm architecture names and the zoo builder that matches each.
TIMM_ARCHITECTURES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet152": "resnet152",
    "resnet18d": "resnet18d",
    "resnet34d": "resnet34d",
    "resnet50d": "resnet50d",
    "resnet101d": "resnet101d",
    "seresnet50": "seresnet50",
}


def _conv_kernel(weight):
    return np.transpose(weight, (2, 3, 1, 0))


def _stem_names(backbone):
    if backbone.stem_type == "basic":
        return {"conv1": "stem_conv1", "bn1": "stem_bn1"}
    return {
        "conv1.0": "stem_conv1",
        "conv1.1": "stem_bn1",
        "conv1.3": "stem_conv2",
        "conv1.4": "stem_bn2",
        "conv1.6": "stem_conv3",
        "bn1": "stem_bn3",
    }


def _module_map(backbone):
    """torch module name -> (zoo layer name, kind) for a ResNetBackbone."""
    modules = {
        name: (zoo, "bn" if "bn" in zoo else "conv")
        for name, zoo in _stem_names(backbone).items()
    }
    shortcut = (("1", "conv"), ("2", "bn")) if backbone.avg_down else (
        ("0", "conv"), ("1", "bn"))
    for stage, blocks in enumerate(backbone.stage_blocks, start=1):
        for block in range(blocks):
            torch_prefix = f"layer{stage}.{block}"
            zoo_prefix = f"stage{stage + 1}_block{block + 1}"
            for i in (1, 2, 3):
                modules[f"{torch_prefix}.conv{i}"] = (
                    f"{zoo_prefix}_conv{i}", "conv")
                modules[f"{torch_prefix}.bn{i}"] = (f"{zoo_prefix}_bn{i}", "bn")
            for index, kind in shortcut:
                modules[f"{torch_prefix}.downsample.{index}"] = (
                    f"{zoo_prefix}_shortcut_{kind}", kind)
            modules[f"{torch_prefix}.se.fc1"] = (f"{zoo_prefix}_se/reduce",
                                                 "conv")
            modules[f"{torch_prefix}.se.fc2"] = (f"{zoo_prefix}_se/expand",
                                                 "conv")
    modules["fc"] = ("predictions", "dense")
    return modules


def resnet_state(state_dict, model, include_head=True):
    """Maps a timm/torchvision ResNet state dict onto a zoo ResNet.

    Args:
        state_dict: `{torch name: numpy array}`.
        model: zoo `ImageClassifier` or `ResNetBackbone`.
        include_head: bool, map `fc` onto the classifier head.

    Returns:
        dict zoo weight path -> array.

    Raises:
        WeightsError: a torch name with no zoo counterpart (the architecture
            options do not match the checkpoint).
    """
    from zoo.vision.backbones.resnet import ResNetBackbone

    backbone = getattr(model, "backbone", None) or model
    if not isinstance(backbone, ResNetBackbone):
        raise WeightsError(
            f"timm ResNet weights need a ResNetBackbone, got "
            f"{type(backbone).__name__}."
        )
    modules = _module_map(backbone)
    state = {}
    for name, array in state_dict.items():
        module, _, param = name.rpartition(".")
        if param == "num_batches_tracked":
            continue
        if module not in modules:
            raise WeightsError(
                f"Checkpoint tensor {name!r} has no counterpart in "
                f"{backbone.name} (stem_type={backbone.stem_type!r}, "
                f"avg_down={backbone.avg_down}, se_ratio={backbone.se_ratio})."
            )
        zoo_name, kind = modules[module]
        array = np.asarray(array, dtype=np.float32)
        if kind == "dense":
            if not include_head:
                continue
            key = "kernel" if param == "weight" else "bias"
            state[f"{zoo_name}/{key}"] = array.T if key == "kernel" else array
        elif kind == "bn":
            state[f"{zoo_name}/{BN_NAMES[param]}"] = array
        elif param == "weight":
            state[f"{zoo_name}/kernel"] = _conv_kernel(array)
        else:
            state[f"{zoo_name}/bias"] = array
    return state


def load_timm_weights(model, path, include_head=True):
    """Reads a timm/torchvision `.safetensors` (or `.npz`) file into `model`."""
    from zoo.convert.state_dict import read_state_dict
    from zoo.weights import assign_state

    backbone = getattr(model, "backbone", None) or model
    state = resnet_state(read_state_dict(path), model,
                         include_head=include_head)
    skip = () if include_head else ("predictions/",)
    assign_state(model, state, skip_prefixes=skip,
                 input_conv=backbone.input_conv_layer, source=str(path))


def zoo_name_for_timm(architecture):
    """The zoo model name for a timm `architecture` string, or raises."""
    base = re.sub(r"\..*$", "", architecture)
    if base not in TIMM_ARCHITECTURES:
        raise WeightsError(
            f"No zoo model matches the timm architecture {architecture!r}; "
            f"supported: {sorted(TIMM_ARCHITECTURES)}."
        )
    return TIMM_ARCHITECTURES[base]
