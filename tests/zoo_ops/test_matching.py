"""Matcher, target gathering, anchor labeler, balanced sampler, mask pasting."""

import numpy as np
import pytest

import zoo_ops
from ops_test_helpers import to_numpy


def test_match_boxes_thresholds_and_force_match():
    similarity = np.array([
        [0.9, 0.1, 0.0],
        [0.45, 0.2, 0.0],
        [0.1, 0.3, 0.0],
        [0.0, 0.35, 0.05],
    ], "float32")
    matched, indicators = zoo_ops.match_boxes(similarity, thresholds=(0.4, 0.5))
    assert to_numpy(matched).tolist() == [0, 0, 1, 1]
    assert to_numpy(indicators).tolist() == [1, -2, -1, -1]
    # Force match: column 1's best row is 3 (0.35), column 2's best is 3
    # too (0.05) -> row 3 goes to the lower column, 1; column 2 is padding.
    matched, indicators = zoo_ops.match_boxes(
        similarity[None], thresholds=(0.4, 0.5), force_match_for_each_column=True,
        column_mask=np.array([[True, True, False]]))
    assert to_numpy(matched).tolist() == [[0, 0, 1, 1]]
    assert to_numpy(indicators).tolist() == [[1, -2, -1, 1]]
    # No ground truth: everything negative.
    matched, indicators = zoo_ops.match_boxes(np.zeros((2, 4, 0), "float32"))
    assert to_numpy(indicators).tolist() == [[-1] * 4] * 2
    with pytest.raises(zoo_ops.ArgumentError, match="`thresholds` must be sorted"):
        zoo_ops.match_boxes(similarity, thresholds=(0.5, 0.4))


def test_gather_targets_with_padding():
    targets = np.array([[[1, 1], [2, 2], [3, 3]]], "float32")
    matched = np.array([[2, 0, 1, 1]])
    mask = np.array([[False, False, True, False]])
    got = to_numpy(zoo_ops.gather_targets(targets, matched, mask, padding_value=-7))
    assert got.tolist() == [[[3, 3], [1, 1], [-7, -7], [2, 2]]]
    empty = to_numpy(zoo_ops.gather_targets(np.zeros((1, 0), "int32"), matched, mask, -1))
    assert empty.tolist() == [[-1, -1, -1, -1]]


def test_label_anchors_retinanet_style():
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 12], [20, 20, 30, 30],
                        [50, 50, 60, 60], [100, 100, 140, 140]], "float32")
    gt = np.array([[[0, 0, 10, 10], [100, 100, 110, 110], [0, 0, 0, 0]]], "float32")
    classes = np.array([[3, 7, 0]])
    mask = np.array([[True, True, False]])
    out = zoo_ops.label_anchors(anchors, gt, classes, mask, match_threshold=0.5,
                                unmatched_threshold=0.4)
    # IoUs with gt 0: 1, 10/12; anchor 4 vs gt 1: 100/1600 -> force-matched.
    assert to_numpy(out["match_indicators"]).tolist() == [[1, 1, -1, -1, 1]]
    assert to_numpy(out["class_targets"]).tolist() == [[3, 3, -1, -1, 7]]
    assert to_numpy(out["box_weights"]).tolist() == [[1, 1, 0, 0, 1]]
    assert to_numpy(out["class_weights"]).tolist() == [[1, 1, 1, 1, 1]]
    box_targets = to_numpy(out["box_targets"])
    np.testing.assert_allclose(box_targets[0, 0], 0, atol=1e-6)
    decoded = to_numpy(zoo_ops.decode_boxes(box_targets[0, 4], anchors[4]))
    np.testing.assert_allclose(decoded, gt[0, 1], atol=1e-4)
    assert np.all(box_targets[0, 2:4] == 0)
    # Zero ground truth: every anchor negative, no crash.
    empty = zoo_ops.label_anchors(anchors, np.zeros((2, 0, 4), "float32"),
                                  np.zeros((2, 0), "int32"))
    assert to_numpy(empty["match_indicators"]).tolist() == [[-1] * 5] * 2
    assert to_numpy(empty["class_targets"]).tolist() == [[-1] * 5] * 2


def test_balanced_sample_counts_and_static_shapes():
    rng = np.random.default_rng(0)
    positive = rng.uniform(size=(3, 500)) < 0.05
    positive[2] = False
    positive[1, :300] = True
    negative = ~positive
    pos, neg = zoo_ops.balanced_sample(positive, negative, 64, 0.25, seed=1)
    pos, neg = to_numpy(pos), to_numpy(neg)
    assert pos.shape == neg.shape == (3, 500)
    assert not np.any(pos & ~positive) and not np.any(neg & positive)
    npos = pos.sum(1)
    assert npos.tolist() == [min(positive[0].sum(), 16), 16, 0]
    assert (pos.sum(1) + neg.sum(1)).tolist() == [64, 64, 64]
    # Different seeds pick different subsets of the 300 positives.
    other, _ = zoo_ops.balanced_sample(positive, negative, 64, 0.25, seed=2)
    assert not np.array_equal(to_numpy(other)[1], pos[1])


def test_paste_masks_matches_resampling_reference():
    mask = np.zeros((2, 2), "float32")
    mask[0, 0] = 1.0
    boxes = np.array([[2, 4, 6, 8]], "float32")   # 4x4 pixels, cells of 2x2
    pasted = to_numpy(zoo_ops.paste_masks(mask[None], boxes, (10, 12)))
    assert pasted.shape == (1, 10, 12)
    # Bilinear sampling with zeros outside the mask fades out over half a
    # cell (one pixel here) beyond the box, as grid sampling does; further
    # out everything is 0.
    assert np.all(pasted[0, :1] == 0) and np.all(pasted[0, :, :3] == 0)
    np.testing.assert_allclose(pasted[0, 1, 3], 0.0625, atol=1e-6)
    # Pixel (2, 4) samples the mask at (-0.25, -0.25): 0.75 * 0.75 of cell 0.
    np.testing.assert_allclose(pasted[0, 2, 4], 0.5625, atol=1e-6)
    # Pixel (3, 5) samples at (0.25, 0.25): 0.75 * 0.75.
    np.testing.assert_allclose(pasted[0, 3, 5], 0.5625, atol=1e-6)
    # Pixel (4, 6) samples at (0.75, 0.75): 0.25 * 0.25.
    np.testing.assert_allclose(pasted[0, 4, 6], 0.0625, atol=1e-6)
    # A uniform mask pastes to 1 inside the box's central pixels.
    ones = to_numpy(zoo_ops.paste_masks(np.ones((1, 1, 4, 4), "float32"),
                                        np.array([[[0, 0, 8, 8]]], "float32"), (8, 8),
                                        threshold=0.5))
    assert ones.dtype == bool and ones[0, 0].sum() == 64
    with pytest.raises(zoo_ops.ShapeError, match=r"Box counts of `masks` \(1\) and `boxes` \(2\)"):
        zoo_ops.paste_masks(mask[None], np.zeros((2, 4), "float32"), (4, 4))
