"""Batch mixing for image classification: MixUp and CutMix, the Model
Garden's `mixup_and_cutmix` options.

MixUp is Keras' own `keras.layers.MixUp`. CutMix is written here: Keras'
`CutMix` pastes a box with fractional corners and weights the labels by
the box's continuous area, so the pixels pasted and the label weight differ
by up to a row and a column (6% on a 32-pixel image). Here, as in timm and
the Model Garden, the box has integer corners clipped to the image and the
label weight is exactly the area kept.

Per batch, with probability `prob` the batch is mixed; when both alphas are
positive, CutMix is chosen with probability `switch_prob`, MixUp otherwise
(timm's `Mixup` and the Model Garden's `MixupAndCutmix`). Labels are
smoothed by `label_smoothing` first. Every draw is a stateless function of
(seed, batch number), so a resumed run mixes the same way.
"""

import tensorflow as tf


def _draws(seed, number):
    """Five independent stateless seeds for one batch."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(number, tf.int64)])
    return [base * 7 + i for i in range(5)]


def _beta(seed, alpha):
    """A Beta(alpha, alpha) sample from two stateless gammas."""
    a = tf.random.stateless_gamma([], seed=seed, alpha=alpha)
    b = tf.random.stateless_gamma([], seed=seed + 3, alpha=alpha)
    return a / (a + b)


def cutmix(images, labels, alpha, seed):
    """CutMix (Yun et al. 2019) of a batch with the batch reversed.

    Args:
        images: `[batch, height, width, channels]` float32.
        labels: `[batch, classes]` float32 (soft or one-hot).
        alpha: float > 0, of the Beta distribution of the kept area.
        seed: int tensor `[2]`, stateless.

    Returns:
        `(images, labels)`: a box of about `1 - lambda` of each image
        replaced by the same box of its partner, and labels mixed by the
        exact fraction of pixels kept.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    lam = _beta(seed, alpha)
    ratio = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(tf.cast(height, tf.float32) * ratio, tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * ratio, tf.int32)
    cy = tf.random.stateless_uniform([], seed=seed + 1, maxval=height,
                                     dtype=tf.int32)
    cx = tf.random.stateless_uniform([], seed=seed + 2, maxval=width,
                                     dtype=tf.int32)
    y0 = tf.clip_by_value(cy - cut_h // 2, 0, height)
    y1 = tf.clip_by_value(cy + cut_h // 2, 0, height)
    x0 = tf.clip_by_value(cx - cut_w // 2, 0, width)
    x1 = tf.clip_by_value(cx + cut_w // 2, 0, width)
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    box = ((rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1))
    box = tf.cast(box, images.dtype)[None, :, :, None]
    partner = tf.reverse(images, axis=[0])
    images = images * (1.0 - box) + partner * box
    kept = 1.0 - tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(
        height * width, tf.float32)
    labels = kept * labels + (1.0 - kept) * tf.reverse(labels, axis=[0])
    return images, labels


def mix_batches(dataset, *, mixup_alpha, cutmix_alpha, seed, prob=1.0,
                switch_prob=0.5, label_smoothing=0.0):
    """Applies MixUp / CutMix to a dataset of `(images, one-hot labels)`.

    Args:
        dataset: batched `tf.data.Dataset`, images float32 `[b, h, w, c]`,
            labels float32 `[b, classes]`.
        mixup_alpha, cutmix_alpha: float, 0 disables either.
        seed: int.
        prob: probability that a batch is mixed at all.
        switch_prob: with both alphas > 0, the probability of CutMix.
        label_smoothing: smoothing of the labels before mixing.

    Returns:
        the mixed dataset.
    """
    import keras

    mixup = (keras.layers.MixUp(alpha=mixup_alpha, seed=seed,
                                dtype="float32")
             if mixup_alpha > 0 else None)

    def apply(number, images, labels):
        if label_smoothing:
            classes = tf.cast(tf.shape(labels)[-1], tf.float32)
            labels = labels * (1.0 - label_smoothing) + (
                label_smoothing / classes)
        draws = _draws(seed, number)

        def do_mixup():
            data = mixup({"images": images, "labels": labels})
            return data["images"], data["labels"]

        def do_cutmix():
            return cutmix(images, labels, cutmix_alpha, draws[0])

        if mixup is not None and cutmix_alpha > 0:
            use_cutmix = tf.random.stateless_uniform(
                [], seed=draws[1]) < switch_prob
            mixed = tf.cond(use_cutmix, do_cutmix, do_mixup)
        elif mixup is not None:
            mixed = do_mixup()
        else:
            mixed = do_cutmix()
        if prob >= 1.0:
            return mixed
        keep = tf.random.stateless_uniform([], seed=draws[2]) >= prob
        return tf.cond(keep, lambda: (images, labels), lambda: mixed)

    return dataset.enumerate().map(
        lambda number, batch: apply(number, *batch))
