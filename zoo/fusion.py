"""Batch norm folded into the preceding convolution, for fast inference.

At inference a batch norm is an affine map per channel,
`y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`; after a
convolution (linear, no activation) it folds into that convolution's kernel
and bias:

    scale  = gamma / sqrt(variance + epsilon)
    kernel = kernel * scale            (per output channel)
    bias   = (bias - mean) * scale + beta

```python
import numpy as np
import zoo

model = zoo.create_model("resnet18", num_classes=10, input_shape=(32, 32, 3))
fused = model.fuse()          # or zoo.fusion.fuse_batch_norm(model)
images = np.random.rand(2, 32, 32, 3).astype("float32")
np.testing.assert_allclose(fused.predict_on_batch(images),
                           model.predict_on_batch(images), atol=1e-4)
```

The fused model is a plain functional `keras.Model` for inference only:
nested models (a task's backbone) are inlined, every folded pair becomes one
convolution with a bias, and every other layer is *shared* with the original
model (same weights, no copy). Fold after training: later training of the
original does not reach the folded convolutions, and training the fused
model would not train any batch norm.

A pair folds when a `Conv1D/2D/3D` or `DepthwiseConv1D/2D` without
activation feeds only a `BatchNormalization` over its channel axis, inside
the same functional graph and not called with `training=True`.
"""

import keras
import numpy as np

_CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)


def is_functional(operation):
    """Whether `operation` is a functional Keras model (its graph known)."""
    return isinstance(operation, keras.Model) and hasattr(
        operation, "_nodes_by_depth"
    )


def _nodes_in_order(model):
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def _foldable_convolution(node):
    layer = node.operation
    if not isinstance(layer, _CONVOLUTIONS) or isinstance(layer, _TRANSPOSED):
        return False
    activation = getattr(layer, "activation", None)
    return activation in (None, keras.activations.linear)


def _channel_axis(conv, rank):
    return rank - 1 if conv.data_format == "channels_last" else 1


def _foldable_pair(conv_node, bn_node):
    conv, bn = conv_node.operation, bn_node.operation
    if not isinstance(bn, keras.layers.BatchNormalization):
        return False
    if bn_node.arguments.kwargs.get("training") is True:
        return False
    if len(bn_node.arguments.keras_tensors) != 1:
        return False
    rank = len(conv_node.outputs[0].shape)
    axis = bn.axis if bn.axis >= 0 else bn.axis + rank
    return axis == _channel_axis(conv, rank)


def find_foldable_pairs(model):
    """The (convolution node, batch-norm node) pairs that fold, per graph.

    Args:
        model: a functional Keras model; nested functional models are
            searched too.

    Returns:
        dict `id(convolution node)` -> its batch-norm node.
    """
    pairs = {}
    consumers = {}
    for node in _nodes_in_order(model):
        for tensor in node.arguments.keras_tensors:
            consumers.setdefault(id(tensor), []).append(node)
    outputs = {id(t) for t in model.outputs}
    for node in _nodes_in_order(model):
        if is_functional(node.operation):
            pairs.update(find_foldable_pairs(node.operation))
            continue
        if not _foldable_convolution(node) or len(node.outputs) != 1:
            continue
        output = node.outputs[0]
        users = consumers.get(id(output), [])
        if id(output) in outputs or len(users) != 1:
            continue
        if _foldable_pair(node, users[0]):
            pairs[id(node)] = users[0]
    return pairs


def _folded_weights(conv, bn):
    """Kernel and bias of `conv` followed by `bn` (numpy, float64 maths)."""
    kernel = np.asarray(keras.ops.convert_to_numpy(conv.kernel), "float64")
    channels = bn.moving_mean.shape[0]
    bias = (
        np.asarray(keras.ops.convert_to_numpy(conv.bias), "float64")
        if conv.use_bias
        else np.zeros(channels)
    )
    mean = np.asarray(keras.ops.convert_to_numpy(bn.moving_mean), "float64")
    variance = np.asarray(
        keras.ops.convert_to_numpy(bn.moving_variance), "float64"
    )
    gamma = (
        np.asarray(keras.ops.convert_to_numpy(bn.gamma), "float64")
        if bn.scale
        else np.ones(channels)
    )
    beta = (
        np.asarray(keras.ops.convert_to_numpy(bn.beta), "float64")
        if bn.center
        else np.zeros(channels)
    )
    scale = gamma / np.sqrt(variance + bn.epsilon)
    if isinstance(conv, _DEPTHWISE):
        # (*window, in_channels, multiplier): output channel c * m + j.
        kernel = kernel * scale.reshape(kernel.shape[-2:])
    else:
        # (*window, in_channels / groups, filters).
        kernel = kernel * scale
    return kernel, (bias - mean) * scale + beta


def _folded_convolution(conv, bn):
    """A new, unbuilt convolution with bias; `_assign_folded` fills it."""
    config = conv.get_config()
    if len(getattr(conv, "_inbound_nodes", ())) > 1:
        # A convolution shared by several call sites (a detection head's
        # levels) folds into one convolution per site, each named after
        # its batch norm.
        config["name"] = f"{conv.name}_{bn.name}"
    config["use_bias"] = True
    config["bias_initializer"] = "zeros"
    for key in ("kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint",
                "bias_constraint"):
        if key in config:
            config[key] = None
    return conv.__class__.from_config(config)


def _assign_folded(folded, conv, bn):
    kernel, bias = _folded_weights(conv, bn)
    # assign() casts to the variable's dtype (float32, bfloat16, ...).
    folded.kernel.assign(kernel.astype("float32"))
    folded.bias.assign(bias.astype("float32"))


def _nested_inputs(args):
    """A nested functional model's call arguments as its flat input list."""
    return keras.tree.flatten(args[0] if len(args) == 1 else args)


def _rebuild(model, inputs, pairs, folded_pairs):
    """Calls `model`'s graph on `inputs` with the `pairs` folded.

    Args:
        model: the functional model whose graph is replayed.
        inputs: flat list of tensors, one per `model.inputs`.
        pairs: dict `id(convolution node)` -> batch-norm node, as
            `find_foldable_pairs` returns.
        folded_pairs: list, `(folded convolution, convolution, batch norm)`
            of every folded pair is appended.

    Returns:
        flat list of output tensors, in `model.outputs` order.
    """
    folded_batch_norms = {id(bn) for bn in pairs.values()}
    tensors = {id(x): y for x, y in zip(model.inputs, inputs)}
    for node in _nodes_in_order(model):
        if any(id(t) not in tensors for t in node.arguments.keras_tensors):
            continue
        args, kwargs = node.arguments.fill_in(tensors)
        operation = node.operation
        if id(node) in folded_batch_norms:
            # The folded batch norm: its output is the folded convolution's.
            outputs = [tensors[id(node.arguments.keras_tensors[0])]]
        elif id(node) in pairs:
            bn = pairs[id(node)].operation
            folded = _folded_convolution(operation, bn)
            outputs = [folded(*args, **kwargs)]
            _assign_folded(folded, operation, bn)
            folded_pairs.append((folded, operation, bn))
        elif is_functional(operation):
            outputs = _rebuild(operation, _nested_inputs(args), pairs,
                               folded_pairs)
        else:
            outputs = keras.tree.flatten(operation(*args, **kwargs))
        for reference, value in zip(node.outputs, outputs):
            tensors[id(reference)] = value
    return [tensors[id(t)] for t in model.outputs]


def fuse_batch_norm(model, name=None):
    """An inference model equal to `model` with batch norms folded.

    Args:
        model: a functional Keras model (zoo models, keras.applications,
            most keras-hub backbones), built.
        name: str, the new model's name; defaults to `"<name>_fused"`.

    Returns:
        a functional `keras.Model` with the same inputs and outputs, nested
        models inlined, each foldable convolution + batch norm replaced by a
        convolution with bias. Layers that were not folded are shared with
        `model`.

    Raises:
        TypeError: `model` is not a functional model.
    """
    if not is_functional(model):
        raise TypeError(
            "fuse_batch_norm needs a functional Keras model; got "
            f"{type(model).__name__}, whose graph is not known."
        )
    pairs = find_foldable_pairs(model)
    inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
        for t in model.inputs
    ]
    folded_pairs = []
    outputs = _rebuild(model, inputs, pairs, folded_pairs)
    fused = keras.Model(
        inputs=keras.tree.pack_sequence_as(model._inputs_struct, inputs),
        outputs=keras.tree.pack_sequence_as(model._outputs_struct, outputs),
        name=name or f"{model.name}_fused",
    )
    # Not tracked (the layers are the model's): what `refold` reassigns.
    object.__setattr__(fused, "_zoo_folded_pairs", folded_pairs)
    _logger().debug("fuse_batch_norm: folded %d batch norms of %s.",
                    len(folded_pairs), model.name)
    return fused


def refold(fused):
    """Folds the source model's current weights into `fused` again (a
    model `fuse_batch_norm` returned), after they changed: in place, so
    compiled functions of `fused` stay valid.

    Returns:
        int, the convolutions reassigned.
    """
    pairs = getattr(fused, "_zoo_folded_pairs", None)
    if pairs is None:
        raise TypeError(f"{fused.name} was not made by fuse_batch_norm.")
    for folded, conv, bn in pairs:
        _assign_folded(folded, conv, bn)
    return len(pairs)


def recast(network, dtype):
    """A copy of `network`, same weights, whose layers compute in `dtype`.

    The copy is rebuilt from `network.get_config()` with every layer's
    dtype policy set to `dtype` (its variables too: `"bfloat16"` stores
    bfloat16 weights); input layers keep theirs, so the copy takes the
    same float32 inputs. A task's preprocessor is shared with the copy.

    Args:
        network: a Keras model whose config rebuilds it (zoo models, a
            model `fuse_batch_norm` returned).
        dtype: a Keras dtype policy name (`"bfloat16"`), or None for a
            copy computing as `network` does.

    Returns:
        the copy (`network` itself when the rebuilt object is no model).

    Raises:
        ValueError: the rebuilt model's weights do not match `network`'s
            (variables added after building, as by `enable_lora`).
    """
    config = network.get_config()
    if dtype is not None:
        config = _with_dtype(config, dtype)
    copy = network.__class__.from_config(config)
    try:
        copy.set_weights(network.get_weights())
    except ValueError as error:
        raise ValueError(
            f"{network.name} cannot be rebuilt in {dtype or 'its dtype'} "
            f"from its config: {error}") from None
    if getattr(network, "preprocessor", None) is not None:
        copy.preprocessor = network.preprocessor
    return copy if isinstance(copy, keras.Model) else network


def _with_dtype(value, dtype, parent=None):
    """`value` (a Keras config) with each layer's dtype policy `dtype`;
    input layers keep theirs."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and parent != "InputLayer":
            return {**value, "config": {**value["config"], "name": dtype}}
        name = value.get("class_name", parent)
        return {key: _with_dtype(item, dtype, name)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_with_dtype(item, dtype, parent) for item in value]
    return value


def _logger():
    import logging

    return logging.getLogger("zoo")
