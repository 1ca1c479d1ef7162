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

from zoo.convert import Converter, register_converter
from zoo.convert.timm import map_tensor
from zoo.errors import WeightsError


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
    return modules


@register_converter
class TimmResNet(Converter):
    """timm / torchvision ResNets, ResNet-D and SE-ResNets."""

    source = "timm"
    family = "resnet"
    architectures = ("resnet18", "resnet34", "resnet50", "resnet101",
                     "resnet152", "resnet18d", "resnet34d", "resnet50d",
                     "resnet101d", "seresnet50")

    def convert_config(self, config):
        """timm's ResNet names are zoo's: `(architecture, {})`."""
        from zoo.convert.timm import base_architecture

        return base_architecture(config["architecture"]), {}

    def convert_weights(self, weights, backbone):
        """Maps a timm/torchvision ResNet state dict onto a zoo ResNet.

        Raises:
            WeightsError: a torch name with no zoo counterpart (the
                architecture options do not match the checkpoint).
        """
        modules = _module_map(backbone)
        state = {}
        for name, array in weights.items():
            module, _, param = name.rpartition(".")
            if param == "num_batches_tracked" or module == "fc":
                continue
            if module not in modules:
                raise WeightsError(
                    f"Checkpoint tensor {name!r} has no counterpart in "
                    f"{backbone.name} (stem_type={backbone.stem_type!r}, "
                    f"avg_down={backbone.avg_down}, "
                    f"se_ratio={backbone.se_ratio}).")
            zoo_name, kind = modules[module]
            map_tensor(state, zoo_name, kind, param, array)
        return state

    def convert_head(self, weights, model):
        """`fc.weight`, `fc.bias` -> `predictions/kernel`, `predictions/bias`."""
        state = {}
        for param in ("weight", "bias"):
            if f"fc.{param}" in weights:
                map_tensor(state, "predictions", "dense", param,
                           weights[f"fc.{param}"])
        return state
