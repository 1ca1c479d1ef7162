"""The all_minilm_l6_v2 preset: real weights, reference embeddings, sources."""

import importlib.util
import pathlib
import shutil

import numpy as np
import pytest
import yaml

import zoo
from nlp_helpers import minilm_package_dir, reference_vectors
from testing_utils import trainable_count
from zoo.convert.state_dict import read_safetensors


@pytest.fixture(scope="module")
def encoder():
    return zoo.from_preset("all_minilm_l6_v2")


def _reference_script():
    path = (pathlib.Path(__file__).resolve().parents[2] / "data"
            / "make_minilm_reference.py")
    spec = importlib.util.spec_from_file_location("make_minilm_reference",
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_preset_builds_the_published_model(encoder):
    assert isinstance(encoder, zoo.BertEncoder)
    # Hugging Face's BertModel count for all-MiniLM-L6-v2, pooler included.
    assert trainable_count(encoder) == 22_713_216
    assert encoder.activation == "gelu"
    assert encoder.preprocessor.sequence_length == 256
    assert zoo.list_presets("all_minilm_l6_v2")[0].parameters == 22_713_216


def test_embeddings_match_the_reference_implementation(encoder):
    reference = reference_vectors()
    sentences = reference["sentences"]
    features = encoder.preprocessor(sentences)
    ids = np.asarray(features["token_ids"])
    mask = np.asarray(features["padding_mask"]).astype(bool)
    assert [row[m].tolist() for row, m in zip(ids, mask)] == (
        reference["token_ids"])
    vectors = encoder.embed(sentences)
    assert vectors.shape == (len(sentences), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.array(reference["embeddings"]),
                               atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0,
                               atol=1e-5)
    # Live, when the reference implementation is installed (the committed
    # vectors above were made by the same script).
    if (importlib.util.find_spec("torch") is not None
            and importlib.util.find_spec("transformers") is not None):
        live, _ = _reference_script().reference_embeddings(
            sentences, str(minilm_package_dir()))
        np.testing.assert_allclose(vectors, live, atol=1e-4)


def test_embeddings_carry_meaning(encoder):
    guitar, instrument, market = encoder.embed([
        "A man is playing a guitar.", "Someone plays an instrument.",
        "The stock market fell today."])
    similar = float(guitar @ instrument)
    assert similar > float(guitar @ market) + 0.3
    assert similar > float(instrument @ market) + 0.3
    single = encoder.embed("A man is playing a guitar.")
    np.testing.assert_allclose(single, guitar, atol=1e-5)


def test_text_classifier_on_the_pretrained_encoder(encoder):
    classifier = zoo.from_preset("all_minilm_l6_v2", task="text_classifier",
                                 num_classes=3)
    assert isinstance(classifier, zoo.TextClassifier)
    assert classifier.preprocessor.sequence_length == 256
    np.testing.assert_array_equal(
        np.asarray(classifier.backbone.get_layer(
            "transformer_layer_5").output_norm.gamma),
        np.asarray(encoder.get_layer(
            "transformer_layer_5").output_norm.gamma))
    assert tuple(classifier.output.shape) == (None, 3)
    assert classifier.get_layer("logits").kernel.shape == (384, 3)
    with pytest.raises(zoo.PresetError, match="task="):
        zoo.from_preset("all_minilm_l6_v2", num_classes=2)


def _preset_copy(tmp_path, **changes):
    data = yaml.safe_load(
        (zoo.presets.builtin.builtin_presets_dir()
         / "all_minilm_l6_v2.yaml").read_text())
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / "minilm.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_alternative_sources_are_tried_in_order(tmp_path, monkeypatch):
    local = tmp_path / "weights.safetensors"
    shutil.copy(minilm_package_dir() / "model.safetensors", local)
    weights = {
        "uri": ["package://zoo_absent_package/model.safetensors",
                local.as_uri()],
        "hash": "sha256:53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379"
                "cacb4fab128d9db",
        "converter": "huggingface",
    }
    model = zoo.from_preset(_preset_copy(tmp_path, weights=weights))
    np.testing.assert_array_equal(
        np.asarray(model.get_layer("pooler").bias),
        read_safetensors(local)["pooler.dense.bias"])
    # Nothing available: the error names every source and why.
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    missing = dict(weights, uri=[
        "package://zoo_absent_package/model.safetensors",
        "hf://sentence-transformers/all-MiniLM-L6-v2/model.safetensors"])
    with pytest.raises(zoo.OfflineError) as excinfo:
        zoo.from_preset(_preset_copy(tmp_path, weights=missing))
    message = str(excinfo.value)
    assert "zoo_absent_package" in message and "is not installed" in message
    assert "all-MiniLM-L6-v2" in message


def test_a_vocabulary_of_the_wrong_size_is_refused(tmp_path):
    short = tmp_path / "vocab.txt"
    lines = (minilm_package_dir() / "vocab.txt").read_text(
        encoding="utf-8").splitlines()
    short.write_text("\n".join(lines[:30000]) + "\n", encoding="utf-8")
    preset = _preset_copy(tmp_path, assets={"vocab.txt": {
        "uri": short.as_uri()}})
    with pytest.raises(zoo.VocabularyError) as excinfo:
        zoo.from_preset(preset, load_weights=False)
    message = str(excinfo.value)
    assert "30000" in message and "30522" in message
    assert str(short) in message


def test_hugging_face_repository_over_http(http_server, monkeypatch):
    repo = (pathlib.Path(http_server.root) / "sentence-transformers"
            / "all-MiniLM-L6-v2" / "resolve" / "main")
    shutil.copytree(minilm_package_dir(), repo)
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    monkeypatch.setenv("ZOO_HF_DOWNLOADER", "http")
    model = zoo.from_preset("hf://sentence-transformers/all-MiniLM-L6-v2")
    fetched = {p.rsplit("/", 1)[-1] for p in http_server.paths()}
    assert fetched >= {"config.json", "model.safetensors", "vocab.txt",
                       "tokenizer_config.json", "sentence_bert_config.json"}
    assert model.preprocessor.sequence_length == 256
    reference = reference_vectors()
    np.testing.assert_allclose(model.embed(reference["sentences"][:3]),
                               np.array(reference["embeddings"][:3]),
                               atol=1e-4)
