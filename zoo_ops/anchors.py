"""Multilevel anchor boxes in the Model Garden's layout and order.

For each level l in [min_level, max_level] (stride 2**l), anchors sit at the
centres `stride / 2 + i * stride` of a feature map of
`ceil(image_size / stride)` cells. At each cell there are
`num_scales * len(aspect_ratios)` anchors, scales outer and aspect ratios
inner: scale s has side `anchor_size * stride * 2 ** (s / num_scales)`, and
aspect ratio r (width / height) stretches it to width `side * sqrt(r)` and
height `side / sqrt(r)`. This is `official/vision/ops/anchor.py`'s `Anchor`.
"""

import math

import numpy as np

from zoo_ops._backend import ops_for
from zoo_ops.errors import ArgumentError, ShapeError


def _check_config(image_size, min_level, max_level, num_scales, aspect_ratios,
                  anchor_size):
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in image_size)):
        raise ArgumentError(
            f"`image_size` must be (height, width) positive ints; received "
            f"{image_size!r}."
        )
    if not (isinstance(min_level, int) and isinstance(max_level, int)
            and 0 <= min_level <= max_level):
        raise ArgumentError(
            "`min_level` and `max_level` must be ints with 0 <= min_level <= "
            f"max_level; received {min_level!r} and {max_level!r}."
        )
    if not isinstance(num_scales, int) or num_scales < 1:
        raise ArgumentError(f"`num_scales` must be an int >= 1; received {num_scales!r}.")
    if not aspect_ratios or min(float(r) for r in aspect_ratios) <= 0:
        raise ArgumentError(
            "`aspect_ratios` must be a non-empty list of positive floats; "
            f"received {aspect_ratios!r}."
        )
    if anchor_size <= 0:
        raise ArgumentError(f"`anchor_size` must be > 0; received {anchor_size!r}.")


def anchor_grid_shapes(image_size, min_level=3, max_level=7):
    """Feature-map size of each level: {level: (ceil(h / 2**l), ceil(w / 2**l))}."""
    return {
        level: (math.ceil(image_size[0] / 2 ** level),
                math.ceil(image_size[1] / 2 ** level))
        for level in range(min_level, max_level + 1)
    }


def generate_anchors_numpy(image_size, min_level=3, max_level=7, num_scales=3,
                           aspect_ratios=(0.5, 1.0, 2.0), anchor_size=4.0):
    """`generate_anchors` as NumPy float32 arrays (no backend involved)."""
    _check_config(image_size, min_level, max_level, num_scales, aspect_ratios,
                  anchor_size)
    anchors = {}
    for level, (grid_h, grid_w) in anchor_grid_shapes(
            image_size, min_level, max_level).items():
        stride = 2.0 ** level
        centers_y = stride / 2 + stride * np.arange(grid_h, dtype=np.float64)
        centers_x = stride / 2 + stride * np.arange(grid_w, dtype=np.float64)
        half_sizes = []
        for scale in range(num_scales):
            side = anchor_size * stride * 2.0 ** (scale / num_scales)
            for ratio in aspect_ratios:
                half_sizes.append((side / math.sqrt(ratio) / 2,
                                   side * math.sqrt(ratio) / 2))
        half = np.asarray(half_sizes)                       # [A, 2] (h/2, w/2)
        cy = centers_y[:, None, None]
        cx = centers_x[None, :, None]
        boxes = np.stack(np.broadcast_arrays(
            cy - half[:, 0], cx - half[:, 1], cy + half[:, 0], cx + half[:, 1]
        ), axis=-1)                                         # [H, W, A, 4]
        anchors[level] = boxes.reshape(grid_h, grid_w, -1).astype(np.float32)
    return anchors


def generate_anchors(image_size, min_level=3, max_level=7, num_scales=3,
                     aspect_ratios=(0.5, 1.0, 2.0), anchor_size=4.0):
    """Multilevel anchors for an image size, keyed by level.

    Args:
        image_size: (height, width) ints, the model's input size.
        min_level: int, the finest pyramid level (stride 2**min_level).
        max_level: int, the coarsest pyramid level.
        num_scales: int, anchor scales per octave.
        aspect_ratios: floats, width / height of each anchor shape.
        anchor_size: float, anchor side at scale 0 in units of the stride.

    Returns:
        dict level (int) -> [grid_h, grid_w, num_anchors_per_location * 4]
        float32, yxyx absolute pixels, scales outer and aspect ratios inner.
        `flatten_anchors` turns it into the [num_anchors, 4] list the
        labeler and the detection heads use.
    """
    anchors = generate_anchors_numpy(image_size, min_level, max_level,
                                     num_scales, aspect_ratios, anchor_size)
    ops = ops_for()
    return {level: ops.convert_to_tensor(a) for level, a in anchors.items()}


def flatten_anchors(multilevel_anchors):
    """dict level -> [h, w, A * 4] anchors -> one [num_anchors, 4] tensor.

    Levels are concatenated in increasing order; within a level the order is
    row, column, anchor (the order of a detection head's reshaped outputs).
    """
    if not isinstance(multilevel_anchors, dict) or not multilevel_anchors:
        raise ArgumentError(
            "`multilevel_anchors` must be a non-empty dict level -> "
            f"[h, w, A * 4] tensor; received {type(multilevel_anchors).__name__}."
        )
    values = [multilevel_anchors[k] for k in sorted(multilevel_anchors, key=int)]
    ops = ops_for(values)
    return ops.concatenate(
        [ops.reshape(ops.convert_to_tensor(v), (-1, 4)) for v in values], axis=0
    )


def unflatten_anchor_targets(values, multilevel_anchors, batched=True):
    """Splits per-anchor values back into pyramid levels.

    Args:
        values: [batch, num_anchors, ...] (or [num_anchors, ...] when
            `batched` is False), in `flatten_anchors` order.
        multilevel_anchors: the dict `generate_anchors` returned.
        batched: whether `values` has a leading batch axis.

    Returns:
        dict level -> [batch, grid_h, grid_w, A * D] (or without batch),
        where D is the product of the trailing axes (1 when there are none).
    """
    ops = ops_for(values)
    values = ops.convert_to_tensor(values)
    axis = 1 if batched else 0
    total = sum(
        int(np.prod(tuple(a.shape))) // 4 for a in multilevel_anchors.values()
    )
    if tuple(values.shape)[axis] != total:
        raise ShapeError(
            f"`values` must have {total} anchors on axis {axis}; received "
            f"shape {list(values.shape)}."
        )
    out, start = {}, 0
    for level in sorted(multilevel_anchors, key=int):
        grid_h, grid_w, a4 = tuple(multilevel_anchors[level].shape)
        count = grid_h * grid_w * (a4 // 4)
        if batched:
            part = values[:, start:start + count]
            out[level] = ops.reshape(part, (-1, grid_h, grid_w, count // (grid_h * grid_w)
                                            * _trailing(values, 2)))
        else:
            part = values[start:start + count]
            out[level] = ops.reshape(part, (grid_h, grid_w, count // (grid_h * grid_w)
                                            * _trailing(values, 1)))
        start += count
    return out


def _trailing(values, first):
    return int(np.prod(tuple(values.shape)[first:], dtype=np.int64))
