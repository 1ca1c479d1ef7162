"""RetinaNet: FPN and head layout, parameter counts, the detection generator
against a NumPy rendering of the Model Garden's, boxes mapped back to the
original image, preprocessing, and serialisation round trips."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo_ops
from model_test_case import assert_close
from testing_utils import zero_host_initializers

TINY = dict(num_classes=3, decoder_filters=16, head_filters=16,
            head_num_convs=1, stage_filters=(8, 8, 8, 8))


def _tiny_detector(image_size=(128, 128), **overrides):
    kwargs = {**TINY, **overrides}
    return zoo.create_model("resnet18", task="object_detector",
                            input_shape=image_size + (3,), **kwargs)


@pytest.fixture(scope="module")
def detector():
    return _tiny_detector()


# --- architecture ------------------------------------------------------------


@pytest.mark.one_backend
def test_parameter_count_is_keras_hubs_plus_the_model_gardens_norms(
        monkeypatch):
    """keras-hub's `retinanet_resnet50_fpn_coco` has 34,121,239 parameters
    (its preset table). The Model Garden's layout adds batch norms keras-hub
    does not have: one per FPN level (5 x 256 x 4 weights) and one per level
    and conv in each tower (5 x 4 x 2 x 256 x 4)."""
    zero_host_initializers(monkeypatch)
    model = zoo.create_model("retinanet_resnet50_fpn")
    assert isinstance(model, zoo.ObjectDetector)
    assert model.num_classes == 91 and model.image_size == (640, 640)
    norms = 5 * 256 * 4 + 5 * 4 * 2 * 256 * 4
    assert model.count_params() == 34_121_239 + norms
    # 9 anchors at each cell of 80x80 .. 5x5.
    assert model.anchors.shape == (9 * sum(
        math.ceil(640 / 2 ** level) ** 2 for level in range(3, 8)), 4)
    # In keras-hub's layout (no norms), keras-hub's count exactly.
    keras_hub_layout = zoo.create_model(
        "retinanet_resnet50_fpn", fpn_norm=False, head_norm="none",
        anchor_style="keras_hub", nms_class_agnostic=True, clip_boxes=False)
    assert keras_hub_layout.count_params() == 34_121_239


def test_pyramid_levels_anchors_and_head_initialisation(detector):
    layers = {layer.name: layer for layer in detector.layers}
    fpn_shapes = {level: tuple(layers[f"fpn_norm_{level}"].output.shape[1:])
                  for level in range(3, 8)}
    assert fpn_shapes == {3: (16, 16, 16), 4: (8, 8, 16), 5: (4, 4, 16),
                          6: (2, 2, 16), 7: (1, 1, 16)}
    expected = zoo_ops.flatten_anchors(zoo_ops.generate_anchors((128, 128)))
    np.testing.assert_array_equal(detector.anchors,
                                  keras.ops.convert_to_numpy(expected))
    classes = detector.get_layer("head_classes")
    bias = keras.ops.convert_to_numpy(classes.bias)
    np.testing.assert_allclose(bias, -math.log(99.0), rtol=1e-6)
    assert keras.ops.convert_to_numpy(classes.kernel).std() < 1e-4
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(detector.get_layer("head_boxes").bias), 0)
    # The tower convolutions are shared by the levels, the norms are not.
    convs = [w for w in detector.weights if "head_class_conv_0" in w.path]
    norms = {w.path.split("/")[0] for w in detector.weights
             if "head_class_norm_" in w.path}
    assert len(convs) == 2 and len(norms) == 5
    out = detector(np.zeros((2, 128, 128, 3), "float32"))
    assert tuple(out["cls_outputs"].shape) == (2, detector.anchors.shape[0], 3)
    assert tuple(out["box_outputs"].shape) == (2, detector.anchors.shape[0], 4)
    # The prior: every class probability starts at 0.01.
    probs = keras.ops.convert_to_numpy(keras.ops.sigmoid(out["cls_outputs"]))
    np.testing.assert_allclose(probs, 0.01, atol=2e-3)


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": (100, 128)}, "multiples of 2\\*\\*7 = 128"),
    ({"fusion_type": "max"}, "fusion_type='max' is not one of"),
    ({"min_level": 2, "max_level": 1}, "min_level <= max_level"),
    ({"num_classes": 0}, "num_classes must be a positive int"),
])
def test_bad_configurations_are_named(kwargs, message):
    backbone = zoo.create_model("resnet18", task=None,
                                stage_filters=(8, 8, 8, 8),
                                input_shape=(None, None, 3))
    arguments = {"num_classes": 3, "image_size": (128, 128), **kwargs}
    with pytest.raises(ValueError, match=message):
        zoo.ObjectDetector(backbone, **arguments)


def test_a_free_input_size_needs_image_size():
    backbone = zoo.create_model("resnet18", task=None,
                                stage_filters=(8, 8, 8, 8),
                                input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="need a fixed input size"):
        zoo.ObjectDetector(backbone, num_classes=3)
    det = zoo.ObjectDetector(backbone, num_classes=3, image_size=(256, 128),
                             decoder_filters=8, head_filters=8,
                             head_num_convs=1)
    assert det.anchors.shape[0] == 9 * sum(
        math.ceil(256 / 2 ** l) * math.ceil(128 / 2 ** l) for l in range(3, 8))


# --- the detection generator ---------------------------------------------------


def _iou(box, boxes):
    y1 = np.maximum(box[0], boxes[:, 0])
    x1 = np.maximum(box[1], boxes[:, 1])
    y2 = np.minimum(box[2], boxes[:, 2])
    x2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (area(box) + area(boxes) - inter)


def _decode_boxes(offsets, anchors):
    ha, wa = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    yc = anchors[:, 0] + ha / 2 + offsets[:, 0] * ha
    xc = anchors[:, 1] + wa / 2 + offsets[:, 1] * wa
    h, w = np.exp(offsets[:, 2]) * ha, np.exp(offsets[:, 3]) * wa
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], -1)


def _numpy_detections(logits, offsets, anchors, level_sizes, limit, top_k,
                      threshold, iou_threshold, max_detections):
    """One image, written from the Model Garden's description: sigmoid,
    decode, clip, top-k per level over (anchor, class), threshold, NMS per
    class, best `max_detections` overall."""
    scores = 1 / (1 + np.exp(-logits))
    boxes = np.clip(_decode_boxes(offsets, anchors), 0, limit)
    num_classes = scores.shape[1]
    found = []
    start = 0
    for size in level_sizes:
        flat = scores[start:start + size].reshape(-1)
        order = np.argsort(-flat, kind="stable")[:top_k]
        for index in order:
            if flat[index] > threshold:
                found.append((flat[index], index % num_classes,
                              boxes[start + index // num_classes]))
        start += size
    kept = []
    for cls in range(num_classes):
        mine = sorted([f for f in found if f[1] == cls], key=lambda f: -f[0])
        chosen = []
        for score, _, box in mine:
            if all(_iou(box, c[2][None])[0] <= iou_threshold
                   for c in chosen):
                chosen.append((score, cls, box))
        kept.extend(chosen)
    kept.sort(key=lambda f: -f[0])
    return kept[:max_detections]


def test_detections_equal_a_numpy_rendering_of_the_generator():
    det = _tiny_detector(pre_nms_top_k=40, pre_nms_score_threshold=0.3,
                         nms_iou_threshold=0.5, max_num_detections=25)
    rng = np.random.default_rng(0)
    n = det.anchors.shape[0]
    logits = rng.normal(-1.5, 1.5, (2, n, 3)).astype("float32")
    offsets = rng.normal(0, 0.3, (2, n, 4)).astype("float32")
    out = det.decode({"cls_outputs": logits, "box_outputs": offsets})
    out = {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
    assert out["boxes"].shape == (2, 25, 4)
    for b in range(2):
        expected = _numpy_detections(
            logits[b], offsets[b], det.anchors, det._level_sizes, 128,
            top_k=40, threshold=0.3, iou_threshold=0.5, max_detections=25)
        count = int(out["num_detections"][b])
        assert count == len(expected) > 5
        np.testing.assert_allclose(out["scores"][b, :count],
                                   [e[0] for e in expected], rtol=1e-5)
        np.testing.assert_array_equal(out["classes"][b, :count],
                                      [e[1] for e in expected])
        np.testing.assert_allclose(out["boxes"][b, :count],
                                   np.stack([e[2] for e in expected]),
                                   atol=1e-3)
        assert (out["classes"][b, count:] == -1).all()
        assert (out["scores"][b, count:] == 0).all()


def test_boxes_map_back_to_the_original_image():
    """An anchor scored high with zero offsets is found where the anchor is,
    divided by the preprocessing's scale (160 -> 128: 0.8)."""
    det = _tiny_detector()
    det.preprocessor = zoo.DetectionPreprocessor((128, 128))
    images = np.random.default_rng(1).integers(0, 256, (1, 100, 160, 3),
                                               "uint8")
    ready = det.preprocessor(images)
    info = keras.ops.convert_to_numpy(ready["image_info"])
    np.testing.assert_allclose(info[0], [[100, 160], [80, 128], [0.8, 0.8],
                                         [0, 0]], rtol=1e-6)
    n = det.anchors.shape[0]
    target = int(np.argmin(np.abs(det.anchors - [20, 30, 52, 62]).sum(-1)))
    logits = np.full((1, n, 3), -10.0, "float32")
    logits[0, target, 2] = 5.0
    out = det.decode({"cls_outputs": logits,
                      "box_outputs": np.zeros((1, n, 4), "float32")},
                     ready["image_info"])
    out = {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
    assert int(out["num_detections"][0]) == 1
    assert int(out["classes"][0, 0]) == 2
    anchor = np.clip(det.anchors[target], 0, [80, 128, 80, 128])
    np.testing.assert_allclose(out["boxes"][0, 0], anchor / 0.8, atol=1e-3)
    # predict does the same from the raw image, with the model's own logits.
    predicted = det.predict(images, verbose=0)
    assert predicted["boxes"].shape == (1, 100, 4)
    assert (predicted["boxes"][..., [0, 2]] <= 100).all()
    assert (predicted["boxes"][..., [1, 3]] <= 160).all()


def test_one_batch_of_different_sizes_maps_each_image_back():
    """Two images of other sizes and aspect ratios in one batch (a 100x160
    landscape scaled 0.8, a 256x64 portrait scaled 0.5, as the input
    pipeline's `image_info` says): each image's detection comes back in its
    own pixels, clipped to it."""
    det = _tiny_detector()
    info = np.array([[[100, 160], [80, 128], [0.8, 0.8], [0, 0]],
                     [[256, 64], [128, 32], [0.5, 0.5], [0, 0]]], "float32")
    n = det.anchors.shape[0]
    logits = np.full((2, n, 3), -10.0, "float32")
    targets = [int(np.argmin(np.abs(det.anchors - box).sum(-1)))
               for box in ([20, 30, 52, 62], [60, 0, 92, 32])]
    logits[0, targets[0], 1] = 5.0
    logits[1, targets[1], 0] = 5.0
    out = det.decode({"cls_outputs": logits,
                      "box_outputs": np.zeros((2, n, 4), "float32")}, info)
    out = {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
    np.testing.assert_array_equal(out["num_detections"], [1, 1])
    np.testing.assert_array_equal(out["classes"][:, 0], [1, 0])
    for i, (scaled, scale, original) in enumerate(
            [((80, 128), 0.8, (100, 160)), ((128, 32), 0.5, (256, 64))]):
        limit = np.array(scaled * 2, "float32")
        expected = np.minimum(np.clip(det.anchors[targets[i]], 0, limit)
                              / scale, np.array(original * 2))
        np.testing.assert_allclose(out["boxes"][i, 0], expected, atol=1e-3)
    assert out["boxes"][1, 0, 3] <= 64  # the portrait's width


def test_preprocessor_pads_and_runs_in_tf_data():
    pre = zoo.DetectionPreprocessor((64, 64), mean=(0, 0, 0), std=(1, 1, 1))
    image = np.random.default_rng(2).integers(0, 256, (48, 32, 3), "uint8")
    out = pre(image[None])
    images = keras.ops.convert_to_numpy(out["images"])
    expected = tf.image.resize(image[None].astype("float32") / 255.0,
                               (64, 43)).numpy()
    np.testing.assert_allclose(images[:, :, :43], expected, atol=1e-5)
    np.testing.assert_array_equal(images[:, :, 43:], 0)
    ds = tf.data.Dataset.from_tensor_slices(image[None]).map(pre)
    element = next(iter(ds))
    np.testing.assert_allclose(element["images"].numpy(), images[0],
                               atol=1e-5)
    np.testing.assert_allclose(element["image_info"].numpy(),
                               [[48, 32], [64, 43], [64 / 48, 43 / 32], [0, 0]],
                               rtol=1e-6)
    config = pre.get_config()
    assert zoo.DetectionPreprocessor.from_config(config).image_size == (64, 64)


# --- serialisation -------------------------------------------------------------


def test_keras_file_and_preset_round_trips(detector, tmp_path):
    detector.preprocessor = zoo.DetectionPreprocessor((128, 128))
    images = np.random.default_rng(3).normal(size=(2, 128, 128, 3))
    expected = detector(images)
    path = tmp_path / "det.keras"
    detector.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is zoo.ObjectDetector
    assert loaded.preprocessor.image_size == (128, 128)
    assert_close(loaded(images), expected, atol=1e-6, what=".keras")
    detector.save_to_preset(tmp_path / "preset")
    again = zoo.from_preset(tmp_path / "preset")
    assert type(again) is zoo.ObjectDetector
    assert_close(again(images), expected, atol=1e-6, what="preset")
    assert again.get_config()["max_num_detections"] == 100


# --- training ------------------------------------------------------------------


def _focal(y, logits, alpha, gamma):
    p = 1 / (1 + np.exp(-logits))
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    return (y * alpha + (1 - y) * (1 - alpha)) * (1 - p_t) ** gamma * ce


def test_loss_is_the_model_gardens():
    from zoo.vision.detection.losses import retinanet_loss

    rng = np.random.default_rng(4)
    b, n, c = 2, 50, 4
    logits = rng.normal(0, 2, (b, n, c)).astype("float32")
    boxes = rng.normal(0, 0.3, (b, n, 4)).astype("float32")
    classes = rng.integers(-1, c, (b, n))
    targets = {"class_targets": classes,
               "box_targets": rng.normal(0, 0.3, (b, n, 4)).astype("float32"),
               "class_weights": (rng.random((b, n)) > 0.2).astype("float32"),
               "box_weights": (classes >= 0).astype("float32")}
    total, class_loss, box_loss = (
        float(keras.ops.convert_to_numpy(v)) for v in retinanet_loss(
            {"cls_outputs": logits, "box_outputs": boxes}, targets, c))
    positives = targets["box_weights"].sum() + 1
    one_hot = np.eye(c)[np.maximum(classes, 0)] * (classes >= 0)[..., None]
    expected_class = (_focal(one_hot, logits, 0.25, 1.5)
                      * targets["class_weights"][..., None]).sum() / positives
    d = np.abs(boxes - targets["box_targets"])
    per_box = np.where(d <= 0.1, 0.5 * d ** 2, 0.1 * (d - 0.05)).mean(-1)
    expected_box = (per_box * targets["box_weights"]).sum() / positives
    assert class_loss == pytest.approx(expected_class, rel=1e-5)
    assert box_loss == pytest.approx(expected_box, rel=1e-5)
    assert total == pytest.approx(expected_class + 50 * expected_box,
                                  rel=1e-5)


def test_compiled_loss_settings_and_loss_weight(detector):
    """`compile(loss=RetinaNetLoss(...))` trains with those settings;
    `loss_weight` scales the whole loss (the Model Garden's)."""
    from zoo.vision.detection import RetinaNetLoss
    from zoo.vision.detection.losses import retinanet_loss

    images, boxes, classes = _squares(2)
    targets = {k: keras.ops.convert_to_numpy(v) for k, v in
               detector.anchor_targets(boxes, classes).items()}
    raw = detector(images, training=False)
    settings = RetinaNetLoss(alpha=0.5, gamma=2.0, delta=0.2,
                             box_loss_weight=10, loss_weight=3.0)
    expected = 3.0 * float(keras.ops.convert_to_numpy(retinanet_loss(
        raw, targets, 3, **settings.options())[0]))
    detector.compile(optimizer="sgd", loss=settings)
    loss = detector.evaluate(images, targets, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-4)


def test_the_head_may_differ_from_the_fpn_in_separable_convolutions():
    det = _tiny_detector(use_separable_conv=True,
                         head_use_separable_conv=False)
    separable = {layer.name for layer in det.layers
                 if isinstance(layer, keras.layers.SeparableConv2D)}
    plain_head = [layer for layer in det.layers
                  if isinstance(layer, keras.layers.Conv2D)
                  and "head" in layer.name]
    assert separable and all("head" not in name for name in separable)
    assert plain_head
    assert det.get_config()["head_use_separable_conv"] is False


def _squares(count, size=128, seed=0):
    """Images with one filled square each, its class its colour."""
    rng = np.random.default_rng(seed)
    colours = np.array([[1.5, -1.5, -1.5], [-1.5, 1.5, -1.5],
                        [-1.5, -1.5, 1.5]], "float32")
    images = rng.normal(0, 0.1, (count, size, size, 3)).astype("float32")
    boxes = np.zeros((count, 1, 4), "float32")
    classes = rng.integers(0, 3, (count, 1))
    for i in range(count):
        side = rng.integers(24, 56)
        top, left = rng.integers(0, size - side, 2)
        images[i, top:top + side, left:left + side] = colours[classes[i, 0]]
        boxes[i, 0] = [top, left, top + side, left + side]
    return images, boxes, classes


# `fit` on the user's arrays; the trainer's learning test
# (tests/training/test_retinanet.py) runs on both backends.
@pytest.mark.one_backend("jax")
def test_a_detector_fits_squares_and_then_finds_them():
    """25 epochs of 16 images: the loss falls below 0.3 of its start and
    the best detection of at least 12 images has the square's class and
    IoU > 0.5 with it (16 of 16 measured on both backends); predict in
    bfloat16 finds the same."""
    keras.utils.set_random_seed(0)
    det = _tiny_detector()
    images, boxes, classes = _squares(16)
    targets = {k: keras.ops.convert_to_numpy(v) for k, v in
               det.anchor_targets(boxes, classes).items()}
    det.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = det.fit(images, targets, batch_size=8, epochs=25, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.3 * losses[0], losses
    found = det.predict(images, verbose=0)
    hits = 0
    for i in range(len(images)):
        best = found["boxes"][i, 0]
        if (found["classes"][i, 0] == classes[i, 0]
                and _iou(boxes[i, 0], best[None])[0] > 0.5):
            hits += 1
    assert hits >= 12, hits
    # In bfloat16 (a copy of the trained weights) the same detections,
    # in float32, up to bfloat16's rounding of the boxes.
    det.inference_dtype = "bfloat16"
    low = det.predict(images, verbose=0)
    assert low["boxes"].dtype == np.float32
    same = [i for i in range(len(images))
            if low["classes"][i, 0] == found["classes"][i, 0]
            and _iou(found["boxes"][i, 0], low["boxes"][i, 0][None])[0] > 0.9]
    assert len(same) >= 14, same


def test_fused_detector_equals_the_detector():
    """The head's shared convolutions fold into one per level (each level
    has its own batch norms)."""
    from testing_utils import randomize_batch_norm

    det = _tiny_detector()
    randomize_batch_norm(det, seed=5)
    fused = det.fuse()
    images = np.random.default_rng(6).normal(size=(2, 128, 128, 3))
    assert_close(fused(images), det(images), scaled=1e-4, what="fused")
    # All but the norms of P5 and P6, whose convolutions also feed the
    # next level (the batch norm is not their only consumer).
    left = {layer.name for layer in fused.layers
            if isinstance(layer, keras.layers.BatchNormalization)}
    assert left == {"fpn_norm_5", "fpn_norm_6"}
