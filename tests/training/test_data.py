"""Input pipelines on real files: TFRecords, image folders, digits, synthetic."""

import os

import numpy as np
import pytest
import tensorflow as tf

from training.config import ConfigError
from training.data.image_classification import (
    CorruptImageCounter,
    build_image_dataset,
)
from training.data.readers import digits_arrays
from training.tasks.image_classification import ImageDataConfig


def write_classification_tfrecords(directory, num_files=2, per_file=6,
                                   size=20, num_classes=3, corrupt=()):
    """Model Garden-format TFRecords of solid-colour JPEGs; returns labels.

    Image i has every pixel equal to 10 * i (so tests can tell them apart)
    and label i % num_classes. Indices in `corrupt` get truncated JPEG bytes.
    """
    os.makedirs(directory, exist_ok=True)
    labels, index = [], 0
    for f in range(num_files):
        path = os.path.join(directory, f"train-{f:05d}-of-{num_files:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for _ in range(per_file):
                image = np.full((size, size, 3), 10 * index, "uint8")
                encoded = tf.io.encode_jpeg(image, quality=100).numpy()
                if index in corrupt:
                    encoded = encoded[:20]
                label = index % num_classes
                example = tf.train.Example(features=tf.train.Features(feature={
                    "image/encoded": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[encoded])),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label])),
                }))
                writer.write(example.SerializeToString())
                labels.append(label)
                index += 1
    return labels


def _eval_config(**kwargs):
    # One file at a time (the Model Garden's default interleaves 10), so
    # the order of the records is the order of the files.
    defaults = dict(is_training=False, global_batch_size=4,
                    drop_remainder=False, cycle_length=1)
    defaults.update(kwargs)
    return ImageDataConfig(**defaults)


def _collect(dataset, batches=None):
    images, labels = [], []
    for i, (x, y) in enumerate(dataset):
        if batches is not None and i >= batches:
            break
        images.append(np.asarray(x))
        labels.append(np.asarray(y))
    return np.concatenate(images), np.concatenate(labels)


def test_tfrecords_decode_resize_and_normalise(tmp_path):
    labels = write_classification_tfrecords(str(tmp_path))
    config = _eval_config(input_path=str(tmp_path / "train-*"))
    dataset = build_image_dataset(config, image_size=(16, 16), num_classes=3,
                                  mean=(10.0, 10.0, 10.0),
                                  stddev=(2.0, 2.0, 2.0))
    images, got = _collect(dataset)
    assert images.shape == (12, 16, 16, 3)
    np.testing.assert_array_equal(got, labels)
    # Pixel 10*i normalised: (10 i - 10) / 2 (JPEG keeps flat colours within 1).
    centers = images[:, 8, 8, 0]
    np.testing.assert_allclose(centers, (10 * np.arange(12) - 10) / 2,
                               atol=1.0)


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    write_classification_tfrecords(str(tmp_path), corrupt=(3, 7))
    config = _eval_config(input_path=str(tmp_path / "train-*"))
    counter = CorruptImageCounter()
    dataset = build_image_dataset(config, image_size=(8, 8), num_classes=3,
                                  counter=counter)
    images, _ = _collect(dataset)
    assert len(images) == 10
    assert counter.count == 2
    strict = _eval_config(input_path=str(tmp_path / "train-*"),
                          skip_corrupt=False)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _collect(build_image_dataset(strict, image_size=(8, 8),
                                     num_classes=3))


def test_image_folder_reader(tmp_path):
    root = tmp_path / "images"
    for label, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(3):
            image = np.full((12, 10, 3), 40 * label + i, "uint8")
            tf.io.write_file(str(root / name / f"{i}.png"),
                             tf.io.encode_png(image))
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    counter = CorruptImageCounter()
    config = _eval_config(input_path=str(root))
    images, labels = _collect(build_image_dataset(
        config, image_size=(8, 8), num_classes=2, counter=counter,
        mean=(0.0,) * 3, stddev=(1.0,) * 3, center_crop_fraction=1.0))
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    assert counter.count == 1
    np.testing.assert_allclose(images[:, 4, 4, 0], [0, 1, 2, 40, 41, 42],
                               atol=1e-4)


def test_training_stream_is_deterministic_and_resumable():
    config = ImageDataConfig(file_type="digits", is_training=True,
                             global_batch_size=16, shuffle_buffer_size=500,
                             aug_crop=True, aug_rand_hflip=True)
    kwargs = dict(image_size=(16, 16), num_classes=10, channels=1,
                  mean=(0.0,), stddev=(255.0,), seed=7)
    dataset = build_image_dataset(config, **kwargs)
    _collect(dataset, batches=1)  # Keras peeks like this before training
    full_x, full_y = _collect(dataset, batches=10)
    again_x, again_y = _collect(build_image_dataset(config, **kwargs),
                                batches=10)
    np.testing.assert_array_equal(full_x, again_x)
    np.testing.assert_array_equal(full_y, again_y)
    # 1437 digits: batches 0-9 cover 160, so no epoch repeats an order here;
    # the stream does not restart at an epoch boundary either.
    long_x, _ = _collect(dataset, batches=180)
    assert not np.array_equal(long_x[:1437][:64], long_x[1437:1437 + 64])
    resumed_x, resumed_y = _collect(
        build_image_dataset(config, start_step=6, **kwargs), batches=4)
    np.testing.assert_array_equal(resumed_x, full_x[6 * 16:])
    np.testing.assert_array_equal(resumed_y, full_y[6 * 16:])
    other_x, _ = _collect(build_image_dataset(config, **{**kwargs,
                                                         "seed": 8}),
                          batches=1)
    assert not np.array_equal(other_x, full_x[:16])


def test_digits_split_and_sharding():
    train_x, train_y = digits_arrays(is_training=True)
    test_x, test_y = digits_arrays(is_training=False)
    assert len(train_y) == 1437 and len(test_y) == 360
    assert train_x.shape[1:] == (8, 8, 1) and train_x.max() == 255
    config = _eval_config(file_type="digits", global_batch_size=60)
    kwargs = dict(image_size=(8, 8), num_classes=10, channels=1,
                  mean=(0.0,), stddev=(1.0,), center_crop_fraction=1.0)
    _, all_labels = _collect(build_image_dataset(config, **kwargs))
    shards = [_collect(build_image_dataset(config, num_shards=2,
                                           shard_index=i, **kwargs))[1]
              for i in range(2)]
    assert len(shards[0]) == len(shards[1]) == 180
    np.testing.assert_array_equal(np.sort(np.concatenate(shards)),
                                  np.sort(all_labels))


def test_synthetic_data_and_one_hot():
    config = ImageDataConfig(file_type="synthetic", is_training=True,
                             global_batch_size=8, num_examples=32)
    x, y = next(iter(build_image_dataset(config, image_size=(12, 12),
                                         num_classes=5, one_hot=True)))
    assert x.shape == (8, 12, 12, 3) and y.shape == (8, 5)
    np.testing.assert_array_equal(np.asarray(y).sum(axis=1), np.ones(8))


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ConfigError, match="matches no file"):
        build_image_dataset(_eval_config(input_path=str(tmp_path / "x*")),
                            image_size=(8, 8), num_classes=2)
    with pytest.raises(ConfigError, match="names no input"):
        build_image_dataset(_eval_config(), image_size=(8, 8), num_classes=2)
    with pytest.raises(ConfigError, match="global_batch_size"):
        build_image_dataset(_eval_config(file_type="digits",
                                         global_batch_size=0),
                            image_size=(8, 8), num_classes=2, channels=1,
                            mean=(0.0,), stddev=(1.0,))
    with pytest.raises(ConfigError, match="one per channel"):
        build_image_dataset(_eval_config(file_type="digits"),
                            image_size=(8, 8), num_classes=10, channels=1)


def test_mixup_makes_soft_labels():
    config = ImageDataConfig(file_type="synthetic", is_training=True,
                             global_batch_size=8, num_examples=32)
    x, y = next(iter(build_image_dataset(
        config, image_size=(16, 16), num_classes=4, one_hot=True,
        mixup_alpha=0.8)))
    y = np.asarray(y)
    assert x.shape == (8, 16, 16, 3) and y.shape == (8, 4)
    np.testing.assert_allclose(y.sum(axis=1), np.ones(8), atol=1e-5)
    assert np.any((y > 0.01) & (y < 0.99)), "MixUp left every label hard"
    with pytest.raises(ConfigError, match="one_hot"):
        build_image_dataset(config, image_size=(16, 16), num_classes=4,
                            mixup_alpha=0.8)


@pytest.mark.parametrize("mixup_alpha, cutmix_alpha", [(0.8, 0.0),
                                                       (0.0, 1.0)])
def test_mixing_shares_one_weight_between_image_and_label(mixup_alpha,
                                                          cutmix_alpha):
    """Image i of class c is filled with 10 * c, so after MixUp (a blend)
    or CutMix (a pasted box) its mean pixel / 10 must be the class index
    its soft label averages to: the image and the label were mixed by the
    same weight."""
    from training.data.image_classification import _mix

    labels = np.arange(16) % 4
    images = np.repeat(10.0 * labels, 32 * 32 * 3).reshape(16, 32, 32, 3)
    dataset = tf.data.Dataset.from_tensor_slices((
        images.astype("float32"),
        np.eye(4, dtype="float32")[labels])).batch(16)
    mixed_images, mixed_labels = next(iter(
        _mix(dataset, mixup_alpha, cutmix_alpha, seed=3, one_hot=True)))
    assert mixed_labels.shape == (16, 4)
    mixed_images, mixed_labels = np.asarray(mixed_images), np.asarray(
        mixed_labels)
    implied = mixed_images.mean(axis=(1, 2, 3)) / 10.0
    expected = mixed_labels @ np.arange(4)
    assert np.any(np.abs(implied - labels) > 0.05), "nothing was mixed"
    np.testing.assert_allclose(implied, expected, atol=0.02)


def test_tfds_never_downloads(tmp_path):
    config = _eval_config(tfds_name="mnist", tfds_split="test",
                          tfds_data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="zoo never downloads"):
        build_image_dataset(config, image_size=(8, 8), num_classes=10,
                            channels=1, mean=(0.0,), stddev=(1.0,))


def _model_garden_erasing_statistics(height, width, draws, rng,
                                     min_area=0.02, max_area=1 / 3,
                                     min_aspect=0.3):
    """The Model Garden's `augment.RandomErasing._erase` sampling, one
    rectangle, in numpy (written from its description, independently of
    zoo's): (mean erased fraction, share of boxes touching the top row)."""
    area = height * width
    fractions, top = [], 0
    for _ in range(draws):
        for _ in range(10):
            a = rng.uniform(area * min_area, area * max_area)
            aspect = np.exp(rng.uniform(np.log(min_aspect),
                                        np.log(1 / min_aspect)))
            hh = int(np.round(np.sqrt(a * aspect) / 2))
            hw = int(np.round(np.sqrt(a / aspect) / 2))
            if 2 * hh < height and 2 * hw < width:
                cy = rng.integers(0, height - 2 * hh)
                cx = rng.integers(0, width - 2 * hw)
                y0, y1 = max(0, cy - hh), min(height, cy + hh)
                x0, x1 = max(0, cx - hw), min(width, cx + hw)
                fractions.append((y1 - y0) * (x1 - x0) / area)
                top += y0 == 0
                break
        else:
            fractions.append(0.0)
    return float(np.mean(fractions)), top / draws


def test_random_erasing_samples_as_the_model_garden():
    """Erased regions of zero images: one rectangle of standard-normal noise
    per erased image, a quarter of the images erased, and the erased area
    and the share of rectangles clipped at the top edge (the Model Garden
    draws the centre in [0, side - 2 * half)) as a numpy rendering of its
    sampling gives them, within 0.02 over 1500 images."""
    from training.data.augment import random_erase

    height, width, count = 32, 40, 1500
    zeros = tf.zeros((height, width, 3))
    erased, fractions, touching, noise = 0, [], 0, []
    dataset = tf.data.Dataset.range(count).map(
        lambda i: random_erase(zeros, tf.stack([tf.constant(5, tf.int64),
                                                i])))
    for image in dataset.as_numpy_iterator():
        mask = np.any(image != 0, axis=-1)
        if not mask.any():
            continue
        erased += 1
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = np.zeros_like(mask)
        box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
        np.testing.assert_array_equal(mask, box)   # one solid rectangle
        fractions.append(mask.mean())
        touching += rows[0] == 0
        noise.append(image[mask])
    assert abs(erased / count - 0.25) < 0.035, erased / count
    expected_fraction, expected_top = _model_garden_erasing_statistics(
        height, width, 20000, np.random.default_rng(0))
    assert abs(np.mean(fractions) - expected_fraction) < 0.02
    assert abs(touching / erased - expected_top) < 0.06, (
        touching / erased, expected_top)
    noise = np.concatenate(noise)
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1.0) < 0.02
    # Stateless: the same seed erases the same way.
    seed = tf.constant([5, 3], tf.int64)
    np.testing.assert_array_equal(random_erase(zeros, seed, probability=1.0),
                                  random_erase(zeros, seed, probability=1.0))
    with pytest.raises(ValueError, match="min_area"):
        random_erase(zeros, seed, min_area=0.5, max_area=0.1)


def test_random_erasing_in_the_pipeline_is_resumable():
    """`random_erasing` (the Model Garden's key) erases normalised training
    images only, identically in a resumed stream; bad values are refused
    with the key's name."""
    config = ImageDataConfig.from_dict(dict(
        file_type="digits", is_training=True, global_batch_size=16,
        shuffle_buffer_size=100, aug_crop=False, aug_rand_hflip=False,
        random_erasing={"probability": 1.0}))
    assert config.random_erasing.min_area == 0.02   # the Model Garden's
    kwargs = dict(image_size=(16, 16), num_classes=10, channels=1,
                  mean=(0.0,), stddev=(255.0,), seed=2,
                  random_erasing={"probability": 1.0})
    plain = dict(kwargs, random_erasing=None)
    x, _ = _collect(build_image_dataset(config, **kwargs), batches=4)
    clean, _ = _collect(build_image_dataset(config, **plain), batches=4)
    changed = np.any(x != clean, axis=(1, 2, 3))
    assert changed.all()
    assert np.abs(x - clean).max() > 1.5    # noise, on the normalised scale
    resumed, _ = _collect(build_image_dataset(config, start_step=2,
                                              **kwargs), batches=2)
    np.testing.assert_array_equal(resumed, x[32:])
    evaluation = ImageDataConfig(file_type="digits", is_training=False,
                                 global_batch_size=16)
    a, _ = _collect(build_image_dataset(evaluation, **kwargs), batches=1)
    b, _ = _collect(build_image_dataset(evaluation, **plain), batches=1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="random_erasing.probability"):
        ImageDataConfig.from_dict({"random_erasing": {"probability": 1.5}},
                                  path="task.train_data")
