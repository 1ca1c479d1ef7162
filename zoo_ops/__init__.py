"""zoo_ops: the specialised ops detection, segmentation and generation need.

Boxes, IoU, anchors, matching and sampling, NMS, RoIAlign, mask pasting,
detection losses and decoding, over `keras.ops`. Where TensorFlow has a tuned
kernel (NMS, crop-and-resize) the TensorFlow backend uses it; other backends
run a vectorised static-shape `keras.ops` version that jit-compiles; and
`tf.Tensor`s in a `tf.data` map go through TensorFlow whatever the backend.

```python
import numpy as np
import zoo_ops

boxes = np.array([[[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]], "float32")
scores = np.array([[0.9, 0.8, 0.7]], "float32")
indices, num_valid = zoo_ops.non_max_suppression_padded(boxes, scores, 2)
```
"""

from zoo_ops.anchors import (
    anchor_grid_shapes,
    flatten_anchors,
    generate_anchors,
    generate_anchors_numpy,
    unflatten_anchor_targets,
)
from zoo_ops.boxes import (
    BOX_FORMATS,
    box_area,
    clip_boxes,
    convert_boxes,
    decode_boxes,
    denormalize_boxes,
    encode_boxes,
    filter_small_boxes,
    jitter_boxes,
    normalize_boxes,
)
from zoo_ops.decoding import (
    attention_mask,
    beam_search,
    causal_attention_mask,
    compile_decoding,
    filter_top_k,
    filter_top_p,
    generate,
    length_penalty,
    padding_attention_mask,
    sample_logits,
)
from zoo_ops.errors import ArgumentError, ShapeError, ZooOpsError
from zoo_ops.iou import box_iou, generalized_box_iou
from zoo_ops.losses import GIoULoss, SigmoidFocalLoss, SmoothL1Loss, sigmoid_focal_loss
from zoo_ops.masks import paste_masks
from zoo_ops.matching import (
    IGNORE,
    NEGATIVE,
    POSITIVE,
    gather_targets,
    label_anchors,
    match_boxes,
)
from zoo_ops.nms import combined_non_max_suppression, non_max_suppression_padded
from zoo_ops.pointwise import channel_moments, pointwise_conv2d
from zoo_ops.roi_align import assign_fpn_levels, multilevel_roi_align, roi_align
from zoo_ops.sampling import balanced_sample

__all__ = [
    "ArgumentError", "BOX_FORMATS", "GIoULoss", "IGNORE", "NEGATIVE",
    "POSITIVE", "ShapeError", "SigmoidFocalLoss", "SmoothL1Loss",
    "ZooOpsError", "anchor_grid_shapes", "assign_fpn_levels",
    "attention_mask", "balanced_sample", "beam_search", "box_area",
    "box_iou", "causal_attention_mask", "channel_moments", "clip_boxes", "compile_decoding",
    "combined_non_max_suppression", "convert_boxes", "decode_boxes",
    "denormalize_boxes", "encode_boxes", "filter_small_boxes",
    "filter_top_k", "filter_top_p", "flatten_anchors", "gather_targets",
    "generalized_box_iou", "generate", "generate_anchors",
    "generate_anchors_numpy", "jitter_boxes", "label_anchors",
    "length_penalty", "match_boxes", "multilevel_roi_align",
    "non_max_suppression_padded", "normalize_boxes",
    "padding_attention_mask", "paste_masks", "pointwise_conv2d", "roi_align", "sample_logits",
    "sigmoid_focal_loss", "unflatten_anchor_targets",
]
