"""Matching anchors to ground truth, gathering targets, labelling anchors.

Follows the Model Garden's `BoxMatcher`, `TargetGather` and `AnchorLabeler`
(`official/vision/ops/`): every row (anchor) is matched to its most similar
column (ground-truth box); the similarity decides whether the match is
positive, negative or ignored; optionally each ground-truth box also claims
its most similar anchor ("force match"), so that no object goes without an
anchor however poorly the anchors fit it.
"""

from zoo_ops._backend import compiled, ops_for, static_shape
from zoo_ops.anchors import flatten_anchors
from zoo_ops.boxes import encode_boxes
from zoo_ops.errors import ArgumentError, check_same, check_shape
from zoo_ops.iou import box_iou

#: Match indicators returned by `match_boxes` with the default indicators.
POSITIVE = 1
NEGATIVE = -1
IGNORE = -2


def match_boxes(similarity, thresholds=(0.5, 0.5), indicators=(NEGATIVE, IGNORE, POSITIVE),
                force_match_for_each_column=False, column_mask=None):
    """Matches each row of a similarity matrix to its best column.

    Args:
        similarity: [num_rows, num_cols] or [batch, num_rows, num_cols]
            float, e.g. IoU of anchors (rows) with ground truth (columns).
        thresholds: sorted floats t_1 <= ... <= t_k; a row whose best
            similarity s has t_i <= s < t_{i+1} gets `indicators[i]`
            (t_0 = -inf, t_{k+1} = +inf).
        indicators: k + 1 ints; the default (-1, -2, 1) with thresholds
            (negative_threshold, positive_threshold) gives negative / ignore /
            positive.
        force_match_for_each_column: if True, each valid column's best row is
            matched to it with indicator `indicators[-1]` (ties between
            columns for the same row go to the lower column).
        column_mask: optional [num_cols] / [batch, num_cols] bool, False for
            padding columns; those are never matched.

    Returns:
        (matched_columns, match_indicators): int32 [num_rows] /
        [batch, num_rows] each. With no valid column every row is matched to
        column 0 with indicator `indicators[0]`.
    """
    shape = check_shape("similarity", similarity,
                        "[num_rows, num_cols] or [batch, num_rows, num_cols]",
                        allowed_ranks=(2, 3))
    thresholds = [float(t) for t in thresholds]
    if thresholds != sorted(thresholds):
        raise ArgumentError(f"`thresholds` must be sorted; received {thresholds}.")
    if len(indicators) != len(thresholds) + 1:
        raise ArgumentError(
            f"`indicators` must have len(thresholds) + 1 = {len(thresholds) + 1} "
            f"values; received {list(indicators)}."
        )
    if column_mask is not None:
        check_shape("column_mask", column_mask, f"{[*shape[:-2], shape[-1]]}",
                    allowed_ranks=(len(shape) - 1,))
    ops = ops_for(similarity, column_mask)
    similarity = ops.cast(ops.convert_to_tensor(similarity), "float32")
    unbatched = len(shape) == 2
    if unbatched:
        similarity = similarity[None]
        if column_mask is not None:
            column_mask = ops.convert_to_tensor(column_mask)[None]
    batch, num_rows, num_cols = static_shape(similarity)
    if batch is None:
        batch = ops.shape(similarity)[0]
    if num_cols == 0:
        matched = ops.zeros((batch, num_rows), "int32")
        indicator = ops.full((batch, num_rows), int(indicators[0]), "int32")
    else:
        if column_mask is None:
            column_mask = ops.ones((batch, num_cols), "bool")
        column_mask = ops.cast(column_mask, "bool")
        masked = ops.where(column_mask[:, None, :], similarity, float("-inf"))
        matched = ops.cast(ops.argmax(masked, axis=-1), "int32")
        best = ops.max(masked, axis=-1)
        indicator = ops.full((batch, num_rows), int(indicators[0]), "int32")
        for value, low in zip(indicators[1:], thresholds):
            indicator = ops.where(best >= low, int(value), indicator)
        if force_match_for_each_column:
            # [B, cols]: each column's best row; one-hot over rows.
            best_row = ops.argmax(masked, axis=1)
            claims = ops.logical_and(
                ops.equal(ops.arange(num_rows)[None, None, :],
                          best_row[:, :, None]),
                column_mask[:, :, None])                      # [B, cols, rows]
            forced = ops.any(claims, axis=1)                   # [B, rows]
            forced_column = ops.cast(
                ops.argmax(ops.cast(claims, "int32"), axis=1), "int32")
            matched = ops.where(forced, forced_column, matched)
            indicator = ops.where(forced, int(indicators[-1]), indicator)
    if unbatched:
        return matched[0], indicator[0]
    return matched, indicator


def gather_targets(targets, matched_columns, mask=None, padding_value=0):
    """Gathers per-column targets for each row, with padding.

    Args:
        targets: [batch, num_cols] or [batch, num_cols, D] (or without batch
            when `matched_columns` has none), e.g. ground-truth boxes.
        matched_columns: [batch, num_rows] int32, from `match_boxes`.
        mask: optional [batch, num_rows] bool; True rows get `padding_value`
            instead (e.g. negatives and ignored anchors).
        padding_value: scalar for masked rows and for an empty `targets`.

    Returns:
        [batch, num_rows] or [batch, num_rows, D], `targets`' dtype.
    """
    m_shape = check_shape("matched_columns", matched_columns,
                          "[num_rows] or [batch, num_rows]", allowed_ranks=(1, 2))
    t_shape = check_shape(
        "targets", targets,
        "[batch, num_cols] or [batch, num_cols, D]" if len(m_shape) == 2
        else "[num_cols] or [num_cols, D]",
        allowed_ranks=(len(m_shape), len(m_shape) + 1))
    if len(m_shape) == 2:
        check_same("targets", t_shape[0], "matched_columns", m_shape[0],
                   "Batch sizes")
    ops = ops_for(targets, matched_columns, mask)
    targets = ops.convert_to_tensor(targets)
    matched = ops.cast(ops.convert_to_tensor(matched_columns), "int32")
    has_depth = len(t_shape) > len(m_shape)
    col_axis = len(m_shape) - 1
    if t_shape[col_axis] == 0:
        out_shape = tuple(m_shape) + (tuple(t_shape[-1:]) if has_depth else ())
        return ops.full(out_shape, padding_value, targets.dtype)
    index = matched[..., None] if has_depth else matched
    gathered = ops.take_along_axis(targets, index, axis=col_axis)
    if mask is not None:
        mask = ops.cast(ops.convert_to_tensor(mask), "bool")
        if has_depth:
            mask = mask[..., None]
        gathered = ops.where(mask, ops.cast(padding_value, targets.dtype), gathered)
    return gathered


def label_anchors(anchors, gt_boxes, gt_classes, gt_mask=None,
                  match_threshold=0.5, unmatched_threshold=0.5,
                  force_match=True, box_weights=None):
    """RetinaNet-style anchor targets from ground truth.

    IoU >= `match_threshold`: positive; < `unmatched_threshold`: negative;
    in between: ignored; with `force_match`, each ground-truth box's best
    anchor is positive whatever its IoU.

    Args:
        anchors: [num_anchors, 4] float yxyx, or the dict `generate_anchors`
            returns.
        gt_boxes: [batch, max_gt, 4] float yxyx, padded.
        gt_classes: [batch, max_gt] int.
        gt_mask: optional [batch, max_gt] bool, False for padding rows.
        match_threshold: float.
        unmatched_threshold: float <= match_threshold.
        force_match: bool.
        box_weights: None or 4 floats for `encode_boxes`.

    Returns:
        dict with
        - "class_targets": [batch, num_anchors] int32, the class of positive
          anchors, -1 elsewhere;
        - "box_targets": [batch, num_anchors, 4] float32, encoded boxes of
          positive anchors, 0 elsewhere;
        - "class_weights": [batch, num_anchors] float32, 0 for ignored
          anchors, 1 otherwise;
        - "box_weights": [batch, num_anchors] float32, 1 for positives;
        - "matched_gt": [batch, num_anchors] int32 and
          "match_indicators": [batch, num_anchors] int32 (1 / -1 / -2).
    """
    if isinstance(anchors, dict):
        anchors = flatten_anchors(anchors)
    check_shape("anchors", anchors, "[num_anchors, 4]", allowed_ranks=(2,),
                last_dim=4)
    g_shape = check_shape("gt_boxes", gt_boxes, "[batch, max_gt, 4]",
                          allowed_ranks=(3,), last_dim=4)
    c_shape = check_shape("gt_classes", gt_classes, "[batch, max_gt]",
                          allowed_ranks=(2,))
    check_same("gt_boxes", g_shape[1], "gt_classes", c_shape[1], "max_gt")
    if unmatched_threshold > match_threshold:
        raise ArgumentError(
            f"`unmatched_threshold` ({unmatched_threshold}) must be <= "
            f"`match_threshold` ({match_threshold})."
        )
    return _label_anchors(anchors, gt_boxes, gt_classes, gt_mask,
                          match_threshold=float(match_threshold),
                          unmatched_threshold=float(unmatched_threshold),
                          force_match=bool(force_match),
                          box_weights=None if box_weights is None
                          else tuple(float(w) for w in box_weights))


@compiled
def _label_anchors(anchors, gt_boxes, gt_classes, gt_mask, match_threshold,
                   unmatched_threshold, force_match, box_weights):
    g_shape = static_shape(gt_boxes)
    ops = ops_for(anchors, gt_boxes, gt_classes, gt_mask)
    anchors = ops.cast(ops.convert_to_tensor(anchors), "float32")
    gt_boxes = ops.cast(ops.convert_to_tensor(gt_boxes), "float32")
    gt_classes = ops.cast(ops.convert_to_tensor(gt_classes), "int32")
    batch = g_shape[0] if g_shape[0] is not None else ops.shape(gt_boxes)[0]
    num_anchors = static_shape(anchors)[0]
    batched_anchors = ops.broadcast_to(anchors[None], (batch, num_anchors, 4))
    similarity = box_iou(batched_anchors, gt_boxes, mask_b=gt_mask)
    matched, indicator = match_boxes(
        similarity, thresholds=(unmatched_threshold, match_threshold),
        indicators=(NEGATIVE, IGNORE, POSITIVE),
        force_match_for_each_column=force_match, column_mask=gt_mask)
    positive = ops.equal(indicator, POSITIVE)
    not_positive = ops.logical_not(positive)
    class_targets = gather_targets(gt_classes, matched, not_positive, -1)
    matched_boxes = gather_targets(gt_boxes, matched, not_positive, 0.0)
    encoded = encode_boxes(matched_boxes, batched_anchors, box_weights)
    box_targets = ops.where(positive[..., None], encoded, 0.0)
    return {
        "class_targets": class_targets,
        "box_targets": box_targets,
        "class_weights": ops.cast(ops.not_equal(indicator, IGNORE), "float32"),
        "box_weights": ops.cast(positive, "float32"),
        "matched_gt": matched,
        "match_indicators": indicator,
    }
