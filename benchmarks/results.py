"""Result rows of `zoo bench`: the columns, CSV/JSON files and ratios.

Every row carries what is needed to compare it with a row measured later or
elsewhere: the device, the backend and its version, Keras, keras-hub and zoo
versions, the precision and whether the step was compiled with XLA.
"""

import csv
import dataclasses
import json
import os
import tempfile
import typing
from pathlib import Path

RESULT_SUFFIXES = (".csv", ".json")
#: Variants of a zoo model and the name of what they are compared with.
VARIANT_BASES = {"fused": "unfused", "saved_model": "keras",
                 "tflite": "keras", "onnx": "keras", "uncached": "cached",
                 "int8": "float32"}


@dataclasses.dataclass
class BenchRow:
    """One measurement: one model, built by one library, in one mode.

    Attributes:
        model: str, the zoo model name the row belongs to.
        source: str, who built the measured model: `"zoo"` or a peer
            library (`"keras.applications"`, `"keras_hub"`).
        variant: str, `""`, `"fused"` for `model.fuse()`, or an export
            format (`"saved_model"`, `"tflite"`, `"onnx"`) for the artifact
            `zoo.export` wrote, timed in its own runtime.
        built: str, what was built, e.g. `"keras.applications.ResNet50"`.
        model_args: str, extra `create_model` arguments, `"k=v,..."`.
        mode: str, `"infer"` or `"train"`.
        backend: str, the Keras backend.
        precision: str, the Keras dtype policy.
        jit: bool, whether the step was XLA-compiled.
        batch_size: int, samples per step actually used.
        batch_size_requested: int, the batch size asked for (larger when
            out-of-memory made the run halve it).
        input_shape: str, one sample's shape, `"224x224x3"`, `"128"`.
        samples_per_s: float, `batch_size / step_ms_median`.
        step_ms_median, step_ms_iqr, step_ms_min, step_ms_max: float,
            milliseconds per step over the timed iterations.
        compile_s: float, seconds of the first call beyond a median step
            (tracing and compilation).
        params: int, `model.count_params()`.
        gflops_per_sample: float, GFLOPs per sample of the step (a
            multiply-add counts 2); training includes the backward pass.
        flops_source: str, `"xla_cost_analysis"`, `"tf_profiler"` or
            `"analytic"`.
        achieved_gflops: float, GFLOP/s achieved.
        peak_gflops: float, matmul GFLOP/s measured at start-up in the
            precision's compute dtype.
        peak_fraction: float, `achieved_gflops / peak_gflops`.
        ratio: float or None, see `add_ratios`.
        ratio_of: str, what `ratio` divides (`"zoo/keras.applications"`).
        warmup: int, untimed steps per round.
        iters: int, timed steps in all (`rounds` rounds).
        rounds: int, interleaved rounds of warmup and timed steps.
        device: str, the device the backend ran on.
        python_version, numpy_version, keras_version, backend_version,
        keras_hub_version, zoo_version: str.
        timestamp: str, ISO 8601 UTC time the measurement ended.
        xla_flags: str, the process's XLA flags (`zoo.xla_flags.state()`):
            `"onednn"` (zoo's default on JAX), `"default"` (XLA's own) or
            `"user: <XLA_FLAGS>"`; empty in files written before it was
            recorded.
        settings: str, what differs from a plain run: `"folded BN"` when
            the model's `predict_on_batch` folds batch norms
            (`Task.inference_model`), `"Keras defaults"` for a peer
            measured in a process with Keras' and XLA's defaults (no zoo
            XLA flags), else empty.
    """

    model: str
    source: str
    variant: str
    built: str
    model_args: str
    mode: str
    backend: str
    precision: str
    jit: bool
    batch_size: int
    batch_size_requested: int
    input_shape: str
    samples_per_s: float
    step_ms_median: float
    step_ms_iqr: float
    step_ms_min: float
    step_ms_max: float
    compile_s: float
    params: int
    gflops_per_sample: float
    flops_source: str
    achieved_gflops: float
    peak_gflops: float
    peak_fraction: float
    ratio: typing.Optional[float]
    ratio_of: str
    warmup: int
    iters: int
    rounds: int
    device: str
    python_version: str
    numpy_version: str
    keras_version: str
    backend_version: str
    keras_hub_version: str
    zoo_version: str
    timestamp: str
    xla_flags: str = ""
    settings: str = ""

    def to_dict(self):
        """The row as a plain dict, keys in `COLUMNS` order."""
        return dataclasses.asdict(self)


#: Every column of a result row, in file order.
COLUMNS = tuple(f.name for f in dataclasses.fields(BenchRow))
_TYPES = typing.get_type_hints(BenchRow)
#: Columns older result files may lack (they take their defaults).
OPTIONAL_COLUMNS = ("xla_flags", "settings")


def _parse(name, text):
    kind = _TYPES[name]
    if kind is str:
        return "" if text is None else str(text)
    if text is None or text == "":
        if kind == typing.Optional[float]:
            return None
        raise ValueError(f"column {name!r} is empty")
    if kind is bool:
        if isinstance(text, bool):
            return text
        if str(text) not in ("True", "False"):
            raise ValueError(f"column {name!r}: {text!r} is not True/False")
        return str(text) == "True"
    if kind is int:
        return int(text)
    return float(text)


def row_from_dict(data):
    """Builds a `BenchRow` from a dict of strings or values (a file's row).

    Raises:
        BenchError: a column is missing or holds an unreadable value.
    """
    from benchmarks.errors import BenchError

    missing = [c for c in COLUMNS if c not in data
               and c not in OPTIONAL_COLUMNS]
    if missing:
        raise BenchError(f"Result row lacks the columns {missing}.")
    try:
        return BenchRow(**{c: _parse(c, data[c]) for c in COLUMNS
                           if c in data})
    except ValueError as error:
        raise BenchError(f"Unreadable result row: {error}.") from None


def _check_suffix(path):
    from benchmarks.errors import BenchError

    suffix = Path(path).suffix.lower()
    if suffix not in RESULT_SUFFIXES:
        raise BenchError(
            f"Results file {str(path)!r} must end in "
            f"{' or '.join(RESULT_SUFFIXES)}, not {suffix or 'no suffix'!r}."
        )
    return suffix


def write_results(rows, path):
    """Writes rows to a `.csv` or `.json` file, atomically.

    CSV: a header of `COLUMNS`, then one line per row, `None` as an empty
    field. JSON: a list of objects with the same keys.

    Args:
        rows: iterable of `BenchRow`.
        path: str or path ending in `.csv` or `.json`; parent folders are
            created.

    Returns:
        `Path` of the file written.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [row.to_dict() for row in rows]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            if suffix == ".json":
                json.dump(records, f, indent=1)
                f.write("\n")
            else:
                writer = csv.DictWriter(f, fieldnames=COLUMNS)
                writer.writeheader()
                for record in records:
                    writer.writerow({k: "" if v is None else v
                                     for k, v in record.items()})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_results(path):
    """Reads the rows of a file `write_results` wrote.

    Returns:
        list of `BenchRow`.

    Raises:
        BenchError: a bad suffix, or a file that is not a result file.
        FileNotFoundError: no such file.
    """
    from benchmarks.errors import BenchError

    path = Path(path)
    suffix = _check_suffix(path)
    with open(path, newline="") as f:
        if suffix == ".json":
            try:
                records = json.load(f)
            except json.JSONDecodeError as error:
                raise BenchError(f"{path} is not JSON: {error}.") from None
            if not isinstance(records, list):
                raise BenchError(f"{path} does not hold a list of rows.")
        else:
            records = list(csv.DictReader(f))
    return [row_from_dict(record) for record in records]


def _key(row):
    return (row.backend, row.mode, row.model, row.model_args,
            row.input_shape, row.batch_size_requested)


def add_ratios(rows):
    """Fills `ratio` and `ratio_of` of rows that have something to compare.

    Rows compare within the same backend, mode, model, model arguments,
    input shape and requested batch size:

    - a peer row: zoo's samples/s divided by the peer's, same precision
      (`ratio_of="zoo/keras.applications"`); above 1 means zoo is faster.
      A peer measured under Keras' defaults in a process of its own
      (`settings="Keras defaults"`) gives `"zoo/keras.applications (Keras
      defaults)"`: zoo's defaults against what a user of the peer gets;
    - a fused row: fused samples/s divided by unfused (`"fused/unfused"`);
    - an export row: the artifact's samples/s divided by the Keras model's
      (`"saved_model/keras"`, `"tflite/keras"`, `"onnx/keras"`);
    - a zoo row in another precision than float32: its samples/s divided by
      the float32 row's (`"bfloat16/float32"`).

    Args:
        rows: list of `BenchRow`, changed in place.

    Returns:
        `rows`.
    """
    zoo_rows = {}
    for row in rows:
        if row.source == "zoo" and row.variant == "":
            zoo_rows[_key(row) + (row.precision,)] = row
    for row in rows:
        if row.source != "zoo":
            base = zoo_rows.get(_key(row) + (row.precision,))
            if base is not None:
                row.ratio = base.samples_per_s / row.samples_per_s
                row.ratio_of = f"zoo/{row.source}"
                if row.settings:  # "Keras defaults": its own process
                    row.ratio_of += f" ({row.settings})"
        elif row.variant:
            base = zoo_rows.get(_key(row) + (row.precision,))
            if base is not None:
                row.ratio = row.samples_per_s / base.samples_per_s
                row.ratio_of = f"{row.variant}/{VARIANT_BASES[row.variant]}"
        elif row.precision != "float32":
            base = zoo_rows.get(_key(row) + ("float32",))
            if base is not None:
                row.ratio = row.samples_per_s / base.samples_per_s
                row.ratio_of = f"{row.precision}/float32"
    return rows
