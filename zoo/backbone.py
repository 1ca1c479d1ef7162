"""Base class of every backbone: a functional model with named feature levels."""

import inspect

import keras


def deserialize_dtype(dtype):
    """Turns a serialised dtype policy (dict) back into a policy object."""
    if isinstance(dtype, dict):
        return keras.dtype_policies.deserialize(dtype)
    return dtype


class Backbone(keras.Model):
    """A functional Keras model that maps images (or tokens) to features.

    Subclasses build their graph in `__init__` and end with
    `self._init_backbone(...)`. Every backbone exposes:

    - `pyramid_outputs`: dict level name (`"C2"`..`"C5"`) -> symbolic tensor,
      the output of each stage;
    - `feature_info`: list of dicts `{"name", "channels", "stride"}`, one per
      pyramid level, shallowest first (as timm's `feature_info`);
    - `features_only`: when True the model outputs the pyramid dict instead of
      the final feature map.

    Subclasses record their constructor arguments with
    `self._record_arguments(locals())` (or `self._set_arguments(...)`) after
    `_init_backbone`; `get_config()`
    returns them (with the `keras.Model` ones) and `from_config()` calls the
    constructor with them.
    """

    #: Constructor argument -> attribute, where they differ
    #: (`input_shape` is a read-only property of `keras.Model`).
    argument_attributes = {"input_shape": "image_shape"}

    #: Name of the layer that consumes the input image; converters adapt its
    #: kernel when the number of input channels differs from the weights.
    input_conv_layer = None

    def _init_backbone(
        self,
        inputs,
        outputs,
        pyramid_outputs,
        feature_info,
        features_only=False,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        model_outputs = dict(pyramid_outputs) if features_only else outputs
        super().__init__(inputs=inputs, outputs=model_outputs, **kwargs)
        self.pyramid_outputs = dict(pyramid_outputs)
        self.feature_info = [dict(info) for info in feature_info]
        self.features_only = bool(features_only)

    def _record_arguments(self, namespace):
        """Records every constructor argument for `get_config`, taken from
        `namespace` (the constructor's `locals()` once its arguments are
        normalised) by the names of its signature."""
        skip = {"self", "kwargs", "features_only", "dtype"}
        names = [n for n in inspect.signature(type(self).__init__).parameters
                 if n not in skip]
        self._set_arguments(**{n: namespace[n] for n in names})

    def _set_arguments(self, **arguments):
        """Stores constructor arguments as attributes, for `get_config`.

        Tuples are stored as lists (what a JSON config round trip gives).
        """
        names = list(getattr(self, "_argument_names", ()))
        for name, value in arguments.items():
            if isinstance(value, tuple):
                value = list(value)
            setattr(self, self.argument_attributes.get(name, name), value)
            if name not in names:
                names.append(name)
        self._argument_names = names

    def weight_adapters(self):
        """`{weight path: adapt(array, target_shape)}`: how weights saved
        in another shape fit this model (see `zoo.weights.assign_state`);
        none by default."""
        return {}

    def save_to_preset(self, preset_dir):
        """Writes this backbone as a preset directory (see `Task`)."""
        from zoo.presets.directory import save_preset

        save_preset(self, preset_dir)

    def fuse(self):
        """An inference copy with batch norms folded into the convolutions.

        See `zoo.fusion.fuse_batch_norm`.
        """
        from zoo.fusion import fuse_batch_norm

        return fuse_batch_norm(self)

    @property
    def num_features(self):
        """Channels of the final feature map."""
        return self.feature_info[-1]["channels"]

    def get_config(self):
        # Deliberately not Functional.get_config(): the constructor arguments
        # fully describe the graph, and reloading rebuilds it from them.
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "features_only": self.features_only,
        }
        for name in getattr(self, "_argument_names", ()):
            config[name] = getattr(self, self.argument_attributes.get(name,
                                                                     name))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config:
            config["dtype"] = deserialize_dtype(config["dtype"])
        return cls(**config)


MODEL_KWARGS = ("name", "trainable", "dtype")


def check_model_kwargs(cls, kwargs):
    """Raises TypeError for keyword arguments a zoo model does not take.

    Keras' functional `Model.__init__` ignores unknown keywords; a misspelt
    argument would otherwise pass silently.
    """
    unknown = sorted(set(kwargs) - set(MODEL_KWARGS))
    if unknown:
        raise TypeError(
            f"{cls.__name__} got unexpected keyword arguments {unknown}."
        )


def standardize_data_format(data_format):
    """`None` -> `keras.config.image_data_format()`; checks the value."""
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format={data_format!r} is not 'channels_last' or "
            "'channels_first'."
        )
    return data_format
