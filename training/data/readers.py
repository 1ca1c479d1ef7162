"""Sources of labelled images as tf.data streams of (record, label).

A record is either encoded image bytes (tf.string, decoded later, after
shuffling, so that skipping ahead on resumption is cheap) or an already
decoded uint8 image. Every reader returns `(dataset, decoded)` where
`decoded` says which.

- `tfrecord`: the Model Garden's classification TFRecords, features
  `image/encoded` (JPEG/PNG bytes) and `image/class/label` (int64);
- `folder`: `root/<class name>/<image file>`, classes numbered in sorted
  order;
- `tfds`: a TensorFlow Datasets set already prepared in `tfds_data_dir`
  (never downloaded);
- `synthetic`: random images and labels from the seed;
- `digits`: the 1,797 scikit-learn 8x8 digits, scaled to 0-255, with a fixed
  split (first 80% after a seeded shuffle: train; the rest: validation).

Also what every pipeline (images and text) shares: `input_paths` and
`finish_pipeline`; and what the dense-prediction pipelines (detection,
segmentation) share: `read_decoded_records`.
"""

import glob
import os

import numpy as np

from training.config.base import ConfigError

FILE_TYPES = ("tfrecord", "folder", "tfds", "synthetic", "digits")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
DIGITS_SPLIT_SEED = 1234
DIGITS_TRAIN_FRACTION = 0.8


def input_paths(data_config):
    """The input patterns of a `DataConfig` as a list of str."""
    paths = data_config.input_path
    if isinstance(paths, str):
        paths = [p for p in paths.split(",")]
    return [p.strip() for p in paths if p and p.strip()]


def infer_file_type(data_config):
    """The reader to use.

    `tfds_name` set: TFDS. Otherwise `file_type`, except that an
    `input_path` naming one existing directory is read as an image folder
    when `file_type` is empty or the Model Garden's default `tfrecord`
    (TFRecords are always given as file patterns). Empty `file_type`:
    `tfrecord`.
    """
    file_type = data_config.file_type
    if file_type and file_type not in FILE_TYPES:
        raise ConfigError(
            f"file_type {file_type!r} is not one of {list(FILE_TYPES)}."
        )
    if data_config.tfds_name:
        return "tfds"
    if file_type not in ("", "tfrecord"):
        return file_type
    paths = input_paths(data_config)
    if not paths:
        raise ConfigError(
            "The data config names no input: set input_path, tfds_name or "
            f"file_type (one of {list(FILE_TYPES)})."
        )
    if len(paths) == 1 and os.path.isdir(paths[0]):
        return "folder"
    return "tfrecord"


def list_files(data_config):
    """Expands the input patterns; raises naming a pattern that matches nothing."""
    files = []
    for pattern in input_paths(data_config):
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ConfigError(
                f"input_path pattern {pattern!r} matches no file."
            )
        files.extend(matches)
    return files


def read_tfrecords(data_config, num_shards=1, shard_index=0):
    """Model Garden classification TFRecords -> (encoded bytes, label)."""
    import tensorflow as tf

    files = list_files(data_config)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    shard_examples = num_shards > 1 and len(files) < num_shards
    if num_shards > 1 and not shard_examples:
        dataset = dataset.shard(num_shards, shard_index)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=data_config.cycle_length or 1,
        block_length=data_config.block_length,
    )
    if shard_examples:
        dataset = dataset.shard(num_shards, shard_index)
    features = {
        "image/encoded": tf.io.FixedLenFeature((), tf.string),
        "image/class/label": tf.io.FixedLenFeature((), tf.int64),
    }

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        return parsed["image/encoded"], tf.cast(parsed["image/class/label"],
                                                tf.int32)

    return dataset.map(parse), False


def folder_classes(root):
    """Sorted class folder names under `root`."""
    classes = sorted(
        d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
    )
    if not classes:
        raise ConfigError(f"Image folder {root} has no class subfolders.")
    return classes


def read_folder(data_config, num_shards=1, shard_index=0):
    """`root/<class>/<image>` -> (encoded bytes, label)."""
    import tensorflow as tf

    root = input_paths(data_config)[0]
    classes = folder_classes(root)
    paths, labels = [], []
    for label, name in enumerate(classes):
        for file_name in sorted(os.listdir(os.path.join(root, name))):
            if file_name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name, file_name))
                labels.append(label)
    if not paths:
        raise ConfigError(f"Image folder {root} holds no image files.")
    dataset = tf.data.Dataset.from_tensor_slices(
        (paths, np.asarray(labels, "int32")))
    if num_shards > 1:
        dataset = dataset.shard(num_shards, shard_index)
    return dataset.map(lambda p, l: (tf.io.read_file(p), l)), False


def tfds_split(data_config, *, as_supervised):
    """A prepared TensorFlow Datasets split as a `tf.data.Dataset`.

    Raises:
        ConfigError: tensorflow-datasets is not installed, or the set is not
            prepared in `tfds_data_dir` (zoo never downloads).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ConfigError(
            f"tfds_name={data_config.tfds_name!r} needs tensorflow-datasets:"
            " pip install tensorflow-datasets."
        ) from None
    try:
        builder = tfds.builder(data_config.tfds_name,
                               data_dir=data_config.tfds_data_dir or None)
        return builder.as_dataset(split=data_config.tfds_split or "train",
                                  as_supervised=as_supervised,
                                  shuffle_files=False)
    except (AssertionError, tfds.core.registered.DatasetNotFoundError) as e:
        raise ConfigError(
            f"TFDS set {data_config.tfds_name!r} is not prepared in "
            f"{data_config.tfds_data_dir or 'the default data dir'} "
            f"(zoo never downloads): {e}"
        ) from None


def read_tfds(data_config, num_shards=1, shard_index=0):
    """A prepared TensorFlow Datasets split -> (uint8 image, label)."""
    dataset = tfds_split(data_config, as_supervised=True)
    if num_shards > 1:
        dataset = dataset.shard(num_shards, shard_index)
    return dataset, True


def read_synthetic(data_config, image_size, num_classes, seed):
    """Random uint8 images and labels, the same for a given seed."""
    import tensorflow as tf

    count = data_config.num_examples if data_config.num_examples > 0 else 256
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count,) + tuple(image_size), "uint8")
    labels = rng.integers(0, num_classes, (count,)).astype("int32")
    return tf.data.Dataset.from_tensor_slices((images, labels)), True


def digits_arrays(is_training):
    """The scikit-learn digits as uint8 `[n, 8, 8, 1]` images and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")
    labels = digits.target.astype("int32")
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    cut = int(len(labels) * DIGITS_TRAIN_FRACTION)
    chosen = order[:cut] if is_training else order[cut:]
    return images[chosen][..., None], labels[chosen]


def read_digits(is_training, num_shards=1, shard_index=0):
    """The embedded digits split -> (uint8 image, label)."""
    import tensorflow as tf

    images, labels = digits_arrays(is_training)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if num_shards > 1:
        dataset = dataset.shard(num_shards, shard_index)
    return dataset, True


def finish_pipeline(dataset, data_config):
    """The last steps of every training pipeline: deterministic order
    (unless `data_config.deterministic` is False), no tf.distribute
    auto-sharding (the pipelines shard themselves) and prefetching."""
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = (data_config.deterministic
                             if data_config.deterministic is not None
                             else True)
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF)
    dataset = dataset.with_options(options)
    return dataset.prefetch(data_config.prefetch_buffer_size
                            or tf.data.AUTOTUNE)


def read_decoded_records(files, data_config, decode, *, seed, batch_size,
                         start_step=0, num_shards=1, shard_index=0,
                         counter=None):
    """TFRecord files -> `(index, decoded)` elements, as the Model Garden's
    input reader: this process's share, an order fixed by the seed when
    training (so a resumed run skips exactly the batches it consumed), and
    each record's position (`index`, for a per-element stateless seed).

    Args:
        files: TFRecord paths.
        data_config: `is_training`, `cycle_length`, `block_length`,
            `num_examples`, `shuffle_buffer_size`, `skip_corrupt`.
        decode: `decode(serialized) -> dict of tensors`.
        seed: the pipeline's seed.
        batch_size: per process (with `start_step`: the records to skip).
        start_step: training batches already consumed.
        num_shards, shard_index: this process's share of the files (or of
            the records, when there are fewer files than processes).
        counter: `CorruptImageCounter` of undecodable records skipped
            (`skip_corrupt`), or None.

    Returns:
        `tf.data.Dataset` of `(index int64, decoded dict)`.
    """
    import tensorflow as tf

    is_training = bool(data_config.is_training)
    dataset = tf.data.Dataset.from_tensor_slices(list(files))
    by_record = num_shards > 1 and len(files) < num_shards
    if num_shards > 1 and not by_record:
        dataset = dataset.shard(num_shards, shard_index)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=data_config.cycle_length or 1,
        block_length=data_config.block_length)
    if by_record:
        dataset = dataset.shard(num_shards, shard_index)
    if data_config.num_examples > 0:
        dataset = dataset.take(data_config.num_examples)
    if is_training:
        dataset = dataset.repeat().shuffle(
            data_config.shuffle_buffer_size, seed=seed,
            reshuffle_each_iteration=False)
    dataset = dataset.enumerate()
    first = start_step * batch_size if is_training else 0
    if first:
        dataset = dataset.skip(first)
    dataset = dataset.map(lambda index, record: (index, decode(record)),
                          num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    if data_config.skip_corrupt:
        dataset = dataset.ignore_errors()
        if counter is not None:
            # Positions are consecutive before decoding: a hole is a
            # skipped record.
            def count(last, element):
                return element[0], (element[0] - last - 1,) + element

            def add(gap, index, decoded):
                with tf.control_dependencies(
                        [counter.variable.assign_add(gap)]):
                    return tf.identity(index), decoded

            dataset = dataset.scan(tf.constant(first - 1, tf.int64), count)
            dataset = dataset.map(add)
    return dataset
