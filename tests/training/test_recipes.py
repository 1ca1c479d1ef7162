"""The experiment recipes zoo ships (presets/experiments/*.yaml): every one
loads, validates and trains for two steps on local data (only data paths,
batch sizes and step counts overridden)."""

from pathlib import Path

import numpy as np
import pytest

import training
from training.train_cli import build_config, list_recipes

# The recipe files are backend-independent; the trainer they drive is
# tested on both backends.
pytestmark = pytest.mark.one_backend

RECIPES = Path(__file__).resolve().parents[2] / "presets" / "experiments"
TWO_STEPS = {"train_steps": 2, "steps_per_loop": 2, "summary_interval": 2,
             "checkpoint_interval": 2, "validation_interval": 2}


def _data(name, tmp_path):
    """Overrides pointing a recipe at small local data."""
    if name == "resnet18_image_folder":
        from PIL import Image

        for split in ("train", "val"):
            for label, colour in enumerate(((200, 30, 30), (30, 30, 200))):
                folder = tmp_path / split / f"class{label}"
                folder.mkdir(parents=True)
                for i in range(2):
                    Image.new("RGB", (40, 48), colour).save(
                        folder / f"{i}.png")
        return {"task": {
            "train_data": {"input_path": str(tmp_path / "train"),
                           "global_batch_size": 2},
            "validation_data": {"input_path": str(tmp_path / "val"),
                                "global_batch_size": 2}}}
    if name == "minilm_sentence_classifier":
        tsv = tmp_path / "train.tsv"
        tsv.write_text("sentence\tlabel\na great film\t1\na dull film\t0\n"
                       "great fun\t1\nboring\t0\n")
        data = {"input_path": str(tsv), "global_batch_size": 2}
        return {"task": {"train_data": data, "validation_data": data}}
    return {}


def test_every_recipe_is_tested():
    assert list_recipes() == sorted(p.stem for p in RECIPES.glob("*.yaml"))
    assert set(list_recipes()) == {
        "minilm_sentence_classifier", "resnet18_image_folder",
        "resnet_digits"}


@pytest.mark.parametrize("name", sorted(p.stem for p in RECIPES.glob("*.yaml")))
def test_recipe_trains_two_steps(name, tmp_path):
    # By name, as `zoo train --config_file NAME` takes it.
    config = build_config(None, [name])
    config.override({**_data(name, tmp_path), "trainer": TWO_STEPS})
    results = training.run_experiment(config, "train_and_eval",
                                      str(tmp_path / "run"))
    assert results["step"] == 2
    assert np.isfinite(results["loss"])
    assert any(k.startswith("val_") for k in results)
