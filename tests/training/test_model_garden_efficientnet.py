"""The Model Garden's `efficientnet` backbone config: its fields and
defaults, the network it means (counts from the Model Garden's own
`official/vision/modeling/backbones/efficientnet_test.py`), and a run
through the image-classification task."""

import dataclasses

import keras
import numpy as np
import pytest

import training
from training.config.base import ConfigError
from training.config.common import NormActivation
from training.models.backbones.efficientnet import EfficientNetConfig
from zoo.layers import DropPath, SqueezeExcite


@pytest.mark.one_backend  # Config values do not depend on the backend.
def test_fields_and_defaults_are_the_model_gardens():
    # official/vision/configs/backbones.py, class EfficientNet.
    assert {f.name: f.default for f in dataclasses.fields(
        EfficientNetConfig)} == {"model_id": "b0", "se_ratio": 0.0,
                                 "stochastic_depth_drop_rate": 0.0}


# EfficientNet(model_id=..., se_ratio=0.25).count_params() in the Model
# Garden's efficientnet_test.py (every weight, batch-norm statistics
# included).
@pytest.mark.one_backend  # Counts do not depend on the backend.
@pytest.mark.parametrize("model_id, count", [("b0", 4_049_564),
                                             ("b3", 10_783_528)])
def test_counts_equal_the_model_gardens_test(model_id, count):
    backbone = EfficientNetConfig(model_id=model_id, se_ratio=0.25).build(
        NormActivation(activation="swish"), task=None,
        input_shape=(32, 32, 3))
    assert backbone.count_params() == count


@pytest.mark.one_backend  # The layers built do not depend on the backend.
def test_the_model_gardens_network_not_keras_applications():
    """Its defaults mean ReLU and no squeeze-excitation; with `se_ratio`,
    ReLU inside the excitation whatever the block activation; stochastic
    depth at one rate in every residual block."""
    plain = EfficientNetConfig().build(NormActivation(), task=None,
                                       input_shape=(32, 32, 3))
    assert plain.activation == "relu"
    assert not any(isinstance(layer, SqueezeExcite)
                   for layer in plain.layers)
    backbone = EfficientNetConfig(
        se_ratio=0.25, stochastic_depth_drop_rate=0.2).build(
        NormActivation(activation="swish", norm_momentum=0.9,
                       norm_epsilon=1e-5),
        task=None, input_shape=(32, 32, 3))
    excitations = [layer for layer in backbone.layers
                   if isinstance(layer, SqueezeExcite)]
    assert len(excitations) == 16
    assert {layer.activation for layer in excitations} == {"relu"}
    # 16 blocks, 9 of them residual (stride 1, same width).
    rates = [layer.rate for layer in backbone.layers
             if isinstance(layer, DropPath)]
    assert rates == [0.2] * 9
    norms = [layer for layer in backbone.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert {(n.momentum, n.epsilon) for n in norms} == {(0.9, 1e-5)}


@pytest.mark.one_backend
@pytest.mark.parametrize("override, message", [
    ("task.model.backbone.efficientnet.model_id=b8", "'b8' is not one of"),
    ("task.model.backbone.efficientnet.se_ratio=1.5", "must be in [0, 1]"),
])
def test_bad_values_are_named(override, message):
    config = training.get_experiment("image_classification")
    config.override("task.model.backbone.type=efficientnet")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        config.override(override)
        config.validate()


def test_image_classification_trains_on_the_model_gardens_backbone(
        tmp_path):
    """`image_classification` with `backbone: {type: efficientnet}` builds
    and takes a training step on real images (the digits, upsampled)."""
    from sklearn.datasets import load_digits

    config = training.get_experiment("image_classification")
    config.override({
        "task.model.num_classes": 10,
        "task.model.input_size": [32, 32, 3],
        "task.model.backbone": {"type": "efficientnet", "efficientnet": {
            "model_id": "b0", "se_ratio": 0.25}},
    })
    config.validate()
    task = training.get_task(config.task)
    model = task.build_model()
    digits = load_digits()
    images = np.repeat(np.kron(digits.images[:8, :, :, None] / 16.0,
                               np.ones((4, 4, 1))), 3, axis=-1)
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    history = model.fit(images.astype("float32"), digits.target[:8],
                        epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.output.shape[-1] == 10
