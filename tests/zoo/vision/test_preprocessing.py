"""ImagePreprocessor: resize + center crop + normalise, in models and tf.data."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.vision.preprocessing import IMAGENET_MEAN, IMAGENET_STD


def _reference(images, size, crop_pct, mean, std, scale):
    """TensorFlow's own ops: resize the centred square, crop, normalise."""
    scale_size = int(np.floor(size / crop_pct))
    h, w = images.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = images[:, top:top + side, left:left + side]
    resized = tf.image.resize(square, (scale_size, scale_size)).numpy()
    offset = (scale_size - size) // 2
    crop = resized[:, offset:offset + size, offset:offset + size]
    return (crop * scale - np.array(mean)) / np.array(std)


def test_matches_tensorflow_reference():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 300, 400, 3)).astype("float32")
    pre = zoo.ImagePreprocessor(image_size=(224, 224), crop_pct=0.875,
                                mean=IMAGENET_MEAN, std=IMAGENET_STD)
    expected = _reference(images, 224, 0.875, IMAGENET_MEAN, IMAGENET_STD,
                          1 / 255)
    actual = np.asarray(pre(images))
    assert actual.shape == (2, 224, 224, 3)
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_inside_tf_data_map_on_any_backend():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 40, 50, 3)).astype("uint8")
    pre = zoo.ImagePreprocessor(image_size=(32, 32), crop_pct=0.9,
                                mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    ds = tf.data.Dataset.from_tensor_slices(images).map(pre).batch(4)
    mapped = next(iter(ds)).numpy()
    eager = np.asarray(pre(images))
    assert mapped.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(mapped, eager, atol=1e-4)


def test_config_round_trip_and_serialisation():
    pre = zoo.ImagePreprocessor(image_size=(64, 48), crop_pct=0.95,
                                interpolation="bicubic", antialias=True)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(pre))
    assert isinstance(clone, zoo.ImagePreprocessor)
    assert clone.get_config() == pre.get_config()
    # 64 / 0.95 = 67.4 -> resize to 67x50 then crop 64x48.
    assert [l.name for l in clone.layers] == ["normalize", "resize",
                                              "center_crop"]


@pytest.mark.parametrize("kwargs, message", [
    ({"crop_pct": 0.0}, "crop_pct"),
    ({"image_size": (0, 3)}, "image_size"),
    ({"interpolation": "cubic"}, "interpolation"),
    ({"std": (1.0, 0.0, 1.0)}, "std"),
    ({"mean": (0.5,), "std": (1.0, 1.0)}, "mean and std"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.ImagePreprocessor(**kwargs)
