"""Measuring models: compile, warm up, time, count FLOPs, retry on OOM.

```python
from training.bench import BenchSettings, run_benchmarks

settings = BenchSettings(mode="infer", batch_size=2, img_size=32, warmup=1,
                         iters=2, peak_size=256,
                         model_args={"stage_filters": [8, 16, 32, 64]})
rows = run_benchmarks(["resnet18"], settings)
print(rows[0].samples_per_s, rows[0].gflops_per_sample)
```

A step is Keras' own `predict_on_batch` / `train_on_batch` (SGD with
momentum), compiled with `jit_compile` as `model.compile` would: the same
path `fit` and `predict` take, for zoo models and peers alike. Each call
returns numpy values, so a timed step includes waiting for the device.
"""

import gc
import logging
import statistics
import time

import keras

from training.bench.environment import describe_environment, utc_timestamp
from training.bench.errors import BenchError, BenchFailure
from training.bench.flops import count_flops
from training.bench.models import (
    build_peer_model,
    build_zoo_model,
    describe_input_shape,
    dtype_policy,
    make_inputs,
    make_training_setup,
)
from training.bench.peak import measure_matmul_peak
from training.bench.results import BenchRow, add_ratios
from training.bench.settings import COMPUTE_DTYPES, BenchSettings

logger = logging.getLogger("zoo")

#: Texts by which the backends report an allocation that failed.
OUT_OF_MEMORY_MARKERS = (
    "resource_exhausted",
    "resource exhausted",
    "out of memory",
    "oom when allocating",
    "failed to allocate",
)


def is_out_of_memory(error):
    """Whether an exception reports memory exhaustion, on any backend.

    Recognises `MemoryError`, TensorFlow's `ResourceExhaustedError` and the
    `RESOURCE_EXHAUSTED` / "out of memory" messages of XLA (JAX raises them
    as `XlaRuntimeError`).

    Args:
        error: an exception.

    Returns:
        bool.
    """
    if isinstance(error, MemoryError):
        return True
    if type(error).__name__ == "ResourceExhaustedError":
        return True
    text = str(error).lower()
    return any(marker in text for marker in OUT_OF_MEMORY_MARKERS)


def _timed_steps(step, warmup, iters, progress):
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    total = 1 + warmup + iters
    if progress:
        progress(1, total)
    for i in range(warmup):
        step()
        if progress:
            progress(2 + i, total)
    times = []
    for i in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        if progress:
            progress(2 + warmup + i, total)
    return first, times


def _iqr(values):
    if len(values) < 2:
        return 0.0
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return quartiles[2] - quartiles[0]


def _measure_once(model, mode, batch_size, settings, progress):
    inputs = make_inputs(model, batch_size, settings)
    jit = "auto" if settings.jit is None else settings.jit
    if mode == "infer":
        model.compile(jit_compile=jit)

        def step():
            model.predict_on_batch(inputs)
    else:
        loss, targets = make_training_setup(model, inputs)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9),
            loss=loss,
            jit_compile=jit,
        )

        def step():
            model.train_on_batch(inputs, targets)

    first, times = _timed_steps(step, settings.warmup, settings.iters,
                                progress)
    flops, flops_source = count_flops(model, inputs, mode)
    return inputs, bool(model.jit_compile), first, times, flops, flops_source


def benchmark_model(model, *, name, source="zoo", variant="", built="",
                    mode="infer", settings=None, progress=None,
                    attempt_hook=None):
    """Measures one built model in one mode, halving the batch on OOM.

    Args:
        model: a built functional Keras model.
        name: str, the zoo model name the row belongs to.
        source: str, `"zoo"` or the peer library.
        variant: str, `""` or `"fused"`.
        built: str, what was built (for the `built` column).
        mode: `"infer"` or `"train"`.
        settings: `BenchSettings`; defaults to `BenchSettings()`.
        progress: optional `progress(step, total)` called after each step.
        attempt_hook: optional `attempt_hook(batch_size, mode)` called before
            each attempt; whatever it raises is handled as the step's own
            error would be (how tests inject an out-of-memory failure).

    Returns:
        `BenchRow` (its `ratio` is filled by `add_ratios`).

    Raises:
        BenchFailure: out of memory even at batch size 1.
    """
    settings = settings or BenchSettings()
    batch_size = settings.batch_size
    while True:
        try:
            if attempt_hook is not None:
                attempt_hook(batch_size, mode)
            measured = _measure_once(model, mode, batch_size, settings,
                                     progress)
            break
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            if batch_size == 1:
                raise BenchFailure(
                    f"{name} ({source}, {mode}) ran out of memory even at "
                    f"batch size 1: {str(error).splitlines()[0]}"
                ) from None
            logger.warning("bench: %s (%s, %s) out of memory at batch "
                           "size %d; retrying with %d.", name, source, mode,
                           batch_size, batch_size // 2)
            batch_size //= 2
            gc.collect()
    inputs, jit, first, times, flops, flops_source = measured
    median = statistics.median(times)
    gflops_per_sample = flops / batch_size / 1e9
    samples_per_s = batch_size / median
    achieved = gflops_per_sample * samples_per_s
    peak = measure_matmul_peak(COMPUTE_DTYPES[settings.precision],
                               size=settings.peak_size)
    return BenchRow(
        model=name,
        source=source,
        variant=variant,
        built=built,
        # Peers are built to match the zoo model, arguments included.
        model_args=settings.describe_model_args(),
        mode=mode,
        backend=keras.backend.backend(),
        precision=settings.precision,
        jit=jit,
        batch_size=batch_size,
        batch_size_requested=settings.batch_size,
        input_shape=describe_input_shape(inputs),
        samples_per_s=samples_per_s,
        step_ms_median=1e3 * median,
        step_ms_iqr=1e3 * _iqr(times),
        step_ms_min=1e3 * min(times),
        step_ms_max=1e3 * max(times),
        compile_s=max(first - median, 0.0),
        params=int(model.count_params()),
        gflops_per_sample=gflops_per_sample,
        flops_source=flops_source,
        achieved_gflops=achieved,
        peak_gflops=peak,
        peak_fraction=achieved / peak,
        ratio=None,
        ratio_of="",
        warmup=settings.warmup,
        iters=settings.iters,
        timestamp=utc_timestamp(),
        **describe_environment(),
    )


def expand_model_names(patterns):
    """Registered model names matching the names or wildcards given.

    Args:
        patterns: list of str, names or fnmatch patterns (`"resnet5*"`).

    Returns:
        list of str, in the order given, each once.

    Raises:
        BenchError: a name or pattern that matches no registered model; the
            message lists the closest names.
    """
    import zoo
    from zoo.errors import did_you_mean

    names = []
    registered = zoo.list_models()
    for pattern in patterns:
        matches = zoo.list_models(pattern)
        if not matches:
            raise BenchError(
                f"No registered model matches {pattern!r}."
                f"{did_you_mean(pattern, registered)} See `zoo models`."
            )
        names.extend(m for m in matches if m not in names)
    return names


def _fused(model):
    """`model.fuse()` for zoo models; the same folding for any other."""
    if callable(getattr(model, "fuse", None)):
        return model.fuse()
    from zoo.fusion import fuse_batch_norm

    return fuse_batch_norm(model)


def run_benchmarks(models, settings, progress=None, attempt_hook=None):
    """Measures zoo models, their fused variants and their peers.

    For each model: inference and/or training of the zoo model, inference of
    `model.fuse()` when `settings.fuse`, then each peer in `settings.peers`
    in the same modes, all in `settings.precision`. Ratios are filled at the
    end (`add_ratios`).

    Args:
        models: list of str, registered names or wildcards.
        settings: `BenchSettings`.
        progress: optional `progress(label, step, total)`.
        attempt_hook: see `benchmark_model`.

    Returns:
        list of `BenchRow`.

    Raises:
        BenchError: an unknown model or a bad setting.
        BenchFailure: a model that ran out of memory at batch size 1.
    """
    settings.validate()
    names = expand_model_names(models)
    # The reference peak first, on a machine not yet busy with models.
    measure_matmul_peak(COMPUTE_DTYPES[settings.precision],
                        size=settings.peak_size)
    rows = []

    def measure(model, name, source, variant, built, mode):
        label = f"{name} [{source}{' ' + variant if variant else ''}] {mode}"
        logger.info("bench: measuring %s", label)
        hook = None
        if progress is not None:
            def hook(step, total):
                progress(label, step, total)
        rows.append(benchmark_model(
            model, name=name, source=source, variant=variant, built=built,
            mode=mode, settings=settings, progress=hook,
            attempt_hook=attempt_hook))

    for name in names:
        with dtype_policy(settings.precision):
            model, built = build_zoo_model(name, settings)
            # Peers are built first so that one that cannot be built fails
            # the run before anything is measured.
            peers = [(source,) + build_peer_model(source, name, model)
                     for source in settings.peers]
            fused = None
            if settings.fuse and "infer" in settings.modes():
                fused = _fused(model)
            for mode in settings.modes():
                measure(model, name, "zoo", "", built, mode)
                if mode == "infer" and fused is not None:
                    measure(fused, name, "zoo", "fused", built + ".fuse()",
                            mode)
            del fused, model
            while peers:
                source, peer, peer_built = peers.pop(0)
                for mode in settings.modes():
                    measure(peer, name, source, "", peer_built, mode)
                del peer
        keras.backend.clear_session()
        gc.collect()
    return add_ratios(rows)
