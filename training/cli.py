"""The `zoo` command line.

```sh
zoo models "resnet*"        # registered architectures
zoo presets "resnet*"       # presets: parameters, input size, weights, license
zoo train ...               # training experiments (training/train_cli.py)
zoo export ...              # serving artifacts (training/export_cli.py)
zoo predict SOURCE FILES    # classify images, embed texts (training/predict_cli.py)
zoo info SOURCE             # a preset's or an exported model's card
zoo data coco-to-tfrecord   # COCO -> detection TFRecords (training/data_cli.py)
zoo bench ...               # benchmarks (benchmarks/cli.py)
```

Each larger subcommand lives in its own module exposing
`add_parser(subparsers)`, which registers the subcommand and sets
`func(args) -> exit status` as its default. Building the parser imports no
backend, so `zoo --help`, `zoo models` and `zoo presets` answer at once;
every command quiets the backends' start-up logs (`training.console`)
unless `--verbose` is given.
"""

import argparse
import importlib
import importlib.util
import sys

#: Modules that add a subcommand, in the order `zoo --help` lists them.
SUBCOMMAND_MODULES = ("training.train_cli", "training.export_cli",
                      "training.predict_cli", "training.data_cli",
                      "benchmarks.cli")


def _models(args):
    from zoo.registry import get_model_entry, list_models

    names = list_models(args.pattern)
    width = max([len(n) for n in names] + [4])
    print(f"{'name':<{width}}  {'family':<8} {'task':<16} description")
    for name in names:
        entry = get_model_entry(name)
        print(f"{name:<{width}}  {entry.family:<8} "
              f"{entry.task or '-':<16} {entry.description}")
    return 0


def _presets(args):
    from zoo.presets import list_presets

    presets = list_presets(args.pattern)
    print(f"{'name':<20} {'params':>8}  {'input':<10} {'kind':<16} "
          f"{'converter':<18} license")
    for info in presets:
        print(info)
    return 0


def build_parser():
    """The argument parser of the `zoo` command, one subcommand per job."""
    parser = argparse.ArgumentParser(
        prog="zoo", description="Keras 3 model zoo: models, presets, training."
    )
    parser.add_argument("--verbose", action="store_true",
                        help="show the backends' logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    models = sub.add_parser("models", help="list registered models")
    models.add_argument("pattern", nargs="?", default="*")
    models.set_defaults(func=_models)
    presets = sub.add_parser("presets", help="list built-in presets")
    presets.add_argument("pattern", nargs="?", default="*")
    presets.set_defaults(func=_presets)
    for name in SUBCOMMAND_MODULES:
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) is None:
            continue
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the `zoo` console script; returns the exit status."""
    from training.console import quiet_backends

    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    if verbose:
        argv.remove("--verbose")
    quiet_backends(verbose=verbose)
    args = build_parser().parse_args(argv)
    args.verbose = verbose
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
