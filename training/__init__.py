"""The experiment framework: configs, tasks, trainer, data, CLI.

```python
import training
cfg = training.get_experiment("resnet_digits")
cfg.override("trainer.train_steps=200")
training.run_experiment(cfg, mode="train_and_eval", model_dir="runs/digits")
```

Names are imported from their modules on first use, so `import training`
(and `zoo --help`) imports neither Keras nor a backend.
"""

from zoo._lazy import lazy_exports

_EXPORTS = {
    "ConfigError": "training.config.base",
    "ExperimentConfig": "training.config.definitions",
    "get_experiment": "training.registry",
    "get_task": "training.registry",
    "list_experiments": "training.registry",
    "register_experiment": "training.registry",
    "register_task": "training.registry",
    "run_experiment": "training.trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
