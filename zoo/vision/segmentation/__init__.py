"""Semantic segmentation: ASPP, the DeepLabV3+ decoder, `SemanticSegmenter`,
its preprocessing, loss and mean IoU."""

from zoo.vision.segmentation.heads import (  # noqa: F401
    build_aspp,
    build_segmentation_head,
)
from zoo.vision.segmentation.semantic_segmenter import (  # noqa: F401
    SegmentationPreprocessor,
    SemanticSegmenter,
)
