"""Base class of task models: a backbone, a head and an optional preprocessor."""

import keras

from zoo.backbone import deserialize_dtype


#: What `Task.inference_dtype` takes.
INFERENCE_DTYPES = ("float32", "bfloat16")


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

    # --- inference with batch norms folded -----------------------------------

    @property
    def fold_batch_norms(self):
        """On TensorFlow, `predict` folds batch norms into their
        convolutions (exact to float tolerance: see `inference_model`);
        True by default. Set False to predict through the layers as
        built."""
        return getattr(self, "_fold_batch_norms", True)

    @fold_batch_norms.setter
    def fold_batch_norms(self, value):
        object.__setattr__(self, "_fold_batch_norms", bool(value))
        self.predict_function = None  # traced on the other path

    def inference_model(self):
        """The model `predict` runs on TensorFlow: this model with each
        convolution + batch norm pair folded into one convolution
        (`zoo.fusion.fuse_batch_norm`; docs/performance.md), or None:
        nothing folds, `fold_batch_norms` is False, or the backend is JAX
        (XLA fuses the batch norm into the convolution's output itself;
        folding measured no faster there).

        Built once, and folded again (in place: nothing retraces) whenever
        the weights may have changed since: a step of the optimizer (`fit`,
        `train_on_batch`), `load_weights`, `set_weights`,
        `zoo.weights.assign_state`, or a change of the variables
        themselves (`enable_lora`, `quantize`). Only `predict` uses it;
        `fit` trains this model's own layers. After assigning variables by
        hand, call `weights_changed()`.

        With `inference_dtype="bfloat16"`, the bfloat16 copy `predict`
        runs (folded on TensorFlow when `fold_batch_norms` is True).
        """
        low = self._reduced_precision_copy()
        if low is not None:
            return low.inference_model() or low
        if not self.fold_batch_norms or keras.backend.backend() != (
                "tensorflow"):
            return None
        structure, version = self._weights_key()
        cached = getattr(self, "_inference_cache", None)
        if cached is not None and cached[0] == structure:
            if cached[1] != version and cached[2] is not None:
                from zoo.fusion import refold

                refold(cached[2])
            object.__setattr__(self, "_inference_cache",
                               (structure, version, cached[2]))
            return cached[2]
        from zoo.fusion import (
            is_functional,
            find_foldable_pairs,
            fuse_batch_norm,
        )

        folded = None
        if is_functional(self) and find_foldable_pairs(self):
            folded = fuse_batch_norm(self, name=f"{self.name}_inference")
        # Not tracked: it is no part of this model (nor of its weights).
        object.__setattr__(self, "_inference_cache",
                           (structure, version, folded))
        if cached is not None:
            self.predict_function = None  # traced with the old graph
        return folded

    def _weights_key(self):
        """`(structure, version)`: which variables there are, and a counter
        that changes whenever their values may have (see
        `inference_model`)."""
        structure = (tuple(id(v) for v in self.variables),
                     self.dtype_policy.name)
        optimizer = getattr(self, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        version = (id(optimizer),
                   None if iterations is None else int(iterations.numpy()),
                   getattr(self, "_weights_version", 0))
        return structure, version

    # --- inference in bfloat16 -------------------------------------------------

    @property
    def inference_dtype(self):
        """The dtype `predict` computes in: `"float32"` (the default: the
        model as built) or `"bfloat16"`.

        With `"bfloat16"`, `predict` and `predict_on_batch` run a copy of
        this model rebuilt with bfloat16 layers and weights (batch norms
        folded into the convolutions on TensorFlow, kept on JAX: see
        docs/performance.md for what each measured), and return float32
        outputs. The copy's weights are this model's, copied again whenever
        they may have changed (as `inference_model` refolds); `fit` and
        `evaluate` always run this model in its own dtype. Not saved with
        the model.
        """
        return getattr(self, "_inference_dtype", "float32")

    @inference_dtype.setter
    def inference_dtype(self, value):
        value = "float32" if value is None else str(value)
        if value not in INFERENCE_DTYPES:
            raise ValueError(
                f"inference_dtype must be one of {list(INFERENCE_DTYPES)}, "
                f"got {value!r}.")
        if value == self.inference_dtype:
            return
        object.__setattr__(self, "_inference_dtype", value)
        object.__setattr__(self, "_reduced_precision", None)

    def _reduced_precision_copy(self):
        """The copy `predict` runs in `inference_dtype` (its weights made
        current), or None in float32."""
        dtype = self.inference_dtype
        if dtype == "float32" or self.dtype_policy.compute_dtype == dtype:
            return None
        from zoo.fusion import recast

        structure, version = self._weights_key()
        cached = getattr(self, "_reduced_precision", None)
        if cached is not None and cached[0] == structure:
            copy = cached[2]
            if cached[1] != version:
                copy.set_weights(self.get_weights())
        else:
            copy = recast(self, dtype)
        if copy.fold_batch_norms != self.fold_batch_norms:
            copy.fold_batch_norms = self.fold_batch_norms
        # Not tracked: no part of this model (nor of its weights).
        object.__setattr__(self, "_reduced_precision",
                           (structure, version, copy))
        return copy

    def weights_changed(self):
        """Tells `predict` that the weights changed (they are folded again
        at the next call); `fit`, `load_weights`, `set_weights` and
        `zoo.weights.assign_state` do it themselves."""
        object.__setattr__(self, "_weights_version",
                           getattr(self, "_weights_version", 0) + 1)

    def load_weights(self, *args, **kwargs):
        """`keras.Model.load_weights` (then `weights_changed`)."""
        result = super().load_weights(*args, **kwargs)
        self.weights_changed()
        return result

    def set_weights(self, weights):
        """`keras.Model.set_weights` (then `weights_changed`)."""
        super().set_weights(weights)
        self.weights_changed()

    def predict_step(self, *args):
        """Keras' `predict_step`, through `inference_model()` when there is
        one (TensorFlow: `(data,)`; other backends pass through)."""
        # Built (and folded) by predict / predict_on_batch, eagerly: this
        # runs while Keras traces.
        cached = getattr(self, "_inference_cache", None)
        folded = cached[2] if cached is not None else None
        if folded is None or len(args) != 1 or not self.fold_batch_norms:
            return super().predict_step(*args)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(args[0])
        return folded(x, training=False)

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
        """`keras.Model.predict`, running the preprocessor over `x`, with
        batch norms folded (`inference_model`), in `inference_dtype`."""
        low = self._reduced_precision_copy()
        if low is not None:
            return _as_float32(low.predict(x, batch_size=batch_size,
                                           **kwargs))
        self.inference_model()  # built before Keras traces predict_step
        if self.preprocessor is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        x = self._preprocess_dataset(x, batch_size=batch_size,
                                     with_labels=False)
        return super().predict(x, **kwargs)

    def predict_on_batch(self, x):
        """`keras.Model.predict_on_batch`, with batch norms folded
        (`inference_model`), in `inference_dtype`."""
        low = self._reduced_precision_copy()
        if low is not None:
            return _as_float32(low.predict_on_batch(x))
        self.inference_model()
        return super().predict_on_batch(x)

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


def _as_float32(outputs):
    """`predict`'s numpy outputs with bfloat16/float16 arrays as float32."""
    import numpy as np

    def cast(value):
        if isinstance(value, np.ndarray) and str(value.dtype) in (
                "bfloat16", "float16"):
            return value.astype("float32")
        return value

    return keras.tree.map_structure(cast, outputs)


def _deserialize(spec):
    from zoo.registry import deserialize

    return deserialize(spec)
