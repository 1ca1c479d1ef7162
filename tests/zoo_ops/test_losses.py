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


def test_giou_loss_against_numpy_and_in_fit():
    rng = np.random.default_rng(2)
    target = random_boxes(rng, (2, 8), image=50, max_size=40)
    pred = random_boxes(rng, (2, 8), image=50, max_size=40)
    positive = np.ones((2, 8), "float32")
    positive[1, 5:] = 0
    giou = to_numpy(zoo_ops.generalized_box_iou(target, pred, aligned=True))
    expected = ((1 - giou) * positive).sum() / positive.sum()
    got = float(to_numpy(zoo_ops.GIoULoss()(target, pred, sample_weight=positive)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert float(to_numpy(zoo_ops.GIoULoss()(target, target))) == pytest.approx(0, abs=1e-6)

    # Usable in compile()/fit(): one step reduces the loss.
    inputs = keras.Input((8, 4))
    outputs = keras.layers.Dense(4)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=zoo_ops.SmoothL1Loss(beta=1.0))
    x = rng.normal(size=(4, 8, 4)).astype("float32")
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, epochs=3, verbose=0)
    assert model.evaluate(x, x, verbose=0) < before
