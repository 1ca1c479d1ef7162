"""`zoo predict` on image files and texts, `zoo info` on presets and
exported models."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo
from testing_utils import keras_probabilities, small_classifier
from training.cli import main

pytestmark = pytest.mark.one_backend

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat",
              "sat", "on", "the", "mat", "dog", "ran", ".", "##s"]


def _write(path, image):
    import tensorflow as tf

    path.write_bytes(tf.io.encode_png(image).numpy())
    return str(path)


def test_predict_images_of_any_size_and_mode_in_a_fresh_process(tmp_path):
    """A preset directory run in a new process (which must find the
    preset's classes itself) on an RGB, a grayscale and an RGBA PNG of
    different sizes: the table's top class and probability are the Keras
    model's; an unreadable file is named, the others still printed, exit
    status 1."""
    import skimage.data

    model = small_classifier(num_classes=4, crop_pct=0.875)
    preset = tmp_path / "preset"
    model.save_to_preset(preset)
    rgb = skimage.data.chelsea()[::4, ::4]
    gray = skimage.data.camera()[::8, ::8]
    rgba = np.concatenate([skimage.data.coffee()[::5, ::5],
                           np.full((80, 120, 1), 255, np.uint8)], -1)
    files = [_write(tmp_path / "rgb.png", rgb),
             _write(tmp_path / "gray.png", gray[..., None]),
             _write(tmp_path / "rgba.png", rgba)]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    result = subprocess.run(
        [sys.executable, "-m", "training.cli", "predict", str(preset),
         *files, str(tmp_path / "broken.jpg"), "--json", "--top-k", "2"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 1, result.stderr[-2000:]
    assert "cannot read" in result.stderr and "broken.jpg" in result.stderr
    records = json.loads(result.stdout)
    assert [r["file"] for r in records] == files
    assert [r["size"] for r in records] == [list(rgb.shape[:2]),
                                            list(gray.shape[:2]),
                                            list(rgba.shape[:2])]
    seen = [rgb, np.repeat(gray[..., None], 3, -1), rgba[..., :3]]
    for record, probabilities in zip(records,
                                     keras_probabilities(model, seen)):
        best = record["top_k"][0]
        assert len(record["top_k"]) == 2
        assert best["class"] == int(probabilities.argmax())
        assert best["probability"] == pytest.approx(probabilities.max(),
                                                    abs=1e-5)


def test_predict_in_bfloat16(tmp_path, capsys):
    """`--precision bfloat16`: every class's probability within bfloat16's
    rounding of the float32 model's (random batch norms, so that each
    layer's rounding counts), and not equal to it."""
    import skimage.data

    from testing_utils import randomize_batch_norm

    model = small_classifier(num_classes=4)
    randomize_batch_norm(model, seed=3)
    model.save_to_preset(tmp_path / "preset")
    photo = skimage.data.chelsea()[::8, ::8]
    path = _write(tmp_path / "cat.png", photo)
    assert main(["predict", str(tmp_path / "preset"), path, "--json",
                 "--top-k", "4", "--precision", "bfloat16"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    (expected,) = keras_probabilities(model, [photo])
    printed = {e["class"]: e["probability"] for e in record["top_k"]}
    np.testing.assert_allclose([printed[c] for c in range(4)], expected,
                               atol=0.02)
    # ... and not float32's own.
    assert np.abs([printed[c] for c in range(4)] - expected).max() > 1e-4
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path / "preset"), path,
              "--precision", "float16"])
    assert "invalid choice: 'float16'" in capsys.readouterr().err


def test_predict_texts_and_info(tmp_path, capsys):
    """Texts: the embeddings' norms (1, normalised) and cosine
    similarities equal the encoder's `embed()`; `zoo info` prints an
    export's card, a preset directory's metadata and a built-in preset's
    entry, and names what it cannot read."""
    encoder = zoo.BertEncoder(vocabulary_size=len(VOCABULARY),
                              hidden_size=16, num_layers=1, num_heads=2,
                              intermediate_size=32, max_sequence_length=16)
    encoder.preprocessor = zoo.TextPreprocessor(
        zoo.WordPieceTokenizer(VOCABULARY), sequence_length=16)
    preset = tmp_path / "text"
    encoder.save_to_preset(preset)
    texts = ["a cat sat on the mat .", "the dogs ran", "a cat"]
    args = ["predict", str(preset), "--json"]
    for text in texts:
        args += ["--text", text]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    vectors = np.asarray(encoder.embed(texts), "float64")
    np.testing.assert_allclose(printed["norms"],
                               np.linalg.norm(vectors, axis=-1), atol=1e-5)
    np.testing.assert_allclose(printed["cosine_similarity"],
                               vectors @ vectors.T, atol=1e-5)
    assert main(["predict", str(preset), "--text", "a cat"]) == 0
    assert "cosine similarity" in capsys.readouterr().out

    model = small_classifier(num_classes=3)
    card = zoo.export(model, tmp_path / "m.tflite", format="tflite")
    assert main(["info", str(tmp_path / "m.tflite")]) == 0
    assert json.loads(capsys.readouterr().out) == card
    assert main(["info", str(preset)]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "zoo-preset"
    assert main(["info", "resnet50"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == 25557032
    assert main(["info", str(tmp_path / "nothing")]) == 1
    assert "neither an exported model" in capsys.readouterr().out
