"""zoo.export: SavedModel and LiteRT artifacts with the preprocessing
inside, checked against the Keras model; a SavedModel served by a process
that imports only TensorFlow."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo
from testing_utils import keras_probabilities
from zoo.serving import CARD_NAME, ExportError, read_card

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat",
              "sat", "on", "the", "mat", "dog", "ran", ".", "##s"]


def _classifier(num_classes=5):
    model = zoo.create_model("resnet18", num_classes=num_classes,
                             input_shape=(32, 32, 3))
    model.preprocessor = zoo.ImagePreprocessor(
        image_size=(32, 32), crop_pct=0.875, interpolation="bicubic",
        antialias=True, scale=1 / 255, mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225))
    return model


def _photo(name="chelsea", size=(90, 120)):
    """A real photo (scikit-image's), shrunk for speed."""
    import skimage.data
    import skimage.transform

    image = getattr(skimage.data, name)()
    return (skimage.transform.resize(image, size, anti_aliasing=True)
            * 255).round().astype("uint8")


SERVE = r"""
import json, sys
for banned in ("keras", "zoo", "jax"):
    sys.modules[banned] = None        # importing any of them now fails
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
images = [open(path, "rb").read() for path in sys.argv[2:]]
out = serve(inputs=tf.constant(images))
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()
                  if v.dtype != tf.string}))
"""


def _serve_without_keras(card, photos, tmp_path):
    """The outputs of the SavedModel `card` names on `photos` (as PNG
    files), from a process that cannot import keras, jax or zoo."""
    import tensorflow as tf

    paths = []
    for index, photo in enumerate(photos):
        path = tmp_path / f"photo{index}.png"
        path.write_bytes(tf.io.encode_png(photo).numpy())
        paths.append(str(path))
    result = subprocess.run(
        [sys.executable, "-c", SERVE, card["path"], *paths],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_saved_model_of_image_bytes_serves_without_keras(tmp_path):
    """A TF Serving directory (version 1, its card beside it) whose
    `serving_default` takes encoded photos of any size; a fresh process
    that cannot import keras, jax or zoo gives the Keras model's
    probabilities within 1e-4, and the top-5 in order."""
    model = _classifier()
    card = zoo.export(model, tmp_path / "served", input_type="image_bytes")
    assert card["path"] == str(tmp_path / "served" / "1")
    assert os.path.exists(tmp_path / "served" / "1" / "saved_model.pb")
    assert max(card["max_abs_diff"].values()) < 1e-4
    assert read_card(tmp_path / "served") == card
    assert card["inputs"]["images"] == {"name": "inputs", "shape": [None],
                                        "dtype": "string"}
    assert card["fused"] is True      # ResNet batch norms folded
    photos = [_photo("chelsea"), _photo("coffee", (70, 50))]
    served = _serve_without_keras(card, photos, tmp_path)
    expected = keras_probabilities(model, photos)
    np.testing.assert_allclose(served["probs"], expected, atol=1e-4)
    np.testing.assert_array_equal(
        served["top_k_classes"], np.argsort(-expected, axis=1)[:, :5])


def test_image_tensor_and_tf_example_take_the_next_versions(tmp_path):
    """uint8 batches of any size and serialised examples (the Model
    Garden's `image/encoded`) into the same directory: versions 1 and 2;
    1000 classes get ImageNet's names in `top_k_names`."""
    import tensorflow as tf

    from zoo.serving.checks import encode_png, tf_example

    model = _classifier(num_classes=1000)
    first = zoo.export(model, tmp_path / "m", top_k=3, fuse=False)
    second = zoo.export(model, tmp_path / "m", input_type="tf_example")
    assert (first["version"], second["version"]) == (1, 2)
    assert first["fused"] is False
    assert first["outputs"]["top_k_names"] == {"shape": [None, 3],
                                               "dtype": "string"}
    photo = _photo()
    serve = tf.saved_model.load(second["path"]).signatures["serving_default"]
    out = serve(inputs=tf.constant([tf_example(encode_png(photo))]))
    expected = keras_probabilities(model, [photo])
    np.testing.assert_allclose(out["probs"].numpy(), expected, atol=1e-4)
    names = zoo.vision.image_classifier.imagenet_class_names()
    assert out["top_k_names"].numpy()[0, 0].decode() == names[
        int(expected.argmax())]
    tensor = tf.saved_model.load(first["path"]).signatures["serving_default"]
    batch = np.stack([photo, photo[::-1]])
    np.testing.assert_allclose(
        tensor(inputs=tf.constant(batch))["probs"].numpy(),
        keras_probabilities(model, list(batch)), atol=1e-4)


def test_litert_float_and_int8(tmp_path):
    """LiteRT: one uint8 image of the preset's resize size, the antialiased
    resize as builtin matrix products; the float file within 1e-4 of the
    Keras model on the interpreter, the dynamic-range int8 one under a
    third of its size with its difference and top-1 agreement recorded."""
    from zoo.serving.litert import runner

    model = _classifier()
    card = zoo.export(model, tmp_path / "m.tflite", format="tflite")
    assert card["inputs"]["images"]["shape"] == [1, 36, 36, 3]  # 32/0.875
    assert card["select_tf_ops"] is False
    assert max(card["max_abs_diff"].values()) < 1e-4
    assert read_card(tmp_path / "m.tflite")["size_bytes"] == os.path.getsize(
        tmp_path / "m.tflite")
    photo = _photo(size=(36, 36))
    run = runner((tmp_path / "m.tflite").read_bytes())
    np.testing.assert_allclose(run({"inputs": photo[None]})["probs"],
                               keras_probabilities(model, [photo]),
                               atol=1e-4)
    small = zoo.export(model, tmp_path / "q.tflite", format="tflite",
                       quantize="int8")
    assert small["size_bytes"] < small["float_size_bytes"] / 3
    assert 0.0 <= small["top1_agreement"] <= 1.0
    assert small["max_abs_diff"]["probs"] < 0.2


def test_text_encoder_takes_raw_strings(tmp_path):
    """Strings in, the encoder's `embed()` vectors out (within 1e-4)."""
    import tensorflow as tf

    encoder = zoo.BertEncoder(vocabulary_size=len(VOCABULARY),
                              hidden_size=16, num_layers=1, num_heads=2,
                              intermediate_size=32, max_sequence_length=16)
    encoder.preprocessor = zoo.TextPreprocessor(
        zoo.WordPieceTokenizer(VOCABULARY), sequence_length=16)
    card = zoo.export(encoder, tmp_path / "text")
    assert card["input_type"] == "text"
    assert card["outputs"] == {"embeddings": {"shape": [None, 16],
                                              "dtype": "float32"}}
    texts = ["a cat sat on the mat .", "the dogs ran"]
    serve = tf.saved_model.load(card["path"]).signatures["serving_default"]
    got = serve(inputs=tf.constant(texts))["embeddings"].numpy()
    np.testing.assert_allclose(got, encoder.embed(texts), atol=1e-4)


def test_bad_requests_name_the_valid_choices(tmp_path):
    model = _classifier()
    with pytest.raises(ExportError, match=r"\[.saved_model., .tflite., .onnx.\]"):
        zoo.export(model, tmp_path / "x", format="torchscript")
    with pytest.raises(ExportError, match="image_tensor', 'image_bytes'"):
        zoo.export(model, tmp_path / "x", input_type="text")
    with pytest.raises(ExportError, match="it has no image decoding"):
        zoo.export(model, tmp_path / "x.tflite", format="tflite",
                   input_type="image_bytes")
    with pytest.raises(ExportError, match="input_size fixes"):
        zoo.export(model, tmp_path / "x", input_size=(40, 40))
    with pytest.raises(ExportError, match="top_k"):
        zoo.export(model, tmp_path / "x", top_k=0)
    bare = zoo.create_model("resnet18", num_classes=5,
                            input_shape=(32, 32, 3))
    with pytest.raises(ExportError, match="no preprocessor"):
        zoo.export(bare, tmp_path / "x")
    with pytest.raises(ExportError, match="no export card"):
        read_card(tmp_path)
    assert not os.path.exists(tmp_path / "x")
    assert CARD_NAME == "zoo_export.json"


def _detector():
    """A tiny RetinaNet whose class predictor is spread out, so that it
    finds boxes (at the prior's 0.01 nothing passes the 0.05 threshold)."""
    det = zoo.create_model("resnet18", task="object_detector", num_classes=3,
                           input_shape=(128, 128, 3), decoder_filters=16,
                           head_filters=16, head_num_convs=1,
                           stage_filters=(8, 8, 8, 8))
    layer = det.get_layer("head_classes")
    kernel, bias = layer.get_weights()
    rng = np.random.default_rng(0)
    layer.set_weights([rng.normal(0, 0.05, kernel.shape).astype("float32"),
                       bias + 1.5])
    det.preprocessor = zoo.DetectionPreprocessor((128, 128))
    return det


def test_detector_saved_model_serves_boxes_after_nms_without_keras(tmp_path):
    """Encoded photos of two sizes in, the Model Garden's detection outputs
    out, in each photo's pixels; a process that cannot import keras, jax or
    zoo gives the Keras detector's detections."""
    det = _detector()
    card = zoo.export(det, tmp_path / "det", input_type="image_bytes")
    assert card["max_abs_diff"]["detection_classes"] == 0
    assert card["max_abs_diff"]["num_detections"] == 0
    assert card["max_abs_diff"]["detection_boxes"] < 1e-4
    assert card["fused"] is True
    assert set(card["outputs"]) == {"detection_boxes", "detection_scores",
                                    "detection_classes", "num_detections",
                                    "image_info"}
    photos = [_photo("chelsea"), _photo("coffee", (70, 50))]
    served = {k: np.asarray(v) for k, v in
              _serve_without_keras(card, photos, tmp_path).items()}
    from zoo.serving.checks import match_detections

    for index, photo in enumerate(photos):
        found = {k: np.asarray(v) for k, v in det.detect(photo[None]).items()}
        expected = {"detection_" + k: v for k, v in found.items()
                    if k != "num_detections"}
        expected["num_detections"] = found["num_detections"]
        count = int(expected["num_detections"][0])
        assert count > 0 and served["num_detections"][index] == count
        # Near-equal scores may leave NMS in either order: paired first.
        mine = match_detections(
            {k: served[k][index:index + 1] for k in expected}, expected)
        np.testing.assert_array_equal(mine["detection_classes"],
                                      expected["detection_classes"])
        np.testing.assert_allclose(mine["detection_scores"],
                                   expected["detection_scores"], atol=1e-4)
        np.testing.assert_allclose(mine["detection_boxes"],
                                   expected["detection_boxes"], atol=1e-2)
        height, width = photo.shape[:2]
        boxes = served["detection_boxes"][index]
        assert (boxes[:, [0, 2]] <= height).all()
        assert (boxes[:, [1, 3]] <= width).all()
        np.testing.assert_allclose(served["image_info"][index][0],
                                   [height, width])


def test_detectors_export_to_saved_models_in_float32(tmp_path):
    det = _detector()
    with pytest.raises(ExportError, match=r"object detector exports to "
                       r"\['saved_model'\], not 'tflite'"):
        zoo.export(det, tmp_path / "d.tflite", format="tflite")
    with pytest.raises(ExportError, match="float32 only"):
        zoo.export(det, tmp_path / "d", quantize="int8")
    det.preprocessor = None
    with pytest.raises(ExportError, match="no preprocessor"):
        zoo.export(det, tmp_path / "d")
    assert not os.path.exists(tmp_path / "d")
