"""Preset directories: writing them atomically and loading them back.

The layout follows keras-hub's, so the two can read each other's files:

```
config.json          the backbone, as keras.saving serialises it
model.weights.h5     the backbone's weights
task.json            the task model (backbone config nested), if any
task.weights.h5      the task model's weights (backbone included)
preprocessor.json    the preprocessor, if any
metadata.json        versions, parameter count, sha256 and size of each file
assets/              tokenizer vocabularies and the like
```
"""

import datetime
import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import keras

from zoo.errors import PresetError

logger = logging.getLogger("zoo")

CONFIG_FILE = "config.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
ASSETS_DIR = "assets"
FORMAT_VERSION = 1


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path):
    """Parses a JSON file, raising `PresetError` naming it when malformed."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise PresetError(f"{path} is not valid JSON: {e}.") from None


def _trainable_parameter_count(model):
    return int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))


def save_preset(model, preset_dir):
    """Writes `model` (a `Task` or a `Backbone`) as a preset directory.

    Everything is written into a temporary sibling directory that is renamed
    into place at the end; an existing preset at `preset_dir` is replaced only
    once the new one is complete.
    """
    from zoo.backbone import Backbone
    from zoo.presets.download import hash_file
    from zoo.task import Task

    import zoo

    if isinstance(model, Task):
        backbone, task = model.backbone, model
    elif isinstance(model, Backbone):
        backbone, task = model, None
    else:
        raise TypeError(
            "save_to_preset needs a zoo Task or Backbone, got "
            f"{type(model).__name__}."
        )
    preset_dir = Path(preset_dir)
    preset_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{preset_dir.name}.",
                                dir=preset_dir.parent))
    try:
        _write_json(tmp / CONFIG_FILE,
                    keras.saving.serialize_keras_object(backbone))
        backbone.save_weights(tmp / MODEL_WEIGHTS_FILE)
        if task is not None:
            _write_json(tmp / TASK_CONFIG_FILE,
                        keras.saving.serialize_keras_object(task))
            task.save_weights(tmp / TASK_WEIGHTS_FILE)
        if task is not None and hasattr(task, "save_assets"):
            # A task's own files (a causal LM's tokenizer).
            task.save_assets(tmp / ASSETS_DIR)
        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is not None:
            _write_json(
                tmp / PREPROCESSOR_CONFIG_FILE,
                keras.saving.serialize_keras_object(preprocessor),
            )
            if hasattr(preprocessor, "save_assets"):
                # Vocabularies and tokenizer models: the configs above leave
                # them out.
                preprocessor.save_assets(tmp / ASSETS_DIR)
        files = {
            str(p.relative_to(tmp)): {"sha256": hash_file(p),
                                      "size": p.stat().st_size}
            for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        _write_json(
            tmp / METADATA_FILE,
            {
                "format": "zoo-preset",
                "format_version": FORMAT_VERSION,
                "zoo_version": zoo.__version__,
                "keras_version": keras.__version__,
                "backend": keras.backend.backend(),
                "date": datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="seconds"),
                "parameter_count": _trainable_parameter_count(model),
                "files": files,
            },
        )
        if preset_dir.exists():
            old = preset_dir.with_name(
                f".{preset_dir.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(preset_dir, old)
            os.replace(tmp, preset_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, preset_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return preset_dir


def _registered_class(spec, where):
    from zoo.registry import import_keras_class

    # A fresh process may not have imported the family's module yet.
    cls = import_keras_class(spec.get("registered_name"))
    if cls is None:
        raise PresetError(
            f"{where} names the class {spec.get('registered_name')!r}, which "
            "is not registered; import the module that defines it.")
    return cls


def _check_overrides(overrides, backbone_config, head_arguments, path):
    valid = set(backbone_config) | set(head_arguments)
    for key in overrides:
        if key not in valid:
            raise PresetError(
                f"from_preset got an argument {key!r} that this preset's "
                f"model does not take; valid: {sorted(valid)}.")


def load_preset_directory(path, options):
    """Loads a directory written by `save_preset`.

    Args:
        path: the preset directory.
        options: `zoo.presets.loading.LoadOptions`: `num_classes` (None keeps
            the saved head; another value builds a new head), `task`
            (another task model on the saved backbone), `load_weights`,
            `dtype`, `features_only`, and backbone or task constructor
            arguments in `kwargs` (`input_shape=(224, 224, 1)`,
            `dropout=0.2`).

    Returns:
        the task model (or the backbone when there is no task or with
        `features_only`).
    """
    from zoo.presets import loading
    from zoo.registry import task_arguments
    from zoo.weights import assign_state, get_state

    path = Path(path)
    backbone_spec = read_json(path / CONFIG_FILE)
    task_spec = None
    if (path / TASK_CONFIG_FILE).is_file():
        task_spec = read_json(path / TASK_CONFIG_FILE)
    backbone_config = dict(backbone_spec.get("config", {}))
    task_config = dict(task_spec["config"]) if task_spec else None
    task_cls = (_registered_class(task_spec, path / TASK_CONFIG_FILE)
                if task_spec else None)
    default_task = getattr(task_cls, "task_name", None)
    saved_classes = task_config.get("num_classes") if task_config else None
    plan = loading.plan_model(options, default_task=default_task,
                              head_classes=saved_classes, source=str(path))
    head_arguments = set(plan.head_kwargs)
    if plan.task is not None:
        from zoo.registry import get_task_model

        head_arguments |= task_arguments(get_task_model(plan.task)[0])
    _check_overrides(options.kwargs, backbone_config, head_arguments, path)
    backbone_over = {k: v for k, v in plan.backbone_kwargs.items()
                     if k in backbone_config}

    def build_backbone(extra):
        spec = dict(backbone_spec)
        spec["config"] = {**backbone_config, **extra}
        try:
            return _deserialize(spec)
        except (TypeError, ValueError) as e:
            raise PresetError(
                f"Cannot build the backbone of {path}: {e}") from None

    def build_model(backbone):
        if plan.task is None:
            return backbone
        if plan.task == default_task:
            config = {**task_config, **plan.head_kwargs,
                      "backbone": backbone, "num_classes": plan.num_classes}
            return task_cls.from_config(config)
        return loading.assemble(plan, backbone)

    backbone = build_backbone(backbone_over)
    model = build_model(backbone)
    _restore_preprocessor(model, path, task_spec is not None
                          and plan.task == default_task)
    if (task_spec is not None and plan.task == default_task
            and hasattr(model, "load_assets") and (path / ASSETS_DIR).is_dir()):
        model.load_assets(path / ASSETS_DIR)
    if not options.load_weights:
        return model
    input_conv = getattr(backbone, "input_conv_layer", None)
    # Another number of channels (the stem adapted) or image size (ViT's
    # position embeddings resampled).
    shape_changed = "input_shape" in backbone_over and (
        list(backbone_over["input_shape"])
        != list(backbone_config.get("input_shape", []))
    )
    use_task_weights = plan.include_head and task_spec is not None
    weights_file = path / (TASK_WEIGHTS_FILE if use_task_weights
                           else MODEL_WEIGHTS_FILE)
    target = model if use_task_weights else backbone
    if not shape_changed:
        loading.load_keras_weights(target, weights_file, str(path))
    else:
        # Load into a twin built as saved, then copy, adapting the stem
        # and the backbone's own adapted weights.
        twin = build_backbone({k: v for k, v in backbone_over.items()
                               if k != "input_shape"})
        if use_task_weights:
            twin = task_cls.from_config({**task_config, "backbone": twin})
        loading.load_keras_weights(twin, weights_file, str(path))
        assign_state(target, get_state(twin), input_conv=input_conv,
                     adapters=backbone.weight_adapters(),
                     source=str(weights_file))
    loading.say_new_head(plan, model, str(path), saved_classes)
    return model


def _restore_preprocessor(model, path, from_task_config):
    """Attaches the saved preprocessor and reads its assets (vocabularies).

    A task's preprocessor comes back with `task.json` (`from_task_config`);
    otherwise it is read from `preprocessor.json`. Either way its files
    under `assets/` are loaded.
    """
    if not hasattr(model, "preprocessor"):
        return
    preprocessor = model.preprocessor if from_task_config else None
    if preprocessor is None and (path / PREPROCESSOR_CONFIG_FILE).is_file():
        try:
            preprocessor = _deserialize(
                read_json(path / PREPROCESSOR_CONFIG_FILE))
        except (TypeError, ValueError) as e:
            raise PresetError(
                f"Cannot build the preprocessor of {path}: {e}") from None
    if preprocessor is None:
        return
    if hasattr(preprocessor, "load_assets") and (path / ASSETS_DIR).is_dir():
        preprocessor.load_assets(path / ASSETS_DIR)
    model.preprocessor = preprocessor
    backbone = getattr(model, "backbone", None)
    if (backbone is not None and hasattr(backbone, "embed")
            and backbone.preprocessor is None):
        backbone.preprocessor = preprocessor


def _deserialize(spec):
    from zoo.registry import deserialize

    return deserialize(spec)
