"""Stochastic depth: drops whole residual branches per sample."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class DropPath(keras.layers.Layer):
    """Zeroes the input for a random subset of samples while training.

    Kept samples are scaled by `1 / (1 - rate)` so the expectation is
    unchanged (Huang et al. 2016, "Deep Networks with Stochastic Depth").
    At inference, or with `rate == 0`, the layer is the identity.

    Args:
        rate: float in [0, 1), the probability of dropping a sample's branch.
        seed: int or None, the seed of the layer's random generator.

    Call args:
        inputs: `[batch, ...]` tensor, the residual branch.
        training: bool.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(
            shape, dtype=inputs.dtype, seed=self.seed_generator
        )
        mask = ops.cast(noise < keep, inputs.dtype)
        return inputs * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
