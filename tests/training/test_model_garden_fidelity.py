"""Bugs found by running the Model Garden's own experiment files, one test
each: validation that re-reads the same batches, mixed precision in the
input pipeline, validating once after every override, optional fields,
one-line refusals, and the trainer's log line."""

import csv
import logging
import os

import keras
import numpy as np
import pytest

import training
from test_data import write_classification_tfrecords
from training.config import ConfigError
from training.train_cli import build_config


def _tiny_classification(data, **trainer):
    """`image_classification` on solid-colour TFRecords with a small ResNet."""
    config = training.get_experiment("image_classification")
    config.override({
        "task": {
            "model": {
                "num_classes": 3, "input_size": [32, 32, 3],
                "backbone": {"type": "resnet", "resnet": {
                    "model_id": 18, "depth_multiplier": 0.25}}},
            "train_data": {"input_path": str(data / "train" / "*"),
                           "global_batch_size": 8},
            "validation_data": {"input_path": str(data / "valid" / "*"),
                                "global_batch_size": 8,
                                "drop_remainder": False}},
        "trainer": {"train_steps": 4, "steps_per_loop": 2,
                    "validation_interval": 2, "checkpoint_interval": 2,
                    "summary_interval": 2,
                    "best_checkpoint_export_subdir": "",
                    "optimizer_config": {
                        "optimizer": {"type": "sgd"},
                        "learning_rate": {"type": "constant"}},
                    **trainer},
    })
    return config


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    data = tmp_path_factory.mktemp("records")
    write_classification_tfrecords(str(data / "train"), num_files=2,
                                   per_file=8, size=32)
    # 24 validation images: 3 batches of 8; validation_steps=2 scores the
    # first two of them every time.
    write_classification_tfrecords(str(data / "valid"), num_files=3,
                                   per_file=8, size=32)
    return data


def _csv_rows(model_dir):
    with open(os.path.join(model_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


# Which batches validation reads is tf.data's business.
@pytest.mark.one_backend
def test_validation_steps_score_the_same_batches_every_time(records,
                                                            tmp_path):
    """Bug 1: with `validation_steps` batches and the mirrored strategy the
    second evaluation died with StopIteration on TensorFlow. With a learning
    rate of 0 and frozen batch-norm statistics the weights never change, so
    every evaluation must give the same numbers."""
    config = _tiny_classification(records, train_steps=6,
                                  validation_steps=2)
    config.override({
        "runtime": {"distribution_strategy": "mirrored"},
        "task": {"model": {"norm_activation": {"norm_momentum": 1.0}}},
        "trainer": {"optimizer_config": {"learning_rate": {
            "constant": {"learning_rate": 0.0}}}},
    })
    model_dir = str(tmp_path / "run")
    training.run_experiment(config, "train_and_eval", model_dir)
    rows = _csv_rows(model_dir)
    assert [int(float(r["step"])) for r in rows] == [2, 4, 6]
    for key in ("val_loss", "val_accuracy"):
        values = [float(r[key]) for r in rows]
        assert values[0] == values[1] == values[2], (key, values)
    # And they are the first two batches' numbers: a whole-set evaluation
    # (three batches) of the same weights differs from them.
    config.override("trainer.validation_steps=-1")
    whole = training.run_experiment(config, "eval", model_dir)
    assert whole["val_loss"] != pytest.approx(float(rows[-1]["val_loss"]),
                                              rel=1e-6)


# The augmentation runs in tf.data whatever the backend.
@pytest.mark.one_backend
def test_randaugment_under_mixed_float16_casts_once_at_the_end(records):
    """Bug 2: RandAugment made float16 images under `mixed_float16`, and
    the normalisation then subtracted a float32 mean."""
    from training.data.image_classification import build_image_dataset

    config = _tiny_classification(records)
    data_config = config.task.train_data
    data_config.override({"dtype": "float16", "aug_type": {
        "type": "randaug", "randaug": {"magnitude": 10}}})
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        dataset = build_image_dataset(
            data_config, image_size=(32, 32), num_classes=3,
            randaug={"num_ops": 2, "factor": 1.0})
        images, labels = next(iter(dataset))
    finally:
        keras.config.set_dtype_policy(previous)
    assert images.dtype.name == "float16"
    assert images.shape == (8, 32, 32, 3)
    assert np.all(np.isfinite(np.asarray(images, "float32")))


def test_a_later_override_repairs_an_earlier_value(tmp_path):
    """Bug 3: each file was validated as it was merged, so no later file or
    override could fix a value an earlier one set."""
    first = tmp_path / "first.yaml"
    first.write_text("task:\n  init_checkpoint: null\n"
                     "trainer:\n  validation_interval: 0\n"
                     "  best_checkpoint_metric_comp: best\n")
    second = tmp_path / "second.yaml"
    second.write_text("trainer:\n  best_checkpoint_metric_comp: lower\n")
    config = build_config("resnet_digits", [str(first), str(second)],
                          "task.init_checkpoint='',"
                          "trainer.validation_interval=60")
    assert config.task.init_checkpoint == ""
    assert config.trainer.validation_interval == 60
    assert config.trainer.best_checkpoint_metric_comp == "lower"
    # What stays wrong at the end is still refused, naming the key.
    with pytest.raises(ConfigError, match="validation_interval"):
        build_config("resnet_digits", [str(first), str(second)])


def test_optional_fields_accept_null(tmp_path):
    """Bug 5: fields the Model Garden declares Optional accept `null`
    (official/vision/configs/image_classification.py, official/core/
    config_definitions.py, official/modeling/optimization/configs/)."""
    path = tmp_path / "nulls.yaml"
    path.write_text(
        "task:\n  init_checkpoint: null\n  name: null\n"
        "  train_data:\n    seed: null\n    prefetch_buffer_size: null\n"
        "    aug_crop: null\n    crop_area_range: null\n"
        "    center_crop_fraction: null\n    randaug_magnitude: null\n"
        "  validation_data:\n    deterministic: null\n"
        "    tf_data_service_address: null\n"
        "runtime:\n  tpu: null\n  worker_hosts: null\n"
        "  mixed_precision_dtype: null\n  loss_scale: null\n"
        "trainer:\n  optimizer_config:\n    ema: null\n"
        "    warmup:\n      linear:\n        warmup_steps: null\n")
    config = build_config("resnet_digits", [str(path)])
    assert config.task.init_checkpoint is None
    assert config.task.train_data.crop_area_range is None
    # None means "not set": no initial checkpoint is loaded, the defaults
    # of the pipeline apply.
    task = training.get_task(config.task)
    task.initialize(model=None)
    dataset = task.build_inputs(config.task.train_data)
    images, _ = next(iter(dataset))
    assert images.shape == (64, 16, 16, 1)


def test_config_failures_are_one_line_with_exit_status_2(tmp_path, capsys):
    """Bug 6: a TPU asked for where there is none is one line, status 2,
    on both backends (TensorFlow printed a 31-line traceback)."""
    from training.cli import main

    status = main(["train", "--experiment", "resnet_digits",
                   "--params_override",
                   "runtime.distribution_strategy=tpu,trainer.train_steps=1",
                   "--model_dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert "\n" not in err, err
    assert "runtime.distribution_strategy" in err and "'tpu'" in err, err


@pytest.mark.parametrize("override, message", [
    ("task.model.backbone.type=spinenet",
     "backbone 'spinenet' is not built by zoo yet; available: "),
    ("task.model.backbone={type: revnet, revnet: {model_id: 56}}",
     "backbone 'revnet' is not built by zoo yet; available: "),
    ("task.model.backbone.type=resnett",
     "'resnett' is not a backbone type"),
])
def test_real_but_unsupported_model_garden_values_are_said_so(override,
                                                              message):
    """Point 7: a real Model Garden backbone that zoo lacks is not a typo."""
    with pytest.raises(ConfigError) as error:
        build_config("image_classification", [], override)
    assert message in str(error.value)
    assert "resnet" in str(error.value)
    if "resnett" not in override:
        assert "Did you mean" not in str(error.value)


def test_parsed_but_unbuilt_backbones_check_their_keys():
    """SpineNet's keys parse with the Model Garden's names and types (its
    experiments carry them) and a run that selects it is refused; a
    misspelt SpineNet key is an error of its own, and the list of what is
    available names only what zoo builds."""
    with pytest.raises(ConfigError, match="model_idd"):
        build_config("retinanet_spinenet_coco", [],
                     "task.model.backbone.spinenet.model_idd=49")
    with pytest.raises(ConfigError, match="expected int"):
        build_config("retinanet_spinenet_coco", [],
                     "task.model.backbone.spinenet.min_level=three")
    with pytest.raises(ConfigError) as error:
        build_config("retinanet_spinenet_coco")
    available = str(error.value).split("available: ")[1]
    assert "resnet" in available and "spinenet" not in available
    # Another backbone and decoder over the same experiment run.
    config = build_config("retinanet_spinenet_coco", [],
                          "task.model.backbone.type=resnet,"
                          "task.model.decoder.type=fpn")
    assert config.task.model.backbone.spinenet.model_id == "49"


def test_unsupported_model_garden_experiment_is_said_so():
    with pytest.raises(ConfigError) as error:
        build_config("maskrcnn_resnetfpn_coco")
    assert "experiment 'maskrcnn_resnetfpn_coco' is a Model Garden " \
           "experiment that zoo does not run yet" in str(error.value)


def _tiny_digits(train_steps=4):
    config = training.get_experiment("resnet_digits")
    config.override({"trainer": {
        "train_steps": train_steps, "steps_per_loop": 2,
        "checkpoint_interval": 2, "validation_interval": train_steps,
        "best_checkpoint_export_subdir": ""}})
    return config


def test_float16_says_how_many_steps_the_loss_scale_skipped(tmp_path):
    """Point 9: under `mixed_float16` the dynamic loss scale starts at 2^15
    and the first steps overflow; their updates are skipped, the optimizer's
    iteration count (and with it the schedule) stays put, which is why the
    learning rate logged 0 during warmup. The logs now say so."""
    config = _tiny_digits()
    config.override("runtime.mixed_precision_dtype=float16")
    try:
        results = training.run_experiment(config, "train", str(tmp_path))
    finally:
        keras.config.set_dtype_policy("float32")
    assert "loss_scale" in results and "skipped_steps" in results
    assert results["loss_scale"] > 0
    rows = _csv_rows(str(tmp_path))
    for row in rows:
        assert 0 <= float(row["skipped_steps"]) <= float(row["step"])
        assert float(row["loss_scale"]) > 0
    from training import checkpoints

    _, optimizer, meta = checkpoints.read_checkpoint(
        checkpoints.list_checkpoints(str(tmp_path))[-1][1])
    assert meta["step"] == 4
    # The inner optimizer's iterations: the steps actually applied.
    iterations = [a for a, p in zip(optimizer, meta["optimizer_paths"])
                  if p.endswith("/iteration")
                  # The wrapper's own (named loss_scale_optimizer_<n> when
                  # the process has built others).
                  and not p.startswith("loss_scale_optimizer")]
    assert len(iterations) == 1, meta["optimizer_paths"]
    assert int(iterations[0]) == 4 - int(float(rows[-1]["skipped_steps"]))


# Log formatting: no backend involved.
@pytest.mark.one_backend
def test_loop_log_line_has_four_significant_figures(tmp_path, caplog):
    """Point 10: the per-loop line printed zeros as `0.0000e+00`."""
    config = _tiny_digits()
    with caplog.at_level(logging.INFO, logger="zoo"):
        training.run_experiment(config, "train_and_eval", str(tmp_path))
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4:", "4/4:"]
    assert "e+00" not in " ".join(lines)
    assert "corrupt_images=0 " in lines[-1] + " "
    loss = lines[-1].split("loss=")[1].split()[0]
    assert len(loss.replace(".", "").lstrip("0")) <= 4


def test_dilated_resnet_keys_build_the_model_gardens_backbone():
    """The backbone block of the Model Garden's Cityscapes DeepLabV3+ file
    (deeplabv3plus_resnet101_cityscapes_gpu.yaml, at depth 50 here) builds
    a ResNet at output stride 16 with the multigrid rates, the v1 stem
    of 64, 64, 128 channels, squeeze-excitation and stochastic depth;
    its defaults are the Model Garden's `DilatedResNet`
    (official/vision/configs/backbones.py)."""
    config = build_config(
        "image_classification", [],
        "task.model.backbone={type: dilated_resnet, dilated_resnet: "
        "{model_id: 50, output_stride: 16, stem_type: v1, se_ratio: 0.25, "
        "stochastic_depth_drop_rate: 0.2, multigrid: [1, 2, 4], "
        "last_stage_repeats: 1}}")
    selected = config.task.model.backbone.get()
    backbone = selected.build(features_only=True, input_shape=(64, 64, 3))
    assert [i["stride"] for i in backbone.feature_info] == [4, 8, 16, 16]
    assert [backbone.get_layer(f"stage5_block{b}_conv2").dilation_rate
            for b in (1, 2, 3)] == [(2, 2), (4, 4), (8, 8)]
    assert [backbone.get_layer(f"stem_conv{i}").filters
            for i in (1, 2, 3)] == [64, 64, 128]
    assert backbone.get_layer("stage2_block1_se") is not None
    assert backbone.drop_path_rate == 0.2
    defaults = type(selected)()
    assert (defaults.model_id, defaults.output_stride, defaults.multigrid,
            defaults.stem_type, defaults.last_stage_repeats,
            defaults.se_ratio, defaults.stochastic_depth_drop_rate,
            defaults.resnetd_shortcut, defaults.replace_stem_max_pool) == (
        50, 16, None, "v0", 1, 0.0, 0.0, False, False)
    with pytest.raises(ConfigError, match="last_stage_repeats=2"):
        build_config("image_classification", [],
                     "task.model.backbone={type: dilated_resnet, "
                     "dilated_resnet: {last_stage_repeats: 2}}")
