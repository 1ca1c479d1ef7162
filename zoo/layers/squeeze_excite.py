"""Squeeze-and-excitation channel attention (Hu et al. 2018)."""

import keras

from zoo.backbone import standardize_data_format
from zoo.layers.initializers import HostGlorotUniform
from keras import ops


def make_divisible(value, divisor=8, min_value=None, round_limit=0.9):
    """Rounds `value` to a multiple of `divisor`, never below 90% of it.

    The rule used by MobileNet, EfficientNet and timm for channel counts.
    """
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return new_value


#: Inner activations and gates of `SqueezeExcite`.
ACTIVATIONS = {"relu": ops.relu, "relu6": ops.relu6, "swish": ops.silu,
               "silu": ops.silu, "hard_swish": ops.hard_swish}
GATES = {"sigmoid": ops.sigmoid, "hard_sigmoid": ops.hard_sigmoid}


@keras.saving.register_keras_serializable(package="zoo")
class SqueezeExcite(keras.layers.Layer):
    """Scales channels by a gate computed from their global average.

    `x * gate(W2 act(W1 mean_hw(x) + b1) + b2)`, with W1 reducing to
    `reduced_channels`. The two 1x1 convolutions carry biases, as in timm,
    keras.applications and the Model Garden.

    Args:
        reduced_channels: int, the bottleneck width.
        data_format: `"channels_last"` or `"channels_first"`.
        activation: the inner activation, one of `ACTIVATIONS` (`"relu"`;
            EfficientNet uses `"swish"`).
        gate: `"sigmoid"` or `"hard_sigmoid"` (MobileNetV3's
            `relu6(x + 3) / 6`).

    Call args:
        inputs: `[batch, height, width, channels]` (channels_last).
    """

    def __init__(self, reduced_channels, data_format=None, activation="relu",
                 gate="sigmoid", **kwargs):
        super().__init__(**kwargs)
        for argument, value, choices in (("activation", activation,
                                          ACTIVATIONS),
                                         ("gate", gate, GATES)):
            if value not in choices:
                raise ValueError(
                    f"SqueezeExcite: {argument}={value!r} is not one of "
                    f"{sorted(choices)}.")
        self.reduced_channels = int(reduced_channels)
        self.data_format = standardize_data_format(data_format)
        self.activation = activation
        self.gate = gate

    def build(self, input_shape):
        axis = -1 if self.data_format == "channels_last" else 1
        channels = input_shape[axis]
        self.reduce = keras.layers.Conv2D(
            self.reduced_channels,
            1,
            data_format=self.data_format,
            kernel_initializer=HostGlorotUniform(),
            dtype=self.dtype_policy,
            name="reduce",
        )
        self.expand = keras.layers.Conv2D(
            channels,
            1,
            data_format=self.data_format,
            kernel_initializer=HostGlorotUniform(),
            dtype=self.dtype_policy,
            name="expand",
        )
        pooled = list(input_shape)
        if self.data_format == "channels_last":
            pooled[1] = pooled[2] = 1
        else:
            pooled[2] = pooled[3] = 1
        self.reduce.build(tuple(pooled))
        pooled[axis] = self.reduced_channels
        self.expand.build(tuple(pooled))

    def call(self, inputs):
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        gate = ops.mean(inputs, axis=spatial, keepdims=True)
        gate = ACTIVATIONS[self.activation](self.reduce(gate))
        gate = GATES[self.gate](self.expand(gate))
        return inputs * gate

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduced_channels": self.reduced_channels,
                "data_format": self.data_format,
                "activation": self.activation,
                "gate": self.gate,
            }
        )
        return config
