"""zoo: a Keras 3 multi-backend model zoo.

```python
import zoo
zoo.list_models("resnet*")
model = zoo.from_preset("resnet50")
model = zoo.create_model("resnet18", num_classes=10, input_shape=(32, 32, 3))
encoder = zoo.from_preset("all_minilm_l6_v2")
vectors = encoder.embed(["a sentence", "another one"])
```

`import zoo` is cheap: it imports neither Keras nor any model. Each name
below is imported from its module on first use.
"""

__version__ = "0.1.0"

from zoo.log import configure_default_logging as _configure_default_logging

_configure_default_logging()

from zoo.xla_flags import configure as _configure_xla_flags  # noqa: E402

# Before Keras or JAX start: XLA reads XLA_FLAGS once, at its first use.
_configure_xla_flags()

from zoo.errors import (  # noqa: E402, F401  (light: no Keras; in __all__)
    DataFormatError,
    DownloadError,
    HashMismatchError,
    OfflineError,
    PresetError,
    SequenceTooLongError,
    UnknownModelError,
    UnknownPresetError,
    UnsafePickleError,
    VocabularyError,
    WeightsError,
    ZooError,
)

#: Public name -> the module that defines it, imported on first use.
_LAZY = {
    "Backbone": "zoo.backbone",
    "Task": "zoo.task",
    "PresetInfo": "zoo.presets",
    "from_preset": "zoo.presets",
    "list_presets": "zoo.presets",
    "create_model": "zoo.registry",
    "export": "zoo.serving",
    "list_models": "zoo.registry",
    "register_model": "zoo.registry",
    "register_variants": "zoo.registry",
    "register_family": "zoo.registry",
    "register_task_model": "zoo.registry",
    "DetectionPreprocessor": "zoo.vision.detection.preprocessing",
    "ImageClassifier": "zoo.vision.image_classifier",
    "ImagePreprocessor": "zoo.vision.preprocessing",
    "ObjectDetector": "zoo.vision.detection.object_detector",
    "SegmentationPreprocessor": "zoo.vision.segmentation.semantic_segmenter",
    "SemanticSegmenter": "zoo.vision.segmentation.semantic_segmenter",
    "ResNetBackbone": "zoo.vision.backbones.resnet",
    "AlbertEncoder": "zoo.nlp.encoders.albert",
    "BertEncoder": "zoo.nlp.encoders.bert",
    "TextEncoder": "zoo.nlp.encoders.base",
    "BytePairTokenizer": "zoo.nlp.bpe",
    "CausalLM": "zoo.nlp.decoders.causal_lm",
    "LlamaBackbone": "zoo.nlp.decoders.llama",
    "MaskedLM": "zoo.nlp.tasks",
    "SpanLabeler": "zoo.nlp.tasks",
    "TextClassifier": "zoo.nlp.tasks",
    "TokenClassifier": "zoo.nlp.tasks",
    "SentencePieceTokenizer": "zoo.nlp.tokenizers",
    "TextPreprocessor": "zoo.nlp.tokenizers",
    "WordPieceTokenizer": "zoo.nlp.tokenizers",
}

__all__ = sorted(list(_LAZY) + [
    "DataFormatError", "DownloadError", "HashMismatchError", "OfflineError",
    "PresetError", "SequenceTooLongError", "UnknownModelError",
    "UnknownPresetError", "UnsafePickleError", "VocabularyError",
    "WeightsError", "ZooError",
])


from zoo._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
