"""zoo: a Keras 3 multi-backend model zoo.

```python
import zoo
zoo.list_models("resnet*")
model = zoo.from_preset("resnet50")
model = zoo.create_model("resnet18", num_classes=10, input_shape=(32, 32, 3))
encoder = zoo.from_preset("all_minilm_l6_v2")
vectors = encoder.embed(["a sentence", "another one"])
```
"""

__version__ = "0.1.0"

from zoo.log import configure_default_logging as _configure_default_logging

_configure_default_logging()

from zoo.backbone import Backbone
from zoo.errors import (
    DataFormatError,
    DownloadError,
    HashMismatchError,
    OfflineError,
    PresetError,
    SequenceTooLongError,
    UnknownModelError,
    UnknownPresetError,
    VocabularyError,
    WeightsError,
    ZooError,
)
from zoo.presets import PresetInfo, from_preset, list_presets
from zoo.registry import create_model, list_models, register_model
from zoo.task import Task
from zoo.vision import ImageClassifier, ImagePreprocessor
from zoo.vision.backbones import ResNetBackbone
from zoo.nlp import (
    AlbertEncoder,
    BertEncoder,
    MaskedLM,
    SentencePieceTokenizer,
    SpanLabeler,
    TextClassifier,
    TextEncoder,
    TextPreprocessor,
    TokenClassifier,
    WordPieceTokenizer,
)

__all__ = [
    "AlbertEncoder",
    "Backbone",
    "BertEncoder",
    "DataFormatError",
    "DownloadError",
    "HashMismatchError",
    "ImageClassifier",
    "ImagePreprocessor",
    "MaskedLM",
    "OfflineError",
    "PresetError",
    "PresetInfo",
    "ResNetBackbone",
    "SentencePieceTokenizer",
    "SequenceTooLongError",
    "SpanLabeler",
    "Task",
    "TextClassifier",
    "TextEncoder",
    "TextPreprocessor",
    "TokenClassifier",
    "UnknownModelError",
    "UnknownPresetError",
    "VocabularyError",
    "WeightsError",
    "WordPieceTokenizer",
    "ZooError",
    "create_model",
    "from_preset",
    "list_models",
    "list_presets",
    "register_model",
]
