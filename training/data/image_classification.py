"""The image classification input pipeline.

Training: records -> repeat -> shuffle (seeded) -> skip what a resumed run
already consumed -> decode + augment -> batch. Decoding comes after the
shuffle and the skip, so resuming at step N reads but does not decode the
first N batches. Augmentation draws its randomness from stateless ops keyed
by (seed, position in the stream), so the stream is the same function of the
seed however often the run is interrupted.

Evaluation: records -> decode -> resize and center crop -> batch.

Undecodable images are skipped and counted (`CorruptImageCounter`) unless
`skip_corrupt` is False, in which case the first one stops the run with the
decoder's error.
"""

import logging

import numpy as np

from training.config.base import ConfigError
from training.data import readers

logger = logging.getLogger("zoo")

IMAGENET_MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STDDEV_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class CorruptImageCounter:
    """Counts what a pipeline skipped: by default the images that did not
    decode (`corrupt_images`).

    Args:
        name: the count's name in the logs.
        what: what is counted, for the warning (`"undecodable images"`).
    """

    def __init__(self, name="corrupt_images", what="undecodable images"):
        import tensorflow as tf

        self.name, self.what = name, what
        with tf.init_scope():
            self.variable = tf.Variable(0, dtype=tf.int64, trainable=False,
                                        name=name)

    @property
    def count(self):
        """Skipped so far."""
        return int(self.variable.numpy())


def _decode(record, channels, decoded):
    import tensorflow as tf

    if decoded:
        image = tf.convert_to_tensor(record)
        if image.shape.rank == 2:
            image = image[..., None]
        return tf.cast(image, tf.uint8)
    image = tf.io.decode_image(record, channels=channels,
                               expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def _sentinel(element_spec, channels, decoded):
    """A one-element dataset shaped like `element_spec`, always decodable."""
    import tensorflow as tf

    record_spec, label_spec, _ = element_spec
    if decoded:
        shape = [d if d is not None else 1 for d in record_spec.shape]
        record = tf.zeros(shape, record_spec.dtype)
    else:
        record = tf.io.encode_png(tf.zeros((1, 1, channels), tf.uint8))
    label = tf.constant(-1, label_spec.dtype)
    return tf.data.Dataset.from_tensors((record, label, True))


def _center_crop_resize(image, size, crop_fraction, method):
    """Resize so a `crop_fraction` center crop is `size`, then crop."""
    import tensorflow as tf

    height, width = size
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    scale = tf.maximum(height / (h * crop_fraction),
                       width / (w * crop_fraction))
    new_h = tf.cast(tf.math.ceil(h * scale), tf.int32)
    new_w = tf.cast(tf.math.ceil(w * scale), tf.int32)
    image = tf.image.resize(image, (new_h, new_w), method=method)
    top = (new_h - height) // 2
    left = (new_w - width) // 2
    return image[top:top + height, left:left + width]


def _random_crop_resize(image, size, seed, area_range, aspect_range,
                        method):
    """Inception-style random resized crop from a stateless seed."""
    import tensorflow as tf

    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=aspect_range,
        area_range=area_range,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    image = tf.slice(image, begin, crop_size)
    return tf.image.resize(image, size, method=method)


def _read(data_config, image_size, channels, num_classes, seed,
          num_shards=1, shard_index=0):
    """`(dataset of (record, label), decoded)` from the data config's
    source, `num_examples` of it."""
    file_type = readers.infer_file_type(data_config)
    if file_type == "tfrecord":
        dataset, decoded = readers.read_tfrecords(data_config, num_shards,
                                                  shard_index)
    elif file_type == "folder":
        dataset, decoded = readers.read_folder(data_config, num_shards,
                                               shard_index)
    elif file_type == "tfds":
        dataset, decoded = readers.read_tfds(data_config, num_shards,
                                             shard_index)
    elif file_type == "synthetic":
        dataset, decoded = readers.read_synthetic(
            data_config, tuple(image_size) + (channels,), num_classes,
            seed + shard_index)
    else:
        dataset, decoded = readers.read_digits(bool(data_config.is_training),
                                               num_shards, shard_index)
    if data_config.num_examples > 0 and file_type != "synthetic":
        dataset = dataset.take(data_config.num_examples)
    return dataset, decoded


def raw_examples(data_config, *, image_size, channels, num_classes,
                 limit=None, seed=0):
    """The data config's images as they are stored, decoded to uint8 but
    neither resized nor normalised, and their labels: `(images, labels)`,
    a list of `[h, w, channels]` arrays and an int array, in the source's
    order, at most `limit` of them (what an exported model is evaluated
    and calibrated on). Undecodable images are skipped.
    """
    import tensorflow as tf

    dataset, decoded = _read(data_config, image_size, channels, num_classes,
                             seed)
    if limit is not None:
        dataset = dataset.take(limit)
    images, labels = [], []
    for record, label in dataset.as_numpy_iterator():
        try:
            image = _decode(record, channels, decoded)
        except tf.errors.InvalidArgumentError:
            continue
        images.append(np.asarray(image))
        labels.append(int(np.asarray(label).reshape(-1)[0]))
    return images, np.asarray(labels, "int64")


def build_image_dataset(
    data_config,
    *,
    image_size,
    num_classes,
    channels=3,
    one_hot=False,
    mean=IMAGENET_MEAN_RGB,
    stddev=IMAGENET_STDDEV_RGB,
    aug_rand_hflip=True,
    aug_crop=True,
    crop_area_range=(0.08, 1.0),
    center_crop_fraction=0.875,
    resize_method="bilinear",
    randaug=None,
    random_erasing=None,
    mixup_alpha=0.0,
    cutmix_alpha=0.0,
    mix_prob=1.0,
    switch_prob=0.5,
    mix_label_smoothing=0.0,
    seed=0,
    start_step=0,
    num_shards=1,
    shard_index=0,
    counter=None,
):
    """Builds the batched `tf.data.Dataset` of (images, labels).

    Args:
        data_config: `DataConfig`.
        image_size: `(height, width)` fed to the model.
        num_classes: int, for one-hot labels and synthetic data.
        channels: image channels (3 RGB, 1 gray).
        one_hot: one-hot labels (needed for label smoothing, MixUp, CutMix).
        mean, stddev: per-channel statistics on the 0-255 scale; images are
            `(x - mean) / stddev`.
        aug_rand_hflip, aug_crop, crop_area_range: training augmentation.
        center_crop_fraction: evaluation center crop (0.875 = 224 of 256).
        resize_method: `tf.image.resize` method.
        randaug: dict of `keras.layers.RandAugment` arguments, or None.
        random_erasing: dict of `training.data.augment.random_erase`
            arguments, or None: random erasing of normalised training
            images (after normalisation, as in the Model Garden).
        mixup_alpha, cutmix_alpha: > 0 enables MixUp / CutMix on training
            batches (`training.data.augment`).
        mix_prob, switch_prob, mix_label_smoothing: the Model Garden's
            `mixup_and_cutmix` `prob`, `switch_prob`, `label_smoothing`.
        seed: seed of shuffling and augmentation.
        start_step: training batches already consumed (resumption).
        num_shards, shard_index: this process's share of the input.
        counter: `CorruptImageCounter` to count skipped images, or None.

    Returns:
        `tf.data.Dataset` of `(images [batch, h, w, channels] float32,
        labels [batch] int32 or [batch, num_classes] float32)`, batches of
        `global_batch_size / num_shards`.
    """
    import tensorflow as tf

    is_training = bool(data_config.is_training)
    batch = data_config.global_batch_size // max(1, num_shards)
    if batch <= 0:
        raise ConfigError(
            f"global_batch_size={data_config.global_batch_size} must be a "
            f"positive multiple of the {num_shards} process(es)."
        )
    dataset, decoded = _read(data_config, image_size, channels, num_classes,
                             seed, num_shards, shard_index)
    if data_config.cache:
        dataset = dataset.cache()

    data_seed = seed if data_config.seed is None else data_config.seed
    # Every element carries (position, record, label, is_sentinel). A finite
    # (evaluation) stream ends with one decodable sentinel, so a corrupt
    # image at the very end still leaves a visible hole before it.
    dataset = dataset.map(lambda record, label: (record, label, False))
    if is_training:
        # Shuffling the repeated stream with reshuffle_each_iteration=False
        # makes the order a function of the seed alone: every iterator over
        # this dataset yields the same stream (Keras iterates once to peek
        # at a batch before training), while the shuffle's random state
        # still runs on across epochs, so each epoch is ordered differently.
        dataset = dataset.repeat()
        dataset = dataset.shuffle(data_config.shuffle_buffer_size,
                                  seed=data_seed,
                                  reshuffle_each_iteration=False)
        dataset = dataset.enumerate()
        if start_step:
            dataset = dataset.skip(start_step * batch)
    else:
        dataset = dataset.concatenate(
            _sentinel(dataset.element_spec, channels, decoded))
        dataset = dataset.enumerate()

    mean_t = tf.constant(mean, tf.float32)
    stddev_t = tf.constant(stddev, tf.float32)
    if len(mean) != channels or len(stddev) != channels:
        raise ConfigError(
            f"mean/stddev need {channels} values (one per channel), got "
            f"{len(mean)} and {len(stddev)}."
        )

    def process(index, record, label, sentinel):
        image = _decode(record, channels, decoded)
        if is_training:
            element_seed = tf.stack([tf.constant(data_seed, tf.int64),
                                     tf.cast(index, tf.int64)])
            if aug_crop:
                image = _random_crop_resize(image, image_size, element_seed,
                                            crop_area_range, (3 / 4, 4 / 3),
                                            resize_method)
            else:
                image = tf.image.resize(image, image_size,
                                        method=resize_method)
            if aug_rand_hflip:
                image = tf.image.stateless_random_flip_left_right(
                    image, seed=element_seed + 1)
        else:
            image = _center_crop_resize(image, image_size,
                                        center_crop_fraction, resize_method)
        image = tf.cast(image, tf.float32)
        image.set_shape(tuple(image_size) + (channels,))
        return index, image, label, sentinel

    dataset = dataset.map(
        lambda index, element: process(index, *element),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if data_config.skip_corrupt:
        dataset = dataset.ignore_errors()
        if counter is not None:
            # Positions are consecutive before decoding; a hole after
            # ignore_errors() is a skipped image. A resumed stream starts at
            # the position of the first unconsumed element.
            first = start_step * batch if is_training else 0
            dataset = dataset.scan(
                tf.constant(first - 1, tf.int64),
                lambda last, el: (el[0], (el[0] - last - 1,) + el[1:]),
            )

            def count(gap, image, label, sentinel):
                with tf.control_dependencies(
                        [counter.variable.assign_add(gap)]):
                    return tf.identity(image), label, sentinel

            dataset = dataset.map(count)
        else:
            dataset = dataset.map(lambda i, image, label, sentinel: (
                image, label, sentinel))
    else:
        dataset = dataset.map(lambda i, image, label, sentinel: (
            image, label, sentinel))
    dataset = dataset.filter(lambda image, label, sentinel:
                             tf.logical_not(sentinel))
    dataset = dataset.map(lambda image, label, sentinel: (image, label))

    if randaug and is_training:
        import keras

        # float32, whatever the global dtype policy (mixed_float16 would
        # make the layer compute and return float16): the pipeline casts
        # once, at the end, to `data_config.dtype`.
        rand_augment = keras.layers.RandAugment(value_range=(0, 255),
                                                seed=data_seed,
                                                dtype="float32", **randaug)
        dataset = dataset.map(lambda image, label: (rand_augment(image),
                                                    label))

    def normalize(image, label):
        image = (tf.cast(image, tf.float32) - mean_t) / stddev_t
        if one_hot:
            label = tf.one_hot(label, num_classes, dtype=tf.float32)
        return image, label

    dataset = dataset.map(normalize, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    if random_erasing and is_training:
        from training.data.augment import random_erase

        def erase(number, image, label):
            element_seed = tf.stack([tf.constant(data_seed, tf.int64) + 1,
                                     number])
            return random_erase(image, element_seed, **random_erasing), label

        # Numbered from the first element this run consumes, so a resumed
        # run erases the images it sees as the uninterrupted run would.
        dataset = dataset.enumerate(start=start_step * batch).map(
            lambda number, element: erase(number, *element),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch, drop_remainder=(
        data_config.drop_remainder or is_training))
    if is_training and (mixup_alpha > 0 or cutmix_alpha > 0):
        dataset = _mix(dataset, mixup_alpha, cutmix_alpha, data_seed,
                       one_hot, prob=mix_prob, switch_prob=switch_prob,
                       label_smoothing=mix_label_smoothing)
    # Everything above computes in float32; one cast, at the end, to the
    # dtype the data config names (float16 / bfloat16 for mixed precision).
    dataset = dataset.map(
        lambda image, label: (tf.cast(image, data_config.dtype), label))
    return readers.finish_pipeline(dataset, data_config)


def _mix(dataset, mixup_alpha, cutmix_alpha, seed, one_hot, prob=1.0,
         switch_prob=0.5, label_smoothing=0.0):
    """MixUp / CutMix of training batches (`training.data.augment`)."""
    from training.data.augment import mix_batches

    if not one_hot:
        raise ConfigError(
            "MixUp and CutMix make soft labels: set task.losses.one_hot: true."
        )
    return mix_batches(dataset, mixup_alpha=mixup_alpha,
                       cutmix_alpha=cutmix_alpha, seed=seed, prob=prob,
                       switch_prob=switch_prob,
                       label_smoothing=label_smoothing)
