"""Benchmark recipes: `presets/benchmarks/*.yaml`, run by `zoo bench --recipe`.

A recipe names the models and how to measure them. Top-level keys are the
defaults of every run; `runs` lists runs that override them (a recipe with no
`runs` is one run):

```yaml
description: ResNet-50 on a CPU against keras.applications.
backends: [tensorflow, jax]   # each in its own subprocess
batch_size: 16
img_size: 224
warmup: 2
iters: 10
runs:
  - models: [resnet50]
    mode: both
    precision: float32
    peers: [keras.applications]
    fuse: true
  - models: [resnet50]
    mode: infer
    precision: bfloat16
```

Keys of a run: the fields of `BenchSettings` (`mode`, `batch_size`,
`img_size`, `seq_len`, `precision`, `jit`, `warmup`, `iters`,
`num_classes`, `peers`, `fuse`, `exports`, `model_args`, `peak_size`) plus
`models` (a list of names or wildcards, or `model` for one) and an optional
`name`.
Model names are checked when the recipe runs, not when it loads, so a
recipe can name a model that another module registers.
"""

import dataclasses
import os
import sys
from pathlib import Path

import yaml

from benchmarks.settings import BACKENDS, BenchSettings

SETTING_KEYS = tuple(f.name for f in dataclasses.fields(BenchSettings))
RUN_KEYS = ("name", "models", "model") + SETTING_KEYS
RECIPE_KEYS = ("description", "backends", "runs") + RUN_KEYS


@dataclasses.dataclass
class RecipeRun:
    """One run of a recipe: models measured with one `BenchSettings`.

    Attributes:
        name: str, a label (`"run1"` when the recipe gives none).
        models: tuple of str, names or wildcards.
        settings: dict, the `BenchSettings` fields the recipe sets.
    """

    name: str
    models: tuple
    settings: dict

    def bench_settings(self, overrides=None):
        """`BenchSettings` of this run, `overrides` (a dict) taking priority.

        Raises:
            BenchError: a bad value.
        """
        values = dict(self.settings)
        values.update({k: v for k, v in (overrides or {}).items()
                       if v is not None})
        for key in ("peers", "exports"):
            if key in values:
                values[key] = tuple(values[key])
        return BenchSettings(**values).validate()


@dataclasses.dataclass
class Recipe:
    """A parsed recipe.

    Attributes:
        name: str, the file's stem (`"resnet50_cpu"`).
        description: str.
        backends: tuple of str; empty means the active backend.
        runs: list of `RecipeRun`.
        path: `Path` of the file, or None.
    """

    name: str
    description: str
    backends: tuple
    runs: list
    path: object = None

    def models(self):
        """Every model name or wildcard the recipe measures, in order."""
        names = []
        for run in self.runs:
            names.extend(m for m in run.models if m not in names)
        return names


def recipe_dirs():
    """Folders searched for recipes: `$ZOO_BENCH_RECIPES_PATH` entries, the
    checkout's `presets/benchmarks/`, then `share/zoo/presets/benchmarks`
    of the installation."""
    dirs = [Path(p) for p in
            os.environ.get("ZOO_BENCH_RECIPES_PATH", "").split(os.pathsep)
            if p]
    dirs.append(Path(__file__).resolve().parents[1] / "presets" /
                "benchmarks")
    dirs.append(Path(sys.prefix) / "share" / "zoo" / "presets" /
                "benchmarks")
    return [d for d in dirs if d.is_dir()]


def list_recipes():
    """Names of the recipes found in `recipe_dirs()`, sorted."""
    names = set()
    for folder in recipe_dirs():
        names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def find_recipe(name):
    """The file of recipe `name`, or `name` itself when it is a YAML path.

    Raises:
        BenchError: no such recipe; the message lists the closest names.
    """
    from benchmarks.errors import BenchError
    from zoo.errors import did_you_mean

    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    for folder in recipe_dirs():
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    known = list_recipes()
    raise BenchError(
        f"Unknown recipe {name!r}.{did_you_mean(name, known)} "
        f"Recipes: {', '.join(known) or 'none'} (presets/benchmarks/)."
    )


def _check_keys(data, allowed, where):
    from benchmarks.errors import BenchError
    from zoo.errors import did_you_mean

    for key in data:
        if key not in allowed:
            raise BenchError(
                f"{where}: unknown key {key!r}."
                f"{did_you_mean(str(key), allowed)} "
                f"Valid keys: {', '.join(allowed)}."
            )


def _as_names(value, key, where):
    from benchmarks.errors import BenchError

    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(v, str) for v in value):
        raise BenchError(
            f"{where}: {key} must be a name or a list of names, got "
            f"{value!r}."
        )
    return tuple(value)


def parse_recipe(data, name="recipe", path=None):
    """Checks a recipe's mapping and returns a `Recipe`.

    Every run's settings are validated with the defaults of `BenchSettings`
    filled in, so a bad value fails here rather than halfway through a run.

    Args:
        data: dict, the YAML's contents.
        name: str, the recipe's name, used in messages.
        path: optional path of the file.

    Raises:
        BenchError: an unknown key, a missing model list or a bad value,
            named with the run it is in.
    """
    from benchmarks.errors import BenchError, check_choice

    if not isinstance(data, dict):
        raise BenchError(f"recipe {name}: expected a mapping of keys, got "
                         f"{type(data).__name__}.")
    _check_keys(data, RECIPE_KEYS, f"recipe {name}")
    backends = data.get("backends") or ()
    backends = _as_names(backends, "backends", f"recipe {name}") \
        if backends else ()
    for backend in backends:
        check_choice("backend", backend, BACKENDS)
    defaults = {k: v for k, v in data.items()
                if k not in ("description", "backends", "runs")}
    raw_runs = data.get("runs", [{}])
    if not isinstance(raw_runs, list) or not raw_runs:
        raise BenchError(f"recipe {name}: runs must be a non-empty list.")
    runs = []
    for index, raw in enumerate(raw_runs, start=1):
        where = f"recipe {name}, run {index}"
        if not isinstance(raw, dict):
            raise BenchError(f"{where}: expected a mapping, got {raw!r}.")
        _check_keys(raw, RUN_KEYS, where)
        merged = {**defaults, **raw}
        if "model" in merged and "models" in merged:
            if "model" in raw and "models" in raw:
                raise BenchError(f"{where}: give model or models, not both.")
            merged.pop("models" if "model" in raw else "model")
        if "models" not in merged and "model" not in merged:
            raise BenchError(f"{where}: no models (key `models`).")
        models = _as_names(merged.pop("models", None) or merged.pop("model"),
                           "models", where)
        merged.pop("model", None)
        run_name = str(merged.pop("name", f"run{index}"))
        for key in ("peers", "exports"):
            if key in merged:
                merged[key] = _as_names(merged[key], key, where)
        run = RecipeRun(name=run_name, models=models, settings=merged)
        try:
            run.bench_settings()
        except BenchError as error:
            raise BenchError(f"{where}: {error}") from None
        except TypeError as error:
            raise BenchError(f"{where}: {error}") from None
        runs.append(run)
    return Recipe(name=name, description=str(data.get("description", "")),
                  backends=backends, runs=runs, path=path)


def load_recipe(name):
    """Reads and checks a recipe by name (`"resnet50_cpu"`) or YAML path.

    Returns:
        `Recipe`.

    Raises:
        BenchError: unknown recipe, unreadable YAML or bad contents.
    """
    from benchmarks.errors import BenchError

    path = find_recipe(name)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise BenchError(f"recipe {path}: not valid YAML: {error}") from None
    return parse_recipe(data, name=path.stem, path=path)


def check_models_registered(recipe):
    """Raises `BenchError` for a recipe model that no builder registers.

    The message names the recipe, the missing model, the closest registered
    names, and says the model must be registered (imported) first.
    """
    import zoo
    from benchmarks.errors import BenchError
    from zoo.errors import did_you_mean

    registered = zoo.list_models()
    for pattern in recipe.models():
        if not zoo.list_models(pattern):
            raise BenchError(
                f"Recipe {recipe.name!r} measures model {pattern!r}, which "
                f"is not registered here.{did_you_mean(pattern, registered)}"
                " The recipe can run once a module registers that model "
                "(see `zoo models`)."
            )
