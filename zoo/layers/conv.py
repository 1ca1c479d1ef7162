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

import keras

import zoo_ops

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
            return zoo_ops.pointwise_conv2d(inputs, kernel,
                                            int(self.strides[0]))
        return super().convolution_op(inputs, kernel)
