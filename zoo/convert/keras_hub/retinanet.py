"""keras-hub `RetinaNetObjectDetector` -> zoo `ObjectDetector`.

keras-hub's RetinaNet (keras-hub 0.32, `keras_hub/src/models/retinanet/`)
is a ResNet (`RetinaNetBackbone.image_encoder`), an FPN without batch
norms (`use_p5` picks the top post-hoc map or the ResNet's own C5 as the
input of P6), and two towers of 256-wide convolutions shared by the levels
with no norm (or a 32-group norm, `use_prediction_head_norm`); its anchors
are `AnchorGenerator`'s, its boxes are coded `center_xywh` and decoded
without clipping, and its `NonMaxSuppression` is class-agnostic over each
anchor's best class. The zoo detector is built with the matching options
(`fpn_norm=False`, `fpn_coarser_input`, `head_norm`,
`anchor_style="keras_hub"`, `nms_class_agnostic=True`,
`clip_boxes=False`, the NMS thresholds and detection count of keras-hub's
decoder, no per-level top-k), and the weights are renamed:

| keras-hub layer                                   | zoo layer                 |
|---------------------------------------------------|---------------------------|
| `image_encoder` (ResNet)                          | the ResNet backbone (`zoo/convert/keras_hub/resnet.py`) |
| `fpn.lateral_conv_P{l}`                           | `fpn_lateral_{l}`         |
| `fpn.output_conv_P{l}` (backbone levels)          | `fpn_post_hoc_{l}`        |
| `fpn.coarser_P{l}` (above them)                   | `fpn_coarser_{l}`         |
| `{classification,box}_head.conv2d_{i}`            | `head_{class,box}_conv_{i}` |
| `{classification,box}_head.group_norm_{i}`        | `head_{class,box}_group_norm_{i}` |
| `classification_head.logits_layer`                | `head_classes`            |
| `box_head.logits_layer`                           | `head_boxes`, each anchor's 4 outputs reordered from (dx, dy, dw, dh) to zoo's (dy, dx, dh, dw) |
"""

import numpy as np

from zoo.convert import Converter, register_converter
from zoo.errors import WeightsError


def _weights(layer):
    return {v.name: np.asarray(v) for v in layer.weights}


@register_converter
class KerasHubRetinaNet(Converter):
    """keras-hub RetinaNet presets (`RetinaNetBackbone` + the
    `RetinaNetObjectDetector` task)."""

    source = "keras_hub"
    family = "retinanet"
    architectures = ("RetinaNetBackbone",)
    #: The preset loader builds the whole detector (`build_detector`).
    builds_task = True

    def detector_arguments(self, kh, image_size=None):
        """`ObjectDetector` arguments (besides the backbone) of a keras-hub
        detector.

        Raises:
            WeightsError: a keras-hub option zoo has no counterpart of.
        """
        backbone = kh.backbone
        if backbone.use_fpn_batch_norm:
            raise WeightsError(
                "keras-hub RetinaNets with use_fpn_batch_norm=True (batch "
                "norms between the FPN's lateral and output convolutions) "
                "have no zoo counterpart.")
        anchors = kh.anchor_generator
        decoder = kh.prediction_decoder
        if image_size is None:
            shape = tuple(backbone.image_shape)[:2]
            if None in shape:
                converter = getattr(getattr(kh, "preprocessor", None),
                                    "image_converter", None)
                shape = tuple(getattr(converter, "image_size", None) or ())
            if len(shape) != 2 or None in shape:
                raise WeightsError(
                    "The keras-hub RetinaNet takes images of any size; give "
                    "image_size=(height, width) for the zoo detector's "
                    "anchors.")
            image_size = shape
        levels = range(backbone.min_level, backbone.max_level + 1)
        total = sum(int(np.ceil(image_size[0] / 2 ** level))
                    * int(np.ceil(image_size[1] / 2 ** level)) for level in
                    levels) * anchors.num_base_anchors
        return {
            "num_classes": int(kh.num_classes),
            "image_size": tuple(int(s) for s in image_size),
            "min_level": backbone.min_level,
            "max_level": backbone.max_level,
            "num_scales": anchors.num_scales,
            "aspect_ratios": tuple(float(r) for r in anchors.aspect_ratios),
            "anchor_size": float(anchors.anchor_size),
            "decoder_filters": backbone.feature_pyramid.num_filters,
            "head_num_convs": kh.pre_logits_num_conv_layers,
            "head_filters": kh.box_head.num_filters,
            "fpn_norm": False,
            "fpn_coarser_input": "c5" if backbone.use_p5 else "p5",
            "head_norm": "group" if kh.use_prediction_head_norm else None,
            "anchor_style": "keras_hub",
            "nms_class_agnostic": True,
            "clip_boxes": False,
            "pre_nms_top_k": total,
            "pre_nms_score_threshold": float(decoder.confidence_threshold),
            "nms_iou_threshold": float(decoder.iou_threshold),
            "max_num_detections": int(decoder.max_detections),
        }

    def build_detector(self, kh, image_size=None, preprocessor=None):
        """The zoo `ObjectDetector` of a live keras-hub
        `RetinaNetObjectDetector`, with its weights.

        Args:
            kh: the keras-hub detector.
            image_size: the zoo detector's input size (default: keras-hub's
                `image_shape`, else its image converter's size).
            preprocessor: attached to the zoo detector.
        """
        from zoo.convert import find_converter
        from zoo.vision.detection.object_detector import ObjectDetector
        from zoo.weights import assign_state

        arguments = self.detector_arguments(kh, image_size)
        encoder = kh.backbone.image_encoder
        resnet = find_converter("keras_hub", architecture=type(
            encoder).__name__)
        height, width = arguments["image_size"]
        backbone = resnet.build_backbone(encoder,
                                         input_shape=(height, width, 3))
        detector = ObjectDetector(backbone, preprocessor=preprocessor,
                                  **arguments)
        state = {**resnet.convert_weights(encoder, backbone),
                 **self.convert_detector_weights(kh, detector)}
        assign_state(detector, state, source=f"keras-hub {kh.name}")
        return detector

    def convert_detector_weights(self, kh, detector):
        """Zoo weight paths of the FPN and head -> arrays."""
        fpn = kh.backbone.feature_pyramid
        state = {}

        def put(zoo_layer, source_layer, transform=None):
            layer = detector.get_layer(zoo_layer)
            for leaf, array in _weights(source_layer).items():
                state[f"{layer.name}/{leaf}"] = (
                    transform(array) if transform else array)

        for key, layer in fpn.lateral_conv_layers.items():
            put(f"fpn_lateral_{key[1:]}", layer)
        for key, layer in fpn.output_conv_layers.items():
            kind = "coarser" if layer.strides[0] == 2 else "post_hoc"
            put(f"fpn_{kind}_{key[1:]}", layer)
        anchors = kh.anchor_generator.num_base_anchors

        def xywh_to_yxhw(array):
            shape = array.shape
            grouped = array.reshape(shape[:-1] + (anchors, 4))
            return grouped[..., [1, 0, 3, 2]].reshape(shape)

        for tower, head in (("class", kh.classification_head),
                            ("box", kh.box_head)):
            for i, layer in enumerate(head.conv_layers):
                put(f"head_{tower}_conv_{i}", layer)
            for i, layer in enumerate(head.group_norm_layers):
                put(f"head_{tower}_group_norm_{i}", layer)
        put("head_classes", kh.classification_head.prediction_layer)
        put("head_boxes", kh.box_head.prediction_layer, xywh_to_yxhw)
        return state
