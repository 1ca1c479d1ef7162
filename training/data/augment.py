"""Training augmentation for image classification that Keras lacks: the
Model Garden's `random_erasing` (per image) and its `mixup_and_cutmix`
(per batch).

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

import math

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


def random_erase(image, seed, *, probability=0.25, min_area=0.02,
                 max_area=1 / 3, min_aspect=0.3, max_aspect=None,
                 min_count=1, max_count=1, trials=10):
    """Random erasing (Zhong et al. 2017) of one normalised image, sampled
    as the Model Garden's `augment.RandomErasing` samples it.

    With probability `probability`, `count` rectangles (drawn in
    `[min_count, max_count]`) are replaced by standard-normal noise, one
    value per pixel and channel. Each rectangle takes up to `trials` draws
    of an area in `[min_area, max_area]` of the image and a log-uniform
    aspect ratio in `[min_aspect, max_aspect]` (`1 / min_aspect` when None),
    giving half sizes `round(sqrt(area * aspect) / 2)` (height) and
    `round(sqrt(area / aspect) / 2)` (width); the first draw that fits
    (`2 * half < side` both ways) is used and the rest ignored. The centre
    is drawn in `[0, side - 2 * half)`, so, as in the Model Garden, a
    rectangle near the top or left edge is clipped there.

    Args:
        image: `[height, width, channels]` float (normalised: the noise has
            the data's scale).
        seed: int tensor `[2]`, stateless: the same seed erases the same way.
        probability, min_area, max_area, min_aspect, max_aspect, min_count,
        max_count, trials: as above (the Model Garden's defaults).

    Returns:
        the image, same shape and dtype.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(
            f"random erasing: probability={probability} must be in [0, 1].")
    if not 0.0 < min_area <= max_area <= 1.0:
        raise ValueError(
            f"random erasing: need 0 < min_area <= max_area <= 1, got "
            f"min_area={min_area}, max_area={max_area}.")
    max_aspect = max_aspect or 1.0 / min_aspect
    if not 0.0 < min_aspect <= max_aspect:
        raise ValueError(
            f"random erasing: need 0 < min_aspect <= max_aspect, got "
            f"{min_aspect} and {max_aspect}.")
    if not 1 <= min_count <= max_count or trials < 1:
        raise ValueError(
            f"random erasing: need 1 <= min_count <= max_count and trials "
            f">= 1, got {min_count}, {max_count}, {trials}.")
    seed = tf.cast(seed, tf.int64)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    area = tf.cast(height * width, tf.float32)
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    erase = tf.zeros([height, width], tf.bool)
    count = tf.random.stateless_uniform(
        [], seed=seed * 11 + 1, minval=min_count, maxval=max_count + 1,
        dtype=tf.int32)
    for number in range(max_count):
        # All trials at once; the first that fits wins.
        base = seed * 11 + 2 + 4 * number
        areas = tf.random.stateless_uniform(
            [trials], seed=base, minval=area * min_area,
            maxval=area * max_area)
        aspects = tf.exp(tf.random.stateless_uniform(
            [trials], seed=base + 1, minval=math.log(min_aspect),
            maxval=math.log(max_aspect)))
        half_h = tf.cast(tf.round(tf.sqrt(areas * aspects) / 2), tf.int32)
        half_w = tf.cast(tf.round(tf.sqrt(areas / aspects) / 2), tf.int32)
        fits = (2 * half_h < height) & (2 * half_w < width)
        first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
        half_h, half_w = half_h[first], half_w[first]
        centre = tf.random.stateless_uniform([2], seed=base + 2)
        cy = tf.cast(centre[0] * tf.cast(height - 2 * half_h, tf.float32),
                     tf.int32)
        cx = tf.cast(centre[1] * tf.cast(width - 2 * half_w, tf.float32),
                     tf.int32)
        box = ((rows >= cy - half_h) & (rows < cy + half_h)
               & (cols >= cx - half_w) & (cols < cx + half_w))
        use = tf.reduce_any(fits) & (number < count)
        erase = erase | (box & use)
    noise = tf.random.stateless_normal(shape, seed=seed * 11 + 3,
                                       dtype=image.dtype)
    erased = tf.where(erase[:, :, None], noise, image)
    apply = tf.random.stateless_uniform([], seed=seed * 11) < probability
    return tf.where(apply, erased, image)


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
