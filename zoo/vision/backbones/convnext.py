"""ConvNeXt (Liu et al. 2022): a ResNet modernised towards vision
transformers.

Read top to bottom: the backbone class, then the registered variants.

A 4x4 stride-4 "patchify" stem with layer norm, then four stages, each
after a downsampling layer (layer norm, 2x2 stride-2 convolution) but the
first. A block: 7x7 depthwise convolution, layer norm, 1x1 convolution to 4x
the width, GELU, 1x1 convolution back, LayerScale (`gamma`, 1e-6 at
initialisation), stochastic depth, residual. Every convolution carries a
bias; layer norms use epsilon 1e-6. The classifier head adds a layer norm
after pooling (`ImageClassifier(head_norm="layer_norm")`, which the
registered variants set).

The pointwise layers are 1x1 convolutions (keras.applications and timm
use dense layers on channels-last maps: the same weights, reshaped by the
converters) so that `data_format="channels_first"` works too.

Depths and widths are the paper's (Table 8; keras 3,
`keras/src/applications/convnext.py` has the same). Layer names:
`stem_conv`, `stem_norm`, `stage{s}_downsample_norm`,
`stage{s}_downsample_conv`, `stage{s}_block{b}_{dwconv,norm,pwconv1,
pwconv2,scale}`, stages 2..5 like the pyramid levels C2..C5.
"""

import keras
from keras import layers

from zoo.backbone import Backbone
from zoo.layers import DropPath, LayerScale
from zoo.layers.initializers import HostTruncatedNormal
from zoo.registry import register_family, register_variants
from zoo.vision.blocks import image_input

FAMILY = register_family(
    "convnext", modality="vision", task="image_classifier",
    num_classes=1000,
    paper="Liu et al. 2022, A ConvNet for the 2020s, "
          "https://arxiv.org/abs/2201.03545")


@keras.saving.register_keras_serializable(package="zoo")
class ConvNeXtBackbone(Backbone):
    """ConvNeXt feature extractor.

    Args:
        depths: four ints, blocks per stage.
        widths: four ints, channels per stage.
        layer_scale_init: float, initial LayerScale value (0 or None: no
            LayerScale).
        drop_path_rate: float, stochastic depth at the last block, rising
            linearly from 0 at the first.
        norm_epsilon: float, of every layer norm.
        input_shape: `(height, width, channels)`; None dims are dynamic.
        data_format: `"channels_last"` or `"channels_first"`.
        features_only: output the pyramid `{"C2".."C5"}` instead.
        dtype: dtype policy of every layer.

    Call args:
        images: `[batch, height, width, channels]`, normalised with the
            ImageNet mean and standard deviation.

    Returns:
        `[batch, height / 32, width / 32, widths[-1]]`, or the pyramid.
    """

    family = "convnext"
    input_conv_layer = "stem_conv"

    def __init__(
        self,
        depths=(3, 3, 9, 3),
        widths=(96, 192, 384, 768),
        layer_scale_init=1e-6,
        drop_path_rate=0.0,
        norm_epsilon=1e-6,
        input_shape=(None, None, 3),
        data_format=None,
        features_only=False,
        dtype=None,
        **kwargs,
    ):
        owner = type(self).__name__
        # Valid-padded 4x4 and 2x2 strides: 32 pixels reach the last stage.
        input_shape, data_format, images = image_input(
            owner, input_shape, data_format, min_size=32)
        if len(depths) != 4 or len(widths) != 4:
            raise ValueError(
                f"{owner}: depths and widths take four stages each, got "
                f"depths={list(depths)} and widths={list(widths)}.")
        axis = -1 if data_format == "channels_last" else 1

        def conv(x, filters, kernel, strides, name):
            return layers.Conv2D(
                filters, kernel, strides=strides, data_format=data_format,
                kernel_initializer=HostTruncatedNormal(0.02), dtype=dtype,
                name=name)(x)

        def norm(x, name):
            return layers.LayerNormalization(
                axis=axis, epsilon=norm_epsilon, dtype=dtype, name=name)(x)

        x = norm(conv(images, widths[0], 4, 4, "stem_conv"), "stem_norm")
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        pyramid, feature_info, index = {}, [], 0
        for stage, (depth, width) in enumerate(zip(depths, widths)):
            level = stage + 2
            if stage:
                x = norm(x, f"stage{level}_downsample_norm")
                x = conv(x, width, 2, 2, f"stage{level}_downsample_conv")
            for block in range(depth):
                name = f"stage{level}_block{block + 1}"
                y = layers.DepthwiseConv2D(
                    7, padding="same", data_format=data_format,
                    depthwise_initializer=HostTruncatedNormal(0.02),
                    dtype=dtype, name=f"{name}_dwconv")(x)
                y = norm(y, f"{name}_norm")
                y = conv(y, 4 * width, 1, 1, f"{name}_pwconv1")
                y = layers.Activation("gelu", dtype=dtype,
                                      name=f"{name}_gelu")(y)
                y = conv(y, width, 1, 1, f"{name}_pwconv2")
                if layer_scale_init:
                    y = LayerScale(layer_scale_init, axis=axis, dtype=dtype,
                                   name=f"{name}_scale")(y)
                if rates[index]:
                    y = DropPath(rates[index], dtype=dtype,
                                 name=f"{name}_drop")(y)
                x = layers.Add(dtype=dtype, name=f"{name}_add")([x, y])
                index += 1
            pyramid[f"C{level}"] = x
            feature_info.append({"name": f"C{level}", "channels": int(width),
                                 "stride": 2 ** level})

        self._init_backbone(inputs=images, outputs=x, pyramid_outputs=pyramid,
                            feature_info=feature_info,
                            features_only=features_only, dtype=dtype,
                            **kwargs)
        self._record_arguments(locals())


# --- Registered variants --------------------------------------------------
#
# The classifier head: layer norm after pooling (epsilon 1e-6, the
# classifier's default), no dropout (keras.applications' `Head`).

SIZES = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}


def convnext(size, **kwargs):
    """A `ConvNeXtBackbone` of a size in `SIZES`."""
    depths, widths = SIZES[size]
    return ConvNeXtBackbone(**{"depths": depths, "widths": widths,
                               "name": f"convnext_{size}", **kwargs})


# {name: (size, description, default head)}.
register_variants(convnext, {
    "convnext_tiny": ("tiny", "ConvNeXt-T: depths (3, 3, 9, 3), widths "
                      "96..768, 28.6M.", {"head_norm": "layer_norm"}),
    "convnext_small": ("small", "ConvNeXt-S: depths (3, 3, 27, 3), widths "
                       "96..768, 50.2M.", {"head_norm": "layer_norm"}),
    "convnext_base": ("base", "ConvNeXt-B: depths (3, 3, 27, 3), widths "
                      "128..1024, 88.6M.", {"head_norm": "layer_norm"}),
    "convnext_large": ("large", "ConvNeXt-L: depths (3, 3, 27, 3), widths "
                       "192..1536, 197.8M.", {"head_norm": "layer_norm"}),
    "convnext_xlarge": ("xlarge", "ConvNeXt-XL: depths (3, 3, 27, 3), widths "
                        "256..2048, 350.2M.", {"head_norm": "layer_norm"}),
})
