"""Per-pixel cross-entropy of a segmenter, as the Model Garden's
`SegmentationLoss` (`official/vision/losses/segmentation_losses.py`, the
softmax path; defaults from `official/vision/configs/semantic_segmentation.py`
`Losses`)."""

import keras

#: Labels with this value are not scored (the Model Garden's default).
IGNORE_LABEL = 255


def _labels_2d(labels):
    labels = keras.ops.convert_to_tensor(labels)
    if len(labels.shape) == 4:
        labels = labels[..., 0]
    return keras.ops.cast(labels, "int32")


def resize_logits_to(logits, labels):
    """`logits` `[B, h, w, C]` resized bilinearly to `labels`' `[B, H, W]`
    size (unchanged when equal), as the Model Garden's loss and metric do
    (`tf.image.resize`: half-pixel centres, no antialiasing)."""
    ops = keras.ops
    size = tuple(labels.shape[1:3])
    if None in size:
        shape = ops.shape(labels)
        size = (shape[1], shape[2])
    elif tuple(logits.shape[1:3]) == size:
        return logits
    return ops.image.resize(logits, size, interpolation="bilinear",
                            data_format="channels_last")


def valid_pixels(labels, num_classes, ignore_label=IGNORE_LABEL):
    """`[B, H, W]` bool: labels in `[0, num_classes)`; `ignore_label` and
    any other value outside the classes are not scored."""
    return keras.ops.logical_and(labels >= 0, labels < num_classes) & (
        labels != ignore_label)


def segmentation_loss(labels, logits, *, ignore_label=IGNORE_LABEL,
                      class_weights=None, label_smoothing=0.0,
                      top_k_percent_pixels=1.0):
    """The mean cross-entropy over the scored pixels of a batch.

    Args:
        labels: `[B, H, W]` or `[B, H, W, 1]` int class ids.
        logits: `[B, h, w, C]`; resized bilinearly to the labels' size
            when it differs (the Model Garden's
            `use_groundtruth_dimension: true`).
        ignore_label: labels not scored. Values outside `[0, C)` are not
            scored either (the Model Garden would count them as scored
            pixels of zero loss).
        class_weights: None or `C` floats: each pixel's loss times its true
            class's weight (the normaliser stays the pixel count).
        label_smoothing: targets `t * (1 - s) + s / C`.
        top_k_percent_pixels: below 1, only the hardest `k = int(p *
            B * H * W)` pixels count, normalised by `min(k, scored)`.

    Returns:
        scalar float32: the summed loss over `scored + 1e-5` pixels.
    """
    ops = keras.ops
    labels = _labels_2d(labels)
    logits = ops.cast(resize_logits_to(logits, labels), "float32")
    num_classes = int(logits.shape[-1])
    if class_weights is not None and len(class_weights) not in (0,
                                                                num_classes):
        raise ValueError(
            f"segmentation_loss: class_weights has {len(class_weights)} "
            f"values for {num_classes} classes.")
    valid = valid_pixels(labels, num_classes, ignore_label)
    safe = ops.where(valid, labels, 0)
    targets = ops.one_hot(safe, num_classes)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + (
            label_smoothing / num_classes)
    losses = -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)
    weight = ops.cast(valid, "float32")
    if class_weights:
        weight = weight * ops.take(
            ops.convert_to_tensor([float(w) for w in class_weights]), safe)
    losses = losses * weight
    scored = ops.sum(ops.cast(valid, "float32"))
    if top_k_percent_pixels >= 1.0:
        return ops.sum(losses) / (scored + 1e-5)
    flat = ops.reshape(losses, (-1,))
    total = 1
    for side in labels.shape:
        total = None if side is None or total is None else total * side
    if total is None:
        raise ValueError("segmentation_loss: top_k_percent_pixels needs "
                         "labels of a static shape.")
    k = max(int(top_k_percent_pixels * total), 1)
    top, _ = ops.top_k(flat, k)
    return ops.sum(top) / (ops.minimum(float(k), scored) + 1e-5)


@keras.saving.register_keras_serializable(package="zoo")
class SegmentationLoss(keras.losses.Loss):
    """`segmentation_loss` as a Keras loss (for `compile`).

    Args:
        ignore_label, class_weights, label_smoothing, top_k_percent_pixels:
            `segmentation_loss`'s.
        loss_weight: multiplies the loss (the Model Garden's
            `losses.loss_weight`).
    """

    def __init__(self, ignore_label=IGNORE_LABEL, class_weights=None,
                 label_smoothing=0.0, top_k_percent_pixels=1.0,
                 loss_weight=1.0, name="segmentation_loss", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.loss_weight = float(loss_weight)
        self.ignore_label = int(ignore_label)
        self.class_weights = (None if not class_weights
                              else [float(w) for w in class_weights])
        self.label_smoothing = float(label_smoothing)
        self.top_k_percent_pixels = float(top_k_percent_pixels)

    def call(self, y_true, y_pred):
        loss = segmentation_loss(
            y_true, y_pred, ignore_label=self.ignore_label,
            class_weights=self.class_weights,
            label_smoothing=self.label_smoothing,
            top_k_percent_pixels=self.top_k_percent_pixels)
        return loss * self.loss_weight if self.loss_weight != 1.0 else loss

    def get_config(self):
        return {"name": self.name, "ignore_label": self.ignore_label,
                "class_weights": self.class_weights,
                "label_smoothing": self.label_smoothing,
                "top_k_percent_pixels": self.top_k_percent_pixels,
                "loss_weight": self.loss_weight}
