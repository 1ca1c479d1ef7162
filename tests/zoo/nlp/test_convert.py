"""Hugging Face BERT/ALBERT checkpoints: names, prefixes, configs, errors."""

import json
import pathlib

import numpy as np
import pytest

import zoo
from nlp_helpers import minilm_package_dir
from zoo.convert.huggingface import (
    build_encoder,
    encoder_config,
    encoder_state,
    load_huggingface_weights,
)
from zoo.convert.state_dict import read_safetensors, write_safetensors
from zoo.weights import get_state


@pytest.fixture(scope="module")
def minilm_state():
    return read_safetensors(minilm_package_dir() / "model.safetensors")


def test_minilm_config_maps_to_encoder_arguments():
    config = json.loads((minilm_package_dir() / "config.json").read_text())
    name, arguments = encoder_config(config)
    assert name == "BertEncoder"
    assert arguments["hidden_size"] == 384
    assert arguments["num_layers"] == 6
    assert arguments["activation"] == "gelu"  # exact, transformers' "gelu"
    assert arguments["norm_epsilon"] == 1e-12


def test_every_tensor_lands_transposed_where_expected(minilm_state):
    state, skipped = encoder_state(minilm_state)
    assert skipped == ["embeddings.position_ids"]
    np.testing.assert_array_equal(
        state["transformer_layer_3/attention/query/kernel"],
        minilm_state["encoder.layer.3.attention.self.query.weight"].T)
    np.testing.assert_array_equal(
        state["transformer_layer_5/output_norm/gamma"],
        minilm_state["encoder.layer.5.output.LayerNorm.weight"])
    np.testing.assert_array_equal(
        state["pooler/bias"], minilm_state["pooler.dense.bias"])
    # 5 embedding-side + 16 per layer x 6 + 2 pooler tensors.
    assert len(state) == 5 + 16 * 6 + 2


def test_bert_prefix_and_head_tensors(minilm_state, tmp_path):
    config = json.loads((minilm_package_dir() / "config.json").read_text())
    # BertForSequenceClassification layout: `bert.` prefix plus a head.
    prefixed = {f"bert.{k}": v for k, v in minilm_state.items()}
    prefixed["classifier.weight"] = np.zeros((2, 384), "float32")
    prefixed["classifier.bias"] = np.zeros((2,), "float32")
    write_safetensors(prefixed, tmp_path / "model.safetensors")
    encoder = build_encoder(config)
    load_huggingface_weights(encoder, tmp_path / "model.safetensors")
    expected, _ = encoder_state(minilm_state)
    loaded = get_state(encoder)
    assert sorted(loaded) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(loaded[path], value)


def test_shape_mismatch_is_named(minilm_state, tmp_path):
    config = json.loads((minilm_package_dir() / "config.json").read_text())
    small = build_encoder({**config, "vocab_size": 30000})
    with pytest.raises(zoo.WeightsError,
                       match=r"token_embedding/embeddings has shape "
                             r"\(30522, 384\).*\(30000, 384\)"):
        load_huggingface_weights(small,
                                 minilm_package_dir() / "model.safetensors")


def test_unknown_tensor_and_model_type_are_refused():
    with pytest.raises(zoo.WeightsError, match="encoder.layer.0.crossattn"):
        encoder_state({"encoder.layer.0.crossattn.weight": np.zeros(2)})
    with pytest.raises(zoo.WeightsError, match="'gpt2'"):
        encoder_config({"model_type": "gpt2"})


def test_keras_hub_preset_directory_loads_as_zoo_encoder(tmp_path,
                                                         http_server):
    import keras_hub

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",
                  "man", "play", "##s", "a", "guitar", "!"]
    # Sizes shared with the parity tests (keras-hub's compiled initialisers
    # are reused on JAX).
    reference = keras_hub.models.BertBackbone(
        vocabulary_size=60, num_layers=2, num_heads=4, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=24)
    rng = np.random.default_rng(3)
    reference.set_weights([rng.normal(0, 0.2, w.shape).astype("float32")
                           for w in reference.get_weights()])
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary + [f"w{i}" for i in range(48)],
        lowercase=True)
    served = pathlib.Path(http_server.root) / "bert_tiny"
    reference.save_to_preset(served)
    tokenizer.save_to_preset(served)
    encoder = zoo.from_preset(f"{http_server.url}/bert_tiny")
    assert isinstance(encoder, zoo.BertEncoder)
    assert encoder.preprocessor.sequence_length == 24
    features = encoder.preprocessor(["The man plays a GUITAR!"])
    ids = np.asarray(features["token_ids"])[0]
    assert ids[:9].tolist() == [2, 5, 6, 7, 8, 9, 10, 11, 3]
    assert ids[:9].tolist()[1:-1] == np.asarray(
        tokenizer("the man plays a guitar!")).tolist()
    expected = reference(features)
    actual = encoder(features)
    np.testing.assert_allclose(np.asarray(actual["pooled_output"]),
                               np.asarray(expected["pooled_output"]),
                               atol=1e-5)
