"""Vision backbones; importing this package registers every variant."""

from zoo.vision.backbones.resnet import ResNetBackbone

__all__ = ["ResNetBackbone"]
