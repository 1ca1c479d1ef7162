"""Pairwise IoU and generalised IoU (GIoU) of yxyx boxes, batched, with masks."""

from zoo_ops._backend import compiled, ops_for
from zoo_ops.errors import ShapeError, check_shape


def _split(ops, boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _check(boxes_a, boxes_b, mask_a, mask_b, aligned):
    shape_a = check_shape("boxes_a", boxes_a, "[N, 4] or [batch, N, 4]" if not aligned
                          else "[..., 4]", allowed_ranks=None if aligned else (2, 3),
                          last_dim=4)
    shape_b = check_shape("boxes_b", boxes_b, "[M, 4] or [batch, M, 4]" if not aligned
                          else "[..., 4]", allowed_ranks=None if aligned else (2, 3),
                          last_dim=4)
    if not aligned and len(shape_a) != len(shape_b):
        raise ShapeError(
            "`boxes_a` and `boxes_b` must both be [N, 4] or both "
            f"[batch, N, 4]; received shapes {list(shape_a)} and "
            f"{list(shape_b)}."
        )
    for name, mask, shape in (("mask_a", mask_a, shape_a), ("mask_b", mask_b, shape_b)):
        if mask is not None:
            check_shape(name, mask, f"{list(shape[:-1])}",
                        allowed_ranks=(len(shape) - 1,))


def _prepare(boxes_a, boxes_b, mask_a, mask_b, aligned):
    ops = ops_for(boxes_a, boxes_b, mask_a, mask_b)
    boxes_a = ops.convert_to_tensor(boxes_a)
    boxes_b = ops.cast(ops.convert_to_tensor(boxes_b), boxes_a.dtype)
    if not aligned:
        boxes_a = boxes_a[..., :, None, :]   # [..., N, 1, 4]
        boxes_b = boxes_b[..., None, :, :]   # [..., 1, M, 4]
    return ops, boxes_a, boxes_b


def _overlaps(ops, a, b):
    ay0, ax0, ay1, ax1 = _split(ops, a)
    by0, bx0, by1, bx1 = _split(ops, b)
    inter_h = ops.maximum(ops.minimum(ay1, by1) - ops.maximum(ay0, by0), 0.0)
    inter_w = ops.maximum(ops.minimum(ax1, bx1) - ops.maximum(ax0, bx0), 0.0)
    intersection = inter_h * inter_w
    area_a = (ay1 - ay0) * (ax1 - ax0)
    area_b = (by1 - by0) * (bx1 - bx0)
    union = area_a + area_b - intersection
    return intersection, union


def _safe_divide(ops, num, den):
    positive = den > 0
    return ops.where(positive, num / ops.where(positive, den, ops.ones_like(den)),
                     ops.zeros_like(num))


def _apply_masks(ops, values, mask_a, mask_b, padding_value, aligned):
    if mask_a is None and mask_b is None:
        return values
    valid = None
    for mask, axis in ((mask_a, -1), (mask_b, -2)):
        if mask is None:
            continue
        mask = ops.cast(ops.convert_to_tensor(mask), "bool")
        if not aligned:
            mask = ops.expand_dims(mask, axis)
        valid = mask if valid is None else ops.logical_and(valid, mask)
    return ops.where(valid, values,
                     ops.cast(ops.full_like(values, padding_value), values.dtype))


def box_iou(boxes_a, boxes_b, mask_a=None, mask_b=None, padding_value=-1.0,
            aligned=False):
    """Intersection over union of every box in `boxes_a` with every box in `boxes_b`.

    Args:
        boxes_a: [N, 4] or [batch, N, 4] float, yxyx.
        boxes_b: [M, 4] or [batch, M, 4] float, yxyx (same rank as boxes_a).
        mask_a: optional [N] / [batch, N] bool, False marks padding boxes.
        mask_b: optional [M] / [batch, M] bool, False marks padding boxes.
        padding_value: float written where either box is padding (-1 by
            default, below every matching threshold, as the Model Garden does).
        aligned: if True, boxes are paired element by element instead:
            `boxes_a` and `boxes_b` are [..., 4] of the same shape and the
            result is [...].

    Returns:
        [N, M] or [batch, N, M] float32 IoU in [0, 1] (0 for empty unions),
        or [...] when `aligned`.
    """
    _check(boxes_a, boxes_b, mask_a, mask_b, aligned)
    return _pairwise(boxes_a, boxes_b, mask_a, mask_b,
                     padding_value=float(padding_value), aligned=bool(aligned),
                     generalized=False)


def generalized_box_iou(boxes_a, boxes_b, mask_a=None, mask_b=None,
                        padding_value=-1.0, aligned=False):
    """Generalised IoU (Rezatofighi et al., 2019): IoU - (C - U) / C.

    C is the area of the smallest box enclosing both, U the union.

    Args:
        boxes_a: [N, 4] or [batch, N, 4] float, yxyx.
        boxes_b: [M, 4] or [batch, M, 4] float, yxyx.
        mask_a: optional [N] / [batch, N] bool, False marks padding.
        mask_b: optional [M] / [batch, M] bool, False marks padding.
        padding_value: float written where either box is padding.
        aligned: pair boxes element by element ([..., 4] -> [...]).

    Returns:
        [N, M] or [batch, N, M] float GIoU in [-1, 1], or [...] when aligned.
    """
    _check(boxes_a, boxes_b, mask_a, mask_b, aligned)
    return _pairwise(boxes_a, boxes_b, mask_a, mask_b,
                     padding_value=float(padding_value), aligned=bool(aligned),
                     generalized=True)


@compiled
def _pairwise(boxes_a, boxes_b, mask_a, mask_b, padding_value, aligned,
              generalized):
    ops, a, b = _prepare(boxes_a, boxes_b, mask_a, mask_b, aligned)
    intersection, union = _overlaps(ops, a, b)
    result = _safe_divide(ops, intersection, union)
    if generalized:
        ay0, ax0, ay1, ax1 = _split(ops, a)
        by0, bx0, by1, bx1 = _split(ops, b)
        enclosing = (
            (ops.maximum(ay1, by1) - ops.minimum(ay0, by0))
            * (ops.maximum(ax1, bx1) - ops.minimum(ax0, bx0))
        )
        result = result - _safe_divide(ops, enclosing - union, enclosing)
    return _apply_masks(ops, result, mask_a, mask_b, padding_value, aligned)
