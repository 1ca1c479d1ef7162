"""`runtime.distribution_strategy` mapped onto each backend.

| strategy | TensorFlow | JAX |
|---|---|---|
| `off` (default) | default device | default device |
| `one_device` | `tf.distribute.OneDeviceStrategy` | default device |
| `mirrored` | `MirroredStrategy` over the GPUs, else the CPU devices | `keras.distribution.DataParallel` over the local devices |
| `data_parallel` | (use `mirrored`) | `DataParallel` over every process's devices |
| `multi_worker_mirrored` | an error: Keras 3's `fit` does not run under it | (use `data_parallel` with `worker_hosts`) |
| `model_parallel` | (not available) | `ModelParallel` with `model_parallel_layout` |
| `tpu` | `TPUStrategy` on `runtime.tpu` | (run JAX on the TPU host: `data_parallel`) |

Multi-process: `worker_hosts` lists `host:port` of every process and
`task_index` is this one; on JAX the first host is the coordinator of
`keras.distribution.initialize` (CPU collectives through gloo).

`num_cpu_devices > 0` splits the host CPU into that many devices on either
backend, to exercise data parallelism without accelerators; it must be set
before the backend first touches a device, which `configure_devices` does.
"""

import contextlib
import logging
import os

import keras

from training.config.base import ConfigError

logger = logging.getLogger("zoo")

TF_STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
JAX_STRATEGIES = ("one_device", "mirrored", "data_parallel",
                  "model_parallel")
OFF = ("", "off", "none", "default")


class Distribution:
    """The distribution of one run: a scope to build the model in, and this
    process's place among all processes.

    Attributes:
        name: the strategy name.
        num_processes: processes training together.
        process_index: this process's index.
        num_replicas: devices the global batch is split over.
    """

    def __init__(self, name="off", strategy=None, num_processes=1,
                 process_index=0, num_replicas=1):
        self.name = name
        self.strategy = strategy
        self.num_processes = num_processes
        self.process_index = process_index
        self.num_replicas = num_replicas

    def scope(self):
        """Context manager in which the model and optimizer are created."""
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    @property
    def is_chief(self):
        """True on the process that writes summaries and exports."""
        return self.process_index == 0


def _hosts(runtime):
    return [h.strip() for h in (runtime.worker_hosts or "").split(",")
            if h.strip()]


def configure_devices(runtime):
    """Applies `num_cpu_devices` before the backend initialises its devices."""
    n = runtime.num_cpu_devices
    if n <= 0:
        return
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", n)
        except (RuntimeError, AttributeError):
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_force_host_platform_device_count={n}")
    elif backend == "tensorflow":
        import tensorflow as tf

        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError as e:
            raise ConfigError(
                "runtime.num_cpu_devices must be applied before TensorFlow "
                f"starts; it already had: {e}"
            ) from None


def build_distribution(runtime):
    """A `Distribution` for `runtime` on the active backend.

    Raises:
        ConfigError: a strategy the backend cannot run, naming the backend
            that can.
    """
    name = (runtime.distribution_strategy or "off").lower()
    backend = keras.backend.backend()
    if name in OFF:
        return Distribution()
    if backend == "tensorflow":
        if name not in TF_STRATEGIES:
            other = "JAX" if name in JAX_STRATEGIES else "no backend"
            raise ConfigError(
                f"runtime.distribution_strategy={name!r} is not available on "
                f"TensorFlow ({other} runs it); TensorFlow runs "
                f"{list(TF_STRATEGIES)}."
            )
        return _tensorflow_distribution(name, runtime)
    if backend == "jax":
        if name not in JAX_STRATEGIES:
            other = "TensorFlow" if name in TF_STRATEGIES else "no backend"
            raise ConfigError(
                f"runtime.distribution_strategy={name!r} is not available on "
                f"JAX ({other} runs it); JAX runs {list(JAX_STRATEGIES)}."
            )
        return _jax_distribution(name, runtime)
    raise ConfigError(
        f"runtime.distribution_strategy={name!r} needs the TensorFlow or JAX"
        " backend,"
        f" not {backend}."
    )


def _tensorflow_distribution(name, runtime):
    import tensorflow as tf

    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        device = gpus[0].name if gpus else "/cpu:0"
        return Distribution(name, tf.distribute.OneDeviceStrategy(device))
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if runtime.num_gpus:
            gpus = gpus[:runtime.num_gpus]
        devices = [d.name for d in gpus] or [
            d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution(name, strategy,
                            num_replicas=strategy.num_replicas_in_sync)
    if name == "multi_worker_mirrored":
        raise ConfigError(
            "runtime.distribution_strategy='multi_worker_mirrored': Keras 3's "
            "Model.fit does not run under tf.distribute's "
            "MultiWorkerMirroredStrategy (keras-team/keras#20585). Train "
            "across processes on the JAX backend instead: "
            "distribution_strategy='data_parallel' with worker_hosts and "
            "task_index."
        )
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=runtime.tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else (
            type(e).__name__)
        raise ConfigError(
            f"runtime.distribution_strategy='tpu': no TPU is reachable "
            f"(runtime.tpu={runtime.tpu!r}: {reason}); on this machine use "
            "'mirrored' (its GPUs, else the CPU) or 'off'."
        ) from None
    return Distribution(name, strategy,
                        num_replicas=strategy.num_replicas_in_sync)


def _jax_distribution(name, runtime):
    import jax

    hosts = _hosts(runtime)
    if len(hosts) > 1:
        # Before anything touches a device: collectives between CPU
        # processes go through gloo (GPUs and TPUs bring their own).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        keras.distribution.initialize(
            job_addresses=hosts[0],
            num_processes=len(hosts),
            process_id=runtime.task_index,
        )
    if name == "one_device":
        return Distribution(name)
    devices = jax.devices()
    if name in ("mirrored", "data_parallel"):
        distribution = keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=False)
    else:
        shape = runtime.mesh_shape or [1, len(devices)]
        if shape[0] * shape[1] != len(devices):
            raise ConfigError(
                f"runtime.mesh_shape {shape} needs {shape[0] * shape[1]} "
                f"devices; there are {len(devices)}."
            )
        mesh = keras.distribution.DeviceMesh(
            shape=tuple(shape), axis_names=("batch", "model"),
            devices=devices)
        layout = keras.distribution.LayoutMap(mesh)
        for pattern, axes in (runtime.model_parallel_layout or {}).items():
            layout[pattern] = tuple(axes)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout, batch_dim_name="batch",
            auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    return Distribution(
        name,
        num_processes=jax.process_count(),
        process_index=jax.process_index(),
        num_replicas=len(devices),
    )
