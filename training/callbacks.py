"""Callbacks the trainer hands to `Model.fit`.

One Keras "epoch" is one loop of `loop_steps` training steps; the callbacks
turn epochs back into global steps.
"""

import json
import logging
import math
import os
import sys
import time

import keras

from training import checkpoints
from zoo.errors import ZooError

logger = logging.getLogger("zoo")


class TrainingDivergedError(ZooError, RuntimeError):
    """The loss blew up more often than `recovery_max_trials` allows."""


def _sync_jax_state(model):
    """Makes the Keras variables current during `fit` on JAX.

    The JAX trainer keeps the training state outside the variables between
    epochs; after this call, variables read current values, and values
    assigned to them are what the next step uses.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def current_learning_rate(optimizer):
    """The optimizer's learning rate at its current iteration, as a float."""
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


def loss_scale_optimizer(optimizer):
    """The `LossScaleOptimizer` wrapping the model's optimizer, or None."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return None


class StepInfo(keras.callbacks.Callback):
    """Adds `step`, `steps_per_second` and `learning_rate` to the epoch logs.

    Under a dynamic loss scale (`mixed_float16`) it also adds `loss_scale`
    and `skipped_steps`: steps whose gradients overflowed were not applied,
    the optimizer's iteration count (which drives the learning-rate
    schedule) did not advance, so during warmup the logged rate stays at
    its step-0 value until the scale has come down. The first skipped steps
    are said in a log line.
    """

    def __init__(self, loop_steps):
        super().__init__()
        self.loop_steps = loop_steps
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        elapsed = time.perf_counter() - self._start
        step = (epoch + 1) * self.loop_steps
        logs["step"] = step
        logs["steps_per_second"] = self.loop_steps / max(elapsed, 1e-9)
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        scaled = loss_scale_optimizer(self.model.optimizer)
        if scaled is not None:
            _sync_jax_state(self.model)
            applied = int(keras.ops.convert_to_numpy(scaled.iterations))
            skipped = step - applied
            logs["loss_scale"] = float(
                keras.ops.convert_to_numpy(scaled.dynamic_scale))
            logs["skipped_steps"] = skipped
            if skipped and not getattr(self, "_said_skipped", False):
                self._said_skipped = True
                logger.info(
                    "The dynamic loss scale skipped %d of the first %d steps "
                    "(their float16 gradients overflowed); the learning-rate "
                    "schedule counts applied steps only. Scale now %g.",
                    skipped, step, logs["loss_scale"])


class Checkpointer(keras.callbacks.Callback):
    """Saves a checkpoint every `checkpoint_interval` steps and at the end."""

    def __init__(self, model_dir, loop_steps, checkpoint_interval,
                 train_steps, max_to_keep):
        super().__init__()
        self.model_dir = model_dir
        self.loop_steps = loop_steps
        self.checkpoint_interval = checkpoint_interval
        self.train_steps = train_steps
        self.max_to_keep = max_to_keep
        self.last_saved = None

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.loop_steps
        if step % self.checkpoint_interval and step != self.train_steps:
            return
        _sync_jax_state(self.model)
        path = checkpoints.save_checkpoint(
            self.model, self.model.optimizer, step, self.model_dir,
            max_to_keep=self.max_to_keep)
        self.last_saved = step
        logger.info("Saved checkpoint %s", path)


class LossGuard(keras.callbacks.Callback):
    """Restores the last checkpoint when the loss is NaN or too large.

    After `recovery_begin_steps`, a training loss that is not finite or
    exceeds `loss_upper_bound` restores the newest checkpoint (model and
    optimizer) and training goes on with the next batches. More than
    `max_trials` recoveries stop the run with `TrainingDivergedError`.
    """

    def __init__(self, model_dir, loop_steps, start_step, loss_upper_bound,
                 recovery_begin_steps, max_trials):
        super().__init__()
        self.model_dir = model_dir
        self.loop_steps = loop_steps
        self.start_step = start_step
        self.loss_upper_bound = loss_upper_bound
        self.recovery_begin_steps = recovery_begin_steps
        self.max_trials = max_trials
        self.trials = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        step = self._epoch * self.loop_steps + batch + 1
        if step < self.recovery_begin_steps:
            return
        loss = float(logs["loss"])
        if math.isfinite(loss) and loss <= self.loss_upper_bound:
            return
        self.trials += 1
        if self.trials > self.max_trials:
            raise TrainingDivergedError(
                f"Training loss is {loss} at step {step} (bound "
                f"{self.loss_upper_bound}); gave up after "
                f"{self.max_trials} recoveries (trainer.recovery_max_trials)."
            )
        _sync_jax_state(self.model)
        meta = checkpoints.restore_latest(self.model, self.model.optimizer,
                                          self.model_dir)
        if meta is None:
            raise TrainingDivergedError(
                f"Training loss is {loss} at step {step} and there is no "
                f"checkpoint in {self.model_dir} to recover from."
            )
        self.model.reset_metrics()
        logger.warning(
            "Loss %s at step %d: restored the step-%d checkpoint "
            "(recovery %d of %d); training goes on with the next batches.",
            loss, step, meta["step"], self.trials, self.max_trials,
        )


def write_scalars(writer, step, scalars):
    """Writes TensorBoard scalars at `step`.

    Args:
        writer: a `tf.summary` file writer, or a directory to open (and
            close) one in.
        step: int, the x axis.
        scalars: dict tag -> number.
    """
    import tensorflow as tf

    own = isinstance(writer, (str, os.PathLike))
    if own:
        writer = tf.summary.create_file_writer(str(writer))
    with writer.as_default(step=int(step)):
        for tag, value in scalars.items():
            tf.summary.scalar(tag, float(value))
    writer.flush()
    if own:
        writer.close()


class Summaries(keras.callbacks.Callback):
    """TensorBoard scalars under `model_dir/train` and `model_dir/validation`,
    with the global step on the x axis."""

    def __init__(self, model_dir, loop_steps, validation_subdir="validation"):
        super().__init__()
        import tensorflow as tf

        self.loop_steps = loop_steps
        self.train_writer = tf.summary.create_file_writer(
            os.path.join(model_dir, "train"))
        self.val_writer = tf.summary.create_file_writer(
            os.path.join(model_dir, validation_subdir))

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.loop_steps
        logs = {k: v for k, v in (logs or {}).items() if k != "step"}
        write_scalars(self.train_writer, step,
                      {k: v for k, v in logs.items()
                       if not k.startswith("val_")})
        write_scalars(self.val_writer, step,
                      {k[4:]: v for k, v in logs.items()
                       if k.startswith("val_")})

    def on_train_end(self, logs=None):
        self.train_writer.close()
        self.val_writer.close()


class BestExporter(keras.callbacks.Callback):
    """Exports the model as a preset when the validation metric improves.

    The best value and its step are kept in `<export_dir>/best.json`, so a
    resumed run only exports a model better than every earlier one.
    `write(model, preset_dir)` writes it (default: `save_to_preset`; the
    task's `write_export`).
    """

    def __init__(self, export_dir, metric, comparison, loop_steps,
                 preprocessor=None, write=None):
        super().__init__()
        self.write = write or (lambda model, path: model.save_to_preset(path))
        self.export_dir = export_dir
        self.metric = metric if metric.startswith("val_") else f"val_{metric}"
        self.higher = comparison == "higher"
        self.loop_steps = loop_steps
        self.preprocessor = preprocessor
        self.best = None
        record = os.path.join(export_dir, "best.json")
        if os.path.isfile(record):
            with open(record) as f:
                self.best = json.load(f)["value"]

    def _better(self, value):
        if self.best is None:
            return True
        return value > self.best if self.higher else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.metric not in logs:
            return
        value = float(logs[self.metric])
        if not math.isfinite(value) or not self._better(value):
            return
        _sync_jax_state(self.model)
        step = (epoch + 1) * self.loop_steps
        os.makedirs(self.export_dir, exist_ok=True)
        with ema_weights(self.model):
            saved = self.model.preprocessor
            self.model.preprocessor = self.preprocessor
            try:
                self.write(self.model,
                           os.path.join(self.export_dir, "preset"))
            finally:
                self.model.preprocessor = saved
        self.best = value
        tmp = os.path.join(self.export_dir, "best.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"metric": self.metric, "value": value, "step": step},
                      f)
        os.replace(tmp, os.path.join(self.export_dir, "best.json"))
        logger.info("New best %s = %.4f at step %d: exported to %s",
                    self.metric, value, step, self.export_dir)


def uses_ema(model):
    """Whether the model's optimizer (inside a loss-scale wrapper or not)
    keeps a moving average of the weights."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return bool(getattr(optimizer, "use_ema", False)) and bool(
        getattr(optimizer, "_model_variables_moving_average", None))


class ema_weights:
    """Context manager: the optimizer's EMA weights swapped into the model.

    Keras' `SwapEMAWeights` does the swap, through the hooks it runs around
    an evaluation; does nothing when the optimizer keeps no average.
    """

    def __init__(self, model):
        self.model = model
        self.swap = None

    def __enter__(self):
        if uses_ema(self.model):
            self.swap = keras.callbacks.SwapEMAWeights()
            self.swap.set_model(self.model)
            self.swap.on_test_begin()
        return self

    def __exit__(self, *exc):
        if self.swap is not None:
            self.swap.on_test_end()
        return False


class CorruptImageReport(keras.callbacks.Callback):
    """Adds a `CorruptImageCounter`'s count (`corrupt_images`, skipped so
    far) to the logs under its name and warns on new ones."""

    def __init__(self, counter):
        super().__init__()
        self.counter = counter
        self.reported = 0

    def on_epoch_end(self, epoch, logs=None):
        count = self.counter.count
        if logs is not None:
            logs[getattr(self.counter, "name", "corrupt_images")] = count
        if count > self.reported:
            logger.warning("Skipped %d %s so far.", count,
                           getattr(self.counter, "what",
                                   "undecodable images"))
            self.reported = count


def format_value(value):
    """A log value: ints as ints, floats with four significant figures."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float)
                                  and value.is_integer()
                                  and abs(value) < 1e15):
        return str(int(value))
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


class LoopLog(keras.callbacks.Callback):
    """One log line per loop of training steps, four significant figures.

    `step 20/180: accuracy=0.9531 loss=0.1632 ... corrupt_images=0`. On a
    terminal, the steps of the loop in progress are shown on one line.
    """

    def __init__(self, loop_steps, train_steps):
        super().__init__()
        self.loop_steps = loop_steps
        self.train_steps = train_steps
        self._epoch = 0
        self._last_progress = 0.0
        self._tty = sys.stderr.isatty()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not self._tty:
            return
        now = time.monotonic()
        if now - self._last_progress < 0.5:
            return
        self._last_progress = now
        step = self._epoch * self.loop_steps + batch + 1
        sys.stderr.write(f"\rstep {step}/{self.train_steps} ...")
        sys.stderr.flush()

    def on_epoch_end(self, epoch, logs=None):
        if self._tty:
            sys.stderr.write("\r\033[K")
        logs = dict(logs or {})
        step = int(logs.pop("step", (epoch + 1) * self.loop_steps))
        text = " ".join(f"{k}={format_value(v)}" for k, v in logs.items())
        logger.info("step %d/%d: %s", step, self.train_steps, text)
