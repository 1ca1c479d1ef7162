"""The trainer, end to end on real data: accuracy, artifacts, resumption after
SIGKILL, checkpoint fallback, loss blow-up recovery, Model Garden YAML."""

import csv
import dataclasses
import glob
import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import training
import zoo
from training import checkpoints
from training.callbacks import TrainingDivergedError
from training.config import ConfigError, ExperimentConfig
from training.data.readers import digits_arrays
from training.registry import register_experiment, register_task
from training.tasks.image_classification import (
    ImageClassificationConfig,
    ImageClassificationTask,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """The embedded default experiment, trained once for this module."""
    model_dir = str(tmp_path_factory.mktemp("digits"))
    config = training.get_experiment("resnet_digits")
    start = time.time()
    results = training.run_experiment(config, "train_and_eval", model_dir)
    return config, model_dir, results, time.time() - start


def test_resnet_digits_reaches_97_percent(digits_run):
    _, _, results, seconds = digits_run
    print(f"resnet_digits: {seconds:.1f} s, val top-1 "
          f"{results['val_accuracy']:.4f}")
    assert results["val_accuracy"] >= 0.97
    assert results["step"] == 180


def test_run_artifacts(digits_run):
    config, model_dir, _, _ = digits_run
    again = ExperimentConfig.from_yaml(os.path.join(model_dir,
                                                    "params.yaml"))
    assert again == config
    steps = [s for s, _ in checkpoints.list_checkpoints(model_dir)]
    assert steps == [140, 160, 180]  # max_to_keep: 3
    with open(os.path.join(model_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["step"])) for r in rows] == list(range(20, 181, 20))
    assert float(rows[-1]["learning_rate"]) < float(rows[0]["learning_rate"])
    tags = set()
    for event_file in glob.glob(os.path.join(model_dir, "train", "*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(v.tag for v in event.summary.value)
    assert {"loss", "accuracy", "learning_rate", "steps_per_second"} <= tags
    assert glob.glob(os.path.join(model_dir, "validation", "events.*"))


def test_best_export_predicts_raw_digits(digits_run):
    _, model_dir, results, _ = digits_run
    model = zoo.from_preset(os.path.join(model_dir, "best", "preset"))
    images, labels = digits_arrays(is_training=False)
    predicted = np.argmax(model.predict(images, verbose=0), axis=-1)
    accuracy = float(np.mean(predicted == labels))
    assert accuracy == pytest.approx(results["val_accuracy"], abs=0.01)


def test_eval_and_continuous_eval_modes(digits_run):
    config, model_dir, results, _ = digits_run
    once = training.run_experiment(config, "eval", model_dir)
    assert once["step"] == 180
    assert once["val_accuracy"] == pytest.approx(results["val_accuracy"],
                                                 abs=1e-6)
    evaluated = training.run_experiment(config, "continuous_eval", model_dir)
    assert [r["step"] for r in evaluated] == [140, 160, 180]


def test_rerun_of_a_finished_run_trains_nothing(digits_run):
    config, model_dir, results, _ = digits_run
    before = os.path.getmtime(checkpoints.list_checkpoints(model_dir)[-1][1])
    again = training.run_experiment(config, "train_and_eval", model_dir)
    assert again["val_accuracy"] == pytest.approx(results["val_accuracy"],
                                                  abs=1e-6)
    after = os.path.getmtime(checkpoints.list_checkpoints(model_dir)[-1][1])
    assert before == after


# --- resumption ---------------------------------------------------------------

RESUME_OVERRIDES = ",".join([
    "trainer.train_steps=60", "trainer.steps_per_loop=10",
    "trainer.checkpoint_interval=10", "trainer.validation_interval=100",
    "trainer.max_to_keep=20", "trainer.best_checkpoint_export_subdir=''",
    "trainer.optimizer_config.learning_rate.cosine.decay_steps=60",
    "runtime.deterministic_ops=true",
])


def _train_command(model_dir):
    return [sys.executable, "-m", "training.cli", "train",
            "--experiment", "resnet_digits", "--mode", "train",
            "--params_override", RESUME_OVERRIDES, "--model_dir", model_dir]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)


def _final_arrays(model_dir, step=60):
    model, optimizer, meta = checkpoints.read_checkpoint(os.path.join(
        model_dir, "checkpoints", f"ckpt-{step:08d}.npz"))
    assert meta["step"] == step
    return model + optimizer


# Resumption is the trainer's checkpoint logic, the same on every backend.
@pytest.mark.one_backend
def test_sigkill_then_restart_matches_uninterrupted_run(tmp_path):
    reference = str(tmp_path / "reference")
    subprocess.run(_train_command(reference), env=_env(), check=True,
                   capture_output=True, timeout=600)

    interrupted = str(tmp_path / "interrupted")
    process = subprocess.Popen(_train_command(interrupted), env=_env(),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    first = os.path.join(interrupted, "checkpoints", "ckpt-00000010.npz")
    deadline = time.time() + 300
    while not os.path.exists(first) and process.poll() is None:
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = [s for s, _ in checkpoints.list_checkpoints(interrupted)]
    assert 60 not in done, "the run finished before it was killed"
    assert not glob.glob(os.path.join(interrupted, "checkpoints", "ckpt-*"
                                      ".npz.tmp"))

    restarted = subprocess.run(_train_command(interrupted), env=_env(),
                               capture_output=True, text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert f"Resuming at step {max(done)}" in restarted.stderr
    ours_all, theirs_all = _final_arrays(interrupted), _final_arrays(reference)
    assert len(ours_all) == len(theirs_all) > 0
    for ours, theirs in zip(ours_all, theirs_all):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


# Checkpoint fallback is backend-independent file handling.
@pytest.mark.one_backend
def test_corrupt_newest_checkpoint_falls_back(tmp_path, caplog):
    model_dir = str(tmp_path)
    config = training.get_experiment("resnet_digits")
    config.override("trainer.train_steps=20,trainer.steps_per_loop=10,"
                    "trainer.checkpoint_interval=10,"
                    "trainer.validation_interval=20,"
                    "trainer.best_checkpoint_export_subdir=''")
    training.run_experiment(config, "train", model_dir)
    newest = checkpoints.list_checkpoints(model_dir)[-1][1]
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    config.override("trainer.train_steps=30")
    with caplog.at_level(logging.INFO, logger="zoo"):
        training.run_experiment(config, "train", model_dir)
    assert "unreadable" in caplog.text
    assert "Resuming at step 10" in caplog.text
    steps = [s for s, _ in checkpoints.list_checkpoints(model_dir)]
    assert steps[-2:] == [20, 30]
    checkpoints.read_checkpoint(checkpoints.list_checkpoints(
        model_dir)[-2][1])  # rewritten whole


# --- loss blow-up recovery ------------------------------------------------------


@dataclasses.dataclass
class NaNInjectingTask(ImageClassificationConfig):
    """Image classification whose training batches turn NaN at given steps."""

    nan_steps: list = dataclasses.field(default_factory=list)


@register_task(NaNInjectingTask)
class NaNInjectingRunner(ImageClassificationTask):
    """Replaces the images of the listed (0-based) training batches by NaN."""

    def build_inputs(self, data_config, *, start_step=0, **kwargs):
        dataset = super().build_inputs(data_config, start_step=start_step,
                                       **kwargs)
        if not data_config.is_training:
            return dataset
        bad = tf.constant(self.params.nan_steps or [-1], tf.int64)

        def poison(step, batch):
            images, labels = batch
            hit = tf.reduce_any(tf.equal(step + start_step, bad))
            images = tf.where(hit, tf.fill(tf.shape(images), np.nan), images)
            return images, labels

        return dataset.enumerate().map(poison)


@register_experiment("test_nan_digits")
def _nan_digits():
    base = training.get_experiment("resnet_digits")
    return ExperimentConfig(
        task=NaNInjectingTask(**{f.name: getattr(base.task, f.name)
                                 for f in dataclasses.fields(base.task)}),
        trainer=base.trainer, runtime=base.runtime)


def _nan_config(nan_steps, max_trials):
    config = training.get_experiment("test_nan_digits")
    config.task.nan_steps = nan_steps
    config.override({
        "trainer": {"train_steps": 30, "steps_per_loop": 10,
                    "checkpoint_interval": 10, "validation_interval": 30,
                    "recovery_max_trials": max_trials,
                    "best_checkpoint_export_subdir": ""}})
    return config


# NaN recovery is the trainer's checkpoint logic.
@pytest.mark.one_backend
def test_nan_loss_restores_last_checkpoint_and_continues(tmp_path, caplog):
    config = _nan_config(nan_steps=[14], max_trials=2)
    with caplog.at_level(logging.WARNING, logger="zoo"):
        results = training.run_experiment(config, "train", str(tmp_path))
    assert "restored the step-10 checkpoint (recovery 1 of 2)" in caplog.text
    assert np.isfinite(results["loss"])
    model, _, meta = checkpoints.read_checkpoint(
        checkpoints.list_checkpoints(str(tmp_path))[-1][1])
    assert meta["step"] == 30
    assert all(np.all(np.isfinite(a)) for a in model
               if np.issubdtype(a.dtype, np.floating))


# NaN recovery is the trainer's checkpoint logic.
@pytest.mark.one_backend
def test_nan_loss_beyond_max_trials_stops_with_clear_error(tmp_path):
    config = _nan_config(nan_steps=list(range(12, 30)), max_trials=2)
    with pytest.raises(TrainingDivergedError, match="gave up after 2"):
        training.run_experiment(config, "train", str(tmp_path))


def test_cli_reports_bad_configs_in_one_line(tmp_path, capsys):
    from training.cli import main

    cases = [
        ("--params_override", "trainer.train_stepz=1", "train_stepz"),
        ("--params_override", "trainer.train_steps=abc", "expected int"),
        ("--params_override", "trainer.train_steps", "key=value"),
        ("--config_file", str(tmp_path / "missing.yaml"), "does not exist"),
    ]
    for flag, value, expected in cases:
        status = main(["train", "--experiment", "resnet_digits", flag, value,
                       "--model_dir", str(tmp_path / "run")])
        err = capsys.readouterr().err.strip()
        assert status == 2
        assert expected in err and "\n" not in err, err
    status = main(["train", "--experiment", "resnet_digitz",
                   "--model_dir", str(tmp_path / "run")])
    assert status == 2 and "'resnet_digits'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="mode='fit'"):
        training.run_experiment(training.get_experiment("resnet_digits"),
                                "fit", str(tmp_path))


# --- fine-tuning initialisation and EMA -------------------------------------------


def test_init_checkpoint_backbone_only_from_run_and_preset(digits_run,
                                                           tmp_path):
    from training.trainer import Trainer

    _, model_dir, _, _ = digits_run
    _, path = checkpoints.list_checkpoints(model_dir)[-1]
    trained, _, meta = checkpoints.read_checkpoint(path)
    trained = dict(zip(meta["model_paths"], trained))
    preset = os.path.join(model_dir, "best", "preset")
    exported = np.asarray(zoo.from_preset(preset).backbone.get_layer(
        "stem_conv1").kernel)
    for source, expected in ((model_dir, trained["stem_conv1/kernel"]),
                             (preset, exported)):
        config = training.get_experiment("resnet_digits")
        config.override({"task": {"init_checkpoint": source,
                                  "init_checkpoint_modules": "backbone"}})
        trainer = Trainer(config, str(tmp_path / "fresh"))
        model = trainer._setup()
        head_before = np.asarray(model.get_layer("predictions").kernel)
        trainer.task.initialize(model)
        np.testing.assert_array_equal(
            np.asarray(model.backbone.get_layer("stem_conv1").kernel),
            expected)
        np.testing.assert_array_equal(
            np.asarray(model.get_layer("predictions").kernel), head_before)


def test_ema_weights_are_what_gets_evaluated_and_exported(tmp_path):
    """Checkpoints keep the raw weights and the averages apart; evaluation
    and the best-model export use the averages (the Model Garden's EMA,
    checked against numpy in test_optimization.py)."""
    config = training.get_experiment("resnet_digits")
    config.override({"trainer": {
        "train_steps": 40, "steps_per_loop": 20, "checkpoint_interval": 20,
        "validation_interval": 20,
        "optimizer_config": {"ema": {"average_decay": 0.5,
                                     "dynamic_decay": False}}}})
    results = training.run_experiment(config, "train_and_eval",
                                      str(tmp_path))
    with open(tmp_path / "best" / "best.json") as f:
        best = json.load(f)
    model_arrays, optimizer_arrays, meta = checkpoints.read_checkpoint(
        str(tmp_path / "checkpoints" / f"ckpt-{best['step']:08d}.npz"))
    raw = dict(zip(meta["model_paths"], model_arrays))
    averages = {p.rsplit("/", 1)[1][:-len("_average")]: a for p, a in zip(
        meta["optimizer_paths"], optimizer_arrays) if p.endswith("_average")}
    exported = zoo.from_preset(str(tmp_path / "best" / "preset"))
    kernel = np.asarray(exported.get_layer("predictions").kernel)
    np.testing.assert_array_equal(kernel, averages["predictions_kernel"])
    assert not np.allclose(kernel, raw["predictions/kernel"])
    # The validation score is the averaged model's.
    images, labels = digits_arrays(is_training=False)
    predicted = np.argmax(exported.predict(images, verbose=0), axis=-1)
    assert float(np.mean(predicted == labels)) == pytest.approx(
        best["value"], abs=1e-6)
    assert results["val_accuracy"] <= best["value"] + 1e-9
