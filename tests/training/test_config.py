"""Experiment configs: YAML, overrides, strictness, registries."""

from pathlib import Path

import pytest
import yaml

import training
from training.config import ConfigError, ExperimentConfig, parse_overrides
from training.tasks.image_classification import ImageClassificationConfig

# Configuration parsing: no backend involved.
pytestmark = pytest.mark.one_backend

#: The Model Garden's imagenet_resnet50_gpu.yaml, vendored verbatim.
MODEL_GARDEN_RESNET50_GPU = (
    Path(__file__).resolve().parents[1] / "data" / "model_garden" /
    "official/vision/configs/experiments/image_classification/"
    "imagenet_resnet50_gpu.yaml")


def test_model_garden_yaml_parses(tmp_path):
    config = training.get_experiment("image_classification")
    config.override(str(MODEL_GARDEN_RESNET50_GPU))
    assert isinstance(config.task, ImageClassificationConfig)
    assert config.task.model.backbone.get().model_id == 50
    assert config.task.losses.label_smoothing == 0.1
    assert config.runtime.mixed_precision_dtype == "float16"
    opt = config.trainer.optimizer_config
    assert opt.optimizer.get().momentum == 0.9
    assert opt.learning_rate.get().values == [0.8, 0.08, 0.008, 0.0008]
    assert opt.warmup.get().warmup_steps == 3125
    assert config.task.validation_data.drop_remainder is False


def test_overrides_apply_in_order_and_in_every_form(tmp_path):
    config = training.get_experiment("resnet_digits")
    first = tmp_path / "first.yaml"
    first.write_text("trainer: {train_steps: 10, max_to_keep: 2}\n")
    config.override(str(first))
    config.override({"trainer": {"train_steps": 20}})
    config.override("trainer.train_steps=30,task.train_data.input_path='x'")
    assert config.trainer.train_steps == 30
    assert config.trainer.max_to_keep == 2
    assert config.task.train_data.input_path == "x"
    config.override("trainer: {train_steps: 40}")
    assert config.trainer.train_steps == 40
    config.override({"task.model.input_size": [32, 32, 1]})
    assert config.task.model.input_size == [32, 32, 1]


def test_override_string_values_are_typed():
    parsed = parse_overrides(
        "a.b=1,a.c=0.5,a.d=true,a.e='x,y',a.f=[1, 2],a.g=null")
    assert parsed == {"a.b": 1, "a.c": 0.5, "a.d": True, "a.e": "x,y",
                      "a.f": [1, 2], "a.g": None}


def test_unknown_key_names_path_and_closest():
    config = training.get_experiment("resnet_digits")
    with pytest.raises(ConfigError) as excinfo:
        config.override("trainer.train_step=5")
    message = str(excinfo.value)
    assert "'trainer.train_step'" in message and "'train_steps'" in message


def test_nested_unknown_key_in_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task:\n  model:\n    backbone:\n      resnet:\n"
                    "        model_idd: 50\n")
    config = training.get_experiment("image_classification")
    with pytest.raises(ConfigError,
                       match=r"task\.model\.backbone\.resnet\.model_idd.*"
                             r"model_id"):
        config.override(str(path))


def test_wrong_type_names_path_and_expected_type():
    config = training.get_experiment("resnet_digits")
    with pytest.raises(ConfigError,
                       match=r"trainer\.train_steps: expected int, got str"):
        config.override({"trainer": {"train_steps": "many"}})
    with pytest.raises(ConfigError, match="expected bool"):
        config.override("task.train_data.cache=3")
    # ints widen to floats; floats never narrow to ints.
    config.override("task.losses.label_smoothing=1")
    assert config.task.losses.label_smoothing == 1.0
    with pytest.raises(ConfigError, match="expected int"):
        config.override("trainer.train_steps=1.5")


@pytest.mark.parametrize("text, message", [
    ("trainer.train_steps", "key=value"),
    ("trainer.train_steps=[1,", "Unbalanced"),
    ("9x.y=1", "dotted name"),
])
def test_bad_override_strings(text, message):
    with pytest.raises(ConfigError, match=message):
        training.get_experiment("resnet_digits").override(text)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ExperimentConfig.from_yaml(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ExperimentConfig.from_yaml(str(bad))


def test_one_of_type_is_checked():
    config = training.get_experiment("resnet_digits")
    with pytest.raises(ConfigError, match="'sgdd' is not one of"):
        config.override("trainer.optimizer_config.optimizer.type=sgdd")


def test_cross_field_validation():
    config = training.get_experiment("resnet_digits")
    with pytest.raises(ConfigError, match="one more value than boundaries"):
        config.override({"trainer.optimizer_config.learning_rate": {
            "type": "stepwise",
            "stepwise": {"boundaries": [10], "values": [1.0]}}})
    config = training.get_experiment("resnet_digits")
    with pytest.raises(ConfigError, match="mixed_precision_dtype"):
        config.override("runtime.mixed_precision_dtype=float8")


def test_params_yaml_round_trip(tmp_path):
    config = training.get_experiment("resnet_digits")
    config.override("trainer.train_steps=77,runtime.seed=3")
    path = tmp_path / "params.yaml"
    config.to_yaml(str(path))
    again = ExperimentConfig.from_yaml(str(path))
    assert type(again.task) is type(config.task)
    assert again == config
    assert yaml.safe_load(path.read_text())["experiment"] == "resnet_digits"


def test_registries():
    assert {"image_classification", "resnet_imagenet",
            "resnet_digits"} <= set(training.list_experiments())
    with pytest.raises(ConfigError, match="'resnet_digits'"):
        training.get_experiment("resnet_digit")
    task = training.get_task(training.get_experiment("resnet_digits").task)
    assert type(task).__name__ == "ImageClassificationTask"
    with pytest.raises(ConfigError, match="No task is registered"):
        training.get_task(training.config.TaskConfig())
