"""Weight initialisers drawn on the host with NumPy.

Keras' random initialisers on the JAX backend compile one XLA program per
weight shape, which makes building a ResNet-50 take seconds of compilation.
These draw the same distributions with NumPy (seeded by
`keras.utils.set_random_seed`, which seeds NumPy's global generator) and hand
the array to the variable.
"""

import math

import keras
import numpy as np


def _rng(seed):
    """A seeded generator, or NumPy's global one (seeded by Keras)."""
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random.mtrand._rand


def _truncated_standard_normal(rng, shape):
    """Standard normal samples, those beyond 2 redrawn until inside.

    Only the redrawn positions are checked again (the same draws, in the
    same order, as redrawing over a mask of the whole array)."""
    values = rng.standard_normal(size=shape)
    flat = values.reshape(-1)
    index = np.flatnonzero(np.abs(flat) > 2.0)
    while index.size:
        redrawn = rng.standard_normal(size=index.size)
        flat[index] = redrawn
        index = index[np.abs(redrawn) > 2.0]
    return values


def _fans(shape):
    if len(shape) < 2:
        return shape[0] if shape else 1, shape[0] if shape else 1
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


@keras.saving.register_keras_serializable(package="zoo")
class HostHeNormal(keras.initializers.Initializer):
    """He-normal: truncated normal (at 2 sigma), std `sqrt(2 / fan_in)`.

    Matches `keras.initializers.HeNormal`: the standard deviation is divided
    by 0.8796, the std of a unit normal truncated at 2, so the truncated
    samples have the intended variance.

    Args:
        seed: int or None; None draws from NumPy's global generator.
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, _ = _fans(tuple(shape))
        std = math.sqrt(2.0 / max(1, fan_in)) / 0.87962566103423978
        values = _truncated_standard_normal(_rng(self.seed), shape)
        return keras.ops.convert_to_tensor(
            (values * std).astype("float32"), dtype=dtype
        )

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class HostGlorotUniform(keras.initializers.Initializer):
    """Glorot-uniform: U(-l, l) with `l = sqrt(6 / (fan_in + fan_out))`.

    Args:
        seed: int or None; None draws from NumPy's global generator.
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(tuple(shape))
        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
        values = _rng(self.seed).uniform(-limit, limit, size=shape)
        values = values.astype("float32")
        return keras.ops.convert_to_tensor(values, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class HostTruncatedNormal(keras.initializers.Initializer):
    """Normal with standard deviation `stddev`, redrawn outside `2 * stddev`.

    The initialiser of BERT, ALBERT and their kin (`stddev=0.02`, the
    `initializer_range` of their configs). The samples are not rescaled after
    truncation (the result's standard deviation is about `0.88 * stddev`), as
    in the original BERT's `tf.truncated_normal_initializer` and
    `keras.initializers.TruncatedNormal`.

    Args:
        stddev: float, standard deviation before truncation.
        seed: int or None; None draws from NumPy's global generator.
    """

    def __init__(self, stddev=0.02, seed=None):
        self.stddev = float(stddev)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        values = _truncated_standard_normal(_rng(self.seed), shape)
        return keras.ops.convert_to_tensor(
            (values * self.stddev).astype("float32"), dtype=dtype
        )

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}
