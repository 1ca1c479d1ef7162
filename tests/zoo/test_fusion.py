"""Batch norm folding (`zoo.fusion`, `model.fuse()`): same outputs."""

import keras
import numpy as np
import pytest

import zoo
from testing_utils import randomize_batch_norm
from zoo.fusion import find_foldable_pairs, fuse_batch_norm


def _images(n=2, size=32, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, size, size, channels)).astype("float32")


def _layers_of(model, kind):
    return [l for l in model._flatten_layers(include_self=False)
            if isinstance(l, kind)]


def _run(model, images):
    """Eager call: quicker here than compiling `predict_on_batch`."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy,
                                    model(images, training=False))


def _randomize(model, seed=0):
    """Random batch-norm statistics and affine terms, random conv biases."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.weights:
                low = 0.5 if "variance" in variable.path or \
                    "gamma" in variable.path else -0.5
                variable.assign(rng.uniform(low, low + 1.0, variable.shape))
        elif getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0.0, 0.2, layer.bias.shape))


def _assert_close(actual, expected, tolerance=1e-4):
    """Within `tolerance` of the output's own scale (absolute at scale 1):
    float32 rounds differently once the norm is inside the kernel."""
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=0,
                               atol=tolerance * scale)


NARROW = {"stage_filters": (8, 16, 16, 32), "stem_width": 8}


def test_fused_resnet50_matches_unfused_within_1e_4():
    model = zoo.create_model("resnet50", num_classes=7,
                             input_shape=(32, 32, 3), **NARROW)
    images = _images()
    # Freshly initialised batch norms, then random statistics.
    _assert_close(_run(model.fuse(), images), _run(model, images))
    randomize_batch_norm(model, seed=3)
    _assert_close(_run(model.fuse(), images), _run(model, images))


@pytest.mark.parametrize("kwargs", [
    {"block_variant": "v1"},
    {"stem_type": "deep", "avg_down": True, "se_ratio": 0.25},
])
def test_fused_resnet_variants_match_unfused(kwargs):
    model = zoo.create_model("resnet18", num_classes=7,
                             input_shape=(32, 32, 3), **{**NARROW, **kwargs})
    randomize_batch_norm(model, seed=3)
    images = _images()
    _assert_close(_run(model.fuse(), images), _run(model, images))


def test_fused_model_has_no_batch_norm_and_biased_convolutions():
    model = zoo.create_model("resnet18", num_classes=7,
                             input_shape=(32, 32, 3))
    convolutions = _layers_of(model, keras.layers.Conv2D)
    norms = _layers_of(model, keras.layers.BatchNormalization)
    assert len(norms) == len(convolutions) == 20
    fused = model.fuse()
    assert _layers_of(fused, keras.layers.BatchNormalization) == []
    fused_convolutions = _layers_of(fused, keras.layers.Conv2D)
    assert len(fused_convolutions) == 20
    assert all(c.use_bias for c in fused_convolutions)
    # Each fold keeps the kernel and trades 4 norm vectors for one bias.
    channels = sum(c.filters for c in convolutions)
    assert fused.count_params() == model.count_params() - 3 * channels
    assert fused.name == "resnet18_fused"
    # Nested models are inlined; the head is shared, not copied.
    assert not any(isinstance(l, keras.Model) for l in fused.layers)
    assert fused.get_layer("predictions") is model.get_layer("predictions")


def test_backbone_fuse_keeps_the_pyramid_outputs():
    backbone = zoo.create_model("resnet18", features_only=True,
                                input_shape=(64, 64, 3), **NARROW)
    randomize_batch_norm(backbone, seed=1)
    fused = backbone.fuse()
    images = _images(size=64)
    expected = _run(backbone, images)
    actual = _run(fused, images)
    assert sorted(actual) == sorted(expected) == ["C2", "C3", "C4", "C5"]
    for level in expected:
        _assert_close(actual[level], expected[level])


def _folding_model():
    """Conv1D (with bias) + BN, DepthwiseConv2D + BN with center/scale off,
    and a convolution whose output has two users (must not fold)."""
    images = keras.Input((16, 16, 4))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                     use_bias=False)(images)
    x = keras.layers.BatchNormalization(center=False, scale=False)(x)
    shared = keras.layers.Conv2D(8, 1, name="shared_conv")(x)
    y = keras.layers.BatchNormalization(name="unfoldable_bn")(shared)
    y = keras.layers.Add()([y, shared])
    sequence = keras.layers.Reshape((16 * 16, 8))(y)
    z = keras.layers.Conv1D(6, 3, padding="same", use_bias=True)(sequence)
    z = keras.layers.BatchNormalization()(z)
    return keras.Model(images, z)


def test_depthwise_conv1d_and_bias_fold_but_shared_outputs_do_not():
    model = _folding_model()
    _randomize(model, seed=2)
    assert len(find_foldable_pairs(model)) == 2
    fused = fuse_batch_norm(model)
    remaining = _layers_of(fused, keras.layers.BatchNormalization)
    assert [l.name for l in remaining] == ["unfoldable_bn"]
    images = _images(size=16, channels=4)
    _assert_close(_run(fused, images), _run(model, images))


def test_batch_norm_over_another_axis_does_not_fold():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.BatchNormalization(axis=1)(x)
    model = keras.Model(inputs, x)
    assert find_foldable_pairs(model) == {}
    fused = fuse_batch_norm(model)
    assert len(_layers_of(fused, keras.layers.BatchNormalization)) == 1


def test_fuse_needs_a_functional_model():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="needs a functional Keras model; "
                       "got Subclassed"):
        fuse_batch_norm(Subclassed())


# --- predict folds by default (TensorFlow), never stale ------------------------

#: Folded or not, float32 sums in another order: logits of scale ~30 here.
FOLDED = dict(rtol=1e-5, atol=1e-4)


def test_predict_folds_batch_norms_and_follows_the_weights(tmp_path):
    keras.utils.set_random_seed(0)
    model = zoo.create_model("resnet18", num_classes=4,
                             input_shape=(32, 32, 3), stage_filters=(8, 8, 8, 8))
    model.preprocessor = None
    _randomize(model)
    images = _images(4)
    trainable = len(model.trainable_weights)
    before = model.predict(images, verbose=0)
    np.testing.assert_allclose(before, _run(model, images), **FOLDED)
    folded = model.inference_model()
    if keras.backend.backend() == "jax":
        # XLA fuses the batch norms itself: predict runs the model as is.
        assert folded is None
    else:
        assert not _layers_of(folded, keras.layers.BatchNormalization)
        assert not {id(v) for v in folded.weights} <= {
            id(v) for v in model.weights}
    model.save_weights(tmp_path / "before.weights.h5")

    # fit trains the model's own layers (the folded copy is no part of it),
    # and predict then uses the new weights.
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss="sparse_categorical_crossentropy")
    model.fit(images, np.arange(4), epochs=3, verbose=0)
    assert len(model.trainable_weights) == trainable
    after = model.predict(images, verbose=0)
    assert np.abs(after - before).max() > 1e-3, "fit changed nothing"
    np.testing.assert_allclose(after, _run(model, images), **FOLDED)
    np.testing.assert_allclose(model.predict_on_batch(images), after,
                               **FOLDED)
    # load_weights and a hand-made assignment (weights_changed) too.
    model.load_weights(tmp_path / "before.weights.h5")
    np.testing.assert_allclose(model.predict(images, verbose=0), before,
                               **FOLDED)
    bn = _layers_of(model, keras.layers.BatchNormalization)[0]
    bn.beta.assign(bn.beta + 1.0)
    model.weights_changed()
    np.testing.assert_allclose(model.predict_on_batch(images),
                               _run(model, images), **FOLDED)
    model.fold_batch_norms = False
    assert model.inference_model() is None
    np.testing.assert_allclose(model.predict_on_batch(images),
                               _run(model, images), **FOLDED)


def test_bfloat16_predict_runs_a_copy_that_follows_the_weights(tmp_path):
    """`inference_dtype="bfloat16"`: predict runs a bfloat16 copy (batch
    norms folded on TensorFlow, kept on JAX) and returns float32 within
    bfloat16's rounding of the float32 outputs; fit trains the model, not
    the copy, and the copy follows fit and load_weights."""
    keras.utils.set_random_seed(0)
    model = zoo.create_model("resnet18", num_classes=4, activation=None,
                             input_shape=(32, 32, 3),
                             stage_filters=(8, 8, 8, 8))
    model.preprocessor = None
    _randomize(model)
    images = _images(8)
    weights = len(model.weights)
    expected = _run(model, images)
    with pytest.raises(ValueError, match="'float32', 'bfloat16'"):
        model.inference_dtype = "float16"
    model.inference_dtype = "bfloat16"
    low = model.inference_model()
    kernels = [layer.kernel for layer in _layers_of(low, keras.layers.Conv2D)]
    assert kernels and {str(k.dtype) for k in kernels} == {"bfloat16"}
    assert not {id(v) for v in low.weights} & {id(v) for v in model.weights}
    assert bool(_layers_of(low, keras.layers.BatchNormalization)) == (
        keras.backend.backend() == "jax")
    for actual in (model.predict(images, verbose=0),
                   model.predict_on_batch(images)):
        assert actual.dtype == np.float32
        # bfloat16 keeps 8 significant bits: about 0.4% per rounding.
        _assert_close(actual, expected, tolerance=0.05)
    model.save_weights(tmp_path / "before.weights.h5")

    model.compile(optimizer=keras.optimizers.SGD(0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    model.fit(images, np.arange(8) % 4, epochs=4, verbose=0)
    assert len(model.weights) == weights
    trained = _run(model, images)
    assert np.abs(trained - expected).max() > 0.5 * np.abs(expected).max()
    _assert_close(model.predict(images, verbose=0), trained, tolerance=0.05)
    model.load_weights(tmp_path / "before.weights.h5")
    _assert_close(model.predict_on_batch(images), expected, tolerance=0.05)
    model.inference_dtype = None  # float32 again: the model itself
    assert model.inference_model() is None or not _layers_of(
        model.inference_model(), keras.layers.BatchNormalization)
    np.testing.assert_allclose(model.predict_on_batch(images), expected,
                               **FOLDED)
