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

How a handle becomes a model, each step in one place:

1. `resolve.py` turns the handle into local files: a preset file
   (`schema.py`, found by `builtin.py`) or a directory (fetched into the
   cache by `sources.py` / `download.py` when remote);
2. `formats/` detects a directory's format (zoo, keras-hub, Hugging Face,
   timm) from its `config.json`;
3. the format's module (or `spec.py` for a preset file) builds the model,
   converting the weights through `zoo.convert`, with the head rule of
   `loading.py`.

Importing this package imports neither Keras nor any model.
"""

from zoo.presets.builtin import PresetInfo, list_presets

__all__ = ["PresetInfo", "from_preset", "list_presets"]


def from_preset(handle, *, num_classes=None, load_weights=True, dtype=None,
                features_only=False, task=..., image_size=None, **kwargs):
    """Builds a model from a preset: architecture, weights, preprocessing.

    Handles:
        - a built-in name (`"resnet50"`; see `list_presets()`);
        - a preset YAML file (`"my_preset.yaml"`), the built-in format;
        - a local preset directory or `file://` path: `save_to_preset`
          output, a keras-hub preset, a Hugging Face transformers model
          directory, a timm model directory;
        - a timm-style tag (`"resnet50.a1_in1k"`), read from the timm
          organisation on the Hugging Face Hub;
        - `http(s)://host/dir/`, `hf://org/repo`, `gs://bucket/dir`,
          `kaggle://owner/model/framework/variation[/version]`.

    Downloads are cached under `$ZOO_HOME` (default `~/.cache/zoo`) and
    verified; `ZOO_OFFLINE=1` never touches the network.

    The model follows `create_model`'s rule: the preset's weights are a
    backbone and maybe a task head; `task` defaults to that head's task
    (none for a text encoder's weights), another task or `num_classes`
    gets a new head, `features_only` the backbone's multi-level outputs.

    Args:
        handle: str or path, one of the above.
        num_classes: int or None. None keeps the pretrained head; another
            value builds a fresh head of that size on the pretrained backbone
            (said in a log line).
        load_weights: bool, False builds the architecture with random weights
            and downloads nothing.
        dtype: dtype policy name for every layer (`"bfloat16"`,
            `"mixed_float16"`, ...).
        features_only: bool, return the backbone with multi-level outputs
            (`{"C2": ..., "C5": ...}`; per-layer outputs for text encoders).
        task: a task model name (`"image_classifier"`, `"text_classifier"`,
            `"span_labeler"`, `"token_classifier"`, `"masked_lm"`; see
            `zoo.registry.list_task_models()`) to put the preset's backbone
            under, None for the backbone alone; default: the preset's own.
        image_size: int or `(height, width)`: build an image model for
            another input size (`input_shape=(h, w, 3)`), its preprocessor
            resizing to it; weights that depend on the size are adapted
            (ViT's position embeddings resampled over the new patch grid).
        **kwargs: architecture overrides, e.g. `input_shape=(224, 224, 1)`
            (the first convolution is adapted to the channels, as timm does),
            `drop_path_rate=0.1`; arguments the task model takes (e.g.
            `dropout` of a `TextClassifier`) go to its head.

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
    from zoo.presets.loading import LoadOptions
    from zoo.presets.resolve import resolve

    if image_size is not None:
        size = _image_size(image_size)
        if "input_shape" in kwargs:
            raise ValueError(
                "from_preset: pass image_size or input_shape, not both.")
        kwargs["input_shape"] = (*size, 3)
        model = from_preset(handle, num_classes=num_classes,
                            load_weights=load_weights, dtype=dtype,
                            features_only=features_only, task=task, **kwargs)
        _resize_preprocessor(model, size)
        return model
    options = LoadOptions(num_classes=num_classes, load_weights=load_weights,
                          dtype=dtype, features_only=features_only,
                          task=task, kwargs=kwargs)
    resolved = resolve(str(handle))
    if resolved.info is not None:
        from zoo.presets.spec import load_spec

        return load_spec(resolved.info, options)
    from zoo.presets.formats import load_directory

    return load_directory(resolved.path, options)


def _image_size(image_size):
    """`(height, width)` of an int or a pair; ValueError otherwise."""
    size = ((image_size, image_size) if isinstance(image_size, int)
            else tuple(image_size))
    if len(size) != 2 or not all(isinstance(v, int) and v > 0
                                 for v in size):
        raise ValueError(
            f"from_preset: image_size={image_size!r} is not a positive int "
            "or (height, width).")
    return size


def _resize_preprocessor(model, size):
    """Points the model's image preprocessor (if any) at `size`."""
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None or not hasattr(preprocessor, "image_size"):
        return
    config = preprocessor.get_config()
    config["image_size"] = list(size)
    # The same kind of preprocessor (an ImagePreprocessor, a
    # DetectionPreprocessor), at the new size.
    model.preprocessor = type(preprocessor).from_config(config)
