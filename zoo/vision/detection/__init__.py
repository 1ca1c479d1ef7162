"""Object detection: FPN, RetinaNet head, `ObjectDetector`, preprocessing."""

from zoo.vision.detection.fpn import build_fpn  # noqa: F401
from zoo.vision.detection.heads import build_retinanet_head  # noqa: F401
from zoo.vision.detection.losses import RetinaNetLoss  # noqa: F401
from zoo.vision.detection.object_detector import ObjectDetector  # noqa: F401
from zoo.vision.detection.preprocessing import (  # noqa: F401
    DetectionPreprocessor,
)
