"""keras.applications MobileNetV2 and MobileNetV3 -> zoo MobileNet.

zoo's layers carry keras.applications' names (see
`zoo/vision/backbones/mobilenet.py`); MobileNetV3's squeeze-excitation
convolutions (`{block}squeeze_excite_conv`, `..._conv_1`) become one
`SqueezeExcite` layer, and its 1x1 convolutions on the pooled map
(`conv_2`, `logits`) the classifier's dense `head_hidden` and
`predictions` (the same weights without the two unit axes).
"""

from zoo.convert import register_converter
from zoo.convert.keras_applications import KerasApplicationsConverter
from zoo.convert.keras_applications.efficientnet import convert_named_layers
from zoo.errors import WeightsError

ARCHITECTURES = {
    "MobileNetV2": "mobilenetv2_100",
    "MobileNetV3Large": "mobilenetv3_large_100",
    "MobileNetV3Small": "mobilenetv3_small_100",
}


def _dense(arrays):
    kernel, bias = arrays
    return kernel.reshape(kernel.shape[-2:]), bias


@register_converter
class KerasApplicationsMobileNet(KerasApplicationsConverter):
    """keras.applications MobileNetV2 and MobileNetV3 Large/Small."""

    family = "mobilenet"
    variants = ARCHITECTURES

    def convert_weights(self, weights, backbone):
        """Copies the backbone's layers (`{layer name: [arrays]}`)."""
        return convert_named_layers(weights, {
            "squeeze_excite_conv": ("squeeze_excite", "reduce"),
            "squeeze_excite_conv_1": ("squeeze_excite", "expand")})

    def convert_head(self, weights, model):
        """`predictions` (V2) or `conv_2` + `logits` (V3) -> the head."""
        state = {}
        if weights.get("predictions"):
            state["predictions/kernel"], state["predictions/bias"] = (
                weights["predictions"])
        if weights.get("logits"):
            if not getattr(model, "head_hidden_size", None):
                raise WeightsError(
                    "MobileNetV3 weights carry a hidden head layer (conv_2); "
                    "build the classifier with head_hidden_size="
                    f"{weights['conv_2'][0].shape[-1]}.")
            state["head_hidden/kernel"], state["head_hidden/bias"] = _dense(
                weights["conv_2"])
            state["predictions/kernel"], state["predictions/bias"] = _dense(
                weights["logits"])
        return state
