"""Image preprocessing for evaluation: resize, center crop, scale, normalise."""

import math

import keras
import numpy as np

try:  # Keras' base of layers that run inside tf.data on any backend.
    from keras.src.layers.preprocessing.data_layer import DataLayer
except ImportError:  # Keras before 3.10 named it TFDataLayer
    from keras.src.layers.preprocessing.tf_data_layer import (
        TFDataLayer as DataLayer,
    )

from zoo.backbone import standardize_data_format

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3",
                  "lanczos5")


def shorter_side_size(height, width, size, backend=None):
    """torchvision's `Resize(size)` target: the shorter side to `size`, the
    longer to `int(size * long / short)`. Works on ints and on tensors
    (`backend`: the Keras backend module of the tensors, default the global
    one; a layer inside a TensorFlow graph on another backend passes its
    own)."""
    if isinstance(height, int) and isinstance(width, int):
        if width <= height:
            return int(size * height / width), size
        return size, int(size * width / height)
    cast = backend.cast if backend else keras.ops.cast
    ops = backend.numpy if backend else keras.ops
    h = cast(height, "float32")
    w = cast(width, "float32")
    long_h = cast(ops.floor(size * h / w), "int32")
    long_w = cast(ops.floor(size * w / h), "int32")
    return (ops.where(w <= h, long_h, size), ops.where(w <= h, size, long_w))


@keras.saving.register_keras_serializable(package="zoo")
class ResizeAndCenterCrop(DataLayer):
    """timm's / torchvision's evaluation resize and centre crop.

    A square `image_size` resizes the shorter side to
    `floor(size / crop_pct)`; a non-square one resizes to
    `floor(side / crop_pct)` per side. Then the centre `image_size` is cut
    out, the offsets `round((resized - size) / 2)` as torchvision's. Works
    on images of any size, in a model or inside `tf.data` (where the sizes
    are tensors).

    Args:
        image_size: `(height, width)` of the output.
        crop_pct: float in (0, 1].
        interpolation, antialias: of the resize.
        data_format: `"channels_last"` or `"channels_first"`.
    """

    def __init__(self, image_size, crop_pct, interpolation="bilinear",
                 antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(int(s) for s in image_size)
        self.crop_pct = float(crop_pct)
        self.interpolation = interpolation
        self.antialias = bool(antialias)
        self.data_format = standardize_data_format(data_format)

    def _target(self, height, width):
        th, tw = self.image_size
        if th == tw:
            return shorter_side_size(height, width,
                                     math.floor(th / self.crop_pct),
                                     backend=self.backend)
        return (math.floor(th / self.crop_pct),
                math.floor(tw / self.crop_pct))

    def call(self, images):
        b = self.backend
        images = b.cast(images, self.compute_dtype)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = b.numpy.expand_dims(images, 0)
        if self.data_format == "channels_first":
            images = b.numpy.transpose(images, (0, 2, 3, 1))
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            shape = b.shape(images)
            height, width = shape[1], shape[2]
        new_h, new_w = self._target(height, width)
        images = b.image.resize(images, (new_h, new_w),
                                interpolation=self.interpolation,
                                antialias=self.antialias,
                                data_format="channels_last")
        th, tw = self.image_size
        if isinstance(new_h, int) and isinstance(new_w, int):
            top = int(round((new_h - th) / 2.0))
            left = int(round((new_w - tw) / 2.0))
        else:
            top = b.cast(b.numpy.round(b.cast(new_h - th, "float32") / 2.0),
                         "int32")
            left = b.cast(b.numpy.round(b.cast(new_w - tw, "float32") / 2.0),
                          "int32")
        images = images[:, top:top + th, left:left + tw, :]
        if self.data_format == "channels_first":
            images = b.numpy.transpose(images, (0, 3, 1, 2))
        if unbatched:
            images = b.numpy.squeeze(images, 0)
        return images

    def compute_output_shape(self, input_shape):
        input_shape = list(input_shape)
        th, tw = self.image_size
        if self.data_format == "channels_first":
            input_shape[-2:] = [th, tw]
        else:
            input_shape[-3:-1] = [th, tw]
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": list(self.image_size),
                       "crop_pct": self.crop_pct,
                       "interpolation": self.interpolation,
                       "antialias": self.antialias,
                       "data_format": self.data_format})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class ImagePreprocessor(keras.layers.Pipeline):
    """`(x * scale - mean) / std`, resized and center cropped by `crop_pct`.

    The evaluation transform of timm and torchvision, step for step: the
    shorter side is resized to `floor(size / crop_pct)` (the longer one to
    `int(that * long / short)`; 224 at 0.875 gives 256), then the centre
    `image_size` is cropped (offsets rounded as torchvision's `CenterCrop`).
    A non-square `image_size` resizes to `floor(size / crop_pct)` per side,
    as timm does. With `antialias=True` the resize low-pass filters when it
    shrinks, as PIL (which timm and torchvision evaluate with) always does.

    Built from Keras layers, so it runs both inside a model (on backend
    tensors) and inside a `tf.data` map on any backend:

    ```python
    pre = ImagePreprocessor(image_size=(224, 224), crop_pct=0.875,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD)
    ds = ds.map(lambda x, y: (pre(x), y))
    ```

    Args:
        image_size: `(height, width)` of the output.
        crop_pct: float in (0, 1], fraction of the resized image kept.
        interpolation: resize method (`"bilinear"`, `"bicubic"`, ...).
        antialias: bool, low-pass filter when downsampling (as PIL does).
        scale: float, multiplies pixel values first (1/255 for [0, 1] input
            ranges).
        mean: 3 floats, per-channel mean subtracted after scaling.
        std: 3 floats, per-channel standard deviation divided by.
        data_format: `"channels_last"` or `"channels_first"`.

    Call args:
        images: `[batch, H, W, C]` or `[H, W, C]`, uint8 or float, RGB.

    Returns:
        float32 `[batch, height, width, C]` (or unbatched).
    """

    def __init__(
        self,
        image_size=(224, 224),
        crop_pct=1.0,
        interpolation="bilinear",
        antialias=False,
        scale=1.0 / 255.0,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        data_format=None,
        name=None,
        **kwargs,
    ):
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or min(image_size) <= 0:
            raise ValueError(
                "ImagePreprocessor: image_size must be (height, width) of "
                f"positive ints, got {image_size}."
            )
        if not 0.0 < crop_pct <= 1.0:
            raise ValueError(
                f"ImagePreprocessor: crop_pct={crop_pct} must be in (0, 1]."
            )
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"ImagePreprocessor: interpolation={interpolation!r} is not "
                f"one of {list(INTERPOLATIONS)}."
            )
        mean = [float(m) for m in mean]
        std = [float(s) for s in std]
        if len(mean) != len(std):
            raise ValueError(
                "ImagePreprocessor: mean and std need one value per channel, "
                f"got {len(mean)} and {len(std)}."
            )
        if any(s == 0 for s in std):
            raise ValueError(f"ImagePreprocessor: std has a zero: {std}.")
        data_format = standardize_data_format(data_format)

        # Normalising first is exact (every resize method here is a convex
        # combination of pixels, which commutes with a per-channel affine
        # map) and casts uint8 input to float before resizing, so eager and
        # tf.data runs agree.
        channel_scale = np.array([scale / s for s in std], "float32")
        channel_offset = np.array([-m / s for m, s in zip(mean, std)],
                                  "float32")
        if data_format == "channels_first":
            channel_scale = channel_scale.reshape(-1, 1, 1)
            channel_offset = channel_offset.reshape(-1, 1, 1)
        steps = [
            keras.layers.Rescaling(
                scale=channel_scale, offset=channel_offset, name="normalize"
            )
        ]
        steps.append(ResizeAndCenterCrop(
            image_size, crop_pct, interpolation=interpolation,
            antialias=antialias, data_format=data_format,
            name="resize_and_crop"))
        super().__init__(steps, name=name)
        self.image_size = image_size
        self.crop_pct = float(crop_pct)
        self.interpolation = interpolation
        self.antialias = bool(antialias)
        self.scale = float(scale)
        self.mean = mean
        self.std = std
        self.data_format = data_format

    def get_config(self):
        return {
            "name": self.name,
            "image_size": list(self.image_size),
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "antialias": self.antialias,
            "scale": self.scale,
            "mean": self.mean,
            "std": self.std,
            "data_format": self.data_format,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


#: ImageNet statistics in [0, 1] RGB, as torchvision and timm use them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
