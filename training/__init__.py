"""The experiment framework: configs, tasks, trainer, data, CLI, benchmarks.

```python
import training
cfg = training.get_experiment("resnet_digits")
cfg.override("trainer.train_steps=200")
training.run_experiment(cfg, mode="train_and_eval", model_dir="runs/digits")
```
"""

from training.config import ConfigError, ExperimentConfig
from training.registry import (
    get_experiment,
    get_task,
    list_experiments,
    register_experiment,
    register_task,
)
from training.trainer import run_experiment

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "get_experiment",
    "get_task",
    "list_experiments",
    "register_experiment",
    "register_task",
    "run_experiment",
]
