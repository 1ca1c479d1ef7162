"""Object detection data in the Model Garden's formats.

A record is a `tf.train.Example` with the keys of
`official/vision/dataloaders/tf_example_decoder.py`: `image/encoded`
(JPEG or PNG), `image/height`, `image/width`, `image/source_id`,
`image/object/bbox/{xmin,xmax,ymin,ymax}` (normalised to [0, 1]),
`image/object/class/label`, `image/object/is_crowd`, `image/object/area`.

`parse_detection` is the Model Garden's RetinaNet parser
(`official/vision/dataloaders/retinanet_input.py`), option for option
(`official/vision/configs/retinanet.py` `Parser`): in training, crowd boxes
dropped (`skip_crowd_during_training`), a random horizontal flip
(`aug_rand_hflip`), normalisation, a resize keeping the aspect ratio with a
random scale in `[aug_scale_min, aug_scale_max]` and a random crop of what
exceeds the output, boxes moved alike and empty ones dropped, then anchor
targets (`zoo_ops.label_anchors` with `match_threshold` and
`unmatched_threshold`). Every shape is static: `max_num_instances` boxes,
padded, so the training step jit-compiles. Randomness is stateless, keyed by
a per-element seed.
"""

import numpy as np

KEYS = {
    "image": "image/encoded",
    "height": "image/height",
    "width": "image/width",
    "source_id": "image/source_id",
    "xmin": "image/object/bbox/xmin",
    "xmax": "image/object/bbox/xmax",
    "ymin": "image/object/bbox/ymin",
    "ymax": "image/object/bbox/ymax",
    "classes": "image/object/class/label",
    "is_crowd": "image/object/is_crowd",
    "area": "image/object/area",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _feature(values, kind):
    import tensorflow as tf

    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    if kind == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(
            value=[int(v) for v in values]))
    return tf.train.Feature(float_list=tf.train.FloatList(
        value=[float(v) for v in values]))


def make_detection_example(encoded_image, height, width, boxes, classes, *,
                           source_id="", is_crowd=None, area=None):
    """A serialised `tf.train.Example` with the Model Garden's keys.

    Args:
        encoded_image: bytes, JPEG or PNG.
        height, width: ints, the image's size.
        boxes: `[n, 4]` yxyx in pixels (stored normalised, as COCO's
            converter stores them).
        classes: `[n]` ints.
        source_id: str, the image's id (COCO: its `image_id`).
        is_crowd: optional `[n]` 0/1.
        area: optional `[n]` floats (default: the boxes' areas).

    Returns:
        bytes.
    """
    import tensorflow as tf

    boxes = np.asarray(boxes, "float64").reshape(-1, 4)
    n = len(boxes)
    if area is None:
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    features = {
        KEYS["image"]: _feature([encoded_image], "bytes"),
        KEYS["height"]: _feature([height], "int"),
        KEYS["width"]: _feature([width], "int"),
        KEYS["source_id"]: _feature([str(source_id).encode()], "bytes"),
        KEYS["ymin"]: _feature(boxes[:, 0] / height, "float"),
        KEYS["xmin"]: _feature(boxes[:, 1] / width, "float"),
        KEYS["ymax"]: _feature(boxes[:, 2] / height, "float"),
        KEYS["xmax"]: _feature(boxes[:, 3] / width, "float"),
        KEYS["classes"]: _feature(np.asarray(classes).reshape(-1), "int"),
        KEYS["is_crowd"]: _feature(
            np.zeros(n) if is_crowd is None else is_crowd, "int"),
        KEYS["area"]: _feature(np.asarray(area).reshape(-1), "float"),
    }
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def decode_detection_example(serialized):
    """Parses one record (a scalar string tensor) as the Model Garden's
    `TfExampleDecoder` does.

    Returns:
        dict of tensors: `image` uint8 `[h, w, 3]`, `height`, `width`,
        `source_id` (string), `boxes` `[n, 4]` normalised yxyx, `classes`
        int32 `[n]`, `is_crowd` bool `[n]`, `area` float32 `[n]`.
    """
    import tensorflow as tf

    spec = {
        KEYS["image"]: tf.io.FixedLenFeature((), tf.string),
        KEYS["height"]: tf.io.FixedLenFeature((), tf.int64, -1),
        KEYS["width"]: tf.io.FixedLenFeature((), tf.int64, -1),
        KEYS["source_id"]: tf.io.FixedLenFeature((), tf.string, ""),
        KEYS["classes"]: tf.io.VarLenFeature(tf.int64),
        KEYS["is_crowd"]: tf.io.VarLenFeature(tf.int64),
        KEYS["area"]: tf.io.VarLenFeature(tf.float32),
    }
    for key in ("xmin", "xmax", "ymin", "ymax"):
        spec[KEYS[key]] = tf.io.VarLenFeature(tf.float32)
    parsed = tf.io.parse_single_example(serialized, spec)
    dense = {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor)
             else v for k, v in parsed.items()}
    image = tf.io.decode_image(dense[KEYS["image"]], channels=3,
                               expand_animations=False)
    image.set_shape([None, None, 3])
    boxes = tf.stack([dense[KEYS["ymin"]], dense[KEYS["xmin"]],
                      dense[KEYS["ymax"]], dense[KEYS["xmax"]]], axis=-1)
    classes = tf.cast(dense[KEYS["classes"]], tf.int32)
    crowd = dense[KEYS["is_crowd"]]
    # Records without is_crowd / area (the decoder's defaults): none
    # crowded, areas from the boxes.
    crowd = tf.cond(tf.size(crowd) > 0, lambda: crowd,
                    lambda: tf.zeros_like(dense[KEYS["classes"]]))
    shape = tf.shape(image)
    height = tf.where(dense[KEYS["height"]] > 0, dense[KEYS["height"]],
                      tf.cast(shape[0], tf.int64))
    width = tf.where(dense[KEYS["width"]] > 0, dense[KEYS["width"]],
                     tf.cast(shape[1], tf.int64))
    area = dense[KEYS["area"]]
    pixel_area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
                  * tf.cast(height * width, tf.float32))
    area = tf.cond(tf.size(area) > 0, lambda: area, lambda: pixel_area)
    return {"image": image, "height": tf.cast(height, tf.int32),
            "width": tf.cast(width, tf.int32),
            "source_id": dense[KEYS["source_id"]], "boxes": boxes,
            "classes": classes, "is_crowd": tf.cast(crowd, tf.bool),
            "area": area}


def _pad(values, size, value=0):
    """The first `size` rows of `values`, padded with `value`."""
    import tensorflow as tf

    values = values[:size]
    count = tf.shape(values)[0]
    padding = [[0, size - count]] + [[0, 0]] * (len(values.shape) - 1)
    padded = tf.pad(values, padding, constant_values=value)
    padded.set_shape([size] + values.shape.as_list()[1:])
    return padded


def parse_detection(decoded, seed, *, output_size, anchors, is_training,
                    match_threshold=0.5, unmatched_threshold=0.5,
                    aug_rand_hflip=False, aug_scale_min=1.0,
                    aug_scale_max=1.0, skip_crowd_during_training=True,
                    max_num_instances=100, mean=IMAGENET_MEAN,
                    std=IMAGENET_STD):
    """One decoded record -> `(image, labels)`, the Model Garden's way.

    Args:
        decoded: `decode_detection_example`'s dict.
        seed: `[2]` int tensor, this element's stateless seed.
        output_size: `(height, width)` of the model's input.
        anchors: `[num_anchors, 4]` yxyx in input pixels
            (`ObjectDetector.anchors`).
        is_training: bool: augment and drop crowds.
        match_threshold, unmatched_threshold: of the anchor labelling.
        aug_rand_hflip, aug_scale_min, aug_scale_max,
        skip_crowd_during_training, max_num_instances: the Model Garden's
            parser options.
        mean, std: normalisation of [0, 1] pixels.

    Returns:
        `(image [H, W, 3] float32, labels)`: `labels` holds the anchor
        targets (`class_targets`, `box_targets`, `class_weights`,
        `box_weights`), `image_info` `[4, 2]`, and the padded ground truth
        (`gt_boxes` `[max_num_instances, 4]` in input pixels, `gt_classes`
        (-1 padding), `gt_is_crowd`, `gt_area`, `num_gt`, `source_id`).
    """
    import tensorflow as tf

    import zoo_ops

    out_h, out_w = (int(s) for s in output_size)
    image = decoded["image"]
    boxes = decoded["boxes"]
    classes = decoded["classes"]
    crowd = decoded["is_crowd"]
    area = decoded["area"]
    if is_training and skip_crowd_during_training:
        keep = tf.logical_not(crowd)
        boxes, classes = tf.boolean_mask(boxes, keep), \
            tf.boolean_mask(classes, keep)
        crowd, area = tf.boolean_mask(crowd, keep), \
            tf.boolean_mask(area, keep)
    seed = tf.cast(seed, tf.int64)
    if is_training and aug_rand_hflip:
        flip = tf.random.stateless_uniform((), seed) > 0.5
        image = tf.cond(flip, lambda: tf.image.flip_left_right(image),
                        lambda: image)
        boxes = tf.cond(flip, lambda: tf.stack(
            [boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1]],
            axis=-1), lambda: boxes)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    boxes = boxes * tf.concat([shape, shape], axis=0)
    image = (tf.cast(image, tf.float32) / 255.0 - tf.constant(mean)) \
        / tf.constant(std)
    # Scale: the output size times a random factor, the image fit into it.
    desired = tf.constant([out_h, out_w], tf.float32)
    if is_training and (aug_scale_min != 1.0 or aug_scale_max != 1.0):
        factor = tf.random.stateless_uniform(
            (), seed + 1, aug_scale_min, aug_scale_max)
    else:
        factor = tf.constant(1.0)
    target = tf.round(desired * factor)
    ratio = tf.reduce_min(target / shape)
    scaled = tf.round(shape * ratio)
    scale = scaled / shape
    image = tf.image.resize(image, tf.cast(scaled, tf.int32))
    if is_training:
        excess = tf.maximum(scaled - desired, 0.0)
        offset = tf.round(excess * tf.random.stateless_uniform(
            (2,), seed + 2))
    else:
        offset = tf.zeros(2)
    top, left = tf.cast(offset[0], tf.int32), tf.cast(offset[1], tf.int32)
    image = image[top:top + out_h, left:left + out_w]
    image = tf.image.pad_to_bounding_box(image, 0, 0, out_h, out_w)
    image.set_shape([out_h, out_w, 3])
    info = tf.stack([shape, scaled, scale, offset])
    boxes = boxes * tf.concat([scale, scale], 0) - tf.concat(
        [offset, offset], 0)
    boxes = tf.clip_by_value(boxes, 0.0, tf.concat(
        [tf.minimum(scaled - offset, desired)] * 2, 0))
    non_empty = tf.logical_and(boxes[:, 2] > boxes[:, 0],
                               boxes[:, 3] > boxes[:, 1])
    boxes, classes = tf.boolean_mask(boxes, non_empty), \
        tf.boolean_mask(classes, non_empty)
    crowd, area = tf.boolean_mask(crowd, non_empty), \
        tf.boolean_mask(area, non_empty)
    num = tf.minimum(tf.shape(boxes)[0], max_num_instances)
    gt_boxes = _pad(boxes, max_num_instances)
    gt_classes = _pad(classes, max_num_instances, -1)
    targets = zoo_ops.label_anchors(
        tf.constant(np.asarray(anchors, "float32")), gt_boxes[None],
        gt_classes[None], (gt_classes >= 0)[None],
        match_threshold=match_threshold,
        unmatched_threshold=unmatched_threshold)
    labels = {key: targets[key][0] for key in
              ("class_targets", "box_targets", "class_weights",
               "box_weights")}
    labels.update({
        "image_info": info, "gt_boxes": gt_boxes, "gt_classes": gt_classes,
        "gt_is_crowd": _pad(tf.cast(crowd, tf.int32), max_num_instances),
        "gt_area": _pad(area, max_num_instances), "num_gt": num,
        "source_id": decoded["source_id"]})
    return image, labels


TARGET_KEYS = ("class_targets", "box_targets", "class_weights",
               "box_weights")


def _checked(decoded, num_classes, box_counter):
    """Clips the boxes to the image, drops (and counts) empty ones, and
    fails on a class id outside `[0, num_classes)`, naming the record."""
    import tensorflow as tf

    boxes = tf.clip_by_value(decoded["boxes"], 0.0, 1.0)
    keep = tf.logical_and(boxes[:, 2] > boxes[:, 0],
                          boxes[:, 3] > boxes[:, 1])
    dropped = tf.size(keep, tf.int64) - tf.math.count_nonzero(
        keep, dtype=tf.int64)
    classes = decoded["classes"]
    bad = tf.logical_or(classes >= num_classes, classes < 0)
    first_bad = tf.reduce_max(tf.where(bad, classes, tf.int32.min))
    message = tf.strings.join([
        "Record with image/source_id=", decoded["source_id"],
        " has a box of class ", tf.strings.as_string(first_bad),
        f", outside [0, num_classes={num_classes})."])
    checks = [tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                  [message])]
    if box_counter is not None:
        checks.append(box_counter.variable.assign_add(dropped))
    with tf.control_dependencies(checks):
        result = dict(decoded)
        result["boxes"] = tf.identity(tf.boolean_mask(boxes, keep))
    for key in ("classes", "is_crowd", "area"):
        result[key] = tf.boolean_mask(decoded[key], keep)
    return result


def build_detection_dataset(files, data_config, *, output_size, anchors,
                            num_classes, batch_size, seed=0, start_step=0,
                            num_shards=1, shard_index=0, counter=None,
                            box_counter=None, with_groundtruth=None):
    """Detection records -> batches for a RetinaNet, as the Model Garden's
    input reader and parser do.

    Args:
        files: TFRecord paths (`make_detection_example`'s records).
        data_config: the task's data config: `is_training`, `parser`
            (`match_threshold`, `unmatched_threshold`, `aug_rand_hflip`,
            `aug_scale_min/max`, `skip_crowd_during_training`,
            `max_num_instances`), `shuffle_buffer_size`, `cycle_length`,
            `block_length`, `drop_remainder`, `num_examples`, `seed`,
            `skip_corrupt`, `dtype`.
        output_size: `(height, width)` of the model's input.
        anchors: `ObjectDetector.anchors`.
        num_classes: a class id outside `[0, num_classes)` is an error
            naming the record's `image/source_id`.
        batch_size: per process.
        seed: the run's seed (the data config's wins when set).
        start_step: training batches already consumed (resumption).
        num_shards, shard_index: this process's share of the files (or of
            the records, when there are fewer files than processes).
        counter: `CorruptImageCounter` of undecodable images skipped
            (`skip_corrupt`), or None.
        box_counter: `CorruptImageCounter` of empty boxes dropped (after
            clipping to the image), or None.
        with_groundtruth: labels with the padded ground truth and
            `image_info` too (default: when not training); else only the
            anchor targets `fit` needs.

    Returns:
        `tf.data.Dataset` of `(images [B, H, W, 3] in data_config.dtype,
        labels)` (`parse_detection`'s labels).
    """
    import tensorflow as tf

    from training.data.readers import finish_pipeline, read_decoded_records

    is_training = bool(data_config.is_training)
    if with_groundtruth is None:
        with_groundtruth = not is_training
    parser = data_config.parser
    data_seed = seed if data_config.seed is None else data_config.seed
    dataset = read_decoded_records(
        files, data_config, decode_detection_example, seed=data_seed,
        batch_size=batch_size, start_step=start_step, num_shards=num_shards,
        shard_index=shard_index, counter=counter)

    def parse(index, decoded):
        decoded = _checked(decoded, num_classes, box_counter)
        element_seed = tf.stack([tf.constant(data_seed, tf.int64),
                                 tf.cast(index, tf.int64)])
        image, labels = parse_detection(
            decoded, element_seed, output_size=output_size, anchors=anchors,
            is_training=is_training,
            match_threshold=parser.match_threshold,
            unmatched_threshold=parser.unmatched_threshold,
            aug_rand_hflip=parser.aug_rand_hflip,
            aug_scale_min=parser.aug_scale_min,
            aug_scale_max=parser.aug_scale_max,
            skip_crowd_during_training=parser.skip_crowd_during_training,
            max_num_instances=parser.max_num_instances)
        if not with_groundtruth:
            labels = {key: labels[key] for key in TARGET_KEYS}
        return tf.cast(image, data_config.dtype), labels

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    dataset = dataset.batch(batch_size,
                            drop_remainder=is_training
                            or data_config.drop_remainder)
    return finish_pipeline(dataset, data_config)
