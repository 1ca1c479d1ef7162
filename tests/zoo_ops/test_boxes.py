"""Boxes, IoU/GIoU and anchors against NumPy brute force and hand values."""

import math

import numpy as np
import pytest
import tensorflow as tf

import zoo_ops
from ops_test_helpers import random_boxes, to_numpy


def _iou_numpy(a, b):
    out = np.zeros((len(a), len(b)))
    giou = np.zeros((len(a), len(b)))
    for i, (ay0, ax0, ay1, ax1) in enumerate(a.astype(np.float64)):
        for j, (by0, bx0, by1, bx1) in enumerate(b.astype(np.float64)):
            ih = max(0.0, min(ay1, by1) - max(ay0, by0))
            iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
            inter = ih * iw
            union = (ay1 - ay0) * (ax1 - ax0) + (by1 - by0) * (bx1 - bx0) - inter
            enclose = (max(ay1, by1) - min(ay0, by0)) * (max(ax1, bx1) - min(ax0, bx0))
            out[i, j] = inter / union
            giou[i, j] = out[i, j] - (enclose - union) / enclose
    return out, giou


def test_iou_and_giou_match_brute_force_with_padding():
    rng = np.random.default_rng(0)
    a = random_boxes(rng, (2, 7), image=100, max_size=60)
    b = random_boxes(rng, (2, 5), image=100, max_size=60)
    mask_b = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    iou = to_numpy(zoo_ops.box_iou(a, b, mask_b=mask_b))
    giou = to_numpy(zoo_ops.generalized_box_iou(a, b, mask_b=mask_b))
    for batch in range(2):
        ref_iou, ref_giou = _iou_numpy(a[batch], b[batch])
        valid = mask_b[batch]
        np.testing.assert_allclose(iou[batch][:, valid], ref_iou[:, valid], atol=1e-6)
        np.testing.assert_allclose(giou[batch][:, valid], ref_giou[:, valid], atol=1e-6)
        assert np.all(iou[batch][:, ~valid] == -1)
    assert iou.shape == (2, 7, 5)
    # Unbatched and aligned forms.
    np.testing.assert_allclose(to_numpy(zoo_ops.box_iou(a[0], b[0])),
                               _iou_numpy(a[0], b[0])[0], atol=1e-6)
    aligned = to_numpy(zoo_ops.generalized_box_iou(a[0, :5], b[0], aligned=True))
    np.testing.assert_allclose(aligned, np.diag(_iou_numpy(a[0, :5], b[0])[1]), atol=1e-6)


def test_iou_hand_values_and_empty_inputs():
    a = np.array([[0, 0, 2, 2]], "float32")
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], "float32")
    np.testing.assert_allclose(to_numpy(zoo_ops.box_iou(a, b)), [[1 / 7, 1, 0]], atol=1e-7)
    # GIoU of disjoint boxes: 0 - (36 - 5) / 36.
    np.testing.assert_allclose(to_numpy(zoo_ops.generalized_box_iou(a, b))[0, 2],
                               -31 / 36, atol=1e-7)
    assert to_numpy(zoo_ops.box_iou(np.zeros((0, 4), "float32"), b)).shape == (0, 3)
    assert to_numpy(zoo_ops.box_iou(a[None], np.zeros((1, 0, 4), "float32"))).shape == (1, 1, 0)
    with pytest.raises(zoo_ops.ShapeError, match=r"`boxes_a` and `boxes_b` must both"):
        zoo_ops.box_iou(a, b[None])
    with pytest.raises(zoo_ops.ShapeError, match=r"`boxes_b` must have shape .*received shape \[3, 5\]"):
        zoo_ops.box_iou(a, np.zeros((3, 5), "float32"))


@pytest.mark.parametrize("weights", [None, (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_round_trip(weights):
    rng = np.random.default_rng(1)
    anchors = random_boxes(rng, (3, 50), min_size=8, max_size=200)
    boxes = random_boxes(rng, (3, 50), min_size=8, max_size=200)
    encoded = zoo_ops.encode_boxes(boxes, anchors, weights)
    decoded = to_numpy(zoo_ops.decode_boxes(encoded, anchors, weights))
    np.testing.assert_allclose(decoded, boxes, atol=1e-5 * 800, rtol=1e-5)
    # Hand value: a box twice the anchor's size, centred 1 anchor-height down.
    enc = to_numpy(zoo_ops.encode_boxes(np.array([[10., 0., 30., 20.]], "float32"),
                                        np.array([[0., 0., 10., 10.]], "float32")))
    np.testing.assert_allclose(enc, [[1.5, 0.5, math.log(2), math.log(2)]], atol=1e-6)


def test_formats_clip_normalize_filter():
    boxes = np.array([[[10, 20, 50, 80], [-5, -5, 700, 30]]], "float32")   # yxyx
    xyxy = to_numpy(zoo_ops.convert_boxes(boxes, "yxyx", "xyxy"))
    np.testing.assert_allclose(xyxy[0, 0], [20, 10, 80, 50])
    center = to_numpy(zoo_ops.convert_boxes(boxes, "yxyx", "center_yxhw"))
    np.testing.assert_allclose(center[0, 0], [30, 50, 40, 60])
    rel = to_numpy(zoo_ops.convert_boxes(boxes, "yxyx", "rel_yxyx", image_shape=(100, 200)))
    np.testing.assert_allclose(rel[0, 0], [0.1, 0.1, 0.5, 0.4], atol=1e-6)
    clipped = to_numpy(zoo_ops.clip_boxes(boxes, (480, 640)))
    np.testing.assert_allclose(clipped[0, 1], [0, 0, 480, 30])
    per_image = to_numpy(zoo_ops.clip_boxes(boxes, np.array([[100, 60]], "float32")))
    np.testing.assert_allclose(per_image[0, 0], [10, 20, 50, 60])
    norm = zoo_ops.normalize_boxes(boxes, (100, 200))
    np.testing.assert_allclose(to_numpy(zoo_ops.denormalize_boxes(norm, (100, 200))), boxes,
                               rtol=1e-6)
    small = np.array([[[0, 0, 5, 50], [0, 0, 50, 50], [600, 600, 650, 650]]], "float32")
    kept_boxes, kept_scores, keep = zoo_ops.filter_small_boxes(
        small, np.ones((1, 3), "float32"), 8, image_shape=(500, 500))
    assert to_numpy(keep).tolist() == [[False, True, False]]
    assert to_numpy(kept_scores).tolist() == [[0, 1, 0]]
    assert np.all(to_numpy(kept_boxes)[0, [0, 2]] == 0)
    with pytest.raises(zoo_ops.ArgumentError, match=r"`source` must be one of"):
        zoo_ops.convert_boxes(boxes, "yxwh", "xyxy")
    with pytest.raises(zoo_ops.ShapeError, match=r"`boxes` must have shape \[\.\.\., 4\]"):
        zoo_ops.clip_boxes(np.zeros((2, 5)), (10, 10))


def test_jitter_is_seeded_and_proportional():
    boxes = np.array([[0, 0, 100, 10]] * 2000, "float32")
    jittered = to_numpy(zoo_ops.jitter_boxes(boxes, 0.05, seed=3))
    again = to_numpy(zoo_ops.jitter_boxes(boxes, 0.05, seed=3))
    np.testing.assert_array_equal(jittered, again)
    centre_y = (jittered[:, 0] + jittered[:, 2]) / 2
    centre_x = (jittered[:, 1] + jittered[:, 3]) / 2
    # Centre noise std = 0.05 * size: 5 px in y (height 100), 0.5 px in x.
    assert 4.5 < centre_y.std() < 5.5 and 0.45 < centre_x.std() < 0.55


def test_retinanet_anchors_640():
    """Levels 3-7, 3 scales, aspect ratios (0.5, 1, 2), anchor size 4, 640x640."""
    anchors = zoo_ops.generate_anchors((640, 640), 3, 7, 3, (0.5, 1.0, 2.0), 4.0)
    counts = {level: int(np.prod(to_numpy(a).shape)) // 4 for level, a in anchors.items()}
    assert counts == {3: 57600, 4: 14400, 5: 3600, 6: 900, 7: 225}
    flat = to_numpy(zoo_ops.flatten_anchors(anchors))
    assert flat.shape == (76725, 4)
    root2 = math.sqrt(2)
    for level in range(3, 8):
        stride = 2 ** level
        boxes = to_numpy(anchors[level]).reshape(-1, 4)
        # First anchor: cell (0, 0), scale 2**0, ratio 0.5: side 4 * stride,
        # height side * sqrt(2), width side / sqrt(2).
        side = 4 * stride
        c = stride / 2
        first = [c - side * root2 / 2, c - side / root2 / 2,
                 c + side * root2 / 2, c + side / root2 / 2]
        np.testing.assert_allclose(boxes[0], first, rtol=1e-6, atol=1e-4)
        # Last anchor: last cell, scale 2**(2/3), ratio 2.
        side = 4 * stride * 2 ** (2 / 3)
        c = 640 - stride / 2
        last = [c - side / root2 / 2, c - side * root2 / 2,
                c + side / root2 / 2, c + side * root2 / 2]
        np.testing.assert_allclose(boxes[-1], last, rtol=1e-6, atol=1e-4)
    # Level 3 at 640: first anchor (-18.627, -7.314, 26.627, 15.314).
    np.testing.assert_allclose(flat[0], [-18.627417, -7.3137085, 26.627417, 15.3137085],
                               atol=1e-4)
    # unflatten is flatten's inverse: distinct values come back in place.
    targets = np.arange(2 * 76725 * 4, dtype="float32").reshape(2, 76725, 4)
    levels = zoo_ops.unflatten_anchor_targets(targets, anchors)
    assert sorted(levels) == [3, 4, 5, 6, 7]
    assert tuple(to_numpy(levels[5]).shape) == (2, 20, 20, 36)
    for sample in range(2):
        again = to_numpy(zoo_ops.flatten_anchors(
            {level: to_numpy(levels[level])[sample] for level in levels}))
        np.testing.assert_array_equal(again, targets[sample])


def test_ops_work_in_tf_data_map():
    rng = np.random.default_rng(2)
    a = random_boxes(rng, (4, 6))
    b = random_boxes(rng, (4, 3))

    def fn(x, y):
        iou = zoo_ops.box_iou(x, y)
        encoded = zoo_ops.encode_boxes(x, x + 1.0)
        return iou, encoded, zoo_ops.generate_anchors((64, 64), 3, 4)[3]

    ds = tf.data.Dataset.from_tensor_slices((a, b)).map(fn)
    for k, (iou, encoded, anchors) in enumerate(ds):
        assert isinstance(iou, tf.Tensor)
        np.testing.assert_allclose(iou.numpy(), _iou_numpy(a[k], b[k])[0], atol=1e-6)
        assert tuple(anchors.shape) == (8, 8, 36)
