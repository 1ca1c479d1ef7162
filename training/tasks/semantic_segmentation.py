"""Semantic segmentation: config, task and the registered experiments.

Config classes, field names and defaults follow the Model Garden's
`official/vision/configs/semantic_segmentation.py` (`DenseFeatureConfig`,
`DataConfig`, `SegmentationHead`, `MaskScoringHead`,
`SemanticSegmentationModel`, `Losses`, `Evaluation`, `ExportConfig`,
`SemanticSegmentationTask`, here `SemanticSegmentationConfig`), so its
segmentation YAML files parse unchanged; `semantic_segmentation`,
`seg_deeplabv3_pascal`, `seg_deeplabv3plus_pascal` and
`seg_deeplabv3plus_cityscapes` carry its factories' values. The network is
a `zoo.SemanticSegmenter` on whichever backbone `task.model.backbone`
selects (usually `dilated_resnet`), with the ASPP of `task.model.decoder`
and the head of `task.model.head`.

Training minimises the per-pixel cross-entropy (`SegmentationLoss`:
`ignore_label`, class weights, label smoothing, top-k pixel mining) plus L2
on kernels, and reports `mean_iou` (`report_train_mean_iou`) and
`out_of_range_labels`. Validation runs over the whole validation set into
one confusion matrix: `val_mean_iou`, `val_iou/<class>`
(`report_per_class_iou`), `val_out_of_range_labels`, and `val_loss` when
the masks are at the input's size (`resize_eval_groundtruth`; otherwise
the logits are mapped back to each mask's own resolution and only the IoU
is scored, as the Model Garden does). zoo's `mean_iou` leaves out classes
absent from both truth and prediction; the Model Garden's evaluation
`mean_iou` counts them as 0 (the per-class values are the same).
"""

import dataclasses
import logging
from typing import List, Optional, Union

import numpy as np

from training.config.base import Config, ConfigError, config_field
from training.config.common import NormActivation
from training.config.definitions import (
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
)
from training.models import BackboneConfig, DecoderConfig
from training.registry import register_experiment, register_task
from training.tasks.base import (
    Task,
    l2_regularize_kernels,
    per_process_batch,
    record_files,
)
from training.tasks.retinanet import DataDecoder, _refuse_unless_default

logger = logging.getLogger("zoo")

#: The Model Garden's `preprocess_ops.MEAN_RGB` / `STDDEV_RGB` (0-255).
MEAN_RGB = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STDDEV_RGB = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@dataclasses.dataclass
class DenseFeatureConfig(Config):
    """The image feature of a record and its normalisation (0-255)."""

    feature_name: str = "image/encoded"
    num_channels: int = 3
    mean: List[float] = config_field(lambda: list(MEAN_RGB))
    stddev: List[float] = config_field(lambda: list(STDDEV_RGB))


@dataclasses.dataclass
class SegmentationDataConfig(DataConfig):
    """The Model Garden's segmentation `DataConfig`.

    Attributes:
        output_size: `[height, width]` the images are resized into
            (keeping the aspect ratio, padded).
        crop_size: in training, a random crop of this size after resizing
            to `output_size`.
        resize_eval_groundtruth: evaluation masks take the input's size;
            False: kept at their resolution, padded to
            `groundtruth_padded_size`.
        aug_scale_min, aug_scale_max, aug_rand_hflip: training
            augmentation.
        preserve_aspect_ratio: False stretches to `output_size`.
        file_type: `"tfrecord"` (records with the Model Garden's keys) or
            `"shapes"` (zoo's drawn set, `input_path` ignored).
        image_feature, decoder, weights, aug_policy,
        additional_dense_features: accepted at their defaults only.
    """

    image_feature: DenseFeatureConfig = config_field(DenseFeatureConfig)
    output_size: List[int] = config_field(list)
    crop_size: List[int] = config_field(list)
    input_path: Union[str, List[str]] = ""
    weights: Optional[dict] = None
    global_batch_size: int = 0
    is_training: Optional[bool] = True
    dtype: str = "float32"
    shuffle_buffer_size: int = 1000
    cycle_length: Optional[int] = 10
    resize_eval_groundtruth: bool = True
    groundtruth_padded_size: List[int] = config_field(list)
    aug_scale_min: float = 1.0
    aug_scale_max: float = 1.0
    aug_rand_hflip: bool = True
    preserve_aspect_ratio: bool = True
    aug_policy: Optional[str] = None
    drop_remainder: bool = True
    file_type: str = "tfrecord"
    decoder: DataDecoder = config_field(DataDecoder)
    additional_dense_features: List[str] = config_field(list)

    def validate(self, path=""):
        super().validate(path)
        if self.file_type not in ("tfrecord", "shapes"):
            raise ConfigError(f"{path}.file_type={self.file_type!r} is not "
                              "'tfrecord' or 'shapes'.")
        _refuse_unless_default(self, path, weights=None, aug_policy=None,
                               additional_dense_features=[])
        feature = self.image_feature
        _refuse_unless_default(feature, f"{path}.image_feature",
                               feature_name="image/encoded", num_channels=3)
        for name in ("output_size", "crop_size", "groundtruth_padded_size"):
            value = getattr(self, name)
            if value and (len(value) != 2 or min(value) < 1):
                raise ConfigError(f"{path}.{name} must be [height, width] "
                                  f"of positive ints, got {value}.")
        if not 0 < self.aug_scale_min <= self.aug_scale_max:
            raise ConfigError(
                f"{path}: need 0 < aug_scale_min <= aug_scale_max, got "
                f"{self.aug_scale_min} and {self.aug_scale_max}.")


@dataclasses.dataclass
class SegmentationHead(Config):
    """The Model Garden's `SegmentationHead`: `feature_fusion`
    `"deeplabv3plus"` (the `low_level` map reduced to
    `low_level_num_filters`) or None, `num_convs` 3x3 convolutions of
    `num_filters`, a `prediction_kernel_size` classifier. The rest is
    accepted at its defaults only."""

    level: int = 3
    num_convs: int = 2
    num_filters: int = 256
    use_depthwise_convolution: bool = False
    prediction_kernel_size: int = 1
    upsample_factor: int = 1
    logit_activation: Optional[str] = None
    feature_fusion: Optional[str] = None
    low_level: Union[int, str] = 2
    low_level_num_filters: int = 48
    decoder_min_level: Optional[int] = None
    decoder_max_level: Optional[int] = None

    def validate(self, path=""):
        _refuse_unless_default(self, path, use_depthwise_convolution=False,
                               upsample_factor=1, logit_activation=None)
        if self.feature_fusion not in (None, "deeplabv3plus"):
            raise ConfigError(
                f"{path}.feature_fusion={self.feature_fusion!r} is not "
                "supported yet (None or 'deeplabv3plus').")
        if not isinstance(self.low_level, int):
            raise ConfigError(
                f"{path}.low_level={self.low_level!r}: only an int level "
                "is supported yet (not the depthwise '2/depthwise').")


@dataclasses.dataclass
class MaskScoringHead(Config):
    """The Model Garden's mask scoring head (not built: only None)."""

    num_convs: int = 4
    num_filters: int = 128
    fc_input_size: List[int] = config_field(list)
    num_fcs: int = 2
    fc_dims: int = 1024
    use_depthwise_convolution: bool = False


@dataclasses.dataclass
class SemanticSegmentationModel(Config):
    """The segmenter (the Model Garden's `SemanticSegmentationModel`)."""

    num_classes: int = 0
    input_size: List[Optional[int]] = config_field(list)
    min_level: int = 3
    max_level: int = 6
    head: SegmentationHead = config_field(SegmentationHead)
    backbone: BackboneConfig = config_field(
        lambda: BackboneConfig(type="resnet"))
    decoder: DecoderConfig = config_field(
        lambda: DecoderConfig(type="identity"))
    mask_scoring_head: Optional[MaskScoringHead] = None
    norm_activation: NormActivation = config_field(NormActivation)

    def validate(self, path=""):
        if self.input_size and len(self.input_size) != 3:
            raise ConfigError(
                f"{path}.input_size must be [height, width, channels], got "
                f"{self.input_size}.")
        if self.mask_scoring_head is not None:
            raise ConfigError(f"{path}.mask_scoring_head is not supported "
                              "yet (only null).")


@dataclasses.dataclass
class Losses(Config):
    """The Model Garden's segmentation `Losses`
    (`zoo.vision.segmentation.losses.segmentation_loss`)."""

    loss_weight: float = 1.0
    label_smoothing: float = 0.0
    ignore_label: int = 255
    gt_is_matting_map: bool = False
    class_weights: List[float] = config_field(list)
    l2_weight_decay: float = 0.0
    use_groundtruth_dimension: bool = True
    use_binary_cross_entropy: bool = False
    top_k_percent_pixels: float = 1.0
    mask_scoring_weight: float = 1.0

    def validate(self, path=""):
        _refuse_unless_default(self, path, gt_is_matting_map=False,
                               use_binary_cross_entropy=False)
        if not 0.0 < self.top_k_percent_pixels <= 1.0:
            raise ConfigError(f"{path}.top_k_percent_pixels="
                              f"{self.top_k_percent_pixels} is not in (0, "
                              "1].")


@dataclasses.dataclass
class Evaluation(Config):
    """What validation reports besides `mean_iou`."""

    report_per_class_iou: bool = True
    report_train_mean_iou: bool = True


@dataclasses.dataclass
class ExportConfig(Config):
    """The Model Garden's export option (zoo's exports return masks at the
    image's size: only the default)."""

    rescale_output: bool = False


@dataclasses.dataclass
class SemanticSegmentationConfig(TaskConfig):
    """The segmentation task config (the Model Garden's
    `SemanticSegmentationTask`). `init_checkpoint_modules`: `"all"` or
    `"backbone"`."""

    model: SemanticSegmentationModel = config_field(SemanticSegmentationModel)
    train_data: SegmentationDataConfig = config_field(
        lambda: SegmentationDataConfig(is_training=True))
    validation_data: SegmentationDataConfig = config_field(
        lambda: SegmentationDataConfig(is_training=False))
    losses: Losses = config_field(Losses)
    evaluation: Evaluation = config_field(Evaluation)
    train_input_partition_dims: List[int] = config_field(list)
    eval_input_partition_dims: List[int] = config_field(list)
    init_checkpoint: Optional[str] = None
    init_checkpoint_modules: Union[str, List[str]] = "all"
    export_config: ExportConfig = config_field(ExportConfig)

    def validate(self, path=""):
        super().validate(path)
        _refuse_unless_default(self.export_config, f"{path}.export_config",
                               rescale_output=False)
        model = self.model
        if (model.backbone.type == "dilated_resnet"
                and model.decoder.type == "aspp"):
            stride = model.backbone.get().output_stride
            level = model.decoder.get().level
            if 2 ** level > stride:
                raise ConfigError(
                    f"{path}.model.decoder.aspp.level={level} reads the "
                    f"stride-{2 ** level} map, which a dilated_resnet at "
                    f"output_stride {stride} does not have (its deepest is "
                    f"level {stride.bit_length() - 1}).")
        modules = self.init_checkpoint_modules
        if isinstance(modules, list):
            modules = modules[0] if len(modules) == 1 else modules
        if modules not in ("all", "backbone"):
            raise ConfigError(
                f"{path}.init_checkpoint_modules={modules!r} is not "
                "supported yet ('all' or 'backbone').")
        self.init_checkpoint_modules = modules


@register_task(SemanticSegmentationConfig)
class SemanticSegmentationTask(Task):
    """Builds a `zoo.SemanticSegmenter`, its record pipelines, the
    segmentation loss and the mean IoU of the whole validation set."""

    counts_corrupt_images = True

    # --- model ------------------------------------------------------------------

    def build_model(self):
        m = self.params.model
        if m.num_classes <= 0:
            raise ConfigError("task.model.num_classes must be positive, got "
                              f"{m.num_classes}.")
        backbone = m.backbone.get()
        if backbone is None:
            raise ConfigError("task.model.backbone.type is not set.")
        decoder = m.decoder.get()
        if decoder is None or m.decoder.type != "aspp":
            raise ConfigError(
                f"task.model.decoder.type={m.decoder.type!r}: zoo's "
                "segmenters need ASPP (type: aspp).")
        aspp = decoder.create_model_arguments(m.norm_activation)
        head = m.head
        if head.level != aspp["level"]:
            raise ConfigError(
                f"task.model.head.level={head.level} must be the ASPP "
                f"decoder's level ({aspp['level']}), whose output it reads.")
        input_shape = tuple(m.input_size) if m.input_size else (None, None,
                                                                3)
        try:
            model = backbone.build(
                norm_activation=m.norm_activation,
                task="semantic_segmenter", num_classes=m.num_classes,
                input_shape=input_shape, **aspp,
                feature_fusion=head.feature_fusion or "none",
                low_level=int(head.low_level),
                low_level_num_filters=head.low_level_num_filters,
                head_num_convs=head.num_convs,
                head_filters=head.num_filters,
                prediction_kernel_size=head.prediction_kernel_size,
                activation=m.norm_activation.activation,
                norm_momentum=m.norm_activation.norm_momentum,
                norm_epsilon=m.norm_activation.norm_epsilon)
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"task.model.backbone.{m.backbone.type}: {e}") from None
        losses = self.params.losses
        # The Model Garden scales the whole loss, L2 included.
        l2_regularize_kernels(model,
                              losses.l2_weight_decay * losses.loss_weight)
        return model

    def build_losses(self):
        """`SegmentationLoss` with this config's values."""
        from zoo.vision.segmentation.losses import SegmentationLoss

        losses = self.params.losses
        return SegmentationLoss(
            ignore_label=losses.ignore_label,
            class_weights=losses.class_weights or None,
            label_smoothing=losses.label_smoothing,
            top_k_percent_pixels=losses.top_k_percent_pixels,
            loss_weight=losses.loss_weight)

    def _metrics(self):
        from zoo.vision.segmentation.metrics import (
            OutOfRangeLabels,
            SegmentationMeanIoU,
        )

        classes = self.params.model.num_classes
        ignore = self.params.losses.ignore_label
        return (SegmentationMeanIoU(classes, ignore),
                OutOfRangeLabels(classes, ignore))

    def build_metrics(self):
        """`mean_iou` (when `report_train_mean_iou`) and
        `out_of_range_labels`."""
        mean_iou, outside = self._metrics()
        if not self.params.evaluation.report_train_mean_iou:
            return [outside]
        return [mean_iou, outside]

    def initialize(self, model):
        path = self.params.init_checkpoint or ""
        if path.startswith(("gs://cloud-tpu-checkpoints/",
                            "gs://tf_model_garden/")):
            raise ConfigError(
                f"task.init_checkpoint={path!r} is a Model Garden "
                "TensorFlow checkpoint, which zoo does not read; set it to "
                "a zoo checkpoint or preset (e.g. an ImageNet ResNet-101 "
                "preset with init_checkpoint_modules: backbone), or to '' "
                "to start from random weights.")
        super().initialize(model)

    def export_preprocessor(self):
        """A `SegmentationPreprocessor` at the validation size."""
        import zoo

        size = (self.params.validation_data.output_size
                or self.params.model.input_size[:2])
        if not size or None in size:
            return None
        return zoo.SegmentationPreprocessor(image_size=tuple(size))

    # --- data -------------------------------------------------------------------

    def input_files(self, data_config):
        """The TFRecords of a data config (the shapes set is drawn on first
        use)."""
        from training.data.shapes import ensure_segmentation_shapes

        return record_files(
            data_config, ensure_segmentation_shapes,
            "zoo's segmentation pipeline reads TFRecords in the Model "
            "Garden's format; set input_path.")

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None,
                     with_image_info=None):
        from training.data.segmentation import build_segmentation_dataset

        batch = per_process_batch(data_config, num_shards)
        if not data_config.output_size and not data_config.crop_size:
            raise ConfigError(
                "output_size is not set; give [height, width], e.g. [512, "
                "512].")
        if (not data_config.is_training
                and not data_config.resize_eval_groundtruth
                and not data_config.groundtruth_padded_size):
            raise ConfigError(
                "validation_data.groundtruth_padded_size is needed when "
                "resize_eval_groundtruth is false (masks keep their size "
                "and are padded to it).")
        return build_segmentation_dataset(
            self.input_files(data_config), data_config, batch_size=batch,
            ignore_label=self.params.losses.ignore_label, seed=seed,
            start_step=start_step, num_shards=num_shards,
            shard_index=shard_index, counter=counter,
            with_image_info=with_image_info)

    # --- evaluation -------------------------------------------------------------

    @property
    def evaluates_itself(self):
        """Always: mean IoU over one confusion matrix of the whole set."""
        return True

    def evaluate(self, model, data_config, *, steps=None):
        """Segments the validation records into one confusion matrix.

        The matrix is accumulated on the host (NumPy; each image's logits
        resized with TensorFlow's bilinear kernel when the masks keep their
        own resolution), so images of many sizes cost no recompilation.

        Returns:
            dict: `mean_iou`, `iou/<class>` (when `report_per_class_iou`),
            `out_of_range_labels`, and `loss` (the mean of the batches'
            losses, when the masks are at the input's size).
        """
        from training.data.segmentation import predictions_at_original_size
        from zoo.vision.segmentation.metrics import (
            confusion_matrix,
            mean_iou_of,
            per_class_iou_of,
        )

        classes = self.params.model.num_classes
        ignore = self.params.losses.ignore_label
        loss_fn = self.build_losses()
        at_input_size = bool(data_config.resize_eval_groundtruth)
        dataset = self.build_inputs(data_config, with_image_info=True)
        if steps:
            dataset = dataset.take(steps)
        matrix = np.zeros((classes, classes), np.int64)
        outside, losses = 0, []
        for images, labels in dataset.as_numpy_iterator():
            logits = model.predict_logits(images)
            masks = labels["masks"]
            outside += int(((masks < 0)
                            | ((masks >= classes) & (masks != ignore))).sum())
            if at_input_size:
                matrix += confusion_matrix(masks, logits.argmax(-1), classes,
                                           ignore)
                losses.append(float(loss_fn(masks, logits)))
                continue
            for logit, mask, info in zip(logits, masks,
                                         labels["image_info"]):
                predicted, mask = predictions_at_original_size(logit, mask,
                                                               info)
                matrix += confusion_matrix(mask, predicted, classes, ignore)
        result = {"mean_iou": mean_iou_of(matrix),
                  "out_of_range_labels": float(outside)}
        if self.params.evaluation.report_per_class_iou:
            for index, iou in enumerate(per_class_iou_of(matrix)):
                result[f"iou/{index}"] = float(iou)
        if losses:
            result["loss"] = float(np.mean(losses))
        return result


# --- registered experiments -----------------------------------------------------

PASCAL_TRAIN_EXAMPLES = 10582
PASCAL_VAL_EXAMPLES = 1449
PASCAL_INPUT_PATH_BASE = "gs://**/pascal_voc_seg"
CITYSCAPES_TRAIN_EXAMPLES = 2975
CITYSCAPES_VAL_EXAMPLES = 500
CITYSCAPES_INPUT_PATH_BASE = "cityscapes"
#: The Model Garden's ImageNet ResNet-101 checkpoint of its DeepLab
#: factories (not readable by zoo: set task.init_checkpoint).
RESNET101_CHECKPOINT = ("gs://cloud-tpu-checkpoints/vision-2.0/deeplab/"
                        "deeplab_resnet101_imagenet/ckpt-62400")


@register_experiment("semantic_segmentation")
def semantic_segmentation():
    """A bare segmentation experiment: fill in model and data.

    The Model Garden's `semantic_segmentation` factory: every class
    default (`official/vision/configs/semantic_segmentation.py`; its
    identity decoder is not built by zoo: select `decoder: {type: aspp}`).
    """
    return ExperimentConfig(task=SemanticSegmentationConfig(),
                            trainer=TrainerConfig(), runtime=RuntimeConfig())


def _deeplab_experiment(*, num_classes, train_examples, val_examples,
                        train_batch, eval_batch, epochs, learning_rate,
                        warmup_epochs, dilation_rates, head, norm_momentum,
                        train_data, validation_data, pool_kernel_size=None):
    """What the Model Garden's DeepLab factories share
    (`official/vision/configs/semantic_segmentation.py`): a dilated
    ResNet-101 at output stride 16 with the multigrid [1, 2, 4] and the v1
    stem, ASPP at level 4, swish with synchronised batch norm, L2 1e-4,
    the ImageNet backbone checkpoint (`init_checkpoint_modules:
    backbone`), an epoch per loop, summary, checkpoint and validation, SGD
    with momentum 0.9 and a polynomial decay (power 0.9, to 0) after a
    linear warmup from 0."""
    epoch = train_examples // train_batch
    steps = epochs * epoch
    config = ExperimentConfig(
        task=SemanticSegmentationConfig(
            model=SemanticSegmentationModel(
                num_classes=num_classes, input_size=[None, None, 3],
                head=head,
                norm_activation=NormActivation(
                    activation="swish", norm_momentum=norm_momentum,
                    norm_epsilon=1e-3, use_sync_bn=True)),
            losses=Losses(l2_weight_decay=1e-4),
            train_data=SegmentationDataConfig(
                is_training=True, global_batch_size=train_batch,
                aug_scale_min=0.5, aug_scale_max=2.0, **train_data),
            validation_data=SegmentationDataConfig(
                is_training=False, global_batch_size=eval_batch,
                drop_remainder=False, **validation_data),
            init_checkpoint=RESNET101_CHECKPOINT,
            init_checkpoint_modules="backbone"),
        trainer=TrainerConfig(
            steps_per_loop=epoch, summary_interval=epoch,
            checkpoint_interval=epoch, train_steps=steps,
            validation_steps=val_examples // eval_batch,
            validation_interval=epoch),
        runtime=RuntimeConfig())
    config.override({
        "task.model.backbone": {"type": "dilated_resnet", "dilated_resnet": {
            "model_id": 101, "output_stride": 16, "multigrid": [1, 2, 4],
            "stem_type": "v1"}},
        "task.model.decoder": {"type": "aspp", "aspp": {
            "level": 4, "dilation_rates": list(dilation_rates),
            "pool_kernel_size": pool_kernel_size}},
        "trainer.optimizer_config": {
            "optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
            "learning_rate": {"type": "polynomial", "polynomial": {
                "initial_learning_rate": learning_rate,
                "decay_steps": steps, "end_learning_rate": 0.0,
                "power": 0.9}},
            "warmup": {"type": "linear", "linear": {
                "warmup_steps": warmup_epochs * epoch,
                "warmup_learning_rate": 0}}}})
    return config


def _pascal(dilation_rates, head):
    return _deeplab_experiment(
        num_classes=21, train_examples=PASCAL_TRAIN_EXAMPLES,
        val_examples=PASCAL_VAL_EXAMPLES, train_batch=16, eval_batch=8,
        epochs=45, learning_rate=0.007, warmup_epochs=5,
        dilation_rates=dilation_rates, head=head, norm_momentum=0.9997,
        train_data={"input_path": f"{PASCAL_INPUT_PATH_BASE}/train_aug*",
                    "output_size": [512, 512]},
        validation_data={"input_path": f"{PASCAL_INPUT_PATH_BASE}/val*",
                         "output_size": [512, 512],
                         "resize_eval_groundtruth": False,
                         "groundtruth_padded_size": [512, 512]})


@register_experiment("seg_deeplabv3_pascal")
def seg_deeplabv3_pascal():
    """DeepLabV3 on a dilated ResNet-101 for PASCAL VOC: the Model
    Garden's `seg_deeplabv3_pascal`.

    Its values, from `official/vision/configs/semantic_segmentation.py`:
    21 classes, output stride 16, multigrid [1, 2, 4], the v1 stem, ASPP
    rates [12, 24, 36] at level 4 (its comment says [6, 12, 18] at stride
    16; the code sets these), no decoder (`num_convs: 0`), swish, batch
    norm momentum 0.9997, L2 1e-4, 512x512 with scale jitter 0.5-2.0,
    batch 16 (661 steps an epoch), 45 epochs (29,745 steps), validation
    at batch 8 (181 steps) with masks at their resolution padded to
    512x512, SGD with momentum 0.9, a polynomial decay from 0.007 (power
    0.9) after 5 epochs (3,305 steps) of warmup from 0.
    """
    return _pascal([12, 24, 36], SegmentationHead(level=4, num_convs=0))


@register_experiment("seg_deeplabv3plus_pascal")
def seg_deeplabv3plus_pascal():
    """DeepLabV3+ on a dilated ResNet-101 for PASCAL VOC: the Model
    Garden's `seg_deeplabv3plus_pascal`: `seg_deeplabv3_pascal` with ASPP
    rates [6, 12, 18] and the decoder (the stride-4 map reduced to 48
    channels, two 3x3 convolutions of 256).
    """
    return _pascal([6, 12, 18], SegmentationHead(
        level=4, num_convs=2, feature_fusion="deeplabv3plus", low_level=2,
        low_level_num_filters=48))


@register_experiment("seg_deeplabv3plus_cityscapes")
def seg_deeplabv3plus_cityscapes():
    """DeepLabV3+ on a dilated ResNet-101 for Cityscapes: the Model
    Garden's `seg_deeplabv3plus_cityscapes`.

    Its values: 19 classes, the backbone and decoder of
    `seg_deeplabv3plus_pascal` with ASPP's pooling over 512x1024 pixels
    (a 32x64 average pool at level 4), batch norm momentum 0.99, L2 1e-4,
    1024x2048 images cropped to 512x1024 with scale jitter 0.5-2.0,
    batch 16 (185 steps an epoch), 500 epochs (92,500 steps), validation
    at batch 16 (31 steps) at 1024x2048, SGD with momentum 0.9, a
    polynomial decay from 0.01 (power 0.9) after 925 steps of warmup.
    """
    return _deeplab_experiment(
        num_classes=19, train_examples=CITYSCAPES_TRAIN_EXAMPLES,
        val_examples=CITYSCAPES_VAL_EXAMPLES, train_batch=16, eval_batch=16,
        epochs=500, learning_rate=0.01, warmup_epochs=5,
        dilation_rates=[6, 12, 18], pool_kernel_size=[512, 1024],
        head=SegmentationHead(level=4, num_convs=2,
                              feature_fusion="deeplabv3plus", low_level=2,
                              low_level_num_filters=48),
        norm_momentum=0.99,
        train_data={"input_path": f"{CITYSCAPES_INPUT_PATH_BASE}/"
                                  "train_fine**",
                    "crop_size": [512, 1024], "output_size": [1024, 2048]},
        validation_data={"input_path": f"{CITYSCAPES_INPUT_PATH_BASE}/"
                                       "val_fine*",
                         "output_size": [1024, 2048],
                         "resize_eval_groundtruth": True})


@register_experiment("seg_shapes")
def seg_shapes():
    """A small DeepLabV3+ that learns zoo's drawn shapes on a CPU.

    The segmentation `shapes` set (`training.data.shapes`: circles,
    squares and triangles of 32-64 pixels on crops of scikit-image's
    photos, each pixel's class as its mask, 1,024 training and 128
    validation images of 96-128 pixels, written as TFRecords under
    `$ZOO_HOME/datasets/` on first use), a ResNet-18 at quarter width at
    output stride 16 with a 64-channel ASPP (rates [2, 4, 6]) and the
    DeepLabV3+ decoder (16 low-level channels, two 3x3 of 64) at 96x96;
    the photo's pixels weigh 0.2 in the loss (`class_weights`), the
    shapes' 1; batch 16, hflip and scale jitter 0.75-1.25, Adam with a
    polynomial decay from 0.003 after 100 warmup steps (SGD, or equal
    weights, take several times as many steps to tell the shapes apart);
    validation over one confusion matrix, the best checkpoint (by
    `mean_iou`) exported. Zoo's own experiment.
    """
    steps = 2000
    config = ExperimentConfig(
        runtime=RuntimeConfig(distribution_strategy="off", seed=0),
        task=SemanticSegmentationConfig(
            model=SemanticSegmentationModel(
                num_classes=4, input_size=[96, 96, 3],
                head=SegmentationHead(
                    level=4, num_convs=2, num_filters=64,
                    feature_fusion="deeplabv3plus", low_level=2,
                    low_level_num_filters=16),
                norm_activation=NormActivation(use_sync_bn=False)),
            losses=Losses(l2_weight_decay=1e-4,
                          class_weights=[0.2, 1.0, 1.0, 1.0]),
            train_data=SegmentationDataConfig(
                file_type="shapes", is_training=True, global_batch_size=16,
                output_size=[96, 96], aug_rand_hflip=True,
                aug_scale_min=0.75, aug_scale_max=1.25,
                shuffle_buffer_size=1024),
            validation_data=SegmentationDataConfig(
                file_type="shapes", is_training=False, global_batch_size=32,
                output_size=[96, 96], drop_remainder=False)),
        trainer=TrainerConfig(
            train_steps=steps, steps_per_loop=100, summary_interval=100,
            checkpoint_interval=500, validation_interval=500,
            validation_steps=-1, max_to_keep=3,
            best_checkpoint_export_subdir="best",
            best_checkpoint_eval_metric="mean_iou"))
    config.override({
        "task.model.backbone": {"type": "dilated_resnet", "dilated_resnet": {
            "model_id": 18, "output_stride": 16,
            "depth_multiplier": 0.25}},
        "task.model.decoder": {"type": "aspp", "aspp": {
            "level": 4, "dilation_rates": [2, 4, 6], "num_filters": 64}},
        "trainer.optimizer_config": {
            "optimizer": {"type": "adam", "adam": {}},
            "learning_rate": {"type": "polynomial", "polynomial": {
                "initial_learning_rate": 0.003, "decay_steps": steps,
                "end_learning_rate": 0.0, "power": 0.9}},
            "warmup": {"type": "linear", "linear": {"warmup_steps": 100}}}})
    return config
