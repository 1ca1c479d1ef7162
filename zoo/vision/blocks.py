"""Building blocks of the convolutional backbones (EfficientNet, MobileNet,
ConvNeXt; ResNet uses the builder).

`ConvBuilder` creates layers with one backbone's settings (data format,
padding convention, batch-norm epsilon and momentum, dtype);
`inverted_residual` and `fused_inverted_residual` are the MBConv and
Fused-MBConv blocks of MobileNetV2/V3 and EfficientNet (V1, Lite, V2).

Padding conventions (`padding`):

- `"same"`: TensorFlow's, the extra pixel of a strided convolution on the
  bottom/right. keras.applications, the TensorFlow EfficientNet and
  MobileNet checkpoints and the Model Garden use it (their explicit
  `ZeroPadding2D(correct_pad(...))` + `"valid"` computes the same thing).
- `"symmetric"`: PyTorch's, `(k - 1) // 2` on every side, for weights
  trained with torchvision or timm.
"""

import keras
from keras import layers

from zoo.backbone import standardize_data_format
from zoo.layers import DropPath, SqueezeExcite
from zoo.layers.conv import Conv2D
from zoo.layers.normalization import BatchNormalization
from zoo.layers.initializers import HostHeNormal

PADDINGS = ("same", "symmetric")

#: The activations `ConvBuilder.act` builds.
ACTIVATIONS = ("relu", "relu6", "swish", "silu", "hard_swish", "gelu")


def check_choice(owner, argument, value, choices):
    """Raises ValueError naming `argument` unless `value` is in `choices`."""
    if value not in choices:
        raise ValueError(
            f"{owner}: {argument}={value!r} is not one of {list(choices)}.")
    return value


class ConvBuilder:
    """Creates the layers of one backbone with shared settings.

    Args:
        data_format: `"channels_last"` or `"channels_first"`.
        padding: `"same"` or `"symmetric"` (see the module docstring).
        bn_epsilon, bn_momentum: of every batch norm.
        activation: the default activation of `act`.
        dtype: dtype policy of every layer.
        bn_trainable: whether batch-norm layers train.
    """

    def __init__(self, data_format, padding="same", bn_epsilon=1e-3,
                 bn_momentum=0.99, activation="relu", dtype=None,
                 bn_trainable=True):
        self.data_format = data_format
        self.bn_axis = -1 if data_format == "channels_last" else 1
        self.padding = padding
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum
        self.activation = activation
        self.dtype = dtype
        self.bn_trainable = bn_trainable

    def channels(self, x):
        """Channels of a feature map."""
        return int(x.shape[self.bn_axis])

    def _pad(self, x, kernel_size, strides, name):
        if self.padding == "symmetric" and strides > 1 and kernel_size > 1:
            x = layers.ZeroPadding2D((kernel_size - 1) // 2,
                                     data_format=self.data_format,
                                     dtype=self.dtype, name=f"{name}_pad")(x)
            return x, "valid"
        return x, "same"

    def conv(self, x, filters, kernel_size, strides=1, name=None,
             use_bias=False, activation=None, groups=1, dilation_rate=1):
        """A 2-D convolution padded by the builder's convention (a dilated
        one, stride 1, is padded symmetrically by either)."""
        if dilation_rate > 1 and strides > 1:
            raise ValueError(
                f"{name}: a convolution is strided or dilated, not both "
                f"(strides={strides}, dilation_rate={dilation_rate}).")
        x, padding = self._pad(x, kernel_size, strides, name)
        return Conv2D(
            filters, kernel_size, strides=strides, padding=padding,
            use_bias=use_bias, activation=activation, groups=groups,
            dilation_rate=dilation_rate, data_format=self.data_format,
            kernel_initializer=HostHeNormal(), dtype=self.dtype,
            name=name)(x)

    def depthwise(self, x, kernel_size, strides=1, name=None,
                  use_bias=False, dilation_rate=1):
        """A depthwise convolution padded by the builder's convention (a
        dilated one, stride 1, is padded symmetrically by either)."""
        if dilation_rate > 1 and strides > 1:
            raise ValueError(
                f"{name}: a convolution is strided or dilated, not both "
                f"(strides={strides}, dilation_rate={dilation_rate}).")
        x, padding = self._pad(x, kernel_size, strides, name)
        return layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding=padding, use_bias=use_bias,
            dilation_rate=dilation_rate, data_format=self.data_format,
            depthwise_initializer=HostHeNormal(), dtype=self.dtype,
            name=name)(x)

    def bn(self, x, name, zero_init=False):
        """Batch norm over the channel axis."""
        return BatchNormalization(
            axis=self.bn_axis, epsilon=self.bn_epsilon,
            momentum=self.bn_momentum,
            gamma_initializer="zeros" if zero_init else "ones",
            trainable=self.bn_trainable, dtype=self.dtype, name=name)(x)

    def act(self, x, name, activation=None):
        """The activation `activation` (default: the builder's)."""
        activation = activation or self.activation
        if activation is None:
            return x
        if activation == "relu":
            return layers.ReLU(dtype=self.dtype, name=name)(x)
        if activation == "relu6":
            return layers.ReLU(6.0, dtype=self.dtype, name=name)(x)
        return layers.Activation(activation, dtype=self.dtype, name=name)(x)

    def conv_bn_act(self, x, filters, kernel_size, strides, name,
                    bn_name, act_name, activation=None):
        """Convolution, batch norm and (unless `activation is False`) the
        activation."""
        x = self.conv(x, filters, kernel_size, strides, name=name)
        x = self.bn(x, bn_name)
        if activation is False:
            return x
        return self.act(x, act_name, activation)

    def squeeze_excite(self, x, inner, name, activation=None,
                       gate="sigmoid"):
        """Squeeze-excitation reduced to `inner` channels."""
        activation = activation or self.activation
        return SqueezeExcite(
            inner, activation=activation,
            gate=gate, data_format=self.data_format, dtype=self.dtype,
            name=name)(x)

    def residual(self, shortcut, x, drop_rate, name):
        """`shortcut + DropPath(x)`."""
        if drop_rate:
            x = DropPath(drop_rate, dtype=self.dtype, name=f"{name}drop")(x)
        return layers.Add(dtype=self.dtype, name=f"{name}add")([shortcut, x])


def inverted_residual(b, x, filters_out, *, kernel_size, strides,
                      expand_ratio=None, expanded=None, se_inner=0,
                      se_activation=None, se_gate="sigmoid",
                      activation=None, drop_rate=0.0, dilation_rate=1,
                      names):
    """MBConv: 1x1 expansion, depthwise, optional SE, 1x1 projection.

    The expansion is skipped when its width equals the input's (the first
    block of MobileNetV2 and EfficientNet). The residual joins when the
    stride is 1 and the widths match.

    Args:
        b: the `ConvBuilder`.
        x: the input feature map.
        filters_out: channels of the projection.
        kernel_size, strides: of the depthwise convolution.
        expand_ratio: expansion width as a multiple of the input's, or
        expanded: the expansion width itself (MobileNetV3's tables).
        se_inner: channels of the squeeze-excitation bottleneck (0: none).
        se_activation, se_gate: its inner activation and its gate.
        activation: of the expansion and depthwise (default: the builder's).
        drop_rate: stochastic depth of the residual branch.
        dilation_rate: of the depthwise convolution (stride 1 only).
        names: dict of layer names: `expand`, `expand_bn`, `expand_act`,
            `dw`, `dw_bn`, `dw_act`, `se`, `project`, `project_bn` and
            `prefix` (of the residual's `drop`/`add`).
    """
    inputs = x
    filters_in = b.channels(x)
    width = expanded if expanded is not None else filters_in * expand_ratio
    if width != filters_in:
        x = b.conv_bn_act(x, width, 1, 1, names["expand"], names["expand_bn"],
                          names["expand_act"], activation)
    x = b.depthwise(x, kernel_size, strides, name=names["dw"],
                    dilation_rate=dilation_rate)
    x = b.act(b.bn(x, names["dw_bn"]), names["dw_act"], activation)
    if se_inner:
        x = b.squeeze_excite(x, se_inner, names["se"], se_activation,
                             se_gate)
    x = b.conv_bn_act(x, filters_out, 1, 1, names["project"],
                      names["project_bn"], None, activation=False)
    if strides == 1 and filters_in == filters_out:
        x = b.residual(inputs, x, drop_rate, names["prefix"])
    return x


def fused_inverted_residual(b, x, filters_out, *, kernel_size, strides,
                            expand_ratio, se_inner=0, se_activation=None,
                            activation=None, drop_rate=0.0, dilation_rate=1,
                      names):
    """Fused-MBConv (EfficientNetV2): a full `kernel_size` convolution in
    place of expansion + depthwise, then SE and a 1x1 projection; with
    `expand_ratio=1` the one convolution projects (and is activated)."""
    inputs = x
    filters_in = b.channels(x)
    if expand_ratio != 1:
        x = b.conv_bn_act(x, filters_in * expand_ratio, kernel_size, strides,
                          names["expand"], names["expand_bn"],
                          names["expand_act"], activation)
    if se_inner:
        x = b.squeeze_excite(x, se_inner, names["se"],
                             se_activation or activation)
    if expand_ratio != 1:
        x = b.conv_bn_act(x, filters_out, 1, 1, names["project"],
                          names["project_bn"], None, activation=False)
    else:
        x = b.conv_bn_act(x, filters_out, kernel_size, strides,
                          names["project"], names["project_bn"],
                          names["project_act"], activation)
    if strides == 1 and filters_in == filters_out:
        x = b.residual(inputs, x, drop_rate, names["prefix"])
    return x


def image_input(owner, input_shape, data_format, min_size=1):
    """The checked `(input_shape, data_format, keras.Input)` of an image
    backbone.

    Args:
        owner: the backbone's class name, for error messages.
        input_shape: `(height, width, channels)` whatever the data format.
        data_format: None (Keras' setting) or a data format.
        min_size: int, the smallest height and width the network can take
            (None dims are checked when called).
    """
    data_format = standardize_data_format(data_format)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"{owner}: input_shape must be (height, width, channels), got "
            f"{input_shape}.")
    if input_shape[2] is not None and input_shape[2] < 1:
        raise ValueError(
            f"{owner}: input_shape={input_shape} has no channels.")
    if any(side is not None and side < min_size
           for side in input_shape[:2]):
        raise ValueError(
            f"{owner}: input_shape={input_shape} is too small; height and "
            f"width must be at least {min_size}.")
    if data_format == "channels_first":
        shape = (input_shape[2], input_shape[0], input_shape[1])
    else:
        shape = input_shape
    return input_shape, data_format, keras.Input(shape=shape, name="images")


#: How stochastic depth is spread over the blocks (`drop_rates`).
DROP_PATH_SCHEDULES = ("linear", "constant")


def drop_rates(drop_path_rate, total, schedule="linear"):
    """Stochastic-depth rates of `total` blocks: rising linearly from 0 (as
    `rate * index / total`, keras.applications' EfficientNet rule), or the
    same rate in every block (`"constant"`, the Model Garden's
    EfficientNet)."""
    if schedule == "constant":
        return [drop_path_rate] * total
    return [drop_path_rate * i / max(total, 1) for i in range(total)]
