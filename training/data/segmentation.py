"""Semantic segmentation data in the Model Garden's format.

A record is a `tf.train.Example` with the keys of
`official/vision/dataloaders/segmentation_input.py`'s `Decoder`:
`image/encoded` (JPEG or PNG), `image/height`, `image/width` and
`image/segmentation/class/encoded` (a single-channel PNG of class ids);
`image/source_id` or `image/filename`, when present, name the record in
errors.

`parse_segmentation` is that file's `Parser`, option for option
(`official/vision/configs/semantic_segmentation.py` `DataConfig`):
normalisation first (so padding is 0 in normalised space); in training an
optional resize to `output_size` and random `crop_size` crop of image and
mask together, a random horizontal flip (`aug_rand_hflip`), and a resize
keeping the aspect ratio with a random scale in `[aug_scale_min,
aug_scale_max]`, a random crop of what exceeds the size and padding; in
evaluation the same resize without jitter, the mask either transformed
alike (`resize_eval_groundtruth`) or kept at its resolution and padded to
`groundtruth_padded_size`. Masks are resized with the nearest neighbour;
padded mask pixels are `ignore_label`. The mask takes the image's scaled
size (the Model Garden truncates it where the image's is rounded, which
can leave one row or column of the mask unlabelled). Randomness is
stateless, keyed by a per-element seed.
"""

import numpy as np

KEYS = {
    "image": "image/encoded",
    "height": "image/height",
    "width": "image/width",
    "mask": "image/segmentation/class/encoded",
    "source_id": "image/source_id",
    "filename": "image/filename",
}

from training.data.detection import IMAGENET_MEAN, IMAGENET_STD

IGNORE_LABEL = 255


def make_segmentation_example(encoded_image, encoded_mask, height, width, *,
                              source_id="", filename=""):
    """A serialised `tf.train.Example` with the Model Garden's keys.

    Args:
        encoded_image: bytes, JPEG or PNG.
        encoded_mask: bytes, a single-channel PNG of class ids (uint8).
        height, width: ints, the image's size.
        source_id, filename: strs naming the record in errors.

    Returns:
        bytes.
    """
    import tensorflow as tf

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(
            value=[int(value)]))

    features = {KEYS["image"]: feature(encoded_image),
                KEYS["mask"]: feature(encoded_mask),
                KEYS["height"]: feature(height),
                KEYS["width"]: feature(width),
                KEYS["source_id"]: feature(str(source_id).encode()),
                KEYS["filename"]: feature(str(filename).encode())}
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def decode_segmentation_example(serialized):
    """Parses one record (a scalar string tensor); a mask whose size
    differs from its image's is an error naming the record.

    Returns:
        dict of tensors: `image` uint8 `[h, w, 3]`, `mask` uint8
        `[h, w, 1]`, `name` (string: the source id, else the file name).
    """
    import tensorflow as tf

    spec = {
        KEYS["image"]: tf.io.FixedLenFeature((), tf.string),
        KEYS["mask"]: tf.io.FixedLenFeature((), tf.string),
        KEYS["height"]: tf.io.FixedLenFeature((), tf.int64, -1),
        KEYS["width"]: tf.io.FixedLenFeature((), tf.int64, -1),
        KEYS["source_id"]: tf.io.FixedLenFeature((), tf.string, ""),
        KEYS["filename"]: tf.io.FixedLenFeature((), tf.string, ""),
    }
    parsed = tf.io.parse_single_example(serialized, spec)
    image = tf.io.decode_image(parsed[KEYS["image"]], channels=3,
                               expand_animations=False)
    image.set_shape([None, None, 3])
    mask = tf.io.decode_image(parsed[KEYS["mask"]], channels=1,
                              expand_animations=False)
    mask.set_shape([None, None, 1])
    name = tf.where(tf.strings.length(parsed[KEYS["source_id"]]) > 0,
                    parsed[KEYS["source_id"]], parsed[KEYS["filename"]])
    image_size = tf.shape(image)[:2]
    mask_size = tf.shape(mask)[:2]
    message = tf.strings.join([
        "Segmentation record ", name, ": its mask is ",
        tf.strings.reduce_join(tf.strings.as_string(mask_size),
                               separator="x"),
        " and its image ",
        tf.strings.reduce_join(tf.strings.as_string(image_size),
                               separator="x"),
        "; they must be the same size."])
    check = tf.debugging.Assert(tf.reduce_all(image_size == mask_size),
                                [message])
    with tf.control_dependencies([check]):
        mask = tf.identity(mask)
    return {"image": image, "mask": mask, "name": name}


def _resize_and_crop(image, mask, size, seed, scale_min, scale_max,
                     jitter):
    """The Model Garden's `resize_and_crop_image` on the image, its
    nearest-neighbour twin on the mask (`mask + 1`: 0 marks padding).

    Returns:
        `(image [H, W, 3], mask [H, W, 1], image_info [4, 2])`.
    """
    import tensorflow as tf

    out_h, out_w = size
    desired = tf.constant([out_h, out_w], tf.float32)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    if jitter:
        factor = tf.random.stateless_uniform((), seed, scale_min, scale_max)
        target = tf.round(desired * factor)
    else:
        target = desired
    ratio = tf.reduce_min(target / shape)
    scaled = tf.round(shape * ratio)
    scale = scaled / shape
    if jitter:
        excess = tf.maximum(scaled - desired, 0.0)
        offset = tf.floor(excess * tf.random.stateless_uniform((2,),
                                                               seed + 1))
    else:
        offset = tf.zeros(2)
    top, left = tf.cast(offset[0], tf.int32), tf.cast(offset[1], tf.int32)
    scaled_int = tf.cast(scaled, tf.int32)

    def place(values, method):
        values = tf.image.resize(values, scaled_int, method=method)
        values = values[top:top + out_h, left:left + out_w]
        values = tf.image.pad_to_bounding_box(values, 0, 0, out_h, out_w)
        values.set_shape([out_h, out_w, None])
        return values

    image = place(image, "bilinear")
    if mask is not None:
        mask = place(mask, "nearest")
    return image, mask, tf.stack([shape, desired, scale, offset])


def parse_segmentation(decoded, seed, *, output_size, is_training,
                       crop_size=None, aug_rand_hflip=True,
                       aug_scale_min=1.0, aug_scale_max=1.0,
                       ignore_label=IGNORE_LABEL,
                       resize_eval_groundtruth=True,
                       groundtruth_padded_size=None,
                       preserve_aspect_ratio=True, mean=IMAGENET_MEAN,
                       std=IMAGENET_STD):
    """One decoded record -> `(image, labels)`, the Model Garden's way.

    Args:
        decoded: `decode_segmentation_example`'s dict.
        seed: `[2]` int tensor, this element's stateless seed.
        output_size: `(height, width)` of the model's input (in training
            with `crop_size`: the size resized to before cropping).
        is_training: bool: augment.
        crop_size, aug_rand_hflip, aug_scale_min, aug_scale_max,
        ignore_label, resize_eval_groundtruth, groundtruth_padded_size,
        preserve_aspect_ratio: the Model Garden's `DataConfig` options.
        mean, std: normalisation of [0, 1] pixels.

    Returns:
        `(image [H, W, 3] float32, labels)`: `labels["masks"]` int32 `[H,
        W]` (or `groundtruth_padded_size` in evaluation without
        `resize_eval_groundtruth`), padding and unlabelled pixels
        `ignore_label`; `labels["image_info"]` `[4, 2]`: the original
        size, the output size, the scale and the crop offset.
    """
    import tensorflow as tf

    seed = tf.cast(seed, tf.int64)
    image = (tf.cast(decoded["image"], tf.float32) / 255.0
             - tf.constant(mean)) / tf.constant(std)
    mask = tf.cast(decoded["mask"], tf.float32) + 1.0
    output_size = tuple(int(s) for s in output_size or ())
    crop_size = tuple(int(s) for s in crop_size or ())
    if not preserve_aspect_ratio:
        image = tf.image.resize(image, output_size)
        mask = tf.image.resize(mask, output_size, method="nearest")
    if is_training:
        if crop_size:
            if output_size:
                image = tf.image.resize(image, output_size)
                mask = tf.image.resize(mask, output_size, method="nearest")
            both = tf.image.stateless_random_crop(
                tf.concat([image, mask], axis=-1), crop_size + (4,),
                seed + 2)
            image, mask = both[..., :3], both[..., 3:]
        if aug_rand_hflip:
            flip = tf.random.stateless_uniform((), seed + 3) < 0.5
            image = tf.cond(flip, lambda: image[:, ::-1], lambda: image)
            mask = tf.cond(flip, lambda: mask[:, ::-1], lambda: mask)
        size = crop_size or output_size
        jitter = aug_scale_min != 1.0 or aug_scale_max != 1.0
        image, mask, info = _resize_and_crop(
            image, mask, size, seed + 4, aug_scale_min, aug_scale_max,
            jitter)
    else:
        keep_mask = resize_eval_groundtruth
        image, resized, info = _resize_and_crop(
            image, mask if keep_mask else None, output_size, seed, 1.0, 1.0,
            jitter=False)
        if keep_mask:
            mask = resized
        else:
            padded_h, padded_w = (int(s) for s in groundtruth_padded_size)
            size = tf.shape(mask)[:2]
            message = tf.strings.join([
                "Segmentation record ", decoded["name"], ": its mask (",
                tf.strings.reduce_join(tf.strings.as_string(size),
                                       separator="x"),
                f") is larger than groundtruth_padded_size ({padded_h}x"
                f"{padded_w})."])
            check = tf.debugging.Assert(
                tf.logical_and(size[0] <= padded_h, size[1] <= padded_w),
                [message])
            with tf.control_dependencies([check]):
                mask = tf.image.pad_to_bounding_box(mask, 0, 0, padded_h,
                                                    padded_w)
    mask = tf.cast(mask[..., 0], tf.int32) - 1
    mask = tf.where(mask < 0, ignore_label, mask)
    return image, {"masks": mask, "image_info": info}


def build_segmentation_dataset(files, data_config, *, batch_size,
                               ignore_label=IGNORE_LABEL, seed=0,
                               start_step=0, num_shards=1, shard_index=0,
                               counter=None, with_image_info=None):
    """Segmentation records -> batches, as the Model Garden's input reader
    and parser do.

    Args:
        files: TFRecord paths (`make_segmentation_example`'s records).
        data_config: the task's data config: `is_training`, `output_size`,
            `crop_size`, `aug_rand_hflip`, `aug_scale_min/max`,
            `resize_eval_groundtruth`, `groundtruth_padded_size`,
            `preserve_aspect_ratio`, `shuffle_buffer_size`,
            `cycle_length`, `block_length`, `drop_remainder`,
            `num_examples`, `seed`, `skip_corrupt`, `dtype`.
        batch_size: per process.
        ignore_label: the label of unscored and padded pixels (the task's
            `losses.ignore_label`).
        seed: the run's seed (the data config's wins when set).
        start_step: training batches already consumed (resumption).
        num_shards, shard_index: this process's share.
        counter: `CorruptImageCounter` of undecodable records skipped
            (`skip_corrupt`), or None.
        with_image_info: labels as `{"masks", "image_info"}` (default: when
            not training); else the masks alone, what `fit` needs.

    Returns:
        `tf.data.Dataset` of `(images [B, H, W, 3] in data_config.dtype,
        masks [B, H, W] int32 or labels)`.
    """
    import tensorflow as tf

    from training.data.readers import finish_pipeline, read_decoded_records

    is_training = bool(data_config.is_training)
    if with_image_info is None:
        with_image_info = not is_training
    data_seed = seed if data_config.seed is None else data_config.seed
    dataset = read_decoded_records(
        files, data_config, decode_segmentation_example, seed=data_seed,
        batch_size=batch_size, start_step=start_step, num_shards=num_shards,
        shard_index=shard_index, counter=counter)

    def parse(index, decoded):
        element_seed = tf.stack([tf.constant(data_seed, tf.int64),
                                 tf.cast(index, tf.int64)])
        image, labels = parse_segmentation(
            decoded, element_seed, output_size=data_config.output_size,
            is_training=is_training, crop_size=data_config.crop_size,
            aug_rand_hflip=data_config.aug_rand_hflip,
            aug_scale_min=data_config.aug_scale_min,
            aug_scale_max=data_config.aug_scale_max,
            ignore_label=ignore_label,
            resize_eval_groundtruth=data_config.resize_eval_groundtruth,
            groundtruth_padded_size=data_config.groundtruth_padded_size,
            preserve_aspect_ratio=data_config.preserve_aspect_ratio)
        image = tf.cast(image, data_config.dtype)
        return image, labels if with_image_info else labels["masks"]

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    dataset = dataset.batch(batch_size,
                            drop_remainder=is_training
                            or data_config.drop_remainder)
    return finish_pipeline(dataset, data_config)


def predictions_at_original_size(logits, mask, image_info):
    """One image's class ids at its original size, and its mask there.

    The Model Garden's `rescale_predictions`: the logits of the unpadded
    part of the input are resized bilinearly (TensorFlow's kernel) to the
    original image, then the argmax; the mask, kept at its resolution and
    padded (`resize_eval_groundtruth: false`), loses its padding.

    Args:
        logits: numpy `[H, W, classes]` at the model's input size.
        mask: numpy `[h', w']` padded original-size mask.
        image_info: `[4, 2]` (`parse_segmentation`'s).

    Returns:
        `(predictions [h, w] int, mask [h, w])`.
    """
    import tensorflow as tf

    height, width = (int(round(v)) for v in image_info[0])
    scale = image_info[2]
    keep_h = int(round(height * scale[0]))
    keep_w = int(round(width * scale[1]))
    resized = tf.image.resize(logits[:keep_h, :keep_w], (height, width))
    return np.argmax(resized.numpy(), axis=-1), mask[:height, :width]


def encode_png(array):
    """PNG bytes of a uint8 `[h, w]` or `[h, w, c]` array."""
    import tensorflow as tf

    array = np.asarray(array, np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return tf.io.encode_png(array).numpy()
