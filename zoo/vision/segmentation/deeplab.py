"""DeepLab segmenters: dilated ResNets with the `semantic_segmenter` task.

Chen et al. 2017 (DeepLabV3, https://arxiv.org/abs/1706.05587) and 2018
(DeepLabV3+, https://arxiv.org/abs/1802.02611). Each builder makes the
ResNet at output stride 16 with the multigrid `[1, 2, 4]` of the Model
Garden's `seg_deeplabv3*_pascal` experiments (its basic 7x7 stem, so
ImageNet ResNet weights load); `zoo.create_model` wraps it in a
`SemanticSegmenter` with the variant's head (21 PASCAL VOC classes by
default). Any other zoo backbone with a pyramid segments the same way:
`zoo.create_model("resnet18", task="semantic_segmenter", num_classes=...,
output_stride=16)`.
"""

from zoo.registry import register_family, register_variants
from zoo.vision.backbones.resnet import resnet_backbone

FAMILY = register_family(
    "deeplab", modality="vision", task="semantic_segmenter", num_classes=21,
    paper="Chen et al. 2018, Encoder-Decoder with Atrous Separable "
          "Convolution for Semantic Image Segmentation, "
          "https://arxiv.org/abs/1802.02611")


def deeplab_backbone(depth, **kwargs):
    """A ResNet of `depth` at output stride 16, multigrid `[1, 2, 4]`
    (both overridable; no multigrid at output stride 32)."""
    kwargs.setdefault("output_stride", 16)
    if kwargs["output_stride"] < 32:
        kwargs.setdefault("multigrid", [1, 2, 4])
    return resnet_backbone(depth, **kwargs)


# {name: (depth, description, default head)}; the heads are the Model
# Garden's seg_deeplabv3_pascal (ASPP rates [12, 24, 36], no decoder) and
# seg_deeplabv3plus_pascal ([6, 12, 18], the stride-4 decoder).
register_variants(deeplab_backbone, {
    "deeplabv3_resnet50": (50, "DeepLabV3, ResNet-50 at output stride 16.",
                           {"aspp_dilation_rates": [12, 24, 36],
                            "feature_fusion": "none", "head_num_convs": 0}),
    "deeplabv3_resnet101": (101, "DeepLabV3, ResNet-101 at output stride "
                            "16.", {"aspp_dilation_rates": [12, 24, 36],
                                    "feature_fusion": "none",
                                    "head_num_convs": 0}),
    "deeplabv3plus_resnet50": (50, "DeepLabV3+, ResNet-50 at output stride "
                               "16, the stride-4 decoder.", {}),
    "deeplabv3plus_resnet101": (101, "DeepLabV3+, ResNet-101 at output "
                                "stride 16, the stride-4 decoder.", {}),
})
