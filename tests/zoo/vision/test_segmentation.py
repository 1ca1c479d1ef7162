"""Semantic segmentation: DeepLab layouts and counts, the loss and mean IoU
against NumPy renderings of the Model Garden's, masks mapped back to the
original image, training and serialisation round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from model_test_case import assert_close
from testing_utils import trainable_count, zero_host_initializers
from zoo.vision.segmentation.losses import SegmentationLoss, segmentation_loss
from zoo.vision.segmentation.metrics import (
    OutOfRangeLabels,
    SegmentationMeanIoU,
    confusion_matrix,
    mean_iou_of,
)

TINY = dict(num_classes=3, output_stride=16, stage_filters=(8, 8, 8, 8),
            aspp_filters=16, head_filters=16, low_level_num_filters=8)


def _tiny_segmenter(**overrides):
    return zoo.create_model("resnet18", task="semantic_segmenter",
                            **{**TINY, **overrides})


# --- architecture ------------------------------------------------------------


def _conv_bn(cin, cout, k=1):
    """A bias-free convolution and its batch norm (4 weights a channel)."""
    return cin * cout * k * k + 4 * cout


@pytest.mark.one_backend
def test_deeplab_counts_are_the_resnet_plus_the_model_gardens_heads(
        monkeypatch):
    """The Model Garden's DeepLabV3+ on ResNet-50 (21 classes): the
    headless ResNet-50 (torchvision's 25,557,032 without its 2,049,000
    classifier, plus 53,120 batch-norm moving statistics: 23,561,152,
    keras-hub's `resnet_50_imagenet` backbone) plus ASPP (1x1, three 3x3, pooling 1x1, 1280 -> 256
    projection), the 48-channel low-level reduction, two 3x3 of 304/256
    -> 256 and the 1x1 classifier with bias. DeepLabV3 has ASPP and the
    classifier only."""
    zero_host_initializers(monkeypatch)
    aspp = (_conv_bn(2048, 256) + 3 * _conv_bn(2048, 256, 3)
            + _conv_bn(2048, 256) + _conv_bn(1280, 256))
    decoder = (_conv_bn(256, 48) + _conv_bn(304, 256, 3)
               + _conv_bn(256, 256, 3))
    classifier = 256 * 21 + 21
    plus = zoo.create_model("deeplabv3plus_resnet50")
    assert isinstance(plus, zoo.SemanticSegmenter)
    assert plus.count_params() == 23_561_152 + aspp + decoder + classifier
    v3 = zoo.create_model("deeplabv3_resnet50")
    assert v3.count_params() == 23_561_152 + aspp + classifier
    assert v3.aspp_dilation_rates == [12, 24, 36]
    # The backbone is dilated: stride 16 at C4 and C5, the multigrid rates
    # 2 x [1, 2, 4] in the last stage.
    assert [i["stride"] for i in plus.backbone.feature_info] == [4, 8, 16, 16]
    rates = [plus.backbone.get_layer(f"stage5_block{b}_conv2").dilation_rate
             for b in (1, 2, 3)]
    assert rates == [(2, 2), (4, 4), (8, 8)]


def test_layout_resolutions_and_initialisation():
    model = _tiny_segmenter()
    layers = {layer.name: layer for layer in model.layers}
    # ASPP at stride 16, the decoder at stride 4, logits at the input size.
    assert tuple(layers["aspp_concat"].output.shape[1:]) == (None, None,
                                                              5 * 16)
    x = np.random.default_rng(0).normal(size=(2, 64, 96, 3)).astype(
        "float32")
    sub = keras.Model(model.inputs, [layers["aspp_project_act"].output,
                                     layers["head_classifier"].output,
                                     model.outputs[0]])
    aspp, head, logits = sub(x)
    assert tuple(aspp.shape) == (2, 4, 6, 16)
    assert tuple(head.shape) == (2, 16, 24, 3)
    assert tuple(logits.shape) == (2, 64, 96, 3)
    # Bilinear resizing of the stride-4 logits, as tf.image.resize.
    assert_close(logits, tf.image.resize(np.asarray(head), (64, 96)),
                 atol=1e-5, what="upsampled logits")
    # The head's kernels start from N(0, 0.01), ASPP's from Keras'
    # VarianceScaling (std sqrt(1 / fan_in), truncated).
    kernel = np.asarray(layers["head_conv1_conv"].kernel)
    assert abs(kernel.std() - 0.01) < 0.001
    kernel = np.asarray(layers["aspp_rate1_conv"].kernel)
    assert abs(kernel.std() / np.sqrt(1 / (9 * 8)) - 1.0) < 0.1
    np.testing.assert_array_equal(np.asarray(layers["head_classifier"].bias),
                                  0.0)


def test_deeplabv3_has_no_decoder_and_pools_to_a_window():
    model = _tiny_segmenter(feature_fusion="none", head_num_convs=0,
                            aspp_dilation_rates=[], aspp_pool_size=(2, 2))
    names = {layer.name for layer in model.layers}
    assert "head_low_level_conv" not in names and "aspp_rate1_conv" not in names
    x = np.zeros((1, 64, 64, 3), "float32")
    assert tuple(model(x).shape) == (1, 64, 64, 3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="feature_fusion='fpn'"):
        _tiny_segmenter(feature_fusion="fpn")
    with pytest.raises(ValueError, match="no feature map at level 5"):
        _tiny_segmenter(level=5)
    with pytest.raises(ValueError, match="num_classes"):
        _tiny_segmenter(num_classes=0)


# --- masks at the original image's size ------------------------------------


def test_predict_maps_masks_back_to_each_image():
    """A 50x80 image is scaled by 0.8 into the 64x64 input (40x64, padded
    below): masks are the logits of that part resized bilinearly to 50x80
    before the argmax."""
    model = _tiny_segmenter()
    model.preprocessor = zoo.SegmentationPreprocessor(image_size=(64, 64))
    images = np.random.default_rng(1).integers(0, 256, (2, 50, 80, 3),
                                               "uint8")
    masks = model.predict(images, batch_size=2, verbose=0)
    assert masks.shape == (2, 50, 80) and masks.dtype == np.int32
    ready = model.preprocessor(images)
    logits = np.asarray(model(ready["images"]))
    np.testing.assert_allclose(np.asarray(ready["image_info"])[0],
                               [[50, 80], [40, 64], [0.8, 0.8], [0, 0]])
    expected = np.argmax(tf.image.resize(logits[:, :40, :64], (50, 80)),
                         axis=-1)
    np.testing.assert_array_equal(masks, expected)
    np.testing.assert_array_equal(np.asarray(model.segment(images)), expected)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(1)
    np.testing.assert_array_equal(model.predict(dataset, verbose=0), expected)
    with pytest.raises(ValueError, match="one known height and width"):
        model.predict(tf.data.Dataset.from_generator(
            lambda: iter([images]), output_signature=tf.TensorSpec(
                (None, None, None, 3), tf.uint8)), verbose=0)


# --- loss and mean IoU ---------------------------------------------------------


def _numpy_loss(labels, logits, ignore=255, weights=None, smoothing=0.0,
                top_k=1.0):
    """The Model Garden's softmax SegmentationLoss in NumPy (float64), at
    the labels' resolution; labels outside the classes are not scored."""
    logits = np.asarray(logits, np.float64)
    classes = logits.shape[-1]
    valid = (labels != ignore) & (labels >= 0) & (labels < classes)
    safe = np.where(valid, labels, 0)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    targets = np.eye(classes)[safe] * (1 - smoothing) + smoothing / classes
    losses = -(targets * log_probs).sum(-1) * valid
    if weights is not None:
        losses = losses * np.asarray(weights)[safe]
    if top_k >= 1.0:
        return losses.sum() / (valid.sum() + 1e-5)
    k = int(top_k * losses.size)
    top = np.sort(losses.ravel())[::-1][:k]
    return top.sum() / (min(k, valid.sum()) + 1e-5)


@pytest.mark.parametrize("options", [
    {}, {"weights": [1.0, 2.0, 0.5]}, {"smoothing": 0.1}, {"top_k": 0.3}],
    ids=["plain", "class_weights", "label_smoothing", "top_k"])
def test_loss_equals_a_numpy_rendering_of_the_model_gardens(options):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 8, 12, 3)).astype("float32")
    labels = rng.integers(0, 3, (2, 8, 12))
    labels[0, :2] = 255           # ignored
    labels[1, 0, :3] = 7          # out of range: not scored either
    expected = _numpy_loss(labels, logits, **options)
    names = {"weights": "class_weights", "smoothing": "label_smoothing",
             "top_k": "top_k_percent_pixels"}
    kwargs = {names[k]: v for k, v in options.items()}
    got = segmentation_loss(labels, logits, **kwargs)
    assert abs(float(got) - expected) < 1e-5 * max(1.0, expected)
    as_loss = SegmentationLoss(**kwargs)
    assert abs(float(as_loss(labels[..., None], logits)) - expected) < 1e-5
    again = SegmentationLoss.from_config(as_loss.get_config())
    assert again.get_config() == as_loss.get_config()


def test_loss_resizes_logits_to_the_labels():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(1, 4, 6, 3)).astype("float32")
    labels = rng.integers(0, 3, (1, 16, 24))
    resized = tf.image.resize(logits, (16, 24)).numpy()
    assert abs(float(segmentation_loss(labels, logits))
               - _numpy_loss(labels, resized)) < 1e-5


def _numpy_mean_iou(labels, predictions, classes, ignore=255):
    valid = (labels != ignore) & (labels >= 0) & (labels < classes)
    matrix = np.zeros((classes, classes))
    np.add.at(matrix, (labels[valid], predictions[valid]), 1)
    hits = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    present = union > 0
    return (hits[present] / union[present]).mean(), matrix


def test_mean_iou_equals_a_numpy_confusion_matrix_over_batches():
    """Two batches into one confusion matrix; ignored and out-of-range
    labels left out and counted; class 3 in neither truth nor prediction
    is left out of the mean (Keras' MeanIoU), counted 0 per class."""
    rng = np.random.default_rng(4)
    metric = SegmentationMeanIoU(num_classes=5)
    outside = OutOfRangeLabels(num_classes=5)
    all_labels, all_predictions = [], []
    for _ in range(2):
        logits = rng.normal(size=(2, 6, 7, 5)).astype("float32")
        logits[..., 3] = -10.0                      # never predicted
        labels = rng.choice([0, 1, 2, 4], size=(2, 6, 7))
        labels[0, 0] = 255
        labels[1, 1, :2] = 9
        metric.update_state(labels, logits)
        outside.update_state(labels)
        all_labels.append(labels)
        all_predictions.append(logits.argmax(-1))
    expected, matrix = _numpy_mean_iou(np.concatenate(all_labels),
                                       np.concatenate(all_predictions), 5)
    assert abs(float(metric.result()) - expected) < 1e-6
    np.testing.assert_array_equal(metric.confusion_matrix(), matrix)
    # The host helpers of the task's evaluation give the same.
    np.testing.assert_array_equal(confusion_matrix(
        np.concatenate(all_labels), np.concatenate(all_predictions), 5),
        matrix)
    assert abs(mean_iou_of(matrix) - expected) < 1e-12
    per_class = metric.per_class_iou()
    assert per_class[3] == 0.0 and per_class.shape == (5,)
    assert abs(per_class[[0, 1, 2, 4]].mean() - expected) < 1e-6
    assert float(outside.result()) == 2 * 2
    metric.reset_state()
    assert float(metric.result()) == 0.0


# --- training and serialisation -------------------------------------------


def test_fits_and_round_trips(tmp_path):
    """A few steps of fit with the loss and the metrics, then the .keras
    and preset round trips give the same logits."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 64, 64, 3)).astype("float32")
    y = (x[..., 0] > 0).astype("int32") + (x[..., 1] > 1).astype("int32")
    model = _tiny_segmenter()
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=SegmentationLoss(),
                  metrics=[SegmentationMeanIoU(3), OutOfRangeLabels(3)])
    y[0, 0, :5] = 7                                   # five bad labels
    history = model.fit(x, y, batch_size=2, epochs=3, verbose=0,
                        shuffle=False)
    assert all(np.isfinite(history.history["loss"]))
    assert 0.0 <= history.history["mean_iou"][-1] <= 1.0
    assert history.history["out_of_range_labels"][-1] == 5.0
    outputs = np.asarray(model(x))
    path = tmp_path / "segmenter.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is zoo.SemanticSegmenter
    assert_close(loaded(x), outputs, atol=1e-5, what=".keras round trip")
    model.save_to_preset(tmp_path / "preset")
    again = zoo.from_preset(tmp_path / "preset")
    assert type(again) is zoo.SemanticSegmenter
    assert_close(again(x), outputs, atol=1e-5, what="preset round trip")
    assert trainable_count(again) == trainable_count(model)
