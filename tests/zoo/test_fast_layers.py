"""`zoo.layers.conv.Conv2D` and `zoo.layers.normalization.
BatchNormalization`: Keras' layers, with paths of their own on JAX (1x1
convolutions and batch statistics as matrix products) whose outputs and
gradients must be Keras' own."""

import keras
import numpy as np
import pytest

from zoo.layers.conv import Conv2D
from zoo.layers.normalization import BatchNormalization


def _values_and_gradients(layer, x, upstream):
    """Outputs, and the gradients of `sum(outputs * upstream)` for the
    input and the kernel."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(kernel, x):
            y, _ = layer.stateless_call([kernel] + [
                v.value for v in layer.trainable_variables[1:]], [], x)
            return (y * upstream).sum(), y

        (grad_kernel, grad_x), y = jax.grad(loss, argnums=(0, 1),
                                            has_aux=True)(
            layer.kernel.value, x)
    else:
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            total = tf.reduce_sum(y * upstream)
        grad_kernel, grad_x = tape.gradient(total, [layer.kernel, x])
    return [np.asarray(keras.ops.convert_to_numpy(t), "float64")
            for t in (y, grad_x, grad_kernel)]


@pytest.mark.parametrize("size, strides, padding, use_bias", [
    (9, 1, "same", False), (8, 2, "same", True), (9, 2, "same", False),
    (9, 2, "valid", True), (7, 3, "same", False)])
def test_pointwise_values_and_gradients_are_keras_own(size, strides,
                                                      padding, use_bias):
    """Against `keras.layers.Conv2D` with the same weights, odd and even
    sizes, strides 1-3: outputs and both gradients within 1e-5 of their
    scale."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 6)).astype("float32")
    options = dict(filters=5, kernel_size=1, strides=strides,
                   padding=padding, use_bias=use_bias)
    ours, theirs = Conv2D(**options), keras.layers.Conv2D(**options)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [rng.normal(size=w.shape) for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    upstream = rng.normal(size=theirs.compute_output_shape(x.shape)).astype(
        "float32")
    if keras.backend.backend() == "jax":
        import jax

        # The matrix product, not XLA's convolution (nor its transposes).
        program = str(jax.make_jaxpr(ours)(x))
        assert "dot_general" in program and "conv_general" not in program
    for mine, expected in zip(_values_and_gradients(ours, x, upstream),
                              _values_and_gradients(theirs, x, upstream)):
        assert mine.shape == expected.shape
        np.testing.assert_allclose(mine, expected, rtol=0,
                                   atol=1e-5 * np.abs(expected).max())


def test_other_convolutions_and_mixed_precision():
    """A 3x3 or channels-first convolution is Keras' own; under
    mixed_bfloat16 the 1x1 path computes in bfloat16 from float32
    weights; the configuration round-trips to this class."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    assert not Conv2D(3, 3)._pointwise()
    assert not Conv2D(3, 1, data_format="channels_first")._pointwise()
    assert not Conv2D(4, 1, groups=2)._pointwise()
    layer = Conv2D(3, 1, dtype="mixed_bfloat16")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert layer.kernel.dtype == "float32"
    expected = x @ keras.ops.convert_to_numpy(layer.kernel)[0, 0]
    np.testing.assert_allclose(np.asarray(y, "float32"), expected,
                               atol=0.05 * np.abs(expected).max())
    copy = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(copy) is Conv2D and copy.get_config() == layer.get_config()


def _train_and_gradients(layer, x, upstream):
    """Training-mode outputs, the gradients of `sum(outputs * upstream)`
    for the input, gamma and beta, and the new moving statistics."""
    if keras.backend.backend() == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]

        def loss(trainable, x):
            y, moving = layer.stateless_call(trainable, frozen, x,
                                             training=True)
            return (y * upstream).sum(), (y, moving)

        (grads, grad_x), (y, moving) = jax.grad(
            loss, argnums=(0, 1), has_aux=True)(trainable, x)
    else:
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            total = tf.reduce_sum(y * upstream)
        *grads, grad_x = tape.gradient(
            total, layer.trainable_variables + [x])
        moving = layer.non_trainable_variables
    return [np.asarray(keras.ops.convert_to_numpy(t), "float64")
            for t in (y, grad_x, *grads, *moving)]


@pytest.mark.parametrize("shape", [(4, 5, 7, 6), (3, 10)])
def test_batch_norm_statistics_and_gradients_are_keras_own(shape):
    """Training outputs, the input's, gamma's and beta's gradients and the
    updated moving mean and variance, against `keras.layers.
    BatchNormalization` with the same weights, on inputs far from zero
    mean (where a one-pass variance would lose digits): within 1e-5 of
    their scale. Inference is Keras' own."""
    rng = np.random.default_rng(2)
    x = (rng.normal(size=shape) * 3.0 + 50.0).astype("float32")
    upstream = rng.normal(size=shape).astype("float32")
    ours = BatchNormalization(momentum=0.9)
    theirs = keras.layers.BatchNormalization(momentum=0.9)
    for layer in (ours, theirs):
        layer.build(x.shape)
    weights = [rng.uniform(0.5, 1.5, w.shape) for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    mine = _train_and_gradients(ours, x, upstream)
    expected = _train_and_gradients(theirs, x, upstream)
    assert len(mine) == len(expected) == 6
    for a, b in zip(mine, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(theirs(x, training=False)), atol=1e-5)
    copy = keras.layers.deserialize(keras.layers.serialize(ours))
    assert type(copy) is BatchNormalization


@pytest.mark.parametrize("size, stride", [(9, 1), (8, 2), (9, 3)])
def test_zoo_ops_pointwise_ops_equal_numpy(size, stride):
    """`zoo_ops.pointwise_conv2d` (every backend's path) is the product of
    the sampled pixels with the kernel; `zoo_ops.channel_moments` is
    NumPy's mean and variance over all axes but the last."""
    import zoo_ops

    rng = np.random.default_rng(4)
    x = (rng.normal(size=(2, size, size, 3)) * 2 + 20).astype("float32")
    kernel = rng.normal(size=(1, 1, 3, 4)).astype("float32")
    y = keras.ops.convert_to_numpy(zoo_ops.pointwise_conv2d(x, kernel,
                                                            stride))
    np.testing.assert_allclose(y, x[:, ::stride, ::stride] @ kernel[0, 0],
                               rtol=1e-5, atol=1e-4)
    mean, variance = (keras.ops.convert_to_numpy(t)
                      for t in zoo_ops.channel_moments(x))
    np.testing.assert_allclose(mean, x.mean((0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(variance, x.var((0, 1, 2)), rtol=1e-4)
