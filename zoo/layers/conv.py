"""`Conv2D`: Keras' 2-D convolution, with a faster 1x1 path on JAX.

A 1x1 convolution is a matrix product over the channels of every pixel.
XLA's CPU compiler computes a convolution's kernel gradient as another
convolution whose batch and channel axes trade places, and to run it
transposes both activations into a channels-first layout, in fusions that
also recompute the batch norms' backward pass on the way: in a JAX
training step of ResNet-50 (batch 16, 224x224) those transposes took 2.4
of 6.4 s here, almost all for the 1x1 convolutions. On JAX this layer
computes a 1x1 convolution (channels last, one group, no dilation; strided
by sampling every `stride`-th pixel, which is what a 1x1 window reads)
and both its gradients as matrix products over the pixels, which need no
transpose: the step took 4.8 s, inference 1.07x faster. Every other
convolution, and every other backend, is `keras.layers.Conv2D` itself.
Same weights, same configuration keys, same outputs to float tolerance
(tests/zoo/test_fast_layers.py compares values and gradients with Keras'
layer).
"""

import functools

import keras

__all__ = ["Conv2D"]


@keras.saving.register_keras_serializable(package="zoo")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` (same arguments and weights), computing a 1x1
    convolution as a matrix product on the JAX backend (module
    docstring)."""

    def _pointwise(self):
        return (tuple(self.kernel_size) == (1, 1)
                and self.data_format == "channels_last"
                and self.groups == 1
                and tuple(self.dilation_rate) == (1, 1)
                and self.strides[0] == self.strides[1])

    def convolution_op(self, inputs, kernel):
        """Keras' convolution, or on JAX the 1x1 matrix product."""
        if keras.backend.backend() == "jax" and self._pointwise():
            return _jax_pointwise()(keras.ops.convert_to_tensor(inputs),
                                    keras.ops.convert_to_tensor(kernel),
                                    int(self.strides[0]))
        return super().convolution_op(inputs, kernel)


@functools.cache
def _jax_pointwise():
    """`pointwise(x, kernel, stride)` with its own gradient (JAX)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def sampled(x, stride):
        # A 1x1 window at stride s reads pixels 0, s, 2s, ... in "same"
        # and "valid" padding alike (ceil(size / s) of them, no padding).
        # A static strided slice (an indexing expression would become a
        # gather, which LiteRT cannot convert).
        if stride == 1:
            return x
        return lax.slice(x, (0,) * 4, x.shape, (1, stride, stride, 1))

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
    def pointwise(x, kernel, stride):
        return lax.dot_general(sampled(x, stride), kernel[0, 0],
                               (((3,), (0,)), ((), ())))

    def forward(x, kernel, stride):
        return pointwise(x, kernel, stride), (x, kernel)

    def backward(stride, residuals, grad):
        x, kernel = residuals
        inputs, filters = kernel.shape[2], kernel.shape[3]
        # Contracting the pixels of both: no operand needs a transpose.
        grad_kernel = lax.dot_general(
            sampled(x, stride).reshape(-1, inputs), grad.reshape(-1, filters),
            (((0,), (0,)), ((), ()))).reshape(kernel.shape)
        grad_x = lax.dot_general(grad, kernel[0, 0], (((3,), (1,)), ((), ())))
        if stride > 1:
            # Back onto the sampled pixels, zeros between and after them.
            spread = [(0, 0, 0)]
            for axis in (1, 2):
                size = (grad_x.shape[axis] - 1) * stride + 1
                spread.append((0, x.shape[axis] - size, stride - 1))
            grad_x = lax.pad(grad_x, jnp.zeros((), grad_x.dtype),
                             spread + [(0, 0, 0)])
        return grad_x.astype(x.dtype), grad_kernel.astype(kernel.dtype)

    pointwise.defvjp(forward, backward)
    return pointwise
