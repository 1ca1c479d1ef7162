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
        rng = (np.random.default_rng(self.seed) if self.seed is not None
               else np.random.mtrand._rand)
        fan_in, _ = _fans(tuple(shape))
        std = math.sqrt(2.0 / max(1, fan_in)) / 0.87962566103423978
        values = rng.standard_normal(size=shape)
        outside = np.abs(values) > 2.0
        while outside.any():
            values[outside] = rng.standard_normal(size=int(outside.sum()))
            outside = np.abs(values) > 2.0
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
        rng = (np.random.default_rng(self.seed) if self.seed is not None
               else np.random.mtrand._rand)
        fan_in, fan_out = _fans(tuple(shape))
        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
        values = rng.uniform(-limit, limit, size=shape).astype("float32")
        return keras.ops.convert_to_tensor(values, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed}
