"""`zoo train`: run an experiment from the command line.

```sh
zoo train --experiment resnet_digits --model_dir runs/digits
zoo train --experiment image_classification --config_file a.yaml \
    --config_file b.yaml --params_override "trainer.train_steps=200" \
    --mode train_and_eval --model_dir runs/x
```

Config files apply in order, then `--params_override`. A bad config exits
with status 2 and one line naming the problem.
"""

import logging
import sys


def add_parser(subparsers):
    """Registers the `train` subcommand."""
    parser = subparsers.add_parser(
        "train", help="run a training experiment",
        description="Run a registered experiment, overridden by YAML files "
                    "and dotted overrides.")
    parser.add_argument("--experiment", required=True,
                        help="registered experiment name")
    parser.add_argument("--config_file", action="append", default=[],
                        help="YAML file applied over the experiment "
                             "(repeatable, in order)")
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


def build_config(experiment, config_files=(), params_override=""):
    """The experiment config with files and overrides applied in order."""
    from training.config.base import load_yaml_file
    from training.registry import get_experiment

    config = get_experiment(experiment)
    for path in config_files:
        config.override(load_yaml_file(path))
    if params_override:
        config.override(params_override)
    return config


def run(args):
    """Runs `zoo train`; returns the exit status."""
    from training.config.base import ConfigError
    from training.trainer import run_experiment
    from zoo.errors import ZooError

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = build_config(args.experiment, args.config_file,
                              args.params_override)
    except ConfigError as e:
        print(f"zoo train: {e}", file=sys.stderr)
        return 2
    try:
        results = run_experiment(config, mode=args.mode,
                                 model_dir=args.model_dir)
    except ConfigError as e:
        print(f"zoo train: {e}", file=sys.stderr)
        return 2
    except ZooError as e:
        print(f"zoo train: {e}", file=sys.stderr)
        return 1
    if isinstance(results, dict):
        summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())
                            if isinstance(v, (int, float)))
        print(f"zoo train: done. {summary}")
    return 0
