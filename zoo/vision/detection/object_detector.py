"""Object detection: a backbone, an FPN, a RetinaNet head and the decoding
of its outputs into boxes after NMS.

```python
import numpy as np
import zoo

det = zoo.create_model("resnet18", task="object_detector", num_classes=3,
                       image_size=(128, 128), decoder_filters=16,
                       head_filters=16, head_num_convs=1,
                       stage_filters=(8, 8, 8, 8))
det.preprocessor = zoo.DetectionPreprocessor(image_size=(128, 128))
images = np.random.default_rng(0).integers(0, 256, (2, 100, 160, 3), "uint8")
out = det.predict(images, verbose=0)   # boxes in the 100x160 images' pixels
print(out["boxes"].shape, out["classes"].shape)  # -> (2, 100, 4) (2, 100)
```

`model(images)` (what `fit` trains) returns the head's raw outputs for
every anchor, levels concatenated in the order of `zoo_ops.flatten_anchors`:
`{"cls_outputs": [B, num_anchors, num_classes] logits, "box_outputs":
[B, num_anchors, 4]}` box offsets (`zoo_ops.encode_boxes`). `predict` and
`detect` return the detections: `{"boxes": [B, max_num_detections, 4]`
yxyx, `"scores"`, `"classes"` (-1 past the detections), `"num_detections"`}.
"""

import keras
import numpy as np

import zoo_ops
from zoo_ops._backend import ops_for
from zoo.backbone import check_model_kwargs
from zoo.registry import register_task_model
from zoo.task import Task
from zoo.vision.detection.anchors import ANCHOR_STYLES, flat_anchors
from zoo.vision.detection.fpn import build_fpn
from zoo.vision.detection.heads import build_retinanet_head
from zoo.vision.detection.losses import (
    BOX_LOSS_WEIGHT,
    FOCAL_ALPHA,
    FOCAL_GAMMA,
    HUBER_DELTA,
    RetinaNetLoss,
    retinanet_loss,
)
from zoo.vision.detection.preprocessing import DetectionPreprocessor


@register_task_model("object_detector")
@keras.saving.register_keras_serializable(package="zoo")
class ObjectDetector(Task):
    """RetinaNet on any zoo backbone with a feature pyramid.

    Defaults are the Model Garden's (`official/vision/configs/retinanet.py`:
    `RetinaNet`, `Anchor`, `RetinaNetHead`, `DetectionGenerator`;
    `decoders.FPN`; `common.NormActivation`).

    Args:
        backbone: a zoo `Backbone` with `pyramid_outputs` (`C3`.. at strides
            8..), at a fixed input size or with `image_size` given.
        num_classes: int, classes scored per anchor (sigmoid; the Model
            Garden's COCO models use 91, id 0 unused).
        image_size: `(height, width)` of the input, multiples of
            `2 ** max_level`; default the backbone's input size.
        min_level, max_level: pyramid levels of the FPN and the head.
        num_scales, aspect_ratios, anchor_size: the anchors
            (`zoo_ops.generate_anchors`).
        decoder_filters: channels of the FPN.
        fusion_type: `"sum"` or `"concat"` (the FPN's top-down fusion).
        use_separable_conv: separable convolutions in the FPN (and the
            head, unless `head_use_separable_conv` says otherwise).
        head_num_convs, head_filters: the head's towers.
        head_use_separable_conv: separable convolutions in the head; None:
            as `use_separable_conv`.
        activation: of the towers and between the coarser FPN levels.
        norm_momentum, norm_epsilon: of the FPN's and the head's batch norms.
        pre_nms_top_k: candidates kept per level before NMS, by score over
            every (anchor, class) pair.
        pre_nms_score_threshold: candidates scoring at most this are dropped.
        nms_iou_threshold: class-wise NMS threshold.
        max_num_detections: detections per image.
        fpn_norm, fpn_coarser_input: `build_fpn`'s `use_norm` and
            `coarser_input`.
        head_norm: `build_retinanet_head`'s `norm`.
        anchor_style: `"model_garden"` (`zoo_ops.generate_anchors`) or
            `"keras_hub"` (`zoo.vision.detection.anchors`).
        nms_class_agnostic: score each anchor by its best class and run
            one NMS over every class (the Model Garden's
            `use_class_agnostic_nms`; keras-hub's `NonMaxSuppression`);
            else class-wise NMS over (anchor, class) pairs.
        clip_boxes: clip decoded boxes to the image before NMS (keras-hub
            does not).
        The last six default to the Model Garden's RetinaNet; keras-hub's
        `RetinaNetObjectDetector` is `fpn_norm=False`, `head_norm="none"`
        (or `"group"`), `anchor_style="keras_hub"`,
        `nms_class_agnostic=True`, `clip_boxes=False` (and
        `fpn_coarser_input="c5"` for its `use_p5`).
        preprocessor: a `DetectionPreprocessor` (`predict` then takes raw
            images of any size and returns boxes in their pixels).
        dtype: dtype policy of the decoder and head.
    """

    #: What benchmarks measure it against (`benchmarks/peers/retinanet.py`).
    peer_family = "retinanet"

    def __init__(self, backbone, num_classes, image_size=None, min_level=3,
                 max_level=7, num_scales=3, aspect_ratios=(0.5, 1.0, 2.0),
                 anchor_size=4.0, decoder_filters=256, fusion_type="sum",
                 use_separable_conv=False, head_num_convs=4, head_filters=256,
                 head_use_separable_conv=None,
                 activation="relu", norm_momentum=0.99, norm_epsilon=1e-3,
                 pre_nms_top_k=5000, pre_nms_score_threshold=0.05,
                 nms_iou_threshold=0.5, max_num_detections=100,
                 fpn_norm=True, fpn_coarser_input="p5", head_norm="batch",
                 anchor_style="model_garden", nms_class_agnostic=False,
                 clip_boxes=True, preprocessor=None, dtype=None, **kwargs):
        check_model_kwargs(type(self), kwargs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("ObjectDetector: num_classes must be a positive "
                             f"int, got {num_classes!r}.")
        pyramid = getattr(backbone, "pyramid_outputs", None)
        if not pyramid:
            raise ValueError(
                f"ObjectDetector needs a backbone with a feature pyramid "
                f"(`pyramid_outputs`); {backbone.name} has none.")
        data_format = getattr(backbone, "data_format", None)
        input_shape = tuple(backbone.inputs[0].shape[1:])
        spatial = (input_shape[1:3] if data_format == "channels_first"
                   else input_shape[:2])
        if image_size is None:
            if None in spatial:
                raise ValueError(
                    "ObjectDetector: the anchors need a fixed input size; "
                    f"{backbone.name} takes {input_shape}. Pass image_size "
                    "or build the backbone with input_shape=(H, W, 3).")
            image_size = spatial
        image_size = tuple(int(s) for s in image_size)
        # The Model Garden's anchors need every level's grid exact;
        # keras-hub's round the levels above the backbone's up, so only the
        # top-down path (to the backbone's last level) must divide.
        top = max_level
        if anchor_style == "keras_hub":
            top = min(max_level, max(int(str(k).lstrip("CP"))
                                     for k in pyramid))
        stride = 2 ** top
        if len(image_size) != 2 or any(s % stride for s in image_size):
            raise ValueError(
                f"ObjectDetector: image_size {image_size} must be (height, "
                f"width) multiples of 2**{top} = {stride}.")
        for known, wanted in zip(spatial, image_size):
            if known is not None and known != wanted:
                raise ValueError(
                    f"ObjectDetector: image_size {image_size} differs from "
                    f"{backbone.name}'s input {input_shape}.")
        self._anchor_config = dict(
            min_level=min_level, max_level=max_level, num_scales=num_scales,
            aspect_ratios=tuple(float(r) for r in aspect_ratios),
            anchor_size=float(anchor_size))
        if anchor_style not in ANCHOR_STYLES:
            raise ValueError(f"ObjectDetector: anchor_style={anchor_style!r}"
                             f" is not one of {list(ANCHOR_STYLES)}.")
        anchors, level_sizes = flat_anchors(
            image_size, style=anchor_style, **self._anchor_config)
        num_anchors = num_scales * len(aspect_ratios)

        channels = (input_shape[0] if data_format == "channels_first"
                    else input_shape[-1]) or 3
        shape = ((channels,) + image_size if data_format == "channels_first"
                 else image_size + (channels,))
        images = keras.Input(shape=shape, name="images")
        if getattr(backbone, "features_only", False):
            features = backbone(images)
        else:
            features = keras.Model(backbone.inputs, pyramid,
                                   name=f"{backbone.name}_pyramid")(images)
        levels = build_fpn(
            features, min_level=min_level, max_level=max_level,
            num_filters=decoder_filters, fusion_type=fusion_type,
            use_separable_conv=use_separable_conv, activation=activation,
            norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
            use_norm=fpn_norm, coarser_input=fpn_coarser_input,
            data_format=data_format, dtype=dtype)
        if head_use_separable_conv is None:
            head_use_separable_conv = use_separable_conv
        class_maps, box_maps = build_retinanet_head(
            levels, num_classes=num_classes, num_anchors=num_anchors,
            num_convs=head_num_convs, num_filters=head_filters,
            use_separable_conv=head_use_separable_conv, activation=activation,
            norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
            norm=head_norm, data_format=data_format, dtype=dtype)

        def flatten(maps, width, name):
            parts = [keras.layers.Reshape((-1, width), dtype=dtype,
                                          name=f"{name}_flat_{key}")(maps[key])
                     for key in sorted(maps, key=lambda k: int(k[1:]))]
            return keras.layers.Concatenate(
                axis=1, dtype="float32", name=name)(parts)

        outputs = {"box_outputs": flatten(box_maps, 4, "box_outputs"),
                   "cls_outputs": flatten(class_maps, num_classes,
                                          "cls_outputs")}
        super().__init__(inputs=images, outputs=outputs, dtype=dtype,
                         **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.num_classes = num_classes
        self.image_size = image_size
        self.min_level, self.max_level = min_level, max_level
        self.num_scales = num_scales
        self.aspect_ratios = list(self._anchor_config["aspect_ratios"])
        self.anchor_size = float(anchor_size)
        self.decoder_filters = decoder_filters
        self.fusion_type = fusion_type
        self.use_separable_conv = bool(use_separable_conv)
        self.head_num_convs = head_num_convs
        self.head_filters = head_filters
        self.head_use_separable_conv = bool(head_use_separable_conv)
        self.activation = activation
        self.norm_momentum = float(norm_momentum)
        self.norm_epsilon = float(norm_epsilon)
        self.pre_nms_top_k = int(pre_nms_top_k)
        self.pre_nms_score_threshold = float(pre_nms_score_threshold)
        self.nms_iou_threshold = float(nms_iou_threshold)
        self.max_num_detections = int(max_num_detections)
        self.fpn_norm = bool(fpn_norm)
        self.fpn_coarser_input = fpn_coarser_input
        self.head_norm = None if head_norm == "none" else head_norm
        self.anchor_style = anchor_style
        self.nms_class_agnostic = bool(nms_class_agnostic)
        self.clip_boxes = bool(clip_boxes)
        self._level_sizes = list(level_sizes)
        self._anchors = anchors

    @property
    def anchors(self):
        """`[num_anchors, 4]` float32 yxyx anchors in input pixels, in the
        order of the raw outputs."""
        return self._anchors

    def anchor_targets(self, gt_boxes, gt_classes, gt_mask=None,
                       match_threshold=0.5, unmatched_threshold=0.5):
        """RetinaNet's training targets of ground truth for these anchors
        (`zoo_ops.label_anchors`; boxes yxyx in input pixels)."""
        return zoo_ops.label_anchors(
            self._anchors, gt_boxes, gt_classes, gt_mask,
            match_threshold=match_threshold,
            unmatched_threshold=unmatched_threshold)

    # --- training --------------------------------------------------------------

    def compile(self, optimizer="sgd", loss=None, *, focal_alpha=FOCAL_ALPHA,
                focal_gamma=FOCAL_GAMMA, huber_delta=HUBER_DELTA,
                box_loss_weight=BOX_LOSS_WEIGHT, **kwargs):
        """`keras.Model.compile`; without `loss`, `fit` trains with the
        Model Garden's RetinaNet loss (`zoo.vision.detection.losses`) on
        targets from `anchor_targets`, plus the layers' regularisation.

        Args:
            optimizer: a Keras optimizer or its name.
            loss: None or a `RetinaNetLoss` for RetinaNet's loss, or any
                Keras loss (over the raw outputs).
            focal_alpha, focal_gamma, huber_delta, box_loss_weight: the
                Model Garden's `losses` (0.25, 1.5, 0.1, 50), when `loss`
                is None.
            **kwargs: the rest of `compile`'s arguments.
        """
        if loss is None:
            loss = RetinaNetLoss(focal_alpha, focal_gamma, huber_delta,
                                 box_loss_weight)
        if isinstance(loss, RetinaNetLoss):
            self._retinanet_loss = loss
            loss = None
        else:
            self._retinanet_loss = None
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        """RetinaNet's loss when compiled without one (see `compile`)."""
        if self.loss is not None or not isinstance(y, dict):
            return super().compute_loss(x, y, y_pred, sample_weight,
                                        training)
        missing = {"class_targets", "box_targets", "class_weights",
                   "box_weights"} - set(y)
        if missing:
            raise ValueError(
                "ObjectDetector: training targets need "
                f"{sorted(missing)} (what `anchor_targets` returns).")
        settings = getattr(self, "_retinanet_loss", None) or RetinaNetLoss()
        total, _, _ = retinanet_loss(y_pred, y, self.num_classes,
                                     **settings.options())
        if self.losses:
            total = total + keras.ops.sum(keras.ops.stack(
                [keras.ops.cast(v, "float32") for v in self.losses]))
        return total * settings.loss_weight

    def fit(self, *args, **kwargs):
        """`keras.Model.fit` on preprocessed images and `anchor_targets`
        (the preprocessor is not applied: it cannot move the boxes)."""
        return keras.Model.fit(self, *args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, as `fit`, without the preprocessor."""
        return keras.Model.evaluate(self, *args, **kwargs)

    # --- inference ---------------------------------------------------------------

    def decode(self, outputs, image_info=None):
        """Raw outputs -> detections after NMS, as the Model Garden's
        `MultilevelDetectionGenerator` with `nms_version: v2`.

        Scores are sigmoids of the logits; boxes are decoded from the
        anchors and clipped to the image; per level, the `pre_nms_top_k`
        best (anchor, class) pairs are candidates; those scoring above
        `pre_nms_score_threshold` go through NMS class by class (one NMS
        over boxes offset by class, which keeps the same boxes), and the
        `max_num_detections` best survivors are returned.

        Args:
            outputs: dict with `"cls_outputs"` and `"box_outputs"` (the
                model's outputs).
            image_info: optional `[B, 4, 2]` (`DetectionPreprocessor`'s):
                boxes are clipped to the scaled image and mapped back to
                the original's pixels. Without it, boxes are in input
                pixels, clipped to the input.

        Returns:
            dict `"boxes"` `[B, D, 4]` float32 yxyx, `"scores"` `[B, D]`,
            `"classes"` `[B, D]` int32 (-1 past the detections),
            `"num_detections"` `[B]` int32; D = `max_num_detections`.
        """
        # keras.ops, or its TensorFlow twin inside a serving tf.function
        # on another backend.
        ops = ops_for(outputs["cls_outputs"], image_info)
        logits = ops.cast(outputs["cls_outputs"], "float32")
        offsets = ops.cast(outputs["box_outputs"], "float32")
        batch = ops.shape(logits)[0]
        classes = self.num_classes
        boxes = zoo_ops.decode_boxes(offsets, self._anchors[None])
        height, width = self.image_size
        if image_info is None:
            limit = ops.convert_to_tensor(
                np.array([[height, width, height, width]], "float32"))
        else:
            info = ops.cast(image_info, "float32")
            limit = ops.concatenate([info[:, 1], info[:, 1]], axis=-1)
        limit = ops.reshape(limit, (-1, 1, 4))
        if self.clip_boxes:
            boxes = ops.clip(boxes, 0.0, limit)
        scores = ops.sigmoid(logits)
        # Class-agnostic: one candidate per anchor, its best class.
        per_anchor = 1 if self.nms_class_agnostic else classes
        candidates = {"scores": [], "boxes": [], "classes": []}
        start = 0
        for size in self._level_sizes:
            level = scores[:, start:start + size]
            if self.nms_class_agnostic:
                best_class = ops.argmax(level, axis=-1)
                level = ops.max(level, axis=-1)
            else:
                level = ops.reshape(level, (batch, size * classes))
            k = min(self.pre_nms_top_k, size * per_anchor)
            top_scores, top_index = ops.top_k(level, k)
            anchor_index = top_index // per_anchor
            candidates["scores"].append(top_scores)
            candidates["classes"].append(
                ops.take_along_axis(best_class, top_index, axis=1)
                if self.nms_class_agnostic else top_index % classes)
            candidates["boxes"].append(ops.take_along_axis(
                boxes[:, start:start + size], anchor_index[..., None],
                axis=1))
            start += size
        cand_scores = ops.concatenate(candidates["scores"], axis=1)
        cand_classes = ops.concatenate(candidates["classes"], axis=1)
        cand_boxes = ops.concatenate(candidates["boxes"], axis=1)
        nms_boxes = cand_boxes
        if not self.nms_class_agnostic:
            # Boxes of different classes never overlap once offset this
            # far.
            spread = float(max(height, width)) + 1.0
            if image_info is not None:
                spread = ops.max(limit) + 1.0
            if not self.clip_boxes:
                spread = ops.max(ops.abs(cand_boxes)) * 2.0 + 1.0
            nms_boxes = cand_boxes + ops.cast(
                cand_classes, "float32")[..., None] * spread
        # zoo_ops' blocked NMS on every backend: it skips the candidates
        # under the score threshold and compares each block with the kept
        # boxes only, where TensorFlow's padded kernel visits every pair of
        # blocks until it has `max_num_detections` (4.4 s for 25,000
        # candidates none of which pass, against 3 ms; the same selection).
        index, count = zoo_ops.non_max_suppression_padded(
            nms_boxes, cand_scores, self.max_num_detections,
            iou_threshold=self.nms_iou_threshold,
            score_threshold=self.pre_nms_score_threshold,
            implementation="keras")
        valid = (ops.arange(self.max_num_detections)[None]
                 < ops.reshape(count, (-1, 1)))
        found_boxes = ops.take_along_axis(cand_boxes, index[..., None],
                                          axis=1)
        found_boxes = ops.where(valid[..., None], found_boxes, 0.0)
        found_scores = ops.where(
            valid, ops.take_along_axis(cand_scores, index, axis=1), 0.0)
        found_classes = ops.where(
            valid, ops.take_along_axis(cand_classes, index, axis=1), -1)
        if image_info is not None:
            scale = ops.concatenate([info[:, 2], info[:, 2]], axis=-1)
            original = ops.concatenate([info[:, 0], info[:, 0]], axis=-1)
            found_boxes = found_boxes / scale[:, None]
            if self.clip_boxes:
                found_boxes = ops.clip(found_boxes, 0.0, original[:, None])
        return {"boxes": found_boxes, "scores": found_scores,
                "classes": ops.cast(found_classes, "int32"),
                "num_detections": ops.cast(count, "int32")}

    def detect(self, images):
        """Detections of a batch of images, in their pixels.

        Args:
            images: `[B, h, w, 3]` raw images when the model has a
                preprocessor (any size), else preprocessed `[B, H, W, 3]`.

        Returns:
            `decode`'s dict of backend tensors.
        """
        if self.preprocessor is not None:
            ready = self.preprocessor(images)
            return self.decode(self(ready["images"], training=False),
                               ready["image_info"])
        return self.decode(self(images, training=False))

    def predict_step(self, *args):
        """`predict` returns detections (`decode`), not the raw outputs.

        Takes the backend trainer's arguments (`(state, data)` on JAX,
        `(data,)` elsewhere); `data` holds images, or the preprocessor's
        `{"images", "image_info"}`.
        """
        *state, data = args
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        info = None
        if isinstance(x, dict) and "images" in x:
            x, info = x["images"], x.get("image_info")
        result = super().predict_step(*state, (x,))
        if state:  # JAX: (outputs, non-trainable variables)
            outputs, variables = result
            return self.decode(outputs, info), variables
        return self.decode(result, info)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "image_size": list(self.image_size),
            "min_level": self.min_level, "max_level": self.max_level,
            "num_scales": self.num_scales,
            "aspect_ratios": self.aspect_ratios,
            "anchor_size": self.anchor_size,
            "decoder_filters": self.decoder_filters,
            "fusion_type": self.fusion_type,
            "use_separable_conv": self.use_separable_conv,
            "head_num_convs": self.head_num_convs,
            "head_filters": self.head_filters,
            "head_use_separable_conv": self.head_use_separable_conv,
            "activation": self.activation,
            "norm_momentum": self.norm_momentum,
            "norm_epsilon": self.norm_epsilon,
            "pre_nms_top_k": self.pre_nms_top_k,
            "pre_nms_score_threshold": self.pre_nms_score_threshold,
            "nms_iou_threshold": self.nms_iou_threshold,
            "max_num_detections": self.max_num_detections,
            "fpn_norm": self.fpn_norm,
            "fpn_coarser_input": self.fpn_coarser_input,
            "head_norm": self.head_norm,
            "anchor_style": self.anchor_style,
            "nms_class_agnostic": self.nms_class_agnostic,
            "clip_boxes": self.clip_boxes,
        })
        return config
