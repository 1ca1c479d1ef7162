"""The Model Garden's `vit` backbone config and the ViT recipes' options:
what the config builds (VIT_SPECS sizes, poolers, pre-logits, stochastic
depth, the zero-initialised head), the soft-label loss, and refusals."""

import keras
import numpy as np
import pytest

import training
from testing_utils import trainable_count, zero_host_initializers
from training.config.base import ConfigError
from zoo.layers import TransformerEncoderBlock

# Config values and the layers built do not depend on the backend.
pytestmark = pytest.mark.one_backend


def _task(experiment="deit_imagenet_pretrain", **overrides):
    config = training.get_experiment(experiment)
    config.override(overrides)
    config.validate()
    return training.get_task(config.task)


def test_deit_recipe_builds_the_model_gardens_vit_b16(monkeypatch):
    """ViT-B/16 at 1001 classes (86,568,425) plus the 768-wide tanh
    pre-logits layer (590,592), the zero head, and stochastic depth rising
    to 0.1 from 0.1 / 12 at the first block."""
    zero_host_initializers(monkeypatch)
    model = _task().build_model()
    assert trainable_count(model) == 86_568_425 + 590_592
    assert model.get_layer("head_hidden").activation.__name__ == "tanh"
    assert not np.any(np.asarray(model.get_layer("predictions").kernel))
    rates = [layer.drop_path_rate for layer in model.backbone.layers
             if isinstance(layer, TransformerEncoderBlock)]
    assert rates == pytest.approx([0.1 * (i + 1) / 12 for i in range(12)])


def test_model_name_sets_the_sizes_and_gap_averages_patches():
    model = _task(**{"task.model.input_size": [32, 32, 3],
                     "task.model.backbone.vit.model_name": "vit-ti16",
                     "task.model.backbone.vit.pooler": "gap",
                     "task.model.backbone.vit.representation_size": 0,
                     "task.model.backbone.vit.hidden_size": 999}).build_model()
    backbone = model.backbone
    assert (backbone.hidden_size, backbone.num_layers, backbone.num_heads,
            backbone.mlp_dim) == (192, 12, 3, 768)
    assert backbone.num_prefix_tokens == 0 and model.pooling == "avg"


def test_soft_labels_are_not_smoothed_twice():
    """With `soft_labels` (and no `one_hot`) the mixed labels go into the
    cross-entropy as they are; `one_hot` labels are smoothed."""
    loss = _task().build_losses()
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    assert loss.label_smoothing == 0.0
    smoothed = _task(**{"task.losses.one_hot": True}).build_losses()
    assert smoothed.label_smoothing == pytest.approx(0.1)


@pytest.mark.parametrize("override, message", [
    ("task.model.backbone.vit.model_name='vit-x9'", "'vit-x9' is not one of"),
    ("task.model.backbone.vit.pooler=none", "pools with one of"),
    ("task.model.backbone.vit.pos_embed_shape=[14, 14]",
     "pos_embed_shape=[14, 14] is not supported yet"),
    ("task.train_data.aug_type.type=foo",
     "'foo' is not one of ['randaug', 'autoaug']"),
    ("task.train_data.aug_type.randaug.exclude_ops=['Rotate']",
     "cannot leave out ['Rotate']"),
])
def test_bad_values_are_named(override, message):
    config = training.get_experiment("deit_imagenet_pretrain")
    with pytest.raises(ConfigError) as raised:
        config.override(override)
        config.validate()
    assert message in str(raised.value)
