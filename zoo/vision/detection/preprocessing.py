"""Detection preprocessing: resize keeping the aspect ratio, pad, normalise.

As the Model Garden's evaluation path (`official/vision/ops/preprocess_ops.py`
`resize_and_crop_image` with `aug_scale_min = aug_scale_max = 1`): the image
is scaled by `min(H / h, W / w)` so that it fits the model's `(H, W)`, then
padded at the bottom and right with zeros. `image_info` records what was
done, in the Model Garden's layout `[4, 2]`: the original `(h, w)`, the
scaled `(h, w)`, the scale `(y, x)` and the offset `(y, x)` (zero here), so
that boxes found in the model's input map back to the original pixels.
"""

import keras
import numpy as np

from zoo.vision.preprocessing import DataLayer


@keras.saving.register_keras_serializable(package="zoo")
class DetectionPreprocessor(DataLayer):
    """Images of any size to a detector's fixed input, with `image_info`.

    ```python
    pre = DetectionPreprocessor(image_size=(640, 640))
    out = pre(uint8_images)       # {"images": [B, 640, 640, 3], "image_info"}
    ```

    Runs in a model, eagerly, or inside a `tf.data` map on any backend.

    Args:
        image_size: `(height, width)` of the model's input (multiples of
            `2 ** max_level`).
        scale: float, multiplies pixel values first (1/255: [0, 1]).
        mean, std: per-channel statistics subtracted and divided by after
            scaling (ImageNet's by default, as the Model Garden's detectors
            normalise).
        interpolation: the resize's.

    Call args:
        images: `[batch, h, w, 3]` or `[h, w, 3]`, uint8 or float, RGB.

    Returns:
        dict with `"images"`: float32 `[batch, H, W, 3]` and `"image_info"`:
        float32 `[batch, 4, 2]` (unbatched without the batch axis).
    """

    def __init__(self, image_size, scale=1.0 / 255.0,
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                 interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or min(image_size) <= 0:
            raise ValueError("DetectionPreprocessor: image_size must be "
                             f"(height, width) of positive ints, got "
                             f"{image_size}.")
        std = [float(s) for s in std]
        if any(s == 0 for s in std):
            raise ValueError(f"DetectionPreprocessor: std has a zero: {std}.")
        self.image_size = image_size
        self.scale = float(scale)
        self.mean = [float(m) for m in mean]
        self.std = std
        self.interpolation = interpolation

    def call(self, images):
        b = self.backend
        images = b.cast(images, "float32")
        unbatched = len(images.shape) == 3
        if unbatched:
            images = b.numpy.expand_dims(images, 0)
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            shape = b.shape(images)
            height, width = shape[1], shape[2]
        out_h, out_w = self.image_size
        h = b.cast(height, "float32")
        w = b.cast(width, "float32")
        ratio = b.numpy.minimum(out_h / h, out_w / w)
        new_h = b.cast(b.numpy.round(h * ratio), "int32")
        new_w = b.cast(b.numpy.round(w * ratio), "int32")
        if isinstance(height, int) and isinstance(width, int):
            ratio_value = min(out_h / height, out_w / width)
            new_h = int(round(height * ratio_value))
            new_w = int(round(width * ratio_value))
        channel_scale = np.array([self.scale / s for s in self.std],
                                 "float32")
        channel_offset = np.array(
            [-m / s for m, s in zip(self.mean, self.std)], "float32")
        images = images * channel_scale + channel_offset
        images = b.image.resize(images, (new_h, new_w),
                                interpolation=self.interpolation,
                                data_format="channels_last")
        images = b.numpy.pad(
            images, [[0, 0], [0, out_h - new_h], [0, out_w - new_w], [0, 0]])
        images = b.numpy.reshape(images, (-1, out_h, out_w, 3))
        scaled = b.numpy.stack([b.cast(new_h, "float32"),
                                b.cast(new_w, "float32")])
        original = b.numpy.stack([h, w])
        info = b.numpy.stack([original, scaled, scaled / original,
                              b.numpy.zeros_like(original)])
        batch = b.shape(images)[0]
        info = b.numpy.broadcast_to(info[None], (batch, 4, 2))
        if unbatched:
            return {"images": images[0], "image_info": info[0]}
        return {"images": images, "image_info": info}

    def compute_output_spec(self, images):
        batch = () if len(images.shape) == 3 else (images.shape[0],)
        return {
            "images": keras.KerasTensor(batch + tuple(self.image_size) + (3,),
                                        "float32"),
            "image_info": keras.KerasTensor(batch + (4, 2), "float32")}

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": list(self.image_size),
                       "scale": self.scale, "mean": self.mean,
                       "std": self.std, "interpolation": self.interpolation})
        return config
