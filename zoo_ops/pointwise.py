"""Channel-wise linear maps as matrix products: a 1x1 convolution and the
batch statistics of a batch norm (what `zoo.layers.conv.Conv2D` and
`zoo.layers.normalization.BatchNormalization` use on JAX; see
docs/performance.md for what each saves there).
"""

import keras
from keras import ops

from zoo_ops._backend import jax_pointwise_conv2d

__all__ = ["pointwise_conv2d", "channel_moments"]


def pointwise_conv2d(x, kernel, stride=1):
    """A channels-last 1x1 convolution, `[B, H, W, C] -> [B, ceil(H / s),
    ceil(W / s), filters]` ("same" and "valid" padding read the same
    pixels for a 1x1 window).

    On JAX a matrix product whose two gradients are matrix products too
    (no transposed copy of the activations, which XLA's convolution
    gradient makes); elsewhere `keras.ops.conv`.

    Args:
        x: `[B, H, W, C]`.
        kernel: `[1, 1, C, filters]`.
        stride: int, the same along both axes.
    """
    x = ops.convert_to_tensor(x)
    kernel = ops.convert_to_tensor(kernel, dtype=x.dtype)
    if keras.backend.backend() == "jax":
        return jax_pointwise_conv2d()(x, kernel, int(stride))
    return ops.conv(x, kernel, strides=int(stride), padding="valid")


def channel_moments(x):
    """`(mean, variance)` over every axis but the last, in two passes
    (`mean((x - mean)^2)`), each a product with a vector of ones: XLA runs
    these as matrix-vector products where it splits a long reduction into
    windowed partial sums.

    Args:
        x: `[..., channels]`.

    Returns:
        two `[channels]` tensors.
    """
    x = ops.convert_to_tensor(x)
    flat = ops.reshape(x, (-1, x.shape[-1]))
    count = flat.shape[0]
    ones = ops.ones((count,), flat.dtype)
    mean = ops.matmul(ones, flat) / count
    centered = flat - mean
    return mean, ops.matmul(ones, centered * centered) / count
