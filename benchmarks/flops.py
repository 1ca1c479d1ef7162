"""FLOPs of one inference or training step.

Where the backend offers a cost analysis of the program it runs, that is the
count:

- JAX: XLA's `cost_analysis()` of the lowered step (`jax.jit(...).lower`),
  the HLO program XLA compiles. XLA counts only the multiply-adds that touch
  real input, not the zero padding of a convolution, so its figure for small
  feature maps is a little below the textbook one.
- TensorFlow: the TensorFlow profiler's `float_operation` count over the
  step's graph (the graph `tf.function` runs), which sums the registered
  FLOPs of every op (convolutions, their gradients, matmuls, element-wise).

Elsewhere, or if the analysis fails, `analytic_flops` counts convolutions
and dense layers from the layer shapes (2 FLOPs per multiply-add), training
as three times inference (forward, gradient of the input, gradient of the
weights).

A training step's count covers the forward and backward passes of the model
and a scalar loss; the optimizer update (a few FLOPs per parameter) is left
out.
"""

import math

import keras
from keras import ops


def _scalar_loss(outputs):
    """Mean of squares over every floating output: a loss of any model."""
    total = 0.0
    for output in keras.tree.flatten(outputs):
        if "float" in str(output.dtype):
            total = total + ops.mean(ops.square(ops.cast(output, "float32")))
    return total


def _jax_flops(model, inputs, mode):
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    if mode == "infer":
        def step(trainable, non_trainable, inputs):
            outputs, _ = model.stateless_call(trainable, non_trainable,
                                              inputs, training=False)
            return outputs
    else:
        def loss(trainable, non_trainable, inputs):
            outputs, _ = model.stateless_call(trainable, non_trainable,
                                              inputs, training=True)
            return _scalar_loss(outputs)

        step = jax.grad(loss)
    analysis = jax.jit(step).lower(trainable, non_trainable,
                                   inputs).cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis["flops"])


def _tensorflow_flops(model, inputs, mode):
    import tensorflow as tf

    if mode == "infer":
        def step(inputs):
            return model(inputs, training=False)
    else:
        def step(inputs):
            with tf.GradientTape() as tape:
                loss = _scalar_loss(model(inputs, training=True))
            return tape.gradient(loss, model.trainable_variables)

    inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
    graph = tf.function(step).get_concrete_function(inputs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    with _quiet_tensorflow_deprecations():
        profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return float(profile.total_float_ops)


def _quiet_tensorflow_deprecations():
    """Silences the v1-API notices the profiler prints on every first use."""
    import contextlib

    try:
        from tensorflow.python.util import deprecation
    except ImportError:
        return contextlib.nullcontext()
    return deprecation.silence()


def _layer_calls(model):
    """(layer, output shape) of every call inside `model`'s graph, nested
    functional models included (a layer shared with another model counts
    only for its calls here)."""
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            operation = node.operation
            if node.is_input or operation is None:
                continue
            if isinstance(operation, keras.Model) and hasattr(
                    operation, "_nodes_by_depth"):
                yield from _layer_calls(operation)
            elif node.outputs:
                yield operation, tuple(node.outputs[0].shape)


def _einsum_macs_per_output(layer):
    """Multiply-adds per output element of an `EinsumDense`: the product of
    the kernel dimensions summed over (those absent from the output)."""
    inputs, output = layer.equation.replace(" ", "").split("->")
    kernel_spec = inputs.split(",")[1]
    kernel_shape = tuple(layer.kernel.shape)
    return math.prod(
        size for letter, size in zip(kernel_spec, kernel_shape)
        if letter not in output
    )


def analytic_flops(model, batch_size, mode="infer"):
    """FLOPs of a step counted from the layers' shapes.

    Counts `Conv1D/2D/3D`, `DepthwiseConv*`, `Dense` and `EinsumDense` (2
    FLOPs per multiply-add, per call of the layer); element-wise work, norms
    and attention's own matmuls are not counted. A training step counts three
    times the forward pass.

    Args:
        model: a built Keras functional model with static shapes below the
            batch dimension.
        batch_size: int, samples per step.
        mode: `"infer"` or `"train"`.

    Returns:
        float, FLOPs of one step of `batch_size` samples.

    Raises:
        ValueError: a counted layer whose output shape is not static.
    """
    counted = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
               keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
               keras.layers.Dense, keras.layers.EinsumDense)
    depthwise = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
    per_sample = 0.0
    for layer, shape in _layer_calls(model):
        if not isinstance(layer, counted):
            continue
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"analytic_flops: layer {layer.name} has the dynamic output "
                f"shape {shape}; build the model with a fixed input shape."
            )
        kernel_shape = tuple(layer.kernel.shape)
        if isinstance(layer, depthwise):
            macs_per_output = math.prod(kernel_shape[:-2])
        elif isinstance(layer, keras.layers.EinsumDense):
            macs_per_output = _einsum_macs_per_output(layer)
        else:
            # Conv kernels are (*window, in / groups, out); Dense (in, out).
            macs_per_output = math.prod(kernel_shape[:-1])
        per_sample += 2.0 * math.prod(shape[1:]) * macs_per_output
    factor = 3.0 if mode == "train" else 1.0
    return factor * per_sample * batch_size


def count_flops(model, inputs, mode="infer"):
    """FLOPs of one step of `model` on `inputs`, and where the count is from.

    Args:
        model: a built Keras model.
        inputs: the step's inputs (numpy arrays, structured as the model
            takes them); only their shapes and dtypes matter.
        mode: `"infer"` or `"train"`.

    Returns:
        `(flops, source)`: float FLOPs of the whole batch, and
        `"xla_cost_analysis"`, `"tf_profiler"` or `"analytic"`.
    """
    backend = keras.backend.backend()
    counters = {"jax": (_jax_flops, "xla_cost_analysis"),
                "tensorflow": (_tensorflow_flops, "tf_profiler")}
    if backend in counters:
        counter, source = counters[backend]
        try:
            flops = counter(model, inputs, mode)
            if flops > 0:
                return flops, source
        except Exception as error:  # any failure falls back to counting
            import logging

            logging.getLogger("zoo").warning(
                "bench: %s cost analysis failed (%s: %s); counting FLOPs "
                "from the layer shapes instead.", backend,
                type(error).__name__, error)
    batch_size = keras.tree.flatten(inputs)[0].shape[0]
    return analytic_flops(model, batch_size, mode), "analytic"
