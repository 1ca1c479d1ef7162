"""Detection losses as Keras losses, normalised by the number of positives.

Dense detectors sum their losses over all anchors and divide by the number of
positive anchors in the batch (at least 1), so that the loss does not depend
on how many anchors are negatives. Each loss here does that in `__call__`:

- `SigmoidFocalLoss`: positives are anchors with a 1 in `y_true`.
- `SmoothL1Loss`, `GIoULoss`: positives are anchors with `sample_weight > 0`
  (the labeler's `box_weights`); without weights every anchor counts.

`call()` returns the unnormalised per-anchor loss for use elsewhere.
"""

import keras
from keras import ops

from zoo_ops.errors import ArgumentError, check_shape
from zoo_ops.iou import generalized_box_iou


def sigmoid_focal_loss(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=True):
    """Element-wise sigmoid focal loss (Lin et al., 2017).

    Args:
        y_true: [..., num_classes] float, 0/1 targets.
        y_pred: [..., num_classes] float, logits (or probabilities when
            `from_logits` is False).
        alpha: float in [0, 1] weighting positives (1 - alpha negatives),
            or None for no weighting.
        gamma: float >= 0, focusing exponent.

    Returns:
        [..., num_classes] float, the loss of every element.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    if from_logits:
        probs = ops.sigmoid(y_pred)
        cross_entropy = ops.binary_crossentropy(y_true, y_pred, from_logits=True)
    else:
        probs = y_pred
        cross_entropy = ops.binary_crossentropy(y_true, y_pred)
    p_t = y_true * probs + (1.0 - y_true) * (1.0 - probs)
    loss = ops.power(1.0 - p_t, gamma) * cross_entropy
    if alpha is not None:
        loss = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * loss
    return loss


class _PositiveNormalizedLoss(keras.losses.Loss):
    """Sum of the weighted per-anchor losses / max(#positives, 1)."""

    def __init__(self, name, reduction="sum", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _positives(self, y_true, weights):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            dtype = self.dtype or "float32"
            y_pred = ops.cast(ops.convert_to_tensor(y_pred), dtype)
            y_true = ops.cast(ops.convert_to_tensor(y_true), dtype)
            per_anchor = self.call(y_true, y_pred)
            if sample_weight is None:
                weights = ops.ones_like(per_anchor)
            else:
                weights = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
                if tuple(weights.shape) != tuple(per_anchor.shape):
                    raise ArgumentError(
                        f"`sample_weight` must have shape {list(per_anchor.shape)} "
                        f"(one weight per anchor); received {list(weights.shape)}."
                    )
            normalizer = ops.maximum(self._positives(y_true, weights), 1.0)
            return ops.sum(per_anchor * weights) / normalizer


class SigmoidFocalLoss(_PositiveNormalizedLoss):
    """Focal loss summed over classes and anchors, / number of positive anchors.

    Args:
        alpha: float, weight of positives (0.25 in RetinaNet).
        gamma: float, focusing exponent (2.0).
        from_logits: whether `y_pred` holds logits.

    Call arguments:
        y_true: [batch, num_anchors, num_classes] 0/1 float (one-hot).
        y_pred: [batch, num_anchors, num_classes] float.
        sample_weight: optional [batch, num_anchors], 0 for ignored anchors.

    Returns a scalar: sum(loss * weight) / max(#anchors with a positive
    class and weight > 0, 1).
    """

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=True,
                 name="sigmoid_focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if gamma < 0:
            raise ArgumentError(f"`gamma` must be >= 0; received {gamma}.")
        self.alpha, self.gamma, self.from_logits = alpha, gamma, from_logits

    def call(self, y_true, y_pred):
        check_shape("y_pred", y_pred, "[..., num_classes]",
                    allowed_ranks=(len(y_true.shape),))
        return ops.sum(sigmoid_focal_loss(y_true, y_pred, self.alpha, self.gamma,
                                          self.from_logits), axis=-1)

    def _positives(self, y_true, weights):
        positive = ops.cast(ops.max(y_true, axis=-1) > 0.5, weights.dtype)
        return ops.sum(positive * ops.cast(weights > 0, weights.dtype))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha,
                "gamma": self.gamma, "from_logits": self.from_logits}


class SmoothL1Loss(_PositiveNormalizedLoss):
    """Smooth-L1 (Huber) box regression loss / number of positive anchors.

    Per coordinate: 0.5 * d**2 / beta if |d| < beta else |d| - 0.5 * beta,
    summed over the 4 coordinates. `beta` = Huber's `delta` up to a factor:
    Huber(delta) = delta * SmoothL1(beta=delta); pass `huber=True` to get
    the Huber form (the Model Garden's RetinaNet uses Huber, delta 0.1).

    Call arguments:
        y_true: [batch, num_anchors, 4] float, encoded targets.
        y_pred: [batch, num_anchors, 4] float.
        sample_weight: [batch, num_anchors], 1 for positive anchors.
    """

    def __init__(self, beta=1.0 / 9.0, huber=False, name="smooth_l1_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if beta <= 0:
            raise ArgumentError(f"`beta` must be > 0; received {beta}.")
        self.beta, self.huber = beta, huber

    def call(self, y_true, y_pred):
        check_shape("y_pred", y_pred, "[..., 4]", last_dim=4)
        diff = ops.abs(y_pred - y_true)
        loss = ops.where(diff < self.beta, 0.5 * diff * diff / self.beta,
                         diff - 0.5 * self.beta)
        if self.huber:
            loss = loss * self.beta
        return ops.sum(loss, axis=-1)

    def _positives(self, y_true, weights):
        return ops.sum(ops.cast(weights > 0, weights.dtype))

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "huber": self.huber}


class GIoULoss(_PositiveNormalizedLoss):
    """1 - GIoU of predicted and target boxes / number of positive boxes.

    Call arguments:
        y_true: [batch, num_boxes, 4] float, yxyx target boxes.
        y_pred: [batch, num_boxes, 4] float, yxyx predicted boxes.
        sample_weight: [batch, num_boxes], 1 for positive boxes.
    """

    def __init__(self, name="giou_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        check_shape("y_pred", y_pred, "[..., 4]", last_dim=4)
        return 1.0 - generalized_box_iou(y_true, y_pred, aligned=True)

    def _positives(self, y_true, weights):
        return ops.sum(ops.cast(weights > 0, weights.dtype))
