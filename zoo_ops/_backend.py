"""Where an op runs: the one place that decides between backends.

Every op in `zoo_ops` asks this module for an ops namespace and, for the ops
that have a tuned TensorFlow kernel, whether to use it:

- On the TensorFlow backend, `keras.ops` already runs TensorFlow, and the
  TensorFlow kernels (`tf.image.non_max_suppression_padded`,
  `tf.image.crop_and_resize`, ...) are used.
- On any other backend, backend tensors go through `keras.ops`, which
  jit-compiles.
- `tf.Tensor`s under another backend (a `tf.data` map on JAX, or eager
  TensorFlow tensors) go through Keras' TensorFlow backend functions and the
  TensorFlow kernels, so the same op works inside an input pipeline.

TensorFlow is imported only when a TensorFlow path is taken, so JAX users who
never touch `tf.data` do not pay for it.
"""

import functools
import importlib
import sys

import keras

__all__ = ["ops_for", "uses_tensorflow", "tensorflow", "static_shape",
           "compiled", "compiled_with_variables", "jax_pointwise_conv2d"]


def _tf_if_loaded():
    return sys.modules.get("tensorflow")


def _is_tf_tensor(x):
    tf = _tf_if_loaded()
    return tf is not None and isinstance(x, (tf.Tensor, tf.Variable))


def _in_tf_graph():
    tf = _tf_if_loaded()
    return tf is not None and tf.inside_function()


def _flatten(values):
    for value in values:
        if isinstance(value, dict):
            yield from _flatten(value.values())
        elif isinstance(value, (list, tuple)):
            yield from _flatten(value)
        else:
            yield value


def uses_tensorflow(*tensors):
    """True when TensorFlow code should run for these inputs.

    That is: the Keras backend is TensorFlow, or any input is a `tf.Tensor`,
    or the call happens while a `tf.function` / `tf.data` graph is traced.
    """
    if keras.backend.backend() == "tensorflow":
        return True
    return _in_tf_graph() or any(_is_tf_tensor(t) for t in _flatten(tensors))


class _TensorFlowOps:
    """`keras.ops`' names, run by Keras' TensorFlow backend functions.

    Used for `tf.Tensor` inputs while another backend is active; the
    functions take the same arguments as their `keras.ops` counterparts.
    """

    _MODULES = ("numpy", "core", "math", "nn", "image", "linalg")

    def __getattr__(self, name):
        for module_name in self._MODULES:
            module = importlib.import_module(
                f"keras.src.backend.tensorflow.{module_name}"
            )
            if hasattr(module, name):
                fn = getattr(module, name)
                setattr(self, name, fn)
                return fn
        raise AttributeError(f"No TensorFlow backend function {name!r}.")


_TF_OPS = _TensorFlowOps()


def ops_for(*tensors):
    """The ops namespace for these inputs: `keras.ops`, or its TF twin.

    Returns `keras.ops` unless TensorFlow tensors are passed (or a TF graph is
    being traced) while another backend is active.
    """
    if keras.backend.backend() != "tensorflow" and uses_tensorflow(*tensors):
        return _TF_OPS
    return keras.ops


def tensorflow():
    """Imports and returns the `tensorflow` module (only on TF paths)."""
    import tensorflow as tf

    return tf


def static_shape(x):
    """The static shape of a tensor or array as a tuple (None if unknown)."""
    shape = getattr(x, "shape", None)
    if shape is None:
        import numpy as np

        return tuple(np.shape(x))
    try:
        return tuple(shape.as_list())
    except (AttributeError, ValueError):
        return tuple(shape)


def compiled(fn):
    """Runs `fn` compiled on JAX when called eagerly (outside any jit).

    `fn(*arrays, **static)`: positional arguments are arrays, keyword
    arguments are hashable Python values (shapes depend on them). Under an
    enclosing `jax.jit`, or on other backends, `fn` is called as is. Without
    this, an eager JAX call of an op built on `while_loop` would trace and
    compile its loop body on every call.
    """
    cache = {}

    def wrapper(*arrays, **static):
        if keras.backend.backend() != "jax" or uses_tensorflow(*arrays):
            return fn(*arrays, **static)
        import jax

        if any(isinstance(a, jax.core.Tracer) for a in _flatten(arrays)):
            return fn(*arrays, **static)
        key = tuple(sorted(static.items()))
        if key not in cache:
            cache[key] = jax.jit(lambda *a: fn(*a, **static))
        return cache[key](*arrays)

    wrapper.__wrapped__ = fn
    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


def compiled_with_variables(fn, variables, jit_compile=True):
    """`fn(*arrays)` compiled as one program that reads Keras `variables`.

    JAX: `jax.jit` with the variables' current values passed in as
    arguments (`keras.StatelessScope` maps each variable to its value
    inside), so the weights are not baked into the program as constants
    and later assignments are seen. TensorFlow: a `tf.function` compiled
    by XLA (`jit_compile=True`, the default; the variables are captured),
    which updates a loop's arrays in place where a plain graph copies them;
    `jit_compile=False` gives a plain graph, for ops XLA cannot compile
    (strings, `py_function`, shapes that depend on the data). Other
    backends: `fn` itself. Retraces when array shapes change.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        variables = list(variables)

        def stateless(values, *arrays):
            with keras.StatelessScope(
                    state_mapping=list(zip(variables, values))):
                return fn(*arrays)

        jitted = jax.jit(stateless)

        def call(*arrays):
            return jitted([v.value for v in variables], *arrays)

        return call
    if backend == "tensorflow":
        return tensorflow().function(fn, reduce_retracing=True,
                                     jit_compile=bool(jit_compile))
    return fn


@functools.cache
def jax_pointwise_conv2d():
    """`pointwise(x, kernel, stride)`, a channels-last 1x1 convolution as a
    matrix product, with a gradient of matrix products (JAX; see
    `zoo_ops.pointwise_conv2d`)."""
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
