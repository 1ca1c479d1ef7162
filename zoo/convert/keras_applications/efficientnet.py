"""keras.applications EfficientNet B0-B7 and EfficientNetV2 -> zoo
EfficientNet.

zoo's layers carry keras.applications' names (see
`zoo/vision/backbones/efficientnet.py`), so most layers copy as they are;
the two 1x1 convolutions of squeeze-excitation (`{block}se_reduce`,
`{block}se_expand`) become the `reduce` and `expand` of one
`SqueezeExcite` layer (`{block}se`). The `rescaling` and `normalization`
layers are preprocessing: zoo's presets do it in their `ImagePreprocessor`.
"""

from zoo.convert import register_converter
from zoo.convert.keras_applications import (
    KerasApplicationsConverter,
    batch_norm,
    copy_layer,
)
from zoo.errors import WeightsError

V1 = {f"EfficientNetB{i}": f"efficientnet_b{i}" for i in range(8)}
V2 = {f"EfficientNetV2{v.upper()}": f"efficientnetv2_{v}"
      for v in ("b0", "b1", "b2", "b3", "s", "m", "l")}

#: Layers that hold preprocessing constants, not model weights.
PREPROCESSING = ("normalization", "rescaling")


def convert_named_layers(weights, se_names, preprocessing=PREPROCESSING):
    """`{zoo path: array}` for a model whose layers share zoo's names.

    Batch norms (four arrays) map onto gamma/beta/moving statistics,
    convolutions onto kernel (and bias); `se_names` maps a keras
    squeeze-excitation layer's suffix to `(zoo suffix, "reduce" or
    "expand")`.
    """
    state = {}
    for name, arrays in weights.items():
        if not arrays or name.startswith(preprocessing) or name in (
                "predictions", "logits", "conv_2"):
            continue
        for suffix, (target, part) in se_names.items():
            if name.endswith(suffix):
                copy_layer(state, f"{name[:-len(suffix)]}{target}/{part}",
                           arrays)
                break
        else:
            if len(arrays) == 4:
                batch_norm(state, name, arrays)
            else:
                copy_layer(state, name, arrays)
    return state


@register_converter
class KerasApplicationsEfficientNet(KerasApplicationsConverter):
    """keras.applications EfficientNetB0..B7 and EfficientNetV2B0..L."""

    family = "efficientnet"
    variants = {**V1, **V2}

    def convert_weights(self, weights, backbone):
        """Copies the backbone's layers (`{layer name: [arrays]}`)."""
        if backbone.padding != "same":
            raise WeightsError(
                "keras.applications EfficientNet weights need "
                f"padding='same'; the model has {backbone.padding!r}.")
        return convert_named_layers(weights, {
            "se_reduce": ("se", "reduce"), "se_expand": ("se", "expand")})

    def convert_head(self, weights, model):
        """`predictions` -> the classifier head."""
        arrays = weights.get("predictions")
        if not arrays:
            return {}
        return {"predictions/kernel": arrays[0], "predictions/bias": arrays[1]}
