"""EfficientNet (Tan and Le 2019), EfficientNet-Lite and EfficientNetV2
(Tan and Le 2021).

Read top to bottom: the stage tables, the backbone class, then the
registered variants.

One backbone class builds all three: a stem convolution, stages of MBConv
blocks (`"mb"`: 1x1 expansion, depthwise, squeeze-excitation, 1x1
projection) or Fused-MBConv blocks (`"fused"`: one full convolution in
place of expansion and depthwise), and a 1x1 head convolution. Width and
depth scale by `width_coefficient` (channels, rounded to multiples of 8)
and `depth_coefficient` (repeats, rounded up).

- EfficientNet B0-B7: `STAGES_V1`, swish, SE 0.25 of each block's input
  width, channels rounded never below 90% (`round_limit=0.9`).
- EfficientNet-Lite0-4: the same table without SE, ReLU6, and the stem,
  the head and the repeats of the first and last stages left unscaled
  (`fix_stem_head=True`), as the TensorFlow EfficientNet-Lite code builds
  them for integer-only accelerators.
- EfficientNetV2: its own tables (`STAGES_V2`), Fused-MBConv in the early
  stages, channel rounding without the 90% floor (`round_limit=0`),
  batch-norm momentum 0.9.

The stage tables and the coefficients are keras.applications' (keras 3,
`keras/src/applications/efficientnet.py` and `efficientnet_v2.py`), which
are the papers'. Layer names are keras.applications' too (`stem_conv`,
`block2a_expand_conv`, `block2a_dwconv`, `block2a_se`, `block2a_project_bn`,
`top_conv`, ...; V2's depthwise is `dwconv2`), so its weight files load by
name (`zoo/convert/keras_applications/efficientnet.py`). Every convolution
pads by TensorFlow's "same" rule (keras.applications' explicit
`correct_pad` padding computes the same) unless `padding="symmetric"`
(PyTorch's, for timm weights).

Pyramid levels: C2..C5 are the last block outputs at strides 4, 8, 16 and
32 (before the head convolution); the model's output is the head's.
"""

import math

import keras

from zoo.backbone import Backbone
from zoo.layers.squeeze_excite import make_divisible
from zoo.registry import register_family, register_variants
from zoo.vision.blocks import (
    ACTIVATIONS,
    DROP_PATH_SCHEDULES,
    PADDINGS,
    ConvBuilder,
    check_choice,
    drop_rates,
    fused_inverted_residual,
    image_input,
    inverted_residual,
)

FAMILY = register_family(
    "efficientnet", modality="vision", task="image_classifier",
    num_classes=1000,
    paper="Tan and Le 2019, EfficientNet: Rethinking Model Scaling for "
          "Convolutional Neural Networks, https://arxiv.org/abs/1905.11946; "
          "Tan and Le 2021, EfficientNetV2: Smaller Models and Faster "
          "Training, https://arxiv.org/abs/2104.00298")

BLOCK_TYPES = ("mb", "fused")

#: (block, kernel, repeats, filters_in, filters_out, expand_ratio, stride,
#: se_ratio) per stage: EfficientNet-B0 (Table 1 of the paper).
STAGES_V1 = (
    ("mb", 3, 1, 32, 16, 1, 1, 0.25), ("mb", 3, 2, 16, 24, 6, 2, 0.25),
    ("mb", 5, 2, 24, 40, 6, 2, 0.25), ("mb", 3, 3, 40, 80, 6, 2, 0.25),
    ("mb", 5, 3, 80, 112, 6, 1, 0.25), ("mb", 5, 4, 112, 192, 6, 2, 0.25),
    ("mb", 3, 1, 192, 320, 6, 1, 0.25),
)

_V2_BASE = (
    ("fused", 3, 1, 32, 16, 1, 1, 0.0), ("fused", 3, 2, 16, 32, 4, 2, 0.0),
    ("fused", 3, 2, 32, 48, 4, 2, 0.0), ("mb", 3, 3, 48, 96, 4, 2, 0.25),
    ("mb", 3, 5, 96, 112, 6, 1, 0.25), ("mb", 3, 8, 112, 192, 6, 2, 0.25),
)

#: EfficientNetV2 stage tables (Table 4 of the paper for S; keras.applications
#: for B0-B3, M and L).
STAGES_V2 = {
    "b": _V2_BASE,
    "s": (
        ("fused", 3, 2, 24, 24, 1, 1, 0.0), ("fused", 3, 4, 24, 48, 4, 2, 0.0),
        ("fused", 3, 4, 48, 64, 4, 2, 0.0), ("mb", 3, 6, 64, 128, 4, 2, 0.25),
        ("mb", 3, 9, 128, 160, 6, 1, 0.25),
        ("mb", 3, 15, 160, 256, 6, 2, 0.25),
    ),
    "m": (
        ("fused", 3, 3, 24, 24, 1, 1, 0.0), ("fused", 3, 5, 24, 48, 4, 2, 0.0),
        ("fused", 3, 5, 48, 80, 4, 2, 0.0), ("mb", 3, 7, 80, 160, 4, 2, 0.25),
        ("mb", 3, 14, 160, 176, 6, 1, 0.25),
        ("mb", 3, 18, 176, 304, 6, 2, 0.25),
        ("mb", 3, 5, 304, 512, 6, 1, 0.25),
    ),
    "l": (
        ("fused", 3, 4, 32, 32, 1, 1, 0.0), ("fused", 3, 7, 32, 64, 4, 2, 0.0),
        ("fused", 3, 7, 64, 96, 4, 2, 0.0), ("mb", 3, 10, 96, 192, 4, 2, 0.25),
        ("mb", 3, 19, 192, 224, 6, 1, 0.25),
        ("mb", 3, 25, 224, 384, 6, 2, 0.25),
        ("mb", 3, 7, 384, 640, 6, 1, 0.25),
    ),
}


def block_names(stage, repeat, naming="v1"):
    """keras.applications' layer names of a block, by role: `expand`,
    `expand_bn`, `dw`, `dw_bn`, `se`, `project`, `project_bn`, ... of
    block `repeat` (from 0) of stage `stage` (from 0): `block2a_expand_conv`,
    `block2a_dwconv` (`dwconv2` with `naming="v2"`), ..."""
    prefix = f"block{stage + 1}{chr(97 + repeat)}_"
    return {key: prefix + value for key, value in {
        "expand": "expand_conv", "expand_bn": "expand_bn",
        "expand_act": "expand_activation",
        "dw": "dwconv2" if naming == "v2" else "dwconv",
        "dw_bn": "bn", "dw_act": "activation", "se": "se",
        "project": "project_conv", "project_bn": "project_bn",
        "project_act": "project_activation", "prefix": ""}.items()}


@keras.saving.register_keras_serializable(package="zoo")
class EfficientNetBackbone(Backbone):
    """EfficientNet, EfficientNet-Lite or EfficientNetV2 feature extractor.

    Args:
        stages: sequence of `(block, kernel, repeats, filters_in,
            filters_out, expand_ratio, stride, se_ratio)`, one per stage
            (`STAGES_V1`, `STAGES_V2[...]`); `block` is `"mb"` or `"fused"`.
        width_coefficient: float, channel multiplier.
        depth_coefficient: float, repeat multiplier (rounded up).
        stem_filters: int, stem width before scaling (the first stage's
            `filters_in`).
        head_filters: int, head convolution width before scaling.
        fix_stem_head: bool, leave the stem, the head and the first and last
            stages' repeats unscaled (EfficientNet-Lite).
        round_limit: float, channel rounding never goes below this fraction
            of the scaled width (0.9; EfficientNetV2: 0).
        activation: one of `ACTIVATIONS` (`"swish"`; Lite: `"relu6"`).
        use_se: bool, build the squeeze-excitation the table asks for.
        se_ratio: float or None, the squeeze-excitation ratio of every
            block in place of the table's (0: none; the Model Garden's
            `se_ratio`).
        se_activation: the squeeze-excitation's inner activation (default:
            `activation`; the Model Garden's EfficientNet uses `"relu"`).
        padding: `"same"` (TensorFlow's) or `"symmetric"` (PyTorch's).
        naming: `"v1"` or `"v2"`, keras.applications' layer names.
        drop_path_rate: float, stochastic depth at the last block, rising
            linearly from 0 (`drop_path_schedule="linear"`), or in every
            block (`"constant"`, the Model Garden's).
        bn_epsilon, bn_momentum: of every batch norm.
        input_shape: `(height, width, channels)`; None dims are dynamic.
        data_format: `"channels_last"` or `"channels_first"` (default: Keras'
            setting).
        features_only: output the pyramid `{"C2".."C5"}` instead.
        dtype: dtype policy of every layer.

    Call args:
        images: `[batch, height, width, channels]` (channels_last), already
            preprocessed (see the presets' preprocessing).

    Returns:
        `[batch, height / 32, width / 32, head channels]`, or the pyramid.
    """

    family = "efficientnet"
    input_conv_layer = "stem_conv"

    def __init__(
        self,
        stages=STAGES_V1,
        width_coefficient=1.0,
        depth_coefficient=1.0,
        stem_filters=None,
        head_filters=1280,
        fix_stem_head=False,
        round_limit=0.9,
        activation="swish",
        use_se=True,
        se_ratio=None,
        se_activation=None,
        padding="same",
        naming="v1",
        drop_path_rate=0.0,
        drop_path_schedule="linear",
        bn_epsilon=1e-3,
        bn_momentum=0.99,
        input_shape=(None, None, 3),
        data_format=None,
        features_only=False,
        dtype=None,
        **kwargs,
    ):
        owner = type(self).__name__
        input_shape, data_format, images = image_input(owner, input_shape,
                                                       data_format)
        check_choice(owner, "activation", activation, ACTIVATIONS)
        check_choice(owner, "padding", padding, PADDINGS)
        check_choice(owner, "naming", naming, ("v1", "v2"))
        check_choice(owner, "drop_path_schedule", drop_path_schedule,
                     DROP_PATH_SCHEDULES)
        if se_activation is not None:
            check_choice(owner, "se_activation", se_activation, ACTIVATIONS)
        if se_ratio is not None and not 0 <= se_ratio <= 1:
            raise ValueError(
                f"{owner}: se_ratio={se_ratio} must be in [0, 1].")
        stages = [list(stage) for stage in stages]
        for stage in stages:
            if len(stage) != 8 or stage[0] not in BLOCK_TYPES:
                raise ValueError(
                    f"{owner}: every stage is (block, kernel, repeats, "
                    "filters_in, filters_out, expand_ratio, stride, "
                    f"se_ratio) with block in {list(BLOCK_TYPES)}; got "
                    f"{stage}.")
        if width_coefficient <= 0 or depth_coefficient <= 0:
            raise ValueError(
                f"{owner}: width_coefficient and depth_coefficient must be "
                f"positive, got {width_coefficient} and {depth_coefficient}.")
        if stem_filters is None:
            stem_filters = stages[0][3]

        def channels(filters):
            return make_divisible(filters * width_coefficient, 8,
                                  round_limit=round_limit)

        def repeats(index, count):
            if fix_stem_head and index in (0, len(stages) - 1):
                return count
            return int(math.ceil(depth_coefficient * count))

        b = ConvBuilder(data_format, padding, bn_epsilon, bn_momentum,
                        activation, dtype)
        x = b.conv_bn_act(
            images, stem_filters if fix_stem_head else channels(stem_filters),
            3, 2, "stem_conv", "stem_bn", "stem_activation")

        plan = [(i, j) for i, stage in enumerate(stages)
                for j in range(repeats(i, stage[2]))]
        rates = drop_rates(drop_path_rate, len(plan), drop_path_schedule)
        pyramid, feature_info, stride = {}, [], 2
        for index, (i, j) in enumerate(plan):
            block, kernel, _, _, filters_out, expand, strides, se = stages[i]
            se = se if se_ratio is None else se_ratio
            strides = strides if j == 0 else 1
            if strides > 1 and stride >= 4:
                level = int(math.log2(stride))
                pyramid[f"C{level}"] = x
                feature_info.append({"name": f"C{level}",
                                     "channels": b.channels(x),
                                     "stride": stride})
            stride *= strides
            names = block_names(i, j, naming)
            se_inner = (max(1, int(b.channels(x) * se))
                        if use_se and 0 < se <= 1 else 0)
            if block == "fused":
                x = fused_inverted_residual(
                    b, x, channels(filters_out), kernel_size=kernel,
                    strides=strides, expand_ratio=expand, se_inner=se_inner,
                    se_activation=se_activation, drop_rate=rates[index],
                    names=names)
            else:
                x = inverted_residual(
                    b, x, channels(filters_out), kernel_size=kernel,
                    strides=strides, expand_ratio=expand, se_inner=se_inner,
                    se_activation=se_activation, drop_rate=rates[index],
                    names=names)
        pyramid["C5"] = x
        feature_info.append({"name": "C5", "channels": b.channels(x),
                             "stride": stride})
        if stride != 32 or len(pyramid) != 4:
            raise ValueError(
                f"{owner}: the stages reach stride {stride} with levels "
                f"{sorted(pyramid)}; C2..C5 need strides 4, 8, 16 and 32.")
        x = b.conv_bn_act(
            x, head_filters if fix_stem_head else channels(head_filters), 1,
            1, "top_conv", "top_bn", "top_activation")

        self._init_backbone(inputs=images, outputs=x, pyramid_outputs=pyramid,
                            feature_info=feature_info,
                            features_only=features_only, dtype=dtype,
                            **kwargs)
        self._record_arguments(locals())


# --- Registered variants --------------------------------------------------
#
# (width, depth, resolution, dropout) of each variant: keras.applications'
# EfficientNetB0..B7, the TensorFlow EfficientNet-Lite builder
# (tensorflow/tpu, models/official/efficientnet/lite/
# efficientnet_lite_builder.py)
# and keras.applications' EfficientNetV2 (dropout 0.2 throughout).

V1_SCALES = {
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3), "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
}
LITE_SCALES = {
    "lite0": (1.0, 1.0, 224, 0.2), "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3), "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}
V2_SCALES = {
    "b0": ("b", 1.0, 1.0, 224), "b1": ("b", 1.0, 1.1, 240),
    "b2": ("b", 1.1, 1.2, 260), "b3": ("b", 1.2, 1.4, 300),
    "s": ("s", 1.0, 1.0, 384), "m": ("m", 1.0, 1.0, 480),
    "l": ("l", 1.0, 1.0, 480),
}


def efficientnet(variant, **kwargs):
    """An EfficientNet B0-B7 (`variant` "b0".."b7") backbone."""
    width, depth, size, _ = V1_SCALES[variant]
    return EfficientNetBackbone(**{
        "width_coefficient": width, "depth_coefficient": depth,
        "name": f"efficientnet_{variant}", **kwargs})


def efficientnet_lite(variant, **kwargs):
    """An EfficientNet-Lite0..4 (`variant` "lite0".."lite4") backbone."""
    width, depth, size, _ = LITE_SCALES[variant]
    return EfficientNetBackbone(**{
        "width_coefficient": width, "depth_coefficient": depth,
        "fix_stem_head": True, "activation": "relu6", "use_se": False,
        "name": f"efficientnet_{variant}", **kwargs})


def efficientnet_v2(variant, **kwargs):
    """An EfficientNetV2 (`variant` "b0".."b3", "s", "m", "l") backbone."""
    table, width, depth, size = V2_SCALES[variant]
    return EfficientNetBackbone(**{
        "stages": STAGES_V2[table], "width_coefficient": width,
        "depth_coefficient": depth, "round_limit": 0.0, "naming": "v2",
        "bn_momentum": 0.9, "name": f"efficientnetv2_{variant}", **kwargs})


# {name: (variant, description, default head)}; the dropouts are
# keras.applications' (V2: 0.2 throughout) and the Lite builder's.
register_variants(efficientnet, {
    "efficientnet_b0": ("b0", "EfficientNet-B0: width 1.0, depth 1.0, 224px.",
                        {"dropout": 0.2}),
    "efficientnet_b1": ("b1", "EfficientNet-B1: width 1.0, depth 1.1, 240px.",
                        {"dropout": 0.2}),
    "efficientnet_b2": ("b2", "EfficientNet-B2: width 1.1, depth 1.2, 260px.",
                        {"dropout": 0.3}),
    "efficientnet_b3": ("b3", "EfficientNet-B3: width 1.2, depth 1.4, 300px.",
                        {"dropout": 0.3}),
    "efficientnet_b4": ("b4", "EfficientNet-B4: width 1.4, depth 1.8, 380px.",
                        {"dropout": 0.4}),
    "efficientnet_b5": ("b5", "EfficientNet-B5: width 1.6, depth 2.2, 456px.",
                        {"dropout": 0.4}),
    "efficientnet_b6": ("b6", "EfficientNet-B6: width 1.8, depth 2.6, 528px.",
                        {"dropout": 0.5}),
    "efficientnet_b7": ("b7", "EfficientNet-B7: width 2.0, depth 3.1, 600px.",
                        {"dropout": 0.5}),
})
register_variants(efficientnet_lite, {
    "efficientnet_lite0": ("lite0", "EfficientNet-Lite0: no SE, ReLU6, 224px.",
                           {"dropout": 0.2}),
    "efficientnet_lite1": ("lite1", "EfficientNet-Lite1: no SE, ReLU6, 240px.",
                           {"dropout": 0.2}),
    "efficientnet_lite2": ("lite2", "EfficientNet-Lite2: no SE, ReLU6, 260px.",
                           {"dropout": 0.3}),
    "efficientnet_lite3": ("lite3", "EfficientNet-Lite3: no SE, ReLU6, 280px.",
                           {"dropout": 0.3}),
    "efficientnet_lite4": ("lite4", "EfficientNet-Lite4: no SE, ReLU6, 300px.",
                           {"dropout": 0.3}),
})
register_variants(efficientnet_v2, {
    "efficientnetv2_b0": ("b0", "EfficientNetV2-B0: Fused-MBConv, 224px.",
                          {"dropout": 0.2}),
    "efficientnetv2_b1": ("b1", "EfficientNetV2-B1: Fused-MBConv, 240px.",
                          {"dropout": 0.2}),
    "efficientnetv2_b2": ("b2", "EfficientNetV2-B2: Fused-MBConv, 260px.",
                          {"dropout": 0.2}),
    "efficientnetv2_b3": ("b3", "EfficientNetV2-B3: Fused-MBConv, 300px.",
                          {"dropout": 0.2}),
    "efficientnetv2_s": ("s", "EfficientNetV2-S: Fused-MBConv, 384px.",
                         {"dropout": 0.2}),
    "efficientnetv2_m": ("m", "EfficientNetV2-M: Fused-MBConv, 480px.",
                         {"dropout": 0.2}),
    "efficientnetv2_l": ("l", "EfficientNetV2-L: Fused-MBConv, 480px.",
                         {"dropout": 0.2}),
})
