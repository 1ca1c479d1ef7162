"""ResNet family: parameter counts, structure, parity with reference models."""

import keras
import numpy as np
import pytest

import zoo
from testing_utils import (
    numpy_resnet_forward,
    randomize_batch_norm,
    torchvision_resnet_state_dict,
    trainable_count,
    zero_host_initializers,
)
import zoo.convert
from model_test_case import assert_close, run_backbone_test, run_converter_test
from zoo.convert import find_converter, from_keras_hub
from zoo.convert.state_dict import write_safetensors
from zoo.weights import assign_state, get_state


# Published 1000-class counts: torchvision's model docs (resnet18..152);
# timm's results tables for resnet50d and seresnet50.
PUBLISHED_PARAMETERS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet50d": 25_576_264,
    "seresnet50": 28_088_024,
}


# Counts do not depend on the backend; zeros instead of random weights.
@pytest.mark.one_backend("jax")
@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_trainable_parameters_match_published_tables(name, monkeypatch):
    zero_host_initializers(monkeypatch)
    model = zoo.create_model(name)
    assert trainable_count(model) == PUBLISHED_PARAMETERS[name]


# timm's results table (resnetrs50..420), in millions to two decimals.
RESNET_RS_MILLIONS = {"resnetrs50": 35.69, "resnetrs101": 63.62,
                      "resnetrs152": 86.62, "resnetrs200": 93.21,
                      "resnetrs270": 129.86, "resnetrs350": 163.96,
                      "resnetrs420": 191.89}


@pytest.mark.one_backend  # Counts do not depend on the backend.
def test_resnet_rs_counts_match_timm(monkeypatch):
    zero_host_initializers(monkeypatch)
    assert zoo.list_models("resnetrs*") == list(RESNET_RS_MILLIONS)
    for name, millions in RESNET_RS_MILLIONS.items():
        model = zoo.create_model(name, input_shape=(32, 32, 3))
        assert round(trainable_count(model) / 1e6, 2) == millions, name
        assert model.dropout == 0.25
        keras.backend.clear_session()


@pytest.mark.parametrize("options", [
    {"block_type": "basic", "se_ratio": 0.25},
    # ResNet-RS's options, with the Model Garden's pooled shortcuts.
    {"block_type": "bottleneck", "stem_type": "deep", "avg_down": "all",
     "replace_stem_pool": True, "se_ratio": 0.25, "block_variant": "v1",
     "activation": "swish"},
], ids=["basic_se", "bottleneck_rs_v1_swish"])
def test_backbone_shared_checks(options, tmp_path):
    """Round trips, mixed precision, channels_first, feature_info, jit and
    tf.data (tests/model_test_case.py) on two small layouts."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    expansion = 4 if options["block_type"] == "bottleneck" else 1
    model = run_backbone_test(
        zoo.ResNetBackbone,
        dict(stage_blocks=(1, 1, 1, 1), stage_filters=(8, 8, 16, 16),
             stem_width=8, input_shape=(64, 64, 3), **options),
        images, tmp_path=tmp_path,
        expected_output_shape=(2, 2, 2, 16 * expansion))
    assert [i["stride"] for i in model.feature_info] == [4, 8, 16, 32]


def test_v1_and_v15_differ_only_in_stride_placement():
    v1 = zoo.create_model("resnet50", block_variant="v1", features_only=True)
    v15 = zoo.create_model("resnet50", features_only=True)
    assert trainable_count(v1) == trainable_count(v15)
    assert v1.get_layer("stage3_block1_conv1").strides == (2, 2)
    assert v1.get_layer("stage3_block1_conv2").strides == (1, 1)
    assert v15.get_layer("stage3_block1_conv1").strides == (1, 1)
    assert v15.get_layer("stage3_block1_conv2").strides == (2, 2)


def test_pyramid_outputs_and_feature_info():
    backbone = zoo.create_model("resnet18", features_only=True,
                                input_shape=(64, 96, 3))
    features = backbone(np.zeros((2, 64, 96, 3), "float32"))
    assert sorted(features) == ["C2", "C3", "C4", "C5"]
    for info in backbone.feature_info:
        shape = tuple(features[info["name"]].shape)
        assert shape == (2, 64 // info["stride"], 96 // info["stride"],
                         info["channels"])
    assert [i["stride"] for i in backbone.feature_info] == [4, 8, 16, 32]
    assert [i["channels"] for i in backbone.feature_info] == [64, 128, 256,
                                                              512]


def test_classifier_output_shape_small_input():
    model = zoo.create_model("resnet18", num_classes=10,
                             input_shape=(32, 32, 3))
    assert tuple(model(np.zeros((3, 32, 32, 3), "float32")).shape) == (3, 10)


@pytest.mark.parametrize("channels", [1, 4])
def test_random_init_with_other_channel_counts(channels):
    model = zoo.create_model("resnet18", num_classes=3,
                             input_shape=(32, 32, channels))
    kernel = model.backbone.get_layer("stem_conv1").kernel
    assert tuple(kernel.shape) == (7, 7, channels, 64)
    out = model(np.ones((1, 32, 32, channels), "float32"))
    assert tuple(out.shape) == (1, 3)


def test_drop_path_only_in_training():
    model = zoo.create_model("resnet18", num_classes=4, drop_path_rate=0.5,
                             input_shape=(32, 32, 3))
    drop = [l for l in model.backbone.layers if "drop_path" in l.name]
    # Linear schedule over 8 blocks: the first block has rate 0 (no layer).
    assert len(drop) == 7
    assert drop[-1].rate == pytest.approx(0.5)
    assert drop[0].rate == pytest.approx(0.5 / 7)
    # The same weights without drop path: batch norm uses batch statistics
    # in training mode for both, so only the dropped branches differ.
    plain = zoo.create_model("resnet18", num_classes=4, drop_path_rate=0.0,
                             input_shape=(32, 32, 3))
    assign_state(plain, get_state(model))
    x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                  np.asarray(plain(x, training=False)))
    reference = np.asarray(plain(x, training=True))
    np.testing.assert_allclose(np.asarray(plain(x, training=True)),
                               reference, rtol=1e-6, atol=1e-6)
    first = np.asarray(model(x, training=True))
    second = np.asarray(model(x, training=True))
    assert not np.allclose(first, reference, atol=1e-3)
    assert not np.allclose(first, second, atol=1e-3)   # new masks each call


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="block_variant='v2'"):
        zoo.create_model("resnet50", block_variant="v2")
    with pytest.raises(ValueError, match="drop_path_rate"):
        zoo.create_model("resnet18", drop_path_rate=1.5)
    with pytest.raises(ValueError, match="input_shape"):
        zoo.create_model("resnet18", input_shape=(32, 32))
    with pytest.raises(ValueError, match="pooling"):
        zoo.create_model("resnet18", pooling="median")


# --- serialisation ----------------------------------------------------------


@pytest.fixture(scope="module")
def small_classifier():
    keras.utils.set_random_seed(1)
    model = zoo.create_model(
        "resnet18", num_classes=7, input_shape=(32, 32, 3), se_ratio=0.25,
        stem_type="deep", avg_down=True, drop_path_rate=0.1, dropout=0.1,
    )
    randomize_batch_norm(model, seed=1)
    model.preprocessor = zoo.ImagePreprocessor(image_size=(32, 32))
    return model


def _images(n=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, size, size, 3)).astype("float32")


def test_get_config_from_config_round_trip(small_classifier):
    config = small_classifier.get_config()
    clone = zoo.ImageClassifier.from_config(config)
    clone.set_weights(small_classifier.get_weights())
    x = _images()
    np.testing.assert_array_equal(np.asarray(clone(x)),
                                  np.asarray(small_classifier(x)))
    assert clone.get_config() == config


def test_keras_file_round_trip_safe_mode(small_classifier, tmp_path):
    path = tmp_path / "model.keras"
    small_classifier.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, zoo.ImageClassifier)
    assert isinstance(loaded.backbone, zoo.ResNetBackbone)
    assert loaded.preprocessor.image_size == (32, 32)
    x = _images()
    np.testing.assert_array_equal(np.asarray(loaded(x)),
                                  np.asarray(small_classifier(x)))


def test_preset_round_trip(small_classifier, tmp_path):
    small_classifier.save_to_preset(tmp_path / "preset")
    loaded = zoo.from_preset(tmp_path / "preset")
    x = _images()
    np.testing.assert_array_equal(np.asarray(loaded(x)),
                                  np.asarray(small_classifier(x)))
    assert loaded.preprocessor.get_config() == (
        small_classifier.preprocessor.get_config())


# --- parity with reference implementations -----------------------------------


@pytest.mark.parametrize("stem, blocks, block_type, size, expected", [
    # v1.5: keras-hub's default layout, zoo's too.
    (([64], [7]), [2, 1, 1, 1], "bottleneck_block", 64,
     {"block_variant": "v1.5", "stem_type": "basic", "avg_down": False}),
    # ResNet-D. keras-hub's basic_block_vd projects the first shortcut even
    # at 64->64 (timm's resnet18d does not), so the bottleneck is compared.
    (([32, 32, 64], [3, 3, 3]), [1, 1, 1, 1], "bottleneck_block_vd", 48,
     {"block_variant": "v1.5", "stem_type": "deep", "avg_down": True}),
], ids=["v1.5", "resnet_d"])
def test_parity_with_keras_hub_backbone(stem, blocks, block_type, size,
                                        expected):
    import keras_hub

    keras.utils.set_random_seed(2)
    reference = keras_hub.models.ResNetBackbone(
        input_conv_filters=stem[0], input_conv_kernel_sizes=stem[1],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=blocks, stackwise_num_strides=[1, 2, 2, 2],
        block_type=block_type, image_shape=(size, size, 3))
    randomize_batch_norm(reference, seed=2)
    x = _images(size=size, seed=3)
    # 1e-5 of the outputs' scale, as docs/models.md states.
    converted = run_converter_test(from_keras_hub, reference, x,
                                   tolerance=1e-5)
    assert {k: getattr(converted, k) for k in expected} == expected


@pytest.mark.parametrize("depth", [18, 50])
def test_timm_state_dict_parity_with_keras_hub_timm_converter(depth,
                                                              tmp_path):
    """keras-hub's own timm converter reads the same file: an oracle."""
    import json

    import keras_hub

    state = torchvision_resnet_state_dict(depth, seed=depth)
    preset = tmp_path / f"resnet{depth}.tv_in1k"
    preset.mkdir()
    write_safetensors(state, preset / "model.safetensors")
    (preset / "config.json").write_text(json.dumps({
        "architecture": f"resnet{depth}",
        "num_classes": 1000,
        "num_features": 512 if depth == 18 else 2048,
        "pretrained_cfg": {
            "input_size": [3, 224, 224], "crop_pct": 0.875,
            "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        },
    }))
    reference = keras_hub.models.ResNetBackbone.from_preset(
        str(preset), image_shape=(64, 64, 3))
    model = zoo.from_preset(preset, input_shape=(64, 64, 3))
    assert model.preprocessor.crop_pct == 0.875
    x = _images(size=64, seed=depth)
    expected = np.asarray(reference(x))
    actual = np.asarray(model.backbone(x))
    # Random weights let activations grow through the blocks, so the
    # tolerance is relative to the largest value: 1e-5 of it.
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert np.max(np.abs(actual - expected)) < 1e-5 * scale
    # The head is converted too: logits equal fc(mean-pooled features).
    logits = expected.mean(axis=(1, 2)) @ state["fc.weight"].T + state[
        "fc.bias"]
    scale = max(1.0, float(np.max(np.abs(logits))))
    assert np.max(np.abs(np.asarray(model(x)) - logits)) < 1e-5 * scale


@pytest.mark.parametrize("name, options", [
    ("resnet50d", {"deep_stem": True, "avg_down": True}),
    ("seresnet50", {"se": True}),
], ids=["resnet_d", "se_resnet"])
def test_timm_resnet_d_and_se_parity_with_a_numpy_reference(name, options,
                                                            tmp_path):
    """timm names in, logits out: against a float64 NumPy ResNet with
    torch's semantics (tests/testing_utils.py), so a swapped gamma/beta or
    mean/variance, a misplaced shortcut pool or SE gate shows."""
    state = torchvision_resnet_state_dict(50, seed=7, **options)
    path = tmp_path / "model.safetensors"
    write_safetensors(state, path)
    model = zoo.create_model(name, input_shape=(64, 64, 3))
    zoo.convert.load_weights_file(model, path, "timm")
    x = _images(size=64, seed=8)
    expected = numpy_resnet_forward(state, x, 50, **options)
    # float32 against float64 through 50 layers of random weights.
    assert_close(model(x), expected, scaled=1e-4, what=name)


# --- dilated (DeepLab) ResNet -------------------------------------------------


@pytest.mark.parametrize("depth, output_stride, multigrid", [
    (18, 16, None), (50, 16, [1, 2, 4]), (50, 8, [1, 2, 4])],
    ids=["r18_os16", "r50_os16_multigrid", "r50_os8_multigrid"])
def test_dilated_resnet_parity_with_a_numpy_reference(depth, output_stride,
                                                      multigrid, tmp_path):
    """The Model Garden's dilation rule against the float64 NumPy ResNet
    (tests/testing_utils.py) with the same torchvision weights: feature
    sizes at the output stride, every dilated 3x3 where the Model Garden
    puts it (a misplaced rate or a kept stride changes the numbers)."""
    state = torchvision_resnet_state_dict(depth, seed=3)
    path = tmp_path / "model.safetensors"
    write_safetensors(state, path)
    model = zoo.create_model(f"resnet{depth}", input_shape=(64, 64, 3),
                             output_stride=output_stride,
                             multigrid=multigrid)
    zoo.convert.load_weights_file(model, path, "timm")
    x = _images(size=64, seed=4)
    features = model.backbone(x)
    expected = numpy_resnet_forward(state, x, depth,
                                    output_stride=output_stride,
                                    multigrid=multigrid, features=True)
    side = 64 // output_stride
    assert tuple(features.shape) == (2, side, side, 512 * (depth // 50 * 3
                                                           + 1))
    assert_close(features, expected, scaled=1e-4, what="C5")
    assert_close(model(x), numpy_resnet_forward(
        state, x, depth, output_stride=output_stride, multigrid=multigrid),
        scaled=1e-4, what="logits")
    strides = [i["stride"] for i in model.backbone.feature_info]
    assert strides == [min(s, output_stride) for s in (4, 8, 16, 32)]


def test_dilated_resnet_at_stride_32_is_the_plain_resnet():
    """output_stride=32 (no dilation) has the plain ResNet's weights, in
    the same order, and its outputs."""
    plain = zoo.create_model("resnet18", num_classes=4,
                             input_shape=(32, 32, 3))
    same = zoo.create_model("resnet18", num_classes=4, output_stride=32,
                            input_shape=(32, 32, 3))
    assert [w.path for w in same.weights] == [w.path for w in plain.weights]
    assign_state(same, get_state(plain))
    x = _images(size=32, seed=5)
    np.testing.assert_array_equal(np.asarray(same(x)), np.asarray(plain(x)))
    dilated = zoo.create_model("resnet18", num_classes=4, output_stride=8,
                               input_shape=(32, 32, 3))
    assert [w.path for w in dilated.weights] == [w.path
                                                 for w in plain.weights]
    rates = {l.name: l.dilation_rate for l in dilated.backbone.layers
             if l.name.endswith(("_conv1", "_conv2"))}
    assert rates["stage3_block2_conv2"] == (1, 1)
    assert rates["stage4_block1_conv1"] == (2, 2)
    assert rates["stage5_block2_conv2"] == (4, 4)


def test_dilated_resnet_bad_arguments_are_named():
    with pytest.raises(ValueError, match="output_stride=4"):
        zoo.create_model("resnet50", output_stride=4)
    with pytest.raises(ValueError, match="one positive int per block"):
        zoo.create_model("resnet50", output_stride=16, multigrid=[1, 2])
    with pytest.raises(ValueError, match="needs a dilated last stage"):
        zoo.create_model("resnet50", multigrid=[1, 2, 4])


def test_timm_converter_rejects_mismatched_architecture(tmp_path):
    converter = find_converter("timm", family="resnet")
    state = torchvision_resnet_state_dict(18, deep_stem=True, avg_down=True)
    plain = zoo.create_model("resnet18", features_only=True)
    with pytest.raises(zoo.WeightsError, match="conv1.0.weight"):
        converter.convert_weights(state, plain)
    deep = zoo.create_model("resnet18d", task=None)
    converted = converter.convert_weights(state, deep)
    assert converted["stem_conv3/kernel"].shape == (3, 3, 32, 64)
    assert converted["stage3_block1_shortcut_conv/kernel"].shape == (1, 1, 64,
                                                                     128)
