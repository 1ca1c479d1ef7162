"""BERT and ALBERT encoders: counts, masking, per-layer outputs, parity."""

import keras
import numpy as np
import pytest

import zoo
from model_test_case import run_backbone_test
from nlp_helpers import ENCODER_CONFIG
from testing_utils import trainable_count, zero_host_initializers
from zoo.convert import from_keras_hub
from zoo.weights import assign_state, get_state

# Hugging Face `BertModel` / `AlbertModel` counts (pooler included):
# bert-base-uncased 109,482,240 and albert-base-v2 11,683,584, as
# `sum(p.numel() for p in model.parameters())` reports them.
PUBLISHED_PARAMETERS = {
    "bert_base_uncased": 109_482_240,
    "albert_base_v2": 11_683_584,
}


def _inputs(batch=3, length=12, vocabulary=50, seed=0, pad_from=None):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), "int32")
    for row, start in enumerate(pad_from or []):
        mask[row, start:] = 0
    return {
        "token_ids": rng.integers(5, vocabulary, (batch, length)).astype(
            "int32") * mask,
        "segment_ids": (rng.random((batch, length)) < 0.5).astype("int32")
        * mask,
        "padding_mask": mask,
    }


# Counts do not depend on the backend; zeros instead of random weights.
@pytest.mark.one_backend("jax")
@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_trainable_parameters_match_published_counts(name, monkeypatch):
    zero_host_initializers(monkeypatch)
    model = zoo.create_model(name)
    assert trainable_count(model) == PUBLISHED_PARAMETERS[name]


def test_registered_sizes_follow_the_bert_tables():
    # Turc et al. 2019 (compact BERTs) and Devlin et al. 2018.
    tiny = zoo.create_model("bert_tiny_uncased")
    assert (tiny.num_layers, tiny.hidden_size, tiny.num_heads,
            tiny.intermediate_size) == (2, 128, 2, 512)
    assert tiny.vocabulary_size == 30522
    from zoo.nlp.encoders.bert import BERT_SIZES

    assert BERT_SIZES["small"] == (4, 512, 8)
    assert BERT_SIZES["large"] == (24, 1024, 16)
    assert set(zoo.list_models("bert_*")) >= {
        "bert_tiny_uncased", "bert_base_uncased", "bert_base_cased",
        "bert_large_uncased"}


ALBERT_CONFIG = dict(vocabulary_size=40, embedding_size=8, hidden_size=16,
                     num_layers=4, num_heads=2, intermediate_size=32,
                     num_groups=2, max_sequence_length=16)


@pytest.mark.parametrize("cls, config", [
    (zoo.BertEncoder, ENCODER_CONFIG),
    (zoo.AlbertEncoder, ALBERT_CONFIG),
], ids=["bert", "albert"])
def test_encoder_shared_checks(cls, config, tmp_path):
    """Round trips (config, .keras in safe mode, preset), mixed precision,
    per-layer outputs and their feature_info, jit and tf.data
    (tests/model_test_case.py)."""
    hidden = config["hidden_size"]
    run_backbone_test(
        cls, config, _inputs(length=10, vocabulary=config["vocabulary_size"]),
        tmp_path=tmp_path,
        expected_output_shape={"sequence_output": (3, 10, hidden),
                               "pooled_output": (3, hidden)})


def test_output_shapes_and_dtypes():
    encoder = zoo.BertEncoder(**ENCODER_CONFIG)
    outputs = encoder(_inputs(vocabulary=ENCODER_CONFIG["vocabulary_size"]))
    assert tuple(outputs["sequence_output"].shape) == (3, 12, 32)
    assert tuple(outputs["pooled_output"].shape) == (3, 32)
    assert keras.backend.standardize_dtype(
        outputs["sequence_output"].dtype) == "float32"
    pooled = np.asarray(outputs["pooled_output"])
    assert np.all(np.abs(pooled) <= 1.0)  # tanh


def test_padding_is_ignored_by_real_tokens():
    encoder = zoo.BertEncoder(**ENCODER_CONFIG)
    x = _inputs(pad_from=[7, 4, 12], vocabulary=40)
    changed = {k: v.copy() for k, v in x.items()}
    padding = x["padding_mask"] == 0
    changed["token_ids"][padding] = 17  # garbage under the padding
    changed["segment_ids"][padding] = 1
    a = np.asarray(encoder(x)["sequence_output"])
    b = np.asarray(encoder(changed)["sequence_output"])
    real = ~padding
    np.testing.assert_allclose(a[real], b[real], atol=1e-5)
    # ... while unmasking them does change the real tokens' vectors.
    unmasked = dict(changed, padding_mask=np.ones_like(x["padding_mask"]))
    c = np.asarray(encoder(unmasked)["sequence_output"])
    assert np.max(np.abs(c[0, :7] - a[0, :7])) > 1e-3


def test_features_only_gives_every_layer():
    encoder = zoo.BertEncoder(**ENCODER_CONFIG)
    layers = zoo.BertEncoder(**ENCODER_CONFIG, features_only=True)
    # The per-layer model has no pooler (nothing uses it).
    assign_state(layers, get_state(encoder), skip_prefixes=("pooler/",))
    x = _inputs(vocabulary=40)
    per_layer = layers(x)
    assert sorted(per_layer) == ["layer_0", "layer_1", "layer_2"]
    assert [i["channels"] for i in layers.feature_info] == [32, 32, 32]
    np.testing.assert_allclose(np.asarray(per_layer["layer_2"]),
                               np.asarray(encoder(x)["sequence_output"]),
                               atol=1e-6)


def test_dropout_only_in_training():
    encoder = zoo.BertEncoder(**{**ENCODER_CONFIG, "dropout": 0.3,
                                 "attention_dropout": 0.3})
    x = _inputs(vocabulary=40)
    a = np.asarray(encoder(x, training=False)["sequence_output"])
    b = np.asarray(encoder(x, training=False)["sequence_output"])
    c = np.asarray(encoder(x, training=True)["sequence_output"])
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-2


def test_longer_than_max_positions_is_refused():
    encoder = zoo.BertEncoder(**ENCODER_CONFIG)
    with pytest.raises(zoo.SequenceTooLongError, match="40 tokens.*32"):
        encoder(_inputs(length=40, vocabulary=40))


def test_config_round_trip():
    encoder = zoo.AlbertEncoder(vocabulary_size=40, embedding_size=8,
                                hidden_size=16, num_layers=4, num_heads=2,
                                intermediate_size=32, num_groups=2,
                                max_sequence_length=16)
    again = zoo.AlbertEncoder.from_config(encoder.get_config())
    again.set_weights(encoder.get_weights())
    x = _inputs(length=10, vocabulary=40)
    np.testing.assert_allclose(np.asarray(again(x)["pooled_output"]),
                               np.asarray(encoder(x)["pooled_output"]),
                               atol=1e-6)
    # Two groups: two sets of block weights, shared by four layers.
    assert trainable_count(encoder) == trainable_count(again)
    assert len({w.path.split("/")[0] for w in encoder.weights
                if "transformer_group" in w.path}) == 2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="hidden_size=30.*num_heads=4"):
        zoo.BertEncoder(**{**ENCODER_CONFIG, "hidden_size": 30})
    with pytest.raises(ValueError, match="'swish2'"):
        zoo.BertEncoder(**{**ENCODER_CONFIG, "activation": "swish2"})


# --- parity with keras-hub ---------------------------------------------------


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.2, w.shape).astype("float32")
                       for w in model.get_weights()])


def test_bert_parity_with_keras_hub_backbone():
    import keras_hub

    reference = keras_hub.models.BertBackbone(
        vocabulary_size=60, num_layers=2, num_heads=4, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=24, dropout=0.1)
    _randomize(reference, 1)
    encoder = from_keras_hub(reference)
    assert isinstance(encoder, zoo.BertEncoder)
    assert encoder.activation == "gelu_approximate"
    assert trainable_count(encoder) == trainable_count(reference)
    x = _inputs(batch=4, length=20, vocabulary=60, pad_from=[20, 9, 3, 15])
    expected = reference(x)
    actual = encoder(x)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(np.asarray(actual[key]),
                                   np.asarray(expected[key]), atol=1e-5)


def test_albert_parity_with_keras_hub_backbone():
    import keras_hub

    # Sizes shared with the BERT test where ALBERT allows, so the keras-hub
    # initialisers compiled there are reused.
    reference = keras_hub.models.AlbertBackbone(
        vocabulary_size=60, num_layers=4, num_heads=4, embedding_dim=16,
        hidden_dim=32, intermediate_dim=64, num_groups=2,
        max_sequence_length=24)
    _randomize(reference, 2)
    encoder = from_keras_hub(reference)
    assert isinstance(encoder, zoo.AlbertEncoder)
    x = _inputs(batch=2, length=16, vocabulary=60, pad_from=[16, 5])
    expected = reference(x)
    actual = encoder(x)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(np.asarray(actual[key]),
                                   np.asarray(expected[key]), atol=1e-5)
