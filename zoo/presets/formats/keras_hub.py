"""keras-hub preset directories: `config.json` (a keras-hub backbone),
`model.weights.h5`, and for text models `tokenizer.json`,
`preprocessor.json` and `assets/tokenizer/`.

keras-hub builds its backbone (and task, when `task.json` names one whose
family converts heads) from its own config and reads its weights; the
family's keras-hub converter (`zoo/convert/keras_hub/`) then gives the zoo
model. The tokenizer is read from the directory's assets.
"""

from pathlib import Path

import numpy as np

from zoo.presets import loading
from zoo.presets.formats import PresetFormat, register_format

WEIGHTS_FILE = "model.weights.h5"
TOKENIZER_FILES = ("assets/tokenizer/vocabulary.txt",
                   "assets/tokenizer/vocabulary.spm")
#: keras-hub's byte-level BPE assets (GPT-2).
BPE_FILES = ("assets/tokenizer/vocabulary.json",
             "assets/tokenizer/merges.txt")


def _decoder_tokenizer(path):
    """A GPT-2 style tokenizer from the directory's BPE assets, or None."""
    from zoo.nlp.decoders.causal_lm import bpe_from_files

    vocabulary, merges = (Path(path) / f for f in BPE_FILES)
    if not (vocabulary.is_file() and merges.is_file()):
        return None
    return bpe_from_files(vocabulary, merges)


def _preprocessor(path, encoder):
    """The text preprocessor the directory describes, or None."""
    from zoo.nlp.tokenizers import (
        SentencePieceTokenizer,
        TextPreprocessor,
        WordPieceTokenizer,
    )
    from zoo.presets.directory import PREPROCESSOR_CONFIG_FILE, read_json

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


def _load_detector(path, converter, options):
    """A keras-hub object detector preset (backbone + `task.json`) as the
    zoo detector its converter builds, with a `DetectionPreprocessor` of
    the preset's size and normalisation."""
    import keras_hub

    from zoo.errors import PresetError
    from zoo.vision.detection.preprocessing import DetectionPreprocessor

    if not (path / "task.json").is_file():
        raise PresetError(
            f"{path} holds a keras-hub detector backbone without its task "
            "(task.json, task.weights.h5): save the detector with "
            "save_to_preset.")
    unknown = set(options.kwargs) - {"input_shape"}
    if unknown or options.task not in (..., "object_detector") or (
            options.num_classes is not None) or options.features_only:
        raise PresetError(
            f"{path}: a keras-hub detector converts as it is; only "
            f"image_size= may be given (got {sorted(unknown)}, task="
            f"{options.task!r}, num_classes={options.num_classes!r}).")
    kh = keras_hub.models.ObjectDetector.from_preset(
        str(path), load_weights=options.load_weights)
    shape = options.kwargs.get("input_shape")
    image_size = tuple(shape[:2]) if shape else None
    arguments = converter.detector_arguments(kh, image_size)
    preprocessor = _image_preprocessor(kh, DetectionPreprocessor,
                                       arguments["image_size"])
    return converter.build_detector(kh, arguments["image_size"],
                                    preprocessor=preprocessor)


def _image_preprocessor(kh, cls, image_size=None):
    """A zoo preprocessor `cls` with the size and normalisation of a
    keras-hub task's image converter, or None when it has none."""
    image_converter = getattr(getattr(kh, "preprocessor", None),
                              "image_converter", None)
    if image_converter is None:
        return None
    image_size = image_size or getattr(image_converter, "image_size", None)
    if not image_size:
        return None
    # keras-hub computes x * scale + offset; zoo (x * 1 - mean) / std.
    channels = 3
    scale = np.broadcast_to(np.asarray(
        image_converter.scale if image_converter.scale is not None
        else 1.0, "float64"), (channels,))
    offset = np.broadcast_to(np.asarray(
        image_converter.offset if image_converter.offset is not None
        else 0.0, "float64"), (channels,))
    return cls(tuple(image_size), scale=1.0, mean=list(-offset / scale),
               std=list(1.0 / scale))


def _load_segmenter(path, converter, options):
    """A keras-hub image segmenter preset (backbone + `task.json`) as the
    zoo segmenter its converter builds, with a `SegmentationPreprocessor`
    of the preset's size and normalisation (zoo's keeps the aspect ratio
    and pads where keras-hub's crops to it)."""
    import keras_hub

    from zoo.errors import PresetError
    from zoo.vision.segmentation.semantic_segmenter import (
        SegmentationPreprocessor,
    )

    if not (path / "task.json").is_file():
        raise PresetError(
            f"{path} holds a keras-hub segmenter backbone without its task "
            "(task.json, task.weights.h5): save the segmenter with "
            "save_to_preset.")
    if options.kwargs or options.task not in (..., "semantic_segmenter") or (
            options.num_classes is not None) or options.features_only:
        raise PresetError(
            f"{path}: a keras-hub segmenter converts as it is; no argument "
            f"may be given (got {sorted(options.kwargs)}, task="
            f"{options.task!r}, num_classes={options.num_classes!r}).")
    kh = keras_hub.models.ImageSegmenter.from_preset(
        str(path), load_weights=options.load_weights)
    preprocessor = _image_preprocessor(kh, SegmentationPreprocessor)
    return converter.build_segmenter(kh, preprocessor=preprocessor)


@register_format
class KerasHubFormat(PresetFormat):
    """`config.json` registers a `keras_hub>` class."""

    name = "keras_hub"

    def detects(self, config):
        return str(config.get("registered_name", "")).startswith(
            "keras_hub>")

    def fetch(self, handle, config, fetch):
        fetch("metadata.json", optional=True)
        fetch(WEIGHTS_FILE)
        for name in ("tokenizer.json", "preprocessor.json", "task.json",
                     "task.weights.h5"):
            fetch(name, optional=True)
        for vocabulary in TOKENIZER_FILES:
            if fetch(vocabulary, optional=True) is not None:
                break
        for name in BPE_FILES:
            fetch(name, optional=True)

    def load(self, path, config, options):
        import keras
        import keras_hub  # noqa: F401  (registers keras-hub's classes)

        from zoo.convert import find_converter
        from zoo.presets.directory import MODEL_WEIGHTS_FILE

        class_name = str(config.get("registered_name", "")).split(">")[-1]
        converter = find_converter("keras_hub", architecture=class_name)
        if hasattr(converter, "build_segmenter"):
            return _load_segmenter(path, converter, options)
        if getattr(converter, "builds_task", False):
            return _load_detector(path, converter, options)
        reference = keras.saving.deserialize_keras_object(config)
        if options.load_weights:
            loading.load_keras_weights(reference, path / MODEL_WEIGHTS_FILE,
                                       str(path))
        task = getattr(converter, "task", None)
        plan = loading.plan_model(options, default_task=task,
                                  head_classes=None, source=str(path))
        backbone = converter.build_backbone(reference,
                                            **plan.backbone_kwargs)
        from zoo.convert import assign_converted

        assign_converted(backbone, converter, reference, include_head=False,
                         source=f"keras-hub {reference.name}")
        model = loading.assemble(plan, backbone)
        if task == "causal_lm":
            tokenizer = _decoder_tokenizer(path)
            if tokenizer is not None and hasattr(model, "set_tokenizer"):
                model.set_tokenizer(tokenizer)
            return model
        encoder = backbone
        if hasattr(encoder, "max_sequence_length"):
            loading.attach_text_preprocessor(model,
                                             _preprocessor(path, encoder))
        loading.say_new_head(plan, model, str(path), None)
        return model
