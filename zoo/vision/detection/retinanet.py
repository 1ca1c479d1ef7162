"""RetinaNet detectors: registered backbones with the `object_detector` task.

Lin et al. 2017, "Focal Loss for Dense Object Detection". Each builder
makes the backbone at the Model Garden's input size; `zoo.create_model`
wraps it in an `ObjectDetector` (FPN levels 3-7, 256 filters, the 4 x 256
head, 9 anchors per location, 91 COCO classes by default). Any other zoo
backbone with a pyramid detects the same way:
`zoo.create_model("resnet18", task="object_detector", num_classes=...,
input_shape=(512, 512, 3))`.
"""

from zoo.registry import register_family, register_model
from zoo.vision.backbones.resnet import resnet_backbone

FAMILY = register_family(
    "retinanet", modality="vision", task="object_detector", num_classes=91,
    paper="Lin et al. 2017, Focal Loss for Dense Object Detection, "
          "https://arxiv.org/abs/1708.02002")


@register_model
def retinanet_resnet50_fpn(**kwargs):
    """RetinaNet, ResNet-50 + FPN P3-P7, 640x640 (retinanet_resnetfpn_coco).

    The Model Garden's COCO model: 91 classes, 34,167,319 parameters.
    """
    kwargs.setdefault("input_shape", (640, 640, 3))
    return resnet_backbone(50, **kwargs)


@register_model
def retinanet_resnet18_fpn(**kwargs):
    """RetinaNet, ResNet-18 + FPN P3-P7, 512x512: a small detector."""
    kwargs.setdefault("input_shape", (512, 512, 3))
    return resnet_backbone(18, **kwargs)
