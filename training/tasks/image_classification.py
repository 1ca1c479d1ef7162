"""Image classification: config, task and the registered experiments.

Config field names follow the Model Garden's
`official/vision/configs/image_classification.py`, so its YAML files (e.g.
`imagenet_resnet50_gpu.yaml`) parse unchanged.
"""

import dataclasses
from typing import List, Optional

import keras

from training.config.base import Config, ConfigError, OneOfConfig
from training.config.definitions import (
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
)
from training.registry import register_experiment, register_task
from training.tasks.base import Task, l2_regularize_kernels


def _field(factory):
    return dataclasses.field(default_factory=factory)


@dataclasses.dataclass
class ImageDataConfig(DataConfig):
    """`DataConfig` plus the image augmentation settings.

    Attributes:
        aug_rand_hflip: random horizontal flips while training.
        aug_crop: random resized crops while training (else plain resize).
        crop_area_range: area fraction range of the random crops.
        center_crop_fraction: evaluation crop (0.875: 224 of 256).
        tf_resize_method: `tf.image.resize` method.
        aug_type: None, or `{type: randaug, randaug: {...}}` (RandAugment).
        mixup_and_cutmix: MixUp / CutMix alphas (0 disables).
        is_multilabel, decode_jpeg_only, image_field_key, label_field_key,
        three_augment, color_jitter, random_erasing: accepted for Model
        Garden compatibility; non-default values are an error.
    """

    aug_rand_hflip: bool = True
    aug_crop: bool = True
    crop_area_range: List[float] = _field(lambda: [0.08, 1.0])
    center_crop_fraction: float = 0.875
    tf_resize_method: str = "bilinear"
    aug_type: Optional["Augmentation"] = None
    mixup_and_cutmix: Optional["MixupAndCutmix"] = None
    is_multilabel: bool = False
    decode_jpeg_only: bool = True
    image_field_key: str = "image/encoded"
    label_field_key: str = "image/class/label"
    three_augment: bool = False
    color_jitter: float = 0.0
    random_erasing: Optional[dict] = None

    def validate(self, path=""):
        unsupported = {
            "is_multilabel": (self.is_multilabel, False),
            "three_augment": (self.three_augment, False),
            "color_jitter": (self.color_jitter, 0.0),
            "random_erasing": (self.random_erasing, None),
            "image_field_key": (self.image_field_key, "image/encoded"),
            "label_field_key": (self.label_field_key, "image/class/label"),
        }
        for name, (value, default) in unsupported.items():
            if value != default:
                raise ConfigError(
                    f"{path}.{name}={value!r} is not supported yet (only "
                    f"{default!r})."
                )


@dataclasses.dataclass
class RandAugmentConfig(Config):
    """`keras.layers.RandAugment` settings (`magnitude` on the 0-10 scale)."""

    num_layers: int = 2
    magnitude: float = 10.0


@dataclasses.dataclass
class Augmentation(OneOfConfig):
    """Extra training augmentation."""

    type: Optional[str] = None
    randaug: RandAugmentConfig = _field(RandAugmentConfig)


@dataclasses.dataclass
class MixupAndCutmix(Config):
    """MixUp and CutMix strengths (0 disables either)."""

    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1


@dataclasses.dataclass
class ResNetConfig(Config):
    """The Model Garden's ResNet backbone settings, mapped onto zoo's ResNet.

    `model_id` picks the depth (18, 34, 50, 101, 152); `stem_type` `"v0"` is
    the 7x7 stem and `"v1"` the deep stem; `resnetd_shortcut` the
    average-pool shortcut; `depth_multiplier` scales every width;
    `block_variant` `"v1.5"` (stride in the 3x3, the Model Garden's) or `"v1"`.
    """

    model_id: int = 50
    depth_multiplier: float = 1.0
    stem_type: str = "v0"
    se_ratio: float = 0.0
    stochastic_depth_drop_rate: float = 0.0
    resnetd_shortcut: bool = False
    replace_stem_max_pool: bool = False
    bn_trainable: bool = True
    scale_stem: bool = True
    block_variant: str = "v1.5"

    def validate(self, path=""):
        if self.model_id not in (18, 34, 50, 101, 152):
            raise ConfigError(
                f"{path}.model_id={self.model_id} is not one of "
                "[18, 34, 50, 101, 152]."
            )
        if self.stem_type not in ("v0", "v1"):
            raise ConfigError(
                f"{path}.stem_type={self.stem_type!r} is not 'v0' or 'v1'.")
        if self.replace_stem_max_pool:
            raise ConfigError(
                f"{path}.replace_stem_max_pool is not supported yet.")


@dataclasses.dataclass
class BackboneConfig(OneOfConfig):
    """Which backbone."""

    type: Optional[str] = "resnet"
    resnet: ResNetConfig = _field(ResNetConfig)


@dataclasses.dataclass
class NormActivation(Config):
    """Batch-norm settings (Keras momentum convention) and the activation."""

    activation: str = "relu"
    use_sync_bn: bool = False
    norm_momentum: float = 0.99
    norm_epsilon: float = 0.001


@dataclasses.dataclass
class ImageClassificationModel(Config):
    """The classifier: backbone, head, input size and normalisation.

    `mean` / `stddev` are per-channel statistics on the 0-255 scale (the
    Model Garden's MEAN_RGB / STDDEV_RGB by default), applied in the input
    pipeline and attached to exported presets.
    """

    num_classes: int = 0
    input_size: List[int] = _field(lambda: [224, 224, 3])
    backbone: BackboneConfig = _field(BackboneConfig)
    dropout_rate: float = 0.0
    norm_activation: NormActivation = _field(NormActivation)
    add_head_batch_norm: bool = False
    kernel_initializer: str = "random_uniform"
    output_softmax: bool = False
    mean: List[float] = _field(lambda: [0.485 * 255, 0.456 * 255,
                                        0.406 * 255])
    stddev: List[float] = _field(lambda: [0.229 * 255, 0.224 * 255,
                                          0.225 * 255])

    def validate(self, path=""):
        if len(self.input_size) != 3:
            raise ConfigError(
                f"{path}.input_size must be [height, width, channels], got "
                f"{self.input_size}."
            )
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


@dataclasses.dataclass
class ImageClassificationTask(TaskConfig):
    """The image classification task config."""

    model: ImageClassificationModel = _field(ImageClassificationModel)
    train_data: ImageDataConfig = _field(
        lambda: ImageDataConfig(is_training=True))
    validation_data: ImageDataConfig = _field(
        lambda: ImageDataConfig(is_training=False))
    losses: Losses = _field(Losses)
    evaluation: Evaluation = _field(Evaluation)
    train_input_partition_dims: Optional[List[int]] = None
    eval_input_partition_dims: Optional[List[int]] = None
    model_output_keys: Optional[List[str]] = None


@register_task(ImageClassificationTask)
class ImageClassificationTaskRunner(Task):
    """Builds a zoo ResNet classifier, its data pipelines, loss and metrics."""

    counts_corrupt_images = True

    def _one_hot(self):
        losses = self.params.losses
        mix = self.params.train_data.mixup_and_cutmix
        return bool(losses.one_hot or losses.label_smoothing or mix)

    def build_model(self):
        import zoo

        m = self.params.model
        if m.num_classes <= 0:
            raise ConfigError(
                "task.model.num_classes must be positive, got "
                f"{m.num_classes}.")
        if m.backbone.type != "resnet":
            raise ConfigError(
                f"task.model.backbone.type={m.backbone.type!r}: only 'resnet'"
                " is available.")
        r = m.backbone.resnet
        norm = m.norm_activation
        scale = r.depth_multiplier
        model = zoo.create_model(
            f"resnet{r.model_id}",
            num_classes=m.num_classes,
            input_shape=tuple(m.input_size),
            dropout=m.dropout_rate,
            activation="softmax" if m.output_softmax else None,
            # Logits in float32 under mixed precision, for the loss and the
            # metrics.
            head_dtype="float32",
            block_variant=r.block_variant,
            stem_type="deep" if r.stem_type == "v1" else "basic",
            stem_width=max(8, int((32 if r.stem_type == "v1" else 64)
                                  * scale)),
            stage_filters=tuple(max(8, int(f * scale))
                                for f in (64, 128, 256, 512)),
            avg_down=r.resnetd_shortcut,
            se_ratio=r.se_ratio,
            drop_path_rate=r.stochastic_depth_drop_rate,
            bn_epsilon=norm.norm_epsilon,
            bn_momentum=norm.norm_momentum,
        )
        if not r.bn_trainable:
            for layer in model.backbone.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
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
        return build_image_dataset(
            data_config,
            image_size=tuple(m.input_size[:2]),
            num_classes=m.num_classes,
            channels=m.input_size[2],
            one_hot=self._one_hot(),
            mean=tuple(m.mean),
            stddev=tuple(m.stddev),
            aug_rand_hflip=data_config.aug_rand_hflip,
            aug_crop=data_config.aug_crop,
            crop_area_range=tuple(data_config.crop_area_range),
            center_crop_fraction=data_config.center_crop_fraction,
            resize_method=data_config.tf_resize_method,
            randaug=randaug,
            mixup_alpha=mix.mixup_alpha if mix else 0.0,
            cutmix_alpha=mix.cutmix_alpha if mix else 0.0,
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
            return keras.losses.CategoricalCrossentropy(
                from_logits=from_logits,
                label_smoothing=losses.label_smoothing)
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
            crop_pct=v.center_crop_fraction,
            interpolation=v.tf_resize_method,
            scale=1.0,
            mean=tuple(m.mean),
            std=tuple(m.stddev),
        )


# --- registered experiments --------------------------------------------------


@register_experiment("image_classification")
def image_classification():
    """A bare image classification experiment: fill in model and data."""
    return ExperimentConfig(
        task=ImageClassificationTask(),
        trainer=TrainerConfig(),
        runtime=RuntimeConfig(),
    )


@register_experiment("resnet_imagenet")
def resnet_imagenet():
    """ResNet-50 on ImageNet TFRecords, the Model Garden's GPU recipe.

    90 epochs at batch 2048 (56,160 steps), SGD momentum 0.9, stepwise
    learning rate 0.8 -> 0.0008 with 5 epochs of linear warmup, label
    smoothing 0.1, L2 1e-4 (`imagenet_resnet50_gpu.yaml`).
    """
    steps_per_epoch = 1281167 // 2048
    config = ExperimentConfig(
        task=ImageClassificationTask(
            model=ImageClassificationModel(num_classes=1001),
            losses=Losses(l2_weight_decay=1e-4, one_hot=True,
                          label_smoothing=0.1),
            train_data=ImageDataConfig(is_training=True,
                                       global_batch_size=2048),
            validation_data=ImageDataConfig(is_training=False,
                                            global_batch_size=2048,
                                            drop_remainder=False),
        ),
        trainer=TrainerConfig(
            train_steps=90 * steps_per_epoch,
            validation_steps=50000 // 2048,
            validation_interval=steps_per_epoch,
            steps_per_loop=steps_per_epoch,
            summary_interval=steps_per_epoch,
            checkpoint_interval=steps_per_epoch,
            best_checkpoint_export_subdir="best_ckpt",
            best_checkpoint_eval_metric="accuracy",
        ),
        runtime=RuntimeConfig(distribution_strategy="mirrored"),
    )
    config.override({
        "trainer.optimizer_config": {
            "optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
            "learning_rate": {
                "type": "stepwise",
                "stepwise": {
                    "boundaries": [30 * steps_per_epoch, 60 * steps_per_epoch,
                                   80 * steps_per_epoch],
                    "values": [0.8, 0.08, 0.008, 0.0008],
                },
            },
            "warmup": {"type": "linear",
                       "linear": {"warmup_steps": 5 * steps_per_epoch}},
        }
    })
    return config


@register_experiment("resnet_digits")
def resnet_digits():
    """A quarter-width ResNet-18 on the embedded scikit-learn digits.

    Digits upsampled to 16x16, 180 steps of batch 64 (about 8 epochs of the
    1,437 training digits), SGD with Nesterov momentum, a cosine schedule
    with linear warmup and L2 5e-4; reaches 98-99% top-1 on the 360
    held-out digits in about 20 s on two CPU cores.
    """
    config = ExperimentConfig(
        task=ImageClassificationTask(
            model=ImageClassificationModel(
                num_classes=10,
                input_size=[16, 16, 1],
                backbone=BackboneConfig(
                    type="resnet",
                    resnet=ResNetConfig(model_id=18, depth_multiplier=0.25),
                ),
                norm_activation=NormActivation(norm_momentum=0.9,
                                               norm_epsilon=1e-5),
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
