"""Per-channel learned scaling of a residual branch (Touvron et al. 2021)."""

import keras


@keras.saving.register_keras_serializable(package="zoo")
class LayerScale(keras.layers.Layer):
    """Multiplies its input by a learned vector `gamma`, one per channel.

    CaiT's "LayerScale", used by ConvNeXt: `gamma` starts small
    (`init_value`, 1e-6) so each residual branch starts near identity.

    Args:
        init_value: float, the initial value of every entry of `gamma`.
        axis: int, the channel axis (-1 for channels_last, 1 for
            channels_first).

    Call args:
        inputs: a tensor whose `axis` dimension is known.
    """

    def __init__(self, init_value=1e-6, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)
        self.axis = int(axis)

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma", shape=(input_shape[self.axis],),
            initializer=keras.initializers.Constant(self.init_value))
        self._gamma_shape = [1] * len(input_shape)
        self._gamma_shape[self.axis] = input_shape[self.axis]

    def call(self, inputs):
        gamma = keras.ops.cast(self.gamma, inputs.dtype)
        if self.axis not in (-1, len(self._gamma_shape) - 1):
            gamma = keras.ops.reshape(gamma, self._gamma_shape)
        return inputs * gamma

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"init_value": self.init_value, "axis": self.axis})
        return config
