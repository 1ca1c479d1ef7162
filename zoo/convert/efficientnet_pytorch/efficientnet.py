"""EfficientNet-PyTorch names -> zoo EfficientNet (B0-B7 and Lite).

Block `_blocks.N` is the N-th MBConv block in order; inside it
`_expand_conv`/`_bn0` are the expansion, `_depthwise_conv`/`_bn1` the
depthwise convolution, `_se_reduce`/`_se_expand` the squeeze-excitation
and `_project_conv`/`_bn2` the projection. Outside the blocks: `_conv_stem`
/`_bn0`, `_conv_head`/`_bn1` and the classifier `_fc`. Kernels are
transposed from torch's `(out, in, h, w)` (depthwise `(C, 1, h, w)`).

The checkpoints in this layout are ports of the TensorFlow ones, which pad
by TensorFlow's "same" rule (zoo's default); a checkpoint trained in
PyTorch would need `padding="symmetric"` in its preset.
"""

import re

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError

_BLOCK_PARTS = {
    "_expand_conv": "expand_conv", "_bn0": "expand_bn",
    "_depthwise_conv": "dwconv", "_bn1": "bn",
    "_se_reduce": "se/reduce", "_se_expand": "se/expand",
    "_project_conv": "project_conv", "_bn2": "project_bn",
}
_TOP = {"_conv_stem": "stem_conv", "_bn0": "stem_bn",
        "_conv_head": "top_conv", "_bn1": "top_bn"}
_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
       "running_var": "moving_variance"}


def block_prefixes(backbone):
    """The zoo block prefixes (`block1a_`, `block2a_`, ...) in order."""
    seen = []
    for layer in backbone.layers:
        match = re.match(r"(block\d+[a-z]+_)", layer.name)
        if match and match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def _convert(layer, kind, array, depthwise=False):
    """`(zoo weight name, array)` of one torch tensor."""
    if "bn" in layer and kind in _BN:
        return _BN[kind], array
    if kind == "weight":
        if depthwise:
            return "kernel", array.transpose(2, 3, 0, 1)
        return "kernel", array.transpose(2, 3, 1, 0)
    return kind, array


@register_converter
class EfficientNetPyTorchEfficientNet(Converter):
    """EfficientNet-PyTorch / EfficientNet-Lite checkpoints."""

    source = "efficientnet_pytorch"
    family = "efficientnet"
    architectures = tuple(f"efficientnet-b{i}" for i in range(8)) + tuple(
        f"efficientnet-lite{i}" for i in range(5))

    def convert_config(self, config):
        """`(zoo variant, {})` for an `efficientnet-b0` / `-lite0` name."""
        if config not in self.architectures:
            raise WeightsError(
                f"{config!r} is not an EfficientNet-PyTorch model; expected "
                f"one of {list(self.architectures)}.")
        return config.replace("-", "_"), {}

    def convert_weights(self, weights, backbone):
        """Maps the state dict's backbone tensors onto `backbone`."""
        prefixes = block_prefixes(backbone)
        state = {}
        for name, array in weights.items():
            parts = name.split(".")
            if parts[-1] == "num_batches_tracked":
                continue
            if parts[0] == "_blocks":
                index, layer, kind = int(parts[1]), parts[2], parts[3]
                if index >= len(prefixes):
                    raise WeightsError(
                        f"{name}: the checkpoint has more blocks than "
                        f"{backbone.name}'s {len(prefixes)}.")
                target = prefixes[index] + _BLOCK_PARTS[layer]
                key, value = _convert(layer, kind, array,
                                      depthwise=layer == "_depthwise_conv")
                state[f"{target}/{key}"] = value
            elif parts[0] in _TOP:
                key, value = _convert(parts[0], parts[1], array)
                state[f"{_TOP[parts[0]]}/{key}"] = value
        return state

    def convert_head(self, weights, model):
        """`_fc` -> the classifier head."""
        if "_fc.weight" not in weights:
            return {}
        return {"predictions/kernel": weights["_fc.weight"].T,
                "predictions/bias": weights["_fc.bias"]}
