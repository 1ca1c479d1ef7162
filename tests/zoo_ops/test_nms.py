"""NMS parity with TensorFlow's kernels, keras-hub and keras-cv.

The keras.ops path and the TensorFlow path run on every backend (the
TensorFlow path is what `implementation="auto"` picks on the TensorFlow
backend); both must select exactly the boxes TensorFlow's kernels select.
"""

import numpy as np
import pytest
import tensorflow as tf

import zoo_ops
from ops_test_helpers import random_boxes, to_numpy

IMPLEMENTATIONS = ["keras", "tensorflow"]


def _tf_padded(boxes, scores, max_output, iou, score_threshold):
    idx, valid = tf.image.non_max_suppression_padded(
        boxes, scores, max_output, iou, score_threshold,
        pad_to_max_output_size=True)
    return idx.numpy(), valid.numpy()


def _assert_same_selection(ours, theirs):
    idx, valid = (to_numpy(x) for x in ours)
    ref_idx, ref_valid = theirs
    np.testing.assert_array_equal(valid, ref_valid)
    for row in range(len(valid)):
        np.testing.assert_array_equal(idx[row, :valid[row]],
                                      ref_idx[row, :ref_valid[row]])
        assert np.all(idx[row, valid[row]:] == 0)


def _cases():
    rng = np.random.default_rng(1)
    cases = []
    for i in range(3):
        n = int(rng.integers(1, 400))
        boxes = random_boxes(rng, (2, n), max_size=float(rng.uniform(30, 300)))
        scores = rng.uniform(0, 1, (2, n)).astype("float32")
        cases.append((f"random{i}", boxes, scores, int(rng.integers(1, 150)),
                      float(rng.uniform(0.2, 0.8)),
                      float(rng.choice([float("-inf"), 0.3]))))
    boxes = random_boxes(rng, (2, 200))
    ties = np.round(rng.uniform(0, 1, (2, 200)) * 4).astype("float32") / 4
    cases.append(("ties", boxes, ties, 50, 0.5, float("-inf")))
    same = np.tile(np.array([[[10, 10, 50, 50]]], "float32"), (2, 40, 1))
    same = same + rng.uniform(0, 2, same.shape).astype("float32")
    cases.append(("all_overlapping", same, np.full((2, 40), 0.5, "float32"),
                  10, 0.3, float("-inf")))
    cases.append(("all_below_threshold", boxes, ties * 0.1, 20, 0.5, 0.5))
    padded = boxes.copy()
    padded[:, 150:] = 0.0                           # all-zero padding boxes
    pad_scores = rng.uniform(0, 1, (2, 200)).astype("float32")
    pad_scores[:, 150:] = 1.0                       # even with top scores
    cases.append(("padding", padded, pad_scores, 200, 0.5, float("-inf")))
    cases.append(("more_outputs_than_boxes", boxes[:, :7], pad_scores[:, :7],
                  30, 0.5, 0.2))
    return cases


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_padded_nms_matches_tensorflow(case, implementation):
    _, boxes, scores, max_output, iou, score_threshold = case
    ours = zoo_ops.non_max_suppression_padded(
        boxes, scores, max_output, iou, score_threshold,
        tile_size=64, implementation=implementation)
    _assert_same_selection(
        ours, _tf_padded(boxes, scores, max_output, iou, score_threshold))


def test_padded_nms_ties_prefer_lower_index():
    boxes = np.array([[[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10],
                       [20, 20, 30, 30]]], "float32")
    scores = np.array([[0.5, 0.5, 0.9, 0.5]], "float32")
    for implementation in IMPLEMENTATIONS:
        idx, valid = zoo_ops.non_max_suppression_padded(
            boxes, scores, 4, 0.5, implementation=implementation)
        assert to_numpy(valid).tolist() == [2]
        assert to_numpy(idx).tolist() == [[2, 3, 0, 0]]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_padded_nms_zero_boxes(implementation):
    boxes = np.zeros((3, 0, 4), "float32")
    scores = np.zeros((3, 0), "float32")
    idx, valid = zoo_ops.non_max_suppression_padded(
        boxes, scores, 5, implementation=implementation)
    assert to_numpy(idx).shape == (3, 5)
    assert to_numpy(valid).tolist() == [0, 0, 0]


def test_padded_nms_keras_path_compiles():
    """The keras.ops path inside jax.jit (JAX) or tf.function (TensorFlow)."""
    import keras

    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, (2, 1000))
    scores = rng.uniform(0, 1, (2, 1000)).astype("float32")

    def nms(b, s):
        return zoo_ops.non_max_suppression_padded(b, s, 100, 0.5,
                                                  implementation="keras")

    if keras.backend.backend() == "jax":
        import jax

        fn = jax.jit(nms)
    else:
        fn = tf.function(nms)
    _assert_same_selection(fn(boxes, scores),
                           _tf_padded(boxes, scores, 100, 0.5, float("-inf")))


def _combined_cases():
    rng = np.random.default_rng(2)
    cases = []
    for i, q in enumerate((1, 4)):
        n, c = int(rng.integers(1, 250)), 4
        base = random_boxes(rng, (2, n), image=0.8, min_size=0.01, max_size=0.3)
        boxes = (base[:, :, None, :] + rng.normal(0, 0.01, (2, n, q, 4))).astype("float32")
        scores = rng.uniform(0, 1, (2, n, c)).astype("float32")
        cases.append((f"random{i}_q{q}", boxes, scores, int(rng.integers(1, 40)),
                      int(rng.integers(1, 100)), float(rng.uniform(0.2, 0.8)),
                      float(rng.choice([float("-inf"), 0.5])), bool(i % 2),
                      bool(i == 0)))
    boxes = random_boxes(rng, (1, 30), image=2.0, min_size=0.1, max_size=1.0)[:, :, None]
    cases.append(("all_below", boxes, np.full((1, 30, 3), 0.1, "float32"),
                  5, 10, 0.5, 0.5, False, True))
    return cases


def _combined_sorted(outputs):
    """Detections as rows (score, class, box) in a canonical order."""
    boxes, scores, classes, valid = (to_numpy(x) for x in outputs)
    rows = []
    for b in range(len(valid)):
        v = valid[b]
        rows.append(sorted(zip(-scores[b, :v], classes[b, :v],
                               map(tuple, boxes[b, :v]))))
    return valid, rows, boxes.shape


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", _combined_cases(), ids=lambda c: c[0])
def test_combined_nms_matches_tensorflow(case, implementation):
    _, boxes, scores, per_class, total, iou, score_thr, pad, clip = case
    ref = tf.image.combined_non_max_suppression(
        boxes, scores, per_class, total, iou, score_thr, pad, clip)
    ours = zoo_ops.combined_non_max_suppression(
        boxes, scores, per_class, total, iou, score_thr, pad, clip,
        tile_size=32, implementation=implementation)
    # Exact: same rows in the same order (scores are distinct here).
    assert len(ours) == len(ref)
    for mine, theirs in zip(ours, ref):
        np.testing.assert_allclose(to_numpy(mine), theirs.numpy(), atol=1e-6)


def test_combined_nms_ties_and_zero_boxes():
    # Identical boxes with tied scores: whichever is kept, outputs are equal.
    box = np.array([0.1, 0.1, 0.4, 0.4], "float32")
    boxes = np.tile(box, (1, 6, 1, 1))
    scores = np.tile(np.array([0.7, 0.7], "float32"), (1, 6, 1))
    ref = tf.image.combined_non_max_suppression(boxes, scores, 3, 5, 0.5)
    for implementation in IMPLEMENTATIONS:
        ours = zoo_ops.combined_non_max_suppression(
            boxes, scores, 3, 5, 0.5, implementation=implementation)
        assert _combined_sorted(ours) == _combined_sorted(ref)
        empty = zoo_ops.combined_non_max_suppression(
            np.zeros((2, 0, 1, 4), "float32"), np.zeros((2, 0, 3), "float32"),
            4, 7, implementation=implementation)
        assert [to_numpy(x).shape for x in empty] == [(2, 7, 4), (2, 7), (2, 7), (2,)]
        assert to_numpy(empty[3]).tolist() == [0, 0]


def test_keras_hub_single_class_oracle():
    """keras-hub's NonMaxSuppression layer, with its (reported) boxes."""
    import keras
    from keras_hub.layers import NonMaxSuppression

    rng = np.random.default_rng(4)
    boxes = random_boxes(rng, (2, 150))
    scores = rng.uniform(0, 1, (2, 150, 1)).astype("float32")
    layer = NonMaxSuppression(bounding_box_format="yxyx", from_logits=False,
                              iou_threshold=0.5, confidence_threshold=0.2,
                              max_detections=40)
    call = layer
    if keras.backend.backend() == "jax":
        import jax

        call = jax.jit(layer)       # eager, it compiles each while_loop
    ref = call(boxes, scores)
    idx, valid = zoo_ops.non_max_suppression_padded(boxes, scores[..., 0], 40,
                                                    0.5, 0.2)
    idx, valid = to_numpy(idx), to_numpy(valid)
    np.testing.assert_array_equal(valid, to_numpy(ref["num_detections"]))
    ref_boxes = to_numpy(ref["boxes"])
    for b in range(2):
        np.testing.assert_allclose(boxes[b, idx[b, :valid[b]]],
                                   ref_boxes[b, :valid[b]], atol=1e-5)


def test_keras_cv_multi_class_oracle():
    """keras-cv's MultiClassNonMaxSuppression (a TF-backend-only layer).

    zoo's `keras.ops` path is what is compared (`implementation="keras"`;
    on TensorFlow the default would call the very kernel keras-cv wraps).
    On other backends keras-cv's layer refuses to run, so the comparison is
    with the TF kernel it wraps, `combined_non_max_suppression`.
    """
    import keras

    rng = np.random.default_rng(5)
    boxes = random_boxes(rng, (2, 200), image=0.7, min_size=0.02, max_size=0.3)
    scores = rng.uniform(0, 1, (2, 200, 5)).astype("float32")
    ours = zoo_ops.combined_non_max_suppression(
        boxes, scores, 30, 30, 0.5, 0.4, clip_boxes=False,
        implementation="keras")
    if keras.backend.backend() == "tensorflow":
        import keras_cv

        layer = keras_cv.layers.MultiClassNonMaxSuppression(
            bounding_box_format="yxyx", from_logits=False, iou_threshold=0.5,
            confidence_threshold=0.4, max_detections=30,
            max_detections_per_class=30)
        ref = layer(boxes, scores)
        ref_valid = to_numpy(ref["num_detections"])
        ref_rows = (to_numpy(ref["boxes"]), to_numpy(ref["confidence"]),
                    to_numpy(ref["classes"]))
    else:
        out = tf.image.combined_non_max_suppression(
            boxes[:, :, None], scores, 30, 30, 0.5, 0.4, clip_boxes=False)
        ref_valid = out[3].numpy()
        ref_rows = (out[0].numpy(), out[1].numpy(), out[2].numpy())
    valid = to_numpy(ours[3])
    np.testing.assert_array_equal(valid, ref_valid)
    for b in range(2):
        v = valid[b]
        np.testing.assert_allclose(to_numpy(ours[0])[b, :v], ref_rows[0][b, :v], atol=1e-6)
        np.testing.assert_allclose(to_numpy(ours[1])[b, :v], ref_rows[1][b, :v], atol=1e-6)
        np.testing.assert_array_equal(to_numpy(ours[2])[b, :v], ref_rows[2][b, :v])


def test_nms_in_tf_data_map():
    rng = np.random.default_rng(6)
    boxes = random_boxes(rng, (4, 100))
    scores = rng.uniform(0, 1, (4, 100)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((boxes, scores)).batch(2).map(
        lambda b, s: zoo_ops.non_max_suppression_padded(b, s, 10, 0.5))
    got = [(i.numpy(), v.numpy()) for i, v in ds]
    for k, (idx, valid) in enumerate(got):
        _assert_same_selection(
            (idx, valid),
            _tf_padded(boxes[2 * k:2 * k + 2], scores[2 * k:2 * k + 2], 10,
                       0.5, float("-inf")))


@pytest.mark.parametrize("bad, message", [
    (dict(boxes=np.zeros((5, 4))), r"`boxes` must have shape \[batch, num_boxes, 4\]"),
    (dict(boxes=np.zeros((1, 5, 3))), r"received shape \[1, 5, 3\]"),
    (dict(scores=np.zeros((1, 6))), r"Box counts of `boxes` \(5\) and `scores` \(6\)"),
    (dict(max_output_size=2.5), r"`max_output_size` must be a Python int"),
    (dict(iou_threshold=1.5), r"`iou_threshold` must be in \[0, 1\]"),
])
def test_padded_nms_errors_name_the_argument(bad, message):
    args = dict(boxes=np.zeros((1, 5, 4), "float32"),
                scores=np.zeros((1, 5), "float32"), max_output_size=3,
                iou_threshold=0.5)
    args.update(bad)
    with pytest.raises(zoo_ops.ZooOpsError, match=message):
        zoo_ops.non_max_suppression_padded(**args)
