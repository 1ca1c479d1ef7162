"""Where a benchmark runs: the device, the backend and the library versions."""

import datetime
import functools
import os
import platform


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def describe_device():
    """The device the active backend computes on, as one line of text.

    Returns:
        str, e.g. `"cpu: Intel(R) Xeon(R) ... (2 cores)"` or
        `"gpu: NVIDIA H100 80GB HBM3"`.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return f"{device.platform}: {device.device_kind}"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"gpu: {details.get('device_name', gpus[0].name)}"
    return f"cpu: {_cpu_name()} ({_cpu_count()} cores)"


def _version(module_name):
    # Only modules already imported (the backend) or their installed
    # distribution: importing keras_hub just for its version takes seconds.
    import importlib.metadata
    import sys

    module = sys.modules.get(module_name)
    if module is not None and getattr(module, "__version__", None):
        return module.__version__
    try:
        return importlib.metadata.version(module_name.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.lru_cache(maxsize=None)
def describe_environment():
    """Device and versions of this process, the same for every row.

    Returns:
        dict with `device`, `python_version`, `numpy_version`,
        `keras_version`, `backend_version` (`"tensorflow 2.21.0"`,
        `"jax 0.10.2"`), `keras_hub_version`, `zoo_version` and
        `xla_flags` (`describe_xla_flags`).
    """
    import keras
    import numpy

    import zoo

    backend = keras.backend.backend()
    return {
        "device": describe_device(),
        "python_version": platform.python_version(),
        "numpy_version": numpy.__version__,
        "keras_version": keras.__version__,
        "backend_version": f"{backend} {_version(backend)}".strip(),
        "keras_hub_version": _version("keras_hub"),
        "zoo_version": zoo.__version__,
        "xla_flags": describe_xla_flags(),
    }


def describe_xla_flags():
    """`"onednn"`, `"default"` or `"user: <XLA_FLAGS>"`: the XLA flags this
    process runs with (`zoo.xla_flags.state()`)."""
    from zoo.xla_flags import state

    decided = state()
    if decided["xla_flags"] == "user":
        return f"user: {decided['value']}"
    return decided["xla_flags"]


def utc_timestamp():
    """The current time, ISO 8601 in UTC, to the second."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=0).isoformat()
