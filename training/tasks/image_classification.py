"""Image classification: config, task and the registered experiments.

Config classes, field names and defaults follow the Model Garden's
`official/vision/configs/image_classification.py` (`DataConfig`,
`ImageClassificationModel`, `Losses`, `Evaluation`,
`ImageClassificationTask`, here `ImageClassificationConfig`), so its YAML
files (e.g. `imagenet_resnet50_gpu.yaml`) parse unchanged; the experiments
`image_classification` and `resnet_imagenet` carry its factories' values.
The backbone is whichever `task.model.backbone` selects
(`training/models/backbones/`).
"""

import dataclasses
from typing import List, Optional, Union

import keras

from training.config.base import Config, ConfigError, config_field
from training.config.common import (
    Augmentation,
    MixupAndCutmix,
    NormActivation,
    RandomErasing,
)
from training.config.definitions import (
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
)
from training.models import BackboneConfig
from training.registry import register_experiment, register_task
from training.tasks.base import Task, l2_regularize_kernels



@dataclasses.dataclass
class ImageDataConfig(DataConfig):
    """The Model Garden's image classification `DataConfig`.

    Attributes:
        file_type: `"tfrecord"` (default; an `input_path` naming one
            directory of class folders is read as an image folder),
            `"folder"`, `"tfds"`, `"synthetic"` or `"digits"`.
        aug_rand_hflip: random horizontal flips while training.
        aug_crop: random resized crops while training (else plain resize).
        crop_area_range: area fraction range of the random crops.
        center_crop_fraction: evaluation crop (0.875: 224 of 256).
        tf_resize_method: `tf.image.resize` method.
        aug_type: None, or `{type: randaug, randaug: {...}}` (RandAugment).
        mixup_and_cutmix: MixUp / CutMix alphas (0 disables).
        is_multilabel, decode_jpeg_only, image_field_key, label_field_key,
        random_erasing: None, or random erasing of normalised training
            images (`training.data.augment.random_erase`).
        three_augment, color_jitter, weights, decoder,
        aug_policy, randaug_magnitude, repeated_augment: accepted for Model
        Garden compatibility; values other than the defaults are refused
        where zoo does not implement them.
    """

    input_path: Union[str, List[str]] = ""
    weights: Optional[dict] = None
    global_batch_size: int = 0
    is_training: bool = True
    dtype: str = "float32"
    shuffle_buffer_size: int = 10000
    cycle_length: int = 10
    is_multilabel: bool = False
    aug_rand_hflip: bool = True
    aug_crop: Optional[bool] = True
    crop_area_range: Optional[List[float]] = config_field(lambda: [0.08, 1.0])
    aug_type: Optional[Augmentation] = None
    three_augment: bool = False
    color_jitter: float = 0.0
    random_erasing: Optional[RandomErasing] = None
    file_type: str = "tfrecord"
    image_field_key: str = "image/encoded"
    label_field_key: str = "image/class/label"
    decode_jpeg_only: bool = True
    mixup_and_cutmix: Optional[MixupAndCutmix] = None
    decoder: Optional[dict] = None
    aug_policy: Optional[str] = None
    randaug_magnitude: Optional[int] = 10
    center_crop_fraction: Optional[float] = 0.875
    tf_resize_method: str = "bilinear"
    repeated_augment: Optional[int] = None

    def validate(self, path=""):
        unsupported = {
            "is_multilabel": (self.is_multilabel, False),
            "three_augment": (self.three_augment, False),
            "color_jitter": (self.color_jitter, 0.0),
            "image_field_key": (self.image_field_key, "image/encoded"),
            "label_field_key": (self.label_field_key, "image/class/label"),
            "weights": (self.weights, None),
            "aug_policy": (self.aug_policy, None),
            "repeated_augment": (self.repeated_augment, None),
        }
        for name, (value, default) in unsupported.items():
            if value != default:
                raise ConfigError(
                    f"{path}.{name}={value!r} is not supported yet (only "
                    f"{default!r}).")
        if self.crop_area_range is not None and len(
                self.crop_area_range) != 2:
            raise ConfigError(
                f"{path}.crop_area_range must be [min, max], got "
                f"{self.crop_area_range}.")
        if self.aug_type is not None and self.aug_type.type == "autoaug":
            raise ConfigError(
                f"{path}.aug_type.type='autoaug' is not supported yet; use "
                "randaug.")
        if self.aug_type is not None and self.aug_type.type == "randaug":
            r = self.aug_type.randaug
            fixed = {"cutout_const": (r.cutout_const, 40.0),
                     "translate_const": (r.translate_const, 10.0),
                     "magnitude_std": (r.magnitude_std, 0.0),
                     "prob_to_apply": (r.prob_to_apply, None)}
            # Keras' RandAugment has none of these three of the Model
            # Garden's ops, so excluding them changes nothing.
            absent = {"Cutout", "Invert", "SolarizeAdd"}
            if not set(r.exclude_ops) <= absent:
                raise ConfigError(
                    f"{path}.aug_type.randaug.exclude_ops={r.exclude_ops!r}:"
                    " Keras' RandAugment cannot leave out "
                    f"{sorted(set(r.exclude_ops) - absent)}; only "
                    f"{sorted(absent)} (which it does not have) may be "
                    "listed.")
            for name, (value, default) in fixed.items():
                if value != default:
                    raise ConfigError(
                        f"{path}.aug_type.randaug.{name}={value!r} is not "
                        f"supported yet (Keras' RandAugment; only "
                        f"{default!r}).")
        decoder = self.decoder or {}
        if decoder.get("type", "simple_decoder") != "simple_decoder":
            raise ConfigError(
                f"{path}.decoder.type={decoder.get('type')!r} is not "
                "supported yet (only 'simple_decoder').")


@dataclasses.dataclass
class ImageClassificationModel(Config):
    """The classifier: backbone, head, input size and normalisation.

    `mean` / `stddev` (zoo's) are per-channel statistics on the 0-255 scale
    (the Model Garden's MEAN_RGB / STDDEV_RGB by default), applied in the
    input pipeline and attached to exported presets.
    """

    num_classes: int = 0
    input_size: List[int] = config_field(list)
    backbone: BackboneConfig = config_field(lambda: BackboneConfig(type="resnet"))
    dropout_rate: float = 0.0
    norm_activation: NormActivation = config_field(
        lambda: NormActivation(use_sync_bn=False))
    add_head_batch_norm: bool = False
    kernel_initializer: str = "random_uniform"
    output_softmax: bool = False
    mean: List[float] = config_field(lambda: [0.485 * 255, 0.456 * 255,
                                        0.406 * 255])
    stddev: List[float] = config_field(lambda: [0.229 * 255, 0.224 * 255,
                                          0.225 * 255])

    def validate(self, path=""):
        if self.input_size and len(self.input_size) != 3:
            raise ConfigError(
                f"{path}.input_size must be [height, width, channels], got "
                f"{self.input_size}.")
        if self.add_head_batch_norm:
            raise ConfigError(
                f"{path}.add_head_batch_norm is not supported yet.")


@dataclasses.dataclass
class Losses(Config):
    """Loss settings: one-hot labels, label smoothing, L2 weight decay."""

    loss_weight: float = 1.0
    one_hot: bool = True
    label_smoothing: float = 0.0
    l2_weight_decay: float = 0.0
    soft_labels: bool = False
    use_binary_cross_entropy: bool = False


@dataclasses.dataclass
class Evaluation(Config):
    """Evaluation metrics: top-1 and top-`top_k` accuracy."""

    top_k: int = 5
    precision_and_recall_thresholds: Optional[List[float]] = None
    report_per_class_precision_and_recall: bool = False

    def validate(self, path=""):
        if self.precision_and_recall_thresholds or (
                self.report_per_class_precision_and_recall):
            raise ConfigError(
                f"{path}: precision and recall metrics are not supported "
                "yet.")


@dataclasses.dataclass
class ImageClassificationConfig(TaskConfig):
    """The image classification task config (the Model Garden's
    `ImageClassificationTask`)."""

    model: ImageClassificationModel = config_field(ImageClassificationModel)
    train_data: ImageDataConfig = config_field(
        lambda: ImageDataConfig(is_training=True))
    validation_data: ImageDataConfig = config_field(
        lambda: ImageDataConfig(is_training=False))
    losses: Losses = config_field(Losses)
    evaluation: Evaluation = config_field(Evaluation)
    train_input_partition_dims: Optional[List[int]] = config_field(list)
    eval_input_partition_dims: Optional[List[int]] = config_field(list)
    init_checkpoint: Optional[str] = None
    init_checkpoint_modules: str = "all"
    model_output_keys: Optional[List[int]] = config_field(list)
    freeze_backbone: bool = False


@register_task(ImageClassificationConfig)
class ImageClassificationTask(Task):
    """Builds a zoo image classifier on the configured backbone, its data
    pipelines, loss and metrics."""

    counts_corrupt_images = True

    def _one_hot(self):
        losses = self.params.losses
        mix = self.params.train_data.mixup_and_cutmix
        return bool(losses.one_hot or losses.label_smoothing or mix)

    def build_model(self):
        m = self.params.model
        if m.num_classes <= 0:
            raise ConfigError(
                "task.model.num_classes must be positive, got "
                f"{m.num_classes}.")
        if not m.input_size:
            raise ConfigError(
                "task.model.input_size is not set; give [height, width, "
                "channels], e.g. [224, 224, 3].")
        backbone = m.backbone.get()
        if backbone is None:
            raise ConfigError("task.model.backbone.type is not set.")
        try:
            model = backbone.build(
                norm_activation=m.norm_activation,
                task="image_classifier",
                num_classes=m.num_classes,
                input_shape=tuple(m.input_size),
                dropout=m.dropout_rate,
                activation="softmax" if m.output_softmax else None,
                head_initializer=m.kernel_initializer,
                # Logits in float32 under mixed precision, for the loss and
                # the metrics.
                head_dtype="float32",
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"task.model.backbone.{m.backbone.type}: {e}") from None
        if self.params.freeze_backbone:
            model.backbone.trainable = False
        l2_regularize_kernels(model, self.params.losses.l2_weight_decay)
        return model

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        from training.data.image_classification import build_image_dataset

        m = self.params.model
        aug = data_config.aug_type
        randaug = None
        if aug is not None and aug.type == "randaug":
            randaug = {"num_ops": aug.randaug.num_layers,
                       "factor": aug.randaug.magnitude / 10.0}
        mix = data_config.mixup_and_cutmix
        erasing = data_config.random_erasing
        if erasing is not None:
            erasing = {"probability": erasing.probability,
                       "min_area": erasing.min_area,
                       "max_area": erasing.max_area,
                       "min_aspect": erasing.min_aspect}
        return build_image_dataset(
            data_config,
            image_size=tuple(m.input_size[:2]),
            num_classes=m.num_classes,
            channels=m.input_size[2],
            one_hot=self._one_hot(),
            mean=tuple(m.mean),
            stddev=tuple(m.stddev),
            aug_rand_hflip=data_config.aug_rand_hflip,
            aug_crop=bool(data_config.aug_crop),
            crop_area_range=tuple(data_config.crop_area_range
                                  or (0.08, 1.0)),
            center_crop_fraction=(data_config.center_crop_fraction
                                  or 1.0),
            resize_method=data_config.tf_resize_method,
            randaug=randaug,
            random_erasing=erasing,
            mixup_alpha=mix.mixup_alpha if mix else 0.0,
            cutmix_alpha=mix.cutmix_alpha if mix else 0.0,
            mix_prob=mix.prob if mix else 1.0,
            switch_prob=mix.switch_prob if mix else 0.5,
            mix_label_smoothing=mix.label_smoothing if mix else 0.0,
            seed=seed,
            start_step=start_step,
            num_shards=num_shards,
            shard_index=shard_index,
            counter=counter,
        )

    def build_losses(self):
        losses = self.params.losses
        from_logits = not self.params.model.output_softmax
        if losses.use_binary_cross_entropy:
            return keras.losses.BinaryCrossentropy(
                from_logits=from_logits,
                label_smoothing=losses.label_smoothing)
        if self._one_hot():
            # The Model Garden smooths one-hot labels; soft labels (MixUp,
            # CutMix, smoothed by `mixup_and_cutmix.label_smoothing`) go
            # into the cross-entropy as they are.
            smoothing = (losses.label_smoothing
                         if losses.one_hot or not losses.soft_labels else 0.0)
            return keras.losses.CategoricalCrossentropy(
                from_logits=from_logits, label_smoothing=smoothing)
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=from_logits)

    def build_metrics(self):
        k = self.params.evaluation.top_k
        if self._one_hot():
            return [keras.metrics.CategoricalAccuracy(name="accuracy"),
                    keras.metrics.TopKCategoricalAccuracy(
                        k=k, name=f"top_{k}_accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                keras.metrics.SparseTopKCategoricalAccuracy(
                    k=k, name=f"top_{k}_accuracy")]

    def export_preprocessor(self):
        """An `ImagePreprocessor` equal to the evaluation pipeline."""
        import zoo

        m = self.params.model
        v = self.params.validation_data
        return zoo.ImagePreprocessor(
            image_size=tuple(m.input_size[:2]),
            crop_pct=v.center_crop_fraction or 1.0,
            interpolation=v.tf_resize_method,
            scale=1.0,
            mean=tuple(m.mean),
            std=tuple(m.stddev),
        )


# --- registered experiments --------------------------------------------------

IMAGENET_TRAIN_EXAMPLES = 1281167
IMAGENET_VAL_EXAMPLES = 50000
IMAGENET_INPUT_PATH_BASE = "imagenet-2012-tfrecord"


@register_experiment("image_classification")
def image_classification():
    """A bare image classification experiment: fill in model and data.

    The Model Garden's `image_classification` factory: every class default
    (`official/vision/configs/image_classification.py`).
    """
    return ExperimentConfig(
        task=ImageClassificationConfig(),
        trainer=TrainerConfig(),
        runtime=RuntimeConfig(),
    )


#: The Model Garden's ImageNet factories: batch 4096 (312 steps an epoch).
IMAGENET_BATCH = 4096
IMAGENET_EPOCH = IMAGENET_TRAIN_EXAMPLES // IMAGENET_BATCH


def _imagenet_experiment(model, losses, epochs, optimizer, learning_rate,
                         runtime=None, backbone=None, overrides=None):
    """The frame the Model Garden's ImageNet factories share: batch 4096
    for training and evaluation, a loop, summary, checkpoint and
    validation every epoch, the whole validation set (12 batches), `epochs`
    epochs of training after 5 epochs of linear warmup from 0, with the
    given `optimizer` and `learning_rate` (one-of config dicts); then
    `overrides` (a config override dict)."""
    config = ExperimentConfig(
        runtime=runtime or RuntimeConfig(),
        task=ImageClassificationConfig(
            model=model, losses=losses,
            train_data=ImageDataConfig(
                input_path=f"{IMAGENET_INPUT_PATH_BASE}/train*",
                is_training=True, global_batch_size=IMAGENET_BATCH),
            validation_data=ImageDataConfig(
                input_path=f"{IMAGENET_INPUT_PATH_BASE}/valid*",
                is_training=False, global_batch_size=IMAGENET_BATCH),
        ),
        trainer=TrainerConfig(
            steps_per_loop=IMAGENET_EPOCH,
            summary_interval=IMAGENET_EPOCH,
            checkpoint_interval=IMAGENET_EPOCH,
            train_steps=epochs * IMAGENET_EPOCH,
            validation_steps=IMAGENET_VAL_EXAMPLES // IMAGENET_BATCH,
            validation_interval=IMAGENET_EPOCH,
        ),
    )
    config.override({
        "task.model.backbone": backbone or {
            "type": "resnet", "resnet": {"model_id": 50}},
        "trainer.optimizer_config": {
            "optimizer": optimizer, "learning_rate": learning_rate,
            "warmup": {"type": "linear",
                       "linear": {"warmup_steps": 5 * IMAGENET_EPOCH,
                                  "warmup_learning_rate": 0}}}})
    if overrides:
        # Validated, as the Model Garden does, once the experiment's files
        # and overrides are applied (resnet_rs_imagenet's EMA of every
        # weight is refused unless its YAML file nulls it).
        config.override(overrides, validate=False)
    return config


@register_experiment("resnet_imagenet")
def resnet_imagenet():
    """ResNet-50 on ImageNet TFRecords: the Model Garden's `resnet_imagenet`.

    Its values, from `official/vision/configs/image_classification.py`:
    batch 4096 (312 steps an epoch), 90 epochs (28,080 steps), SGD momentum
    0.9, stepwise learning rate 1.6 -> 0.0016 at epochs 30/60/80 with 5
    epochs of linear warmup, L2 1e-4, batch norm momentum 0.9 and epsilon
    1e-5, XLA on, 1001 classes at 224x224. The GPU recipe
    `imagenet_resnet50_gpu.yaml` overrides batch, steps, schedule, label
    smoothing and float16 on top of it.
    """
    scale = IMAGENET_BATCH / 256
    return _imagenet_experiment(
        ImageClassificationModel(
            num_classes=1001, input_size=[224, 224, 3],
            norm_activation=NormActivation(
                norm_momentum=0.9, norm_epsilon=1e-5, use_sync_bn=False)),
        Losses(l2_weight_decay=1e-4), epochs=90,
        runtime=RuntimeConfig(enable_xla=True),
        optimizer={"type": "sgd", "sgd": {"momentum": 0.9}},
        learning_rate={"type": "stepwise", "stepwise": {
            "boundaries": [e * IMAGENET_EPOCH for e in (30, 60, 80)],
            "values": [0.1 * scale, 0.01 * scale, 0.001 * scale,
                       0.0001 * scale]}})


@register_experiment("resnet_rs_imagenet")
def resnet_rs_imagenet():
    """ResNet-RS-50 on ImageNet TFRecords at 160x160: the Model Garden's
    `resnet_rs_imagenet`.

    Its values, from `official/vision/configs/image_classification.py`:
    batch 4096, 350 epochs, SGD momentum 0.9, cosine learning rate from 1.6
    after 5 epochs of linear warmup, EMA 0.9999 of every weight, L2 4e-5,
    label smoothing 0.1, RandAugment magnitude 10, dropout 0.25, swish,
    batch norm momentum 0 and epsilon 1e-5; the backbone a ResNet-50 with
    the deep stem, ResNet-D shortcuts, a strided convolution for the stem
    pool and squeeze-excitation 0.25. `imagenet_resnetrs50_i160_gpu.yaml`
    applies over it (it sets `ema: null`: zoo's EMA averages trainable
    weights only).
    """
    epochs = 350
    return _imagenet_experiment(
        ImageClassificationModel(
            num_classes=1001, input_size=[160, 160, 3], dropout_rate=0.25,
            norm_activation=NormActivation(
                norm_momentum=0.0, norm_epsilon=1e-5, use_sync_bn=False,
                activation="swish")),
        Losses(l2_weight_decay=4e-5, label_smoothing=0.1), epochs=epochs,
        backbone={"type": "resnet", "resnet": {
            "model_id": 50, "stem_type": "v1", "resnetd_shortcut": True,
            "replace_stem_max_pool": True, "se_ratio": 0.25,
            "stochastic_depth_drop_rate": 0.0}},
        optimizer={"type": "sgd", "sgd": {"momentum": 0.9}},
        learning_rate={"type": "cosine", "cosine": {
            "initial_learning_rate": 1.6,
            "decay_steps": epochs * IMAGENET_EPOCH}},
        overrides={
            "task.train_data.aug_type": {"type": "randaug",
                                         "randaug": {"magnitude": 10}},
            "trainer.optimizer_config.ema": {
                "average_decay": 0.9999, "trainable_weights_only": False}})


@register_experiment("mobilenet_imagenet")
def mobilenet_imagenet():
    """MobileNetV2 on ImageNet TFRecords: the Model Garden's
    `mobilenet_imagenet`.

    Its values, from `official/vision/configs/image_classification.py`:
    batch 4096 (312 steps an epoch), 500 epochs, RMSprop (rho 0.9, momentum
    0.9, epsilon 0.002), exponential learning rate 0.256 decaying by 0.98
    every 2.5 epochs (staircase) after 5 epochs of linear warmup, L2 1e-5,
    label smoothing 0.1, dropout 0.2, batch norm momentum 0.997 and epsilon
    1e-3, 1001 classes at 224x224. `imagenet_mobilenetv2_gpu.yaml`
    overrides batch, steps, schedule and float16 on top of it.
    """
    return _imagenet_experiment(
        ImageClassificationModel(
            num_classes=1001, dropout_rate=0.2, input_size=[224, 224, 3],
            norm_activation=NormActivation(
                norm_momentum=0.997, norm_epsilon=1e-3, use_sync_bn=False)),
        Losses(l2_weight_decay=1e-5, label_smoothing=0.1), epochs=500,
        backbone={"type": "mobilenet", "mobilenet": {
            "model_id": "MobileNetV2", "filter_size_scale": 1.0}},
        optimizer={"type": "rmsprop", "rmsprop": {
            "rho": 0.9, "momentum": 0.9, "epsilon": 0.002}},
        learning_rate={"type": "exponential", "exponential": {
            "initial_learning_rate": 0.008 * (IMAGENET_BATCH // 128),
            "decay_steps": int(2.5 * IMAGENET_EPOCH), "decay_rate": 0.98,
            "staircase": True}})


#: The AdamW of the Model Garden's ViT and DeiT factories: weight decay
#: on kernels only, no gradient clipping.
def _vit_adamw(weight_decay_rate):
    return {"type": "adamw", "adamw": {
        "weight_decay_rate": weight_decay_rate,
        "include_in_weight_decay": r".*(kernel|weight):0$",
        "gradient_clip_norm": 0.0}}


def _vit_model(input_size=(224, 224), kernel_initializer="zeros", **vit):
    """The Model Garden's ViT classifier config: 1001 classes, a ViT-B/16
    backbone with `vit` fields."""
    return ImageClassificationModel(
        num_classes=1001, input_size=[*input_size, 3],
        kernel_initializer=kernel_initializer), {
        "type": "vit", "vit": {"model_name": "vit-b16", **vit}}


@register_experiment("deit_imagenet_pretrain")
def deit_imagenet_pretrain():
    """ViT-B/16 trained the DeiT way on ImageNet TFRecords: the Model
    Garden's `deit_imagenet_pretrain`.

    Its values, from `official/vision/configs/image_classification.py`:
    batch 4096 (312 steps an epoch), 300 epochs, AdamW (weight decay 0.05
    on kernels, no clipping), cosine from 0.0005 x 4096 / 512 = 0.004
    after 5 epochs of linear warmup, RandAugment magnitude 9 without
    Cutout, MixUp 0.8 / CutMix 1.0 with label smoothing 0.1 (soft labels),
    stochastic depth 0.1, a 768-wide pre-logits layer, zero-initialised
    head, 1001 classes at 224x224.
    """
    model, backbone = _vit_model(
        representation_size=768, init_stochastic_depth_rate=0.1,
        original_init=False,
        transformer={"dropout_rate": 0.0, "attention_dropout_rate": 0.0})
    return _imagenet_experiment(
        model, Losses(l2_weight_decay=0.0, label_smoothing=0.1,
                      one_hot=False, soft_labels=True), epochs=300,
        backbone=backbone, optimizer=_vit_adamw(0.05),
        learning_rate={"type": "cosine", "cosine": {
            "initial_learning_rate": 0.0005 * IMAGENET_BATCH / 512,
            "decay_steps": 300 * IMAGENET_EPOCH}},
        overrides={
            "task.train_data.aug_type": {"type": "randaug", "randaug": {
                "magnitude": 9, "exclude_ops": ["Cutout"]}},
            "task.train_data.mixup_and_cutmix": {"label_smoothing": 0.1}})


@register_experiment("vit_imagenet_pretrain")
def vit_imagenet_pretrain():
    """ViT-B/16 pretraining on ImageNet TFRecords: the Model Garden's
    `vit_imagenet_pretrain`.

    Its values, from `official/vision/configs/image_classification.py`:
    batch 4096, 300 epochs, AdamW (weight decay 0.3 on kernels, no
    clipping), cosine from 0.003 after 10,000 steps of linear warmup, a
    768-wide pre-logits layer, zero-initialised head, 1001 classes at
    224x224.
    """
    model, backbone = _vit_model(representation_size=768)
    return _imagenet_experiment(
        model, Losses(l2_weight_decay=0.0), epochs=300, backbone=backbone,
        optimizer=_vit_adamw(0.3),
        learning_rate={"type": "cosine", "cosine": {
            "initial_learning_rate": 0.003 * IMAGENET_BATCH / 4096,
            "decay_steps": 300 * IMAGENET_EPOCH}},
        overrides={"trainer.optimizer_config.warmup.linear.warmup_steps":
                   10000})


@register_experiment("vit_imagenet_finetune")
def vit_imagenet_finetune():
    """ViT-B/16 fine-tuning at 384x384 on ImageNet TFRecords: the Model
    Garden's `vit_imagenet_finetune`.

    Its values, from `official/vision/configs/image_classification.py`:
    batch 512 (2,502 steps an epoch), 20,000 steps, SGD with momentum 0.9
    and global gradient clipping at 1.0, cosine from 0.003, no warmup,
    1001 classes.
    """
    batch = 512
    epoch = IMAGENET_TRAIN_EXAMPLES // batch
    model, backbone = _vit_model(input_size=(384, 384),
                                 kernel_initializer="random_uniform")
    config = ExperimentConfig(
        task=ImageClassificationConfig(
            model=model, losses=Losses(l2_weight_decay=0.0),
            train_data=ImageDataConfig(
                input_path=f"{IMAGENET_INPUT_PATH_BASE}/train*",
                is_training=True, global_batch_size=batch),
            validation_data=ImageDataConfig(
                input_path=f"{IMAGENET_INPUT_PATH_BASE}/valid*",
                is_training=False, global_batch_size=batch)),
        trainer=TrainerConfig(
            steps_per_loop=epoch, summary_interval=epoch,
            checkpoint_interval=epoch, train_steps=20000,
            validation_steps=IMAGENET_VAL_EXAMPLES // batch,
            validation_interval=epoch),
        runtime=RuntimeConfig())
    config.override({
        "task.model.backbone": backbone,
        "trainer.optimizer_config": {
            "optimizer": {"type": "sgd", "sgd": {
                "momentum": 0.9, "global_clipnorm": 1.0}},
            "learning_rate": {"type": "cosine", "cosine": {
                "initial_learning_rate": 0.003, "decay_steps": 20000}}}})
    return config


@register_experiment("resnet_digits")
def resnet_digits():
    """A quarter-width ResNet-18 on the embedded scikit-learn digits.

    Digits upsampled to 16x16, 180 steps of batch 64 (about 8 epochs of the
    1,437 training digits), SGD with Nesterov momentum, a cosine schedule
    with linear warmup and L2 5e-4; reaches 98-99% top-1 on the 360
    held-out digits in about 20 s on two CPU cores. Zoo's own experiment
    (the embedded default of `make demo`).
    """
    config = ExperimentConfig(
        task=ImageClassificationConfig(
            model=ImageClassificationModel(
                num_classes=10,
                input_size=[16, 16, 1],
                norm_activation=NormActivation(norm_momentum=0.9,
                                               norm_epsilon=1e-5,
                                               use_sync_bn=False),
                mean=[0.0],
                stddev=[255.0],
            ),
            losses=Losses(one_hot=False, l2_weight_decay=5e-4),
            evaluation=Evaluation(top_k=2),
            train_data=ImageDataConfig(
                file_type="digits", is_training=True, global_batch_size=64,
                aug_crop=False, aug_rand_hflip=False,
                shuffle_buffer_size=2048, cache=True),
            validation_data=ImageDataConfig(
                file_type="digits", is_training=False, global_batch_size=120,
                drop_remainder=False, center_crop_fraction=1.0, cache=True),
        ),
        trainer=TrainerConfig(
            train_steps=180,
            steps_per_loop=20,
            validation_interval=60,
            validation_steps=-1,
            summary_interval=20,
            checkpoint_interval=20,
            max_to_keep=3,
            best_checkpoint_export_subdir="best",
            best_checkpoint_eval_metric="accuracy",
        ),
        runtime=RuntimeConfig(distribution_strategy="off", seed=0),
    )
    config.override({
        "task.model.backbone.resnet": {"model_id": 18,
                                       "depth_multiplier": 0.25},
        "trainer.optimizer_config": {
            "optimizer": {"type": "sgd",
                          "sgd": {"momentum": 0.9, "nesterov": True}},
            "learning_rate": {"type": "cosine",
                              "cosine": {"initial_learning_rate": 0.05,
                                         "decay_steps": 180}},
            "warmup": {"type": "linear", "linear": {"warmup_steps": 18}},
        }
    })
    return config
