"""`zoo export` on a preset directory and on a training run."""

import json

import pytest

import zoo
from testing_utils import keras_probabilities, small_classifier
from training.cli import main

# The command wraps zoo.export, which tests/zoo/serving tests per backend.
pytestmark = pytest.mark.one_backend


def test_zoo_export_of_a_preset_and_of_a_run(tmp_path, capsys):
    model = small_classifier(num_classes=3)
    run_dir = tmp_path / "run"
    model.save_to_preset(run_dir / "best_ckpt" / "preset")
    (run_dir / "params.yaml").write_text("task: {}\n")
    status = main(["export", str(run_dir), "--format", "tflite",
                   "--output", str(tmp_path / "m.tflite")])
    printed = json.loads(capsys.readouterr().out)
    assert status == 0
    assert printed["format"] == "tflite"
    assert max(printed["max_abs_diff"].values()) < 1e-4
    card = zoo.serving.read_card(tmp_path / "m.tflite")
    assert card["source"]["run"] == str(run_dir)
    status = main(["export", str(run_dir / "best_ckpt" / "preset"),
                   "--input-type", "image_bytes", "--no-fuse",
                   "--output", str(tmp_path / "sm")])
    assert status == 0
    assert zoo.serving.read_card(tmp_path / "sm")["fused"] is False
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (empty / "params.yaml").write_text("task: {}\n")
    capsys.readouterr()
    assert main(["export", str(empty), "--output",
                 str(tmp_path / "x")]) == 1
    assert "without an exported best model" in capsys.readouterr().out


def test_zoo_export_of_a_run_is_evaluated_on_its_validation_data(
        tmp_path, capsys):
    """For a run of an image classification experiment, `zoo export`
    evaluates the artifact on the experiment's own validation images
    (here the embedded digits split, 8x8, resized to the ONNX input) and
    prints the Keras model's and the artifact's top-1; the Keras figure
    equals this test's computation on the same images."""
    import numpy as np

    import training
    from training.data.readers import digits_arrays
    from zoo.serving.checks import resized

    config = training.get_experiment("resnet_digits")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config.to_yaml(str(run_dir / "params.yaml"))
    model = small_classifier(num_classes=10, input_shape=(16, 16, 1),
                             scale=1.0, mean=(0.0,), std=(255.0,))
    model.save_to_preset(run_dir / "best_ckpt" / "preset")
    status = main(["export", str(run_dir), "--format", "onnx",
                   "--eval-examples", "40", "--output",
                   str(tmp_path / "d.onnx")])
    printed = json.loads(capsys.readouterr().out)
    assert status == 0
    accuracy = printed["accuracy"]
    assert accuracy["examples"] == 40
    images, labels = digits_arrays(is_training=False)
    seen = resized(list(images[:40]), (16, 16))
    predicted = keras_probabilities(model, seen).argmax(-1)
    assert accuracy["keras"] == pytest.approx(
        np.mean(predicted == labels[:40]))
    assert accuracy["agreement"] == 1.0     # float ONNX: same predictions
