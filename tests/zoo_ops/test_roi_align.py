"""RoIAlign against a crop_and_resize reference and a NumPy brute force."""

import numpy as np
import pytest
import tensorflow as tf

import zoo_ops
from ops_test_helpers import random_boxes, to_numpy

IMPLEMENTATIONS = ["keras", "tensorflow"]


def _features(rng, batch=2, size=128, channels=3, levels=(2, 3, 4, 5)):
    # Values in [0, 1): float32 sample coordinates near 30 carry ~2e-6 error,
    # which this keeps far inside the 1e-5 tolerance.
    return {l: rng.uniform(0, 1, (batch, size // 2 ** l, size // 2 ** l, channels)
                           ).astype("float32") for l in levels}


def _fpn_level(box, lo, hi):
    y0, x0, y1, x1 = box.astype(np.float64)
    side = np.sqrt(max(y1 - y0, 0) * max(x1 - x0, 0))
    return int(np.clip(np.floor(4 + np.log2(max(side, 1e-6) / 224)), lo, hi))


def _crop_and_resize_reference(features, boxes, out, ratio):
    """Box by box: pick the level, sample with tf.image.crop_and_resize.

    Detectron2's RoIAlign clamps samples in [-1, 0] and [H - 1, H] to the
    border and reads 0 beyond; crop_and_resize on the map padded with one
    replicated pixel does exactly that, with coordinates shifted by one.
    """
    levels = sorted(features)
    result = np.zeros(boxes.shape[:2] + (out, out, features[levels[0]].shape[-1]))
    n = out * ratio
    for b in range(boxes.shape[0]):
        for k, box in enumerate(boxes[b]):
            level = _fpn_level(box, levels[0], levels[-1])
            fmap = np.pad(features[level][b], ((1, 1), (1, 1), (0, 0)), mode="edge")
            scale = 2.0 ** -level
            y0, x0 = box[0] * scale - 0.5, box[1] * scale - 0.5
            h, w = (box[2] - box[0]) * scale, (box[3] - box[1]) * scale
            first_y, last_y = y0 + 0.5 * h / n + 1, y0 + (n - 0.5) * h / n + 1
            first_x, last_x = x0 + 0.5 * w / n + 1, x0 + (n - 0.5) * w / n + 1
            hp, wp = fmap.shape[0] - 1, fmap.shape[1] - 1
            crop = tf.image.crop_and_resize(
                fmap[None], [[first_y / hp, first_x / wp, last_y / hp, last_x / wp]],
                [0], [n, n]).numpy()[0]
            result[b, k] = crop.reshape(out, ratio, out, ratio, -1).mean(axis=(1, 3))
    return result


def _bilinear(fmap, y, x):
    height, width = fmap.shape[:2]
    if y < -1 or y > height or x < -1 or x > width:
        return np.zeros(fmap.shape[-1])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * fmap[y0, x0] + (1 - ly) * lx * fmap[y0, x1]
            + ly * (1 - lx) * fmap[y1, x0] + ly * lx * fmap[y1, x1])


def _brute_force(features, boxes, out, ratio, aligned):
    """Detectron2's RoIAlign definition, in float64, one sample at a time."""
    levels = sorted(features)
    result = np.zeros(boxes.shape[:2] + (out, out, features[levels[0]].shape[-1]))
    offset = 0.5 if aligned else 0.0
    for b in range(boxes.shape[0]):
        for k, box in enumerate(boxes[b].astype(np.float64)):
            level = _fpn_level(box, levels[0], levels[-1])
            scale = 2.0 ** -level
            y0, x0 = box[0] * scale - offset, box[1] * scale - offset
            h, w = (box[2] - box[0]) * scale, (box[3] - box[1]) * scale
            if not aligned:
                h, w = max(h, 1.0), max(w, 1.0)
            for p in range(out):
                for q in range(out):
                    total = 0.0
                    for iy in range(ratio):
                        for ix in range(ratio):
                            total = total + _bilinear(
                                features[level][b],
                                y0 + (p + (iy + 0.5) / ratio) * h / out,
                                x0 + (q + (ix + 0.5) / ratio) * w / out)
                    result[b, k, p, q] = total / ratio ** 2
    return result


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_multilevel_roi_align_matches_crop_and_resize_reference(implementation):
    rng = np.random.default_rng(0)
    features = _features(rng)
    # Boxes of every size, some crossing the image border.
    boxes = random_boxes(rng, (2, 12), image=120, min_size=2, max_size=130) - 10
    ours = to_numpy(zoo_ops.multilevel_roi_align(features, boxes, 4, 2,
                                                 implementation=implementation))
    assert ours.shape == (2, 12, 4, 4, 3)
    np.testing.assert_allclose(ours, _crop_and_resize_reference(features, boxes, 4, 2),
                               atol=1e-5)


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_matches_brute_force_definition(aligned):
    rng = np.random.default_rng(1)
    features = _features(rng, size=64, levels=(2, 3))
    boxes = random_boxes(rng, (2, 5), image=60, min_size=1, max_size=60) - 4
    reference = _brute_force(features, boxes, 3, 2, aligned)
    for implementation in IMPLEMENTATIONS:
        ours = to_numpy(zoo_ops.multilevel_roi_align(
            features, boxes, 3, 2, aligned=aligned, implementation=implementation))
        np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_single_level_roi_align_and_zero_boxes():
    rng = np.random.default_rng(2)
    fmap = rng.uniform(0, 1, (1, 16, 16, 2)).astype("float32")
    boxes = np.array([[[8, 8, 40, 56]]], "float32")          # stride 4 map
    for implementation in IMPLEMENTATIONS:
        single = to_numpy(zoo_ops.roi_align(fmap, boxes, 2, 2, spatial_scale=0.25,
                                            implementation=implementation))
        multi = _brute_force({2: fmap}, boxes, 2, 2, True)
        np.testing.assert_allclose(single, multi, atol=1e-5)
        empty = zoo_ops.multilevel_roi_align({3: fmap}, np.zeros((1, 0, 4), "float32"),
                                             implementation=implementation)
        assert to_numpy(empty).shape == (1, 0, 7, 7, 2)


def test_fpn_level_assignment_hand_checked():
    boxes = np.array([
        [0, 0, 224, 224],     # canonical: level 4
        [0, 0, 112, 112],     # half: 3
        [0, 0, 448, 448],     # double: 5
        [0, 0, 447, 447],     # just under double: 4
        [0, 0, 896, 896],     # 6
        [0, 0, 100, 400],     # sqrt(40000) = 200 < 224: 3
        [0, 0, 250, 1000],    # sqrt(250000) = 500, log2(500/224) = 1.16: 5
        [0, 0, 10, 10],       # tiny: clipped to min level 2
        [0, 0, 5000, 5000],   # huge: clipped to max level 5
        [5, 5, 5, 5],         # empty box: min level
    ], "float32")
    levels = to_numpy(zoo_ops.assign_fpn_levels(boxes, 2, 5))
    assert levels.tolist() == [4, 3, 5, 4, 5, 3, 5, 2, 5, 2]
    assert to_numpy(zoo_ops.assign_fpn_levels(boxes[4:5], 2, 6)).tolist() == [6]


def test_roi_align_in_tf_data_and_errors():
    rng = np.random.default_rng(3)
    fmap = rng.uniform(0, 1, (4, 8, 8, 2)).astype("float32")
    boxes = np.tile(np.array([[[4, 4, 40, 40]]], "float32"), (4, 1, 1))
    ds = tf.data.Dataset.from_tensor_slices((fmap, boxes)).batch(2).map(
        lambda f, b: zoo_ops.multilevel_roi_align({3: f}, b, 2, 1))
    got = np.concatenate([x.numpy() for x in ds])
    np.testing.assert_allclose(got, _brute_force({3: fmap}, boxes, 2, 1, True), atol=1e-5)
    with pytest.raises(zoo_ops.ShapeError, match=r"`boxes` must have shape \[batch, num_boxes, 4\]"):
        zoo_ops.multilevel_roi_align({3: fmap}, boxes[0])
    with pytest.raises(zoo_ops.ArgumentError, match=r"levels must be consecutive"):
        zoo_ops.multilevel_roi_align({3: fmap, 5: fmap}, boxes)
    with pytest.raises(zoo_ops.ArgumentError, match=r"`sampling_ratio` must be an int >= 1"):
        zoo_ops.multilevel_roi_align({3: fmap}, boxes, sampling_ratio=0)
