"""Semantic segmentation: a dilated backbone, ASPP and the DeepLabV3+
decoder, with logits at the input's size and masks at the image's.

```python
import numpy as np
import zoo

seg = zoo.create_model("resnet18", task="semantic_segmenter", num_classes=3,
                       output_stride=16, stage_filters=(8, 8, 8, 8),
                       aspp_filters=16, head_filters=16,
                       low_level_num_filters=8)
seg.preprocessor = zoo.SegmentationPreprocessor(image_size=(64, 64))
images = np.random.default_rng(0).integers(0, 256, (2, 50, 80, 3), "uint8")
masks = seg.predict(images, verbose=0)   # class ids at the images' size
print(masks.shape, masks.dtype)          # -> (2, 50, 80) int32
```

`model(images)` (what `fit` trains) returns logits `[B, H, W,
num_classes]` at the input's size: the head's stride-4 (DeepLabV3+) or
output-stride (DeepLabV3) logits resized bilinearly inside the model,
which is what the Model Garden's loss does to them against labels of the
input's size (`use_groundtruth_dimension: true`).
"""

import keras
import numpy as np

from zoo.backbone import check_model_kwargs
from zoo.layers.resize import ResizeLike
from zoo.registry import register_task_model
from zoo.task import Task
from zoo.vision.detection.preprocessing import DetectionPreprocessor
from zoo.vision.segmentation.heads import build_aspp, build_segmentation_head


@keras.saving.register_keras_serializable(package="zoo")
class SegmentationPreprocessor(DetectionPreprocessor):
    """Images of any size to a segmenter's input, with `image_info`.

    The Model Garden's segmentation evaluation path
    (`official/vision/dataloaders/segmentation_input.py`): normalised with
    ImageNet's mean and std, resized keeping the aspect ratio to fit
    `image_size`, padded at the bottom and right with zeros; `image_info`
    `[4, 2]` records the original size, the scaled size, the scale and the
    offset (zero), so `SemanticSegmenter.predict` maps masks back to the
    image's pixels. Arguments as `DetectionPreprocessor`'s.
    """


def _pick_level(backbone, level):
    """The backbone's pyramid key for `level`: a key (`"C5"`), or an int
    Model Garden level (the deepest map of stride 2**level)."""
    pyramid = backbone.pyramid_outputs
    if isinstance(level, str):
        if level not in pyramid:
            raise ValueError(
                f"SemanticSegmenter: {backbone.name} has no feature map "
                f"{level!r}; it has {sorted(pyramid)}.")
        return level
    matches = [info["name"] for info in backbone.feature_info
               if info["stride"] == 2 ** int(level)]
    if not matches:
        strides = {i["name"]: i["stride"] for i in backbone.feature_info}
        raise ValueError(
            f"SemanticSegmenter: {backbone.name} has no feature map at "
            f"level {level} (stride {2 ** int(level)}); its strides are "
            f"{strides}.")
    return matches[-1]


@register_task_model("semantic_segmenter")
@keras.saving.register_keras_serializable(package="zoo")
class SemanticSegmenter(Task):
    """DeepLabV3 / DeepLabV3+ on any zoo backbone with a feature pyramid.

    Defaults are the Model Garden's DeepLabV3+ (`seg_deeplabv3plus_pascal`
    in `official/vision/configs/semantic_segmentation.py`: ASPP rates
    `[6, 12, 18]` on the backbone's last map, 256 filters, the stride-4
    map reduced to 48 channels, two 3x3 convolutions of 256, a 1x1
    classifier; `common.NormActivation`'s momentum 0.99 and epsilon
    1e-3).

    Args:
        backbone: a zoo `Backbone` with `pyramid_outputs`, usually dilated
            (`output_stride=16` or 8 for ResNet).
        num_classes: int, classes per pixel (softmax).
        level: the map ASPP reads: a pyramid key (`"C5"`) or a Model
            Garden level (4: the deepest map at stride 16); None: the
            backbone's last map.
        low_level: the map DeepLabV3+ fuses (`"C2"`, or level 2).
        aspp_dilation_rates: rates of ASPP's 3x3 branches.
        aspp_filters, aspp_pool_size, aspp_dropout,
        aspp_use_depthwise_convolution: `build_aspp`'s `num_filters`,
            `pool_size` (in feature pixels; None: global), `dropout`,
            `use_depthwise_convolution`.
        feature_fusion: `"deeplabv3plus"`, or `"none"` / None (DeepLabV3).
        low_level_num_filters, head_num_convs, head_filters,
        head_kernel_size, prediction_kernel_size, classifier_bias:
            `build_segmentation_head`'s `low_level_num_filters`,
            `num_convs`, `num_filters`, `kernel_size`,
            `prediction_kernel_size`, `classifier_bias`.
        activation, norm_momentum, norm_epsilon: of ASPP and the head.
        upsample_logits: resize the logits to the input's size in the
            model (True); False: logits at the head's resolution, as the
            Model Garden's model returns them.
        classify_at_input_size: resize the head's features to the input's
            size and classify there (keras-hub's `DeepLabV3ImageSegmenter`);
            False: classify, then resize the logits (the Model Garden's).
        keras-hub's DeepLabV3+ is `head_num_convs=1, head_kernel_size=1,
        classifier_bias=False, classify_at_input_size=True` on a ResNet at
        output stride 32 (`zoo/convert/keras_hub/deeplab.py`).
        preprocessor: a `SegmentationPreprocessor` (`predict` then takes
            raw images and returns masks at their size).
        dtype: dtype policy of the decoder and head.
    """

    #: What benchmarks measure it against.
    peer_family = "deeplab"

    def __init__(self, backbone, num_classes, level=None, low_level="C2",
                 aspp_dilation_rates=(6, 12, 18), aspp_filters=256,
                 aspp_pool_size=None, aspp_dropout=0.0,
                 aspp_use_depthwise_convolution=False,
                 feature_fusion="deeplabv3plus", low_level_num_filters=48,
                 head_num_convs=2, head_filters=256, head_kernel_size=3,
                 prediction_kernel_size=1, classifier_bias=True,
                 activation="relu", norm_momentum=0.99, norm_epsilon=1e-3,
                 upsample_logits=True, classify_at_input_size=False,
                 preprocessor=None, dtype=None, **kwargs):
        check_model_kwargs(type(self), kwargs)
        if feature_fusion == "none":
            feature_fusion = None
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("SemanticSegmenter: num_classes must be a "
                             f"positive int, got {num_classes!r}.")
        if not getattr(backbone, "pyramid_outputs", None):
            raise ValueError(
                "SemanticSegmenter needs a backbone with a feature pyramid "
                f"(`pyramid_outputs`); {backbone.name} has none.")
        data_format = getattr(backbone, "data_format", None) or (
            keras.config.image_data_format())
        if level is None:
            level = backbone.feature_info[-1]["name"]
        level_key = _pick_level(backbone, level)
        low_key = (_pick_level(backbone, low_level)
                   if feature_fusion == "deeplabv3plus" else None)

        images = keras.Input(shape=tuple(backbone.inputs[0].shape[1:]),
                             name="images")
        if getattr(backbone, "features_only", False):
            features = backbone(images)
        else:
            features = keras.Model(backbone.inputs, backbone.pyramid_outputs,
                                   name=f"{backbone.name}_pyramid")(images)
        x = build_aspp(
            features[level_key], dilation_rates=tuple(aspp_dilation_rates),
            num_filters=aspp_filters, pool_size=aspp_pool_size,
            dropout=aspp_dropout,
            use_depthwise_convolution=aspp_use_depthwise_convolution,
            activation=activation, norm_momentum=norm_momentum,
            norm_epsilon=norm_epsilon, data_format=data_format, dtype=dtype)
        logits = build_segmentation_head(
            x, features[low_key] if low_key else None,
            num_classes=num_classes, feature_fusion=feature_fusion,
            low_level_num_filters=low_level_num_filters,
            num_convs=head_num_convs, num_filters=head_filters,
            kernel_size=head_kernel_size,
            prediction_kernel_size=prediction_kernel_size,
            classifier_bias=classifier_bias,
            upsample_to=images if classify_at_input_size else None,
            activation=activation, norm_momentum=norm_momentum,
            norm_epsilon=norm_epsilon, data_format=data_format, dtype=dtype)
        if upsample_logits:
            logits = ResizeLike(data_format=data_format, dtype=dtype,
                                name="logits_resize")([logits, images])
        if data_format == "channels_first":
            logits = keras.layers.Permute((2, 3, 1), dtype=dtype,
                                          name="logits_channels_last")(logits)
        logits = keras.layers.Activation("linear", dtype="float32",
                                         name="logits")(logits)
        super().__init__(inputs=images, outputs=logits, dtype=dtype,
                         **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.num_classes = num_classes
        self.level = level
        self.low_level = low_level
        self.aspp_dilation_rates = [int(r) for r in aspp_dilation_rates]
        self.aspp_filters = int(aspp_filters)
        self.aspp_pool_size = (None if aspp_pool_size is None
                               else [int(p) for p in aspp_pool_size])
        self.aspp_dropout = float(aspp_dropout)
        self.aspp_use_depthwise_convolution = bool(
            aspp_use_depthwise_convolution)
        self.feature_fusion = feature_fusion
        self.low_level_num_filters = int(low_level_num_filters)
        self.head_num_convs = int(head_num_convs)
        self.head_filters = int(head_filters)
        self.head_kernel_size = int(head_kernel_size)
        self.prediction_kernel_size = int(prediction_kernel_size)
        self.classifier_bias = bool(classifier_bias)
        self.classify_at_input_size = bool(classify_at_input_size)
        self.activation = activation
        self.norm_momentum = float(norm_momentum)
        self.norm_epsilon = float(norm_epsilon)
        self.upsample_logits = bool(upsample_logits)
        self._mask_target = None

    # --- inference ---------------------------------------------------------

    def masks_from_logits(self, logits, image_info=None, image_size=None):
        """Class ids of logits, at the original image's size.

        Args:
            logits: `[B, H, W, num_classes]` (the model's output).
            image_info: optional `[B, 4, 2]` (`SegmentationPreprocessor`'s):
                the padding is cropped away and the rest resized
                (bilinearly, before the argmax) to `image_size`.
            image_size: `(height, width)` of the original images (the same
                for the batch); needed with `image_info`.

        Returns:
            `[B, h, w]` int32 class ids.
        """
        ops = keras.ops
        logits = ops.cast(logits, "float32")
        if image_info is not None:
            if image_size is None:
                raise ValueError("masks_from_logits: image_info needs "
                                 "image_size (the original height, width).")
            height, width = (int(s) for s in image_size)
            in_h, in_w = logits.shape[1], logits.shape[2]
            pre_h, pre_w = self.preprocessor.image_size
            # The scaled image is the top-left min(H/h, W/w)-scaled part.
            ratio = min(pre_h / height, pre_w / width)
            keep_h = int(round(height * ratio)) * in_h // pre_h
            keep_w = int(round(width * ratio)) * in_w // pre_w
            logits = ops.image.resize(logits[:, :keep_h, :keep_w],
                                      (height, width),
                                      interpolation="bilinear")
        return ops.cast(ops.argmax(logits, axis=-1), "int32")

    def segment(self, images):
        """Masks of a batch of images, at their size.

        Args:
            images: `[B, h, w, 3]` raw images when the model has a
                preprocessor, else preprocessed `[B, H, W, 3]`.

        Returns:
            `[B, h, w]` int32 class ids (backend tensor).
        """
        if self.preprocessor is not None:
            ready = self.preprocessor(images)
            return self.masks_from_logits(
                self(ready["images"], training=False), ready["image_info"],
                tuple(images.shape[1:3]))
        return self.masks_from_logits(self(images, training=False))

    def predict(self, x, batch_size=None, **kwargs):
        """Masks `[B, h, w]` int32 at the images' size (`segment`).

        With a preprocessor, `x` holds raw images of one size (an array, or
        a `tf.data.Dataset` of batches with a static height and width).
        """
        size = None
        if self.preprocessor is not None:
            shape = _images_shape(x)
            if shape is None or None in shape:
                raise ValueError(
                    "SemanticSegmenter.predict: the images need one known "
                    "height and width to map masks back to (an array, or a "
                    "dataset with a static image shape); got "
                    f"{shape}. Call segment() batch by batch otherwise.")
            size = shape
        self._mask_target = size
        try:
            return super().predict(x, batch_size=batch_size, **kwargs)
        finally:
            self._mask_target = None

    def predict_logits(self, images):
        """The logits of one batch of preprocessed images, compiled as
        `predict` is (`predict_on_batch`).

        Args:
            images: `[B, H, W, 3]` preprocessed images (numpy).

        Returns:
            numpy `[B, H, W, num_classes]` float32.
        """
        images = np.asarray(images)
        return self.predict_on_batch({
            "images": images,
            "return_logits": np.zeros((images.shape[0],), "float32")})

    def predict_step(self, *args):
        """`predict` returns masks, not logits (see `masks_from_logits`);
        inputs `{"images", "return_logits"}` (`predict_logits`) return the
        logits.

        Takes the backend trainer's arguments (`(state, data)` on JAX,
        `(data,)` elsewhere).
        """
        *state, data = args
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        info, logits_only = None, False
        if isinstance(x, dict) and "images" in x:
            logits_only = "return_logits" in x
            x, info = x["images"], x.get("image_info")
        result = super().predict_step(*state, (x,))
        if logits_only:
            return result
        size = self._mask_target if info is not None else None
        if state:  # JAX: (outputs, non-trainable variables)
            outputs, variables = result
            return self.masks_from_logits(outputs, info, size), variables
        return self.masks_from_logits(result, info, size)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "level": self.level,
            "low_level": self.low_level,
            "aspp_dilation_rates": self.aspp_dilation_rates,
            "aspp_filters": self.aspp_filters,
            "aspp_pool_size": self.aspp_pool_size,
            "aspp_dropout": self.aspp_dropout,
            "aspp_use_depthwise_convolution":
                self.aspp_use_depthwise_convolution,
            "feature_fusion": self.feature_fusion,
            "low_level_num_filters": self.low_level_num_filters,
            "head_num_convs": self.head_num_convs,
            "head_filters": self.head_filters,
            "head_kernel_size": self.head_kernel_size,
            "prediction_kernel_size": self.prediction_kernel_size,
            "classifier_bias": self.classifier_bias,
            "classify_at_input_size": self.classify_at_input_size,
            "activation": self.activation,
            "norm_momentum": self.norm_momentum,
            "norm_epsilon": self.norm_epsilon,
            "upsample_logits": self.upsample_logits,
        })
        return config


def _images_shape(x):
    """`(height, width)` of a batch of images or of a dataset's elements."""
    if hasattr(x, "element_spec"):
        spec = x.element_spec
        while isinstance(spec, tuple):
            spec = spec[0]
        shape = tuple(spec.shape)
        return tuple(shape[-3:-1]) if len(shape) >= 3 else None
    shape = getattr(x, "shape", None) or np.shape(x)
    if len(shape) < 3:
        return None
    return tuple(int(s) for s in shape[-3:-1])
