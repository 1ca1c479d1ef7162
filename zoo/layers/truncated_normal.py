"""Truncated-normal weights drawn on the host, as BERT-family models use them."""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="zoo")
class HostTruncatedNormal(keras.initializers.Initializer):
    """Normal with standard deviation `stddev`, redrawn outside `2 * stddev`.

    The initialiser of BERT, ALBERT and their kin (`stddev=0.02`, the
    `initializer_range` of their configs). Drawn with NumPy like the other
    host initialisers in `zoo.layers.initializers`, so building a large
    model on the JAX backend compiles nothing; seeded by
    `keras.utils.set_random_seed`.

    The samples are not rescaled after truncation (the standard deviation
    of the result is about `0.88 * stddev`), as in the original BERT's
    `tf.truncated_normal_initializer` and `keras.initializers.TruncatedNormal`.

    Args:
        stddev: float, standard deviation before truncation.
        seed: int or None; None draws from NumPy's global generator.
    """

    def __init__(self, stddev=0.02, seed=None):
        self.stddev = float(stddev)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rng = (np.random.default_rng(self.seed) if self.seed is not None
               else np.random.mtrand._rand)
        values = rng.standard_normal(size=shape)
        outside = np.abs(values) > 2.0
        while outside.any():
            values[outside] = rng.standard_normal(size=int(outside.sum()))
            outside = np.abs(values) > 2.0
        return keras.ops.convert_to_tensor(
            (values * self.stddev).astype("float32"), dtype=dtype
        )

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}
