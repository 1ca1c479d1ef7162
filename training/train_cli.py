"""`zoo train`: run an experiment from the command line.

```sh
zoo train --experiment resnet_digits --model_dir runs/digits
zoo train --experiment image_classification --config_file a.yaml \
    --config_file b.yaml --params_override "trainer.train_steps=200" \
    --mode train_and_eval --model_dir runs/x
```

Config files apply in order, then `--params_override`, and the result is
validated once. A bad config exits with status 2 and one line naming the
key, the value and the fix (`zoo --verbose train ...` adds the traceback);
other zoo errors (a missing file, weights that do not fit) exit with 1.
"""

import logging
import sys


def add_parser(subparsers):
    """Registers the `train` subcommand."""
    parser = subparsers.add_parser(
        "train", help="run a training experiment",
        description="Run a registered experiment, overridden by YAML files "
                    "and dotted overrides.")
    parser.add_argument("--experiment",
                        help="registered experiment name (default: the "
                             "first config file's `experiment` key)")
    parser.add_argument("--config_file", action="append", default=[],
                        help="YAML file applied over the experiment "
                             "(repeatable, in order), or the name of a "
                             "recipe in presets/experiments/")
    parser.add_argument("--params_override", default="",
                        help="'a.b=1,c.d=x', YAML text or a YAML file, "
                             "applied last")
    parser.add_argument("--mode", default="train_and_eval",
                        choices=("train", "eval", "train_and_eval",
                                 "continuous_eval"))
    parser.add_argument("--model_dir", required=True,
                        help="directory for params, checkpoints, summaries")
    parser.set_defaults(func=run)
    return parser


def recipes_dirs():
    """Where shipped recipes are: the checkout's `presets/experiments/`,
    then `share/zoo/presets/experiments` of the installation."""
    import os
    import sys
    from pathlib import Path

    dirs = [Path(__file__).resolve().parents[1] / "presets" / "experiments",
            Path(sys.prefix) / "share" / "zoo" / "presets" / "experiments"]
    return [d for d in dirs if os.path.isdir(d)]


def list_recipes():
    """Names of the shipped experiment recipes."""
    return sorted({p.stem for d in recipes_dirs() for p in d.glob("*.yaml")})


def resolve_config_file(value):
    """A config file's path: `value` itself, or a shipped recipe's name.

    Raises:
        ConfigError: neither, naming the shipped recipes.
    """
    import os

    from training.config.base import ConfigError

    if os.path.isfile(value):
        return value
    for directory in recipes_dirs():
        candidate = directory / f"{value}.yaml"
        if candidate.is_file():
            return str(candidate)
    raise ConfigError(
        f"Config file {value} does not exist; shipped recipes (by name): "
        f"{', '.join(list_recipes()) or 'none'}.")


def build_config(experiment, config_files=(), params_override=""):
    """The experiment config with files and overrides applied in order.

    Args:
        experiment: registered name, or None for the first file's
            `experiment` key.
        config_files: YAML paths or shipped recipe names, applied in order.
        params_override: applied last.

    Raises:
        ConfigError: no experiment named anywhere, or a bad file, key or
            value; validated once, at the end.
    """
    from training.config.base import ConfigError, load_yaml_file
    from training.registry import get_experiment

    files = [load_yaml_file(resolve_config_file(p)) for p in config_files]
    if not experiment:
        named = [f.get("experiment") for f in files if f.get("experiment")]
        if not named:
            raise ConfigError(
                "No experiment: give --experiment NAME, or a config file "
                "with an `experiment:` key.")
        experiment = named[0]
    config = get_experiment(experiment)
    for data in files:
        data = {k: v for k, v in data.items() if k != "experiment"}
        config.override(data, validate=False)
    if params_override:
        config.override(params_override, validate=False)
    # As the Model Garden does: the final config is validated once, so a
    # later file or override can repair what an earlier one set.
    return config.validate_all()


def run(args):
    """Runs `zoo train`; returns the exit status."""
    from training.config.base import ConfigError
    from training.trainer import run_experiment
    from zoo.errors import ZooError

    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def refuse(error, status):
        if verbose:
            import traceback

            traceback.print_exception(error)
        message = str(error).strip().replace("\n", " ")
        print(f"zoo train: {message}", file=sys.stderr)
        return status

    try:
        config = build_config(args.experiment, args.config_file,
                              args.params_override)
        results = run_experiment(config, mode=args.mode,
                                 model_dir=args.model_dir)
    except ConfigError as e:
        return refuse(e, 2)
    except ZooError as e:
        return refuse(e, 1)
    if isinstance(results, dict):
        summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())
                            if isinstance(v, (int, float)))
        print(f"zoo train: done. {summary}")
    return 0
