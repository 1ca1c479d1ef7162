"""Typed experiment configs (see `base.py` for the rules)."""

from training.config.base import (
    Config,
    ConfigError,
    OneOfConfig,
    load_yaml_file,
    parse_overrides,
)
from training.config.definitions import (
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
)
from training.config.optimization import OptimizationConfig

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "OneOfConfig",
    "OptimizationConfig",
    "RuntimeConfig",
    "TaskConfig",
    "TrainerConfig",
    "load_yaml_file",
    "parse_overrides",
]
