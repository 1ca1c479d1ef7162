"""Balanced positive / negative sampling of anchors or RoIs, static shapes."""

from zoo_ops._backend import ops_for, static_shape
from zoo_ops.errors import ArgumentError, check_shape


def balanced_sample(positive_mask, negative_mask, num_samples,
                    positive_fraction=0.5, seed=None):
    """Samples up to `num_samples` entries per image, at most a fraction positive.

    Takes min(#positives, floor(num_samples * positive_fraction)) positives
    uniformly at random, then fills up to `num_samples` with negatives taken
    uniformly at random (Faster R-CNN's RPN and RoI sampling). Shapes are
    static: the result is a mask, not a list of indices.

    Args:
        positive_mask: [batch, N] bool.
        negative_mask: [batch, N] bool (disjoint from positives).
        num_samples: int, samples per image at most.
        positive_fraction: float in [0, 1].
        seed: int or `keras.random.SeedGenerator`.

    Returns:
        (sampled_positives, sampled_negatives): [batch, N] bool each.
    """
    shape = check_shape("positive_mask", positive_mask, "[batch, N]",
                        allowed_ranks=(2,))
    check_shape("negative_mask", negative_mask, f"{list(shape)}",
                allowed_ranks=(2,))
    if not isinstance(num_samples, int) or num_samples < 0:
        raise ArgumentError(f"`num_samples` must be an int >= 0; received {num_samples!r}.")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ArgumentError(
            f"`positive_fraction` must be in [0, 1]; received {positive_fraction!r}.")
    ops = ops_for(positive_mask, negative_mask)
    positive = ops.cast(ops.convert_to_tensor(positive_mask), "bool")
    negative = ops.logical_and(
        ops.cast(ops.convert_to_tensor(negative_mask), "bool"),
        ops.logical_not(positive))
    batch, n = static_shape(positive)
    if n == 0:
        return positive, negative
    noise = _uniform(ops, (batch if batch is not None else ops.shape(positive)[0], n), seed)
    max_positives = int(num_samples * positive_fraction)
    num_positive = ops.minimum(
        ops.sum(ops.cast(positive, "int32"), axis=1), max_positives)
    take_positive = ops.logical_and(
        positive, _random_rank(ops, positive, noise) < num_positive[:, None])
    num_negative = num_samples - num_positive
    take_negative = ops.logical_and(
        negative, _random_rank(ops, negative, noise) < num_negative[:, None])
    return take_positive, take_negative


def _uniform(ops, shape, seed):
    import keras

    if ops is keras.ops:
        return keras.random.uniform(shape, seed=seed)
    from zoo_ops._backend import tensorflow

    tf = tensorflow()
    return tf.random.uniform(shape, seed=seed if isinstance(seed, int) else None)


def _random_rank(ops, mask, noise):
    """Rank of each masked entry in a random order (0 = first); N elsewhere."""
    key = ops.where(mask, noise, -1.0)
    order = ops.argsort(-key, axis=1)
    return ops.argsort(order, axis=1)
