"""Shared helpers for the zoo_ops tests: random boxes, NumPy conversion."""

import numpy as np
from keras import ops


def random_boxes(rng, shape, image=600.0, min_size=5.0, max_size=150.0):
    """[*shape, 4] float32 yxyx boxes inside roughly [0, image + max_size]."""
    corner = rng.uniform(0, image, shape + (2,))
    size = rng.uniform(min_size, max_size, shape + (2,))
    return np.concatenate([corner, corner + size], -1).astype("float32")


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))
