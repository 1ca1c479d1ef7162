"""ViT and DeiT: published counts, the shared backbone checks, parity with
keras-hub's ViT, position-embedding resampling, and the errors a user
meets."""

import pathlib

import keras
import numpy as np
import pytest

import zoo
from model_test_case import (
    assert_close,
    channels_first_runs_here,
    run_backbone_test,
)
from testing_utils import trainable_count, zero_host_initializers
from zoo.convert import from_keras_hub
from zoo.vision.backbones import ViTBackbone
from zoo.vision.backbones.vit import resample_position_embedding

REFERENCE = pathlib.Path(__file__).resolve().parents[2] / "data" / \
    "timm_reference"

# Parameters with a 1000-class head: timm 1.0.31,
# `sum(p.numel() for p in timm.create_model(name).parameters())`.
TIMM_PARAMETERS = {
    "vit_tiny_patch16_224": 5_717_416, "vit_tiny_patch16_384": 5_790_376,
    "vit_small_patch16_224": 22_050_664,
    "vit_small_patch16_384": 22_196_584,
    "vit_base_patch16_224": 86_567_656, "vit_base_patch16_384": 86_859_496,
    "vit_base_patch32_224": 88_224_232, "vit_base_patch32_384": 88_297_192,
    "vit_large_patch16_224": 304_326_632,
    "vit_large_patch16_384": 304_715_752,
    "vit_huge_patch14_224": 632_045_800,
    "deit_tiny_patch16_224": 5_717_416, "deit_small_patch16_224": 22_050_664,
    "deit_base_patch16_224": 86_567_656, "deit_base_patch16_384": 86_859_496,
}


@pytest.mark.one_backend  # Counts do not depend on the backend.
def test_every_variant_has_timms_count(monkeypatch):
    zero_host_initializers(monkeypatch)
    names = zoo.list_models("vit*") + zoo.list_models("deit*")
    assert sorted(names) == sorted(TIMM_PARAMETERS)
    for name in names:
        assert trainable_count(zoo.create_model(name)) == (
            TIMM_PARAMETERS[name]), name
        keras.backend.clear_session()


@pytest.mark.one_backend
def test_vit_b16_counts_of_keras_hub_and_the_model_garden(monkeypatch):
    """Backbone 85,798,656 (keras-hub's vit_base_patch16_224_imagenet);
    1001 classes (the Model Garden's) 86,568,425; a 768-wide pre-logits
    layer (`representation_size: 768`) 590,592 more; DeiT-S distilled
    22,436,432 (timm's deit_small_distilled_patch16_224)."""
    zero_host_initializers(monkeypatch)
    model = zoo.create_model("vit_base_patch16_224", num_classes=1001)
    assert trainable_count(model.backbone) == 85_798_656
    assert trainable_count(model) == 86_568_425
    wide = zoo.create_model("vit_base_patch16_224", num_classes=1001,
                            head_hidden_size=768,
                            head_hidden_activation="tanh")
    assert trainable_count(wide) - trainable_count(model) == 590_592
    distilled = zoo.create_model("deit_small_patch16_224", distilled=True)
    assert trainable_count(distilled) == 22_436_432


TINY = dict(patch_size=8, hidden_size=32, num_layers=2, num_heads=4,
            mlp_dim=64, drop_path_rate=0.1, input_shape=(32, 32, 3))


def test_backbone_shared_checks(tmp_path):
    """Round trips, mixed precision, the patch-grid level, jit and
    tf.data (tests/model_test_case.py); channels_first where the backend
    runs it."""
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(
        "float32")
    model = run_backbone_test(ViTBackbone, TINY, images, tmp_path=tmp_path,
                              expected_output_shape=(2, 17, 32),
                              run_channels_first=False)
    assert model.feature_info == [{"name": "C3", "channels": 32,
                                   "stride": 8}]
    if channels_first_runs_here():
        first = ViTBackbone(**TINY, data_format="channels_first")
        first.set_weights(model.get_weights())
        assert_close(first(np.transpose(images, (0, 3, 1, 2))),
                     model(images), scaled=1e-5, what="channels_first")


def test_classifier_heads():
    """Class-token pooling; average pooling over the patches only; DeiT's
    two heads averaged."""
    rng = np.random.default_rng(1)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    backbone = ViTBackbone(**TINY)
    tokens = np.asarray(backbone(images))
    token = zoo.ImageClassifier(backbone, num_classes=3, pooling="token")
    head = token.get_layer("predictions")
    expected = tokens[:, 0] @ np.asarray(head.kernel) + np.asarray(head.bias)
    assert_close(token(images), expected, atol=1e-5)
    average = zoo.ImageClassifier(backbone, num_classes=3, pooling="avg")
    head = average.get_layer("predictions")
    expected = tokens[:, 1:].mean(axis=1) @ np.asarray(head.kernel) + \
        np.asarray(head.bias)
    assert_close(average(images), expected, atol=1e-5)

    deit = ViTBackbone(**{**TINY, "distilled": True})
    model = zoo.ImageClassifier(deit, num_classes=3, pooling="token")
    tokens = np.asarray(deit(images))
    assert tokens.shape == (2, 18, 32)
    first, second = (model.get_layer(n) for n in ("predictions",
                                                  "predictions_dist"))
    expected = (tokens[:, 0] @ np.asarray(first.kernel)
                + np.asarray(first.bias)
                + tokens[:, 1] @ np.asarray(second.kernel)
                + np.asarray(second.bias)) / 2
    assert_close(model(images), expected, atol=1e-5)


def test_parity_with_keras_hub(tmp_path):
    """A keras-hub ViTImageClassifier (random weights, layer norms
    randomised, a tanh pre-logits layer) converted through the keras-hub
    converter gives its logits and its token sequence within 1e-5 of
    their scale."""
    import keras_hub

    keras.utils.set_random_seed(4)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=4,
        hidden_dim=32, mlp_dim=64)
    reference = keras_hub.models.ViTImageClassifier(
        backbone=backbone, num_classes=5, intermediate_dim=16)
    rng = np.random.default_rng(4)
    for layer in backbone._flatten_layers():
        if isinstance(layer, keras.layers.LayerNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape)
                               for w in layer.get_weights()])
    model = from_keras_hub(reference)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    assert_close(model.backbone(images), backbone(images), scaled=1e-5,
                 what="tokens")
    assert_close(model(images), reference(images), scaled=1e-5,
                 what="logits")


def test_position_embeddings_resample_as_timm_does():
    """Against timm's own `resample_abs_pos_embed` (1.0.31, computed once:
    tests/data/timm_reference/make_reference.py), growing and shrinking
    the grid; the prefix token is kept."""
    reference = np.load(REFERENCE / "pos_embed_resample.npz")
    for key, grid in (("to_12x12", (12, 12)), ("to_5x3", (5, 3))):
        got = resample_position_embedding(reference["table"], (7, 7), grid,
                                          num_prefix_tokens=1)
        np.testing.assert_allclose(got, reference[key], atol=1e-5)
        np.testing.assert_array_equal(got[:, 0],
                                      reference["table"][:, 0]
                                      .astype("float32"))


def test_a_preset_loads_at_another_image_size(tmp_path):
    """Weights saved at 32 pixels load at 48: the position embeddings are
    resampled from the 4x4 patch grid to 6x6 (everything else copied), the
    preprocessor resizes to 48, and the outputs are finite."""
    model = zoo.ImageClassifier(ViTBackbone(**TINY), num_classes=3)
    model.save_to_preset(tmp_path / "tiny_vit")
    big = zoo.from_preset(tmp_path / "tiny_vit", image_size=48)
    assert big.backbone.grid_size == (6, 6)
    table = np.asarray(big.backbone.get_layer("tokens").position_embedding)
    saved = np.asarray(model.backbone.get_layer("tokens").position_embedding)
    np.testing.assert_allclose(
        table, resample_position_embedding(saved, (4, 4), (6, 6), 1),
        atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(big.get_layer("predictions").kernel),
        np.asarray(model.get_layer("predictions").kernel))
    logits = np.asarray(big(np.random.default_rng(5).normal(
        size=(2, 48, 48, 3)).astype("float32")))
    assert logits.shape == (2, 3) and np.all(np.isfinite(logits))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"image size 100x100 is not "
                                         r"divisible by patch_size=16"):
        zoo.create_model("vit_base_patch16_224", input_shape=(100, 100, 3))
    with pytest.raises(ValueError, match="fixed height"):
        ViTBackbone(**{**TINY, "input_shape": (None, None, 3)})
    with pytest.raises(ValueError, match="class token"):
        zoo.ImageClassifier(ViTBackbone(**{**TINY, "class_token": False}),
                            num_classes=3, pooling="token")
    with pytest.raises(ValueError, match="not a multiple of num_heads"):
        ViTBackbone(**{**TINY, "num_heads": 5})
    small = zoo.ImageClassifier(ViTBackbone(**TINY), num_classes=3)
    wide = zoo.ImageClassifier(ViTBackbone(**{**TINY, "hidden_size": 48}),
                               num_classes=3)
    from zoo.weights import assign_state, get_state

    with pytest.raises(zoo.WeightsError, match=r"patch_embedding/kernel has "
                                               r"shape \(8, 8, 3, 48\), the "
                                               r"model expects \(8, 8, 3, 32"):
        assign_state(small, get_state(wide), source="wide")


def test_huggingface_vit_directories_match_keras_hubs_reading(tmp_path):
    """transformers directories (`config.json` + `model.safetensors`,
    random weights with transformers' names): a ViTForImageClassification
    (`vit.`-prefixed, with its classifier) and the bare ViTModel (with its
    pooler). zoo's Hugging Face converter gives, for both, the token
    sequence keras-hub's own transformers converter reads from the first,
    within 1e-5 of its scale; the pooler and classifier are skipped."""
    import json

    import keras_hub

    from testing_utils import huggingface_vit_state_dict
    from zoo.convert.state_dict import write_safetensors

    config = {
        "model_type": "vit", "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "layer_norm_eps": 1e-6,
        "image_size": 32, "patch_size": 8, "num_channels": 3,
        "qkv_bias": True}
    bare = huggingface_vit_state_dict(seed=6)
    classifier = {f"vit.{k}": v for k, v in bare.items()
                  if not k.startswith("pooler.")}
    rng = np.random.default_rng(7)
    classifier["classifier.weight"] = rng.normal(size=(5, 32)).astype(
        "float32")
    classifier["classifier.bias"] = np.zeros(5, "float32")
    directories = {}
    for name, state, architecture in (
            ("classifier", classifier, "ViTForImageClassification"),
            ("bare", bare, "ViTModel")):
        directory = tmp_path / f"vit-{name}"
        directory.mkdir()
        write_safetensors(state, directory / "model.safetensors")
        (directory / "config.json").write_text(json.dumps(
            {**config, "architectures": [architecture]}))
        directories[name] = directory
    reference = keras_hub.models.ViTBackbone.from_preset(
        str(directories["classifier"]))
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    expected = reference(images)
    for directory in directories.values():
        model = zoo.from_preset(directory)
        assert isinstance(model, ViTBackbone)
        assert_close(model(images), expected, scaled=1e-5,
                     what=directory.name)


def test_a_small_vit_learns_the_digits_with_randaugment_and_mixup():
    """A 4-block ViT on scikit-learn's digits (upsampled to 16x16, 8x8
    patches), trained for 400 steps through a tf.data pipeline with Keras'
    RandAugment and MixUp (training.data.augment), reaches >= 90% top-1 on
    the 360 held-out digits (measured: 97.5% on TensorFlow, 96.4% on
    JAX)."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from training.data.augment import mix_batches

    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = np.kron(digits.images, np.ones((2, 2)))[..., None] * (255 / 16)
    images = np.repeat(images, 3, axis=-1).astype("float32")
    labels = digits.target
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[:1437], order[1437:]
    augment = keras.layers.RandAugment(value_range=(0, 255), num_ops=2,
                                       factor=0.1, seed=1, dtype="float32")
    train_data = (
        tf.data.Dataset.from_tensor_slices(
            (images[train], tf.one_hot(labels[train], 10)))
        .shuffle(1437, seed=2).repeat().batch(64, drop_remainder=True)
        .map(lambda x, y: (augment(x), y)))
    train_data = mix_batches(train_data, mixup_alpha=0.2, cutmix_alpha=0.0,
                             seed=3).map(lambda x, y: (x / 255.0, y))
    model = zoo.ImageClassifier(
        ViTBackbone(patch_size=8, hidden_size=96, num_layers=4, num_heads=4,
                    mlp_dim=192, input_shape=(16, 16, 3)),
        num_classes=10)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, 400, warmup_target=2e-3, warmup_steps=40)
    model.compile(optimizer=keras.optimizers.AdamW(schedule,
                                                   weight_decay=0.05),
                  loss=keras.losses.CategoricalCrossentropy(
                      from_logits=True))
    model.fit(train_data, steps_per_epoch=400, epochs=1, verbose=0)
    predicted = np.argmax(model.predict(images[test] / 255.0, verbose=0),
                          axis=1)
    accuracy = float(np.mean(predicted == labels[test]))
    assert accuracy >= 0.9, accuracy
