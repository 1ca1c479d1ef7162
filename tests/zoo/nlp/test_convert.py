"""Hugging Face BERT/ALBERT checkpoints: names, prefixes, configs, errors."""

import json

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
