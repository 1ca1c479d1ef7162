"""Benchmarks: throughput, FLOPs and efficiency of zoo models against peers.

`zoo bench` (see `training/bench/cli.py`) on the command line; from Python:

```python
from training.bench import BenchSettings, run_benchmarks

settings = BenchSettings(mode="infer", batch_size=2, img_size=32, warmup=1,
                         iters=2, peak_size=256,
                         model_args={"stage_filters": [8, 16, 32, 64]})
rows = run_benchmarks(["resnet18"], settings)
```

The package's modules: `settings` (what to measure), `runner` (measuring),
`models` (zoo models, peers, inputs), `flops`, `peak`, `environment`,
`results` (rows, CSV/JSON), `recipes` (`presets/benchmarks/*.yaml`),
`report` (table, chart), `cli`. Importing this package is cheap; Keras is
imported by the names below on first use.
"""

import importlib

_EXPORTS = {
    "BenchError": "training.bench.errors",
    "BenchFailure": "training.bench.errors",
    "BenchRow": "training.bench.results",
    "COLUMNS": "training.bench.results",
    "BenchSettings": "training.bench.settings",
    "Recipe": "training.bench.recipes",
    "add_ratios": "training.bench.results",
    "benchmark_model": "training.bench.runner",
    "is_out_of_memory": "training.bench.runner",
    "list_recipes": "training.bench.recipes",
    "load_recipe": "training.bench.recipes",
    "measure_matmul_peak": "training.bench.peak",
    "read_results": "training.bench.results",
    "run_benchmarks": "training.bench.runner",
    "write_results": "training.bench.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'training.bench' has no attribute {name!r}")
