"""Showing results: a rich table on the terminal and a PNG bar chart."""

import os
import tempfile
from pathlib import Path


def _format_params(count):
    if count >= 1e6:
        return f"{count / 1e6:.2f}M"
    if count >= 1e3:
        return f"{count / 1e3:.1f}k"
    return str(count)


def _label(row):
    label = row.source
    if row.variant:
        label += f" {row.variant}"
    if row.settings:
        label += f" ({row.settings})"
    return label


def results_table(rows, title=None):
    """A `rich.table.Table` of result rows, one line per row.

    Columns: model, built by, mode, backend, precision, jit, batch,
    samples/s, step ms (median, IQR), compile s, params, GFLOPs/sample,
    GFLOP/s, % of peak, ratio.
    """
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("model", "left"), ("built by", "left"), ("mode", "left"),
        ("backend", "left"), ("precision", "left"), ("jit", "left"),
        ("batch", "right"), ("samples/s", "right"),
        ("step ms (IQR)", "right"), ("compile s", "right"),
        ("params", "right"), ("GFLOPs/sample", "right"),
        ("GFLOP/s", "right"), ("% peak", "right"), ("ratio", "left"),
    ):
        table.add_column(name, justify=justify)
    for row in rows:
        model = row.model + (f" ({row.model_args})" if row.model_args else "")
        batch = str(row.batch_size)
        if row.batch_size != row.batch_size_requested:
            batch += f" (of {row.batch_size_requested})"
        ratio = ""
        if row.ratio is not None:
            ratio = f"{row.ratio:.2f}x {row.ratio_of}"
        table.add_row(
            model, _label(row), row.mode, row.backend, row.precision,
            "xla" if row.jit else "-", batch, f"{row.samples_per_s:.2f}",
            f"{row.step_ms_median:.1f} ({row.step_ms_iqr:.1f})",
            f"{row.compile_s:.1f}", _format_params(row.params),
            f"{row.gflops_per_sample:.3g}", f"{row.achieved_gflops:.1f}",
            f"{100 * row.peak_fraction:.1f}", ratio,
        )
    return table


def describe_runs(rows):
    """One line per distinct (backend, device, versions, peak) of the rows."""
    lines = []
    for row in rows:
        line = (f"{row.backend_version} on {row.device}; keras "
                f"{row.keras_version}, keras-hub {row.keras_hub_version}, zoo "
                f"{row.zoo_version}; {row.precision} matmul peak "
                f"{row.peak_gflops:.0f} GFLOP/s")
        if row.xla_flags:
            line += f"; XLA flags: {row.xla_flags}"
        if line not in lines:
            lines.append(line)
    return lines


def print_results(rows, console=None, title="zoo bench"):
    """Prints the table and the environment lines to `console` (stdout)."""
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            # A pipe or file: no terminal width to fit, keep lines whole.
            console = Console(width=240)
    console.print(results_table(rows, title=title))
    for line in describe_runs(rows):
        console.print(line, highlight=False)


def check_plotting():
    """Raises `BenchError` unless matplotlib can be imported."""
    import importlib.util

    from benchmarks.errors import BenchError

    if importlib.util.find_spec("matplotlib") is None:
        raise BenchError(
            "--plot needs matplotlib, an optional extra: "
            "pip install 'zoo[plot]' (or pip install matplotlib)."
        )


def plot_results(rows, path, title="zoo bench"):
    """Writes a PNG bar chart of samples/s, atomically.

    One panel per mode; bars grouped by backend, model and precision, one
    colour per library (zoo, zoo fused, each peer).

    Args:
        rows: list of `BenchRow`.
        path: str or path of the PNG.

    Returns:
        `Path` written.
    """
    check_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    modes = [m for m in ("infer", "train") if any(r.mode == m for r in rows)]
    labels = []
    for row in rows:
        if _label(row) not in labels:
            labels.append(_label(row))
    figure, axes = plt.subplots(len(modes), 1, squeeze=False,
                                figsize=(max(6.0, 1.6 * len(rows)),
                                         3.2 * len(modes)))
    colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    for axis, mode in zip(axes[:, 0], modes):
        mode_rows = [r for r in rows if r.mode == mode]
        groups, present = [], []
        for row in mode_rows:
            group = (row.backend, row.model, row.precision)
            if group not in groups:
                groups.append(group)
            if _label(row) not in present:
                present.append(_label(row))
        width = 0.8 / len(present)
        for index, label in enumerate(present):
            offset = (index - (len(present) - 1) / 2) * width
            xs, heights = [], []
            for g, group in enumerate(groups):
                for row in mode_rows:
                    if (row.backend, row.model, row.precision) == group \
                            and _label(row) == label:
                        xs.append(g + offset)
                        heights.append(row.samples_per_s)
            axis.bar(xs, heights, width=width, label=label,
                     color=colours[label])
        axis.set_xticks(range(len(groups)))
        axis.set_xticklabels(["\n".join(g) for g in groups], fontsize=8)
        axis.set_ylabel("samples/s")
        axis.set_title(f"{title}: {mode}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".png")
    os.close(fd)
    try:
        figure.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(figure)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
