"""Pasting fixed-size instance masks into image coordinates."""

from zoo_ops._backend import ops_for
from zoo_ops.errors import ArgumentError, check_same, check_shape


def _interpolation_weights(ops, start, end, mask_size, image_size):
    """[..., image_size, mask_size] bilinear weights along one axis.

    Output pixel i (centre i + 0.5) samples the mask at
    u = (i + 0.5 - start) / (end - start) * mask_size - 0.5; the weight of
    mask cell m is the hat function max(0, 1 - |u - m|), which is bilinear
    interpolation with zeros outside the mask.
    """
    pixel = ops.arange(image_size, dtype="float32") + 0.5
    extent = ops.maximum(end - start, 1e-6)
    u = ((pixel - start[..., None]) / extent[..., None]) * mask_size - 0.5
    cells = ops.arange(mask_size, dtype="float32")
    return ops.relu(1.0 - ops.abs(u[..., :, None] - cells))


def paste_masks(masks, boxes, image_size, threshold=None):
    """Resamples per-box masks into full-image masks.

    Each `mask_h x mask_w` mask covers its box; it is resampled bilinearly
    (mask cells are pixel-area samples, as Detectron2's `paste_masks_in_image`
    treats them) onto the image grid, zero outside the box.

    Args:
        masks: [batch, num_boxes, mask_h, mask_w] or [num_boxes, mask_h,
            mask_w] float, probabilities or logits.
        boxes: [batch, num_boxes, 4] or [num_boxes, 4] float, yxyx, image
            pixels.
        image_size: (height, width) ints.
        threshold: None to return the resampled values, or a float to return
            `values >= threshold` as bool.

    Returns:
        [batch, num_boxes, height, width] (or without batch) float32, or bool
        when `threshold` is given.
    """
    m_shape = check_shape("masks", masks,
                          "[batch, num_boxes, mask_h, mask_w] or [num_boxes, mask_h, mask_w]",
                          allowed_ranks=(3, 4))
    b_shape = check_shape("boxes", boxes,
                          "[batch, num_boxes, 4]" if len(m_shape) == 4 else "[num_boxes, 4]",
                          allowed_ranks=(len(m_shape) - 1,), last_dim=4)
    check_same("masks", m_shape[-3], "boxes", b_shape[-2], "Box counts")
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, int) and s > 0 for s in image_size)):
        raise ArgumentError(
            f"`image_size` must be (height, width) positive ints; received {image_size!r}.")
    ops = ops_for(masks, boxes)
    masks = ops.cast(ops.convert_to_tensor(masks), "float32")
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    mask_h, mask_w = m_shape[-2], m_shape[-1]
    height, width = image_size
    wy = _interpolation_weights(ops, boxes[..., 0], boxes[..., 2], mask_h, height)
    wx = _interpolation_weights(ops, boxes[..., 1], boxes[..., 3], mask_w, width)
    pasted = ops.einsum("...hm,...mn,...wn->...hw", wy, masks, wx)
    if threshold is not None:
        return pasted >= threshold
    return pasted
