"""Anchor layouts: the Model Garden's and those of detectors zoo converts.

`flat_anchors` is the one place a detector or its training data gets its
anchors from. The Model Garden's anchors (zoo's default) are
`zoo_ops.generate_anchors`.
keras-hub's `AnchorGenerator` (keras-hub 0.32,
`keras_hub/src/layers/modeling/anchor_generator.py`) lays them out
otherwise, and a converted keras-hub detector needs exactly its anchors:
centres at `i * stride` (the Model Garden's are at `(i + 0.5) * stride`),
sizes `int(2**level * anchor_size * 2**(scale / num_scales))`, the height
`size * sqrt(ratio)` and the width `size / sqrt(ratio)`, corners rounded,
and per location the aspect ratios outermost, the scales inner.
"""

import math

import numpy as np

ANCHOR_STYLES = ("model_garden", "keras_hub")


def flat_anchors(image_size, *, style="model_garden", min_level, max_level,
                 num_scales, aspect_ratios, anchor_size):
    """Every anchor of an input size, levels concatenated.

    Args:
        image_size: `(height, width)` of the input.
        style: one of `ANCHOR_STYLES`: `"model_garden"`
            (`zoo_ops.generate_anchors_numpy`, in the order of
            `zoo_ops.flatten_anchors`) or `"keras_hub"` (`keras_hub_anchors`).
        min_level, max_level, num_scales, aspect_ratios, anchor_size: the
            anchor configuration.

    Returns:
        `(anchors, level_sizes)`: `[N, 4]` float32 yxyx in input pixels and
        the anchor count of each level.

    Raises:
        ValueError: an unknown style.
    """
    config = dict(min_level=min_level, max_level=max_level,
                  num_scales=num_scales,
                  aspect_ratios=tuple(float(r) for r in aspect_ratios),
                  anchor_size=float(anchor_size))
    if style == "keras_hub":
        return keras_hub_anchors(image_size, **config)
    if style != "model_garden":
        raise ValueError(f"anchor_style={style!r} is not one of "
                         f"{list(ANCHOR_STYLES)}.")
    import zoo_ops

    anchors = zoo_ops.generate_anchors_numpy(image_size, **config)
    levels = sorted(anchors)
    return (np.concatenate([anchors[level].reshape(-1, 4)
                            for level in levels]),
            [anchors[level].size // 4 for level in levels])


def keras_hub_anchors(image_size, *, min_level, max_level, num_scales,
                      aspect_ratios, anchor_size):
    """keras-hub's anchors, flattened.

    Args:
        image_size: `(height, width)` of the input.
        min_level, max_level, num_scales, aspect_ratios, anchor_size: as
            keras-hub's `AnchorGenerator` takes them.

    Returns:
        `(anchors, level_sizes)`: `[N, 4]` float32 yxyx in input pixels, in
        keras-hub's order (levels, then locations row by row, then the
        anchors of a location), and the anchor count of each level.
    """
    height, width = (int(s) for s in image_size)
    ratios = np.asarray(aspect_ratios, "float32")
    h_ratios = np.sqrt(ratios)
    w_ratios = np.float32(1.0) / h_ratios
    all_anchors, sizes_per_level = [], []
    for level in range(min_level, max_level + 1):
        rows = math.ceil(height / 2 ** level)
        cols = math.ceil(width / 2 ** level)
        cy = np.arange(rows, dtype="float32") * (height // rows)
        cx = np.arange(cols, dtype="float32") * (width // cols)
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        sizes = np.asarray(
            [int(2 ** level * anchor_size * 2 ** (s / num_scales))
             for s in range(num_scales)], "float32")
        ws = (w_ratios[:, None] * sizes[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * sizes[None, :]).reshape(-1)
        base = np.round(np.stack([-hs, -ws, hs, ws], axis=1) / 2)
        centres = np.stack([cy.ravel(), cx.ravel()] * 2, axis=1)
        anchors = (centres[:, None, :] + base[None]).reshape(-1, 4)
        all_anchors.append(anchors.astype("float32"))
        sizes_per_level.append(len(anchors))
    return np.concatenate(all_anchors), sizes_per_level
