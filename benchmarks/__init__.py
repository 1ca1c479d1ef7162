"""Benchmarks: throughput, FLOPs and efficiency of zoo models against peers.

`zoo bench` (see `benchmarks/cli.py`) on the command line; from Python:

```python
from benchmarks import BenchSettings, run_benchmarks

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
    "BenchError": "benchmarks.errors",
    "BenchFailure": "benchmarks.errors",
    "BenchRow": "benchmarks.results",
    "COLUMNS": "benchmarks.results",
    "BenchSettings": "benchmarks.settings",
    "Recipe": "benchmarks.recipes",
    "add_ratios": "benchmarks.results",
    "benchmark_model": "benchmarks.runner",
    "is_out_of_memory": "benchmarks.runner",
    "list_recipes": "benchmarks.recipes",
    "load_recipe": "benchmarks.recipes",
    "measure_matmul_peak": "benchmarks.peak",
    "read_results": "benchmarks.results",
    "run_benchmarks": "benchmarks.runner",
    "write_results": "benchmarks.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
