"""DeepLab's peer: keras-hub's `DeepLabV3ImageSegmenter` on a keras-hub
ResNet of the zoo segmenter's layout, at its input size, with its classes,
ASPP rates and decoder widths.

keras-hub's ResNet has no dilation: its ASPP reads the stride-32 map
(`spatial_pyramid_pooling_key="P5"`) whatever the zoo segmenter's output
stride, and its head is one 1x1 convolution of 256 applied after the
features are upsampled to the low-level map, then the features are
upsampled to the input and classified without bias. The Model Garden's
layout of a zoo segmenter (output stride 16, two 3x3 convolutions at
stride 4, classify then resize) does more work than the peer; a zoo
segmenter built in keras-hub's layout (`output_stride=32,
head_num_convs=1, head_kernel_size=1, classifier_bias=False,
classify_at_input_size=True`, docs/segmentation.md) does the same work
(`zoo/convert/keras_hub/deeplab.py` converts one into the other).
"""

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer


@register_peer("deeplab", "keras_hub")
def keras_hub_deeplab(name, zoo_model):
    """keras-hub's DeepLabV3(+) with the zoo segmenter's ResNet stages, ASPP
    rates, low-level width and classes."""
    import keras_hub

    from zoo.convert import find_converter
    from zoo.errors import WeightsError

    seg = zoo_model
    backbone = seg.backbone
    try:
        arguments = find_converter("keras_hub", family="resnet").source_config(
            backbone)
    except (WeightsError, AttributeError) as error:
        raise BenchError(
            f"keras-hub's DeepLabV3 has ResNet encoders only; {name!r}: "
            f"{error}") from None
    if seg.aspp_filters != 256 or seg.head_filters != 256:
        raise BenchError(
            "keras-hub's DeepLabV3 has 256-channel ASPP and head only; "
            f"{name!r} has {seg.aspp_filters} and {seg.head_filters}.")
    if seg.aspp_use_depthwise_convolution:
        raise BenchError("keras-hub's DeepLabV3 has no depthwise ASPP; "
                         f"{name!r} uses one.")
    shape = tuple(seg.input_shape[1:])
    encoder = keras_hub.models.ResNetBackbone(**{**arguments,
                                                 "image_shape": shape})
    low_level = None
    upsampling = 1
    if seg.feature_fusion:
        low_level = "P" + str(seg.low_level).lstrip("C")
        upsampling = 2 ** (5 - int(low_level[1:]))
    deeplab = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder, spatial_pyramid_pooling_key="P5",
        low_level_feature_key=low_level, upsampling_size=upsampling,
        dilation_rates=list(seg.aspp_dilation_rates),
        projection_filters=seg.low_level_num_filters, image_shape=shape)
    peer = keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=deeplab, num_classes=seg.num_classes)
    return peer, "keras_hub.models.DeepLabV3ImageSegmenter"
