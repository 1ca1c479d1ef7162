"""The experiment config: runtime, task and trainer, as in the Model Garden.

Field names follow `official/core/config_definitions.py` so that Model Garden
YAML files parse; fields that have no meaning on Keras 3 are accepted and
documented as such rather than rejected.
"""

import dataclasses
from typing import List, Optional, Union

from training.config.base import Config, ConfigError, config_field
from training.config.optimization import OptimizationConfig



@dataclasses.dataclass
class DataConfig(Config):
    """Where the data comes from and how it is batched.

    Attributes:
        input_path: file pattern(s), comma-separated or a list: TFRecords in
            the Model Garden's format, or a directory of class folders.
        file_type: `"tfrecord"`, `"folder"`, `"tfds"`, `"synthetic"` or
            `"digits"` (the scikit-learn 8x8 digits, embedded); empty infers
            it from `input_path` / `tfds_name`.
        tfds_name, tfds_split, tfds_data_dir: a TensorFlow Datasets set, read
            from `tfds_data_dir` (never downloaded).
        global_batch_size: batch size summed over every replica and process.
        is_training: shuffle, repeat and augment when True.
        drop_remainder: drop the last partial batch.
        shuffle_buffer_size: elements in the shuffle buffer.
        cache: cache decoded examples in memory.
        cycle_length, block_length: file interleaving.
        deterministic: order outputs deterministically (default True).
        sharding: shard the input files/examples per process.
        seed: seed of shuffling and augmentation; None uses the run's seed.
        prefetch_buffer_size: None autotunes.
        dtype: dtype of the images handed to the model.
        skip_corrupt: skip (and count) undecodable images instead of failing.
        num_examples: examples for `"synthetic"` data; a cap for others
            (-1: all).

    The Model Garden's tf.data service, TFDS-decoding and trainer-id fields
    are accepted at their defaults only.
    """

    input_path: Union[str, List[str]] = ""
    file_type: str = ""
    tfds_name: str = ""
    tfds_split: str = ""
    tfds_data_dir: str = ""
    global_batch_size: int = 0
    is_training: Optional[bool] = None
    drop_remainder: bool = True
    shuffle_buffer_size: int = 100
    cache: bool = False
    cycle_length: Optional[int] = None
    block_length: int = 1
    deterministic: Optional[bool] = None
    sharding: bool = True
    seed: Optional[int] = None
    prefetch_buffer_size: Optional[int] = None
    dtype: str = "float32"
    skip_corrupt: bool = True
    num_examples: int = -1
    enable_tf_data_service: bool = False
    tf_data_service_address: Optional[str] = None
    tf_data_service_job_name: Optional[str] = None
    tfds_as_supervised: bool = False
    tfds_skip_decoding_feature: str = ""
    enable_shared_tf_data_service_between_parallel_trainers: bool = False
    apply_tf_data_service_before_batching: bool = False
    trainer_id: Optional[str] = None
    ram_budget: Optional[int] = None
    autotune_algorithm: Optional[str] = None

    def validate(self, path=""):
        if self.enable_tf_data_service or (
                self.enable_shared_tf_data_service_between_parallel_trainers):
            raise ConfigError(
                f"{path}.enable_tf_data_service is not supported; the input "
                "pipeline runs in the training process.")


@dataclasses.dataclass
class RuntimeConfig(Config):
    """Devices, distribution, precision.

    Attributes:
        distribution_strategy: `"one_device"`, `"mirrored"`,
            `"multi_worker_mirrored"`, `"tpu"` (TensorFlow); `"data_parallel"`,
            `"model_parallel"` (JAX); `"mirrored"` on JAX means data parallel
            over the local devices; `"off"` / empty: the default device.
        mixed_precision_dtype: `"float16"`, `"bfloat16"` or None/`"float32"`.
        loss_scale: `"dynamic"` or a fixed float, for float16.
        num_gpus: GPUs to use (0: all there are, for mirrored).
        tpu: TPU address for `"tpu"`.
        worker_hosts: comma-separated `host:port` of every process, for
            multi-worker training (TF) or `keras.distribution.initialize` (JAX).
        task_index: this process's index in `worker_hosts`.
        enable_xla: jit-compile the train step on TensorFlow.
        run_eagerly: no compilation at all (debugging).
        seed: seed of everything (weights, data order, dropout); set
            identically on every process.
        model_parallel_layout: for `"model_parallel"`: variable path regex ->
            sharding axes, e.g. `{".*dense.*kernel": [null, "model"]}`.
        mesh_shape: for `"model_parallel"`: `[data, model]` device counts.
        num_cpu_devices: split the host CPU into this many devices (to run
            data parallelism without accelerators); 0 leaves it whole.
        deterministic_ops: make TensorFlow kernels deterministic (slower);
            JAX on CPU is deterministic already.

    `distribution_strategy` defaults to `"mirrored"`, as in the Model
    Garden (over the local GPUs, else the CPU).
    """

    # YAML reads a bare `off` as False, so a bool is accepted and normalised.
    distribution_strategy: Union[str, bool, None] = "mirrored"
    enable_xla: bool = False
    gpu_thread_mode: Optional[str] = None
    dataset_num_private_threads: Optional[int] = None
    per_gpu_thread_count: int = 0
    tpu: Optional[str] = None
    num_gpus: int = 0
    worker_hosts: Optional[str] = None
    task_index: int = -1
    all_reduce_alg: Optional[str] = None
    num_packs: int = 1
    mixed_precision_dtype: Optional[str] = None
    loss_scale: Optional[Union[str, float]] = None
    run_eagerly: bool = False
    batchnorm_spatial_persistent: bool = False
    seed: int = 42
    model_parallel_layout: Optional[dict] = None
    mesh_shape: Optional[List[int]] = None
    num_cpu_devices: int = 0
    deterministic_ops: bool = False
    tpu_enable_xla_dynamic_padder: Optional[bool] = None
    num_cores_per_replica: int = 1
    default_shard_dim: int = -1
    use_tpu_mp_strategy: bool = False

    def validate(self, path=""):
        if self.distribution_strategy is False or (
                self.distribution_strategy is None):
            self.distribution_strategy = "off"
        elif self.distribution_strategy is True:
            raise ConfigError(
                f"{path}.distribution_strategy must name a strategy, got true."
            )
        allowed = (None, "float32", "float16", "bfloat16")
        if self.mixed_precision_dtype not in allowed:
            raise ConfigError(
                f"{path}.mixed_precision_dtype: {self.mixed_precision_dtype!r}"
                f" is not one of {list(allowed)}."
            )
        if isinstance(self.loss_scale, str) and self.loss_scale != "dynamic":
            raise ConfigError(
                f"{path}.loss_scale: {self.loss_scale!r} must be 'dynamic' or "
                "a number."
            )


@dataclasses.dataclass
class TrainerConfig(Config):
    """Steps, intervals, checkpoints, best-model export, loss blow-up recovery.

    Training runs `train_steps` steps through `Model.fit`; evaluation every
    `validation_interval` steps over `validation_steps` batches (-1: all);
    checkpoints every `checkpoint_interval` steps, keeping `max_to_keep`.
    Metrics are reported every `steps_per_loop` steps.
    """

    optimizer_config: OptimizationConfig = config_field(OptimizationConfig)
    train_tf_while_loop: bool = True
    train_tf_function: bool = True
    eval_tf_function: bool = True
    eval_tf_while_loop: bool = False
    allow_tpu_summary: bool = False
    steps_per_loop: int = 1000
    summary_interval: int = 1000
    checkpoint_interval: int = 1000
    max_to_keep: int = 5
    continuous_eval_timeout: int = 60 * 60
    train_steps: int = 0
    validation_steps: int = -1
    validation_interval: int = 1000
    best_checkpoint_export_subdir: str = ""
    best_checkpoint_eval_metric: str = ""
    best_checkpoint_metric_comp: str = "higher"
    loss_upper_bound: float = 1e6
    recovery_begin_steps: int = 0
    recovery_max_trials: int = 0
    validation_summary_subdir: str = "validation"
    preemption_on_demand_checkpoint: bool = True

    def validate(self, path=""):
        for name in ("steps_per_loop", "checkpoint_interval",
                     "validation_interval", "summary_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{path}.{name} must be positive.")
        if self.train_steps < 0:
            raise ConfigError(f"{path}.train_steps must not be negative.")
        if self.best_checkpoint_metric_comp not in ("higher", "lower"):
            raise ConfigError(
                f"{path}.best_checkpoint_metric_comp: "
                f"{self.best_checkpoint_metric_comp!r} is not 'higher' or "
                "'lower'."
            )
        if self.max_to_keep < 1:
            raise ConfigError(f"{path}.max_to_keep must be at least 1.")


@dataclasses.dataclass
class TaskConfig(Config):
    """Base of task configs: model, data and initial weights.

    `init_checkpoint`: a zoo checkpoint file or directory, or a preset handle
    (anything `zoo.from_preset` takes); `init_checkpoint_modules`: `"all"` or
    `"backbone"`.
    """

    init_checkpoint: Optional[str] = ""
    init_checkpoint_modules: str = "all"
    model: Optional[Config] = None
    train_data: DataConfig = config_field(DataConfig)
    validation_data: DataConfig = config_field(DataConfig)
    name: Optional[str] = None
    differential_privacy_config: Optional[dict] = None
    allow_image_summary: bool = False

    def validate(self, path=""):
        if self.init_checkpoint_modules not in ("all", "backbone"):
            raise ConfigError(
                f"{path}.init_checkpoint_modules: "
                f"{self.init_checkpoint_modules!r} is not 'all' or "
                "'backbone'."
            )


@dataclasses.dataclass
class ExperimentConfig(Config):
    """The whole experiment: what to train (task), how (trainer), where
    (runtime).

    `experiment` names the registered experiment the config started from; it
    is what lets `from_yaml` rebuild the right task config class from a saved
    `params.yaml`.
    """

    task: TaskConfig = config_field(TaskConfig)
    trainer: TrainerConfig = config_field(TrainerConfig)
    runtime: RuntimeConfig = config_field(RuntimeConfig)
    experiment: str = ""

    @classmethod
    def from_yaml(cls, path, experiment=None):
        """Loads a YAML file on top of a registered experiment's defaults.

        Args:
            path: the YAML file.
            experiment: registered experiment name; defaults to the file's
                own `experiment` key, else a bare `ExperimentConfig`.
        """
        from training.config.base import load_yaml_file
        from training.registry import get_experiment

        data = load_yaml_file(path)
        name = experiment or data.get("experiment")
        config = get_experiment(name) if name else cls()
        return config.override(data)
