"""DeepLab's heads, in the Model Garden's layout: ASPP and the DeepLabV3+
decoder.

Chen et al. 2017, "Rethinking Atrous Convolution for Semantic Image
Segmentation" (https://arxiv.org/abs/1706.05587) and Chen et al. 2018,
"Encoder-Decoder with Atrous Separable Convolution"
(https://arxiv.org/abs/1802.02611). The layers follow the Model Garden's
`official/vision/modeling/layers/deeplab.py` (`SpatialPyramidPooling`, v1)
and `official/vision/modeling/heads/segmentation_heads.py`
(`SegmentationHead`), with its config defaults
(`official/vision/configs/decoders.py` `ASPP`,
`official/vision/configs/semantic_segmentation.py` `SegmentationHead`):

- ASPP: a 1x1 branch, one 3x3 branch per dilation rate and an image
  pooling branch (global average, or an average pool of `pool_size`, then
  1x1, resized back bilinearly), every branch convolution without bias and
  followed by batch norm and the activation; concatenated in that order,
  projected by a 1x1 (batch norm, activation), then dropout.
- DeepLabV3+ fusion: the low-level feature map (stride 4) reduced to 48
  channels (1x1, batch norm, activation); the ASPP output resized to it
  bilinearly and concatenated before it; then `num_convs` 3x3
  convolutions (batch norm, activation) and a 1x1 classifier with bias.

ASPP convolutions start from Keras' VarianceScaling (the Model Garden's
`kernel_initializer`), the head's and the classifier's from N(0, 0.01).
"""

import keras

from zoo.layers.conv import Conv2D
from zoo.layers.normalization import BatchNormalization
from zoo.layers.resize import ResizeLike

FUSIONS = (None, "none", "deeplabv3plus")


def _axis(data_format):
    return -1 if data_format == "channels_last" else 1


def _conv_bn_act(x, filters, kernel_size, *, name, dilation_rate=1,
                 initializer="variance_scaling", depthwise=False,
                 activation="relu", norm_momentum=0.99, norm_epsilon=1e-3,
                 data_format=None, dtype=None):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(
            kernel_size, padding="same", dilation_rate=dilation_rate,
            use_bias=False, data_format=data_format, dtype=dtype,
            name=f"{name}_depthwise")(x)
        kernel_size, dilation_rate = 1, 1
    x = Conv2D(
        filters, kernel_size, padding="same", dilation_rate=dilation_rate,
        use_bias=False, kernel_initializer=initializer,
        data_format=data_format, dtype=dtype, name=f"{name}_conv")(x)
    x = BatchNormalization(
        axis=_axis(data_format), momentum=norm_momentum,
        epsilon=norm_epsilon, dtype=dtype, name=f"{name}_bn")(x)
    return keras.layers.Activation(activation, dtype=dtype,
                                   name=f"{name}_act")(x)


def build_aspp(features, *, dilation_rates=(6, 12, 18), num_filters=256,
               pool_size=None, dropout=0.0, use_depthwise_convolution=False,
               activation="relu", norm_momentum=0.99, norm_epsilon=1e-3,
               data_format="channels_last", dtype=None, name="aspp"):
    """Atrous spatial pyramid pooling over one feature map (symbolic).

    Args:
        features: the backbone's feature map at the output stride
            (`[batch, h, w, channels]`).
        dilation_rates: rates of the 3x3 branches (`[6, 12, 18]` at output
            stride 16, `[12, 24, 36]` at 8); empty: the 1x1 and pooling
            branches only (the Model Garden's MobileNet DeepLabV3).
        num_filters: channels of every branch and of the output.
        pool_size: None for global average pooling in the image pooling
            branch, or `(height, width)` of an average pool in feature
            pixels (the Model Garden's `pool_kernel_size` divided by the
            output stride).
        dropout: rate of the dropout after the projection.
        use_depthwise_convolution: the 3x3 branches as depthwise 3x3 then
            1x1.
        activation, norm_momentum, norm_epsilon: of every branch.
        data_format: of `features`.
        dtype: dtype policy of the layers.
        name: prefix of the layer names.

    Returns:
        `[batch, h, w, num_filters]`.
    """
    settings = dict(activation=activation, norm_momentum=norm_momentum,
                    norm_epsilon=norm_epsilon, data_format=data_format,
                    dtype=dtype)
    branches = [_conv_bn_act(features, num_filters, 1, name=f"{name}_1x1",
                             **settings)]
    for i, rate in enumerate(dilation_rates):
        branches.append(_conv_bn_act(
            features, num_filters, 3, dilation_rate=int(rate),
            depthwise=use_depthwise_convolution,
            name=f"{name}_rate{i + 1}", **settings))
    if pool_size is None:
        pooled = keras.layers.GlobalAveragePooling2D(
            data_format=data_format, keepdims=True, dtype=dtype,
            name=f"{name}_pool")(features)
    else:
        pooled = keras.layers.AveragePooling2D(
            tuple(int(p) for p in pool_size), data_format=data_format,
            dtype=dtype, name=f"{name}_pool")(features)
    pooled = _conv_bn_act(pooled, num_filters, 1, name=f"{name}_pool",
                          **settings)
    branches.append(ResizeLike(data_format=data_format, dtype=dtype,
                               name=f"{name}_pool_resize")(
        [pooled, features]))
    x = keras.layers.Concatenate(axis=_axis(data_format), dtype=dtype,
                                 name=f"{name}_concat")(branches)
    x = _conv_bn_act(x, num_filters, 1, name=f"{name}_project", **settings)
    return keras.layers.Dropout(dropout, dtype=dtype,
                                name=f"{name}_dropout")(x)


def build_segmentation_head(features, low_level=None, *, num_classes,
                            feature_fusion="deeplabv3plus",
                            low_level_num_filters=48, num_convs=2,
                            num_filters=256, kernel_size=3,
                            prediction_kernel_size=1, classifier_bias=True,
                            upsample_to=None, activation="relu",
                            norm_momentum=0.99, norm_epsilon=1e-3,
                            data_format="channels_last", dtype=None,
                            name="head"):
    """The Model Garden's `SegmentationHead`: fusion, convs, classifier.

    Args:
        features: the decoder's output (ASPP's) at the output stride.
        low_level: the backbone's stride-4 map, for `"deeplabv3plus"`.
        num_classes: int, channels of the logits.
        feature_fusion: `"deeplabv3plus"`, or `"none"` / None (DeepLabV3:
            convolutions and classifier on `features` directly).
        low_level_num_filters: channels the low-level map is reduced to.
        num_convs, num_filters, kernel_size: the convolutions after the
            fusion (the Model Garden's are 3x3; keras-hub's DeepLabV3+ has
            one 1x1).
        prediction_kernel_size: the classifier's kernel.
        classifier_bias: whether the classifier has a bias (keras-hub's
            has none).
        upsample_to: None, or a map whose size the features are resized to
            (bilinearly) before the classifier (keras-hub's layout: the
            input image); the Model Garden classifies first.
        activation, norm_momentum, norm_epsilon: of the convolutions.
        data_format: of the feature maps.
        dtype: dtype policy of the layers.
        name: prefix of the layer names.

    Returns:
        logits `[batch, h, w, num_classes]` at the low-level map's
        resolution (DeepLabV3+) or the features' (DeepLabV3), or at
        `upsample_to`'s.
    """
    if feature_fusion not in FUSIONS:
        raise ValueError(f"Segmentation head: feature_fusion="
                         f"{feature_fusion!r} is not one of {list(FUSIONS)}.")
    settings = dict(activation=activation, norm_momentum=norm_momentum,
                    norm_epsilon=norm_epsilon, data_format=data_format,
                    dtype=dtype,
                    initializer=keras.initializers.RandomNormal(stddev=0.01))
    x = features
    if feature_fusion == "deeplabv3plus":
        if low_level is None:
            raise ValueError("Segmentation head: deeplabv3plus fusion needs "
                             "the low-level feature map.")
        y = _conv_bn_act(low_level, low_level_num_filters, 1,
                         name=f"{name}_low_level", **settings)
        x = ResizeLike(data_format=data_format, dtype=dtype,
                       name=f"{name}_upsample")([x, y])
        x = keras.layers.Concatenate(axis=_axis(data_format), dtype=dtype,
                                     name=f"{name}_concat")([x, y])
    for i in range(num_convs):
        x = _conv_bn_act(x, num_filters, kernel_size,
                         name=f"{name}_conv{i + 1}", **settings)
    if upsample_to is not None:
        x = ResizeLike(data_format=data_format, dtype=dtype,
                       name=f"{name}_features_resize")([x, upsample_to])
    return Conv2D(
        num_classes, prediction_kernel_size, padding="same",
        use_bias=classifier_bias,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        data_format=data_format, dtype=dtype, name=f"{name}_classifier")(x)
