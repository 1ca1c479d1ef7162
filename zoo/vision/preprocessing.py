"""Image preprocessing for evaluation: resize, center crop, scale, normalise."""

import math

import keras
import numpy as np

from zoo.backbone import standardize_data_format

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3",
                  "lanczos5")


@keras.saving.register_keras_serializable(package="zoo")
class ImagePreprocessor(keras.layers.Pipeline):
    """`(x * scale - mean) / std`, resized and center cropped by `crop_pct`.

    The evaluation transform of timm and torchvision: the image is resized so
    that the crop of `image_size` covers `crop_pct` of it (shorter side to
    `floor(size / crop_pct)`; 224 at 0.875 gives 256), then center cropped.
    Here the resize crops the largest centred region of the target aspect
    ratio first, which keeps the same pixels as "shorter side, then crop".

    Built from Keras preprocessing layers, so it runs both inside a model (on
    backend tensors) and inside a `tf.data` map on any backend:

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
        scale_size = tuple(math.floor(s / crop_pct) for s in image_size)
        steps.append(
            keras.layers.Resizing(
                scale_size[0],
                scale_size[1],
                interpolation=interpolation,
                crop_to_aspect_ratio=True,
                antialias=antialias,
                data_format=data_format,
                name="resize",
            )
        )
        if scale_size != image_size:
            steps.append(
                keras.layers.CenterCrop(
                    image_size[0],
                    image_size[1],
                    data_format=data_format,
                    name="center_crop",
                )
            )
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
