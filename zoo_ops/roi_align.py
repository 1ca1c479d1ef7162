"""RoIAlign: bilinear crops of feature maps, single level and FPN multilevel.

Semantics are Detectron2's / torchvision's `RoIAlign`: an RoI is split into
`output_size x output_size` bins, each bin averages `sampling_ratio**2`
bilinear samples at the centres of a regular sub-grid. With `aligned=True`
box corners are shifted by half a pixel so that pixel centres sit at
integer + 0.5 coordinates; samples up to one pixel outside the map are
clamped to its edge, samples further out read 0.

Both implementations compute the same sample coordinates:

- TensorFlow: `tf.image.crop_and_resize` on the map padded by one replicated
  edge pixel (which is exactly the clamping rule), one call per level after
  `tf.dynamic_partition` of the boxes by level, then average pooling.
- keras.ops: one gather of the 2 x 2 neighbours of every sample from all
  levels flattened together, and two small contractions with the bilinear
  weights (static shapes, jit-compiles).

Multilevel assignment is the FPN rule (Lin et al., 2017, eq. 1):
`level = floor(canonical_level + log2(sqrt(h * w) / canonical_size))`,
clipped to the levels present.
"""

from zoo_ops._backend import (
    compiled, ops_for, static_shape, tensorflow, uses_tensorflow,
)
from zoo_ops.errors import ArgumentError, ShapeError, check_shape

_IMPLEMENTATIONS = ("auto", "tensorflow", "keras")


def assign_fpn_levels(boxes, min_level, max_level, canonical_size=224.0,
                      canonical_level=4):
    """FPN level of each box: floor(k0 + log2(sqrt(area) / canonical_size)).

    Args:
        boxes: [..., 4] float, yxyx, image pixels.
        min_level: int, lowest level returned.
        max_level: int, highest level returned.
        canonical_size: float, box side that maps to `canonical_level`
            (224, the ImageNet pre-training size).
        canonical_level: int, level of a canonical-size box (4).

    Returns:
        [...] int32 levels in [min_level, max_level].
    """
    check_shape("boxes", boxes, "[..., 4]", last_dim=4)
    ops = ops_for(boxes)
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    return _levels(ops, boxes, min_level, max_level, canonical_size,
                   canonical_level)


def _levels(ops, boxes, min_level, max_level, canonical_size, canonical_level):
    height = ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0)
    width = ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
    side = ops.maximum(ops.sqrt(height * width), 1e-6)
    level = ops.floor(canonical_level + ops.log2(side / canonical_size))
    level = ops.clip(level, float(min_level), float(max_level))
    return ops.cast(level, "int32")


def _parse_features(features):
    if not isinstance(features, dict) or not features:
        raise ArgumentError(
            "`features` must be a non-empty dict level -> [batch, H, W, C] "
            f"tensor; received {type(features).__name__}."
        )
    by_level = {}
    for key, value in features.items():
        try:
            level = int(str(key).lstrip("Pp"))
        except ValueError:
            raise ArgumentError(
                f"`features` keys must be pyramid levels (3, '3' or 'P3'); "
                f"received {key!r}."
            ) from None
        check_shape(f"features[{key!r}]", value, "[batch, height, width, channels]",
                    allowed_ranks=(4,))
        by_level[level] = value
    levels = sorted(by_level)
    if levels != list(range(levels[0], levels[-1] + 1)):
        raise ArgumentError(
            f"`features` levels must be consecutive; received {levels}."
        )
    channels = {static_shape(by_level[l])[3] for l in levels}
    if len(channels) > 1:
        raise ShapeError(
            f"All `features` levels must have the same channels; received {sorted(channels)}."
        )
    return levels, [by_level[l] for l in levels]


def _check_sampling(output_size, sampling_ratio):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2 or output_size[0] != output_size[1]:
            raise ArgumentError(
                f"`output_size` must be an int or a square (n, n); received {output_size!r}."
            )
        output_size = output_size[0]
    if not isinstance(output_size, int) or output_size < 1:
        raise ArgumentError(f"`output_size` must be an int >= 1; received {output_size!r}.")
    if not isinstance(sampling_ratio, int) or sampling_ratio < 1:
        raise ArgumentError(
            "`sampling_ratio` must be an int >= 1 (static shapes rule out the "
            f"adaptive <= 0 setting); received {sampling_ratio!r}."
        )
    return output_size


def multilevel_roi_align(features, boxes, output_size=7, sampling_ratio=2,
                         aligned=True, canonical_size=224.0, canonical_level=4,
                         implementation="auto"):
    """RoIAlign on an FPN: each box is cropped from its FPN level.

    Args:
        features: dict level -> [batch, H_l, W_l, C] float, level l having
            stride 2**l (keys 3, "3" or "P3"; levels consecutive).
        boxes: [batch, num_boxes, 4] float32, yxyx, input-image pixels.
        output_size: int, side of the output crop.
        sampling_ratio: int >= 1, samples per bin side.
        aligned: half-pixel shift (True, Detectron2's `aligned=True`); False
            is the legacy behaviour (no shift, RoIs at least 1 pixel).
        canonical_size: float, FPN rule's canonical box side (224).
        canonical_level: int, FPN rule's canonical level (4).
        implementation: "auto" (TensorFlow on the TensorFlow backend or for
            tf.Tensors, keras.ops otherwise), "tensorflow" or "keras".

    Returns:
        [batch, num_boxes, output_size, output_size, C] float32.
    """
    levels, maps = _parse_features(features)
    box_shape = check_shape("boxes", boxes, "[batch, num_boxes, 4] (yxyx)",
                            allowed_ranks=(3,), last_dim=4)
    output_size = _check_sampling(output_size, sampling_ratio)
    return _roi_align(maps, boxes, box_shape, levels, output_size,
                      sampling_ratio, aligned, implementation,
                      fpn=(canonical_size, canonical_level))


def roi_align(features, boxes, output_size=7, sampling_ratio=2,
              spatial_scale=1.0, aligned=True, implementation="auto"):
    """RoIAlign on one feature map.

    Args:
        features: [batch, H, W, C] float.
        boxes: [batch, num_boxes, 4] float32, yxyx, in units such that
            `boxes * spatial_scale` are feature-map pixels.
        output_size: int, side of the output crop.
        sampling_ratio: int >= 1, samples per bin side.
        spatial_scale: float, e.g. 1/16 for a stride-16 map.
        aligned: half-pixel shift (see `multilevel_roi_align`).
        implementation: "auto", "tensorflow" or "keras".

    Returns:
        [batch, num_boxes, output_size, output_size, C] float32.
    """
    check_shape("features", features, "[batch, height, width, channels]",
                allowed_ranks=(4,))
    box_shape = check_shape("boxes", boxes, "[batch, num_boxes, 4] (yxyx)",
                            allowed_ranks=(3,), last_dim=4)
    output_size = _check_sampling(output_size, sampling_ratio)
    return _roi_align([features], boxes, box_shape, [0], output_size,
                      sampling_ratio, aligned, implementation,
                      scale=float(spatial_scale))


def _roi_align(maps, boxes, box_shape, levels, output_size, sampling_ratio,
               aligned, implementation, fpn=None, scale=None):
    if implementation not in _IMPLEMENTATIONS:
        raise ArgumentError(
            f"`implementation` must be one of {_IMPLEMENTATIONS}; received "
            f"{implementation!r}."
        )
    if implementation == "auto":
        implementation = ("tensorflow" if uses_tensorflow(maps, boxes)
                          else "keras")
    heights = [static_shape(m)[1] for m in maps]
    widths = [static_shape(m)[2] for m in maps]
    if any(v is None for v in heights + widths):
        raise ShapeError("`features` maps need static heights and widths.")
    static = dict(levels=tuple(levels), output_size=output_size,
                  sampling_ratio=sampling_ratio, aligned=bool(aligned), fpn=fpn,
                  scale=scale, tensorflow_kernel=implementation == "tensorflow")
    if implementation == "tensorflow":
        tf = tensorflow()
        maps = [tf.cast(tf.convert_to_tensor(m), tf.float32) for m in maps]
        boxes = tf.cast(tf.convert_to_tensor(boxes), tf.float32)
        return _roi_align_impl(maps, boxes, **static)
    return _roi_align_compiled(maps, boxes, **static)


def _roi_align_impl(maps, boxes, levels, output_size, sampling_ratio, aligned,
                    fpn, scale, tensorflow_kernel):
    heights = [static_shape(m)[1] for m in maps]
    widths = [static_shape(m)[2] for m in maps]
    channels = static_shape(maps[0])[3]
    batch, num_boxes = static_shape(boxes)[:2]
    ops = ops_for(maps, boxes)
    if not tensorflow_kernel:
        maps = [ops.cast(ops.convert_to_tensor(m), "float32") for m in maps]
        boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    if batch is None:
        batch = ops.shape(boxes)[0]
    if num_boxes == 0:
        return ops.zeros((batch, 0, output_size, output_size, channels),
                         "float32")
    if fpn is not None:
        level = _levels(ops, boxes, levels[0], levels[-1], *fpn)
        level_index = level - levels[0]
        box_scale = ops.power(2.0, -ops.cast(level, "float32"))
    else:
        level_index = ops.zeros_like(boxes[..., 0], dtype="int32")
        box_scale = ops.full_like(boxes[..., 0], scale)
    height = ops.take(ops.convert_to_tensor(heights, "float32"), level_index)
    width = ops.take(ops.convert_to_tensor(widths, "float32"), level_index)
    samples = output_size * sampling_ratio
    crop_boxes = _crop_boxes(ops, boxes, box_scale, height, width, samples,
                             aligned)
    if tensorflow_kernel:
        return _roi_align_tensorflow(maps, crop_boxes, level_index, batch,
                                     num_boxes, output_size, sampling_ratio)
    return _roi_align_keras(ops, maps, crop_boxes, level_index, height, width,
                            heights, widths, batch, num_boxes, output_size,
                            sampling_ratio)


_roi_align_compiled = compiled(_roi_align_impl)


def _crop_boxes(ops, boxes, box_scale, height, width, samples, aligned):
    """Normalised boxes for crop_and_resize on edge-padded maps.

    The first and last sample of a box of side `size` starting at `start`
    (feature pixels) sit at start + 0.5 * size / n and
    start + (n - 0.5) * size / n; on a map padded by one pixel they move by +1,
    and crop_and_resize's normalised coordinates divide by (padded size - 1).
    """
    offset = 0.5 if aligned else 0.0
    coords = []
    for lo, hi, size in ((0, 2, height), (1, 3, width)):
        start = boxes[..., lo] * box_scale - offset
        extent = boxes[..., hi] * box_scale - offset - start
        if not aligned:
            extent = ops.maximum(extent, 1.0)
        first = start + 0.5 * extent / samples + 1.0
        last = start + (samples - 0.5) * extent / samples + 1.0
        coords.append((first / (size + 1.0), last / (size + 1.0)))
    (y1, y2), (x1, x2) = coords
    return ops.stack([y1, x1, y2, x2], axis=-1)


def _roi_align_tensorflow(maps, crop_boxes, level_index, batch, num_boxes,
                          output_size, sampling_ratio):
    tf = tensorflow()
    samples = output_size * sampling_ratio
    flat_boxes = tf.reshape(crop_boxes, [-1, 4])
    flat_level = tf.reshape(level_index, [-1])
    box_batch = tf.reshape(
        tf.broadcast_to(tf.range(batch, dtype=tf.int32)[:, None],
                        [batch, num_boxes]), [-1])
    positions = tf.range(tf.size(flat_level), dtype=tf.int32)
    num_levels = len(maps)
    part_boxes = tf.dynamic_partition(flat_boxes, flat_level, num_levels)
    part_batch = tf.dynamic_partition(box_batch, flat_level, num_levels)
    part_positions = tf.dynamic_partition(positions, flat_level, num_levels)
    crops = []
    for feature_map, level_boxes, level_batch in zip(maps, part_boxes,
                                                     part_batch):
        padded = tf.pad(feature_map, [[0, 0], [1, 1], [1, 1], [0, 0]],
                        mode="SYMMETRIC")
        crop = tf.image.crop_and_resize(padded, level_boxes, level_batch,
                                        [samples, samples])
        channels = feature_map.shape[-1]
        crop = tf.reshape(crop, [-1, output_size, sampling_ratio, output_size,
                                 sampling_ratio, channels])
        crops.append(tf.reduce_mean(crop, axis=[2, 4]))
    merged = tf.dynamic_stitch(part_positions, crops)
    channels = maps[0].shape[-1]
    return tf.reshape(merged, [batch, num_boxes, output_size, output_size,
                               channels])


def _axis_samples(ops, lo, hi, size, samples):
    """crop_and_resize's sample coordinates along one axis, on padded maps.

    Returns the (top, bottom) padded indices [B, K, n] int32 and the
    interpolation weights of each (0 outside the padded map).
    """
    padded_extent = size + 1.0                                  # size + 2 - 1
    step = ops.arange(samples, dtype="float32")
    if samples > 1:
        scale = (hi - lo) * padded_extent / (samples - 1)
        coord = lo[..., None] * padded_extent[..., None] + step * scale[..., None]
    else:
        coord = (0.5 * (lo + hi) * padded_extent)[..., None]
    inside = ops.logical_and(coord >= 0.0, coord <= padded_extent[..., None])
    top = ops.floor(coord)
    bottom = ops.ceil(coord)
    lerp = coord - top
    zero = ops.zeros_like(lerp)
    w_top = ops.where(inside, 1.0 - lerp, zero)
    w_bottom = ops.where(inside, lerp, zero)
    return (ops.cast(top, "int32"), ops.cast(bottom, "int32"), w_top, w_bottom)


def _roi_align_keras(ops, maps, crop_boxes, level_index, height, width,
                     heights, widths, batch, num_boxes, output_size,
                     sampling_ratio):
    samples = output_size * sampling_ratio
    channels = static_shape(maps[0])[3]
    # All levels of all images in one [batch * total, C] table.
    sizes = [h * w for h, w in zip(heights, widths)]
    total = sum(sizes)
    offsets = [0]
    for size in sizes[:-1]:
        offsets.append(offsets[-1] + size)
    table = ops.concatenate(
        [ops.reshape(m, (batch, size, channels)) for m, size in zip(maps, sizes)],
        axis=1)
    table = ops.reshape(table, (-1, channels))
    base = (ops.take(ops.convert_to_tensor(offsets, "int32"), level_index)
            + ops.arange(batch, dtype="int32")[:, None] * total)   # [B, K]
    y_top, y_bottom, wy_top, wy_bottom = _axis_samples(
        ops, crop_boxes[..., 0], crop_boxes[..., 2], height, samples)
    x_left, x_right, wx_left, wx_right = _axis_samples(
        ops, crop_boxes[..., 1], crop_boxes[..., 3], width, samples)
    # Padded index p is unpadded row clip(p - 1, 0, size - 1): the edge pad.
    max_row = ops.cast(height, "int32")[..., None] - 1
    max_col = ops.cast(width, "int32")[..., None] - 1
    row_stride = ops.cast(width, "int32")[..., None, None]         # [B, K, 1, 1]
    base = base[..., None, None]
    # Each sample is the weighted sum of its 4 neighbours: 4 gathers of
    # [B, K, n, n] rows of C, fused with the weighting (no larger buffer).
    value = None
    for row, wy in ((y_top, wy_top), (y_bottom, wy_bottom)):
        row = ops.clip(row - 1, 0, max_row)[..., :, None]
        for col, wx in ((x_left, wx_left), (x_right, wx_right)):
            col = ops.clip(col - 1, 0, max_col)[..., None, :]
            weight = (wy[..., :, None] * wx[..., None, :])[..., None]
            term = weight * ops.take(table, base + row * row_stride + col, axis=0)
            value = term if value is None else value + term
    value = ops.reshape(value, (batch, num_boxes, output_size, sampling_ratio,
                                output_size, sampling_ratio, channels))
    return ops.mean(value, axis=(3, 5))
