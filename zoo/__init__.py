"""zoo: a Keras 3 multi-backend model zoo.

```python
import zoo
zoo.list_models("resnet*")
model = zoo.from_preset("resnet50")
model = zoo.create_model("resnet18", num_classes=10, input_shape=(32, 32, 3))
```
"""

__version__ = "0.1.0"

from zoo.log import configure_default_logging as _configure_default_logging

_configure_default_logging()

from zoo.backbone import Backbone
from zoo.errors import (
    DownloadError,
    HashMismatchError,
    OfflineError,
    PresetError,
    UnknownModelError,
    UnknownPresetError,
    WeightsError,
    ZooError,
)
from zoo.presets import PresetInfo, from_preset, list_presets
from zoo.registry import create_model, list_models, register_model
from zoo.task import Task
from zoo.vision import ImageClassifier, ImagePreprocessor
from zoo.vision.backbones import ResNetBackbone

__all__ = [
    "Backbone",
    "DownloadError",
    "HashMismatchError",
    "ImageClassifier",
    "ImagePreprocessor",
    "OfflineError",
    "PresetError",
    "PresetInfo",
    "ResNetBackbone",
    "Task",
    "UnknownModelError",
    "UnknownPresetError",
    "WeightsError",
    "ZooError",
    "create_model",
    "from_preset",
    "list_models",
    "list_presets",
    "register_model",
]
