"""Hugging Face BERT/ALBERT checkpoints: names, prefixes, configs, errors."""

import json
import pathlib

import numpy as np
import pytest

import zoo
from nlp_helpers import minilm_package_dir
from zoo.convert import load_weights_file
from zoo.convert.huggingface import build_from_config
from zoo.convert.huggingface.bert import encoder_config, encoder_state
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
    encoder = build_from_config(config)
    load_weights_file(encoder, tmp_path / "model.safetensors", "huggingface")
    expected, _ = encoder_state(minilm_state)
    loaded = get_state(encoder)
    assert sorted(loaded) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(loaded[path], value)


def test_shape_mismatch_is_named(minilm_state, tmp_path):
    config = json.loads((minilm_package_dir() / "config.json").read_text())
    small = build_from_config({**config, "vocab_size": 30000})
    with pytest.raises(zoo.WeightsError,
                       match=r"token_embedding/embeddings has shape "
                             r"\(30522, 384\).*\(30000, 384\)"):
        load_weights_file(small, minilm_package_dir() / "model.safetensors",
                          "huggingface")


def test_unknown_tensor_and_model_type_are_refused():
    with pytest.raises(zoo.WeightsError, match="encoder.layer.0.crossattn"):
        encoder_state({"encoder.layer.0.crossattn.weight": np.zeros(2)})
    with pytest.raises(zoo.WeightsError, match="'gpt2'"):
        encoder_config({"model_type": "gpt2"})
    with pytest.raises(zoo.WeightsError, match="architecture 't5'"):
        build_from_config({"model_type": "t5"})


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


def _albert_state(config, seed=0):
    """A random state dict with transformers' AlbertModel names and shapes,
    written from its module layout, independently of zoo's converter."""
    rng = np.random.default_rng(seed)
    v, e, h = config["vocab_size"], config["embedding_size"], config[
        "hidden_size"]
    i, p = config["intermediate_size"], config["max_position_embeddings"]
    state = {}

    def dense(name, out, inp):
        state[f"{name}.weight"] = rng.normal(0, 0.2, (out, inp))
        state[f"{name}.bias"] = rng.normal(0, 0.1, (out,))

    def norm(name, width):
        state[f"{name}.weight"] = rng.uniform(0.5, 1.5, (width,))
        state[f"{name}.bias"] = rng.normal(0, 0.1, (width,))

    state["albert.embeddings.word_embeddings.weight"] = rng.normal(
        0, 0.2, (v, e))
    state["albert.embeddings.position_embeddings.weight"] = rng.normal(
        0, 0.2, (p, e))
    state["albert.embeddings.token_type_embeddings.weight"] = rng.normal(
        0, 0.2, (config["type_vocab_size"], e))
    norm("albert.embeddings.LayerNorm", e)
    dense("albert.encoder.embedding_hidden_mapping_in", h, e)
    layer = "albert.encoder.albert_layer_groups.0.albert_layers.0"
    for name in ("query", "key", "value", "dense"):
        dense(f"{layer}.attention.{name}", h, h)
    norm(f"{layer}.attention.LayerNorm", h)
    dense(f"{layer}.ffn", i, h)
    dense(f"{layer}.ffn_output", h, i)
    norm(f"{layer}.full_layer_layer_norm", h)
    dense("albert.pooler", h, h)
    return {k: np.asarray(a, "float32") for k, a in state.items()}


def test_huggingface_albert_matches_keras_hubs_own_transformers_loader(
        tmp_path):
    """A transformers ALBERT directory (config.json + model.safetensors)
    through zoo's converter and through keras-hub's: the same outputs."""
    import keras_hub

    config = {"model_type": "albert", "vocab_size": 50, "embedding_size": 8,
              "hidden_size": 16, "num_hidden_layers": 3,
              "num_attention_heads": 2, "intermediate_size": 32,
              "num_hidden_groups": 1, "inner_group_num": 1,
              "hidden_act": "gelu_new", "max_position_embeddings": 32,
              "type_vocab_size": 2, "layer_norm_eps": 1e-12,
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    directory = tmp_path / "albert"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(config))
    write_safetensors(_albert_state(config), directory / "model.safetensors")
    encoder = zoo.from_preset(directory)
    assert isinstance(encoder, zoo.AlbertEncoder)
    reference = keras_hub.models.AlbertBackbone.from_preset(str(directory))
    rng = np.random.default_rng(1)
    inputs = {"token_ids": rng.integers(0, 50, (2, 10)).astype("int32"),
              "segment_ids": (rng.random((2, 10)) < 0.5).astype("int32"),
              "padding_mask": np.ones((2, 10), "int32")}
    inputs["padding_mask"][1, 6:] = 0
    ours, theirs = encoder(inputs), reference(inputs)
    np.testing.assert_allclose(np.asarray(ours["pooled_output"]),
                               np.asarray(theirs["pooled_output"]),
                               atol=1e-5)
    real = inputs["padding_mask"] == 1
    np.testing.assert_allclose(
        np.asarray(ours["sequence_output"])[real],
        np.asarray(theirs["sequence_output"])[real], atol=1e-5)
