"""keras.applications weights (Keras 2 HDF5 files) -> zoo models.

One module per family (`resnet.py`, ...); `load` reads the file's layers
and hands them to the converter of the model's family. `layers_of_model`
reads the same `{layer name: [arrays]}` from a live keras.applications
model (tests, benchmarks).
"""

import numpy as np

from zoo.convert import (
    Converter,
    assign_converted,
    family_of,
    find_converter,
)

SOURCE = "keras_applications"


def layers_of_model(keras_model):
    """`{layer name: [numpy arrays]}` of a live Keras model (any backend)."""
    return {
        layer.name: [np.asarray(w) for w in layer.get_weights()]
        for layer in keras_model.layers
        if layer.weights
    }


class KerasApplicationsConverter(Converter):
    """A keras.applications converter whose models map one-to-one onto
    zoo variants (`variants`: keras.applications name -> zoo name)."""

    source = SOURCE
    variants = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.architectures = tuple(cls.variants)

    def convert_config(self, config):
        """`(zoo variant, {})` of a keras.applications model name.

        Raises:
            WeightsError: not one of `variants`; the message lists them.
        """
        from zoo.errors import WeightsError

        if config not in self.variants:
            raise WeightsError(
                f"{config!r} is not a keras.applications {self.family} "
                f"model; expected one of {sorted(self.variants)}.")
        return self.variants[config], {}


def batch_norm(state, target, arrays):
    """A keras.applications batch norm's four arrays under `target`."""
    for key, array in zip(("gamma", "beta", "moving_mean",
                           "moving_variance"), arrays):
        state[f"{target}/{key}"] = array


def copy_layer(state, target, arrays, keys=("kernel", "bias")):
    """A layer's arrays under `target`, named `keys` in order."""
    for key, array in zip(keys, arrays):
        state[f"{target}/{key}"] = array


def load(model, path, include_head=True):
    """Reads a keras.applications `.h5` file into `model`.

    Args:
        model: a zoo task model or backbone built with the options the
            family's converter names (e.g. `block_variant="v1"`).
        path: the `*_weights_tf_dim_ordering_tf_kernels[_notop].h5` file.
        include_head: bool, also load the classifier head.
    """
    from zoo.convert.state_dict import read_legacy_keras_h5

    convert_layers(model, read_legacy_keras_h5(path), include_head,
                   source=str(path))


def convert_layers(model, layers, include_head=True, source="weights"):
    """Writes keras.applications layer weights (`{name: [arrays]}`) into a
    zoo model through its family's converter."""
    converter = find_converter(SOURCE, family=family_of(model))
    assign_converted(model, converter, layers, include_head, source=source)
