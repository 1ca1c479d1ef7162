"""The experiment framework: configs, tasks, trainer, data, CLI, benchmarks."""
