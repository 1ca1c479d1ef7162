"""`zoo export` on a preset directory and on a training run."""

import json

import pytest

import zoo
from training.cli import main

# The command wraps zoo.export, which tests/zoo/serving tests per backend.
pytestmark = pytest.mark.one_backend


def test_zoo_export_of_a_preset_and_of_a_run(tmp_path, capsys):
    model = zoo.create_model("resnet18", num_classes=3,
                             input_shape=(32, 32, 3))
    model.preprocessor = zoo.ImagePreprocessor(image_size=(32, 32),
                                               crop_pct=1.0, scale=1 / 255)
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
