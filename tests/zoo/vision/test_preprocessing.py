"""ImagePreprocessor: resize + center crop + normalise, in models and tf.data."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.vision.preprocessing import IMAGENET_MEAN, IMAGENET_STD


def _pil_eval_transform(image, size, crop_pct, interpolation):
    """timm's / torchvision's evaluation transform with PIL, independently:
    `Resize(floor(size / crop_pct))` (shorter side; the longer one
    `int(s * long / short)`), `CenterCrop(size)` (offsets rounded), then
    [0, 1] floats."""
    from PIL import Image

    scale = math.floor(size / crop_pct)
    picture = Image.fromarray(image)
    width, height = picture.size
    if width <= height:
        new_w, new_h = scale, int(scale * height / width)
    else:
        new_h, new_w = scale, int(scale * width / height)
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[
        interpolation]
    picture = picture.resize((new_w, new_h), resample=resample)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    picture = picture.crop((left, top, left + size, top + size))
    return np.asarray(picture, np.float32) / 255.0


def _preset_transforms():
    """Every (interpolation, antialias, crop_pct) an image classifier or
    backbone preset uses. Detectors are left out: they resize keeping the
    aspect ratio and pad, as the library their weights come from does
    (tests/zoo/vision/test_detection_keras_hub.py checks that), not as a
    PIL evaluation transform."""
    found = {}
    for info in zoo.list_presets():
        if not info.is_text and info.kind != "object_detector":
            p = info.preprocessing
            found.setdefault((p.interpolation, p.antialias, p.crop_pct),
                             info.name)
    return sorted(found.items())


@pytest.mark.parametrize("transform, preset", _preset_transforms(),
                         ids=lambda v: str(v))
def test_matches_pil_eval_transform_on_real_photos(transform, preset):
    """The presets' transforms against PIL on two non-square photos that
    scikit-image ships: within 0.002 on average and 0.005 at the 99th
    percentile ([0, 1] pixel values; PIL rounds to uint8), 0.06 at most
    (PIL also clips bicubic overshoot to 0..255)."""
    import skimage.data

    interpolation, antialias, crop_pct = transform
    assert antialias, f"{preset}: PIL filters when it shrinks; set antialias"
    pre = zoo.ImagePreprocessor(image_size=(224, 224), crop_pct=crop_pct,
                                interpolation=interpolation,
                                antialias=antialias, scale=1 / 255)
    for name in ("chelsea", "coffee"):   # 300x451 and 400x600
        image = getattr(skimage.data, name)()
        ours = np.asarray(pre(image[None]))[0]
        theirs = _pil_eval_transform(image, 224, crop_pct, interpolation)
        difference = np.abs(ours - theirs)
        assert ours.shape == theirs.shape == (224, 224, 3)
        assert difference.mean() < 0.002, (name, difference.mean())
        assert np.percentile(difference, 99) < 0.005, name
        assert difference.max() < 0.06, name
        # The same inside tf.data, where sizes are tensors.
        mapped = next(iter(tf.data.Dataset.from_tensors(image).map(pre)))
        np.testing.assert_allclose(np.asarray(mapped), ours, atol=1e-4)


def test_normalisation_and_non_square_targets():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 300, 400, 3)).astype("float32")
    pre = zoo.ImagePreprocessor(image_size=(224, 224), crop_pct=0.875,
                                mean=IMAGENET_MEAN, std=IMAGENET_STD)
    plain = zoo.ImagePreprocessor(image_size=(224, 224), crop_pct=0.875)
    expected = ((np.asarray(plain(images)) - np.array(IMAGENET_MEAN))
                / np.array(IMAGENET_STD))
    np.testing.assert_allclose(np.asarray(pre(images)), expected, atol=1e-4)
    # A non-square target resizes each side (timm): 64x48 at 0.95 -> 67x50.
    wide = zoo.ImagePreprocessor(image_size=(64, 48), crop_pct=0.95)
    assert tuple(np.asarray(wide(images)).shape) == (2, 64, 48, 3)


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
    assert [l.name for l in clone.layers] == ["normalize",
                                              "resize_and_crop"]


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
