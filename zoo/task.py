"""Base class of task models: a backbone, a head and an optional preprocessor."""

import keras

from zoo.backbone import deserialize_dtype


class Task(keras.Model):
    """A functional model wrapping a `Backbone` plus a task head.

    When `preprocessor` is set, `fit`, `evaluate` and `predict` run it over
    the inputs first (inside a `tf.data` pipeline), so raw images or strings
    can be passed directly. Set `model.preprocessor = None` to feed already
    preprocessed tensors.

    Subclasses build their graph in `__init__`, call `super().__init__` with
    `inputs`/`outputs`, then set `self.backbone` and `self.preprocessor`.
    """

    backbone = None
    preprocessor = None

    # --- presets ------------------------------------------------------------

    def save_to_preset(self, preset_dir):
        """Writes this model as a preset directory, atomically.

        Layout (compatible with keras-hub's): `config.json` (backbone),
        `model.weights.h5` (backbone weights), `task.json`,
        `task.weights.h5`, `preprocessor.json` (if any) and `metadata.json`
        (versions, parameter count, sha256 of every file).

        Args:
            preset_dir: str or path; replaced if it exists.
        """
        from zoo.presets.directory import save_preset

        save_preset(self, preset_dir)

    def fuse(self):
        """An inference copy with batch norms folded into the convolutions.

        Returns a plain functional `keras.Model` (see
        `zoo.fusion.fuse_batch_norm`); it shares the unfolded layers with
        this model.
        """
        from zoo.fusion import fuse_batch_norm

        return fuse_batch_norm(self)

    # --- preprocessing in fit / evaluate / predict ---------------------------

    def _preprocess_dataset(self, x, y=None, sample_weight=None,
                            batch_size=None, with_labels=True, shuffle=False):
        import tensorflow as tf

        preprocessor = self.preprocessor

        def apply(features, *rest):
            # Elements are (features[, labels[, weights]]); features may
            # itself be a tuple (a text pair) and is handed over whole.
            return (preprocessor(features),) + rest

        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ValueError(
                    "Pass labels inside the tf.data.Dataset, not as `y`."
                )
            return x.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
        if isinstance(x, keras.utils.PyDataset) or callable(
            getattr(x, "__next__", None)
        ):
            raise TypeError(
                f"{type(self).__name__} has a preprocessor and cannot apply it"
                f" to a {type(x).__name__}. Pass a tf.data.Dataset or arrays, "
                "or set `model.preprocessor = None` and preprocess yourself."
            )
        parts = (x,)
        if with_labels and y is not None:
            parts += (y,)
            if sample_weight is not None:
                parts += (sample_weight,)
        dataset = tf.data.Dataset.from_tensor_slices(parts)
        if shuffle:
            dataset = dataset.shuffle(len(x), reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or 32)
        return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE)

    def fit(self, x=None, y=None, batch_size=None, validation_data=None,
            **kwargs):
        """`keras.Model.fit`, running the preprocessor over `x` when set."""
        if self.preprocessor is None:
            return super().fit(x, y, batch_size=batch_size,
                               validation_data=validation_data, **kwargs)
        if kwargs.get("validation_split"):
            raise ValueError(
                "validation_split is not supported with a preprocessor; pass "
                "validation_data instead."
            )
        sample_weight = kwargs.pop("sample_weight", None)
        # Arrays become a dataset here, so the shuffling is done here too.
        shuffle = kwargs.pop("shuffle", True)
        x = self._preprocess_dataset(x, y, sample_weight, batch_size,
                                     shuffle=shuffle)
        if validation_data is not None:
            if isinstance(validation_data, tuple):
                vx, vy, vsw = keras.utils.unpack_x_y_sample_weight(
                    validation_data
                )
                validation_data = self._preprocess_dataset(
                    vx, vy, vsw, batch_size
                )
            else:
                validation_data = self._preprocess_dataset(validation_data)
        return super().fit(x, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate`, running the preprocessor over `x`."""
        if self.preprocessor is None:
            return super().evaluate(x, y, batch_size=batch_size, **kwargs)
        sample_weight = kwargs.pop("sample_weight", None)
        x = self._preprocess_dataset(x, y, sample_weight, batch_size)
        return super().evaluate(x, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`, running the preprocessor over `x`."""
        if self.preprocessor is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        x = self._preprocess_dataset(x, batch_size=batch_size,
                                     with_labels=False)
        return super().predict(x, **kwargs)

    # --- serialisation ------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": (
                keras.saving.serialize_keras_object(self.preprocessor)
                if self.preprocessor is not None
                else None
            ),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            if isinstance(config.get(key), dict):
                config[key] = _deserialize(
                    config[key]
                )
        if "dtype" in config:
            config["dtype"] = deserialize_dtype(config["dtype"])
        return cls(**config)


def _deserialize(spec):
    from zoo.registry import deserialize

    return deserialize(spec)
