"""Vision models: backbones, preprocessing and task models."""

from zoo.vision.image_classifier import ImageClassifier
from zoo.vision.preprocessing import ImagePreprocessor

__all__ = ["ImageClassifier", "ImagePreprocessor"]
