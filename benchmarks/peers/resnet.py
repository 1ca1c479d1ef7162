"""ResNet's peers: keras.applications' ResNet50/101/152 (v1) and keras-hub's
`ResNetImageClassifier` built with the zoo model's stages, widths and stem.

keras.applications' ResNets are v1 (stride in the first 1x1 of a block);
keras-hub's are v1.5 like zoo's default, so against keras.applications
compare `block_variant=v1` for equal FLOPs (the `gflops_per_sample` column
shows the difference).
"""

import keras

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer

KERAS_APPLICATIONS_RESNETS = {
    (3, 4, 6, 3): "ResNet50",
    (3, 4, 23, 3): "ResNet101",
    (3, 8, 36, 3): "ResNet152",
}


def _parts(zoo_model):
    backbone = getattr(zoo_model, "backbone", None) or zoo_model
    return backbone, getattr(zoo_model, "num_classes", None)


@register_peer("resnet", "keras.applications")
def keras_applications_resnet(name, zoo_model):
    """keras.applications' ResNet of the zoo model's depth (50/101/152)."""
    backbone, num_classes = _parts(zoo_model)
    stages = tuple(backbone.stage_blocks)
    if (
        num_classes is None
        or stages not in KERAS_APPLICATIONS_RESNETS
        or backbone.block_type != "bottleneck"
        or backbone.stem_type != "basic"
        or backbone.avg_down
        or backbone.se_ratio
        or tuple(backbone.stage_filters) != (64, 128, 256, 512)
        or backbone.data_format != "channels_last"
    ):
        raise BenchError(
            f"keras.applications has no counterpart of zoo model {name!r}; "
            "it has ResNet-50/101/152 (zoo resnet50, resnet101, resnet152)."
        )
    class_name = KERAS_APPLICATIONS_RESNETS[stages]
    builder = getattr(keras.applications, class_name)
    peer = builder(
        weights=None,
        input_shape=tuple(backbone.image_shape),
        classes=num_classes,
        classifier_activation=None,
    )
    return peer, f"keras.applications.{class_name}"


@register_peer("resnet", "keras_hub")
def keras_hub_resnet(name, zoo_model):
    """keras-hub's ResNet classifier with the zoo model's layout (the
    mapping of zoo/convert/keras_hub/resnet.py)."""
    import keras_hub

    from zoo.convert import find_converter
    from zoo.errors import WeightsError

    backbone, num_classes = _parts(zoo_model)
    if num_classes is None:
        raise BenchError(f"keras_hub's ResNet peer needs a classifier; "
                         f"{name!r} was built without a head.")
    try:
        arguments = find_converter("keras_hub", family="resnet").source_config(
            backbone)
    except WeightsError as error:
        raise BenchError(str(error)) from None
    hub_backbone = keras_hub.models.ResNetBackbone(**arguments)
    return keras_hub.models.ResNetImageClassifier(
        backbone=hub_backbone, num_classes=num_classes
    ), "keras_hub.models.ResNetImageClassifier"
