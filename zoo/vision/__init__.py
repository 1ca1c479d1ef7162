"""Vision models: backbones, preprocessing and task models (imported on use)."""

from zoo._lazy import lazy_exports

_EXPORTS = {
    "DeiTDistiller": "zoo.vision.distillation",
    "DetectionPreprocessor": "zoo.vision.detection.preprocessing",
    "ImageClassifier": "zoo.vision.image_classifier",
    "ImagePreprocessor": "zoo.vision.preprocessing",
    "ObjectDetector": "zoo.vision.detection.object_detector",
    "SegmentationPreprocessor": "zoo.vision.segmentation.semantic_segmenter",
    "SemanticSegmenter": "zoo.vision.segmentation.semantic_segmenter",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
