"""Non-maximum suppression: single-class padded NMS and multi-class NMS.

Two implementations with the same results:

- TensorFlow (the TensorFlow backend, or `tf.Tensor`s in a `tf.data` map):
  `tf.image.non_max_suppression_padded` and
  `tf.image.combined_non_max_suppression`.
- keras.ops (every other backend): a static-shape, jit-compilable blocked
  greedy NMS. Boxes are sorted by score once; blocks of `tile_size` boxes are
  then taken in order. A block is first suppressed by the boxes already
  selected (one [max_output_size, tile_size] IoU), then against itself: the
  greedy rule "keep a box unless a kept, higher-scored box overlaps it" is a
  triangular boolean system, solved by iterating
  `keep = alive & (overlaps^T keep == 0)` to its fixed point (at most
  `tile_size` steps, usually a handful). The kept boxes are written into the
  output buffer, and the loop stops as soon as every image has
  `max_output_size` boxes or no candidates are left, so 5000 boxes -> 100
  usually costs one block.

The greedy order is by score, ties broken by the lower box index.
"""

from zoo_ops._backend import (
    compiled, ops_for, static_shape, tensorflow, uses_tensorflow,
)
from zoo_ops.errors import ArgumentError, check_same, check_shape

_IMPLEMENTATIONS = ("auto", "tensorflow", "keras")
# TensorFlow's padded NMS adds this to the union before dividing.
_PADDED_EPSILON = 1e-8


def _check_implementation(implementation, *tensors):
    if implementation not in _IMPLEMENTATIONS:
        raise ArgumentError(
            f"`implementation` must be one of {_IMPLEMENTATIONS}; received "
            f"{implementation!r}."
        )
    if implementation == "auto":
        return "tensorflow" if uses_tensorflow(*tensors) else "keras"
    return implementation


def _check_thresholds(iou_threshold, max_output_size, name="max_output_size"):
    if not isinstance(max_output_size, int) or max_output_size < 0:
        raise ArgumentError(
            f"`{name}` must be a Python int >= 0 (output shapes are static); "
            f"received {max_output_size!r}."
        )
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ArgumentError(
            f"`iou_threshold` must be in [0, 1]; received {iou_threshold!r}."
        )


def non_max_suppression_padded(boxes, scores, max_output_size,
                               iou_threshold=0.5,
                               score_threshold=float("-inf"),
                               tile_size=128, implementation="auto"):
    """Greedy NMS over a batch, padded to `max_output_size` per image.

    Selects the same boxes as `tf.image.non_max_suppression_padded(...,
    pad_to_max_output_size=True)`: boxes are visited by decreasing score (ties:
    lower index first); a box is kept unless its IoU with a kept box is
    >= `iou_threshold`; boxes scoring <= `score_threshold` are dropped, and so
    are boxes with no coordinate > 0 (TensorFlow's marker for padding: an
    all-zero box is never selected).

    Args:
        boxes: [batch, num_boxes, 4] float32, yxyx with ymin <= ymax and
            xmin <= xmax.
        scores: [batch, num_boxes] float32.
        max_output_size: int, boxes to select per image at most.
        iou_threshold: float in [0, 1].
        score_threshold: float; boxes scoring <= it are dropped (the
            default -inf keeps every score, as TensorFlow does).
        tile_size: int, boxes processed together by the keras.ops path.
        implementation: "auto" (TensorFlow kernel on the TensorFlow backend
            or for tf.Tensors, keras.ops otherwise), "tensorflow" or "keras".

    Returns:
        (selected_indices, num_valid): [batch, max_output_size] int32 indices
        into `num_boxes`, best first, zero past `num_valid`; and [batch]
        int32 counts.
    """
    shape = check_shape("boxes", boxes, "[batch, num_boxes, 4] (yxyx)",
                        allowed_ranks=(3,), last_dim=4)
    score_shape = check_shape("scores", scores, "[batch, num_boxes]",
                              allowed_ranks=(2,))
    check_same("boxes", shape[0], "scores", score_shape[0], "Batch sizes")
    check_same("boxes", shape[1], "scores", score_shape[1], "Box counts")
    _check_thresholds(iou_threshold, max_output_size)
    implementation = _check_implementation(implementation, boxes, scores)
    if implementation == "tensorflow":
        tf = tensorflow()
        boxes = tf.convert_to_tensor(boxes, tf.float32)
        scores = tf.convert_to_tensor(scores, tf.float32)
        if shape[1] == 0:
            batch = tf.shape(boxes)[0]
            return (tf.zeros([batch, max_output_size], tf.int32),
                    tf.zeros([batch], tf.int32))
        return tf.image.non_max_suppression_padded(
            boxes, scores, max_output_size, iou_threshold=iou_threshold,
            score_threshold=score_threshold, pad_to_max_output_size=True,
        )
    return _padded_keras(boxes, scores, max_output_size=max_output_size,
                         iou_threshold=float(iou_threshold),
                         score_threshold=float(score_threshold),
                         tile_size=int(tile_size))


@compiled
def _padded_keras(boxes, scores, max_output_size, iou_threshold,
                  score_threshold, tile_size):
    ops = ops_for(boxes, scores)
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    if score_threshold == float("-inf"):
        valid = ops.ones_like(scores, dtype="bool")
    else:
        valid = scores > score_threshold
    # TensorFlow's padded NMS counts a box as selected only if one of its
    # coordinates is > 0: boxes with none are padding and take no part.
    valid = ops.logical_and(valid, ops.any(boxes > 0, axis=-1))
    indices, _, _, num_valid = _blocked_nms(
        ops, boxes, scores, valid, max_output_size, iou_threshold,
        tile_size, padded_iou=True,
    )
    return indices, num_valid


def combined_non_max_suppression(boxes, scores, max_output_size_per_class,
                                 max_total_size, iou_threshold=0.5,
                                 score_threshold=float("-inf"),
                                 pad_per_class=False, clip_boxes=True,
                                 tile_size=128, implementation="auto"):
    """Multi-class NMS: per-class greedy NMS, then the best over all classes.

    Mirrors `tf.image.combined_non_max_suppression`: for each image and class,
    boxes scoring > `score_threshold` are suppressed when their IoU with a
    kept box of the same class is > `iou_threshold`, keeping at most
    `max_output_size_per_class`; the survivors of all classes are sorted by
    score and the first `max_total_size` returned. (Ties in score are broken
    by lower class, then lower box index; TensorFlow leaves that order
    unspecified.)

    Args:
        boxes: [batch, num_boxes, q, 4] float32 yxyx, q = 1 (boxes shared by
            all classes) or num_classes; [batch, num_boxes, 4] means q = 1.
        scores: [batch, num_boxes, num_classes] float32.
        max_output_size_per_class: int.
        max_total_size: int, detections per image at most.
        iou_threshold: float in [0, 1].
        score_threshold: float.
        pad_per_class: if True, outputs have
            min(max_total_size, max_output_size_per_class * num_classes) rows.
        clip_boxes: clip output coordinates to [0, 1] (TensorFlow's default).
        tile_size: int, block size of the keras.ops path.
        implementation: "auto", "tensorflow" or "keras".

    Returns:
        (boxes [batch, max_detections, 4] float32,
         scores [batch, max_detections] float32,
         classes [batch, max_detections] float32,
         valid_detections [batch] int32), zero-padded past the valid count.
    """
    box_shape = check_shape(
        "boxes", boxes, "[batch, num_boxes, q, 4] or [batch, num_boxes, 4]",
        allowed_ranks=(3, 4), last_dim=4,
    )
    score_shape = check_shape("scores", scores,
                              "[batch, num_boxes, num_classes]",
                              allowed_ranks=(3,))
    check_same("boxes", box_shape[0], "scores", score_shape[0], "Batch sizes")
    check_same("boxes", box_shape[1], "scores", score_shape[1], "Box counts")
    num_classes = score_shape[2]
    if len(box_shape) == 4 and box_shape[2] not in (1, num_classes):
        raise ArgumentError(
            f"`boxes` axis 2 (q) must be 1 or num_classes={num_classes}; "
            f"received shape {list(box_shape)}."
        )
    _check_thresholds(iou_threshold, max_output_size_per_class,
                      "max_output_size_per_class")
    _check_thresholds(iou_threshold, max_total_size, "max_total_size")
    implementation = _check_implementation(implementation, boxes, scores)
    per_batch = max_total_size
    if pad_per_class:
        per_batch = min(max_total_size, max_output_size_per_class * num_classes)

    if implementation == "tensorflow":
        tf = tensorflow()
        boxes = tf.convert_to_tensor(boxes, tf.float32)
        scores = tf.convert_to_tensor(scores, tf.float32)
        if len(box_shape) == 3:
            boxes = boxes[:, :, None, :]
        if box_shape[1] == 0:
            return _empty_combined(tf, tf.shape(boxes)[0], per_batch)
        return tf.image.combined_non_max_suppression(
            boxes, scores, max_output_size_per_class, max_total_size,
            iou_threshold=iou_threshold, score_threshold=score_threshold,
            pad_per_class=pad_per_class, clip_boxes=clip_boxes,
        )

    return _combined_keras(
        boxes, scores, max_output_size_per_class=max_output_size_per_class,
        per_batch=per_batch, iou_threshold=float(iou_threshold),
        score_threshold=float(score_threshold), clip_boxes=bool(clip_boxes),
        tile_size=int(tile_size))


@compiled
def _combined_keras(boxes, scores, max_output_size_per_class, per_batch,
                    iou_threshold, score_threshold, clip_boxes, tile_size):
    box_shape = static_shape(boxes)
    score_shape = static_shape(scores)
    num_classes = score_shape[2]
    ops = ops_for(boxes, scores)
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    batch, num_boxes = score_shape[0], score_shape[1]
    if batch is None:
        batch = ops.shape(scores)[0]
    if num_boxes == 0:
        return _empty_combined(ops, batch, per_batch)
    if len(box_shape) == 3 or box_shape[2] == 1:
        boxes = ops.broadcast_to(
            ops.reshape(boxes, (batch, num_boxes, 1, 4)),
            (batch, num_boxes, num_classes, 4))
    # One NMS problem per (image, class): [batch * classes, num_boxes, ...].
    class_boxes = ops.reshape(ops.transpose(boxes, (0, 2, 1, 3)),
                              (-1, num_boxes, 4))
    class_scores = ops.reshape(ops.transpose(scores, (0, 2, 1)), (-1, num_boxes))
    valid = class_scores > score_threshold
    size_per_class = min(max_output_size_per_class, num_boxes)
    indices, kept_boxes, kept_mask, _ = _blocked_nms(
        ops, class_boxes, class_scores, valid, size_per_class,
        iou_threshold, tile_size, padded_iou=False,
    )
    kept_scores = ops.take_along_axis(class_scores, indices, axis=1)
    # [batch, classes * size_per_class] candidates, class-major.
    kept_scores = ops.reshape(
        ops.where(kept_mask, kept_scores, float("-inf")), (batch, -1))
    kept_boxes = ops.reshape(kept_boxes, (batch, -1, 4))
    kept_mask = ops.reshape(kept_mask, (batch, -1))
    num_candidates = num_classes * size_per_class
    classes = ops.reshape(
        ops.repeat(ops.arange(num_classes, dtype="float32"), size_per_class),
        (1, -1),
    )
    k = min(per_batch, num_candidates)
    top_scores, order = ops.top_k(kept_scores, k=k)
    num_valid = ops.minimum(
        ops.sum(ops.cast(kept_mask, "int32"), axis=1), per_batch)
    in_range = ops.arange(k, dtype="int32")[None, :] < num_valid[:, None]
    out_boxes = ops.take_along_axis(kept_boxes, order[..., None], axis=1)
    if clip_boxes:
        out_boxes = ops.clip(out_boxes, 0.0, 1.0)
    out_classes = ops.take_along_axis(
        ops.broadcast_to(classes, (batch, num_candidates)), order, axis=1)
    out_boxes = ops.where(in_range[..., None], out_boxes, 0.0)
    out_scores = ops.where(in_range, top_scores, 0.0)
    out_classes = ops.where(in_range, out_classes, 0.0)
    if k < per_batch:
        pad = per_batch - k
        out_boxes = ops.pad(out_boxes, ((0, 0), (0, pad), (0, 0)))
        out_scores = ops.pad(out_scores, ((0, 0), (0, pad)))
        out_classes = ops.pad(out_classes, ((0, 0), (0, pad)))
    return out_boxes, out_scores, out_classes, num_valid


def _empty_combined(ops, batch, per_batch):
    return (ops.zeros((batch, per_batch, 4), "float32"),
            ops.zeros((batch, per_batch), "float32"),
            ops.zeros((batch, per_batch), "float32"),
            ops.zeros((batch,), "int32"))


def _pairwise_iou(ops, boxes_a, boxes_b, padded_iou):
    """[B, N, 4] x [B, M, 4] -> [B, N, M] IoU, in one of TF's two forms.

    padded_iou=True: `tf.image.non_max_suppression_padded`'s formula,
    intersection / (area_a + area_b - intersection + 1e-8), on boxes as given.
    padded_iou=False: the C++ NMS kernels' formula: corners sorted per box,
    0 when either area is <= 0, intersection / union.
    """
    a = boxes_a[:, :, None, :]
    b = boxes_b[:, None, :, :]
    if padded_iou:
        ay0, ax0, ay1, ax1 = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
        by0, bx0, by1, bx1 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    else:
        ay0 = ops.minimum(a[..., 0], a[..., 2])
        ay1 = ops.maximum(a[..., 0], a[..., 2])
        ax0 = ops.minimum(a[..., 1], a[..., 3])
        ax1 = ops.maximum(a[..., 1], a[..., 3])
        by0 = ops.minimum(b[..., 0], b[..., 2])
        by1 = ops.maximum(b[..., 0], b[..., 2])
        bx0 = ops.minimum(b[..., 1], b[..., 3])
        bx1 = ops.maximum(b[..., 1], b[..., 3])
    inter = (ops.maximum(ops.minimum(ax1, bx1) - ops.maximum(ax0, bx0), 0.0)
             * ops.maximum(ops.minimum(ay1, by1) - ops.maximum(ay0, by0), 0.0))
    area_a = (ay1 - ay0) * (ax1 - ax0)
    area_b = (by1 - by0) * (bx1 - bx0)
    if padded_iou:
        return inter / (area_a + area_b - inter + _PADDED_EPSILON)
    positive = ops.logical_and(area_a > 0, area_b > 0)
    union = area_a + area_b - inter
    return ops.where(positive, inter / ops.where(positive, union, 1.0), 0.0)


def _suppresses(iou, iou_threshold, padded_iou):
    # The padded kernel suppresses at IoU >= threshold, the C++ ones at >.
    return iou >= iou_threshold if padded_iou else iou > iou_threshold


def _blocked_nms(ops, boxes, scores, valid, max_output_size, iou_threshold,
                 tile_size, padded_iou):
    """Greedy NMS of `valid` boxes, blocked; see the module docstring.

    Args:
        boxes: [B, N, 4] float32; scores: [B, N] float32.
        valid: [B, N] bool, the boxes that take part.
        max_output_size: int, M.

    Returns:
        indices [B, M] int32 (0 past the count), the selected boxes
        [B, M, 4] (0 past the count), a [B, M] bool mask of filled slots and
        the counts [B] int32.
    """
    batch, num_boxes = static_shape(scores)
    if batch is None:
        batch = ops.shape(scores)[0]
    out_size = max_output_size
    if num_boxes == 0 or out_size == 0:
        return (ops.zeros((batch, out_size), "int32"),
                ops.zeros((batch, out_size, 4), "float32"),
                ops.zeros((batch, out_size), "bool"),
                ops.zeros((batch,), "int32"))
    tile = max(1, min(int(tile_size), num_boxes))
    # Candidates still to visit keep their score as key; visited or invalid
    # ones get -inf. A valid -inf score is lifted to the lowest float so it
    # stays distinguishable from "done".
    lowest = float(-3.4028234663852886e38)
    key = ops.where(valid, ops.maximum(scores, lowest), float("-inf"))
    box_index = ops.arange(num_boxes, dtype="int32")[None, :]
    upper = ops.arange(tile)[:, None] < ops.arange(tile)[None, :]  # i < j
    slots = ops.arange(out_size, dtype="int32")

    def cond(key, count, *_):
        pending = ops.logical_and(count < out_size,
                                  ops.any(key > float("-inf"), axis=1))
        return ops.any(pending)

    def body(key, count, kept_boxes, kept_index, kept_mask):
        # The next `tile` candidates in (score desc, index asc) order: top_k
        # is stable, and earlier blocks were set to -inf.
        values, index = ops.top_k(key, k=tile)
        index = ops.cast(index, "int32")
        alive = values > float("-inf")                         # [B, S]
        block = ops.take_along_axis(boxes, index[..., None], axis=1)
        # The block's last entry, found by reductions: slicing top_k's output
        # makes XLA replace it with a full sort.
        last_value = ops.min(values, axis=1, keepdims=True)
        last_index = ops.max(ops.where(values == last_value, index, -1),
                             axis=1, keepdims=True)
        visited = ops.logical_or(
            key > last_value,
            ops.logical_and(key == last_value, box_index <= last_index))
        key = ops.where(visited, float("-inf"), key)
        # Suppression by the boxes kept from earlier blocks.
        cross = _suppresses(
            _pairwise_iou(ops, kept_boxes, block, padded_iou),
            iou_threshold, padded_iou)                         # [B, M, S]
        cross = ops.logical_and(cross, kept_mask[:, :, None])
        alive = ops.logical_and(alive, ops.logical_not(ops.any(cross, axis=1)))
        # Suppression inside the block: solve keep = alive & ~(O^T keep).
        overlap = ops.logical_and(
            _suppresses(_pairwise_iou(ops, block, block, padded_iou),
                        iou_threshold, padded_iou),
            upper[None])
        overlap = ops.cast(overlap, "float32")                 # [B, S, S]

        def step(keep):
            hits = ops.einsum("bi,bij->bj", ops.cast(keep, "float32"), overlap)
            return ops.logical_and(alive, hits == 0)

        def inner_cond(keep, previous, i):
            return ops.logical_and(
                ops.any(ops.not_equal(keep, previous)), i <= tile)

        def inner_body(keep, previous, i):
            return step(keep), keep, i + 1

        keep, _, _ = ops.while_loop(
            inner_cond, inner_body,
            (step(alive), alive, ops.convert_to_tensor(1, "int32")))
        # Append the kept boxes after the `count` already there.
        keep_i = ops.cast(keep, "int32")
        position = count[:, None] + ops.cumsum(keep_i, axis=1) - 1  # [B, S]
        write = ops.logical_and(
            keep[:, :, None],
            ops.equal(position[:, :, None], slots[None, None, :]))  # [B, S, M]
        kept_boxes = kept_boxes + ops.einsum(
            "bsm,bsc->bmc", ops.cast(write, "float32"), block)
        kept_index = kept_index + ops.sum(
            ops.cast(write, "int32") * index[:, :, None], axis=1)
        count = ops.minimum(count + ops.sum(keep_i, axis=1), out_size)
        kept_mask = slots[None, :] < count[:, None]
        return key, count, kept_boxes, kept_index, kept_mask

    state = (
        key,
        ops.zeros((batch,), "int32"),
        ops.zeros((batch, out_size, 4), "float32"),
        ops.zeros((batch, out_size), "int32"),
        ops.zeros((batch, out_size), "bool"),
    )
    _, count, kept_boxes, kept_index, kept_mask = ops.while_loop(
        cond, body, state)
    return kept_index, kept_boxes, kept_mask, count
