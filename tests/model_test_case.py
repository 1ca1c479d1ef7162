"""The checks every model family gets: call these from a family's tests.

```python
def test_backbone(tmp_path):
    run_backbone_test(
        zoo.ResNetBackbone, dict(stage_blocks=(1, 1, 1, 1), ...),
        images(2, 32), expected_output_shape=(2, 1, 1, 512),
        expected_trainable=..., tmp_path=tmp_path)
```

- `run_backbone_test`: output shapes; config and `.keras` (`safe_mode=True`)
  round trips; a preset round trip; `mixed_bfloat16` compute dtype with
  float32 variables; `channels_first` equal to `channels_last` after
  transposing (vision); `feature_info` channels and strides equal to the
  pyramid's shapes; `predict` under jit and over a `tf.data.Dataset` equal
  to the eager call; the published trainable count.
- `run_task_test`: a task model trains (finite, falling loss), predicts its
  shape, and round-trips through `.keras` and a preset.
- `run_preset_test`: `zoo.from_preset` builds what the preset says.
- `run_converter_test`: a converted model's outputs equal the reference's
  within a tolerance relative to the outputs' scale.
- `run_op_test`: an op gives the expected values eagerly, compiled
  (`jax.jit` / `tf.function`) and inside `tf.data`, on each backend.

Every comparison states its tolerance; exact round trips compare exactly.
"""

import keras
import numpy as np

import zoo
from testing_utils import trainable_count


def _numpy_tree(outputs):
    return keras.tree.map_structure(
        lambda t: np.asarray(keras.ops.convert_to_numpy(t), "float32"),
        outputs)


def assert_close(actual, expected, *, atol=0.0, rtol=0.0, scaled=None,
                 what="outputs"):
    """Asserts two (nested) outputs agree.

    Args:
        actual, expected: arrays, or dicts / lists of arrays.
        atol, rtol: numpy-style tolerances.
        scaled: if given, the largest absolute difference must be below
            `scaled * max(1, max|expected|)` (a tolerance relative to the
            outputs' scale, for deep random-weight models).
    """
    actual, expected = _numpy_tree(actual), _numpy_tree(expected)
    flat_a, flat_e = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(flat_a) == len(flat_e), what
    for a, e in zip(flat_a, flat_e):
        assert a.shape == e.shape, (what, a.shape, e.shape)
        if scaled is not None:
            scale = max(1.0, float(np.max(np.abs(e))) if e.size else 1.0)
            difference = float(np.max(np.abs(a - e))) if e.size else 0.0
            assert difference <= scaled * scale, (
                f"{what}: max |difference| {difference:.3g} > "
                f"{scaled} x {scale:.3g}")
        else:
            np.testing.assert_allclose(a, e, atol=atol, rtol=rtol,
                                       err_msg=what)


def output_shapes(outputs):
    """The shapes of (nested) outputs, as tuples."""
    return keras.tree.map_structure(lambda t: tuple(t.shape), outputs)


def _transpose_images(x, to_channels_first):
    axes = (0, 3, 1, 2) if to_channels_first else (0, 2, 3, 1)
    return np.transpose(np.asarray(x), axes)


def _predict_batch(data):
    return int(keras.tree.flatten(data)[0].shape[0])


def check_jit_and_tf_data(model, input_data, expected, *, atol):
    """`predict` compiled with XLA, and over a `tf.data.Dataset`, equals
    the eager call."""
    import tensorflow as tf

    batch = _predict_batch(input_data)
    model.compile(jit_compile=True)
    assert_close(model.predict(input_data, batch_size=batch, verbose=0),
                 expected, atol=atol, what="predict under jit")
    dataset = tf.data.Dataset.from_tensor_slices(input_data).batch(batch)
    assert_close(model.predict(dataset, verbose=0), expected, atol=atol,
                 what="predict over tf.data")


def run_backbone_test(cls, init_kwargs, input_data, *, tmp_path,
                      expected_output_shape, expected_trainable=None,
                      pyramid_input=None, run_channels_first=None,
                      run_mixed_precision=True, run_jit=True,
                      run_preset=True, atol=1e-5):
    """The checks every backbone gets (see the module docstring).

    Args:
        cls: the backbone class.
        init_kwargs: constructor arguments of a small instance.
        input_data: a batch for it (array, or dict for text encoders).
        tmp_path: a directory for the saved files.
        expected_output_shape: shape (or dict of shapes) of the output.
        expected_trainable: int, the published trainable count of this
            configuration, or None.
        pyramid_input: input for the `features_only` check (defaults to
            `input_data`).
        run_channels_first: compare against `data_format="channels_first"`
            (default: for image backbones, i.e. 4-D array inputs), where
            the backend can run it (`channels_first_runs_here`).
        run_mixed_precision, run_jit, run_preset: the optional checks.
        atol: tolerance of the compiled-versus-eager comparisons.

    Returns:
        the backbone built, for the family's own further checks.
    """
    model = cls(**init_kwargs)
    outputs = model(input_data)
    assert output_shapes(outputs) == expected_output_shape
    if expected_trainable is not None:
        assert trainable_count(model) == expected_trainable

    # Config round trip: the same graph, the same numbers.
    config = model.get_config()
    clone = cls.from_config(config)
    clone.set_weights(model.get_weights())
    assert clone.get_config() == config
    assert_close(clone(input_data), outputs, what="config round trip")

    # .keras file, loaded in safe mode.
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is cls
    assert_close(loaded(input_data), outputs, what=".keras round trip")

    if run_preset:
        model.save_to_preset(tmp_path / f"{model.name}_preset")
        again = zoo.from_preset(tmp_path / f"{model.name}_preset")
        assert type(again) is cls
        assert_close(again(input_data), outputs, what="preset round trip")

    if run_mixed_precision:
        mixed = cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
        mixed_outputs = mixed(input_data)
        for tensor in keras.tree.flatten(mixed_outputs):
            assert keras.backend.standardize_dtype(tensor.dtype) == (
                "bfloat16")
        assert all(v.dtype == "float32" for v in mixed.weights)

    image = isinstance(input_data, np.ndarray) and input_data.ndim == 4
    if run_channels_first is None:
        run_channels_first = image
    if run_channels_first and channels_first_runs_here():
        first = cls(**{**init_kwargs, "data_format": "channels_first"})
        first.set_weights(model.get_weights())
        transposed = first(_transpose_images(input_data, True))
        assert_close(_transpose_images(transposed, False), outputs,
                     scaled=1e-5, what="channels_first")

    # The multi-level outputs and what feature_info says of them.
    pyramid_input = input_data if pyramid_input is None else pyramid_input
    features = cls(**{**init_kwargs, "features_only": True})
    levels = features(pyramid_input)
    assert sorted(levels) == sorted(i["name"] for i in features.feature_info)
    for info in features.feature_info:
        shape = tuple(levels[info["name"]].shape)
        assert shape[-1] == info["channels"], info
        if image:
            height, width = pyramid_input.shape[1:3]
            assert shape[1:3] == (height // info["stride"],
                                  width // info["stride"]), info
    assert features.feature_info == model.feature_info

    if run_jit:
        check_jit_and_tf_data(model, input_data, _numpy_tree(outputs),
                              atol=atol)
    return model


def channels_first_runs_here():
    """Whether this backend can run NCHW convolutions on this machine.

    TensorFlow's CPU convolution kernels take NHWC only ("The Conv2D op
    currently only supports the NHWC tensor format on the CPU"), so there
    the channels_first comparison needs a GPU; JAX runs it anywhere, and CI
    runs every suite on JAX too.
    """
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def run_task_test(build, train_data, *, tmp_path, expected_output_shape,
                  loss, steps=4, batch_size=2, falls_by=0.0, predict_data=None,
                  optimizer=None):
    """The checks every task model gets.

    Args:
        build: `build() -> task model`.
        train_data: `(x, y)` arrays.
        tmp_path: a directory for the saved files.
        expected_output_shape: shape (or structure) of `model(x)`.
        loss: the Keras loss to train with.
        steps: training steps (epochs of one batch each).
        batch_size: int.
        falls_by: the last loss must be below `(1 - falls_by)` times the
            first (0 only asks for finite losses).
        predict_data: raw input for `predict` (when the task has a
            preprocessor), default `x`.
        optimizer: a Keras optimizer, default Adam(1e-3).

    Returns:
        the trained model.
    """
    x, y = train_data
    model = build()
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3),
                  loss=loss)
    history = model.fit(x, y, batch_size=batch_size, epochs=steps,
                        verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)), losses
    if falls_by:
        assert losses[-1] < (1.0 - falls_by) * losses[0], losses
    ready = x if model.preprocessor is None else model.preprocessor(x)
    outputs = model(ready)
    assert output_shapes(outputs) == expected_output_shape
    predicted = model.predict(x if predict_data is None else predict_data,
                              batch_size=batch_size, verbose=0)
    assert_close(predicted, outputs, atol=1e-4, what="predict")

    path = tmp_path / f"{model.name}_task.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert_close(loaded(ready), outputs, atol=1e-6, what=".keras round trip")
    model.save_to_preset(tmp_path / f"{model.name}_task_preset")
    again = zoo.from_preset(tmp_path / f"{model.name}_task_preset")
    assert type(again) is type(model)
    assert_close(again(ready), outputs, atol=1e-6, what="preset round trip")
    return model


def run_preset_test(handle, *, expected_class, expected_parameters=None,
                    load_weights=True, check=None, **kwargs):
    """`zoo.from_preset(handle)` builds the class, the count and whatever
    `check(model)` asserts.

    Returns:
        the loaded model.
    """
    model = zoo.from_preset(handle, load_weights=load_weights, **kwargs)
    assert type(model).__name__ == expected_class
    if expected_parameters is not None:
        assert trainable_count(model) == expected_parameters
    if check is not None:
        check(model)
    return model


def run_converter_test(convert, reference, input_data, *, tolerance=1e-5,
                       call_zoo=None, call_reference=None):
    """A converted model gives the reference's outputs.

    Args:
        convert: `convert(reference) -> zoo model`.
        reference: the source model (or anything `convert` takes).
        input_data: the same input for both.
        tolerance: the largest difference allowed, relative to the scale of
            the reference's outputs (`assert_close(scaled=...)`).
        call_zoo, call_reference: how to call each (default: `m(x)`).

    Returns:
        the converted model.
    """
    model = convert(reference)
    call_zoo = call_zoo or (lambda m, x: m(x))
    call_reference = call_reference or (lambda m, x: m(x))
    assert_close(call_zoo(model, input_data),
                 call_reference(reference, input_data), scaled=tolerance,
                 what="converted outputs")
    return model


def compiled(fn):
    """`jax.jit` on JAX, `tf.function` elsewhere: how users compile."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


def run_op_test(fn, args, expected, *, atol=1e-5, rtol=0.0, tf_data=True):
    """An op gives `expected` eagerly, compiled and inside `tf.data`.

    Args:
        fn: the op, `fn(*args)`.
        args: tuple of numpy arrays.
        expected: the reference result (array or structure of arrays).
        atol, rtol: the tolerance of every comparison.
        tf_data: also run it on `tf.Tensor`s in a `tf.data` map (ops do,
            whatever the backend).
    """
    tensors = [keras.ops.convert_to_tensor(a) for a in args]
    assert_close(fn(*tensors), expected, atol=atol, rtol=rtol, what="eager")
    assert_close(compiled(fn)(*tensors), expected, atol=atol, rtol=rtol,
                 what="compiled")
    if tf_data:
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensors(tuple(args)).map(
            lambda *xs: fn(*xs))
        result = next(iter(dataset))
        assert_close(keras.tree.map_structure(np.asarray, result), expected,
                     atol=atol, rtol=rtol, what="inside tf.data")
