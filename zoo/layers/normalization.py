"""`BatchNormalization`: Keras' batch norm, with batch statistics computed
as matrix products on JAX.

In training, a batch norm reduces every activation to a mean and a
variance per channel. XLA's CPU compiler splits such a long reduction
into windowed partial sums (for accuracy) that run in loops of their own:
in a JAX training step of ResNet-50 (batch 16, 224x224) the reductions
took about 2 s of 4.8 here. On JAX this layer computes the same two-pass
statistics, `mean = 1/n sum(x)` and `variance = 1/n sum((x - mean)^2)`,
as products of a vector of ones with the `[pixels, channels]` matrices,
which XLA runs as matrix-vector products: the step took 4.3 s. The
layer is otherwise `keras.layers.BatchNormalization` (same arguments,
weights and inference), and Keras' own statistics are used for masks,
other axes and other backends (tests/zoo/test_fast_layers.py compares outputs,
moving statistics and gradients with Keras' layer).
"""

import keras

import zoo_ops

__all__ = ["BatchNormalization"]


@keras.saving.register_keras_serializable(package="zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments and weights),
    whose batch statistics are matrix products on the JAX backend (module
    docstring)."""

    def _moments(self, inputs, mask):
        if (mask is not None or keras.backend.backend() != "jax"
                or self.synchronized
                or tuple(self._reduction_axes) != tuple(
                    range(len(inputs.shape) - 1))
                or keras.backend.standardize_dtype(inputs.dtype)
                != "float32"):
            return super()._moments(inputs, mask)
        return zoo_ops.channel_moments(inputs)
