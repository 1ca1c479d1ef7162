"""zoo.export beyond float SavedModels: ONNX (checked with ONNX Runtime),
full-integer LiteRT calibrated on representative images, bfloat16 and
Keras-int8 SavedModels, and the held-out accuracy an export records."""

import numpy as np
import pytest

import zoo
from testing_utils import keras_probabilities, small_classifier
from zoo.serving import ExportError


def _small_classifier(num_classes=5):
    return small_classifier(
        num_classes, crop_pct=0.875, interpolation="bicubic",
        antialias=True, mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225))


def _photos(size, count=6):
    """Crops of scikit-image's photos, resized to `size`."""
    import skimage.data
    import skimage.transform

    images = []
    for name in ("chelsea", "coffee", "astronaut"):
        photo = getattr(skimage.data, name)()
        height, width = photo.shape[:2]
        for crop in (photo, photo[: height // 2, width // 3:]):
            images.append((skimage.transform.resize(
                crop, size, anti_aliasing=True) * 255).round().astype(
                    "uint8"))
    return images[:count]


def test_onnx_float_and_int8_run_in_onnx_runtime(tmp_path):
    """An ONNX file (uint8 `[batch, 36, 36, 3]`, the resize inside) that
    ONNX Runtime runs within 1e-4 of the Keras model on a batch of real
    photos; on JAX the network is rebuilt on TensorFlow first. The int8
    file is under half the float one, its agreement recorded."""
    import onnxruntime

    model = _small_classifier()
    card = zoo.export(model, tmp_path / "m.onnx", format="onnx",
                      class_names=list("abcde"))
    assert card["inputs"]["images"]["shape"] == [None, 36, 36, 3]
    assert max(card["max_abs_diff"].values()) < 1e-4
    assert zoo.serving.read_card(tmp_path / "m.onnx")["opset"] == 17
    session = onnxruntime.InferenceSession(
        str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    photos = _photos((36, 36), count=3)
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, {"inputs": np.stack(photos)})))
    assert set(names) == {"logits", "probs", "top_k_classes", "top_k_scores",
                          "top_k_names"}
    expected = keras_probabilities(model, photos)
    assert [str(n) for n in out["top_k_names"][:, 0]] == [
        "abcde"[i] for i in expected.argmax(-1)]
    np.testing.assert_allclose(out["probs"], expected, atol=1e-4)
    np.testing.assert_array_equal(out["top_k_classes"][:, 0],
                                  expected.argmax(-1))
    small = zoo.export(model, tmp_path / "q.onnx", format="onnx",
                       quantize="int8")
    assert small["size_bytes"] < small["float_size_bytes"] / 2
    assert small["max_abs_diff"]["probs"] < 0.2
    assert 0.0 <= small["top1_agreement"] <= 1.0


def test_litert_full_integer_and_held_out_accuracy(tmp_path):
    """`int8_full` calibrates on the representative photos given; the card
    records the sizes and, for `evaluation=`, the Keras model's and the
    artifact's top-1 accuracy on the same (resized) held-out images: the
    Keras figure equals this test's own computation."""
    from zoo.serving.checks import resized

    model = _small_classifier(num_classes=3)
    photos = _photos((48, 64))
    labels = np.array([0, 1, 2, 0, 1, 2])
    card = zoo.export(model, tmp_path / "m.tflite", format="tflite",
                      quantize="int8_full", representative=photos[:4],
                      evaluation=(photos, labels))
    assert card["calibration_images"] == 4
    assert card["size_bytes"] < card["float_size_bytes"] / 2
    accuracy = card["accuracy"]
    assert accuracy["examples"] == 6
    seen = resized(photos, (36, 36))
    keras_top1 = keras_probabilities(model, seen).argmax(-1)
    assert accuracy["keras"] == pytest.approx(np.mean(keras_top1 == labels))
    assert accuracy["change"] == pytest.approx(
        accuracy["artifact"] - accuracy["keras"])
    assert 0.0 <= accuracy["agreement"] <= 1.0


def test_saved_model_bfloat16_and_keras_int8(tmp_path):
    """bfloat16: half the weight bytes, probabilities near the float
    model's; Keras' `Model.quantize("int8")` on a ViT (its dense layers)
    cuts the weight bytes under half."""
    import tensorflow as tf

    model = _small_classifier()
    half = zoo.export(model, tmp_path / "bf16", precision="bfloat16")
    assert half["precision"] == "bfloat16"
    assert half["weight_bytes"]["exported"] < 0.55 * half["weight_bytes"][
        "float32"]
    assert half["max_abs_diff"]["probs"] < 0.05
    vit = zoo.create_model("vit_tiny_patch16_224", num_classes=5,
                           input_shape=(32, 32, 3), num_layers=1)
    vit.preprocessor = zoo.ImagePreprocessor(image_size=(32, 32),
                                             crop_pct=1.0, scale=1 / 255)
    card = zoo.export(vit, tmp_path / "int8", quantize="int8")
    assert card["quantize"] == "int8"
    assert card["weight_bytes"]["exported"] < 0.5 * card["weight_bytes"][
        "float32"]
    assert card["max_abs_diff"]["probs"] < 0.05
    photos = _photos((40, 40), count=2)
    serve = tf.saved_model.load(card["path"]).signatures["serving_default"]
    got = serve(inputs=tf.constant(np.stack(photos)))["probs"].numpy()
    np.testing.assert_allclose(got, keras_probabilities(vit, photos),
                               atol=0.05)


@pytest.mark.one_backend
def test_onnx_names_the_op_it_lacks_and_bad_combinations(tmp_path):
    """ONNX has no antialiased resize (TensorFlow's ScaleAndTranslate):
    converting a serving function that uses it is refused naming the op;
    options a format does not take are refused naming those that do."""
    import tensorflow as tf

    from zoo.serving import onnx_export

    model = _small_classifier()

    spec = tf.TensorSpec((None, None, None, 3), tf.uint8, name="inputs")

    @tf.function(input_signature=[spec])
    def serve(inputs):
        return {"probs": tf.nn.softmax(model(model.preprocessor(
            tf.cast(inputs, tf.float32)), training=False))}

    module = tf.Module()
    module.model, module.serve = model, serve
    with pytest.raises(ExportError, match="ScaleAndTranslate.*saved_model"):
        onnx_export.convert(module, spec)
    with pytest.raises(ExportError, match=r"int8_full.*\['tflite'\]"):
        zoo.export(model, tmp_path / "x", quantize="int8_full")
    with pytest.raises(ExportError, match=r"bfloat16.*\['saved_model'\]"):
        zoo.export(model, tmp_path / "x.onnx", format="onnx",
                   precision="bfloat16")
    with pytest.raises(ExportError, match="format='onnx' takes input_type"):
        zoo.export(model, tmp_path / "x.onnx", format="onnx",
                   input_type="image_bytes")
    with pytest.raises(ExportError, match="as many labels"):
        zoo.export(model, tmp_path / "x.onnx", format="onnx",
                   evaluation=(_photos((36, 36), 2), [0]))
