"""timm EfficientNet state dicts -> zoo EfficientNet.

timm builds EfficientNet, MobileNetV2 and MobileNetV3 from the same blocks
(`timm/models/_efficientnet_blocks.py`), named `blocks.{stage}.{index}`:

| timm module (in a block)  | role (`block_names`)                     |
|---------------------------|------------------------------------------|
| inverted residual: `conv_pw`, `bn1` | `expand`, `expand_bn`          |
| `conv_dw`, `bn2`          | `dw`, `dw_bn`                            |
| `se.conv_reduce`, `se.conv_expand` | `se` (`reduce`, `expand`)       |
| `conv_pwl`, `bn3`         | `project`, `project_bn`                  |
| depthwise-separable (first block): `conv_dw`, `bn1`, `se`, `conv_pw`, `bn2` | `dw`, `dw_bn`, `se`, `project`, `project_bn` |

Around them: `conv_stem`/`bn1` -> `stem_conv`/`stem_bn`, `conv_head`/`bn2`
-> `top_conv`/`top_bn`, `classifier` -> `predictions`.

timm's own EfficientNets (`efficientnet_b0`, ...) pad like PyTorch
(`k // 2` on every side) with batch-norm epsilon 1e-5; the ports of the
TensorFlow checkpoints (`tf_efficientnet_b0`, ...) pad by TensorFlow's
"same" rule with epsilon 1e-3 (zoo's defaults). `convert_config` says
which.
"""

import re

from zoo.convert import Converter, register_converter
from zoo.convert.timm import base_architecture, map_tensor
from zoo.errors import WeightsError

#: timm module -> role, in an inverted residual and in a depthwise-separable
#: block (the one without `conv_pwl`).
INVERTED_RESIDUAL = {"conv_pw": "expand", "bn1": "expand_bn",
                     "conv_dw": "dw", "bn2": "dw_bn", "se": "se",
                     "conv_pwl": "project", "bn3": "project_bn"}
DEPTHWISE_SEPARABLE = {"conv_dw": "dw", "bn1": "dw_bn", "se": "se",
                       "conv_pw": "project", "bn2": "project_bn"}

#: Arguments of the zoo model for timm's PyTorch-trained checkpoints.
PYTORCH_PADDING = {"padding": "symmetric", "bn_epsilon": 1e-5}

_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.+)")


def _kind(module, param):
    """The `map_tensor` kind of a tensor of timm `module`."""
    leaf = module.rpartition(".")[2]
    if leaf.startswith("bn") or param.startswith("running_"):
        return "bn"
    return "depthwise" if leaf == "conv_dw" else "conv"


def split_blocks(weights):
    """`({(stage, index): {rest: array}}, {other name: array})` of a timm
    state dict, blocks in order; `num_batches_tracked` dropped."""
    blocks, others = {}, {}
    for name, array in weights.items():
        if name.endswith("num_batches_tracked"):
            continue
        match = _BLOCK.fullmatch(name)
        if match:
            key = (int(match[1]), int(match[2]))
            blocks.setdefault(key, {})[match[3]] = array
        else:
            others[name] = array
    return dict(sorted(blocks.items())), others


def convert_block(state, tensors, names, where):
    """Maps one timm MBConv or depthwise-separable block.

    Args:
        state: the `{zoo path: array}` being filled.
        tensors: `{name inside the block: array}` (`conv_pw.weight`, ...).
        names: the zoo block's layer names by role (`block_names`).
        where: the block's timm prefix, for errors.

    Raises:
        WeightsError: a tensor with no counterpart in the zoo block.
    """
    inverted = any(name.startswith("conv_pwl.") for name in tensors)
    roles = INVERTED_RESIDUAL if inverted else DEPTHWISE_SEPARABLE
    for name, array in tensors.items():
        module, _, param = name.rpartition(".")
        top, _, sub = module.partition(".")
        if top not in roles or roles[top] not in names:
            raise WeightsError(
                f"Checkpoint tensor {where}.{name} has no counterpart in "
                f"the zoo block {names.get('dw', '?')!r}.")
        target = names[roles[top]]
        if top == "se":
            part = {"conv_reduce": "reduce", "conv_expand": "expand"}.get(sub)
            if part is None:
                raise WeightsError(
                    f"Checkpoint tensor {where}.{name}: unknown "
                    "squeeze-excitation part.")
            map_tensor(state, f"{target}/{part}", "conv", param, array)
        else:
            map_tensor(state, target, _kind(top, param), param, array)


def convert_outer(state, others, modules, where):
    """Maps the tensors outside the blocks by `{timm module: zoo layer}`;
    the classifier is left to `convert_head`."""
    for name, array in others.items():
        module, _, param = name.rpartition(".")
        if module == "classifier":
            continue
        if module not in modules:
            raise WeightsError(
                f"Checkpoint tensor {name!r} has no counterpart in {where}.")
        map_tensor(state, modules[module], _kind(module, param), param,
                   array)


def classifier_head(weights):
    """`classifier.{weight,bias}` -> `predictions/{kernel,bias}`."""
    state = {}
    for param in ("weight", "bias"):
        if f"classifier.{param}" in weights:
            map_tensor(state, "predictions", "dense", param,
                       weights[f"classifier.{param}"])
    return state


def timm_variant(table, config):
    """`table[architecture]` for a timm config, or a WeightsError listing
    the table."""
    architecture = base_architecture(str(config.get("architecture", "")))
    if architecture not in table:
        raise WeightsError(
            f"timm architecture {architecture!r} is not one of "
            f"{sorted(table)}.")
    return table[architecture]


def _timm_names():
    names = {}
    for i in range(8):
        names[f"efficientnet_b{i}"] = (f"efficientnet_b{i}", PYTORCH_PADDING)
        names[f"tf_efficientnet_b{i}"] = (f"efficientnet_b{i}", {})
    for i in range(5):
        names[f"efficientnet_lite{i}"] = (f"efficientnet_lite{i}",
                                          PYTORCH_PADDING)
        names[f"tf_efficientnet_lite{i}"] = (f"efficientnet_lite{i}", {})
    return names


#: timm architecture -> (zoo variant, arguments).
TIMM_NAMES = _timm_names()


@register_converter
class TimmEfficientNet(Converter):
    """timm EfficientNet B0-B7 and Lite0-4, PyTorch- and TF-trained."""

    source = "timm"
    family = "efficientnet"
    architectures = tuple(TIMM_NAMES)

    def convert_config(self, config):
        """`(zoo variant, padding and epsilon)` of a timm config."""
        return timm_variant(TIMM_NAMES, config)

    def convert_weights(self, weights, backbone):
        """Maps a timm EfficientNet state dict onto a zoo EfficientNet.

        Raises:
            WeightsError: a tensor with no counterpart (another family, or
                blocks the zoo model does not have).
        """
        from zoo.vision.backbones.efficientnet import block_names

        blocks, others = split_blocks(weights)
        state = {}
        for (stage, index), tensors in blocks.items():
            convert_block(state, tensors,
                          block_names(stage, index, backbone.naming),
                          f"blocks.{stage}.{index}")
        convert_outer(state, others, {
            "conv_stem": "stem_conv", "bn1": "stem_bn",
            "conv_head": "top_conv", "bn2": "top_bn"}, backbone.name)
        return state

    def convert_head(self, weights, model):
        """`classifier` -> the classifier head."""
        return classifier_head(weights)
