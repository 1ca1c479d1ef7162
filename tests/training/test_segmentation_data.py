"""Segmentation records in the Model Garden's format: the keys round trip,
the evaluation resize and padding, the training crop, flip and scale
jitter applied alike to image and mask, masks kept at their resolution,
and a mask of the wrong size refused naming its record."""

import types

import numpy as np
import pytest
import tensorflow as tf

from training.data.segmentation import (
    build_segmentation_dataset,
    decode_segmentation_example,
    encode_png,
    make_segmentation_example,
    parse_segmentation,
)


def _blocks(height=40, width=60, seed=0):
    """An image of solid blocks whose red channel encodes the mask's class
    (class * 80), and that mask (255 in one block: unlabelled)."""
    rng = np.random.default_rng(seed)
    classes = rng.choice([0, 1, 2, 255], size=(4, 6))
    mask = np.kron(classes, np.ones((height // 4, width // 6))).astype(
        np.uint8)
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.where(mask == 255, 250, mask * 80)
    image[..., 1] = 120
    return image, mask


def _record(image, mask, name="blocks-1"):
    return make_segmentation_example(encode_png(image), encode_png(mask),
                                     image.shape[0], image.shape[1],
                                     source_id=name)


def _class_of_red(image):
    """Back from the normalised image to the class its red channel says."""
    red = (np.asarray(image)[..., 0] * 0.229 + 0.485) * 255.0
    return np.where(red > 200, 255, np.round(red / 80.0)).astype(int)


def test_records_round_trip_with_the_model_gardens_keys():
    image, mask = _blocks()
    decoded = decode_segmentation_example(tf.constant(_record(image, mask)))
    np.testing.assert_array_equal(decoded["image"].numpy(), image)
    np.testing.assert_array_equal(decoded["mask"].numpy()[..., 0], mask)
    assert decoded["name"].numpy() == b"blocks-1"
    features = tf.train.Example.FromString(_record(image, mask)).features
    assert {"image/encoded", "image/height", "image/width",
            "image/segmentation/class/encoded"} <= set(features.feature)


def test_a_mask_of_another_size_is_refused_naming_the_record():
    image, mask = _blocks()
    record = _record(image, mask[:-4], name="street-0042")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="street-0042: its mask is 36x60 and its image "
                             "40x60"):
        decode_segmentation_example(tf.constant(record))


def test_evaluation_scales_keeping_the_aspect_ratio_and_pads():
    """A 40x60 image into 64x64: scaled by 64/60 to 43x64 (rounded),
    padded below with 0 (image) and ignore_label (mask)."""
    image, mask = _blocks()
    decoded = decode_segmentation_example(tf.constant(_record(image, mask)))
    out, labels = parse_segmentation(decoded, (0, 0), output_size=(64, 64),
                                     is_training=False)
    masks = labels["masks"].numpy()
    assert out.shape == (64, 64, 3) and masks.shape == (64, 64)
    np.testing.assert_allclose(labels["image_info"].numpy(),
                               [[40, 60], [64, 64], [43 / 40, 64 / 60],
                                [0, 0]], rtol=1e-6)
    np.testing.assert_array_equal(masks[43:], 255)
    np.testing.assert_array_equal(out.numpy()[43:], 0.0)
    expected = tf.image.resize(mask[..., None], (43, 64),
                               method="nearest").numpy()[..., 0]
    np.testing.assert_array_equal(masks[:43], expected)
    # Kept at its resolution, padded to groundtruth_padded_size.
    _, kept = parse_segmentation(decoded, (0, 0), output_size=(64, 64),
                                 is_training=False,
                                 resize_eval_groundtruth=False,
                                 groundtruth_padded_size=(48, 64))
    kept = kept["masks"].numpy()
    np.testing.assert_array_equal(kept[:40, :60], mask)
    np.testing.assert_array_equal(kept[40:], 255)
    np.testing.assert_array_equal(kept[:, 60:], 255)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="larger than groundtruth_padded_size"):
        parse_segmentation(decoded, (0, 0), output_size=(64, 64),
                           is_training=False, resize_eval_groundtruth=False,
                           groundtruth_padded_size=(32, 64))


def test_training_augmentation_moves_image_and_mask_alike():
    """Over many seeds (flips, scale jitter 0.5-2.0, a crop after a resize
    to output_size): wherever the mask has a class, the image's red
    channel says the same class (block borders aside, where bilinear and
    nearest resizing differ), and padding is padding in both."""
    image, mask = _blocks(80, 120, seed=1)
    decoded = decode_segmentation_example(tf.constant(_record(image, mask)))
    flipped_once = False
    for seed in range(12):
        out, labels = parse_segmentation(
            decoded, (seed, 3), output_size=(64, 96), crop_size=(48, 48),
            is_training=True, aug_rand_hflip=True, aug_scale_min=0.5,
            aug_scale_max=2.0)
        masks = labels["masks"].numpy()
        assert out.shape == (48, 48, 3) and masks.shape == (48, 48)
        said = _class_of_red(out)
        labelled = masks != 255
        assert (said[labelled] == masks[labelled]).mean() > 0.9, seed
        padding = np.all(out.numpy() == 0.0, axis=-1)
        assert np.all(masks[padding] == 255)
        plain, _ = parse_segmentation(
            decoded, (seed, 3), output_size=(64, 96), crop_size=(48, 48),
            is_training=True, aug_rand_hflip=False, aug_scale_min=0.5,
            aug_scale_max=2.0)
        flipped_once |= not np.allclose(plain.numpy(), out.numpy())
    assert flipped_once


def test_dataset_batches_masks_for_fit_and_image_info_for_evaluation(
        tmp_path):
    path = tmp_path / "seg.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for seed in range(5):
            writer.write(_record(*_blocks(seed=seed), name=f"r{seed}"))
    config = types.SimpleNamespace(
        is_training=True, output_size=[32, 32], crop_size=[],
        aug_rand_hflip=True, aug_scale_min=0.75, aug_scale_max=1.25,
        resize_eval_groundtruth=True, groundtruth_padded_size=[],
        preserve_aspect_ratio=True, shuffle_buffer_size=10, cycle_length=1,
        block_length=1, drop_remainder=True, num_examples=-1, seed=None,
        skip_corrupt=False, dtype="float32", deterministic=None,
        prefetch_buffer_size=None)
    train = build_segmentation_dataset([str(path)], config, batch_size=2)
    images, masks = next(iter(train))
    assert images.shape == (2, 32, 32, 3) and masks.dtype == tf.int32
    assert masks.shape == (2, 32, 32)
    # The same seed and start step give the same batches (resumption).
    again = build_segmentation_dataset([str(path)], config, batch_size=2,
                                       start_step=1)
    second = list(train.take(2))[1]
    np.testing.assert_array_equal(next(iter(again))[1].numpy(),
                                  second[1].numpy())
    config.is_training = False
    config.drop_remainder = False
    evaluation = list(build_segmentation_dataset([str(path)], config,
                                                 batch_size=2))
    assert len(evaluation) == 3
    assert sorted(evaluation[0][1]) == ["image_info", "masks"]
    assert evaluation[-1][1]["masks"].shape == (1, 32, 32)
