"""Box utilities: formats, clipping, normalisation, encoding against anchors.

Boxes are `[..., 4]` float tensors; unless a function says otherwise the
format is `yxyx` (`[ymin, xmin, ymax, xmax]`) in absolute pixels, the Model
Garden convention. Format conversion is Keras' own
`keras.utils.bounding_boxes.convert_format`, wrapped to check its arguments.
"""

import math

import keras

from zoo_ops._backend import ops_for, static_shape
from zoo_ops.errors import ArgumentError, check_shape

#: Box formats understood by `convert_boxes` (Keras' names).
BOX_FORMATS = (
    "yxyx", "xyxy", "xywh", "center_xywh", "center_yxhw",
    "rel_yxyx", "rel_xyxy", "rel_xywh", "rel_center_xywh",
)

#: Largest log-scale a decoded height/width may grow by: log(1000 / 16), the
#: clip Detectron and the Model Garden use so exp() cannot overflow.
MAX_LOG_SCALE = math.log(1000.0 / 16.0)

_EPSILON = 1e-8


def _check_boxes(name, boxes):
    return check_shape(name, boxes, "[..., 4]", last_dim=4)


def _image_hw(ops, image_shape, like):
    """Returns (height, width) as tensors broadcastable to `like[..., 0]`."""
    if image_shape is None:
        raise ArgumentError("`image_shape` is required: pass (height, width).")
    if isinstance(image_shape, (tuple, list)):
        if len(image_shape) < 2:
            raise ArgumentError(
                "`image_shape` must be (height, width) or a [..., 2] tensor; "
                f"received {image_shape!r}."
            )
        height = ops.cast(ops.convert_to_tensor(image_shape[0]), like.dtype)
        width = ops.cast(ops.convert_to_tensor(image_shape[1]), like.dtype)
        return height, width
    image_shape = ops.cast(ops.convert_to_tensor(image_shape), like.dtype)
    shape = static_shape(image_shape)
    if not shape or shape[-1] not in (2, 3, None):
        raise ArgumentError(
            "`image_shape` must be (height, width) or a [..., 2] tensor; "
            f"received shape {list(shape)}."
        )
    height, width = image_shape[..., 0], image_shape[..., 1]
    # A [batch, 2] image shape pairs with [batch, num_boxes, 4] boxes.
    extra = len(static_shape(like)) - 1 - len(static_shape(height))
    for _ in range(max(extra, 0)):
        height = ops.expand_dims(height, -1)
        width = ops.expand_dims(width, -1)
    return height, width


def convert_boxes(boxes, source, target, image_shape=None, dtype="float32"):
    """Converts boxes between formats (see `BOX_FORMATS`).

    Args:
        boxes: [..., 4] float, in `source` format.
        source: str, one of `BOX_FORMATS`.
        target: str, one of `BOX_FORMATS`.
        image_shape: (height, width), needed when exactly one of the formats
            is relative (`rel_*`).
        dtype: output dtype.

    Returns:
        [..., 4] `dtype`, in `target` format.
    """
    for name, fmt in (("source", source), ("target", target)):
        if not isinstance(fmt, str) or fmt.lower() not in BOX_FORMATS:
            raise ArgumentError(
                f"`{name}` must be one of {', '.join(BOX_FORMATS)}; "
                f"received {fmt!r}."
            )
    _check_boxes("boxes", boxes)
    height = width = None
    if image_shape is not None:
        height, width = image_shape[0], image_shape[1]
    elif source.startswith("rel_") != target.startswith("rel_"):
        raise ArgumentError(
            f"Converting {source!r} to {target!r} needs `image_shape` "
            "(height, width)."
        )
    return keras.utils.bounding_boxes.convert_format(
        boxes, source=source.lower(), target=target.lower(),
        height=height, width=width, dtype=dtype,
    )


def box_area(boxes):
    """Area of yxyx boxes.

    Args:
        boxes: [..., 4] float, yxyx.

    Returns:
        [...] float, (ymax - ymin) * (xmax - xmin).
    """
    _check_boxes("boxes", boxes)
    ops = ops_for(boxes)
    boxes = ops.convert_to_tensor(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def clip_boxes(boxes, image_shape):
    """Clips yxyx boxes to the image: y to [0, height], x to [0, width].

    Args:
        boxes: [..., 4] float, yxyx, absolute pixels.
        image_shape: (height, width) ints, or a [2] / [batch, 2] tensor
            (one size per image of a `[batch, num_boxes, 4]` batch).

    Returns:
        [..., 4] float, clipped boxes.
    """
    _check_boxes("boxes", boxes)
    ops = ops_for(boxes, image_shape)
    boxes = ops.convert_to_tensor(boxes)
    height, width = _image_hw(ops, image_shape, boxes)
    zero = ops.zeros_like(boxes[..., 0])
    ymin, xmin, ymax, xmax = (boxes[..., i] for i in range(4))
    return ops.stack([
        ops.minimum(ops.maximum(ymin, zero), height),
        ops.minimum(ops.maximum(xmin, zero), width),
        ops.minimum(ops.maximum(ymax, zero), height),
        ops.minimum(ops.maximum(xmax, zero), width),
    ], axis=-1)


def normalize_boxes(boxes, image_shape):
    """Absolute yxyx pixels -> relative [0, 1] coordinates.

    Args:
        boxes: [..., 4] float, yxyx, absolute.
        image_shape: (height, width) or a [2] / [batch, 2] tensor.

    Returns:
        [..., 4] float, yxyx divided by (height, width, height, width).
    """
    _check_boxes("boxes", boxes)
    ops = ops_for(boxes, image_shape)
    boxes = ops.convert_to_tensor(boxes)
    height, width = _image_hw(ops, image_shape, boxes)
    scale = ops.stack([height, width, height, width], axis=-1)
    return boxes / scale


def denormalize_boxes(boxes, image_shape):
    """Relative [0, 1] yxyx coordinates -> absolute pixels.

    Args:
        boxes: [..., 4] float, yxyx, relative.
        image_shape: (height, width) or a [2] / [batch, 2] tensor.

    Returns:
        [..., 4] float, yxyx times (height, width, height, width).
    """
    _check_boxes("boxes", boxes)
    ops = ops_for(boxes, image_shape)
    boxes = ops.convert_to_tensor(boxes)
    height, width = _image_hw(ops, image_shape, boxes)
    scale = ops.stack([height, width, height, width], axis=-1)
    return boxes * scale


def _weights(ops, weights, dtype):
    if weights is None:
        return None
    weights = tuple(float(w) for w in weights)
    if len(weights) != 4 or min(weights) <= 0:
        raise ArgumentError(
            "`weights` must be 4 positive floats (y, x, h, w), e.g. "
            f"(10, 10, 5, 5); received {weights!r}."
        )
    return ops.convert_to_tensor(weights, dtype=dtype)


def _center_form(ops, boxes):
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * height, boxes[..., 1] + 0.5 * width, height, width


def encode_boxes(boxes, anchors, weights=None):
    """Encodes boxes as offsets from anchors (Faster R-CNN parameterisation).

    `dy = (yc - yc_a) / h_a`, `dx = (xc - xc_a) / w_a`, `dh = log(h / h_a)`,
    `dw = log(w / w_a)`, each multiplied by its weight.

    Args:
        boxes: [..., 4] float, yxyx.
        anchors: [..., 4] float, yxyx, broadcastable to `boxes`.
        weights: None or 4 floats (wy, wx, wh, ww), e.g. (10, 10, 5, 5) for
            Faster R-CNN's second stage.

    Returns:
        [..., 4] float, (dy, dx, dh, dw).
    """
    _check_boxes("boxes", boxes)
    _check_boxes("anchors", anchors)
    ops = ops_for(boxes, anchors)
    boxes = ops.convert_to_tensor(boxes)
    anchors = ops.cast(ops.convert_to_tensor(anchors), boxes.dtype)
    yc, xc, h, w = _center_form(ops, boxes)
    yca, xca, ha, wa = _center_form(ops, anchors)
    ha = ha + _EPSILON
    wa = wa + _EPSILON
    encoded = ops.stack([
        (yc - yca) / ha,
        (xc - xca) / wa,
        ops.log((h + _EPSILON) / ha),
        ops.log((w + _EPSILON) / wa),
    ], axis=-1)
    scale = _weights(ops, weights, boxes.dtype)
    return encoded if scale is None else encoded * scale


def decode_boxes(encoded, anchors, weights=None, max_log_scale=MAX_LOG_SCALE):
    """Inverse of `encode_boxes`: offsets from anchors -> yxyx boxes.

    Args:
        encoded: [..., 4] float, (dy, dx, dh, dw).
        anchors: [..., 4] float, yxyx, broadcastable to `encoded`.
        weights: None or the 4 floats used to encode.
        max_log_scale: float, dh/dw are clipped to this before exp().

    Returns:
        [..., 4] float, yxyx.
    """
    _check_boxes("encoded", encoded)
    _check_boxes("anchors", anchors)
    ops = ops_for(encoded, anchors)
    encoded = ops.convert_to_tensor(encoded)
    anchors = ops.cast(ops.convert_to_tensor(anchors), encoded.dtype)
    scale = _weights(ops, weights, encoded.dtype)
    if scale is not None:
        encoded = encoded / scale
    yca, xca, ha, wa = _center_form(ops, anchors)
    ha = ha + _EPSILON
    wa = wa + _EPSILON
    dh = ops.minimum(encoded[..., 2], max_log_scale)
    dw = ops.minimum(encoded[..., 3], max_log_scale)
    yc = encoded[..., 0] * ha + yca
    xc = encoded[..., 1] * wa + xca
    h = ops.exp(dh) * ha - _EPSILON
    w = ops.exp(dw) * wa - _EPSILON
    return ops.stack(
        [yc - 0.5 * h, xc - 0.5 * w, yc + 0.5 * h, xc + 0.5 * w], axis=-1
    )


def jitter_boxes(boxes, noise_scale=0.025, seed=None):
    """Randomly moves and rescales boxes, proportionally to their size.

    Centres move by `N(0, noise_scale) * size`; heights and widths are
    multiplied by `exp(N(0, noise_scale))`.

    Args:
        boxes: [..., 4] float, yxyx.
        noise_scale: float >= 0, the standard deviation of the noise.
        seed: int or `keras.random.SeedGenerator`.

    Returns:
        [..., 4] float, jittered yxyx boxes.
    """
    _check_boxes("boxes", boxes)
    if noise_scale < 0:
        raise ArgumentError(f"`noise_scale` must be >= 0; received {noise_scale}.")
    ops = ops_for(boxes)
    boxes = ops.convert_to_tensor(boxes)
    shape = static_shape(boxes)
    if ops is keras.ops:
        noise = keras.random.normal(shape, stddev=noise_scale, seed=seed,
                                    dtype=boxes.dtype)
    else:  # tf.Tensors under another backend: TensorFlow's own RNG.
        from zoo_ops._backend import tensorflow

        tf = tensorflow()
        noise = tf.random.normal(tf.shape(boxes), stddev=noise_scale,
                                 seed=seed if isinstance(seed, int) else None,
                                 dtype=boxes.dtype)
    yc, xc, h, w = _center_form(ops, boxes)
    yc = yc + noise[..., 0] * h
    xc = xc + noise[..., 1] * w
    h = h * ops.exp(noise[..., 2])
    w = w * ops.exp(noise[..., 3])
    return ops.stack(
        [yc - 0.5 * h, xc - 0.5 * w, yc + 0.5 * h, xc + 0.5 * w], axis=-1
    )


def filter_small_boxes(boxes, scores, min_size, image_shape=None):
    """Zeroes boxes (and their scores) that are too small or off the image.

    Static shapes: nothing is removed; dropped entries become all-zero boxes
    with score 0, the padding the NMS ops ignore.

    Args:
        boxes: [..., num_boxes, 4] float, yxyx.
        scores: [..., num_boxes] float.
        min_size: float, boxes whose height or width is <= this are dropped.
        image_shape: optional (height, width); when given, boxes whose centre
            is outside the image are dropped too.

    Returns:
        (boxes, scores, keep): the filtered boxes [..., num_boxes, 4], scores
        [..., num_boxes] and the bool mask of kept boxes [..., num_boxes].
    """
    box_shape = _check_boxes("boxes", boxes)
    check_shape("scores", scores, f"{list(box_shape[:-1])}",
                allowed_ranks=(len(box_shape) - 1,))
    ops = ops_for(boxes, scores, image_shape)
    boxes = ops.convert_to_tensor(boxes)
    scores = ops.convert_to_tensor(scores)
    yc, xc, h, w = _center_form(ops, boxes)
    keep = ops.logical_and(h > min_size, w > min_size)
    if image_shape is not None:
        height, width = _image_hw(ops, image_shape, boxes)
        inside = ops.logical_and(
            ops.logical_and(yc >= 0, yc < height),
            ops.logical_and(xc >= 0, xc < width),
        )
        keep = ops.logical_and(keep, inside)
    boxes = ops.where(keep[..., None], boxes, ops.zeros_like(boxes))
    scores = ops.where(keep, scores, ops.zeros_like(scores))
    return boxes, scores, keep
