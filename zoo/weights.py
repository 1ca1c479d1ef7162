"""State dicts: a model's weights as `{variable path: numpy array}`.

Converters in `zoo/convert/` turn foreign checkpoints into such a dict for a
zoo model; `assign_state` writes it into the model, checking every name and
shape, and adapting the first convolution when the number of input channels
differs (as timm's `adapt_input_conv` does).
"""

import logging
import math

import numpy as np

from zoo.errors import WeightsError

logger = logging.getLogger("zoo")


def weight_paths(model):
    """`{path: variable}` for every weight of `model`, e.g. `stem_conv1/kernel`.

    Raises:
        WeightsError: two variables share a path (layers named alike).
    """
    variables = {}
    for variable in model.weights:
        if variable.path in variables:
            raise WeightsError(
                f"Two weights of {model.name} share the path {variable.path!r};"
                " give the layers distinct names."
            )
        variables[variable.path] = variable
    return variables


def get_state(model):
    """The weights of `model` as `{path: numpy array}`."""
    return {
        path: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        for path, v in weight_paths(model).items()
    }


def adapt_input_conv(kernel, in_channels):
    """Adapts a `[kh, kw, c, out]` kernel trained on `c` channels to `in_channels`.

    One channel: the sum over the trained channels (a gray image repeated
    three times gives the same output). More channels: the trained channels
    repeated cyclically and scaled by `c / in_channels`, keeping the
    activation scale. Follows timm's `adapt_input_conv`.
    """
    kernel = np.asarray(kernel)
    trained = kernel.shape[2]
    if in_channels == trained:
        return kernel
    if in_channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeats = math.ceil(in_channels / trained)
    tiled = np.concatenate([kernel] * repeats, axis=2)[:, :, :in_channels]
    return tiled * (trained / in_channels)


def assign_state(model, state, *, skip_prefixes=(), input_conv=None,
                 adapters=None, source="weights"):
    """Writes `state` into `model`, strictly.

    Args:
        model: a Keras model.
        state: dict path -> array, as `weight_paths(model)` names them.
        skip_prefixes: paths starting with any of these are neither assigned
            nor required (e.g. `("predictions/",)` for a new head).
        input_conv: layer name whose kernel may be adapted to a different
            number of input channels.
        adapters: `{path: adapt(array, target_shape)}` for weights that may
            come in another shape (`Backbone.weight_adapters`: ViT's
            position embeddings from another image size).
        source: str naming where `state` came from, for error messages.

    Raises:
        WeightsError: a weight missing from `state`, an extra entry in it, or
            a shape mismatch; the message names the path and both shapes.
    """
    targets = weight_paths(model)
    wanted = {
        p: v for p, v in targets.items()
        if not any(p.startswith(s) for s in skip_prefixes)
    }
    given = {
        p: a for p, a in state.items()
        if not any(p.startswith(s) for s in skip_prefixes)
    }
    missing = sorted(set(wanted) - set(given))
    unexpected = sorted(set(given) - set(wanted))
    if missing or unexpected:
        raise WeightsError(
            f"{source} does not fit {model.name}: "
            f"{len(missing)} weights missing (first: {missing[:3]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:3]})."
        )
    adapt_path = f"{input_conv}/kernel" if input_conv else None
    for path, variable in wanted.items():
        array = np.asarray(given[path])
        target = tuple(variable.shape)
        if array.shape != target and path == adapt_path and (
            array.shape[:2] + array.shape[3:] == target[:2] + target[3:]
        ):
            logger.info(
                "Adapting %s from %d to %d input channels.",
                path, array.shape[2], target[2],
            )
            array = adapt_input_conv(array, target[2])
        if array.shape != target and path in (adapters or {}):
            logger.info("Adapting %s from shape %s to %s.", path,
                        array.shape, target)
            array = np.asarray(adapters[path](array, target))
        if array.shape != target:
            raise WeightsError(
                f"{source}: {path} has shape {array.shape}, the model "
                f"expects {target}."
            )
        variable.assign(array)
    if callable(getattr(model, "weights_changed", None)):
        model.weights_changed()  # a Task's folded inference copy refolds
