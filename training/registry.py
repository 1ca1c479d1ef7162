"""Registries of the experiment framework, all in one decorator style.

- experiments: name -> factory returning a fresh `ExperimentConfig`
  (`@register_experiment("resnet_imagenet")`);
- tasks: task config class -> the `Task` that runs it
  (`@register_task(ImageClassificationConfig)`);
- model configs: the alternatives of the Model Garden's one-of model
  configs, registered by each family next to its mapping onto
  `zoo.create_model` (`@register_backbone("resnet")`,
  `@register_encoder("bert")`, `@register_decoder("fpn")`). A task reads
  `task.model.backbone.get()` and never names a family.

Registered model configs are found by importing every module of
`training.models.<kind>s` the first time a kind is used, so a family adds
a file there and touches nothing else.
"""

import importlib
import pkgutil

from training.config.base import ConfigError
from zoo.errors import did_you_mean
from zoo.registry import table_decorator

_EXPERIMENTS = {}
_TASKS = {}
_MODEL_CONFIGS = {}
_DISCOVERED = set()

#: Kinds of registered model configs and the package each is found in.
MODEL_CONFIG_PACKAGES = {
    "backbone": "training.models.backbones",
    "encoder": "training.models.encoders",
    "decoder": "training.models.decoders",
    "head": "training.models.heads",
}


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
        ConfigError: unknown name: a Model Garden experiment zoo does not
            run yet is said so; otherwise the closest registered names.
    """
    from training.config.model_garden import unsupported_message

    _ensure_builtin()
    if name not in _EXPERIMENTS:
        message = unsupported_message("experiment", name,
                                      sorted(_EXPERIMENTS))
        if message is None:
            message = (f"Unknown experiment {name!r}."
                       f"{did_you_mean(name, _EXPERIMENTS)} Registered: "
                       f"{sorted(_EXPERIMENTS)}.")
        raise ConfigError(message)
    config = _EXPERIMENTS[name]()
    config.experiment = name
    return config


def register_task(config_cls):
    """Registers a `Task` class as the one that runs `config_cls` configs."""
    return table_decorator(_TASKS, config_cls)


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


# --- model configs (the one-of alternatives) -----------------------------------


def register_model_config(kind, name):
    """Registers a config class as the `name` alternative of `kind`.

    Args:
        kind: a key of `MODEL_CONFIG_PACKAGES`.
        name: the value of `type` that selects it (the Model Garden's key,
            e.g. `"resnet"`).
    """
    if kind not in MODEL_CONFIG_PACKAGES:
        raise ValueError(f"Unknown model config kind {kind!r}; expected one"
                         f" of {sorted(MODEL_CONFIG_PACKAGES)}.")

    def decorator(cls):
        registered = _MODEL_CONFIGS.setdefault(kind, {})
        existing = registered.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"{kind} {name!r} is already registered by "
                             f"{existing.__module__}.{existing.__qualname__}.")
        registered[name] = cls
        cls.registered_name = name
        return cls

    return decorator


def register_backbone(name):
    """Registers a backbone config (`task.model.backbone.type: name`)."""
    return register_model_config("backbone", name)


def register_encoder(name):
    """Registers a text encoder config (`task.model.encoder.type: name`)."""
    return register_model_config("encoder", name)


def register_decoder(name):
    """Registers a decoder config (`task.model.decoder.type: name`)."""
    return register_model_config("decoder", name)


def register_head(name):
    """Registers a head config (`task.model.head.type: name`)."""
    return register_model_config("head", name)


def _discover(kind):
    if kind in _DISCOVERED:
        return
    _DISCOVERED.add(kind)
    package = MODEL_CONFIG_PACKAGES[kind]
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError:
        return
    for info in pkgutil.iter_modules(module.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def registered_configs(kind):
    """`{name: config class}` of every registered alternative of `kind`."""
    _discover(kind)
    return dict(_MODEL_CONFIGS.get(kind, {}))
