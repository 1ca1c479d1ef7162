"""Registries: experiment names -> config factories, task configs -> tasks."""

from zoo.errors import did_you_mean
from training.config.base import ConfigError

_EXPERIMENTS = {}
_TASKS = {}


def register_experiment(name):
    """Registers a factory returning a fresh `ExperimentConfig` as `name`.

    ```python
    @register_experiment("resnet_digits")
    def resnet_digits():
        return ExperimentConfig(task=..., trainer=...)
    ```
    """

    def decorator(factory):
        if name in _EXPERIMENTS and _EXPERIMENTS[name] is not factory:
            raise ValueError(f"Experiment {name!r} is already registered.")
        _EXPERIMENTS[name] = factory
        return factory

    return decorator


def _ensure_builtin():
    import training.tasks  # noqa: F401  (registers tasks and experiments)


def list_experiments():
    """Names of the registered experiments, sorted."""
    _ensure_builtin()
    return sorted(_EXPERIMENTS)


def get_experiment(name):
    """A fresh `ExperimentConfig` from the factory registered as `name`.

    Raises:
        ConfigError: unknown name, listing the closest registered ones.
    """
    _ensure_builtin()
    if name not in _EXPERIMENTS:
        raise ConfigError(
            f"Unknown experiment {name!r}.{did_you_mean(name, _EXPERIMENTS)} "
            f"Registered: {sorted(_EXPERIMENTS)}."
        )
    config = _EXPERIMENTS[name]()
    config.experiment = name
    return config


def register_task(config_cls):
    """Registers a `Task` class as the one that runs `config_cls` configs."""

    def decorator(task_cls):
        _TASKS[config_cls] = task_cls
        return task_cls

    return decorator


def get_task(task_config):
    """Instantiates the task registered for `type(task_config)` (or a base).

    Raises:
        ConfigError: no task is registered for the config's class.
    """
    _ensure_builtin()
    for cls in type(task_config).__mro__:
        if cls in _TASKS:
            return _TASKS[cls](task_config)
    raise ConfigError(
        f"No task is registered for {type(task_config).__name__}; use "
        "@register_task(ThatConfig) on a Task class."
    )
