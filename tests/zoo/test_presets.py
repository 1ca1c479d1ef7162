"""Presets: built-in files, downloads through a loopback server, bad input."""

import hashlib
import logging
import os
import re
import shutil

import keras
import numpy as np
import pytest
import yaml

import zoo
from published_counts import PUBLISHED_PARAMETERS
from testing_utils import (
    randomize_batch_norm,
    trainable_count,
    write_keras_applications_h5,
    zero_host_initializers,
)
from zoo.presets.download import cache_path_for_url

KERAS_APPLICATIONS_MEAN = np.array([123.68, 116.779, 103.939], "float32")


# --- built-in presets --------------------------------------------------------


def test_list_presets_pattern_and_fields():
    names = [p.name for p in zoo.list_presets("resnet*")]
    assert "resnet50" in names and "resnet50_tv" in names
    assert all(n.startswith("resnet") for n in names)
    info = zoo.list_presets("resnet50")[0]
    assert info.parameters == 25_557_032
    assert info.input_size == (224, 224, 3)
    assert info.license == "MIT"
    assert "resnet50" in str(info) and "25.56M" in str(info)
    assert zoo.list_presets("nothing*") == []


def keras_published_weights(architecture):
    """`(URL, hash)` keras.applications itself downloads for a zoo
    architecture's ImageNet weights (with the classifier), read from
    keras' own modules."""
    from keras.src.applications import (
        convnext,
        efficientnet,
        efficientnet_v2,
        mobilenet_v2,
        mobilenet_v3,
        resnet,
    )

    if match := re.fullmatch(r"resnet(\d+)", architecture):
        name = f"resnet{match[1]}"
        return (resnet.BASE_WEIGHTS_PATH
                + f"{name}_weights_tf_dim_ordering_tf_kernels.h5",
                "md5:" + resnet.WEIGHTS_HASHES[name][0])
    if match := re.fullmatch(r"efficientnet_(b\d)", architecture):
        return (efficientnet.BASE_WEIGHTS_PATH + f"efficientnet{match[1]}.h5",
                "md5:" + efficientnet.WEIGHTS_HASHES[match[1]][0])
    if match := re.fullmatch(r"efficientnetv2_(\w+)", architecture):
        key = match[1] if match[1].startswith("b") else "-" + match[1]
        return (efficientnet_v2.BASE_WEIGHTS_PATH
                + f"efficientnetv2-{match[1]}.h5",
                "md5:" + efficientnet_v2.WEIGHTS_HASHES[key][0])
    if match := re.fullmatch(r"mobilenetv2_(\d{3})", architecture):
        alpha = int(match[1]) / 100
        return (mobilenet_v2.BASE_WEIGHT_PATH + "mobilenet_v2_weights_tf_"
                f"dim_ordering_tf_kernels_{alpha}_224.h5", "unpublished")
    if match := re.fullmatch(r"mobilenetv3_(large|small)(_minimal)?_(\d{3})",
                             architecture):
        key = (f"{match[1]}{'_minimalistic' if match[2] else ''}_224_"
               f"{int(match[3]) / 100}_float")
        return (mobilenet_v3.BASE_WEIGHT_PATH
                + f"weights_mobilenet_v3_{key}.h5",
                "md5:" + mobilenet_v3.WEIGHTS_HASHES[key][0])
    if re.fullmatch(r"convnext_\w+", architecture):
        return (convnext.BASE_WEIGHTS_PATH + f"{architecture}.h5",
                "sha256:" + convnext.WEIGHTS_HASHES[architecture][0])
    raise AssertionError(f"no keras.applications weights for {architecture}")


def test_keras_applications_presets_name_keras_own_url_and_hash():
    """Every preset of keras.applications weights downloads the file keras
    itself does, checked against the hash keras publishes (MobileNetV2:
    keras publishes none)."""
    presets = [p for p in zoo.list_presets()
               if p.weights.converter == "keras_applications"]
    families = {re.sub(r"(v\d)?[_\d].*", r"\1", p.architecture)
                for p in presets}
    assert families == {"resnet", "efficientnet", "efficientnetv2",
                        "mobilenetv2", "mobilenetv3", "convnext"}
    assert len(presets) == 35
    for info in presets:
        assert (info.weights_uri, info.weights_hash) == (
            keras_published_weights(info.architecture)), info.name
    assert zoo.list_presets("resnet50")[0].arguments["block_variant"] == "v1"


# Parameter counts do not depend on the backend.
@pytest.mark.one_backend
def test_every_builtin_preset_builds_with_its_published_count(monkeypatch):
    """Each preset's model has the count its file states. The convnet
    variants' counts are asserted against a build of every variant in
    tests/zoo/vision/test_convnets.py; here their presets are held to the
    same table (building EfficientNet-B7 or ConvNeXt-XL twice would cost a
    minute) and their preprocessors built."""
    from zoo.vision.preprocessing import ImagePreprocessor

    zero_host_initializers(monkeypatch)   # counts need no random weights
    for info in zoo.list_presets():
        if info.architecture in PUBLISHED_PARAMETERS and not info.arguments:
            assert info.parameters == PUBLISHED_PARAMETERS[
                info.architecture], info.name
            preprocessor = ImagePreprocessor(
                **info.preprocessing.arguments())
            assert preprocessor.image_size == info.input_size[:2]
            continue
        model = zoo.from_preset(info.name, load_weights=False)
        assert trainable_count(model) == info.parameters, info.name
        if info.kind == "causal_lm":  # its context; no packing
            assert model.backbone.max_sequence_length == info.input_size[0]
        elif len(info.input_size) == 1:  # a text preset: tokens per example
            assert model.preprocessor.sequence_length == info.input_size[0]
        else:
            assert model.preprocessor.image_size == info.input_size[:2]


def test_unknown_preset_lists_closest_names():
    with pytest.raises(zoo.UnknownPresetError) as excinfo:
        zoo.from_preset("resnet5")
    message = str(excinfo.value)
    assert "'resnet5'" in message and "'resnet50'" in message


def test_preset_file_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bad", "kind": "image_classifier", "architecture": "resnet18",
        "weights": {"uri": "file:///x", "converter": "timm"},
        "num_clases": 3,
    }))
    with pytest.raises(zoo.PresetError, match="num_clases.*num_classes"):
        zoo.from_preset(path)


# --- keras.applications weights through the real download path --------------


@pytest.fixture(scope="module")
def keras_applications_resnet50(tmp_path_factory):
    """A random keras.applications ResNet50 and its weights in Keras' format."""
    keras.utils.set_random_seed(5)
    reference = keras.applications.ResNet50(weights=None,
                                            classifier_activation=None)
    randomize_batch_norm(reference, seed=5)
    rng = np.random.default_rng(5)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    directory = tmp_path_factory.mktemp("keras_applications")
    path = directory / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    write_keras_applications_h5(reference, path)
    return reference, path


def _served_preset(server, weights_path, tmp_path, name="resnet50",
                   file_hash="auto"):
    """Copies the built-in preset, pointing it at the loopback server."""
    served = os.path.join(server.root, "keras-applications",
                          weights_path.name)
    os.makedirs(os.path.dirname(served), exist_ok=True)
    shutil.copy(weights_path, served)
    data = yaml.safe_load(
        (zoo.presets.builtin.builtin_presets_dir() / f"{name}.yaml")
        .read_text())
    data["weights"]["uri"] = (
        f"{server.url}/keras-applications/{weights_path.name}")
    if file_hash == "auto":
        file_hash = "sha256:" + hashlib.sha256(
            weights_path.read_bytes()).hexdigest()
    if file_hash is None:
        data["weights"].pop("hash", None)
    else:
        data["weights"]["hash"] = file_hash
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, data["weights"]["uri"]


def test_resnet50_v1_parity_with_keras_applications_via_download(
        keras_applications_resnet50, http_server, tmp_path):
    reference, weights = keras_applications_resnet50
    preset, url = _served_preset(http_server, weights, tmp_path)
    model = zoo.from_preset(preset)
    assert len(http_server.paths()) == 1
    rng = np.random.default_rng(6)
    images = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    expected = np.asarray(reference(
        keras.applications.resnet.preprocess_input(images.copy())))
    actual = np.asarray(model(images - KERAS_APPLICATIONS_MEAN))
    assert np.max(np.abs(actual - expected)) < 1e-4
    # The preset's preprocessor is the same mean subtraction (after resize).
    processed = np.asarray(model.preprocessor(images))
    np.testing.assert_allclose(
        processed[:, 100, 100],
        np.asarray(keras.layers.Resizing(256, 256, antialias=True)(images))
        [:, 116, 116] - KERAS_APPLICATIONS_MEAN, atol=1e-3)

    # Second load: served from the cache, no request at all.
    again = zoo.from_preset(preset)
    assert len(http_server.paths()) == 1
    np.testing.assert_array_equal(
        np.asarray(again(images - KERAS_APPLICATIONS_MEAN)), actual)
    assert cache_path_for_url(url).is_file()


def test_new_head_keeps_backbone_weights_and_says_so(
        keras_applications_resnet50, http_server, tmp_path, caplog):
    _, weights = keras_applications_resnet50
    preset, _ = _served_preset(http_server, weights, tmp_path)
    full = zoo.from_preset(preset)
    with caplog.at_level(logging.INFO, logger="zoo"):
        model = zoo.from_preset(preset, num_classes=5)
    assert "new 5-class head" in caplog.text
    assert tuple(model.output.shape) == (None, 5)
    np.testing.assert_array_equal(
        np.asarray(model.backbone.get_layer("stage5_block3_conv3").kernel),
        np.asarray(full.backbone.get_layer("stage5_block3_conv3").kernel))


def test_one_channel_input_adapts_first_convolution(
        keras_applications_resnet50, http_server, tmp_path):
    _, weights = keras_applications_resnet50
    preset, _ = _served_preset(http_server, weights, tmp_path)
    rgb = zoo.from_preset(preset, features_only=True)
    gray = zoo.from_preset(preset, features_only=True,
                           input_shape=(None, None, 1))
    image = np.random.default_rng(7).normal(size=(1, 64, 64, 1))
    image = image.astype("float32")
    # Summing the kernel over channels: a gray image gives the output of the
    # same image repeated on the three channels.
    expected = np.asarray(rgb(np.repeat(image, 3, axis=-1))["C5"])
    actual = np.asarray(gray(image)["C5"])
    assert np.max(np.abs(actual - expected)) < 1e-4 * max(
        1.0, float(np.max(np.abs(expected))))


def test_four_channel_input_repeats_and_rescales_kernel(
        keras_applications_resnet50, http_server, tmp_path):
    _, weights = keras_applications_resnet50
    preset, _ = _served_preset(http_server, weights, tmp_path)
    rgb = zoo.from_preset(preset, features_only=True)
    rgba = zoo.from_preset(preset, features_only=True,
                           input_shape=(None, None, 4))
    k3 = np.asarray(rgb.get_layer("stem_conv1").kernel)
    k4 = np.asarray(rgba.get_layer("stem_conv1").kernel)
    np.testing.assert_allclose(k4[:, :, :3], k3 * 0.75, rtol=1e-6)
    np.testing.assert_allclose(k4[:, :, 3], k3[:, :, 0] * 0.75, rtol=1e-6)


def test_offline_uncached_names_url_and_cache_path(
        keras_applications_resnet50, http_server, tmp_path, monkeypatch):
    _, weights = keras_applications_resnet50
    preset, url = _served_preset(http_server, weights, tmp_path)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(zoo.OfflineError) as excinfo:
        zoo.from_preset(preset)
    message = str(excinfo.value)
    assert url in message
    assert str(cache_path_for_url(url)) in message
    assert http_server.requests == []
    # Putting the file where the message says makes the offline load work.
    target = cache_path_for_url(url)
    target.parent.mkdir(parents=True)
    shutil.copy(weights, target)
    model = zoo.from_preset(preset)
    assert http_server.requests == []
    assert tuple(model.output.shape) == (None, 1000)


def test_hf_hub_offline_is_offline_too(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(zoo.OfflineError):
        zoo.presets.download.fetch("https://127.0.0.1:9/never.h5")


def test_hash_mismatch_is_refused_and_not_cached(
        keras_applications_resnet50, http_server, tmp_path):
    _, weights = keras_applications_resnet50
    preset, url = _served_preset(http_server, weights, tmp_path,
                                 file_hash="sha256:" + "0" * 64)
    with pytest.raises(zoo.HashMismatchError, match="refused"):
        zoo.from_preset(preset)
    cached = cache_path_for_url(url)
    assert not cached.exists()
    assert list(cached.parent.iterdir()) == []  # no temporary left behind


def test_truncated_download_is_removed_from_cache(
        keras_applications_resnet50, http_server, tmp_path):
    _, weights = keras_applications_resnet50
    truncated = tmp_path / weights.name
    truncated.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    preset, url = _served_preset(http_server, truncated, tmp_path,
                                 file_hash="unpublished")
    with pytest.raises(zoo.WeightsError) as excinfo:
        zoo.from_preset(preset)
    message = str(excinfo.value)
    assert weights.name in message and "removed" in message
    assert not cache_path_for_url(url).exists()


def test_http_error_is_reported(http_server):
    with pytest.raises(zoo.DownloadError, match="404"):
        zoo.presets.download.fetch(f"{http_server.url}/missing.h5")


def test_progress_bar_is_shown(http_server, monkeypatch, capfd):
    (tmp := http_server.root)
    with open(os.path.join(tmp, "blob.bin"), "wb") as f:
        f.write(os.urandom(3 << 20))
    monkeypatch.setenv("ZOO_PROGRESS", "1")
    path = zoo.presets.download.fetch(f"{http_server.url}/blob.bin")
    assert path.stat().st_size == 3 << 20
    err = capfd.readouterr().err
    assert "blob.bin" in err and "3.1" in err  # size in MB


# --- preset directories over HTTP -------------------------------------------


@pytest.fixture
def small_model():
    model = zoo.create_model("resnet18", num_classes=4,
                             input_shape=(32, 32, 3))
    randomize_batch_norm(model, seed=8)
    model.preprocessor = zoo.ImagePreprocessor(image_size=(32, 32))
    return model


def _assert_same_outputs(loaded, original):
    """The loaded weights are the saved ones: equal outputs."""
    x = np.random.default_rng(11).normal(size=(2, 32, 32, 3))
    x = x.astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)),
                                  np.asarray(original(x)))


def test_remote_preset_directory_over_http(small_model, http_server):
    small_model.save_to_preset(os.path.join(http_server.root, "p"))
    model = zoo.from_preset(f"{http_server.url}/p/")
    x = np.random.default_rng(9).normal(size=(2, 32, 32, 3))
    x = x.astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)),
                                  np.asarray(small_model(x)))
    first = list(http_server.paths())
    assert "/p/config.json" in first and "/p/task.weights.h5" in first
    zoo.from_preset(f"{http_server.url}/p")
    assert http_server.paths() == first


def test_remote_preset_with_tampered_file_is_refused(small_model,
                                                     http_server):
    root = os.path.join(http_server.root, "p")
    small_model.save_to_preset(root)
    with open(os.path.join(root, "task.weights.h5"), "r+b") as f:
        f.seek(4096)
        f.write(b"\x00" * 64)
    with pytest.raises(zoo.HashMismatchError, match="task.weights.h5"):
        zoo.from_preset(f"{http_server.url}/p")


def test_hf_handle_through_plain_http(small_model, http_server,
                                      monkeypatch):
    repo = os.path.join(http_server.root, "org", "repo", "resolve", "main")
    small_model.save_to_preset(repo)
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    monkeypatch.setenv("ZOO_HF_DOWNLOADER", "http")
    model = zoo.from_preset("hf://org/repo")
    assert model.num_classes == 4
    assert "/org/repo/resolve/main/config.json" in http_server.paths()
    _assert_same_outputs(model, small_model)


def test_hf_handle_through_huggingface_hub(small_model, http_server,
                                           monkeypatch, tmp_path):
    """The huggingface_hub client against a loopback server speaking the
    Hub's resolve protocol (HEAD for ETag and commit, then GET)."""
    repo = os.path.join(http_server.root, "org", "repo", "resolve", "main")
    small_model.save_to_preset(repo)
    http_server.hub_headers = True
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    model = zoo.from_preset("hf://org/repo")
    x = np.ones((1, 32, 32, 3), "float32")
    np.testing.assert_array_equal(np.asarray(model(x)),
                                  np.asarray(small_model(x)))
    assert (tmp_path / "hf_cache" / "models--org--repo").is_dir()
    gets = len(http_server.paths())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.from_preset("hf://org/repo")  # from huggingface_hub's cache
    assert len(http_server.paths()) == gets
    with pytest.raises(zoo.OfflineError, match="hf_cache"):
        zoo.from_preset("hf://org/other")


def test_gfile_preset_directory(small_model, tmp_path, monkeypatch):
    """gs:// goes through tf.io.gfile; its in-memory ram:// scheme takes the
    same path without a network."""
    import tensorflow as tf

    local = tmp_path / "p"
    small_model.save_to_preset(local)
    root = f"ram://bucket/{tmp_path.name}/p"
    for name in os.listdir(local):
        tf.io.gfile.makedirs(root)
        tf.io.gfile.copy(str(local / name), f"{root}/{name}", overwrite=True)
    model = zoo.from_preset(root)
    assert model.num_classes == 4
    _assert_same_outputs(model, small_model)
    tf.io.gfile.rmtree(root)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    again = zoo.from_preset(root)  # every file is in the cache
    _assert_same_outputs(again, small_model)
    with pytest.raises(zoo.OfflineError, match="ram://bucket/other"):
        zoo.from_preset("ram://bucket/other")


def test_kaggle_offline_names_kagglehub_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    with pytest.raises(zoo.OfflineError, match=str(tmp_path)):
        zoo.from_preset("kaggle://owner/model/keras/v1/2")


def test_timm_tag_offline_points_at_the_hub(monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_HF_DOWNLOADER", "http")
    with pytest.raises(zoo.OfflineError,
                       match=re.escape("timm/resnet50.a1_in1k")):
        zoo.from_preset("resnet50.a1_in1k")


def test_dtype_override(small_model, tmp_path):
    small_model.save_to_preset(tmp_path / "p")
    model = zoo.from_preset(tmp_path / "p", dtype="bfloat16")
    kernel = model.backbone.get_layer("stem_conv1").kernel
    assert keras.backend.standardize_dtype(kernel.dtype) == "bfloat16"
    # The same weights, rounded to bfloat16 (8 bits of mantissa): the
    # logits agree to a few per cent of their scale.
    x = np.random.default_rng(12).normal(size=(2, 32, 32, 3))
    expected = np.asarray(small_model(x.astype("float32")))
    actual = np.asarray(model(x.astype("float32")), dtype="float32")
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(actual - expected).max() < 0.03 * scale
    assert not np.array_equal(actual, expected)   # it did compute in bf16


def test_unknown_override_is_named(small_model, tmp_path):
    small_model.save_to_preset(tmp_path / "p")
    with pytest.raises(zoo.PresetError, match="'drop_rate'"):
        zoo.from_preset(tmp_path / "p", drop_rate=0.1)


def test_save_to_preset_replaces_atomically(small_model, tmp_path):
    target = tmp_path / "p"
    small_model.save_to_preset(target)
    small_model.save_to_preset(target)
    assert sorted(os.listdir(tmp_path)) == ["p"]
    meta = zoo.presets.directory.read_json(target / "metadata.json")
    assert meta["parameter_count"] == trainable_count(small_model)
    for name, info in meta["files"].items():
        digest = hashlib.sha256((target / name).read_bytes()).hexdigest()
        assert info["sha256"] == digest
