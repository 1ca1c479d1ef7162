"""The trainer: an `ExperimentConfig` run through `Model.fit`.

`run_experiment(config, mode, model_dir)` is the whole job:

1. writes the resolved config to `model_dir/params.yaml`;
2. seeds every generator from `runtime.seed`, sets precision and devices,
   builds the distribution;
3. builds the model, optimizer, loss and metrics from the task, inside the
   distribution's scope;
4. restores the newest checkpoint of `model_dir` if there is one (model,
   optimizer, step; the data stream resumes at that step), else applies
   `task.init_checkpoint`;
5. calls `Model.fit` for the remaining steps: one Keras epoch per loop of
   `gcd(steps_per_loop, checkpoint_interval, validation_interval,
   train_steps)` steps, validation every `validation_interval` steps,
   checkpoints every `checkpoint_interval`, summaries, a CSV log, best-model
   export and loss blow-up recovery as callbacks.

Modes: `train`, `eval` (the newest checkpoint once), `train_and_eval`, and
`continuous_eval` (each new checkpoint as it appears, until the one at
`train_steps` or `continuous_eval_timeout` seconds without a new one).
"""

import contextlib
import json
import logging
import math
import os
import time
import warnings

import keras

from training import callbacks as cb
from training import checkpoints
from training.config.base import ConfigError
from training.distribution import build_distribution, configure_devices
from training.optimization import build_optimizer
from training.registry import get_task

logger = logging.getLogger("zoo")

MODES = ("train", "eval", "train_and_eval", "continuous_eval")
PARAMS_FILE = "params.yaml"
METRICS_CSV = "metrics.csv"


def _loop_steps(trainer_config):
    t = trainer_config
    loop = math.gcd(t.steps_per_loop, t.checkpoint_interval)
    loop = math.gcd(loop, t.validation_interval)
    if t.train_steps:
        loop = math.gcd(loop, t.train_steps)
    if loop != t.steps_per_loop:
        logger.info(
            "Reporting every %d steps (the gcd of steps_per_loop, "
            "checkpoint_interval, validation_interval and train_steps).",
            loop)
    return loop


@contextlib.contextmanager
def _quiet_end_of_data():
    """Silences Keras' 'input ran out of data' warning for validation sets.

    Validation streams have no known length (undecodable images are dropped
    on the way), so Keras reads them to the end and then warns, although a
    full pass is exactly what `validation_steps: -1` asks for.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def _set_precision(runtime):
    policy = {
        None: "float32",
        "float32": "float32",
        "float16": "mixed_float16",
        "bfloat16": "mixed_bfloat16",
    }[runtime.mixed_precision_dtype]
    keras.config.set_dtype_policy(policy)
    return policy


def _wrap_loss_scale(optimizer, runtime, policy):
    if policy != "mixed_float16":
        return optimizer
    if isinstance(runtime.loss_scale, (int, float)):
        # A fixed scale: never grows (it still halves on an overflow).
        return keras.optimizers.LossScaleOptimizer(
            optimizer, initial_scale=float(runtime.loss_scale),
            dynamic_growth_steps=2**31 - 1)
    return keras.optimizers.LossScaleOptimizer(optimizer)


class Trainer:
    """Builds and runs one experiment in `model_dir`.

    Args:
        config: `ExperimentConfig`.
        model_dir: directory for params, checkpoints, summaries, exports.
    """

    def __init__(self, config, model_dir):
        self.config = config
        self.model_dir = os.path.abspath(model_dir)
        self.task = get_task(config.task)
        self.distribution = None
        self.model = None
        self.counter = None

    # --- setup ---------------------------------------------------------------

    def _setup(self):
        runtime = self.config.runtime
        configure_devices(runtime)
        keras.utils.set_random_seed(runtime.seed)
        if runtime.deterministic_ops and (
                keras.backend.backend() == "tensorflow"):
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        self.policy = _set_precision(runtime)
        self.distribution = build_distribution(runtime)
        d = self.distribution
        logger.info("Distribution: %s, %d replica(s), process %d of %d.",
                    d.name, d.num_replicas, d.process_index + 1,
                    d.num_processes)
        with self.distribution.scope():
            model = self.task.build_model()
            optimizer = build_optimizer(
                self.config.trainer.optimizer_config, model=model,
                train_steps=self.config.trainer.train_steps)
            optimizer = _wrap_loss_scale(optimizer, runtime, self.policy)
            model.compile(
                optimizer=optimizer,
                loss=self.task.build_losses(),
                metrics=self.task.build_metrics(),
                run_eagerly=runtime.run_eagerly,
                jit_compile=(runtime.enable_xla
                             if keras.backend.backend() == "tensorflow"
                             else "auto"),
            )
            optimizer.build(model.trainable_variables)
        if hasattr(model, "preprocessor"):
            model.preprocessor = None  # the input pipeline preprocesses
        self.model = model
        return model

    def _inputs(self, data_config, start_step=0):
        from training.data.image_classification import CorruptImageCounter

        if self.counter is None and self.task.counts_corrupt_images:
            self.counter = CorruptImageCounter()
        d = self.distribution
        return self.task.build_inputs(
            data_config,
            seed=self.config.runtime.seed,
            start_step=start_step,
            num_shards=d.num_processes,
            shard_index=d.process_index,
            counter=self.counter,
        )

    def write_params(self):
        """Writes the resolved config to `model_dir/params.yaml`."""
        os.makedirs(self.model_dir, exist_ok=True)
        self.config.to_yaml(os.path.join(self.model_dir, PARAMS_FILE))

    # --- modes ---------------------------------------------------------------

    def train(self, evaluate=True):
        """Trains to `train_steps`, resuming from the newest checkpoint.

        Returns:
            dict of the last logs (train and validation metrics).
        """
        t = self.config.trainer
        if t.train_steps <= 0:
            raise ConfigError("trainer.train_steps must be positive to train.")
        model = self._setup()
        meta = checkpoints.restore_latest(model, model.optimizer,
                                          self.model_dir)
        start_step = meta["step"] if meta else 0
        if meta is None:
            self.task.initialize(model)
        loop = _loop_steps(t)
        if start_step % loop:
            raise ConfigError(
                f"The newest checkpoint is at step {start_step}, which is not"
                f" a multiple of the {loop}-step loop of this config; the "
                "config changed since it was written."
            )
        if start_step >= t.train_steps:
            logger.info("Already trained to step %d of %d.", start_step,
                        t.train_steps)
            return self.evaluate_model() if evaluate else {}
        if start_step:
            logger.info("Resuming at step %d of %d.", start_step,
                        t.train_steps)
        train_ds = self._inputs(self.config.task.train_data, start_step)
        val_ds = None
        if evaluate and not self.task.evaluates_itself:
            val_ds = self._validation_inputs()
        with _quiet_end_of_data():
            history = model.fit(
                train_ds,
                epochs=t.train_steps // loop,
                initial_epoch=start_step // loop,
                steps_per_epoch=loop,
                validation_data=val_ds,
                validation_freq=max(1, t.validation_interval // loop),
                callbacks=self._callbacks(loop, start_step, evaluate),
                shuffle=False,  # the input pipeline shuffles
                verbose=0,  # cb.LoopLog reports, with 4 significant figures
            )
        return {k: v[-1] for k, v in history.history.items()}

    def _validation_inputs(self):
        """The validation batches every evaluation scores.

        `validation_steps: N > 0` scores the first N batches each time (the
        Model Garden's reading): the stream is cut to N batches and read
        from its start at every evaluation, so no evaluation runs out of
        data and all of them see the same examples; -1 scores all.
        """
        dataset = self._inputs(self.config.task.validation_data)
        steps = self.config.trainer.validation_steps
        if steps > 0:
            dataset = dataset.take(steps)
        return dataset

    def _callbacks(self, loop, start_step, evaluate):
        t = self.config.trainer
        chief = self.distribution.is_chief
        result = [cb.StepInfo(loop)]
        if cb.uses_ema(self.model) and evaluate:
            # Evaluations inside fit score the average (Keras swaps it in
            # for the test loop only; checkpoints keep the raw weights).
            result.append(keras.callbacks.SwapEMAWeights())
        if evaluate and self.task.evaluates_itself:
            # Early, so that every later callback sees the val_ metrics.
            result.append(_TaskEvaluation(self, loop))
        if self.counter is not None:
            result.append(cb.CorruptImageReport(self.counter))
        # The task's own counts (e.g. a detector's dropped boxes).
        result.extend(cb.CorruptImageReport(c) for c in self.task.counters())
        if t.recovery_max_trials >= 0:
            # 0 trials: a blow-up stops the run; more: restore and go on.
            result.append(cb.LossGuard(
                self.model_dir, loop, start_step, t.loss_upper_bound,
                t.recovery_begin_steps, t.recovery_max_trials))
        if evaluate and t.best_checkpoint_export_subdir and chief:
            result.append(cb.BestExporter(
                os.path.join(self.model_dir, t.best_checkpoint_export_subdir),
                t.best_checkpoint_eval_metric or "accuracy",
                t.best_checkpoint_metric_comp,
                loop,
                preprocessor=self.task.export_preprocessor(),
                write=self.task.write_export,
            ))
        # Every process checkpoints (collectives need them all); only the
        # chief writes into model_dir, which every process resumes from.
        save_dir = self.model_dir if chief else os.path.join(
            self.model_dir, "workers", str(self.distribution.process_index))
        result.append(cb.Checkpointer(save_dir, loop,
                                      t.checkpoint_interval, t.train_steps,
                                      t.max_to_keep))
        if chief:
            result.append(cb.Summaries(self.model_dir, loop,
                                       t.validation_summary_subdir))
            result.append(keras.callbacks.CSVLogger(
                os.path.join(self.model_dir, METRICS_CSV), append=True))
        result.append(cb.LoopLog(loop, t.train_steps))
        return result

    def evaluate_model(self):
        """Evaluates the current weights on the validation data."""
        if self.task.evaluates_itself:
            return self._task_evaluation()
        val_ds = self._validation_inputs()
        with cb.ema_weights(self.model), _quiet_end_of_data():
            results = self.model.evaluate(val_ds, return_dict=True,
                                          verbose=0)
        return {f"val_{k}": float(v) for k, v in results.items()}

    def _task_evaluation(self):
        """The task's own validation metrics (`Task.evaluate`), `val_`-named."""
        t = self.config.trainer
        with cb.ema_weights(self.model), _quiet_end_of_data():
            results = self.task.evaluate(
                self.model, self.config.task.validation_data,
                steps=None if t.validation_steps < 0 else t.validation_steps)
        return {f"val_{k}": float(v) for k, v in results.items()}

    def evaluate(self, checkpoint_path=None):
        """Evaluates a checkpoint (default: the newest) once.

        Returns:
            dict of validation metrics, plus `step`.

        Raises:
            ConfigError: there is no checkpoint to evaluate.
        """
        if self.model is None:
            self._setup()
        if checkpoint_path is None:
            found = checkpoints.list_checkpoints(self.model_dir)
            if not found:
                raise ConfigError(
                    f"No checkpoint to evaluate in {self.model_dir}.")
            checkpoint_path = found[-1][1]
        meta = checkpoints.restore_checkpoint(self.model, self.model.optimizer,
                                              checkpoint_path)
        results = self.evaluate_model()
        results["step"] = meta["step"]
        self._write_eval(results)
        logger.info("Step %d: %s", meta["step"], _format(results))
        return results

    def _write_eval(self, results):
        path = os.path.join(self.model_dir, "eval_results.jsonl")
        with open(path, "a") as f:
            f.write(json.dumps(results) + "\n")
        cb.write_scalars(
            os.path.join(self.model_dir,
                         self.config.trainer.validation_summary_subdir),
            int(results["step"]),
            {name[4:]: value for name, value in results.items()
             if name.startswith("val_")})

    def continuous_eval(self, poll_seconds=2.0):
        """Evaluates every new checkpoint until the last one.

        Stops after evaluating the checkpoint at `train_steps`, or after
        `continuous_eval_timeout` seconds without a new checkpoint.

        Returns:
            list of result dicts, one per evaluated checkpoint.
        """
        t = self.config.trainer
        seen, results = set(), []
        last_new = time.monotonic()
        while True:
            found = [c for c in checkpoints.list_checkpoints(self.model_dir)
                     if c[0] not in seen]
            for step, path in found:
                seen.add(step)
                last_new = time.monotonic()
                try:
                    results.append(self.evaluate(path))
                except Exception as e:  # pruned or half-visible: skip it
                    logger.warning("Could not evaluate %s: %s", path, e)
                    continue
                if step >= t.train_steps > 0:
                    return results
            if time.monotonic() - last_new > t.continuous_eval_timeout:
                logger.info("No new checkpoint for %ds; stopping.",
                            t.continuous_eval_timeout)
                return results
            time.sleep(poll_seconds)


class _TaskEvaluation(keras.callbacks.Callback):
    """Adds the task's own validation metrics to the logs of every
    `validation_interval` (for tasks whose `evaluates_itself`)."""

    def __init__(self, trainer, loop_steps):
        super().__init__()
        self.trainer = trainer
        self.every = max(1, trainer.config.trainer.validation_interval
                         // loop_steps)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every:
            return
        cb._sync_jax_state(self.model)
        logs.update(self.trainer._task_evaluation())


def _format(results):
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in results.items())


def run_experiment(config, mode="train_and_eval", model_dir=None):
    """Runs an experiment: the Model Garden's `train_lib.run_experiment`.

    Args:
        config: `ExperimentConfig`.
        mode: one of `MODES`.
        model_dir: where params, checkpoints, summaries and exports go.

    Returns:
        dict of final metrics (for `train*` modes), or a list of evaluation
        results for `continuous_eval`.

    Raises:
        ConfigError: a bad mode, config or missing `model_dir`.
    """
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} is not one of {list(MODES)}.")
    if not model_dir:
        raise ConfigError("run_experiment needs a model_dir.")
    trainer = Trainer(config, model_dir)
    if mode != "continuous_eval" and mode != "eval":
        trainer.write_params()
    if mode == "train":
        return trainer.train(evaluate=False)
    if mode == "train_and_eval":
        return trainer.train(evaluate=True)
    if mode == "eval":
        return trainer.evaluate()
    return trainer.continuous_eval()
