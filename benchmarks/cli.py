"""`zoo bench`: throughput, FLOPs and efficiency of models against peers.

```sh
zoo bench resnet50 --mode both --batch-size 16 --vs keras.applications
zoo bench "resnet*" --img-size 160 --precision bfloat16 --results-file r.csv
zoo bench resnet50 --backends tensorflow,jax      # a subprocess per backend
zoo bench --recipe resnet50_cpu --plot            # presets/benchmarks/
zoo bench --list-recipes
```

Usage errors (unknown model, recipe or flag value) print one line naming the
value and the valid choices and exit with status 2; a run that fails (out of
memory at batch size 1, a backend subprocess failing) exits with 1.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.settings import (
    BACKENDS,
    EXPORT_FORMATS,
    MODES,
    PEER_SOURCES,
    PRECISIONS,
)

DEFAULT_OUTPUT_DIR = "bench_results"

EXAMPLES = """examples:
  zoo bench resnet50 --mode both --batch-size 16 --vs keras.applications
  zoo bench "resnet*" --img-size 160 --precision bfloat16 --results-file r.csv
  zoo bench resnet50 --model-arg block_variant=v1 --fuse
  zoo bench resnet50 --export saved_model,tflite,onnx --batch-size 1
  zoo bench resnet50 --backends tensorflow,jax
  zoo bench --recipe resnet50_cpu --backends jax --plot
"""


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _model_arg(text):
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE (e.g. block_variant=v1)")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(
            f"value of {key!r} is not YAML: {value!r}") from None


def add_parser(subparsers):
    """Registers the `bench` subcommand on `zoo`'s subparsers.

    Args:
        subparsers: the object `ArgumentParser.add_subparsers()` returned.

    Returns:
        the `bench` parser; its `func(args)` returns the exit status.
    """
    parser = subparsers.add_parser(
        "bench",
        help="measure throughput, FLOPs and efficiency against peers",
        description="Measure inference and training speed of zoo models on "
        "this machine, their FLOPs and fraction of the matmul peak, against "
        "keras.applications / keras_hub models measured in the same run.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="registered model names; wildcards allowed")
    parser.add_argument("--recipe", metavar="NAME",
                        help="run a recipe of presets/benchmarks/ (or a "
                        "YAML path); flags given override its values")
    parser.add_argument("--list-recipes", action="store_true",
                        help="list the recipes and exit")
    parser.add_argument("--mode", choices=MODES,
                        help="what to measure (default infer)")
    parser.add_argument("--batch-size", type=_int_at_least(1),
                        help="samples per step, halved on out-of-memory "
                        "(default 32)")
    parser.add_argument("--img-size", type=_int_at_least(1),
                        help="image height and width (default 224)")
    parser.add_argument("--seq-len", type=_int_at_least(1),
                        help="sequence length of text models (default 128)")
    parser.add_argument("--new-tokens", type=_int_at_least(2),
                        help="tokens generated per prompt with --mode "
                        "generate (default 32)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="Keras dtype policy (default float32)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="XLA-compile the step (default: Keras' own "
                        "choice, jit_compile='auto')")
    parser.add_argument("--warmup", type=_int_at_least(0),
                        help="untimed steps after the compiling one "
                        "(default 3)")
    parser.add_argument("--iters", type=_int_at_least(1),
                        help="timed steps per round (default 10)")
    parser.add_argument("--rounds", type=_int_at_least(1),
                        help="rounds of warmup + timed steps, alternating "
                        "between a model, its fused variant and its peers "
                        "(default 1); more rounds even out a drifting load")
    parser.add_argument("--vs", action="append", metavar="LIBRARY",
                        help="also measure the peer model of "
                        f"{' / '.join(PEER_SOURCES)} (repeat or "
                        "comma-separate)")
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="also measure inference of model.fuse() (batch "
                        "norm folded into the convolutions)")
    parser.add_argument("--export", action="append", metavar="FORMATS",
                        help="also export the model with zoo.export and "
                        "time inference of each artifact in its runtime ("
                        f"{' / '.join(EXPORT_FORMATS)}; repeat or "
                        "comma-separate)")
    parser.add_argument("--model-arg", action="append", type=_model_arg,
                        metavar="KEY=VALUE",
                        help="argument of zoo.create_model, value in YAML "
                        "(repeatable): --model-arg block_variant=v1")
    parser.add_argument("--num-classes", type=_int_at_least(1),
                        help="classes of classifier heads (default 1000)")
    parser.add_argument("--peak-size", type=_int_at_least(1),
                        help="matrix side of the start-up matmul peak "
                        "(default 2048)")
    parser.add_argument("--keras-defaults",
                        action=argparse.BooleanOptionalAction, default=None,
                        help="also measure the peers in a process of their "
                        "own under Keras' and XLA's defaults (zoo's XLA "
                        "flags off), for a second ratio: zoo's defaults "
                        "against what a user of the peer gets (default: on "
                        "when this process runs with zoo's XLA flags and "
                        "there are peers)")
    parser.add_argument("--peers-only", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--backends", metavar="LIST",
                        help="comma-separated backends, each run in its own "
                        f"subprocess ({','.join(BACKENDS)}); default: the "
                        "active one, or the recipe's")
    parser.add_argument("--results-file", metavar="PATH",
                        help="write the rows to PATH (.csv or .json)")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="where a recipe writes NAME.csv, NAME.json and "
                        f"NAME.png (default {DEFAULT_OUTPUT_DIR}/)")
    parser.add_argument("--plot", nargs="?", const="", metavar="PNG",
                        help="write a bar chart (needs matplotlib: pip "
                        "install 'zoo[plot]')")
    parser.add_argument("--no-table", action="store_true",
                        help="print no table (the results file only)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines")
    parser.set_defaults(func=run)
    return parser


def _split_list(values):
    items = []
    for value in values or []:
        items.extend(v.strip() for v in value.split(",") if v.strip())
    return items


def _overrides(args):
    """The `BenchSettings` fields the command line sets."""
    from benchmarks.errors import check_choice

    values = {
        "mode": args.mode,
        "batch_size": args.batch_size,
        "img_size": args.img_size,
        "seq_len": args.seq_len,
        "new_tokens": args.new_tokens,
        "precision": args.precision,
        "jit": args.jit,
        "warmup": args.warmup,
        "iters": args.iters,
        "rounds": args.rounds,
        "num_classes": args.num_classes,
        "peak_size": args.peak_size,
        "fuse": args.fuse,
        "peers_only": args.peers_only or None,
    }
    if args.vs:
        peers = _split_list(args.vs)
        for peer in peers:
            check_choice("peer library (--vs)", peer, PEER_SOURCES)
        values["peers"] = tuple(peers)
    if args.export:
        formats = _split_list(args.export)
        for format in formats:
            check_choice("export format (--export)", format, EXPORT_FORMATS)
        values["exports"] = tuple(formats)
    return {k: v for k, v in values.items() if v is not None}


def _plan(args):
    """`(runs, backends, recipe)`: runs a list of (models, settings)."""
    from benchmarks.errors import BenchError
    from benchmarks.recipes import (
        RecipeRun,
        check_models_registered,
        load_recipe,
    )
    from benchmarks.runner import expand_model_names

    overrides = _overrides(args)
    model_args = dict(args.model_arg or [])
    recipe = None
    if args.recipe:
        if args.models:
            raise BenchError(
                f"Give model names or --recipe, not both (got --recipe "
                f"{args.recipe} and {' '.join(args.models)})."
            )
        recipe = load_recipe(args.recipe)
        check_models_registered(recipe)
        recipe_runs = recipe.runs
    elif args.models:
        recipe_runs = [RecipeRun("cli", tuple(args.models), {})]
    else:
        raise BenchError(
            "Give one or more model names (see `zoo models`) or --recipe "
            "NAME (see `zoo bench --list-recipes`)."
        )
    runs = []
    for run in recipe_runs:
        run_overrides = dict(overrides)
        if model_args:
            run_overrides["model_args"] = {
                **run.settings.get("model_args", {}), **model_args}
        settings = run.bench_settings(run_overrides)
        expand_model_names(run.models)
        runs.append((list(run.models), settings))
    if args.backends:
        backends = _split_list([args.backends])
    elif recipe is not None and recipe.backends:
        backends = list(recipe.backends)
    else:
        backends = []
    from benchmarks.errors import check_choice

    for backend in backends:
        check_choice("backend", backend, BACKENDS)
    return runs, backends, recipe


def _progress_reporter(args):
    """A context manager yielding `progress(label, step, total)` or None."""
    import contextlib

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, \
        TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if args.quiet or not console.is_terminal:
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def reporter():
        tasks = {}
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=False) as progress:
            def update(label, step, total):
                if label not in tasks:
                    tasks[label] = progress.add_task(label, total=total)
                progress.update(tasks[label], completed=step, total=total)

            yield update

    return reporter()


def _run_here(runs, args):
    from benchmarks.results import add_ratios
    from benchmarks.runner import run_benchmarks

    rows = []
    with _progress_reporter(args) as progress:
        for models, settings in runs:
            rows.extend(run_benchmarks(models, settings, progress=progress))
    if _wants_keras_defaults(runs, args):
        rows.extend(_peers_under_keras_defaults(args))
    return add_ratios(rows)


def _wants_keras_defaults(runs, args):
    """Whether to measure the peers again under Keras' defaults: asked, or
    (by default) there are peers and this process runs with zoo's XLA
    flags, so that the same-process ratio is not what a peer's user gets."""
    from benchmarks.environment import describe_xla_flags

    if args.peers_only or args.keras_defaults is False:
        return False
    has_peers = any(settings.peers for _, settings in runs)
    if args.keras_defaults:
        return has_peers
    return has_peers and describe_xla_flags() == "onednn"


def _peers_under_keras_defaults(args):
    """The peers' rows measured by a `zoo bench --peers-only` child without
    zoo's XLA flags (`ZOO_XLA_ONEDNN=0`, no `XLA_FLAGS`), marked
    `settings="Keras defaults"`."""
    import keras

    from benchmarks.errors import BenchFailure
    from benchmarks.results import read_results
    from zoo.xla_flags import OPT_OUT_VARIABLE

    backend = keras.backend.backend()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        results_file = os.path.join(tmp, "keras_defaults.json")
        env = _child_environment(backend)
        env.pop("XLA_FLAGS", None)
        env[OPT_OUT_VARIABLE] = "0"
        argv = _child_argv(args, backend, results_file) + [
            "--peers-only", "--no-keras-defaults"]
        if not args.quiet:
            print("zoo bench: measuring the peers under Keras' defaults in a "
                  "subprocess", file=sys.stderr, flush=True)
        result = subprocess.run([sys.executable, "-m", "training.cli", *argv],
                                env=env)
        if result.returncode != 0:
            raise BenchFailure(
                "The Keras-defaults subprocess failed with exit status "
                f"{result.returncode} (its messages are above).")
        rows = read_results(results_file)
    for row in rows:
        row.settings = "Keras defaults"
    return rows


def _child_environment(backend):
    """`os.environ` for a `zoo bench` child on `backend` (this checkout
    first on the path)."""
    repo_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (repo_root, env.get("PYTHONPATH")) if p)
    return env


def _child_argv(args, backend, results_file):
    argv = ["bench"]
    if args.recipe:
        argv += ["--recipe", args.recipe]
    argv += list(args.models)
    for flag, value in (
        ("--mode", args.mode), ("--batch-size", args.batch_size),
        ("--img-size", args.img_size), ("--seq-len", args.seq_len),
        ("--new-tokens", args.new_tokens),
        ("--precision", args.precision), ("--warmup", args.warmup),
        ("--iters", args.iters), ("--rounds", args.rounds),
        ("--num-classes", args.num_classes),
        ("--peak-size", args.peak_size),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for flag, value in (("jit", args.jit), ("fuse", args.fuse),
                        ("keras-defaults", args.keras_defaults)):
        if value is not None:
            argv.append(f"--{flag}" if value else f"--no-{flag}")
    for value in args.vs or []:
        argv += ["--vs", value]
    for value in args.export or []:
        argv += ["--export", value]
    import json

    for key, value in args.model_arg or []:
        argv += ["--model-arg", f"{key}={json.dumps(value)}"]
    if args.quiet:
        argv.append("--quiet")
    return argv + ["--backends", backend, "--results-file", results_file,
                   "--no-table"]


def _run_in_subprocesses(backends, args):
    """Runs `zoo bench` once per backend in a child process; merges rows."""
    from benchmarks.errors import BenchFailure
    from benchmarks.results import add_ratios, read_results

    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        for backend in backends:
            results_file = os.path.join(tmp, f"{backend}.json")
            env = _child_environment(backend)
            command = [sys.executable, "-m", "training.cli",
                       *_child_argv(args, backend, results_file)]
            if not args.quiet:
                print(f"zoo bench: running the {backend} backend in a "
                      "subprocess", file=sys.stderr, flush=True)
            result = subprocess.run(command, env=env)
            if result.returncode != 0:
                raise BenchFailure(
                    f"The {backend} subprocess failed with exit status "
                    f"{result.returncode} (its messages are above)."
                )
            rows.extend(read_results(results_file))
    return add_ratios(rows)


def _write_outputs(rows, args, recipe):
    from benchmarks.report import plot_results
    from benchmarks.results import write_results

    written = []
    if args.results_file:
        written.append(write_results(rows, args.results_file))
    elif recipe is not None:
        folder = Path(args.output_dir or DEFAULT_OUTPUT_DIR)
        for suffix in (".csv", ".json"):
            written.append(write_results(rows, folder / f"{recipe.name}"
                                         f"{suffix}"))
    if args.plot is not None:
        if args.plot:
            png = Path(args.plot)
        elif args.results_file:
            png = Path(args.results_file).with_suffix(".png")
        elif recipe is not None:
            png = Path(args.output_dir or DEFAULT_OUTPUT_DIR) / \
                f"{recipe.name}.png"
        else:
            png = Path("bench.png")
        title = f"zoo bench {recipe.name}" if recipe else "zoo bench"
        written.append(plot_results(rows, png, title=title))
    return written


def _check_outputs(args):
    from benchmarks.report import check_plotting
    from benchmarks.results import _check_suffix

    if args.results_file:
        _check_suffix(args.results_file)
    if args.plot is not None:
        check_plotting()
        if args.plot and Path(args.plot).suffix.lower() != ".png":
            from benchmarks.errors import BenchError

            raise BenchError(f"--plot {args.plot!r}: the chart is a PNG; "
                             "give a path ending in .png.")


def _list_recipes():
    from benchmarks.recipes import list_recipes, load_recipe

    for name in list_recipes():
        print(f"{name:<20} {load_recipe(name).description}")
    return 0


def _main(args):
    import keras

    from benchmarks.report import print_results

    if args.list_recipes:
        return _list_recipes()
    runs, backends, recipe = _plan(args)
    _check_outputs(args)
    if not backends or backends == [keras.backend.backend()]:
        rows = _run_here(runs, args)
    else:
        rows = _run_in_subprocesses(backends, args)
    if not args.no_table:
        title = f"zoo bench {recipe.name}" if recipe else "zoo bench"
        print_results(rows, title=title)
    for path in _write_outputs(rows, args, recipe):
        if not args.quiet:
            print(f"zoo bench: wrote {path}", file=sys.stderr)
    return 0


def run(args):
    """Runs `zoo bench` for parsed `args`; returns the exit status.

    0 when every measurement ran, 2 for a usage error (bad name, value or
    recipe), 1 for a run that failed.
    """
    from benchmarks.errors import BenchError, BenchFailure
    from zoo.errors import UnknownModelError

    try:
        return _main(args)
    except (BenchError, UnknownModelError) as error:
        print(f"zoo bench: error: {error}", file=sys.stderr)
        return 2
    except BenchFailure as error:
        print(f"zoo bench: failed: {error}", file=sys.stderr)
        return 1
