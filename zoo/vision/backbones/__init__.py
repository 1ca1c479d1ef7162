"""Vision backbones, one module per family (imported on use):
`<Family>Backbone` lives in `zoo/vision/backbones/<family>.py`."""

from zoo._lazy import lazy_exports

_EXPORTS = {f"{name}Backbone": f"zoo.vision.backbones.{name.lower()}"
            for name in ("ConvNeXt", "EfficientNet", "MobileNet", "ResNet",
                         "ViT")}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
