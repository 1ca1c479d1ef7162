"""Detection losses against NumPy formulas, normalised by positives."""

import numpy as np
import pytest
import keras

import zoo_ops
from ops_test_helpers import random_boxes, to_numpy


def _focal_numpy(y, logits, alpha, gamma):
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    a_t = y * alpha + (1 - y) * (1 - alpha)
    return a_t * (1 - p_t) ** gamma * ce


def test_sigmoid_focal_loss_normalised_by_positives():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2, 30, 4)).astype("float32")
    classes = rng.integers(-1, 4, (2, 30))                 # -1: background
    y = np.eye(4, dtype="float32")[np.clip(classes, 0, 3)] * (classes >= 0)[..., None]
    weights = (rng.uniform(size=(2, 30)) > 0.2).astype("float32")   # 0: ignored
    loss = zoo_ops.SigmoidFocalLoss(alpha=0.25, gamma=2.0)
    value = float(to_numpy(loss(y, logits, sample_weight=weights)))
    per_anchor = _focal_numpy(y, logits, 0.25, 2.0).sum(-1)
    positives = ((classes >= 0) & (weights > 0)).sum()
    np.testing.assert_allclose(value, (per_anchor * weights).sum() / positives, rtol=1e-5)
    # No positives: divide by 1, not 0.
    value = float(to_numpy(loss(np.zeros_like(y), logits)))
    np.testing.assert_allclose(value, _focal_numpy(0 * y, logits, 0.25, 2.0).sum(), rtol=1e-5)
    # gamma=0 and alpha=None is binary cross-entropy.
    bce = zoo_ops.sigmoid_focal_loss(y, logits, alpha=None, gamma=0.0)
    np.testing.assert_allclose(
        to_numpy(bce), to_numpy(keras.ops.binary_crossentropy(y, logits, from_logits=True)),
        rtol=1e-5, atol=1e-6)


def test_smooth_l1_and_huber_box_loss():
    rng = np.random.default_rng(1)
    y_true = rng.normal(0, 0.2, (2, 20, 4)).astype("float32")
    y_pred = rng.normal(0, 0.2, (2, 20, 4)).astype("float32")
    positive = (rng.uniform(size=(2, 20)) > 0.6).astype("float32")
    d = np.abs(y_pred - y_true).astype(np.float64)
    beta = 0.1
    smooth = np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta).sum(-1)
    expected = (smooth * positive).sum() / positive.sum()
    got = zoo_ops.SmoothL1Loss(beta=beta)(y_true, y_pred, sample_weight=positive)
    np.testing.assert_allclose(float(to_numpy(got)), expected, rtol=1e-5)
    huber = zoo_ops.SmoothL1Loss(beta=beta, huber=True)(y_true, y_pred, sample_weight=positive)
    keras_huber = keras.losses.Huber(delta=beta, reduction="sum")(
        y_true, y_pred, sample_weight=positive)
    # Keras averages over the last axis before weighting; ours sums 4 coords.
    np.testing.assert_allclose(float(to_numpy(huber)),
                               4 * float(to_numpy(keras_huber)) / positive.sum(), rtol=1e-5)
    with pytest.raises(zoo_ops.ArgumentError, match=r"`sample_weight` must have shape \[2, 20\]"):
        zoo_ops.SmoothL1Loss()(y_true, y_pred, sample_weight=positive[:, :5])


def _giou_numpy(a, b):
    """GIoU of aligned yxyx boxes (Rezatofighi et al. 2019), float64:
    IoU - (enclosing area - union) / enclosing area."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    ymin, xmin = np.maximum(a[..., 0], b[..., 0]), np.maximum(a[..., 1], b[..., 1])
    ymax, xmax = np.minimum(a[..., 2], b[..., 2]), np.minimum(a[..., 3], b[..., 3])
    inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    hull = ((np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0]))
            * (np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])))
    return inter / union - (hull - union) / hull


def test_giou_loss_against_numpy():
    rng = np.random.default_rng(2)
    target = random_boxes(rng, (2, 8), image=50, max_size=40)
    pred = random_boxes(rng, (2, 8), image=50, max_size=40)
    positive = np.ones((2, 8), "float32")
    positive[1, 5:] = 0
    giou = _giou_numpy(target, pred)
    assert giou.min() < 0 < giou.max()   # both overlapping and disjoint pairs
    expected = ((1 - giou) * positive).sum() / positive.sum()
    got = float(to_numpy(zoo_ops.GIoULoss()(target, pred, sample_weight=positive)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert float(to_numpy(zoo_ops.GIoULoss()(target, target))) == pytest.approx(0, abs=1e-6)


def _fit_reduces(loss, y, last_units, activation=None, steps=20):
    """A linear model trained with `loss` in compile()/fit() gets better."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8,) + y.shape[1:-1] + (6,)).astype("float32")
    inputs = keras.Input(x.shape[1:])
    outputs = keras.layers.Dense(last_units, activation=activation)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    before = model.evaluate(x, y, verbose=0, batch_size=8)
    history = model.fit(x, y, epochs=steps, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert model.evaluate(x, y, verbose=0, batch_size=8) < 0.9 * before


def test_each_detection_loss_trains_in_fit():
    rng = np.random.default_rng(4)
    classes = rng.integers(-1, 3, (8, 5))
    y = (np.eye(3, dtype="float32")[np.clip(classes, 0, 2)]
         * (classes >= 0)[..., None])
    _fit_reduces(zoo_ops.SigmoidFocalLoss(alpha=0.25, gamma=1.5), y, 3)
    _fit_reduces(zoo_ops.SmoothL1Loss(beta=0.1, huber=True),
                 rng.normal(0, 0.3, (8, 5, 4)).astype("float32"), 4)
    # GIoU of boxes predicted as (ymin, xmin, height, width) made positive.
    boxes = random_boxes(rng, (8, 5), image=50, max_size=30)

    def giou_of_sizes(y_true, raw):
        corner = 25.0 + 25.0 * raw[..., :2]
        size = 15.0 * keras.ops.softplus(raw[..., 2:]) + 1.0
        return zoo_ops.GIoULoss()(
            y_true, keras.ops.concatenate([corner, corner + size], -1))

    _fit_reduces(giou_of_sizes, boxes, 4, steps=40)
