"""Mean IoU of a segmenter over a whole evaluation, from one confusion
matrix accumulated across batches (and replicas: Keras sums metric
variables)."""

import keras
import numpy as np

from zoo.vision.segmentation.losses import (
    IGNORE_LABEL,
    _labels_2d,
    resize_logits_to,
    valid_pixels,
)


def confusion_matrix(labels, predictions, num_classes,
                     ignore_label=IGNORE_LABEL):
    """NumPy `[num_classes, num_classes]` int64 counts, truth by row, of
    the pixels whose label is a class (not `ignore_label`, not out of
    range).

    Args:
        labels, predictions: int arrays of one shape.
        num_classes: int.
        ignore_label: the label left out.
    """
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
    keep = (labels >= 0) & (labels < num_classes) & (labels != ignore_label)
    counts = np.bincount(labels[keep] * num_classes + predictions[keep],
                         minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_iou_of(matrix):
    """`[num_classes]` IoU from a confusion matrix, 0 for a class absent
    from truth and prediction."""
    matrix = np.asarray(matrix, "float64")
    hits = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    return np.divide(hits, union, out=np.zeros_like(hits), where=union > 0)


def mean_iou_of(matrix):
    """The mean IoU of a confusion matrix over the classes present in
    truth or prediction (Keras' `MeanIoU`); 0 when none is."""
    matrix = np.asarray(matrix, "float64")
    hits = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    present = union > 0
    return float((hits[present] / union[present]).mean()) if present.any() \
        else 0.0


@keras.saving.register_keras_serializable(package="zoo")
class SegmentationMeanIoU(keras.metrics.MeanIoU):
    """Mean IoU from logits, `ignore_label` and out-of-range labels left
    out, classes absent from both truth and prediction left out of the
    mean (Keras' `MeanIoU`, the Model Garden's training-time `mean_iou`;
    its evaluation-time mean counts such classes as 0: see
    `per_class_iou`).

    Args:
        num_classes: int.
        ignore_label: labels not scored.
        name: the metric's name.

    `update_state(y_true, y_pred, sample_weight=None)`: labels `[B, H, W]`
    (or `[..., 1]`) int, logits `[B, h, w, num_classes]` (resized
    bilinearly to the labels' size, then argmax); pixels of a 0
    `sample_weight` are left out. `result()`: the mean IoU.
    """

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL,
                 name="mean_iou", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype,
                         sparse_y_true=True, sparse_y_pred=True)
        self.ignore_label = int(ignore_label)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = keras.ops
        labels = _labels_2d(y_true)
        logits = resize_logits_to(ops.convert_to_tensor(y_pred), labels)
        predictions = ops.argmax(logits, axis=-1)
        valid = valid_pixels(labels, self.num_classes, self.ignore_label)
        if sample_weight is not None:
            valid = valid & (ops.convert_to_tensor(sample_weight) > 0)
        # The confusion matrix counts in integers.
        weight = ops.cast(valid, self.dtype)
        return super().update_state(
            ops.reshape(ops.where(valid, labels, 0), (-1,)),
            ops.reshape(predictions, (-1,)),
            sample_weight=ops.reshape(weight, (-1,)))

    def confusion_matrix(self):
        """`[num_classes, num_classes]` float64 counts, truth by row."""
        return np.asarray(keras.ops.convert_to_numpy(self.total_cm),
                          "float64")

    def per_class_iou(self):
        """`[num_classes]` IoU of each class, 0 for a class absent from
        truth and prediction (the Model Garden's `PerClassIoU`; their plain
        mean is its evaluation `mean_iou`)."""
        return per_class_iou_of(self.confusion_matrix())

    def get_config(self):
        return {"num_classes": self.num_classes,
                "ignore_label": self.ignore_label, "name": self.name,
                "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="zoo")
class OutOfRangeLabels(keras.metrics.Metric):
    """How many label pixels were outside `[0, num_classes)` and not
    `ignore_label` (they are not scored by the loss or mean IoU; a count
    above 0 usually means a wrong `num_classes` or mask encoding).

    Args:
        num_classes: int.
        ignore_label: the label that is expected and not counted.
        name: the metric's name.
    """

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL,
                 name="out_of_range_labels", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.count = self.add_variable(shape=(), name="count",
                                       initializer="zeros")

    def update_state(self, y_true, y_pred=None, sample_weight=None):
        ops = keras.ops
        labels = _labels_2d(y_true)
        outside = ops.logical_not(
            valid_pixels(labels, self.num_classes, self.ignore_label)) & (
            labels != self.ignore_label)
        self.count.assign_add(ops.sum(ops.cast(outside, self.count.dtype)))

    def result(self):
        # A tensor, not the variable (JAX traces metric results).
        return keras.ops.convert_to_tensor(self.count) + 0.0

    def reset_state(self):
        self.count.assign(0.0)

    def get_config(self):
        return {"num_classes": self.num_classes,
                "ignore_label": self.ignore_label, "name": self.name,
                "dtype": self.dtype}
