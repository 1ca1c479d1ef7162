"""Converters from other checkpoint formats, one module per source.

- `keras_applications`: keras.applications `.h5` ResNet weights;
- `timm`: timm / torchvision state dicts (`.safetensors`, `.npz`);
- `keras_hub`: keras-hub ResNetBackbone, BertBackbone and AlbertBackbone
  models;
- `huggingface`: Hugging Face transformers BERT / ALBERT checkpoints.

`load_weights_file(model, path, format)` is the entry point presets use.
"""

from zoo.errors import WeightsError


def _keras_applications(model, path, include_head):
    from zoo.convert.keras_applications import load_keras_applications_weights

    load_keras_applications_weights(model, path, include_head=include_head)


def _timm(model, path, include_head):
    from zoo.convert.timm import load_timm_weights

    load_timm_weights(model, path, include_head=include_head)


def _huggingface(model, path, include_head):
    from zoo.convert.huggingface import load_huggingface_weights

    load_huggingface_weights(model, path, include_head=include_head)


WEIGHT_FORMATS = {
    "keras_applications": _keras_applications,
    "timm": _timm,
    "torchvision": _timm,
    "huggingface": _huggingface,
}


def load_weights_file(model, path, weights_format, include_head=True):
    """Loads a checkpoint in a foreign `weights_format` into a zoo model.

    Args:
        model: the zoo model to fill (built with matching options).
        path: local path of the checkpoint file.
        weights_format: one of `WEIGHT_FORMATS`.
        include_head: bool, also load the classifier head.

    Raises:
        WeightsError: unknown format, unreadable file, or names/shapes that do
            not fit the model.
    """
    if weights_format not in WEIGHT_FORMATS:
        raise WeightsError(
            f"Unknown weights format {weights_format!r}; expected one of "
            f"{sorted(WEIGHT_FORMATS)}."
        )
    WEIGHT_FORMATS[weights_format](model, path, include_head)
