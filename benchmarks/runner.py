"""Measuring models: compile, warm up, time, count FLOPs, retry on OOM.

```python
from benchmarks import BenchSettings, run_benchmarks

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

import dataclasses
import gc
import logging
import statistics
import time

import keras

from benchmarks.environment import describe_environment, utc_timestamp
from benchmarks.errors import BenchError, BenchFailure
from benchmarks.flops import count_flops
from benchmarks.models import (
    OWN_LOSS,
    build_peer_model,
    build_zoo_model,
    describe_input_shape,
    dtype_policy,
    make_inputs,
    make_training_setup,
)
from benchmarks.peak import measure_matmul_peak
from benchmarks.results import BenchRow, add_ratios
from benchmarks.settings import COMPUTE_DTYPES, BenchSettings

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


def _iqr(values):
    if len(values) < 2:
        return 0.0
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return quartiles[2] - quartiles[0]


class Measurement:
    """One model in one mode: prepared once, then timed in one or more rounds.

    `prepare()` makes the inputs, compiles the step and runs it once (the
    compiling call), halving the batch size on out-of-memory; `time_round()`
    runs `warmup` untimed and `iters` timed steps; `row()` counts the FLOPs
    and returns the `BenchRow`. Rounds of several measurements can be
    interleaved, so a machine whose load drifts slows them all alike.

    Args:
        model: a built functional Keras model.
        name: str, the zoo model name the row belongs to.
        source: str, `"zoo"` or the peer library.
        variant: str, `""` or `"fused"`.
        built: str, what was built (the `built` column).
        mode: `"infer"` or `"train"`.
        settings: `BenchSettings`.
        attempt_hook: optional `attempt_hook(batch_size, mode)` called before
            each attempt to prepare; whatever it raises is handled as the
            step's own error would be (how tests inject an out-of-memory
            failure).
    """

    def __init__(self, model, *, name, source, variant, built, mode,
                 settings, attempt_hook=None):
        self.model = model
        self.name = name
        self.source = source
        self.variant = variant
        self.built = built
        self.mode = mode
        self.settings = settings
        self.attempt_hook = attempt_hook
        self.batch_size = settings.batch_size
        self.times = []
        self.first_call_s = None
        self.inputs = None
        self._step = None

    @property
    def label(self):
        """`"resnet50 [zoo fused] infer"`, for progress lines."""
        variant = f" {self.variant}" if self.variant else ""
        return f"{self.name} [{self.source}{variant}] {self.mode}"

    def _compile(self, batch_size):
        model, settings = self.model, self.settings
        inputs = make_inputs(model, batch_size, settings)
        jit = "auto" if settings.jit is None else settings.jit
        if self.mode == "infer":
            model.compile(jit_compile=jit)

            def step():
                model.predict_on_batch(inputs)
        else:
            loss, targets = make_training_setup(model, inputs)
            # A detector trains with its own loss: compiled without one.
            losses = {} if loss is OWN_LOSS else {"loss": loss}
            model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=1e-3,
                                               momentum=0.9),
                jit_compile=jit,
                **losses,
            )

            def step():
                model.train_on_batch(inputs, targets)

        start = time.perf_counter()
        step()
        self.first_call_s = time.perf_counter() - start
        self.inputs, self._step = inputs, step

    def prepare(self):
        """Compiles and runs the first step, halving the batch on OOM.

        Raises:
            BenchFailure: out of memory even at batch size 1.
        """
        while True:
            try:
                if self.attempt_hook is not None:
                    self.attempt_hook(self.batch_size, self.mode)
                self._compile(self.batch_size)
                return
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                if self.batch_size == 1:
                    raise BenchFailure(
                        f"{self.name} ({self.source}, {self.mode}) ran out "
                        "of memory even at batch size 1: "
                        f"{str(error).splitlines()[0]}"
                    ) from None
                logger.warning("bench: %s out of memory at batch size %d; "
                               "retrying with %d.", self.label,
                               self.batch_size, self.batch_size // 2)
                self.batch_size //= 2
                self._step = None
                gc.collect()

    def time_round(self, progress=None):
        """Runs `warmup` untimed and `iters` timed steps.

        Args:
            progress: optional `progress(step, total)` after each step.
        """
        warmup, iters = self.settings.warmup, self.settings.iters
        for i in range(warmup):
            self._step()
            if progress:
                progress(i + 1, warmup + iters)
        for i in range(iters):
            start = time.perf_counter()
            self._step()
            self.times.append(time.perf_counter() - start)
            if progress:
                progress(warmup + i + 1, warmup + iters)

    def row(self):
        """Counts the FLOPs and returns the `BenchRow` of the steps timed."""
        settings, model = self.settings, self.model
        flops, flops_source = count_flops(model, self.inputs, self.mode)
        times = self.times
        median = statistics.median(times)
        gflops_per_sample = flops / self.batch_size / 1e9
        samples_per_s = self.batch_size / median
        achieved = gflops_per_sample * samples_per_s
        peak = measure_matmul_peak(COMPUTE_DTYPES[settings.precision],
                                   size=settings.peak_size)
        return BenchRow(
            model=self.name,
            source=self.source,
            variant=self.variant,
            built=self.built,
            # Peers are built to match the zoo model, arguments included.
            model_args=settings.describe_model_args(),
            mode=self.mode,
            backend=keras.backend.backend(),
            precision=settings.precision,
            jit=bool(model.jit_compile),
            batch_size=self.batch_size,
            batch_size_requested=settings.batch_size,
            input_shape=describe_input_shape(self.inputs),
            samples_per_s=samples_per_s,
            step_ms_median=1e3 * median,
            step_ms_iqr=1e3 * _iqr(times),
            step_ms_min=1e3 * min(times),
            step_ms_max=1e3 * max(times),
            compile_s=max(self.first_call_s - median, 0.0),
            params=int(model.count_params()),
            gflops_per_sample=gflops_per_sample,
            flops_source=flops_source,
            achieved_gflops=achieved,
            peak_gflops=peak,
            peak_fraction=achieved / peak,
            ratio=None,
            ratio_of="",
            warmup=settings.warmup,
            iters=len(times),
            rounds=settings.rounds,
            timestamp=utc_timestamp(),
            settings=predict_settings(model, self.mode),
            **describe_environment(),
        )


def predict_settings(model, mode):
    """`"folded BN"` for the inference of a model whose `predict_on_batch`
    folds batch norms (`zoo.Task.inference_model`), else `""`."""
    inference_model = getattr(model, "inference_model", None)
    if mode == "infer" and callable(inference_model) and (
            inference_model() is not None):
        return "folded BN"
    return ""


class OpMeasurement(Measurement):
    """A function timed like a model step: the `ops` kind
    (`benchmarks/ops.py`). It has no parameters, and no FLOPs are counted.

    Args:
        candidate: `benchmarks.ops.OpCandidate`.
        name: str, the op benchmark's name (`op:nms`).
        settings: `BenchSettings` (warmup, iterations, rounds).
    """

    def __init__(self, candidate, *, name, settings):
        super().__init__(None, name=name, source=candidate.source,
                         variant="", built=candidate.built, mode="infer",
                         settings=settings)
        self.candidate = candidate
        self.batch_size = candidate.batch_size

    def prepare(self):
        from benchmarks.ops import wait

        fn = self.candidate.fn
        start = time.perf_counter()
        wait(fn())
        self.first_call_s = time.perf_counter() - start
        self._step = lambda: wait(fn())

    def row(self):
        settings, times = self.settings, self.times
        median = statistics.median(times)
        return BenchRow(
            model=self.name, source=self.source, variant="",
            built=self.built, model_args="", mode="infer",
            backend=keras.backend.backend(), precision=settings.precision,
            jit=True, batch_size=self.batch_size,
            batch_size_requested=self.batch_size,
            input_shape=self.candidate.input_shape,
            samples_per_s=self.batch_size / median,
            step_ms_median=1e3 * median, step_ms_iqr=1e3 * _iqr(times),
            step_ms_min=1e3 * min(times), step_ms_max=1e3 * max(times),
            compile_s=max(self.first_call_s - median, 0.0), params=0,
            gflops_per_sample=0.0, flops_source="none", achieved_gflops=0.0,
            peak_gflops=measure_matmul_peak(
                COMPUTE_DTYPES[settings.precision],
                size=settings.peak_size),
            peak_fraction=0.0, ratio=None, ratio_of="",
            warmup=settings.warmup, iters=len(times), rounds=settings.rounds,
            timestamp=utc_timestamp(), **describe_environment())


class ExportMeasurement(OpMeasurement):
    """An exported artifact (`benchmarks.exports`) timed like its model.

    Its row is the zoo model's inference row with the artifact's timing:
    the same model, arguments, input shape, parameters and FLOPs, `variant`
    the format, `jit` False (the runtime's own compiler, not Keras').

    Args:
        exported: `benchmarks.exports.ExportedModel`.
        name: str, the zoo model name.
        batch_size: int, images per call.
        settings: `BenchSettings`.
    """

    def __init__(self, exported, *, name, batch_size, settings):
        from benchmarks.exports import uint8_images
        from benchmarks.ops import OpCandidate

        images = uint8_images(exported.image_size, batch_size)
        height, width = exported.image_size
        candidate = OpCandidate(
            fn=lambda: exported.run({"inputs": images}), source="zoo",
            built=exported.built, batch_size=batch_size,
            input_shape=f"{height}x{width}x3 uint8")
        super().__init__(candidate, name=name, settings=settings)
        self.variant = exported.format

    def row_like(self, model_row):
        """This artifact's row, described as `model_row` (the zoo model's
        inference row) is."""
        row = self.row()
        return dataclasses.replace(
            model_row, variant=self.variant, built=self.built, jit=False,
            batch_size=row.batch_size,
            batch_size_requested=model_row.batch_size_requested,
            samples_per_s=row.samples_per_s,
            step_ms_median=row.step_ms_median, step_ms_iqr=row.step_ms_iqr,
            step_ms_min=row.step_ms_min, step_ms_max=row.step_ms_max,
            compile_s=row.compile_s,
            achieved_gflops=model_row.gflops_per_sample * row.samples_per_s,
            peak_fraction=(model_row.gflops_per_sample * row.samples_per_s
                           / model_row.peak_gflops),
            ratio=None, ratio_of="", iters=row.iters,
            timestamp=row.timestamp)


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
        attempt_hook: see `Measurement`.

    Returns:
        `BenchRow` (its `ratio` is filled by `add_ratios`).

    Raises:
        BenchFailure: out of memory even at batch size 1.
    """
    measurement = Measurement(
        model, name=name, source=source, variant=variant, built=built,
        mode=mode, settings=settings or BenchSettings(),
        attempt_hook=attempt_hook)
    measurement.prepare()
    for _ in range(measurement.settings.rounds):
        measurement.time_round(progress)
    return measurement.row()


def expand_model_names(patterns):
    """Registered model (or `op:` benchmark) names matching those given.

    Args:
        patterns: list of str, names or fnmatch patterns (`"resnet5*"`,
            `"op:*"`).

    Returns:
        list of str, in the order given, each once.

    Raises:
        BenchError: a name or pattern that matches nothing; the message
            lists the closest names.
    """
    from benchmarks.ops import expand_op_names, is_op
    from zoo.errors import did_you_mean
    from zoo.registry import list_models

    names = []
    registered = list_models()
    for pattern in patterns:
        matches = (expand_op_names(pattern) if is_op(pattern)
                   else list_models(pattern))
        if not matches:
            raise BenchError(
                f"No registered model matches {pattern!r}."
                f"{did_you_mean(pattern, registered)} See `zoo models` (and "
                "benchmarks/ops.py for op:<name>).")
        names.extend(m for m in matches if m not in names)
    return names


def _timed_rounds(measurements, settings, progress):
    """Times `measurements` in `settings.rounds` interleaved rounds."""
    for round_index in range(settings.rounds):
        for measurement in measurements:
            label = measurement.label
            if settings.rounds > 1:
                label += f" (round {round_index + 1}/{settings.rounds})"
            logger.info("bench: timing %s", label)
            hook = None
            if progress is not None:
                def hook(step, total, label=label):
                    progress(label, step, total)
            measurement.time_round(hook)


def _measure_op(name, settings, progress):
    """Rows of one op benchmark: zoo's function and its peers."""
    from benchmarks.ops import op_candidates

    measurements = [OpMeasurement(c, name=name, settings=settings)
                    for c in op_candidates(name)]
    for measurement in measurements:
        logger.info("bench: compiling %s", measurement.label)
        measurement.prepare()
    _timed_rounds(measurements, settings, progress)
    return [m.row() for m in measurements]


def _fused(model):
    """`model.fuse()` for zoo models; the same folding for any other."""
    if callable(getattr(model, "fuse", None)):
        return model.fuse()
    from zoo.fusion import fuse_batch_norm

    return fuse_batch_norm(model)


def _export_measurements(model, name, settings, batch_size, work):
    """An `ExportMeasurement` per format of `settings.exports`, prepared."""
    from benchmarks.exports import export_for_timing

    directory = work.subdirectory(name)
    measurements = []
    for format in settings.exports:
        exported = export_for_timing(model, format, directory)
        measurement = ExportMeasurement(exported, name=name,
                                        batch_size=batch_size,
                                        settings=settings)
        logger.info("bench: first call of %s", measurement.label)
        measurement.prepare()
        measurements.append(measurement)
    return measurements


def _measure_model(name, settings, progress, attempt_hook):
    """Rows of one zoo model, its fused variant, its exported artifacts
    and its peers."""
    from benchmarks.exports import WorkDirectory

    model, built = build_zoo_model(name, settings)
    if settings.mode == "generate":
        return _measure_generation(name, model, built, settings, progress)
    # Peers are built first so that one that cannot be built fails the run
    # before anything is measured.
    candidates = [] if settings.peers_only else [(model, "zoo", "", built)]
    if settings.fuse and "infer" in settings.modes() and not (
            settings.peers_only):
        candidates.append((_fused(model), "zoo", "fused", built + ".fuse()"))
    for source in settings.peers:
        peer, peer_built = build_peer_model(source, name, model)
        candidates.append((peer, source, "", peer_built))
    rows = []
    with WorkDirectory() as work:
        for mode in settings.modes():
            measurements = [
                Measurement(m, name=name, source=source, variant=variant,
                            built=what, mode=mode, settings=settings,
                            attempt_hook=attempt_hook)
                for m, source, variant, what in candidates
                if not (variant == "fused" and mode == "train")
            ]
            for measurement in measurements:
                logger.info("bench: compiling %s", measurement.label)
                measurement.prepare()
            exports = []
            if mode == "infer" and settings.exports and not (
                    settings.peers_only):
                exports = _export_measurements(
                    model, name, settings, measurements[0].batch_size, work)
            # Interleaved rounds: every measurement sees the same load drift.
            _timed_rounds(measurements + exports, settings, progress)
            mode_rows = [m.row() for m in measurements]
            rows.extend(mode_rows)
            rows.extend(e.row_like(mode_rows[0]) for e in exports)
    return rows


def _measure_generation(name, model, built, settings, progress):
    """Prefill and decode rows of a causal LM, its uncached and int8
    variants and its peers (`benchmarks.generation`)."""
    from benchmarks import generation

    if not hasattr(model, "generate") or not hasattr(model, "backbone"):
        raise BenchError(f"--mode generate measures causal LMs; {name!r} is "
                         f"a {type(model).__name__}.")
    prompts = generation._prompts(model.backbone.vocabulary_size,
                                  settings.batch_size, settings.seq_len)
    candidates = []
    if not settings.peers_only:
        quantized, _ = build_zoo_model(name, settings)
        quantized.quantize("int8")
        candidates = generation.zoo_candidates(model, prompts,
                                               settings.new_tokens, built,
                                               int8_model=quantized)
    for source in settings.peers:
        peer, peer_built = build_peer_model(source, name, model)
        candidates.append(generation.keras_hub_candidate(
            peer, prompts, settings.new_tokens, peer_built))
    return generation.measure_generation(name, candidates, settings,
                                         progress)


def run_benchmarks(models, settings, progress=None, attempt_hook=None):
    """Measures zoo models, their fused variants and their peers.

    For each model: inference and/or training of the zoo model, inference of
    `model.fuse()` when `settings.fuse`, inference of each artifact of
    `settings.exports` (`benchmarks.exports`), and each peer in
    `settings.peers` in the same modes, all in `settings.precision`. Within a mode, every
    measurement is compiled first, then timed in `settings.rounds`
    interleaved rounds. Ratios are filled at the end (`add_ratios`).

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
    from benchmarks.ops import is_op

    rows = []
    for name in names:
        with dtype_policy(settings.precision):
            if is_op(name):
                rows.extend(_measure_op(name, settings, progress))
            else:
                rows.extend(_measure_model(name, settings, progress,
                                           attempt_hook))
        keras.backend.clear_session()
        gc.collect()
    return add_ratios(rows)
