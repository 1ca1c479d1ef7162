"""The Feature Pyramid Network decoder, in the Model Garden's layout.

Lin et al. 2017, "Feature Pyramid Networks for Object Detection",
https://arxiv.org/abs/1612.03144. The layers and their order follow
`official/vision/modeling/decoders/fpn.py` (and its config defaults in
`official/vision/configs/decoders.py`): a 1x1 lateral convolution per
backbone level, a top-down path of nearest-neighbour 2x upsampling fused by
sum (or concatenation), a 3x3 "post-hoc" convolution per backbone level,
coarser levels above the backbone made by stride-2 3x3 convolutions (the
first from the top post-hoc map, later ones after the activation), and a
batch norm on every output level.
"""

import keras

from zoo.layers.conv import Conv2D

FUSION_TYPES = ("sum", "concat")


def _level(name):
    """`"C3"` -> 3."""
    return int(str(name).lstrip("CP"))


def build_fpn(features, *, min_level=3, max_level=7, num_filters=256,
              fusion_type="sum", use_separable_conv=False, activation="relu",
              norm_momentum=0.99, norm_epsilon=1e-3, use_norm=True,
              coarser_input="p5", data_format=None, dtype=None, name="fpn"):
    """Applies an FPN to a backbone's pyramid (symbolic tensors).

    Args:
        features: dict `"C<l>"` (or int level) -> feature map of stride 2**l,
            e.g. a backbone's `pyramid_outputs`.
        min_level: int, the finest output level; the backbone must have it.
        max_level: int, the coarsest; levels above the backbone's last are
            made by stride-2 convolutions (RetinaNet's P6 and P7).
        num_filters: int, channels of every output level.
        fusion_type: `"sum"` or `"concat"` of the top-down and lateral maps.
        use_separable_conv: bool, separable convolutions instead of plain.
        activation: activation before the convolutions that make the levels
            above the first coarser one.
        norm_momentum, norm_epsilon: the batch norms'.
        use_norm: a batch norm on every output level (the Model Garden's);
            False: none (keras-hub's RetinaNet).
        coarser_input: what the first level above the backbone is made
            from: `"p5"` the top post-hoc map (the Model Garden's), `"c5"`
            the backbone's top map itself (keras-hub's `use_p5=True`).
        data_format: the backbone's data format.
        dtype: dtype policy of the layers.
        name: prefix of the layer names.

    Returns:
        dict `"P<l>"` -> feature map, for `min_level..max_level`.

    Raises:
        ValueError: a level the backbone does not have, or a bad option.
    """
    if coarser_input not in ("p5", "c5"):
        raise ValueError(f"FPN: coarser_input={coarser_input!r} is not 'p5' "
                         "or 'c5'.")
    if fusion_type not in FUSION_TYPES:
        raise ValueError(f"FPN: fusion_type={fusion_type!r} is not one of "
                         f"{list(FUSION_TYPES)}.")
    if not isinstance(min_level, int) or not isinstance(max_level, int) \
            or not 1 <= min_level <= max_level:
        raise ValueError(f"FPN: need 1 <= min_level <= max_level, got "
                         f"{min_level} and {max_level}.")
    levels = {_level(k): v for k, v in features.items()}
    if min_level not in levels:
        raise ValueError(
            f"FPN: min_level={min_level} needs the backbone's level "
            f"C{min_level}; it has {sorted(levels)}.")
    backbone_max = min(max(levels), max_level)
    channel_axis = 1 if data_format == "channels_first" else -1
    conv = keras.layers.SeparableConv2D if use_separable_conv else Conv2D
    # The Model Garden's FPN builds its convolutions with the
    # "VarianceScaling" initializer (scale 1, fan_in, truncated normal).
    def conv_layer(kernel_size, strides, layer_name):
        init = {"depthwise_initializer" if use_separable_conv
                else "kernel_initializer": keras.initializers.VarianceScaling()}
        if use_separable_conv:
            init["pointwise_initializer"] = \
                keras.initializers.VarianceScaling()
        return conv(num_filters, kernel_size, strides=strides,
                    padding="same", data_format=data_format, dtype=dtype,
                    name=layer_name, **init)

    lateral = {
        level: conv_layer(1, 1, f"{name}_lateral_{level}")(levels[level])
        for level in range(min_level, backbone_max + 1)}
    merged = {backbone_max: lateral[backbone_max]}
    for level in range(backbone_max - 1, min_level - 1, -1):
        up = keras.layers.UpSampling2D(
            2, interpolation="nearest", data_format=data_format, dtype=dtype,
            name=f"{name}_upsample_{level}")(merged[level + 1])
        if fusion_type == "sum":
            merged[level] = keras.layers.Add(
                dtype=dtype, name=f"{name}_sum_{level}")([up, lateral[level]])
        else:
            merged[level] = keras.layers.Concatenate(
                axis=channel_axis, dtype=dtype,
                name=f"{name}_concat_{level}")([up, lateral[level]])
    outputs = {level: conv_layer(3, 1, f"{name}_post_hoc_{level}")(
        merged[level]) for level in range(min_level, backbone_max + 1)}
    for level in range(backbone_max + 1, max_level + 1):
        x = outputs[level - 1]
        if level == backbone_max + 1 and coarser_input == "c5":
            x = levels[backbone_max]
        if level > backbone_max + 1:
            x = keras.layers.Activation(activation, dtype=dtype,
                                        name=f"{name}_act_{level}")(x)
        outputs[level] = conv_layer(3, 2, f"{name}_coarser_{level}")(x)
    if not use_norm:
        return {f"P{level}": outputs[level]
                for level in range(min_level, max_level + 1)}
    return {
        f"P{level}": keras.layers.BatchNormalization(
            axis=channel_axis, momentum=norm_momentum, epsilon=norm_epsilon,
            dtype=dtype, name=f"{name}_norm_{level}")(outputs[level])
        for level in range(min_level, max_level + 1)}
