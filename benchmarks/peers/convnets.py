"""EfficientNet's, MobileNet's and ConvNeXt's peers: keras.applications'
model of the same variant (the counts and layouts tested equal in
tests/zoo/vision/test_convnets.py), built without its preprocessing layers
where it has the option, so both sides compute the same network."""

import keras

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer

#: zoo variant -> (keras.applications class, its extra arguments)
KERAS_APPLICATIONS = {
    **{f"efficientnet_b{i}": (f"EfficientNetB{i}", {}) for i in range(8)},
    **{f"efficientnetv2_{v}": (f"EfficientNetV2{v.upper()}",
                               {"include_preprocessing": False})
       for v in ("b0", "b1", "b2", "b3", "s", "m", "l")},
    **{f"mobilenetv2_{w}": ("MobileNetV2", {"alpha": a}) for w, a in (
        ("035", 0.35), ("050", 0.5), ("075", 0.75), ("100", 1.0),
        ("130", 1.3), ("140", 1.4))},
    "mobilenetv3_large_100": ("MobileNetV3Large",
                              {"include_preprocessing": False}),
    "mobilenetv3_small_100": ("MobileNetV3Small",
                              {"include_preprocessing": False}),
    **{f"convnext_{s}": (f"ConvNeXt{c}", {"include_preprocessing": False})
       for s, c in (("tiny", "Tiny"), ("small", "Small"), ("base", "Base"),
                    ("large", "Large"), ("xlarge", "XLarge"))},
}


def _keras_applications(name, zoo_model):
    backbone = getattr(zoo_model, "backbone", None) or zoo_model
    num_classes = getattr(zoo_model, "num_classes", None)
    if num_classes is None or name not in KERAS_APPLICATIONS or (
            backbone.data_format != "channels_last"):
        raise BenchError(
            f"keras.applications has no counterpart of zoo model {name!r} "
            "(a registered variant with its classifier, channels_last); it "
            f"has {sorted(KERAS_APPLICATIONS)}.")
    class_name, arguments = KERAS_APPLICATIONS[name]
    peer = getattr(keras.applications, class_name)(
        weights=None, input_shape=tuple(backbone.image_shape),
        classes=num_classes, classifier_activation=None, **arguments)
    return peer, f"keras.applications.{class_name}"


for _family in ("efficientnet", "mobilenet", "convnext"):
    register_peer(_family, "keras.applications")(_keras_applications)
