"""ResNet (He et al. 2015) with the v1.5, ResNet-D and squeeze-excitation options.

Read top to bottom: the stem, the two residual blocks, the backbone class,
then the registered variants.

Variants of the block (`block_variant`):

- `"v1"`: the stride of a bottleneck sits in its first 1x1 convolution, as in
  the paper and `keras.applications.ResNet50`;
- `"v1.5"` (default): the stride sits in the 3x3 convolution, as in
  torchvision, timm, keras-hub and the Model Garden; about 0.5% more top-1.

ResNet-D (He et al. 2018, "Bag of Tricks") is `stem_type="deep"` (three 3x3
convolutions instead of one 7x7) plus `avg_down=True` (2x2 average pooling
before the 1x1 projection of a strided shortcut). `se_ratio > 0` adds
squeeze-excitation after the last convolution of every block, reduced to
`se_ratio` times the block's output channels (1/16 is SE-ResNet; ResNet-RS's
0.25 of the bottleneck width is the same 1/16). `drop_path_rate` is stochastic
depth, rising linearly from 0 at the first block to the rate at the last.

Convolutions carry no bias (every one is followed by batch norm), so the
trainable parameter counts equal the published ones (torchvision: resnet50
25,557,032).

Layer names, used by the converters in `zoo/convert/`: `stem_conv{i}`,
`stem_bn{i}`, `stage{s}_block{b}_conv{i}`, `stage{s}_block{b}_bn{i}`,
`stage{s}_block{b}_shortcut_conv`, `stage{s}_block{b}_shortcut_bn`,
`stage{s}_block{b}_se`, with stages numbered 2..5 like the pyramid levels
C2..C5 and blocks from 1.
"""

import keras
from keras import layers

from zoo.backbone import Backbone
from zoo.layers import DropPath, SqueezeExcite
from zoo.layers.squeeze_excite import make_divisible
from zoo.registry import register_family, register_variants
from zoo.vision.blocks import ConvBuilder, check_choice, image_input

FAMILY = register_family(
    "resnet", modality="vision", task="image_classifier", num_classes=1000,
    paper="He et al. 2015, Deep Residual Learning for Image Recognition, "
          "https://arxiv.org/abs/1512.03385")

BLOCK_TYPES = ("basic", "bottleneck")
ACTIVATIONS = ("relu", "swish", "silu", "gelu")
BLOCK_VARIANTS = ("v1", "v1.5")
STEM_TYPES = ("basic", "deep")
EXPANSION = {"basic": 1, "bottleneck": 4}
#: Output strides of a dilated ResNet (`output_stride`).
OUTPUT_STRIDES = (8, 16, 32)


class _Builder(ConvBuilder):
    """`ConvBuilder` with ResNet's conventions: PyTorch's symmetric padding
    (Keras' "same" puts the odd pixel of a strided convolution on the
    bottom/right, torch pads both sides equally, so weights trained in
    either framework transfer exactly) and `relu` for the block
    activation."""

    def __init__(self, data_format, bn_epsilon, bn_momentum, dtype,
                 activation="relu", bn_trainable=True):
        super().__init__(data_format, "symmetric", bn_epsilon, bn_momentum,
                         activation, dtype, bn_trainable)

    def relu(self, x, name):
        """The block activation (ReLU unless `activation` says otherwise)."""
        return self.act(x, name)


def _stem(b, x, stem_type, stem_width, replace_stem_pool=False):
    if stem_type == "basic":
        x = b.conv(x, stem_width, 7, 2, "stem_conv1")
        x = b.relu(b.bn(x, "stem_bn1"), "stem_relu1")
    else:
        widths = (stem_width, stem_width, 2 * stem_width)
        for i, width in enumerate(widths, start=1):
            x = b.conv(x, width, 3, 2 if i == 1 else 1, f"stem_conv{i}")
            x = b.relu(b.bn(x, f"stem_bn{i}"), f"stem_relu{i}")
    if replace_stem_pool:
        # ResNet-RS: a strided 3x3 convolution in place of the max pool.
        x = b.conv(x, b.channels(x), 3, 2, "stem_pool_conv")
        return b.relu(b.bn(x, "stem_pool_bn"), "stem_pool_relu")
    # Zero padding is exact for max pooling here: the input is post-ReLU.
    x = layers.ZeroPadding2D(
        1, data_format=b.data_format, dtype=b.dtype, name="stem_pool_pad"
    )(x)
    return layers.MaxPooling2D(
        3, strides=2, data_format=b.data_format, dtype=b.dtype, name="stem_pool"
    )(x)


def _shortcut(b, x, out_channels, stride, avg_down, name):
    if stride == 1 and b.channels(x) == out_channels:
        return x
    conv_stride = stride
    if (avg_down and stride > 1) or avg_down == "all":
        # "same" average pooling excludes the padding from the mean, like
        # torch's AvgPool2d(ceil_mode=True, count_include_pad=False).
        # avg_down="all" also pools (2x2, stride 1) before the first
        # stage's projection, as the Model Garden's `resnetd_shortcut` does.
        x = layers.AveragePooling2D(
            2,
            strides=stride,
            padding="same",
            data_format=b.data_format,
            dtype=b.dtype,
            name=f"{name}_shortcut_pool",
        )(x)
        conv_stride = 1
    x = b.conv(x, out_channels, 1, conv_stride, f"{name}_shortcut_conv")
    return b.bn(x, f"{name}_shortcut_bn")


def _block_end(b, x, shortcut, se_ratio, drop_path, name):
    out_channels = b.channels(x)
    if se_ratio > 0:
        x = SqueezeExcite(
            make_divisible(out_channels * se_ratio, 8),
            data_format=b.data_format,
            dtype=b.dtype,
            name=f"{name}_se",
        )(x)
    if drop_path > 0:
        x = DropPath(drop_path, dtype=b.dtype, name=f"{name}_drop_path")(x)
    x = layers.Add(dtype=b.dtype, name=f"{name}_add")([shortcut, x])
    return b.relu(x, f"{name}_out")


def basic_block(b, x, filters, stride, variant, avg_down, se_ratio,
                drop_path, zero_init_residual, name, dilation=1):
    """Two 3x3 convolutions (ResNet-18/34), both dilated by `dilation`.
    `variant` does not apply."""
    del variant
    shortcut = _shortcut(b, x, filters, stride, avg_down, name)
    x = b.conv(x, filters, 3, stride, f"{name}_conv1",
               dilation_rate=dilation)
    x = b.relu(b.bn(x, f"{name}_bn1"), f"{name}_relu1")
    x = b.conv(x, filters, 3, 1, f"{name}_conv2", dilation_rate=dilation)
    x = b.bn(x, f"{name}_bn2", zero_init=zero_init_residual)
    return _block_end(b, x, shortcut, se_ratio, drop_path, name)


def bottleneck_block(b, x, filters, stride, variant, avg_down, se_ratio,
                     drop_path, zero_init_residual, name, dilation=1):
    """1x1 reduce, 3x3 (dilated by `dilation`), 1x1 expand to `4 * filters`
    (ResNet-50 and up)."""
    out_channels = 4 * filters
    shortcut = _shortcut(b, x, out_channels, stride, avg_down, name)
    stride1, stride3 = (stride, 1) if variant == "v1" else (1, stride)
    x = b.conv(x, filters, 1, stride1, f"{name}_conv1")
    x = b.relu(b.bn(x, f"{name}_bn1"), f"{name}_relu1")
    x = b.conv(x, filters, 3, stride3, f"{name}_conv2",
               dilation_rate=dilation)
    x = b.relu(b.bn(x, f"{name}_bn2"), f"{name}_relu2")
    x = b.conv(x, out_channels, 1, 1, f"{name}_conv3")
    x = b.bn(x, f"{name}_bn3", zero_init=zero_init_residual)
    return _block_end(b, x, shortcut, se_ratio, drop_path, name)


@keras.saving.register_keras_serializable(package="zoo")
class ResNetBackbone(Backbone):
    """ResNet feature extractor: images -> C5 feature map (or C2..C5).

    Args:
        stage_blocks: list of int, blocks per stage (`[3, 4, 6, 3]` is
            ResNet-50).
        block_type: `"basic"` (two 3x3) or `"bottleneck"` (1x1-3x3-1x1, x4).
        stage_filters: list of int, base width per stage.
        block_variant: `"v1"` (stride in the first 1x1, keras.applications) or
            `"v1.5"` (stride in the 3x3, torchvision/timm/Model Garden).
        stem_type: `"basic"` (7x7) or `"deep"` (three 3x3, ResNet-D).
        stem_width: int, channels of the stem (deep stems end at twice this).
        avg_down: bool, average-pool before strided 1x1 shortcuts (ResNet-D);
            `"all"`: before every projection shortcut, the stride-1 one of
            the first stage too (the Model Garden's `resnetd_shortcut`).
        replace_stem_pool: bool, a strided 3x3 convolution (with batch norm
            and activation) instead of the stem's max pool (ResNet-RS, the
            Model Garden's `replace_stem_max_pool`).
        se_ratio: float, squeeze-excitation width relative to each block's
            output channels; 0 disables it.
        drop_path_rate: float, stochastic depth rate of the last block.
        zero_init_residual: bool, start each block's last batch-norm gamma at 0.
        bn_epsilon: float, batch-norm epsilon (torch 1e-5; keras.applications
            1.001e-5).
        bn_momentum: float, batch-norm moving-average momentum (Keras meaning:
            0.9 equals torch's 0.1).
        bn_trainable: bool, False freezes every batch norm (gamma, beta and
            statistics), as the Model Garden's `bn_trainable`.
        activation: `"relu"` (default) or `"swish"`, after every batch norm
            that is followed by one (ResNet-RS and the Model Garden's
            `norm_activation.activation`).
        output_stride: int, 32 (default), 16 or 8: the stages that would
            take the stride past it keep stride 1 and dilate their 3x3
            convolutions instead, 2 in the first such stage and doubling
            after (the Model Garden's `dilated_resnet`, DeepLabV3: every
            block of the stage, its first one too). Weights are the same
            as at 32.
        multigrid: list of int or None, multipliers of the last stage's
            dilation, one per block (DeepLabV3's `[1, 2, 4]`); needs
            `output_stride < 32`.
        input_shape: tuple, `(height, width, channels)`; None dims are dynamic.
        features_only: bool, output `{"C2": ..., "C5": ...}` instead of C5.
        data_format: `"channels_last"` or `"channels_first"`.
        dtype: dtype policy of every layer.

    Call args:
        images: `[batch, height, width, channels]` float, already normalised
            (see `ImagePreprocessor`).

    Returns:
        `[batch, height/32, width/32, num_features]`, or the dict of levels
        C2..C5 at strides 4, 8, 16, 32 when `features_only` (at
        `output_stride` 16: 4, 8, 16, 16; at 8: 4, 8, 8, 8).
    """

    input_conv_layer = "stem_conv1"
    family = "resnet"

    def __init__(
        self,
        stage_blocks=(3, 4, 6, 3),
        block_type="bottleneck",
        stage_filters=(64, 128, 256, 512),
        block_variant="v1.5",
        stem_type="basic",
        stem_width=64,
        avg_down=False,
        replace_stem_pool=False,
        se_ratio=0.0,
        drop_path_rate=0.0,
        zero_init_residual=False,
        bn_epsilon=1e-5,
        bn_momentum=0.9,
        bn_trainable=True,
        activation="relu",
        output_stride=32,
        multigrid=None,
        input_shape=(None, None, 3),
        features_only=False,
        data_format=None,
        dtype=None,
        **kwargs,
    ):
        owner = type(self).__name__
        check_choice(owner, "block_type", block_type, BLOCK_TYPES)
        check_choice(owner, "block_variant", block_variant, BLOCK_VARIANTS)
        check_choice(owner, "stem_type", stem_type, STEM_TYPES)
        check_choice(owner, "activation", activation, ACTIVATIONS)
        check_choice(owner, "avg_down", avg_down, (False, True, "all"))
        if len(stage_blocks) != len(stage_filters):
            raise ValueError(
                "ResNetBackbone: stage_blocks and stage_filters must have the "
                f"same length, got {list(stage_blocks)} and "
                f"{list(stage_filters)}."
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(
                f"ResNetBackbone: drop_path_rate={drop_path_rate} must be in "
                "[0, 1)."
            )
        check_choice(owner, "output_stride", output_stride, OUTPUT_STRIDES)
        if multigrid is not None:
            multigrid = [int(m) for m in multigrid]
            if output_stride == 32:
                raise ValueError(
                    f"ResNetBackbone: multigrid={multigrid} needs a dilated "
                    "last stage (output_stride 16 or 8), got output_stride="
                    "32.")
            if len(multigrid) != stage_blocks[-1] or min(multigrid) < 1:
                raise ValueError(
                    f"ResNetBackbone: multigrid={multigrid} must have one "
                    f"positive int per block of the last stage "
                    f"({stage_blocks[-1]}).")
        input_shape, data_format, images = image_input(owner, input_shape,
                                                       data_format)
        b = _Builder(data_format, bn_epsilon, bn_momentum, dtype,
                     activation=activation, bn_trainable=bn_trainable)
        block_fn = basic_block if block_type == "basic" else bottleneck_block
        total_blocks = sum(stage_blocks)

        x = _stem(b, images, stem_type, stem_width, replace_stem_pool)
        pyramid, feature_info = {}, []
        block_index, stride, dilation = 0, 4, 1
        last_stage = len(stage_blocks) - 1
        for stage_index, (blocks, filters) in enumerate(
            zip(stage_blocks, stage_filters)
        ):
            level = stage_index + 2
            stage_stride = 1 if stage_index == 0 else 2
            if stage_stride > 1 and stride * stage_stride > output_stride:
                stage_stride = 1
                dilation *= 2
            for block in range(blocks):
                rate = 0.0
                if total_blocks > 1:
                    rate = drop_path_rate * block_index / (total_blocks - 1)
                grid = 1
                if multigrid is not None and stage_index == last_stage:
                    grid = multigrid[block]
                x = block_fn(
                    b,
                    x,
                    filters,
                    stage_stride if block == 0 else 1,
                    block_variant,
                    avg_down,
                    se_ratio,
                    rate,
                    zero_init_residual,
                    name=f"stage{level}_block{block + 1}",
                    dilation=dilation * grid,
                )
                block_index += 1
            stride *= stage_stride
            pyramid[f"C{level}"] = x
            feature_info.append(
                {"name": f"C{level}", "channels": b.channels(x),
                 "stride": stride}
            )

        self._init_backbone(inputs=images, outputs=x, pyramid_outputs=pyramid,
                            feature_info=feature_info,
                            features_only=features_only, dtype=dtype,
                            **kwargs)
        self._record_arguments(locals())


# --- Registered variants --------------------------------------------------
#
# Each variant is a `ResNetBackbone`; `zoo.create_model` puts it under
# an `ImageClassifier` (1000 classes unless told otherwise), or returns it
# with `task=None` / `features_only=True`.

DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    # ResNet-RS's deeper ones (Bello et al. 2021; the Model Garden's
    # RESNET_SPECS and timm's resnetrs200..420).
    200: ("bottleneck", (3, 24, 36, 3)),
    270: ("bottleneck", (4, 29, 53, 4)),
    350: ("bottleneck", (4, 36, 72, 4)),
    420: ("bottleneck", (4, 44, 87, 4)),
}


def resnet_backbone(depth, **kwargs):
    """A `ResNetBackbone` of a depth in `DEPTHS`.

    Args:
        depth: int, a key of `DEPTHS` (18 to 420).
        **kwargs: any `ResNetBackbone` argument (`block_variant`,
            `drop_path_rate`, `se_ratio`, `input_shape`, ...).
    """
    if depth not in DEPTHS:
        raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, "
                         f"got {depth}.")
    block_type, stage_blocks = DEPTHS[depth]
    return ResNetBackbone(stage_blocks=stage_blocks, block_type=block_type,
                          **kwargs)


#: Named option sets of the registered variants: ResNet-D (deep stem and
#: average-pool shortcuts), SE-ResNet (1/16 squeeze-excitation) and
#: ResNet-RS (ResNet-D, a strided convolution for the stem's max pool,
#: squeeze-excitation 1/4 of the bottleneck width; timm's resnetrs*).
OPTIONS = {"": {}, "d": {"stem_type": "deep", "stem_width": 32,
                         "avg_down": True},
           "se": {"se_ratio": 1 / 16},
           "rs": {"stem_type": "deep", "stem_width": 32, "avg_down": True,
                  "replace_stem_pool": True, "se_ratio": 0.25}}


def resnet_variant(variant, **kwargs):
    """A `ResNetBackbone` of `variant`: `(depth, key of OPTIONS)`, the
    options overridden by `kwargs`."""
    depth, options = variant
    return resnet_backbone(depth, **{**OPTIONS[options], **kwargs})


# {name: ((depth, options), description, default head)}.
register_variants(resnet_variant, {
    "resnet18": ((18, ""), "ResNet-18: basic blocks [2, 2, 2, 2], 11.7M.", {}),
    "resnet34": ((34, ""), "ResNet-34: basic blocks [3, 4, 6, 3], 21.8M.", {}),
    "resnet50": ((50, ""), "ResNet-50: bottlenecks [3, 4, 6, 3], 25.6M.", {}),
    "resnet101": ((101, ""), "ResNet-101: bottlenecks [3, 4, 23, 3], 44.5M.",
                  {}),
    "resnet152": ((152, ""), "ResNet-152: bottlenecks [3, 8, 36, 3], 60.2M.",
                  {}),
    "resnet18d": ((18, "d"), "ResNet-18-D: deep stem, average-pool "
                  "shortcuts.", {}),
    "resnet34d": ((34, "d"), "ResNet-34-D: deep stem, average-pool "
                  "shortcuts.", {}),
    "resnet50d": ((50, "d"), "ResNet-50-D: deep stem, average-pool "
                  "shortcuts.", {}),
    "resnet101d": ((101, "d"), "ResNet-101-D: deep stem, average-pool "
                   "shortcuts.", {}),
    "seresnet50": ((50, "se"), "SE-ResNet-50: squeeze-excitation (1/16) in "
                   "every bottleneck.", {}),
})
# ResNet-RS: the classifier dropout 0.25 (the Model Garden's
# resnet_rs_imagenet and timm's resnetrs configs).
register_variants(resnet_variant, {
    "resnetrs50": ((50, "rs"), "ResNet-RS-50.", {"dropout": 0.25}),
    "resnetrs101": ((101, "rs"), "ResNet-RS-101.", {"dropout": 0.25}),
    "resnetrs152": ((152, "rs"), "ResNet-RS-152.", {"dropout": 0.25}),
    "resnetrs200": ((200, "rs"), "ResNet-RS-200.", {"dropout": 0.25}),
    "resnetrs270": ((270, "rs"), "ResNet-RS-270.", {"dropout": 0.25}),
    "resnetrs350": ((350, "rs"), "ResNet-RS-350.", {"dropout": 0.25}),
    "resnetrs420": ((420, "rs"), "ResNet-RS-420.", {"dropout": 0.25}),
})
