"""The `zoo` command line.

```sh
zoo models "resnet*"        # registered architectures
zoo presets "resnet*"       # presets: parameters, input size, weights, license
zoo train ...               # training experiments (training/train_cli.py)
zoo bench ...               # benchmarks (training/bench/cli.py)
```

Each larger subcommand lives in its own module exposing
`add_parser(subparsers)`, which registers the subcommand and sets
`func(args) -> exit status` as its default.
"""

import argparse
import importlib
import importlib.util
import sys

#: Modules that add a subcommand, in the order `zoo --help` lists them.
SUBCOMMAND_MODULES = ("training.train_cli", "training.bench.cli")


def _models(args):
    import zoo
    from zoo.registry import get_model_entry

    for name in zoo.list_models(args.pattern):
        print(f"{name:<16} {get_model_entry(name).description}")
    return 0


def _presets(args):
    import zoo

    presets = zoo.list_presets(args.pattern)
    print(f"{'name':<20} {'params':>8}  {'input':<9}  {'weights':<18} license")
    for info in presets:
        print(info)
    return 0


def build_parser():
    """The argument parser of the `zoo` command, one subcommand per job."""
    parser = argparse.ArgumentParser(
        prog="zoo", description="Keras 3 model zoo: models, presets, training."
    )
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
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
