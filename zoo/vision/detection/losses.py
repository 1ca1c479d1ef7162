"""RetinaNet's training loss, as the Model Garden computes it.

`official/vision/tasks/retinanet.py` (`RetinaNetTask.build_losses`, defaults
from `official/vision/configs/retinanet.py` `Losses`): with
`P = sum(box_weights) + 1` over the batch,

- class loss: the sigmoid focal loss (alpha 0.25, gamma 1.5) of the one-hot
  class targets (no class for negatives), summed over classes, anchors and
  images, weighted by `class_weights` (0 for ignored anchors), / P;
- box loss: the Huber loss (delta 0.1) of the encoded boxes, averaged over
  the 4 coordinates, summed over positive anchors, / P;
- total: `class loss + box_loss_weight (50) * box loss`.
"""

import keras

import zoo_ops

#: The Model Garden's `Losses` defaults.
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 1.5
HUBER_DELTA = 0.1
BOX_LOSS_WEIGHT = 50.0


def huber(y_true, y_pred, delta):
    """Per-coordinate Huber loss averaged over the last axis (Keras'
    `Huber`): `0.5 d^2` below `delta`, `delta (|d| - 0.5 delta)` above."""
    ops = keras.ops
    diff = ops.abs(y_pred - y_true)
    quadratic = ops.minimum(diff, delta)
    return ops.mean(0.5 * quadratic ** 2 + delta * (diff - quadratic),
                    axis=-1)


def retinanet_loss(outputs, targets, num_classes, alpha=FOCAL_ALPHA,
                   gamma=FOCAL_GAMMA, delta=HUBER_DELTA,
                   box_loss_weight=BOX_LOSS_WEIGHT):
    """The Model Garden's RetinaNet loss of one batch.

    Args:
        outputs: the detector's `{"cls_outputs": [B, N, C] logits,
            "box_outputs": [B, N, 4]}`.
        targets: `zoo_ops.label_anchors`' dict (`class_targets` -1 for
            negatives, `box_targets`, `class_weights`, `box_weights`).
        num_classes: int, C.
        alpha, gamma: the focal loss's.
        delta: the Huber loss's.
        box_loss_weight: float.

    Returns:
        `(total, class_loss, box_loss)` scalars.
    """
    ops = keras.ops
    logits = ops.cast(outputs["cls_outputs"], "float32")
    boxes = ops.cast(outputs["box_outputs"], "float32")
    classes = ops.cast(targets["class_targets"], "int32")
    one_hot = ops.one_hot(ops.maximum(classes, 0), num_classes)
    one_hot = one_hot * ops.cast(classes >= 0, "float32")[..., None]
    class_weights = ops.cast(targets["class_weights"], "float32")
    box_weights = ops.cast(targets["box_weights"], "float32")
    positives = ops.sum(box_weights) + 1.0
    focal = zoo_ops.sigmoid_focal_loss(one_hot, logits, alpha=alpha,
                                       gamma=gamma, from_logits=True)
    class_loss = ops.sum(focal * class_weights[..., None]) / positives
    box_loss = ops.sum(
        huber(ops.cast(targets["box_targets"], "float32"), boxes, delta)
        * box_weights) / positives
    return (class_loss + box_loss_weight * box_loss, class_loss, box_loss)


class RetinaNetLoss:
    """The settings of RetinaNet's loss, for `ObjectDetector.compile`.

    ```python
    det.compile(optimizer="sgd", loss=RetinaNetLoss(alpha=0.25, gamma=2.0))
    ```

    Args:
        alpha, gamma: the focal loss's (the Model Garden's
            `focal_loss_alpha`, `focal_loss_gamma`).
        delta: the Huber loss's (`huber_loss_delta`).
        box_loss_weight: weight of the box loss (`box_loss_weight`).
        loss_weight: multiplies the whole loss, regularisation included
            (`loss_weight`).
    """

    def __init__(self, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA,
                 delta=HUBER_DELTA, box_loss_weight=BOX_LOSS_WEIGHT,
                 loss_weight=1.0):
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.delta = float(delta)
        self.box_loss_weight = float(box_loss_weight)
        self.loss_weight = float(loss_weight)

    def options(self):
        """`retinanet_loss`'s keyword arguments."""
        return dict(alpha=self.alpha, gamma=self.gamma, delta=self.delta,
                    box_loss_weight=self.box_loss_weight)

    def __repr__(self):
        return (f"RetinaNetLoss(alpha={self.alpha}, gamma={self.gamma}, "
                f"delta={self.delta}, box_loss_weight="
                f"{self.box_loss_weight}, loss_weight={self.loss_weight})")
