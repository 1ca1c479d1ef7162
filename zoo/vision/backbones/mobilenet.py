"""MobileNetV2 (Sandler et al. 2018) and MobileNetV3 (Howard et al. 2019).

Read top to bottom: the block tables, the backbone class, then the
registered variants.

Both are stacks of inverted residuals (`zoo.vision.blocks.inverted_residual`:
1x1 expansion, depthwise, optional squeeze-excitation, 1x1 projection) after
a 3x3 stride-2 stem, ending in a 1x1 convolution:

- V2: ReLU6 throughout, 3x3 depthwise, a 1280-wide last convolution
  (scaled only when `width_multiplier > 1`);
- V3: hard-swish in the later blocks, 3x3 or 5x5 depthwise, SE gated by a
  hard sigmoid, a last convolution six times the last block's width; the
  1280/1024-wide "last point" convolution after pooling belongs to the
  classifier head (`ImageClassifier(head_hidden_size=...)`), as in
  keras.applications. `minimalistic=True` drops SE and hard-swish and uses
  3x3 kernels only.

Channel counts round to multiples of 8 never below 90% (`make_divisible`).
The tables are keras.applications' (keras 3,
`keras/src/applications/mobilenet_v2.py` and `mobilenet_v3.py`), which are
the papers' (Table 2 of V2; Tables 1 and 2 of V3); batch norms use epsilon
1e-3 and momentum 0.999 as there. Layer names are keras.applications'
(`Conv1`, `block_3_expand`, `block_3_depthwise_BN`, ... for V2; `conv`,
`expanded_conv_3_expand`, `expanded_conv_3_squeeze_excite`, `conv_1`, ... for
V3), so its weight files load by name. Every convolution pads by
TensorFlow's "same" rule unless `padding="symmetric"`.

Pyramid levels: C2..C5 are the last block outputs at strides 4, 8, 16 and
32; the model's output is the last convolution's.

`output_stride=16` or 8 keeps the maps at that stride for segmentation by
the Model Garden's rule (`official/vision/modeling/backbones/mobilenet.py`):
once the running stride reaches `output_stride`, every later block runs at
stride 1 with its depthwise convolution dilated by the running rate, which
starts at 1 and is multiplied by each stride skipped after that block.
The first block that would have strided is therefore dilated by 1 (not 2),
so with TensorFlow's padding the dilated network's output at every
second (fourth, at 8) pixel, starting from the second (fourth), is the
plain network's (without squeeze-excitation, whose pooling sees the whole
map). The pyramid keeps its names (`C5` is the last block's output, at
stride 16 or 8).
"""

import math

import keras

from zoo.backbone import Backbone
from zoo.layers.squeeze_excite import make_divisible
from zoo.registry import register_family, register_variants
from zoo.vision.blocks import (
    PADDINGS,
    ConvBuilder,
    check_choice,
    drop_rates,
    image_input,
    inverted_residual,
)

FAMILY = register_family(
    "mobilenet", modality="vision", task="image_classifier",
    num_classes=1000,
    paper="Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear "
          "Bottlenecks, https://arxiv.org/abs/1801.04381; Howard et al. "
          "2019, Searching for MobileNetV3, https://arxiv.org/abs/1905.02244")

VERSIONS = ("v2", "v3_large", "v3_small")

#: MobileNetV2: (expansion, filters, repeats, stride) per stage.
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

#: MobileNetV3: (expansion, filters, kernel, stride, se, activation) per
#: block, the activation "RE" (ReLU) or "HS" (hard-swish) as the paper's
#: tables write it; kernel 5 becomes 3, se False and HS RE when
#: minimalistic.
V3_BLOCKS = {
    "v3_large": (
        (1, 16, 3, 1, False, "RE"), (4, 24, 3, 2, False, "RE"),
        (3, 24, 3, 1, False, "RE"), (3, 40, 5, 2, True, "RE"),
        (3, 40, 5, 1, True, "RE"), (3, 40, 5, 1, True, "RE"),
        (6, 80, 3, 2, False, "HS"), (2.5, 80, 3, 1, False, "HS"),
        (2.3, 80, 3, 1, False, "HS"), (2.3, 80, 3, 1, False, "HS"),
        (6, 112, 3, 1, True, "HS"), (6, 112, 3, 1, True, "HS"),
        (6, 160, 5, 2, True, "HS"), (6, 160, 5, 1, True, "HS"),
        (6, 160, 5, 1, True, "HS"),
    ),
    "v3_small": (
        (1, 16, 3, 2, True, "RE"), (72 / 16, 24, 3, 2, False, "RE"),
        (88 / 24, 24, 3, 1, False, "RE"), (4, 40, 5, 2, True, "HS"),
        (6, 40, 5, 1, True, "HS"), (6, 40, 5, 1, True, "HS"),
        (3, 48, 5, 1, True, "HS"), (3, 48, 5, 1, True, "HS"),
        (6, 96, 5, 2, True, "HS"), (6, 96, 5, 1, True, "HS"),
        (6, 96, 5, 1, True, "HS"),
    ),
}

#: Width of the classifier's hidden "last point" layer of V3.
V3_HEAD = {"v3_large": 1280, "v3_small": 1024}


@keras.saving.register_keras_serializable(package="zoo")
class MobileNetBackbone(Backbone):
    """MobileNetV2 or MobileNetV3 feature extractor.

    Args:
        version: `"v2"`, `"v3_large"` or `"v3_small"`.
        width_multiplier: float, channel multiplier (keras.applications'
            `alpha`).
        minimalistic: bool, V3 without SE and hard-swish, 3x3 kernels only.
        padding: `"same"` (TensorFlow's) or `"symmetric"` (PyTorch's).
        drop_path_rate: float, stochastic depth of the residual blocks,
            rising linearly from 0 (0 in the published models).
        output_stride: 32 (or None), 16 or 8: the stride of the last maps;
            below 32 the later blocks are dilated (see above).
        bn_epsilon, bn_momentum: of every batch norm.
        input_shape: `(height, width, channels)`; None dims are dynamic.
        data_format: `"channels_last"` or `"channels_first"`.
        features_only: output the pyramid `{"C2".."C5"}` instead.
        dtype: dtype policy of every layer.

    Call args:
        images: `[batch, height, width, channels]`, scaled to [-1, 1].

    Returns:
        `[batch, height / 32, width / 32, channels]`, or the pyramid.
    """

    family = "mobilenet"

    def __init__(
        self,
        version="v2",
        width_multiplier=1.0,
        minimalistic=False,
        padding="same",
        drop_path_rate=0.0,
        output_stride=None,
        bn_epsilon=1e-3,
        bn_momentum=0.999,
        input_shape=(None, None, 3),
        data_format=None,
        features_only=False,
        dtype=None,
        **kwargs,
    ):
        owner = type(self).__name__
        input_shape, data_format, images = image_input(owner, input_shape,
                                                       data_format)
        check_choice(owner, "version", version, VERSIONS)
        check_choice(owner, "padding", padding, PADDINGS)
        if not 0 < width_multiplier <= 4:
            raise ValueError(
                f"{owner}: width_multiplier must be in (0, 4], got "
                f"{width_multiplier}.")
        if minimalistic and version == "v2":
            raise ValueError(
                f"{owner}: minimalistic applies to MobileNetV3 only "
                "(version='v3_large' or 'v3_small').")
        if output_stride not in (None, 8, 16, 32):
            raise ValueError(
                f"{owner}: output_stride must be 8, 16, 32 or None, got "
                f"{output_stride!r}.")
        b = ConvBuilder(data_format, padding, bn_epsilon, bn_momentum,
                        "relu6" if version == "v2" else "relu", dtype)
        blocks = self._blocks(version, width_multiplier, minimalistic)
        if version == "v2":
            x = b.conv_bn_act(images, make_divisible(32 * width_multiplier),
                              3, 2, "Conv1", "bn_Conv1", "Conv1_relu")
        else:
            stem_act = "relu" if minimalistic else "hard_swish"
            x = b.conv_bn_act(images, 16, 3, 2, "conv", "conv_bn",
                              "conv_activation", stem_act)

        rates = drop_rates(drop_path_rate, len(blocks))
        # `level`: the stride the plain network would be at (the pyramid's
        # names); `stride`: the one this network is at; `rate`: the
        # dilation of blocks past `output_stride`.
        pyramid, feature_info, level, stride, rate = {}, [], 2, 2, 1
        for index, (expand, filters, kernel, strides, se, act) in enumerate(
                blocks):
            if strides > 1 and level >= 4:
                name = f"C{int(math.log2(level))}"
                pyramid[name] = x
                feature_info.append({"name": name,
                                     "channels": b.channels(x),
                                     "stride": stride})
            level *= strides
            dilation = 1
            if output_stride is not None and stride == output_stride:
                dilation, rate, strides = rate, rate * strides, 1
            else:
                stride *= strides
            width = make_divisible(b.channels(x) * expand)
            names = self.block_names(version, index)
            x = inverted_residual(
                b, x, filters, kernel_size=kernel, strides=strides,
                expanded=width if index else b.channels(x),
                se_inner=make_divisible(width * 0.25) if se else 0,
                se_activation="relu", se_gate="hard_sigmoid", activation=act,
                drop_rate=rates[index], dilation_rate=dilation, names=names)
        pyramid["C5"] = x
        feature_info.append({"name": "C5", "channels": b.channels(x),
                             "stride": stride})
        if version == "v2":
            last = (make_divisible(1280 * width_multiplier)
                    if width_multiplier > 1.0 else 1280)
            x = b.conv_bn_act(x, last, 1, 1, "Conv_1", "Conv_1_bn",
                              "out_relu")
        else:
            x = b.conv_bn_act(x, make_divisible(b.channels(x) * 6), 1, 1,
                              "conv_1", "conv_1_bn", "conv_1_activation",
                              "relu" if minimalistic else "hard_swish")

        self._init_backbone(inputs=images, outputs=x, pyramid_outputs=pyramid,
                            feature_info=feature_info,
                            features_only=features_only, dtype=dtype,
                            **kwargs)
        self.input_conv_layer = "Conv1" if version == "v2" else "conv"
        self._record_arguments(locals())

    @property
    def head_hidden_size(self):
        """Width of V3's "last point" layer in the classifier (None: V2)."""
        if self.version == "v2":
            return None
        size = V3_HEAD[self.version]
        if self.width_multiplier > 1.0:
            size = make_divisible(size * self.width_multiplier)
        return size

    @staticmethod
    def _blocks(version, width, minimalistic):
        """`(expand, filters, kernel, stride, se, activation)` per block."""
        if version == "v2":
            return [(expand, make_divisible(int(filters * width)), 3,
                     stride if repeat == 0 else 1, False, "relu6")
                    for expand, filters, repeats, stride in V2_STAGES
                    for repeat in range(repeats)]
        blocks = []
        for expand, filters, kernel, stride, se, act in V3_BLOCKS[version]:
            act = {"RE": "relu", "HS": "hard_swish"}[act]
            if minimalistic:
                kernel, se, act = 3, False, "relu"
            blocks.append((expand, make_divisible(filters * width), kernel,
                           stride, se, act))
        return blocks

    @staticmethod
    def block_names(version, index):
        """keras.applications' layer names of block `index` (from 0), by
        role: `expand`, `expand_bn`, `dw`, `dw_bn`, `se`, `project`,
        `project_bn`, ..."""
        if version == "v2":
            prefix = f"block_{index}_" if index else "expanded_conv_"
            suffix = {"expand": "expand", "expand_bn": "expand_BN",
                      "expand_act": "expand_relu", "dw": "depthwise",
                      "dw_bn": "depthwise_BN", "dw_act": "depthwise_relu",
                      "se": "se", "project": "project",
                      "project_bn": "project_BN", "prefix": ""}
        else:
            prefix = f"expanded_conv_{index}_" if index else "expanded_conv_"
            suffix = {"expand": "expand", "expand_bn": "expand_bn",
                      "expand_act": "expand_activation", "dw": "depthwise",
                      "dw_bn": "depthwise_bn",
                      "dw_act": "depthwise_activation",
                      "se": "squeeze_excite", "project": "project",
                      "project_bn": "project_bn", "prefix": ""}
        return {key: prefix + value for key, value in suffix.items()}


# --- Registered variants --------------------------------------------------
#
# Names follow timm's (`mobilenetv2_100` is width 1.0). The classifier
# dropout is keras.applications' (0.2 for V3; V2 has none).


def mobilenet_v2(width, **kwargs):
    """A MobileNetV2 backbone of width multiplier `width`."""
    return MobileNetBackbone(**{
        "version": "v2", "width_multiplier": width,
        "name": f"mobilenetv2_{round(width * 100):03d}", **kwargs})


def mobilenet_v3(variant, **kwargs):
    """A MobileNetV3 backbone; `variant` is `(size, width, minimalistic)`
    with `size` "large" or "small"."""
    size, width, minimalistic = variant
    name = f"mobilenetv3_{size}_{'minimal_' if minimalistic else ''}"
    return MobileNetBackbone(**{
        "version": f"v3_{size}", "width_multiplier": width,
        "minimalistic": minimalistic,
        "name": f"{name}{round(width * 100):03d}", **kwargs})


# {name: (variant, description, default head)}.
register_variants(mobilenet_v2, {
    "mobilenetv2_035": (0.35, "MobileNetV2, width 0.35.", {}),
    "mobilenetv2_050": (0.5, "MobileNetV2, width 0.5.", {}),
    "mobilenetv2_075": (0.75, "MobileNetV2, width 0.75.", {}),
    "mobilenetv2_100": (1.0, "MobileNetV2, width 1.0: 3.5M parameters.", {}),
    "mobilenetv2_130": (1.3, "MobileNetV2, width 1.3.", {}),
    "mobilenetv2_140": (1.4, "MobileNetV2, width 1.4.", {}),
})
register_variants(mobilenet_v3, {
    "mobilenetv3_large_100": (
        ("large", 1.0, False), "MobileNetV3-Large, width 1.0: 5.5M.",
        {"dropout": 0.2, "head_hidden_size": 1280,
         "head_hidden_activation": "hard_swish"}),
    "mobilenetv3_large_075": (
        ("large", 0.75, False), "MobileNetV3-Large, width 0.75.",
        {"dropout": 0.2, "head_hidden_size": 1280,
         "head_hidden_activation": "hard_swish"}),
    "mobilenetv3_large_minimal_100": (
        ("large", 1.0, True), "MobileNetV3-Large minimalistic (no SE, ReLU, "
        "3x3), width 1.0.",
        {"dropout": 0.2, "head_hidden_size": 1280,
         "head_hidden_activation": "relu"}),
    "mobilenetv3_small_100": (
        ("small", 1.0, False), "MobileNetV3-Small, width 1.0: 2.5M.",
        {"dropout": 0.2, "head_hidden_size": 1024,
         "head_hidden_activation": "hard_swish"}),
    "mobilenetv3_small_075": (
        ("small", 0.75, False), "MobileNetV3-Small, width 0.75.",
        {"dropout": 0.2, "head_hidden_size": 1024,
         "head_hidden_activation": "hard_swish"}),
    "mobilenetv3_small_minimal_100": (
        ("small", 1.0, True), "MobileNetV3-Small minimalistic (no SE, ReLU, "
        "3x3), width 1.0.",
        {"dropout": 0.2, "head_hidden_size": 1024,
         "head_hidden_activation": "relu"}),
})
