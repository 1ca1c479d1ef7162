"""keras-hub `DeepLabV3ImageSegmenter` -> zoo `SemanticSegmenter`.

keras-hub's DeepLabV3+ (keras-hub 0.32, `keras_hub/src/models/deeplab_v3/`)
is a ResNet (`DeepLabV3Backbone.image_encoder`, not dilated), ASPP on one of
its levels (`spatial_pyramid_pooling_key`, `"P5"` in its preset) with the
Model Garden's branches, the low-level map reduced to 48 channels and
concatenated after the upsampled ASPP output, one 1x1 convolution of 256
(batch norm, ReLU), the features upsampled to the input and a 1x1
classifier without bias. The zoo segmenter is built with the matching
options (`head_num_convs=1`, `head_kernel_size=1`, `classifier_bias=False`,
`classify_at_input_size=True`, the ResNet at output stride 32), and the
weights are renamed:

| keras-hub layer                                    | zoo layer               |
|----------------------------------------------------|-------------------------|
| `image_encoder` (ResNet)                           | the ResNet backbone (`zoo/convert/keras_hub/resnet.py`) |
| `spatial_pyramid_pooling` branch 0 (`aspp_conv_1`) | `aspp_1x1_{conv,bn}`    |
| branch `i` of the rates (`aspp_conv_{i+2}`)        | `aspp_rate{i+1}_{conv,bn}` |
| the pooling branch (`conv_pooling`, `bn_pooling`)  | `aspp_pool_{conv,bn}`   |
| `conv_projection`, `bn_projection`                 | `aspp_project_{conv,bn}` |
| `decoder_conv`, `decoder_norm`                     | `head_low_level_{conv,bn}` |
| `segmentation_head_conv`, `segmentation_head_norm` | `head_conv1_{conv,bn}`  |
| `segmentation_output`                              | `head_classifier`       |

keras-hub's ASPP sublayers sit in auto-named `Sequential`s, so they are
matched by position, not by name.
"""

import keras
import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError


def _weights(layer):
    return {v.name: np.asarray(v) for v in layer.weights}


def _conv_and_norm(sequential):
    """The convolution and batch norm of one of keras-hub's ASPP
    `Sequential`s."""
    convs = [l for l in sequential.layers if isinstance(l, keras.layers.Conv2D)]
    norms = [l for l in sequential.layers
             if isinstance(l, keras.layers.BatchNormalization)]
    if len(convs) != 1 or len(norms) != 1:
        raise WeightsError(
            f"keras-hub ASPP branch {sequential.name} is not one convolution "
            "and one batch norm.")
    return convs[0], norms[0]


def _pyramid_pooling(backbone):
    """keras-hub's ASPP layer (its name takes a suffix when several
    segmenters are built in one process)."""
    for layer in backbone.layers:
        if type(layer).__name__ == "SpatialPyramidPooling":
            return layer
    raise WeightsError(f"keras-hub {backbone.name} has no "
                       "SpatialPyramidPooling layer.")


@register_converter
class KerasHubDeepLab(Converter):
    """keras-hub DeepLabV3 presets (`DeepLabV3Backbone` + the
    `DeepLabV3ImageSegmenter` task)."""

    source = "keras_hub"
    family = "deeplab"
    architectures = ("DeepLabV3Backbone",)
    #: The preset loader builds the whole segmenter (`build_segmenter`).
    builds_task = True

    def segmenter_arguments(self, kh):
        """`SemanticSegmenter` arguments (besides the backbone) of a
        keras-hub segmenter.

        Raises:
            WeightsError: a keras-hub option zoo has no counterpart of.
        """
        backbone = kh.backbone
        if not backbone.low_level_feature_key:
            raise WeightsError(
                "keras-hub DeepLabV3 without low_level_feature_key (no "
                "decoder) has no zoo counterpart: its two bilinear "
                "upsamplings (x upsampling_size, then the rest) differ "
                "from one resize.")
        if getattr(kh, "activation", None) not in (None, "linear"):
            raise WeightsError(
                f"keras-hub segmenter activation={kh.activation!r}: zoo "
                "segmenters return logits; convert one with "
                "activation=None.")
        spp = _pyramid_pooling(backbone)
        low_level = backbone.get_layer("decoder_conv")
        return {
            "num_classes": int(kh.num_classes),
            "level": str(backbone.spatial_pyramid_pooling_key).replace(
                "P", "C"),
            "low_level": str(backbone.low_level_feature_key).replace(
                "P", "C"),
            "aspp_dilation_rates": [int(r) for r in spp.dilation_rates],
            "aspp_filters": int(spp.num_channels),
            "aspp_dropout": float(spp.dropout),
            "activation": spp.activation,
            "low_level_num_filters": int(low_level.filters),
            "head_num_convs": 1,
            "head_filters": int(backbone.get_layer(
                "segmentation_head_conv").filters),
            "head_kernel_size": 1,
            "classifier_bias": False,
            "classify_at_input_size": True,
        }

    def build_segmenter(self, kh, preprocessor=None):
        """The zoo `SemanticSegmenter` of a live keras-hub
        `DeepLabV3ImageSegmenter`, with its weights.

        Args:
            kh: the keras-hub segmenter.
            preprocessor: attached to the zoo segmenter.
        """
        from zoo.convert import find_converter
        from zoo.vision.segmentation.semantic_segmenter import (
            SemanticSegmenter,
        )
        from zoo.weights import assign_state

        arguments = self.segmenter_arguments(kh)
        encoder = kh.backbone.image_encoder
        resnet = find_converter("keras_hub", architecture=type(
            encoder).__name__)
        shape = tuple(kh.backbone.image_shape)
        backbone = resnet.build_backbone(encoder, input_shape=shape)
        segmenter = SemanticSegmenter(backbone, preprocessor=preprocessor,
                                      **arguments)
        state = {**resnet.convert_weights(encoder, backbone),
                 **self.convert_segmenter_weights(kh, segmenter)}
        assign_state(segmenter, state, source=f"keras-hub {kh.name}")
        return segmenter

    def convert_segmenter_weights(self, kh, segmenter):
        """Zoo weight paths of ASPP, the decoder and the classifier ->
        arrays."""
        backbone = kh.backbone
        state = {}

        def put(zoo_layer, source_layer):
            layer = segmenter.get_layer(zoo_layer)
            for leaf, array in _weights(source_layer).items():
                state[f"{layer.name}/{leaf}"] = array

        spp = _pyramid_pooling(backbone)
        branches = list(spp.aspp_parallel_channels)
        names = (["aspp_1x1"]
                 + [f"aspp_rate{i + 1}" for i in range(len(branches) - 2)]
                 + ["aspp_pool"])
        for name, branch in zip(names, branches):
            conv, norm = _conv_and_norm(branch)
            put(f"{name}_conv", conv)
            put(f"{name}_bn", norm)
        conv, norm = _conv_and_norm(spp.projection)
        put("aspp_project_conv", conv)
        put("aspp_project_bn", norm)
        put("head_low_level_conv", backbone.get_layer("decoder_conv"))
        put("head_low_level_bn", backbone.get_layer("decoder_norm"))
        put("head_conv1_conv", backbone.get_layer("segmentation_head_conv"))
        put("head_conv1_bn", backbone.get_layer("segmentation_head_norm"))
        put("head_classifier", kh.get_layer("segmentation_output"))
        return state
