"""RetinaNet's peer: keras-hub's `RetinaNetObjectDetector` on a keras-hub
ResNet of the zoo detector's layout, at its input size, with its classes,
anchors and the zoo detector's NMS thresholds and detection count.

The two differ where their libraries do (docs/detection.md): the Model
Garden's layout of the zoo detector has batch norms in the FPN and head
(46,080 more weights at ResNet-50) and class-wise NMS over the top 5,000
(anchor, class) pairs of each level; keras-hub's has no norms and one
class-agnostic NMS over every anchor's best class. A zoo detector built in
keras-hub's layout (`fpn_norm=False, head_norm="none",
anchor_style="keras_hub", nms_class_agnostic=True, clip_boxes=False`) does
the same work as the peer.
"""

import functools

import keras

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer


@register_peer("retinanet", "keras_hub")
def keras_hub_retinanet(name, zoo_model):
    """keras-hub's RetinaNet with the zoo detector's backbone, levels,
    anchors, classes and NMS settings."""
    import keras_hub
    from keras_hub.src.layers.modeling.non_max_supression import (
        NonMaxSuppression,
    )

    from zoo.convert import find_converter
    from zoo.errors import WeightsError

    det = zoo_model
    try:
        arguments = find_converter("keras_hub", family="resnet").source_config(
            det.backbone)
    except WeightsError as error:
        raise BenchError(str(error)) from None
    if det.decoder_filters != 256 or det.head_filters != 256:
        raise BenchError(
            "keras-hub's RetinaNet has 256-channel FPN and head only; "
            f"{name!r} has {det.decoder_filters} and {det.head_filters}.")
    shape = tuple(det.image_size) + (3,)
    encoder = keras_hub.models.ResNetBackbone(**{**arguments,
                                                 "image_shape": shape})
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=det.min_level,
        max_level=det.max_level,
        use_p5=det.fpn_coarser_input == "c5", image_shape=shape)
    anchors = keras_hub.layers.AnchorGenerator(
        "yxyx", min_level=det.min_level, max_level=det.max_level,
        num_scales=det.num_scales, aspect_ratios=list(det.aspect_ratios),
        anchor_size=det.anchor_size)
    peer = keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=det.num_classes,
        anchor_generator=anchors,
        pre_logits_num_conv_layers=det.head_num_convs,
        use_prediction_head_norm=det.head_norm == "group",
        prediction_decoder=NonMaxSuppression(
            bounding_box_format="yxyx", from_logits=True,
            iou_threshold=det.nms_iou_threshold,
            confidence_threshold=det.pre_nms_score_threshold,
            max_detections=det.max_num_detections))
    # keras-hub 0.32's decode_predictions unpacks `(images, labels)`, and
    # predict_on_batch (the step zoo bench times) hands it `(images,)`:
    # unwrapped here, the work done is the same.
    decode = peer.decode_predictions

    def decode_predictions(predictions, data):
        if isinstance(data, (list, tuple)) and len(data) == 1:
            data = data[0]
        return decode(predictions, data)

    peer.decode_predictions = decode_predictions
    # Its train_on_batch converts the labels to one tensor, and detection
    # labels are a dict of boxes and classes; without a preprocessor it is
    # Keras' own train_on_batch, called here directly.
    peer.train_on_batch = functools.partial(keras.Model.train_on_batch, peer)
    return peer, "keras_hub.models.RetinaNetObjectDetector"
