"""The task interface: what to train, independent of how.

A task turns its `TaskConfig` into a model, input pipelines, a loss and
metrics; the trainer does the rest with `Model.fit`. As in the Model Garden's
`base_task.Task`.
"""

import logging
import os

import keras

logger = logging.getLogger("zoo")


class Task:
    """Base class of every task.

    Args:
        params: the task's config (a `TaskConfig` subclass).
    """

    #: Whether `build_inputs` skips undecodable images and counts them in
    #: its `counter` (reported as `corrupt_images` in the logs).
    counts_corrupt_images = False

    def __init__(self, params):
        self.params = params

    def build_model(self):
        """A new Keras model for this task (random weights)."""
        raise NotImplementedError

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        """A `tf.data.Dataset` of (features, labels) batches."""
        raise NotImplementedError

    def build_losses(self):
        """The Keras loss passed to `compile`."""
        raise NotImplementedError

    def build_metrics(self):
        """Keras metrics passed to `compile`."""
        return []

    def counters(self):
        """`CorruptImageCounter`s of what this task's pipelines skip besides
        undecodable images; each is logged under its name after every
        loop."""
        return []

    def export_preprocessor(self):
        """The preprocessor attached to exported presets, or None."""
        return None

    def write_export(self, model, preset_dir):
        """Writes the best model's preset (`BestExporter`): by default
        `model.save_to_preset(preset_dir)`; a task may write a serving form
        instead (a causal LM with LoRA merges it) and files beside it."""
        model.save_to_preset(preset_dir)

    @property
    def evaluates_itself(self):
        """Whether `evaluate` computes this task's validation metrics.

        False (the default): the trainer hands the validation data to
        `Model.fit`, which reports the compiled loss and metrics. True: the
        trainer calls `evaluate` after every validation interval instead and
        logs what it returns as `val_<name>`, where summaries, the CSV log
        and best-checkpoint export read it. For metrics over the whole
        validation set that no streaming Keras metric computes (SQuAD exact
        match and F1, correlations, entity F1).
        """
        return False

    def evaluate(self, model, data_config, *, steps=None):
        """Runs `model` over the validation data and scores it.

        Only called when `evaluates_itself` is True.

        Args:
            model: the task's model (trained weights, EMA swapped in).
            data_config: the validation `DataConfig`.
            steps: batches to evaluate, or None for all.

        Returns:
            dict metric name -> float (without the `val_` prefix).
        """
        raise NotImplementedError

    def initialize(self, model):
        """Loads `init_checkpoint` into `model` (all or the backbone)."""
        path = self.params.init_checkpoint
        if not path:
            return
        from training.checkpoints import load_checkpoint_state
        from zoo.weights import assign_state, get_state

        modules = self.params.init_checkpoint_modules
        target = model.backbone if modules == "backbone" else model
        if os.path.exists(path) and (
                os.path.isfile(path) or _is_checkpoint_dir(path)):
            state, _ = load_checkpoint_state(path)
            state = _select(state, target, model)
        else:
            import zoo

            source = zoo.from_preset(path)
            if modules == "backbone" and getattr(source, "backbone",
                                                 None) is not None:
                source = source.backbone  # a task preset; else a backbone
            state = get_state(source)
        assign_state(target, state,
                     input_conv=getattr(getattr(target, "backbone", target),
                                        "input_conv_layer", None),
                     source=path)
        logger.info("Initialised %s weights from %s.", modules, path)


def _is_checkpoint_dir(path):
    from training.checkpoints import list_checkpoints

    return bool(list_checkpoints(path))


def _select(state, target, model):
    """The entries of a checkpoint state that belong to `target`."""
    if target is model:
        return state
    paths = {v.path for v in target.weights}
    return {k: v for k, v in state.items() if k in paths}


def l2_regularize_kernels(model, l2_weight_decay):
    """Adds `l2_weight_decay / 2 * sum(w ** 2)` over every kernel to the loss.

    The Model Garden's `l2_weight_decay` convention (its `tf.nn.l2_loss` is
    half the squared norm). Biases and normalisation parameters are exempt.
    """
    if not l2_weight_decay:
        return
    regularizer = keras.regularizers.L2(l2_weight_decay / 2.0)
    for variable in model.trainable_weights:
        if variable.path.endswith("kernel"):
            variable.regularizer = regularizer



def per_process_batch(data_config, num_shards):
    """`global_batch_size` split over the processes.

    Raises:
        ConfigError: it is not a positive multiple of them.
    """
    from training.config.base import ConfigError

    batch = data_config.global_batch_size // max(1, num_shards)
    if batch <= 0:
        raise ConfigError(
            f"global_batch_size={data_config.global_batch_size} must be "
            f"a positive multiple of the {num_shards} process(es).")
    return batch


def record_files(data_config, shapes, tfds_hint):
    """The TFRecords of a dense-prediction data config: the drawn shapes
    set's split (`file_type: shapes`, drawn on first use by `shapes()`),
    else the files of `input_path`.

    Raises:
        ConfigError: a TFDS set is named (`tfds_hint` says what to do).
    """
    from training.config.base import ConfigError
    from training.data import readers

    if data_config.file_type == "shapes":
        split = "train" if data_config.is_training else "val"
        return shapes()[split]["tfrecords"]
    if data_config.tfds_name:
        raise ConfigError(f"tfds_name={data_config.tfds_name!r}: {tfds_hint}")
    return readers.list_files(data_config)
