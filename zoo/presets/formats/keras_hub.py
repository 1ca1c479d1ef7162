"""keras-hub preset directories: `config.json` (a keras-hub backbone),
`model.weights.h5`, and for text models `tokenizer.json`,
`preprocessor.json` and `assets/tokenizer/`.

keras-hub builds its backbone (and task, when `task.json` names one whose
family converts heads) from its own config and reads its weights; the
family's keras-hub converter (`zoo/convert/keras_hub/`) then gives the zoo
model. The tokenizer is read from the directory's assets.
"""

from zoo.presets import loading
from zoo.presets.formats import PresetFormat, register_format

WEIGHTS_FILE = "model.weights.h5"
TOKENIZER_FILES = ("assets/tokenizer/vocabulary.txt",
                   "assets/tokenizer/vocabulary.spm")


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

    def load(self, path, config, options):
        import keras
        import keras_hub  # noqa: F401  (registers keras-hub's classes)

        from zoo.convert import find_converter
        from zoo.presets.directory import MODEL_WEIGHTS_FILE

        class_name = str(config.get("registered_name", "")).split(">")[-1]
        converter = find_converter("keras_hub", architecture=class_name)
        reference = keras.saving.deserialize_keras_object(config)
        if options.load_weights:
            loading.load_keras_weights(reference, path / MODEL_WEIGHTS_FILE,
                                       str(path))
        plan = loading.plan_model(options, default_task=None,
                                  head_classes=None, source=str(path))
        backbone = converter.build_backbone(reference,
                                            **plan.backbone_kwargs)
        from zoo.convert import assign_converted

        assign_converted(backbone, converter, reference, include_head=False,
                         source=f"keras-hub {reference.name}")
        model = loading.assemble(plan, backbone)
        encoder = backbone
        if hasattr(encoder, "max_sequence_length"):
            loading.attach_text_preprocessor(model,
                                             _preprocessor(path, encoder))
        loading.say_new_head(plan, model, str(path), None)
        return model
