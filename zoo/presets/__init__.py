"""Presets: a model's architecture, weights and preprocessing, by name.

```python
zoo.list_presets("resnet*")
model = zoo.from_preset("resnet50")                  # built-in preset
model = zoo.from_preset("resnet50", num_classes=5)   # fresh 5-class head
model.save_to_preset("runs/my_model")
model = zoo.from_preset("runs/my_model")             # local directory
model = zoo.from_preset("hf://timm/resnet50.a1_in1k")
encoder = zoo.from_preset("all_minilm_l6_v2")            # text encoder
classifier = zoo.from_preset("all_minilm_l6_v2", task="text_classifier",
                             num_classes=2)              # new head
```
"""

import logging
import urllib.parse
from pathlib import Path

from zoo.errors import (
    CorruptFileError,
    PresetError,
    UnknownPresetError,
    did_you_mean,
)
from zoo.presets.builtin import (
    PresetInfo,
    get_preset,
    list_presets,
    load_preset_file,
    preset_names,
)
from zoo.presets.directory import (
    CONFIG_FILE,
    MODEL_WEIGHTS_FILE,
    PREPROCESSOR_CONFIG_FILE,
    load_preset_directory,
    read_json,
    save_preset,
)

logger = logging.getLogger("zoo")

__all__ = ["PresetInfo", "from_preset", "list_presets", "save_preset"]


def from_preset(handle, *, num_classes=None, load_weights=True, dtype=None,
                features_only=False, task=None, **kwargs):
    """Builds a model from a preset: architecture, weights, preprocessing.

    Handles:
        - a built-in name (`"resnet50"`; see `list_presets()`);
        - a preset YAML file (`"my_preset.yaml"`), the built-in format;
        - a local preset directory or `file://` path (`save_to_preset`
          output, a timm model directory, or a Hugging Face BERT / ALBERT
          model directory: `config.json`, `model.safetensors`, `vocab.txt`
          or `spiece.model`);
        - a timm-style tag (`"resnet50.a1_in1k"`), read from the timm
          organisation on the Hugging Face Hub;
        - `http(s)://host/dir/`, `hf://org/repo`, `gs://bucket/dir`,
          `kaggle://owner/model/framework/variation[/version]`.

    Downloads are cached under `$ZOO_HOME` (default `~/.cache/zoo`) and
    verified; `ZOO_OFFLINE=1` never touches the network.

    Args:
        handle: str or path, one of the above.
        num_classes: int or None. None keeps the pretrained head; another
            value builds a fresh head of that size on the pretrained backbone
            (said in a log line).
        load_weights: bool, False builds the architecture with random weights
            and downloads nothing.
        dtype: dtype policy name for every layer (`"bfloat16"`,
            `"mixed_float16"`, ...).
        features_only: bool, return the backbone with pyramid outputs
            `{"C2": ..., "C5": ...}` (per-layer outputs for text encoders).
        task: str or None, wrap the preset's backbone in this task model
            with a new head (`"text_classifier"`, `"span_labeler"`,
            `"token_classifier"`, `"masked_lm"`, `"image_classifier"`; see
            `zoo.presets.tasks`). None builds what the preset describes (its
            YAML `task`, else its architecture).
        **kwargs: architecture overrides, e.g. `input_shape=(224, 224, 1)`
            (the first convolution is adapted to the channels, as timm does),
            `drop_path_rate=0.1`, `dropout=0.2`. With `task`, the arguments
            the task model takes (e.g. `dropout` of a `TextClassifier`) go
            to its head.

    Returns:
        keras.Model: a task model (e.g. `ImageClassifier`, with
        `.preprocessor` set) or a backbone (e.g. a `BertEncoder`, with
        `.preprocessor` set to its `TextPreprocessor`).

    Raises:
        UnknownPresetError: the handle is none of the above; the message
            lists the closest built-in names.
        OfflineError, DownloadError, HashMismatchError: see `download.fetch`.
        WeightsError: the weights are unreadable or do not fit (a corrupt
            cached download is removed).
        VocabularyError: the preset's vocabulary does not fit its encoder.
        PresetError: an unknown `task`, or a task that needs `num_classes`
            without it.
    """
    handle = str(handle)
    options = dict(num_classes=num_classes, load_weights=load_weights,
                   dtype=dtype, features_only=features_only, task=task,
                   **kwargs)
    info = get_preset(handle)
    if info is not None:
        return _from_preset_file(info, **options)
    scheme = urllib.parse.urlparse(handle).scheme
    local = Path(handle[len("file://"):] if scheme == "file" else handle)
    local = local.expanduser()
    if scheme in ("", "file"):
        if local.is_file() and local.suffix in (".yaml", ".yml"):
            return _from_preset_file(load_preset_file(local), **options)
        if local.is_dir():
            return _from_directory(local, remote=False, **options)
        if _is_timm_tag(handle):
            return from_preset(f"hf://timm/{handle}", **options)
        raise UnknownPresetError(
            f"Unknown preset {handle!r}: not a built-in preset, preset file "
            f"or directory.{did_you_mean(handle, preset_names())} "
            "See zoo.list_presets()."
        )
    from zoo.presets.sources import REMOTE_SCHEMES, fetch_preset_directory

    if scheme not in REMOTE_SCHEMES:
        raise UnknownPresetError(
            f"Unknown preset {handle!r}: scheme {scheme!r} is not one of "
            f"{list(REMOTE_SCHEMES) + ['file']}."
        )
    return _from_directory(fetch_preset_directory(handle), remote=True,
                           **options)


def _is_timm_tag(handle):
    """True for timm-style `architecture.tag` names such as `resnet50.a1_in1k`."""
    import re

    from zoo.convert.timm import TIMM_ARCHITECTURES

    match = re.fullmatch(r"([a-z0-9_]+)\.([a-z0-9_]+)", handle)
    return bool(match) and match.group(1) in TIMM_ARCHITECTURES


def _attach_preprocessor(model, preprocessing):
    from zoo.task import Task
    from zoo.vision.preprocessing import ImagePreprocessor

    if isinstance(model, Task) and preprocessing:
        model.preprocessor = ImagePreprocessor(**preprocessing)
    return model


def _load_converted(model, path, weights_format, include_head, source):
    """Converts `path` into `model`; a corrupt cached file is removed."""
    from zoo.convert import load_weights_file
    from zoo.presets.download import remove_cached

    try:
        load_weights_file(model, path, weights_format,
                          include_head=include_head)
    except CorruptFileError as e:
        if remove_cached(path):
            raise CorruptFileError(
                f"{e} It came from {source}; the bad cache entry was removed,"
                " so the next load downloads it again."
            ) from None
        raise


def _build_and_load(architecture, arguments, head_classes, weights_path_fn,
                    weights_format, source, *, num_classes, load_weights,
                    dtype, features_only, **kwargs):
    from zoo.registry import create_model

    new_head = num_classes is not None and num_classes != head_classes
    model = create_model(
        architecture,
        **{**arguments, **kwargs},
        num_classes=num_classes or head_classes,
        dtype=dtype,
        features_only=features_only or None,
    )
    if load_weights:
        _load_converted(model, weights_path_fn(), weights_format,
                        include_head=not (new_head or features_only),
                        source=source)
        if new_head and not features_only:
            logger.info(
                "Preset %s has a %d-class head; built a new %d-class head "
                "(randomly initialised) on its backbone weights.",
                source, head_classes, num_classes,
            )
    return model


def _from_preset_file(info, *, task=None, **options):
    from zoo.presets.download import fetch_first

    if info.num_classes is None or info.task is not None or task not in (
            None, "image_classifier"):
        return _from_backbone_preset_file(info, task=task or info.task,
                                          **options)
    model = _build_and_load(
        info.architecture,
        info.arguments,
        info.num_classes,
        lambda: fetch_first(info.weights_uris, info.weights_hash),
        info.weights_format,
        f"{info.name} ({info.weights_uri})",
        **options,
    )
    return _attach_preprocessor(model, info.preprocessing)


def _timm_preprocessing(pretrained_cfg):
    if "input_size" not in pretrained_cfg:
        return None
    return {
        "image_size": list(pretrained_cfg["input_size"][1:]),
        "crop_pct": float(pretrained_cfg.get("crop_pct", 0.875)),
        "interpolation": pretrained_cfg.get("interpolation", "bilinear"),
        "scale": 1.0 / 255.0,
        "mean": list(pretrained_cfg.get("mean", (0.485, 0.456, 0.406))),
        "std": list(pretrained_cfg.get("std", (0.229, 0.224, 0.225))),
    }


def _from_directory(path, *, remote, task=None, **options):
    from zoo.convert.timm import zoo_name_for_timm
    from zoo.presets.sources import TIMM_WEIGHTS_FILE

    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise PresetError(
            f"{path} is not a preset directory: it has no {CONFIG_FILE}."
        )
    config = read_json(config_path)
    if "model_type" in config:  # a Hugging Face transformers model
        return _from_huggingface_directory(path, config, task=task,
                                           **options)
    if task not in (None, "image_classifier"):
        # Load what the directory holds, then put its backbone under the
        # requested task's new head.
        task_kwargs, rest = _split_task_kwargs(task, options)
        rest.update(num_classes=None, features_only=False)
        loaded = _from_directory(path, remote=remote, **rest)
        return _with_task(loaded, task, options["num_classes"], task_kwargs,
                          source=str(path), dtype=options["dtype"])
    if "architecture" in config:  # a timm model repository
        model = _build_and_load(
            zoo_name_for_timm(config["architecture"]),
            {},
            int(config.get("num_classes", 1000)),
            lambda: path / TIMM_WEIGHTS_FILE,
            "timm",
            str(path),
            **options,
        )
        return _attach_preprocessor(
            model, _timm_preprocessing(config.get("pretrained_cfg", {}))
        )
    registered = str(config.get("registered_name", ""))
    if registered in KERAS_HUB_ENCODERS:
        return _from_keras_hub_directory(path, config, task=task, **options)
    if not registered.startswith("zoo>"):
        raise PresetError(
            f"{config_path} describes {registered or 'an unknown class'!r}; "
            "only zoo presets (save_to_preset) and timm model directories "
            "load here."
        )
    try:
        return load_preset_directory(path, **options)
    except CorruptFileError:
        raise
    except OSError as e:
        raise PresetError(f"Cannot read preset {path}: {e}") from None


# --- backbones under a task head, text presets, Hugging Face directories -----


def _split_task_kwargs(task, options):
    """(head arguments of `task`, everything else) from `options`."""
    import inspect

    from zoo.presets.tasks import get_task_class

    accepted = set(inspect.signature(get_task_class(task).__init__)
                   .parameters) - {"self", "backbone", "preprocessor",
                                   "num_classes", "dtype", "kwargs", "name"}
    head = {k: v for k, v in options.items() if k in accepted}
    rest = {k: v for k, v in options.items() if k not in accepted}
    return head, rest


def _encoder_task_arguments(task, num_classes, features_only, kwargs,
                            holder):
    """Splits `kwargs` of a preset whose weights are an encoder alone.

    Returns:
        (head arguments of `task`, encoder arguments).

    Raises:
        PresetError: `num_classes` without a `task` to put the head in.
    """
    if features_only:
        return {}, kwargs
    if task is not None:
        return _split_task_kwargs(task, kwargs)
    if num_classes is not None:
        raise PresetError(
            f"{holder} holds an encoder without a classifier head; pass "
            "task= with num_classes (e.g. task='text_classifier')."
        )
    return {}, kwargs


def _encoder_overrides(kwargs, dtype, features_only):
    """Constructor arguments of a converted encoder: `kwargs` plus the
    `dtype` and `features_only` that were asked for."""
    overrides = dict(kwargs)
    if dtype is not None:
        overrides["dtype"] = dtype
    if features_only:
        overrides["features_only"] = True
    return overrides


def _with_task(model, task, num_classes, task_kwargs, source, dtype=None):
    """Wraps the backbone of `model` (a backbone or a task) in `task`.

    The preprocessor of `model` goes to the new task model.
    """
    from zoo.backbone import Backbone
    from zoo.presets.tasks import build_task

    backbone = model if isinstance(model, Backbone) else model.backbone
    result = build_task(task, backbone, num_classes=num_classes,
                        preprocessor=getattr(model, "preprocessor", None),
                        dtype=dtype, **task_kwargs)
    logger.info("Built a %s on the backbone of %s; its head is new "
                "(randomly initialised).", type(result).__name__, source)
    return result


def _fetch_assets(assets, load_weights):
    """Local paths of a preset's assets; without downloads unless loading."""
    from zoo.presets.download import fetch_first

    paths = {}
    for name, spec in assets.items():
        uris = spec["uris"]
        if not load_weights:
            # "Downloads nothing": only sources already on this machine.
            uris = [u for u in uris
                    if urllib.parse.urlparse(u).scheme in ("", "file",
                                                           "package")]
            if not uris:
                return None
            try:
                paths[name] = fetch_first(uris, spec["hash"])
            except (OSError, CorruptFileError):
                return None
        else:
            paths[name] = fetch_first(uris, spec["hash"])
    return paths


def _text_preprocessor(preprocessing, assets):
    from zoo.nlp.tokenizers import preprocessor_from_preset_config

    return preprocessor_from_preset_config(preprocessing, assets)


def _attach_text_preprocessor(backbone, preprocessor):
    from zoo.nlp.encoders.base import check_preprocessor_fits

    if preprocessor is not None:
        check_preprocessor_fits(backbone, preprocessor)
        backbone.preprocessor = preprocessor
    return backbone


def _from_backbone_preset_file(info, *, task, num_classes, load_weights,
                               dtype, features_only, **kwargs):
    """A preset whose weights are a backbone (a text encoder), maybe + task."""
    from zoo.presets.download import fetch_first
    from zoo.registry import create_model

    task_kwargs, kwargs = _encoder_task_arguments(
        task, num_classes, features_only, kwargs, f"Preset {info.name}")
    backbone = create_model(info.architecture, **{**info.arguments,
                                                  **kwargs},
                            dtype=dtype, features_only=features_only or None)
    source = f"{info.name} ({info.weights_uri})"
    if load_weights:
        _load_converted(backbone,
                        fetch_first(info.weights_uris, info.weights_hash),
                        info.weights_format, include_head=False,
                        source=source)
    if "tokenizer" in info.preprocessing:
        assets = _fetch_assets(info.assets, load_weights)
        if assets is not None:
            _attach_text_preprocessor(
                backbone, _text_preprocessor(info.preprocessing, assets))
        else:
            logger.info("%s: its tokenizer files are not on this machine and"
                        " load_weights=False downloads nothing; no "
                        "preprocessor attached.", info.name)
    if features_only or task is None:
        return backbone
    return _with_task(backbone, task, num_classes, task_kwargs,
                      source=info.name, dtype=dtype)


#: keras-hub backbones whose preset directories load as zoo encoders.
KERAS_HUB_ENCODERS = ("keras_hub>BertBackbone", "keras_hub>AlbertBackbone")


def _keras_hub_preprocessor(path, encoder):
    """The text preprocessor a keras-hub preset directory describes, or None."""
    from zoo.nlp.tokenizers import (
        SentencePieceTokenizer,
        TextPreprocessor,
        WordPieceTokenizer,
    )

    if not (path / "tokenizer.json").is_file():
        return None
    spec = read_json(path / "tokenizer.json")
    options = spec.get("config", {})
    assets = path / "assets" / "tokenizer"
    if spec.get("registered_name") == "keras_hub>BertTokenizer":
        tokenizer = WordPieceTokenizer(
            assets / "vocabulary.txt",
            lowercase=bool(options.get("lowercase", False)),
            strip_accents=bool(options.get("strip_accents", False)))
    elif spec.get("registered_name") == "keras_hub>AlbertTokenizer":
        tokenizer = SentencePieceTokenizer(assets / "vocabulary.spm")
    else:
        return None
    length = min(512, encoder.max_sequence_length)
    if (path / PREPROCESSOR_CONFIG_FILE).is_file():
        saved = read_json(path / PREPROCESSOR_CONFIG_FILE).get("config", {})
        length = int(saved.get("sequence_length") or length)
    return TextPreprocessor(tokenizer, sequence_length=length)


def _from_keras_hub_directory(path, config, *, task, num_classes,
                              load_weights, dtype, features_only, **kwargs):
    """A keras-hub BERT / ALBERT preset directory, converted to a zoo encoder.

    keras-hub builds its backbone from `config.json` and reads
    `model.weights.h5`; the weights are then converted
    (`zoo.convert.keras_hub.from_keras_hub_bert`). The tokenizer comes from
    `tokenizer.json` and `assets/tokenizer/`.
    """
    import keras
    import keras_hub  # noqa: F401  (registers keras-hub's classes)

    from zoo.convert.keras_hub import from_keras_hub_bert

    task_kwargs, kwargs = _encoder_task_arguments(
        task, num_classes, features_only, kwargs, str(path))
    reference = keras.saving.deserialize_keras_object(config)
    if load_weights:
        _load_weights_into(reference, path / MODEL_WEIGHTS_FILE, str(path))
    overrides = _encoder_overrides(kwargs, dtype, features_only)
    encoder = from_keras_hub_bert(reference, **overrides)
    _attach_text_preprocessor(encoder, _keras_hub_preprocessor(path, encoder))
    if features_only or task is None:
        return encoder
    return _with_task(encoder, task, num_classes, task_kwargs,
                      source=str(path), dtype=dtype)


def _load_weights_into(model, weights_path, source):
    from zoo.errors import WeightsError

    try:
        model.load_weights(weights_path)
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(
            f"Cannot load {weights_path} ({source}) into {model.name}: {e}"
        ) from None


def _from_huggingface_directory(path, config, *, task, num_classes,
                                load_weights, dtype, features_only, **kwargs):
    """A transformers BERT / ALBERT model directory (local or fetched)."""
    from zoo.convert.huggingface import build_encoder
    from zoo.presets.sources import (
        huggingface_preprocessing,
        HF_WEIGHTS_FILE,
    )

    task_kwargs, kwargs = _encoder_task_arguments(
        task, num_classes, features_only, kwargs, str(path))
    overrides = _encoder_overrides(kwargs, dtype, features_only)
    try:
        encoder = build_encoder(config, **overrides)
    except TypeError as e:
        raise PresetError(f"Cannot build the encoder of {path}: {e}") from None
    if load_weights:
        weights = path / HF_WEIGHTS_FILE
        if not weights.is_file():
            raise PresetError(
                f"{path} has no {HF_WEIGHTS_FILE}; zoo reads transformers "
                "weights in the safetensors format."
            )
        _load_converted(encoder, weights, "huggingface", include_head=False,
                        source=str(path))
    preprocessing, assets = huggingface_preprocessing(path, config)
    if preprocessing is not None:
        _attach_text_preprocessor(
            encoder, _text_preprocessor(preprocessing, assets))
    if features_only or task is None:
        return encoder
    return _with_task(encoder, task, num_classes, task_kwargs,
                      source=str(path), dtype=dtype)
