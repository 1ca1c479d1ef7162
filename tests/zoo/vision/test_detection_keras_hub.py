"""keras-hub's RetinaNet converts: a randomly initialised keras-hub
`RetinaNetObjectDetector` saved with `save_to_preset` loads with
`zoo.from_preset` into a zoo `ObjectDetector` with keras-hub's parameter
count, the same class scores and decoded boxes before NMS (within 1e-4)
and the same detections after it."""

import keras
import numpy as np
import pytest

import zoo
import zoo_ops

SIZE = (128, 128)


def _keras_hub_detector(use_p5=False, head_norm=False, fpn_norm=False):
    import keras_hub
    from keras_hub.src.layers.modeling.non_max_supression import (
        NonMaxSuppression,
    )

    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16, 16, 32],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block", image_shape=SIZE + (3,))
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=3, max_level=7, use_p5=use_p5,
        use_fpn_batch_norm=fpn_norm, image_shape=SIZE + (3,))
    converter = keras_hub.layers.RetinaNetImageConverter(
        image_size=SIZE, scale=1 / 255.0)
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(
        image_converter=converter)
    detector = keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=3, preprocessor=preprocessor,
        use_prediction_head_norm=head_norm,
        prediction_decoder=NonMaxSuppression(
            bounding_box_format="yxyx", from_logits=True,
            confidence_threshold=0.3, iou_threshold=0.5, max_detections=50))
    # keras-hub's random predictors give logits and box offsets far beyond
    # a trained detector's (scores all 1.0, boxes e^70 anchors wide):
    # scaled to a trained model's range, so that scores are distinct and
    # boxes finite.
    for head, factor in ((detector.box_head, 0.02),
                         (detector.classification_head, 0.05)):
        kernel = head.prediction_layer.kernel
        kernel.assign(kernel * factor)
    rng = np.random.default_rng(0)
    for layer in detector.backbone.image_encoder.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5,
                                                     layer.moving_variance.shape))
    return detector


def _numpy(tree):
    return {k: keras.ops.convert_to_numpy(v) for k, v in tree.items()}


@pytest.mark.parametrize("use_p5, head_norm", [(False, False), (True, True)],
                         ids=["p6_from_p5", "p6_from_c5_group_norm"])
def test_keras_hub_retinanet_preset_gives_its_boxes_and_detections(
        tmp_path, use_p5, head_norm):
    reference = _keras_hub_detector(use_p5=use_p5, head_norm=head_norm)
    reference.save_to_preset(str(tmp_path / "preset"))
    det = zoo.from_preset(str(tmp_path / "preset"))
    assert isinstance(det, zoo.ObjectDetector)
    assert det.count_params() == reference.count_params()
    assert (det.fpn_coarser_input, det.head_norm) == (
        ("c5", "group") if use_p5 else ("p5", None))
    # keras-hub's x / 255 as zoo's (x - 0) / 255.
    np.testing.assert_allclose(det.preprocessor.std, [255.0] * 3)
    np.testing.assert_allclose(det.preprocessor.mean, [0.0] * 3, atol=1e-12)

    images = np.random.default_rng(1).normal(
        0, 1, (2,) + SIZE + (3,)).astype("float32")
    theirs = _numpy(reference(images))
    ours = _numpy(det(images, training=False))
    np.testing.assert_allclose(
        1 / (1 + np.exp(-ours["cls_outputs"])),
        1 / (1 + np.exp(-theirs["cls_logits"])), atol=1e-4)
    anchors = reference.anchor_generator(images)
    anchors = keras.ops.concatenate(list(anchors.values()), axis=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(anchors),
                                  det.anchors)
    their_boxes = keras.utils.bounding_boxes.decode_deltas_to_boxes(
        anchors=anchors, boxes_delta=theirs["bbox_regression"],
        encoded_format="center_xywh", anchor_format="yxyx",
        box_format="yxyx", image_shape=SIZE + (3,))
    our_boxes = zoo_ops.decode_boxes(ours["box_outputs"], det.anchors[None])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(our_boxes),
                               keras.ops.convert_to_numpy(their_boxes),
                               atol=1e-4)

    found = _numpy(det.decode(ours))
    expected = _numpy(reference.decode_predictions(theirs, images))
    np.testing.assert_array_equal(found["num_detections"],
                                  expected["num_detections"])
    assert (found["num_detections"] > 5).all()
    for i, n in enumerate(found["num_detections"]):
        np.testing.assert_array_equal(found["classes"][i, :n],
                                      expected["labels"][i, :n])
        np.testing.assert_allclose(found["scores"][i, :n],
                                   expected["confidence"][i, :n], atol=1e-4)
        np.testing.assert_allclose(found["boxes"][i, :n],
                                   expected["boxes"][i, :n], atol=1e-4)


@pytest.mark.one_backend
def test_a_keras_hub_fpn_with_batch_norms_is_refused():
    from zoo.convert.keras_hub.retinanet import KerasHubRetinaNet
    from zoo.errors import WeightsError

    reference = _keras_hub_detector(fpn_norm=True)
    with pytest.raises(WeightsError, match="use_fpn_batch_norm=True"):
        KerasHubRetinaNet().detector_arguments(reference)


@pytest.mark.one_backend
def test_image_size_and_refusals_of_a_keras_hub_detector_preset(tmp_path):
    from zoo.errors import PresetError

    reference = _keras_hub_detector()
    reference.save_to_preset(str(tmp_path / "preset"))
    det = zoo.from_preset(str(tmp_path / "preset"), image_size=256)
    assert det.image_size == (256, 256)
    assert isinstance(det.preprocessor, zoo.DetectionPreprocessor)
    assert det.preprocessor.image_size == (256, 256)
    with pytest.raises(PresetError, match="converts as it is"):
        zoo.from_preset(str(tmp_path / "preset"), num_classes=5)


@pytest.mark.one_backend
def test_the_coco_preset_is_keras_hubs_layout_and_a_preset_directory_loads(
        tmp_path):
    """`retinanet_resnet50_fpn_coco` and `_v2_coco` (keras-hub's handles)
    build offline with keras-hub's published counts and 800x800 grid; a preset file whose
    weights are a keras-hub preset directory loads through that
    directory's format."""
    det = zoo.from_preset("retinanet_resnet50_fpn_coco", load_weights=False)
    assert det.count_params() == 34_121_239
    assert det.anchors.shape == (9 * (100 ** 2 + 50 ** 2 + 25 ** 2 + 13 ** 2
                                      + 7 ** 2), 4)
    assert isinstance(det.preprocessor, zoo.DetectionPreprocessor)
    assert det.preprocessor.image_size == (800, 800)
    # `_v2_coco`: P6 from C5 and group norms in the head. keras-hub's table
    # (31,558,592) counts its RetinaNetBackbone, ResNet-50 and the FPN,
    # without the head; the trainable count is torchvision's 38,198,935.
    v2 = zoo.from_preset("retinanet_resnet50_fpn_v2_coco", load_weights=False)
    head = sum(layer.count_params() for layer in v2.layers
               if layer.name.startswith("head_"))
    assert v2.count_params() - head == 31_558_592
    assert sum(int(np.prod(w.shape)) for w in v2.trainable_weights) == (
        38_198_935)
    assert v2.anchors.shape == det.anchors.shape

    reference = _keras_hub_detector()
    reference.save_to_preset(str(tmp_path / "kh"))
    spec = tmp_path / "local.yaml"
    spec.write_text(
        "name: local_retinanet\nkind: object_detector\n"
        "architecture: retinanet_resnet50_fpn\nnum_classes: 3\n"
        f"weights: {{uri: {tmp_path / 'kh'}, converter: keras_hub}}\n")
    loaded = zoo.from_preset(str(spec))
    assert loaded.count_params() == reference.count_params()
    images = np.random.default_rng(2).normal(
        0, 1, (1,) + SIZE + (3,)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)["cls_outputs"]),
        keras.ops.convert_to_numpy(reference(images)["cls_logits"]),
        atol=1e-4)
