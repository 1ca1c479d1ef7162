"""RetinaNet object detection: config, task and the registered experiments.

Config classes, field names and defaults follow the Model Garden's
`official/vision/configs/retinanet.py` (`Parser`, `DataConfig`, `Anchor`,
`Losses`, `RetinaNetHead`, `DetectionGenerator`, `RetinaNet`,
`ExportConfig`, `RetinaNetTask`, here `RetinaNetConfig`) and
`official/vision/configs/common.py` (`DataDecoder`), so its RetinaNet YAML
files parse unchanged; `retinanet` and `retinanet_resnetfpn_coco` carry
its factories' values. The network is a `zoo.ObjectDetector` on whichever
backbone `task.model.backbone` selects, with the FPN of
`task.model.decoder`.

Training minimises the Model Garden's RetinaNet loss (focal + weighted
Huber, `zoo.vision.detection.losses`) plus L2 on kernels. Validation runs
the detector with its detection generator over the validation records and
scores the detections with `pycocotools` (`CocoEvaluator`): `AP`, `AP50`,
`AP75`, `APs`, `APm`, `APl`, `ARmax1`, `ARmax10`, `ARmax100`, `ARs`,
`ARm`, `ARl` as `val_<name>`, so `best_checkpoint_eval_metric: AP` works;
the ground truth is `task.annotation_file` when set, else what the
validation records hold.
"""

import dataclasses
import logging
from typing import List, Optional, Union

from training.config.base import (Config, ConfigError, OneOfConfig,
                                  config_field)
from training.config.common import Augmentation, NormActivation
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

logger = logging.getLogger("zoo")


def _refuse_unless_default(config, path, **defaults):
    for name, default in defaults.items():
        value = getattr(config, name)
        if value != default:
            raise ConfigError(f"{path}.{name}={value!r} is not supported yet "
                              f"(only {default!r}).")


@dataclasses.dataclass
class TfExampleDecoder(Config):
    """The Model Garden's simple tf.Example decoder (its keys: see
    `training.data.detection`)."""

    regenerate_source_id: bool = False
    mask_binarize_threshold: Optional[float] = None
    attribute_names: List[str] = config_field(list)


@dataclasses.dataclass
class TfExampleDecoderLabelMap(Config):
    """The Model Garden's decoder with a label map (not supported yet)."""

    regenerate_source_id: bool = False
    mask_binarize_threshold: Optional[float] = None
    label_map: str = ""


@dataclasses.dataclass
class DataDecoder(OneOfConfig):
    """Which tf.Example decoder: only `simple_decoder` is supported."""

    type: Optional[str] = "simple_decoder"
    simple_decoder: TfExampleDecoder = config_field(TfExampleDecoder)
    label_map_decoder: TfExampleDecoderLabelMap = config_field(
        TfExampleDecoderLabelMap)

    def validate(self, path=""):
        super().validate(path)
        if self.type != "simple_decoder":
            raise ConfigError(f"{path}.type={self.type!r} is not supported "
                              "yet (only 'simple_decoder').")
        _refuse_unless_default(self.simple_decoder, f"{path}.simple_decoder",
                               regenerate_source_id=False,
                               attribute_names=[])


@dataclasses.dataclass
class Parser(Config):
    """The RetinaNet parser's options (`training.data.detection`)."""

    num_channels: int = 3
    match_threshold: float = 0.5
    unmatched_threshold: float = 0.5
    aug_rand_hflip: bool = False
    aug_rand_jpeg: Optional[dict] = None
    aug_scale_min: float = 1.0
    aug_scale_max: float = 1.0
    skip_crowd_during_training: bool = True
    max_num_instances: int = 100
    aug_type: Optional[Augmentation] = None
    pad: bool = True
    keep_aspect_ratio: bool = True
    aug_policy: Optional[str] = None

    def validate(self, path=""):
        _refuse_unless_default(self, path, num_channels=3, aug_rand_jpeg=None,
                               aug_type=None, pad=True,
                               keep_aspect_ratio=True)
        if not 0 < self.aug_scale_min <= self.aug_scale_max:
            raise ConfigError(
                f"{path}: need 0 < aug_scale_min <= aug_scale_max, got "
                f"{self.aug_scale_min} and {self.aug_scale_max}.")
        if self.unmatched_threshold > self.match_threshold:
            raise ConfigError(
                f"{path}.unmatched_threshold={self.unmatched_threshold} "
                f"exceeds match_threshold={self.match_threshold}.")
        if self.max_num_instances < 1:
            raise ConfigError(f"{path}.max_num_instances must be positive.")


@dataclasses.dataclass
class RetinaNetDataConfig(DataConfig):
    """The Model Garden's RetinaNet `DataConfig`.

    Attributes:
        file_type: `"tfrecord"` (records with the Model Garden's keys, e.g.
            from `zoo data coco-to-tfrecord`) or `"shapes"` (zoo's drawn
            set, `training.data.shapes`; `input_path` is then ignored).
        decoder: the tf.Example decoder (only `simple_decoder`).
        parser: augmentation and anchor labelling options.
        weights: accepted at its default (None) only.
    """

    input_path: Union[str, List[str]] = ""
    weights: Optional[dict] = None
    global_batch_size: int = 0
    is_training: Optional[bool] = False
    dtype: str = "bfloat16"
    decoder: DataDecoder = config_field(DataDecoder)
    parser: Parser = config_field(Parser)
    shuffle_buffer_size: int = 10000
    file_type: str = "tfrecord"

    def validate(self, path=""):
        super().validate(path)
        if self.file_type not in ("tfrecord", "shapes"):
            raise ConfigError(f"{path}.file_type={self.file_type!r} is not "
                              "'tfrecord' or 'shapes'.")
        _refuse_unless_default(self, path, weights=None)


@dataclasses.dataclass
class Anchor(Config):
    """Anchors per location: `num_scales` x `aspect_ratios`, the smallest
    `anchor_size` times the level's stride."""

    num_scales: int = 3
    aspect_ratios: List[float] = config_field(lambda: [0.5, 1.0, 2.0])
    anchor_size: float = 4.0


@dataclasses.dataclass
class Losses(Config):
    """The RetinaNet loss: focal (`alpha`, `gamma`) + `box_loss_weight` x
    Huber (`delta`), times `loss_weight`; L2 on kernels."""

    loss_weight: float = 1.0
    focal_loss_alpha: float = 0.25
    focal_loss_gamma: float = 1.5
    huber_loss_delta: float = 0.1
    box_loss_weight: int = 50
    l2_weight_decay: float = 0.0


@dataclasses.dataclass
class RetinaNetHead(Config):
    """The head: `num_convs` x `num_filters` towers shared across levels."""

    num_convs: int = 4
    num_filters: int = 256
    use_separable_conv: bool = False
    attribute_heads: List[dict] = config_field(list)
    share_classification_heads: bool = False
    share_level_convs: Optional[bool] = True

    def validate(self, path=""):
        _refuse_unless_default(self, path, attribute_heads=[],
                               share_classification_heads=False,
                               share_level_convs=True)


@dataclasses.dataclass
class TFLitePostProcessingConfig(Config):
    """The Model Garden's TFLite NMS options (used with `nms_version:
    tflite` only, which zoo does not build)."""

    max_detections: int = 200
    max_classes_per_detection: int = 5
    use_regular_nms: bool = False
    nms_score_threshold: float = 0.1
    nms_iou_threshold: float = 0.5
    normalize_anchor_coordinates: Optional[bool] = False


@dataclasses.dataclass
class DetectionGenerator(Config):
    """Decoding and NMS (`ObjectDetector.decode`: the Model Garden's
    `nms_version: v2`)."""

    apply_nms: bool = True
    pre_nms_top_k: int = 5000
    pre_nms_score_threshold: float = 0.05
    nms_iou_threshold: float = 0.5
    max_num_detections: int = 100
    nms_version: str = "v2"
    use_cpu_nms: bool = False
    soft_nms_sigma: Optional[float] = None
    tflite_post_processing: TFLitePostProcessingConfig = config_field(
        TFLitePostProcessingConfig)
    return_decoded: Optional[bool] = None
    use_class_agnostic_nms: Optional[bool] = False
    box_coder_weights: Optional[List[float]] = None

    def validate(self, path=""):
        # use_cpu_nms only picks the device NMS runs on.
        _refuse_unless_default(self, path, apply_nms=True, nms_version="v2",
                               soft_nms_sigma=None,
                               use_class_agnostic_nms=False,
                               box_coder_weights=None)


@dataclasses.dataclass
class RetinaNetModel(Config):
    """The detector (the Model Garden's `RetinaNet` model config)."""

    num_classes: int = 0
    input_size: List[int] = config_field(list)
    min_level: int = 3
    max_level: int = 7
    anchor: Anchor = config_field(Anchor)
    backbone: BackboneConfig = config_field(
        lambda: BackboneConfig(type="resnet"))
    decoder: DecoderConfig = config_field(lambda: DecoderConfig(type="fpn"))
    head: RetinaNetHead = config_field(RetinaNetHead)
    detection_generator: DetectionGenerator = config_field(
        DetectionGenerator)
    norm_activation: NormActivation = config_field(NormActivation)

    def validate(self, path=""):
        if self.input_size and len(self.input_size) != 3:
            raise ConfigError(
                f"{path}.input_size must be [height, width, channels], got "
                f"{self.input_size}.")
        if not 2 <= self.min_level <= self.max_level:
            raise ConfigError(
                f"{path}: need 2 <= min_level <= max_level, got "
                f"{self.min_level} and {self.max_level}.")


@dataclasses.dataclass
class ExportConfig(Config):
    """The Model Garden's export options (zoo's SavedModel returns
    pixels and int classes: only the defaults)."""

    output_normalized_coordinates: bool = False
    cast_num_detections_to_float: bool = False
    cast_detection_classes_to_float: bool = False
    output_intermediate_features: bool = False


@dataclasses.dataclass
class RetinaNetConfig(TaskConfig):
    """The RetinaNet task config (the Model Garden's `RetinaNetTask`).

    Attributes:
        annotation_file: COCO instances JSON of the validation images (the
            ground truth of the COCO metrics); empty or None: the
            validation records' own boxes.
        per_category_metrics: also report `AP_/<id>` and `ARmax100_/<id>`.
        use_coco_metrics: COCO metrics in validation (the only ones).
        freeze_backbone: train the FPN and head only.
        max_num_eval_detections: detections per image scored.
    """

    model: RetinaNetModel = config_field(RetinaNetModel)
    train_data: RetinaNetDataConfig = config_field(
        lambda: RetinaNetDataConfig(is_training=True))
    validation_data: RetinaNetDataConfig = config_field(
        lambda: RetinaNetDataConfig(is_training=False))
    losses: Losses = config_field(Losses)
    init_checkpoint: Optional[str] = None
    init_checkpoint_modules: str = "all"
    annotation_file: Optional[str] = None
    per_category_metrics: bool = False
    export_config: ExportConfig = config_field(ExportConfig)
    use_coco_metrics: bool = True
    use_wod_metrics: bool = False
    freeze_backbone: bool = False
    max_num_eval_detections: int = 100

    def validate(self, path=""):
        super().validate(path)
        _refuse_unless_default(self, path, use_coco_metrics=True,
                               use_wod_metrics=False)
        _refuse_unless_default(self.export_config, f"{path}.export_config",
                               output_normalized_coordinates=False,
                               cast_num_detections_to_float=False,
                               cast_detection_classes_to_float=False,
                               output_intermediate_features=False)


@register_task(RetinaNetConfig)
class RetinaNetTask(Task):
    """Builds a `zoo.ObjectDetector`, its record pipelines, the RetinaNet
    loss and the COCO evaluation."""

    counts_corrupt_images = True

    def __init__(self, params):
        super().__init__(params)
        self._box_counter = None
        self._anchors = None

    # --- model ------------------------------------------------------------------

    def _image_size(self):
        m = self.params.model
        if m.num_classes <= 0:
            raise ConfigError("task.model.num_classes must be positive, got "
                              f"{m.num_classes}.")
        if not m.input_size:
            raise ConfigError(
                "task.model.input_size is not set; give [height, width, "
                "channels], e.g. [640, 640, 3].")
        return tuple(m.input_size[:2])

    def build_model(self):
        m = self.params.model
        image_size = self._image_size()
        backbone = m.backbone.get()
        if backbone is None:
            raise ConfigError("task.model.backbone.type is not set.")
        decoder = m.decoder.get()
        if decoder is None:
            raise ConfigError(
                "task.model.decoder.type is not set (zoo's detectors need "
                "an FPN: type: fpn).")
        head, generator = m.head, m.detection_generator
        try:
            model = backbone.build(
                norm_activation=m.norm_activation,
                task="object_detector",
                num_classes=m.num_classes,
                input_shape=tuple(m.input_size),
                image_size=image_size,
                min_level=m.min_level, max_level=m.max_level,
                num_scales=m.anchor.num_scales,
                aspect_ratios=tuple(m.anchor.aspect_ratios),
                anchor_size=m.anchor.anchor_size,
                **decoder.create_model_arguments(m.norm_activation),
                head_num_convs=head.num_convs,
                head_filters=head.num_filters,
                head_use_separable_conv=head.use_separable_conv,
                activation=m.norm_activation.activation,
                norm_momentum=m.norm_activation.norm_momentum,
                norm_epsilon=m.norm_activation.norm_epsilon,
                pre_nms_top_k=generator.pre_nms_top_k,
                pre_nms_score_threshold=generator.pre_nms_score_threshold,
                nms_iou_threshold=generator.nms_iou_threshold,
                max_num_detections=generator.max_num_detections,
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"task.model.backbone.{m.backbone.type}: {e}") from None
        if self.params.freeze_backbone:
            model.backbone.trainable = False
        l2_regularize_kernels(model, self.params.losses.l2_weight_decay)
        self._anchors = model.anchors
        return model

    def build_losses(self):
        """The Model Garden's RetinaNet loss with this config's values."""
        from zoo.vision.detection.losses import RetinaNetLoss

        losses = self.params.losses
        return RetinaNetLoss(alpha=losses.focal_loss_alpha,
                             gamma=losses.focal_loss_gamma,
                             delta=losses.huber_loss_delta,
                             box_loss_weight=losses.box_loss_weight,
                             loss_weight=losses.loss_weight)

    def build_metrics(self):
        """None: training reports the loss; validation, COCO metrics."""
        return None

    def initialize(self, model):
        path = self.params.init_checkpoint or ""
        if path.startswith("gs://cloud-tpu-checkpoints/"):
            raise ConfigError(
                f"task.init_checkpoint={path!r} is a Model Garden "
                "TensorFlow checkpoint, which zoo does not read; set it to "
                "a zoo checkpoint or preset (e.g. an ImageNet ResNet-50 "
                "preset with init_checkpoint_modules: backbone), or to '' "
                "to start from random weights.")
        super().initialize(model)

    def export_preprocessor(self):
        """A `DetectionPreprocessor` at the model's input size."""
        import zoo

        return zoo.DetectionPreprocessor(image_size=self._image_size())

    # --- data -------------------------------------------------------------------

    def counters(self):
        return [self._box_counter] if self._box_counter is not None else []

    def input_files(self, data_config):
        """The TFRecords of a data config (the shapes set is drawn on first
        use)."""
        from training.data.shapes import ensure_shapes_dataset

        return record_files(
            data_config, ensure_shapes_dataset,
            "zoo's detection pipeline reads TFRecords; convert COCO with "
            "`zoo data coco-to-tfrecord` and set input_path.")

    def annotation_file(self, data_config):
        """The ground truth of the COCO metrics: `task.annotation_file`, the
        shapes set's JSON, or None (the records' boxes)."""
        from training.data.shapes import ensure_shapes_dataset

        if self.params.annotation_file:
            return self.params.annotation_file
        if data_config.file_type == "shapes":
            split = "train" if data_config.is_training else "val"
            return ensure_shapes_dataset()[split]["annotation_file"]
        return None

    def _anchors_of_config(self):
        if self._anchors is None:
            from zoo.vision.detection.anchors import flat_anchors

            m = self.params.model
            self._anchors, _ = flat_anchors(
                self._image_size(), min_level=m.min_level,
                max_level=m.max_level, num_scales=m.anchor.num_scales,
                aspect_ratios=m.anchor.aspect_ratios,
                anchor_size=m.anchor.anchor_size)
        return self._anchors

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None,
                     with_groundtruth=None):
        from training.data.detection import build_detection_dataset
        from training.data.image_classification import CorruptImageCounter

        batch = per_process_batch(data_config, num_shards)
        if self._box_counter is None:
            self._box_counter = CorruptImageCounter(
                "dropped_boxes", "empty boxes (after clipping to the image)")
        return build_detection_dataset(
            self.input_files(data_config), data_config,
            output_size=self._image_size(),
            anchors=self._anchors_of_config(),
            num_classes=self.params.model.num_classes, batch_size=batch,
            seed=seed, start_step=start_step, num_shards=num_shards,
            shard_index=shard_index, counter=counter,
            box_counter=self._box_counter,
            with_groundtruth=with_groundtruth)

    # --- evaluation -------------------------------------------------------------

    @property
    def evaluates_itself(self):
        """Always: COCO metrics need every validation image."""
        return True

    def evaluate(self, model, data_config, *, steps=None):
        """Detects on the validation records and scores with pycocotools.

        Returns:
            dict of `CocoEvaluator.result()` (`AP`, `AP50`, ...).

        Raises:
            ConfigError: an image of the records is not in the annotation
                file (named by its id).
        """
        from zoo.vision.detection.coco_metrics import CocoEvaluator

        annotation_file = self.annotation_file(data_config)
        evaluator = CocoEvaluator(
            annotation_file=annotation_file,
            per_category_metrics=self.params.per_category_metrics,
            max_num_eval_detections=self.params.max_num_eval_detections)
        dataset = self.build_inputs(data_config, with_groundtruth=True)
        if steps:
            dataset = dataset.take(steps)
        for images, labels in dataset.as_numpy_iterator():
            info = labels["image_info"]
            detections = model.predict_on_batch(
                {"images": images, "image_info": info})
            scale = info[:, 2]
            evaluator.update_state({
                "source_id": labels["source_id"],
                "height": info[:, 0, 0], "width": info[:, 0, 1],
                # Back to the original image's pixels (no crop offset in
                # evaluation).
                "boxes": labels["gt_boxes"] / (
                    scale[:, None, [0, 1, 0, 1]]),
                "classes": labels["gt_classes"],
                "is_crowd": labels["gt_is_crowd"],
                "area": labels["gt_area"],
            }, detections)
            try:  # at once, not after the whole set
                evaluator.check_image_ids()
            except ValueError as e:
                raise ConfigError(f"task.annotation_file: {e}") from None
        return evaluator.result()


# --- registered experiments -----------------------------------------------------

COCO_INPUT_PATH_BASE = "coco"
COCO_TRAIN_EXAMPLES = 118287
COCO_VAL_EXAMPLES = 5000


@register_experiment("retinanet")
def retinanet():
    """A bare RetinaNet experiment: fill in model and data.

    The Model Garden's `retinanet` factory: every class default
    (`official/vision/configs/retinanet.py`).
    """
    return ExperimentConfig(task=RetinaNetConfig(), trainer=TrainerConfig(),
                            runtime=RuntimeConfig())


def _coco_experiment(*, dtype, model, l2_weight_decay, scale_min,
                     scale_max, epochs, boundary_epochs, warmup_steps,
                     **task):
    """What the Model Garden's COCO RetinaNet factories share
    (`official/vision/configs/retinanet.py`): batch 256 for training (462
    steps an epoch) and 8 for evaluation (625 steps: the 5,000 validation
    images), 91 classes, levels 3-7, hflip and the given scale jitter, an
    epoch per loop, summary, checkpoint and validation, SGD with momentum
    0.9 and a stepwise learning rate 0.32 / 0.032 / 0.0032 (times batch /
    256) after linear warmup from 0.0067, the ground truth in
    `coco/instances_val2017.json`."""
    train_batch, eval_batch = 256, 8
    epoch = COCO_TRAIN_EXAMPLES // train_batch
    model.num_classes, model.min_level, model.max_level = 91, 3, 7
    config = ExperimentConfig(
        runtime=RuntimeConfig(mixed_precision_dtype=dtype),
        task=RetinaNetConfig(
            annotation_file=f"{COCO_INPUT_PATH_BASE}/instances_val2017.json",
            model=model, losses=Losses(l2_weight_decay=l2_weight_decay),
            train_data=RetinaNetDataConfig(
                input_path=f"{COCO_INPUT_PATH_BASE}/train*",
                is_training=True, global_batch_size=train_batch,
                parser=Parser(aug_rand_hflip=True, aug_scale_min=scale_min,
                              aug_scale_max=scale_max)),
            validation_data=RetinaNetDataConfig(
                input_path=f"{COCO_INPUT_PATH_BASE}/val*",
                is_training=False, global_batch_size=eval_batch),
            **task),
        trainer=TrainerConfig(
            train_steps=epochs * epoch,
            validation_steps=COCO_VAL_EXAMPLES // eval_batch,
            validation_interval=epoch, steps_per_loop=epoch,
            summary_interval=epoch, checkpoint_interval=epoch))
    scale = train_batch / 256.0
    config.override({"trainer.optimizer_config": {
        "optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
        "learning_rate": {"type": "stepwise", "stepwise": {
            "boundaries": [b * epoch for b in boundary_epochs],
            "values": [0.32 * scale, 0.032 * scale, 0.0032 * scale]}},
        "warmup": {"type": "linear", "linear": {
            "warmup_steps": warmup_steps, "warmup_learning_rate": 0.0067}}}})
    return config


@register_experiment("retinanet_resnetfpn_coco")
def retinanet_resnetfpn_coco():
    """RetinaNet ResNet-50 + FPN on COCO TFRecords: the Model Garden's
    `retinanet_resnetfpn_coco`.

    Its values, from `official/vision/configs/retinanet.py`: 91 classes at
    640x640, levels 3-7, the backbone initialised from the Model Garden's
    ImageNet ResNet-50 checkpoint (`init_checkpoint_modules: backbone`;
    zoo cannot read that checkpoint, so set `task.init_checkpoint`), L2
    1e-4, batch 256 for training (462 steps an epoch) and 8 for evaluation
    (625 steps: the 5,000 validation images), hflip and scale jitter
    0.8-1.2, 72 epochs of SGD with momentum 0.9, a stepwise learning rate
    0.32 / 0.032 / 0.0032 (times batch / 256) with boundaries at epochs 57
    and 67 after 500 steps of linear warmup from 0.0067, bfloat16, the
    ground truth in `coco/instances_val2017.json`.
    """
    return _coco_experiment(
        dtype="bfloat16",
        model=RetinaNetModel(input_size=[640, 640, 3],
                             norm_activation=NormActivation(
                                 use_sync_bn=False)),
        l2_weight_decay=1e-4, scale_min=0.8, scale_max=1.2, epochs=72,
        boundary_epochs=(57, 67), warmup_steps=500,
        init_checkpoint="gs://cloud-tpu-checkpoints/vision-2.0/"
                        "resnet50_imagenet/ckpt-28080",
        init_checkpoint_modules="backbone")


@register_experiment("retinanet_spinenet_coco")
def retinanet_spinenet_coco():
    """RetinaNet on SpineNet-49 on COCO: the Model Garden's
    `retinanet_spinenet_coco`, its values carried so its SpineNet files
    parse (`official/vision/configs/retinanet.py`): SpineNet-49 with
    drop-path 0.2 on levels 3-7, the identity decoder, anchor size 3,
    swish with synchronised batch norm, 640x640, L2 4e-5, scale jitter
    0.1-2.0, 500 epochs with boundaries at 475 and 490, 2,000 warmup
    steps, float32, no initial checkpoint. zoo does not build SpineNet
    yet: a run refuses it; select another backbone and an `fpn` decoder
    to train.
    """
    config = _coco_experiment(
        dtype="float32",
        model=RetinaNetModel(
            input_size=[640, 640, 3], anchor=Anchor(anchor_size=3),
            norm_activation=NormActivation(use_sync_bn=True,
                                           activation="swish")),
        l2_weight_decay=4e-5, scale_min=0.1, scale_max=2.0, epochs=500,
        boundary_epochs=(475, 490), warmup_steps=2000)
    config.override({"task.model": {
        "backbone": {"type": "spinenet", "spinenet": {
            "model_id": "49", "stochastic_depth_drop_rate": 0.2,
            "min_level": 3, "max_level": 7}},
        "decoder": {"type": "identity"}}}, validate=False)
    return config


@register_experiment("retinanet_mobile_coco")
def retinanet_mobile_coco():
    """RetinaNet on SpineNet-49 Mobile on COCO: the Model Garden's
    `retinanet_mobile_coco` (`official/vision/configs/retinanet.py`), over
    which its MobileNet, MobileDet and SpineNet-Mobile files apply:
    SpineNet-49 Mobile with drop-path 0.2 on levels 3-7, the identity
    decoder, a 4 x 48 separable head, anchor size 3, swish with
    synchronised batch norm, 384x384, L2 3e-5, scale jitter 0.1-2.0, 600
    epochs with boundaries at 575 and 590, 2,000 warmup steps, float32.
    zoo does not build SpineNet Mobile yet: with the factory's backbone a
    run refuses it; `coco_mobilenetv2_tpu.yaml` (MobileNetV2 + FPN) runs.
    """
    config = _coco_experiment(
        dtype="float32",
        model=RetinaNetModel(
            input_size=[384, 384, 3], anchor=Anchor(anchor_size=3),
            head=RetinaNetHead(num_filters=48, use_separable_conv=True),
            norm_activation=NormActivation(use_sync_bn=True,
                                           activation="swish")),
        l2_weight_decay=3e-5, scale_min=0.1, scale_max=2.0, epochs=600,
        boundary_epochs=(575, 590), warmup_steps=2000)
    config.override({"task.model": {
        "backbone": {"type": "spinenet_mobile", "spinenet_mobile": {
            "model_id": "49", "stochastic_depth_drop_rate": 0.2,
            "min_level": 3, "max_level": 7,
            "use_keras_upsampling_2d": False}},
        "decoder": {"type": "identity"}}}, validate=False)
    return config


@register_experiment("retinanet_shapes")
def retinanet_shapes():
    """A small RetinaNet that learns zoo's drawn shapes on a CPU.

    The `shapes` set (`training.data.shapes`: circles, squares and
    triangles on crops of scikit-image's photos, 1,024 training and 128
    validation images of 96-160 pixels, written as PNG + COCO JSON +
    TFRecords under `$ZOO_HOME/datasets/` on first use), a ResNet-18 at
    quarter width with a 32-channel FPN and a 2 x 32 head on levels 3-5 at
    128x128, anchors 3 x stride; batch 16, hflip and scale jitter
    0.8-1.2, SGD with momentum 0.9 and a cosine schedule from 0.04 after
    100 warmup steps, L2 1e-4; validation with pycocotools against the
    set's COCO JSON, the best checkpoint (by `AP`) exported. Zoo's own
    experiment.
    """
    steps = 3000
    config = ExperimentConfig(
        runtime=RuntimeConfig(distribution_strategy="off", seed=0),
        task=RetinaNetConfig(
            model=RetinaNetModel(
                num_classes=4, input_size=[128, 128, 3], min_level=3,
                max_level=5, anchor=Anchor(anchor_size=3.0),
                head=RetinaNetHead(num_convs=2, num_filters=32),
                norm_activation=NormActivation(use_sync_bn=False)),
            losses=Losses(l2_weight_decay=1e-4),
            train_data=RetinaNetDataConfig(
                file_type="shapes", is_training=True, global_batch_size=16,
                dtype="float32", shuffle_buffer_size=1024,
                parser=Parser(aug_rand_hflip=True, aug_scale_min=0.8,
                              aug_scale_max=1.2)),
            validation_data=RetinaNetDataConfig(
                file_type="shapes", is_training=False, global_batch_size=32,
                dtype="float32", drop_remainder=False)),
        trainer=TrainerConfig(
            train_steps=steps, steps_per_loop=100, summary_interval=100,
            checkpoint_interval=500, validation_interval=500,
            validation_steps=-1, max_to_keep=3,
            best_checkpoint_export_subdir="best",
            best_checkpoint_eval_metric="AP"))
    config.override({
        "task.model.backbone.resnet": {"model_id": 18,
                                       "depth_multiplier": 0.25},
        "task.model.decoder.fpn": {"num_filters": 32},
        "trainer.optimizer_config": {
            "optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
            "learning_rate": {"type": "cosine", "cosine": {
                "initial_learning_rate": 0.04, "decay_steps": steps}},
            "warmup": {"type": "linear", "linear": {"warmup_steps": 100}}}})
    return config
