"""Detection records in the Model Garden's format: encode, decode, parse
(crowds, flip, scale jitter, crop, anchor targets) in real tf.data
pipelines over TFRecord files."""

import numpy as np
import pytest
import tensorflow as tf

import zoo_ops
from training.data.detection import (
    KEYS,
    decode_detection_example,
    make_detection_example,
    parse_detection,
)

# Backend-independent: the pipeline is TensorFlow's whatever the backend.
pytestmark = pytest.mark.one_backend

ANCHORS = zoo_ops.generate_anchors_numpy((128, 128))
FLAT = np.concatenate([ANCHORS[k].reshape(-1, 4) for k in sorted(ANCHORS)])


def _record(height=100, width=160, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 50, 80], [40, 100, 90, 150], [0, 0, 30, 30]],
                     "float32")
    encoded = tf.io.encode_png(image).numpy()
    record = make_detection_example(encoded, height, width, boxes, [1, 2, 3],
                                    source_id="42", is_crowd=[0, 0, 1])
    return record, image, boxes


def _tfrecord(tmp_path, records):
    path = str(tmp_path / "det.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


def test_records_round_trip_with_the_model_gardens_keys(tmp_path):
    record, image, boxes = _record()
    example = tf.train.Example.FromString(record)
    assert set(example.features.feature) == set(KEYS.values())
    path = _tfrecord(tmp_path, [record])
    decoded = next(iter(tf.data.TFRecordDataset(path).map(
        decode_detection_example)))
    np.testing.assert_array_equal(decoded["image"].numpy(), image)
    assert (decoded["height"].numpy(), decoded["width"].numpy()) == (100, 160)
    assert decoded["source_id"].numpy() == b"42"
    np.testing.assert_allclose(decoded["boxes"].numpy() * [100, 160, 100, 160],
                               boxes, atol=1e-4)
    np.testing.assert_array_equal(decoded["classes"].numpy(), [1, 2, 3])
    np.testing.assert_array_equal(decoded["is_crowd"].numpy(),
                                  [False, False, True])
    np.testing.assert_allclose(decoded["area"].numpy(), [2400, 2500, 900])


def _parse(record, seed=(0, 0), **options):
    decoded = decode_detection_example(tf.constant(record))
    return parse_detection(decoded, tf.constant(seed), output_size=(128, 128),
                           anchors=FLAT, **options)


def test_evaluation_parse_scales_pads_and_labels_anchors():
    record, image, boxes = _record()
    out, labels = _parse(record, is_training=False, max_num_instances=5)
    assert out.shape == (128, 128, 3)
    info = labels["image_info"].numpy()
    np.testing.assert_allclose(info, [[100, 160], [80, 128], [0.8, 0.8],
                                      [0, 0]])
    expected = tf.image.resize(
        (image / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
        (80, 128)).numpy()
    np.testing.assert_allclose(out.numpy()[:80], expected, atol=1e-4)
    np.testing.assert_array_equal(out.numpy()[80:], 0)
    # Crowds stay in evaluation; every box scaled by 0.8.
    assert int(labels["num_gt"]) == 3
    np.testing.assert_allclose(labels["gt_boxes"].numpy()[:3], boxes * 0.8,
                               atol=1e-3)
    np.testing.assert_array_equal(labels["gt_classes"].numpy(),
                                  [1, 2, 3, -1, -1])
    direct = zoo_ops.label_anchors(FLAT, labels["gt_boxes"][None],
                                   labels["gt_classes"][None],
                                   (labels["gt_classes"] >= 0)[None])
    for key in ("class_targets", "box_targets", "class_weights",
                "box_weights"):
        np.testing.assert_allclose(labels[key].numpy(),
                                   np.asarray(direct[key])[0], atol=1e-6)
    assert labels["class_targets"].shape == (FLAT.shape[0],)
    assert int((labels["class_targets"].numpy() >= 0).sum()) >= 3


def test_training_drops_crowds_and_flips_with_the_boxes():
    record, _, boxes = _record()
    plain, plain_labels = _parse(record, is_training=True)
    assert int(plain_labels["num_gt"]) == 2      # the crowd box is gone
    flips = []
    for seed in range(8):
        out, labels = _parse(record, seed=(seed, 1), is_training=True,
                             aug_rand_hflip=True)
        flipped = not np.allclose(out.numpy(), plain.numpy())
        flips.append(flipped)
        gt = labels["gt_boxes"].numpy()[:2]
        if flipped:
            # Mirrored inside the 128-wide scaled image.
            np.testing.assert_allclose(out.numpy()[:80, :128],
                                       plain.numpy()[:80, ::-1], atol=1e-4)
            mirrored = boxes[:2] * 0.8
            mirrored = np.stack([mirrored[:, 0], 128 - mirrored[:, 3],
                                 mirrored[:, 2], 128 - mirrored[:, 1]], -1)
            np.testing.assert_allclose(gt, mirrored, atol=1e-3)
        else:
            np.testing.assert_allclose(gt, boxes[:2] * 0.8, atol=1e-3)
    assert 0 < sum(flips) < 8


def test_scale_jitter_crops_and_moves_the_boxes_alike(tmp_path):
    record, _, boxes = _record()
    path = _tfrecord(tmp_path, [record] * 6)
    dataset = tf.data.Dataset.zip(
        tf.data.TFRecordDataset(path).map(decode_detection_example),
        tf.data.Dataset.range(6).map(lambda i: tf.stack([i, i + 7])))
    dataset = dataset.map(lambda d, s: parse_detection(
        d, s, output_size=(128, 128), anchors=FLAT, is_training=True,
        skip_crowd_during_training=False, aug_scale_min=0.8,
        aug_scale_max=1.6, max_num_instances=4)).batch(3)
    assert dataset.element_spec[0].shape.as_list() == [None, 128, 128, 3]
    scales = []
    for images, labels in dataset:
        info = labels["image_info"].numpy()
        for i in range(len(images)):
            scale, offset = info[i, 2], info[i, 3]
            scales.append(scale[0])
            expected = boxes * np.tile(scale, 2) - np.tile(offset, 2)
            expected = np.clip(expected, 0, 128)
            keep = (expected[:, 2] > expected[:, 0]) & \
                (expected[:, 3] > expected[:, 1])
            count = int(labels["num_gt"][i])
            assert count == keep.sum()
            np.testing.assert_allclose(labels["gt_boxes"].numpy()[i, :count],
                                       expected[keep], atol=1e-3)
            assert (offset >= 0).all() and (info[i, 1] - offset >= 0).all()
    assert min(scales) < 0.85 and max(scales) > 1.0
    assert all(0.8 * 0.8 - 0.01 <= s <= 1.6 * 0.8 + 0.01 for s in scales)
