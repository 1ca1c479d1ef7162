"""`ResizeLike`: bilinear resize of one feature map to another's size."""

import keras


@keras.saving.register_keras_serializable(package="zoo")
class ResizeLike(keras.layers.Layer):
    """Resizes `x` to the spatial size of `reference` (known when called,
    so inputs of any size work).

    Bilinear with half-pixel centres and no antialiasing, as
    `tf.image.resize` (the Model Garden's segmentation resizes); a 1x1 map
    is broadcast.

    Args:
        interpolation: `"bilinear"` or `"nearest"`.
        data_format: of both inputs.

    Call args:
        inputs: `[x, reference]`, feature maps of the same data format.

    Returns:
        `x` at `reference`'s height and width, in `x`'s channels.
    """

    def __init__(self, interpolation="bilinear", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation
        self.data_format = data_format or keras.config.image_data_format()

    def call(self, inputs):
        x, reference = inputs
        ops = keras.ops
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        static = [reference.shape[a] for a in axes]
        if all(isinstance(s, int) for s in static):
            size = tuple(static)
            if tuple(x.shape[a] for a in axes) == size:
                return x
        else:
            shape = ops.shape(reference)
            size = (shape[axes[0]], shape[axes[1]])
        if tuple(x.shape[a] for a in axes) == (1, 1):
            target = list(ops.shape(x))
            for axis, side in zip(axes, size):
                target[axis] = side
            return ops.broadcast_to(x, tuple(target))
        return ops.image.resize(x, size, interpolation=self.interpolation,
                                data_format=self.data_format)

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        shape = list(x)
        for axis in ((1, 2) if self.data_format == "channels_last"
                     else (2, 3)):
            shape[axis] = reference[axis]
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation,
                       "data_format": self.data_format})
        return config
