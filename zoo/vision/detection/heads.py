"""The RetinaNet head, in the Model Garden's layout.

Lin et al. 2017, "Focal Loss for Dense Object Detection",
https://arxiv.org/abs/1708.02002. As
`official/vision/modeling/heads/dense_prediction_heads.py`'s
`RetinaNetHead` (defaults from `official/vision/configs/retinanet.py`): a
class tower and a box tower of `num_convs` 3x3 convolutions, each followed
by a batch norm and the activation; the convolutions are shared by every
level, the batch norms are per level. Tower kernels start from N(0, 0.01),
the predictors' from N(0, 1e-5), the class predictor's bias at
`-log((1 - 0.01) / 0.01)` (prior probability 0.01), the other biases at 0.
"""

import math

import keras

#: The prior probability of the class predictor's bias.
PRIOR_PROBABILITY = 0.01


def build_retinanet_head(features, *, num_classes, num_anchors, num_convs=4,
                         num_filters=256, use_separable_conv=False,
                         activation="relu", norm_momentum=0.99,
                         norm_epsilon=1e-3, norm="batch", data_format=None,
                         dtype=None, name="head"):
    """Applies a RetinaNet head to every pyramid level (symbolic tensors).

    Args:
        features: dict `"P<l>"` -> feature map, e.g. `build_fpn`'s.
        num_classes: int, classes predicted per anchor (sigmoid, no
            background class).
        num_anchors: int, anchors per location.
        num_convs, num_filters: the towers' depth and width.
        use_separable_conv: bool, separable convolutions (the Model Garden
            then keeps Keras' default initializers).
        activation: the towers' activation.
        norm_momentum, norm_epsilon: the batch norms'.
        norm: after each tower convolution: `"batch"` a batch norm per
            level (the Model Garden's), `"group"` a group norm of 32 groups
            shared by the levels, the convolutions without bias (keras-hub's
            `use_prediction_head_norm`), or `"none"` / None (keras-hub's
            default).
        data_format: the backbone's data format.
        dtype: dtype policy of the layers.
        name: prefix of the layer names.

    Returns:
        `(class_outputs, box_outputs)`: dicts `"P<l>"` -> `[batch, h, w,
        num_anchors * num_classes]` logits and `[batch, h, w,
        num_anchors * 4]` box offsets (channels last whatever the data
        format, as the anchors are laid out).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError("RetinaNet head: num_classes must be a positive "
                         f"int, got {num_classes!r}.")
    if norm == "none":
        norm = None
    if norm not in ("batch", "group", None):
        raise ValueError(f"RetinaNet head: norm={norm!r} is not 'batch', "
                         "'group' or 'none' (None).")
    conv = (keras.layers.SeparableConv2D if use_separable_conv
            else keras.layers.Conv2D)
    channel_axis = 1 if data_format == "channels_first" else -1

    def conv_layer(filters, layer_name, stddev, bias=0.0, use_bias=True):
        kwargs = {"bias_initializer": keras.initializers.Constant(bias),
                  "use_bias": use_bias}
        if not use_separable_conv:
            kwargs["kernel_initializer"] = keras.initializers.RandomNormal(
                stddev=stddev)
        return conv(filters, 3, padding="same", data_format=data_format,
                    dtype=dtype, name=layer_name, **kwargs)

    towers = {}
    for tower in ("class", "box"):
        towers[tower] = [conv_layer(num_filters, f"{name}_{tower}_conv_{i}",
                                    0.01, use_bias=norm != "group")
                         for i in range(num_convs)]
    groups = {tower: [keras.layers.GroupNormalization(
        32, axis=channel_axis, dtype=dtype,
        name=f"{name}_{tower}_group_norm_{i}") for i in range(num_convs)]
        for tower in towers} if norm == "group" else {}
    prior = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
    predictors = {
        "class": conv_layer(num_anchors * num_classes, f"{name}_classes",
                            1e-5, bias=prior),
        "box": conv_layer(num_anchors * 4, f"{name}_boxes", 1e-5),
    }
    outputs = {"class": {}, "box": {}}
    for key in sorted(features, key=lambda k: int(k.lstrip("P"))):
        level = int(key.lstrip("P"))
        for tower, convs in towers.items():
            x = features[key]
            for i, layer in enumerate(convs):
                x = layer(x)
                if norm == "batch":
                    x = keras.layers.BatchNormalization(
                        axis=channel_axis, momentum=norm_momentum,
                        epsilon=norm_epsilon, dtype=dtype,
                        name=f"{name}_{tower}_norm_{level}_{i}")(x)
                elif norm == "group":
                    x = groups[tower][i](x)
                x = keras.layers.Activation(
                    activation, dtype=dtype,
                    name=f"{name}_{tower}_act_{level}_{i}")(x)
            x = predictors[tower](x)
            if data_format == "channels_first":
                x = keras.layers.Permute(
                    (2, 3, 1), dtype=dtype,
                    name=f"{name}_{tower}_to_nhwc_{level}")(x)
            outputs[tower][key] = x
    return outputs["class"], outputs["box"]
