"""Vision backbones, one module per family (imported on use)."""

from zoo._lazy import lazy_exports

_EXPORTS = {
    "ConvNeXtBackbone": "zoo.vision.backbones.convnext",
    "EfficientNetBackbone": "zoo.vision.backbones.efficientnet",
    "MobileNetBackbone": "zoo.vision.backbones.mobilenet",
    "ResNetBackbone": "zoo.vision.backbones.resnet",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
