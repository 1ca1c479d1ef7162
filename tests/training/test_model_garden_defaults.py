"""Every experiment registered under a Model Garden name has that
factory's values, field by field.

The expected values are the Model Garden's (tensorflow/models, read at the
commits named in tests/data/model_garden/README.md):

- `official/core/config_definitions.py`: DataConfig, RuntimeConfig,
  TrainerConfig defaults;
- `official/vision/configs/image_classification.py` (and `common.py`,
  `backbones.py`): the image classification classes and the factories
  `image_classification`, `resnet_imagenet`, `resnet_rs_imagenet` and
  `mobilenet_imagenet`, `deit_imagenet_pretrain`, `vit_imagenet_pretrain`
  and `vit_imagenet_finetune`;
- `official/vision/configs/retinanet.py` (and `decoders.py`, `common.py`):
  the RetinaNet classes and the factories `retinanet` and
  `retinanet_resnetfpn_coco`;
- `official/modeling/optimization/configs/*.py`: optimizer, schedule and
  warmup defaults;
- `official/nlp/configs/finetuning_experiments.py`,
  `pretraining_experiments.py`, `official/nlp/tasks/*.py`,
  `official/nlp/data/*.py`, `official/nlp/configs/encoders.py`: the BERT
  factories and their classes.

Where zoo differs on purpose, the difference is listed in DEVIATIONS with
its reason and asserted too, so that neither side changes unnoticed.
"""

import pytest

import training

# Configuration defaults: no backend involved.
pytestmark = pytest.mark.one_backend

RUNTIME = {
    "runtime.distribution_strategy": "mirrored",
    "runtime.enable_xla": False,
    "runtime.gpu_thread_mode": None,
    "runtime.dataset_num_private_threads": None,
    "runtime.per_gpu_thread_count": 0,
    "runtime.tpu": None,
    "runtime.num_gpus": 0,
    "runtime.worker_hosts": None,
    "runtime.task_index": -1,
    "runtime.all_reduce_alg": None,
    "runtime.num_packs": 1,
    "runtime.mixed_precision_dtype": None,
    "runtime.loss_scale": None,
    "runtime.run_eagerly": False,
    "runtime.batchnorm_spatial_persistent": False,
    "runtime.tpu_enable_xla_dynamic_padder": None,
    "runtime.num_cores_per_replica": 1,
    "runtime.default_shard_dim": -1,
    "runtime.use_tpu_mp_strategy": False,
}

TRAINER = {
    "trainer.train_tf_while_loop": True,
    "trainer.train_tf_function": True,
    "trainer.eval_tf_function": True,
    "trainer.eval_tf_while_loop": False,
    "trainer.allow_tpu_summary": False,
    "trainer.steps_per_loop": 1000,
    "trainer.summary_interval": 1000,
    "trainer.checkpoint_interval": 1000,
    "trainer.max_to_keep": 5,
    "trainer.continuous_eval_timeout": 3600,
    "trainer.train_steps": 0,
    "trainer.validation_steps": -1,
    "trainer.validation_interval": 1000,
    "trainer.best_checkpoint_export_subdir": "",
    "trainer.best_checkpoint_eval_metric": "",
    "trainer.best_checkpoint_metric_comp": "higher",
    "trainer.loss_upper_bound": 1e6,
    "trainer.recovery_begin_steps": 0,
    "trainer.recovery_max_trials": 0,
    "trainer.validation_summary_subdir": "validation",
    "trainer.preemption_on_demand_checkpoint": True,
    "trainer.optimizer_config.ema": None,
}


def _data(prefix, **values):
    """The base DataConfig defaults under `prefix`, updated by `values`."""
    base = {
        "input_path": "", "tfds_name": "", "tfds_split": "",
        "global_batch_size": 0, "is_training": None, "drop_remainder": True,
        "shuffle_buffer_size": 100, "cache": False, "cycle_length": None,
        "block_length": 1, "deterministic": None, "sharding": True,
        "enable_tf_data_service": False, "tf_data_service_address": None,
        "tf_data_service_job_name": None, "tfds_data_dir": "",
        "tfds_as_supervised": False, "tfds_skip_decoding_feature": "",
        "enable_shared_tf_data_service_between_parallel_trainers": False,
        "apply_tf_data_service_before_batching": False, "trainer_id": None,
        "seed": None, "prefetch_buffer_size": None, "ram_budget": None,
        "autotune_algorithm": None,
    }
    base.update(values)
    return {f"{prefix}.{k}": v for k, v in base.items()}


def _image_data(prefix, **values):
    image = dict(
        weights=None, is_training=True, dtype="float32",
        shuffle_buffer_size=10000, cycle_length=10, is_multilabel=False,
        aug_rand_hflip=True, aug_crop=True, crop_area_range=[0.08, 1.0],
        aug_type=None, three_augment=False, color_jitter=0.0,
        random_erasing=None, file_type="tfrecord",
        image_field_key="image/encoded", label_field_key="image/class/label",
        decode_jpeg_only=True, mixup_and_cutmix=None, aug_policy=None,
        randaug_magnitude=10, center_crop_fraction=0.875,
        tf_resize_method="bilinear", repeated_augment=None)
    image.update(values)
    return _data(prefix, **image)


#: The Model Garden's `backbones.ResNet()` defaults.
RESNET_BACKBONE = {
    "task.model.backbone.type": "resnet",
    "task.model.backbone.resnet.model_id": 50,
    "task.model.backbone.resnet.depth_multiplier": 1.0,
    "task.model.backbone.resnet.stem_type": "v0",
    "task.model.backbone.resnet.se_ratio": 0.0,
    "task.model.backbone.resnet.stochastic_depth_drop_rate": 0.0,
    "task.model.backbone.resnet.scale_stem": True,
    "task.model.backbone.resnet.resnetd_shortcut": False,
    "task.model.backbone.resnet.replace_stem_max_pool": False,
    "task.model.backbone.resnet.bn_trainable": True,
}

IMAGE_CLASSIFICATION = {
    **RUNTIME, **TRAINER, **RESNET_BACKBONE,
    "task.model.num_classes": 0,
    "task.model.input_size": [],
    "task.model.dropout_rate": 0.0,
    "task.model.norm_activation.activation": "relu",
    "task.model.norm_activation.use_sync_bn": False,
    "task.model.norm_activation.norm_momentum": 0.99,
    "task.model.norm_activation.norm_epsilon": 0.001,
    "task.model.add_head_batch_norm": False,
    "task.model.kernel_initializer": "random_uniform",
    "task.model.output_softmax": False,
    "task.losses.loss_weight": 1.0,
    "task.losses.one_hot": True,
    "task.losses.label_smoothing": 0.0,
    "task.losses.l2_weight_decay": 0.0,
    "task.losses.soft_labels": False,
    "task.losses.use_binary_cross_entropy": False,
    "task.evaluation.top_k": 5,
    "task.evaluation.precision_and_recall_thresholds": None,
    "task.evaluation.report_per_class_precision_and_recall": False,
    "task.train_input_partition_dims": [],
    "task.eval_input_partition_dims": [],
    "task.init_checkpoint": None,
    "task.init_checkpoint_modules": "all",
    "task.model_output_keys": [],
    "task.freeze_backbone": False,
    "task.name": None,
    "task.allow_image_summary": False,
    **_image_data("task.train_data", is_training=True),
    **_image_data("task.validation_data", is_training=False),
    "trainer.optimizer_config.optimizer.type": None,
    "trainer.optimizer_config.learning_rate.type": None,
    "trainer.optimizer_config.warmup.type": None,
}

STEPS_PER_EPOCH = 1281167 // 4096  # 312
RESNET_IMAGENET = {
    **IMAGE_CLASSIFICATION,
    "runtime.enable_xla": True,
    "task.model.num_classes": 1001,
    "task.model.input_size": [224, 224, 3],
    "task.model.norm_activation.norm_momentum": 0.9,
    "task.model.norm_activation.norm_epsilon": 1e-5,
    "task.losses.l2_weight_decay": 1e-4,
    "task.train_data.input_path": "imagenet-2012-tfrecord/train*",
    "task.train_data.global_batch_size": 4096,
    "task.validation_data.input_path": "imagenet-2012-tfrecord/valid*",
    "task.validation_data.global_batch_size": 4096,
    "trainer.steps_per_loop": STEPS_PER_EPOCH,
    "trainer.summary_interval": STEPS_PER_EPOCH,
    "trainer.checkpoint_interval": STEPS_PER_EPOCH,
    "trainer.train_steps": 90 * STEPS_PER_EPOCH,
    "trainer.validation_steps": 50000 // 4096,
    "trainer.validation_interval": STEPS_PER_EPOCH,
    "trainer.optimizer_config.optimizer.type": "sgd",
    "trainer.optimizer_config.optimizer.sgd.name": "SGD",
    "trainer.optimizer_config.optimizer.sgd.momentum": 0.9,
    "trainer.optimizer_config.optimizer.sgd.nesterov": False,
    "trainer.optimizer_config.optimizer.sgd.decay": 0.0,
    "trainer.optimizer_config.optimizer.sgd.clipnorm": None,
    "trainer.optimizer_config.optimizer.sgd.clipvalue": None,
    "trainer.optimizer_config.optimizer.sgd.global_clipnorm": None,
    "trainer.optimizer_config.learning_rate.type": "stepwise",
    "trainer.optimizer_config.learning_rate.stepwise.name":
        "PiecewiseConstantDecay",
    "trainer.optimizer_config.learning_rate.stepwise.boundaries": [
        30 * STEPS_PER_EPOCH, 60 * STEPS_PER_EPOCH, 80 * STEPS_PER_EPOCH],
    "trainer.optimizer_config.learning_rate.stepwise.values": [
        1.6, 0.16, 0.016, 0.0016],
    "trainer.optimizer_config.learning_rate.stepwise.offset": 0,
    "trainer.optimizer_config.warmup.type": "linear",
    "trainer.optimizer_config.warmup.linear.name": "linear",
    "trainer.optimizer_config.warmup.linear.warmup_steps": 5 * STEPS_PER_EPOCH,
    "trainer.optimizer_config.warmup.linear.warmup_learning_rate": 0.0,
}

RESNET_RS_IMAGENET = {
    # Its augmentation and EMA are set, so they are pinned field by field.
    **{k: v for k, v in IMAGE_CLASSIFICATION.items()
       if k not in ("task.train_data.aug_type",
                    "trainer.optimizer_config.ema")},
    "task.model.num_classes": 1001,
    "task.model.input_size": [160, 160, 3],
    "task.model.backbone.resnet.model_id": 50,
    "task.model.backbone.resnet.stem_type": "v1",
    "task.model.backbone.resnet.resnetd_shortcut": True,
    "task.model.backbone.resnet.replace_stem_max_pool": True,
    "task.model.backbone.resnet.se_ratio": 0.25,
    "task.model.backbone.resnet.stochastic_depth_drop_rate": 0.0,
    "task.model.dropout_rate": 0.25,
    "task.model.norm_activation.norm_momentum": 0.0,
    "task.model.norm_activation.norm_epsilon": 1e-5,
    "task.model.norm_activation.activation": "swish",
    "task.losses.l2_weight_decay": 4e-5,
    "task.losses.label_smoothing": 0.1,
    "task.train_data.input_path": "imagenet-2012-tfrecord/train*",
    "task.train_data.global_batch_size": 4096,
    "task.train_data.aug_type.type": "randaug",
    "task.train_data.aug_type.randaug.magnitude": 10.0,
    "task.train_data.aug_type.randaug.num_layers": 2,
    "task.train_data.aug_type.randaug.cutout_const": 40.0,
    "task.train_data.aug_type.randaug.translate_const": 10.0,
    "task.train_data.aug_type.randaug.magnitude_std": 0.0,
    "task.train_data.aug_type.randaug.prob_to_apply": None,
    "task.train_data.aug_type.randaug.exclude_ops": [],
    "task.validation_data.input_path": "imagenet-2012-tfrecord/valid*",
    "task.validation_data.global_batch_size": 4096,
    "trainer.steps_per_loop": STEPS_PER_EPOCH,
    "trainer.summary_interval": STEPS_PER_EPOCH,
    "trainer.checkpoint_interval": STEPS_PER_EPOCH,
    "trainer.train_steps": 350 * STEPS_PER_EPOCH,
    "trainer.validation_steps": 50000 // 4096,
    "trainer.validation_interval": STEPS_PER_EPOCH,
    "trainer.optimizer_config.optimizer.type": "sgd",
    "trainer.optimizer_config.optimizer.sgd.momentum": 0.9,
    "trainer.optimizer_config.optimizer.sgd.nesterov": False,
    "trainer.optimizer_config.ema.name": "ExponentialMovingAverage",
    "trainer.optimizer_config.ema.average_decay": 0.9999,
    "trainer.optimizer_config.ema.trainable_weights_only": False,
    "trainer.optimizer_config.ema.start_step": 0,
    "trainer.optimizer_config.ema.dynamic_decay": True,
    "trainer.optimizer_config.learning_rate.type": "cosine",
    "trainer.optimizer_config.learning_rate.cosine.name": "CosineDecay",
    "trainer.optimizer_config.learning_rate.cosine.initial_learning_rate":
        1.6,
    "trainer.optimizer_config.learning_rate.cosine.decay_steps":
        350 * STEPS_PER_EPOCH,
    "trainer.optimizer_config.learning_rate.cosine.alpha": 0.0,
    "trainer.optimizer_config.learning_rate.cosine.offset": 0,
    "trainer.optimizer_config.warmup.type": "linear",
    "trainer.optimizer_config.warmup.linear.name": "linear",
    "trainer.optimizer_config.warmup.linear.warmup_steps": 5 * STEPS_PER_EPOCH,
    "trainer.optimizer_config.warmup.linear.warmup_learning_rate": 0.0,
}

MOBILENET_IMAGENET = {
    # The one-of backbone keeps only its chosen member (the Model Garden's
    # also carries the default ResNet fields, which nothing reads).
    **{k: v for k, v in IMAGE_CLASSIFICATION.items()
       if not k.startswith("task.model.backbone.resnet.")},
    "task.model.num_classes": 1001,
    "task.model.dropout_rate": 0.2,
    "task.model.input_size": [224, 224, 3],
    "task.model.backbone.type": "mobilenet",
    "task.model.backbone.mobilenet.model_id": "MobileNetV2",
    "task.model.backbone.mobilenet.filter_size_scale": 1.0,
    "task.model.backbone.mobilenet.stochastic_depth_drop_rate": 0.0,
    "task.model.backbone.mobilenet.output_stride": None,
    "task.model.backbone.mobilenet.output_intermediate_endpoints": False,
    "task.model.norm_activation.norm_momentum": 0.997,
    "task.model.norm_activation.norm_epsilon": 1e-3,
    "task.losses.l2_weight_decay": 1e-5,
    "task.losses.label_smoothing": 0.1,
    "task.train_data.input_path": "imagenet-2012-tfrecord/train*",
    "task.train_data.global_batch_size": 4096,
    "task.validation_data.input_path": "imagenet-2012-tfrecord/valid*",
    "task.validation_data.global_batch_size": 4096,
    "trainer.steps_per_loop": STEPS_PER_EPOCH,
    "trainer.summary_interval": STEPS_PER_EPOCH,
    "trainer.checkpoint_interval": STEPS_PER_EPOCH,
    "trainer.train_steps": 500 * STEPS_PER_EPOCH,
    "trainer.validation_steps": 50000 // 4096,
    "trainer.validation_interval": STEPS_PER_EPOCH,
    "trainer.optimizer_config.optimizer.type": "rmsprop",
    "trainer.optimizer_config.optimizer.rmsprop.name": "RMSprop",
    "trainer.optimizer_config.optimizer.rmsprop.rho": 0.9,
    "trainer.optimizer_config.optimizer.rmsprop.momentum": 0.9,
    "trainer.optimizer_config.optimizer.rmsprop.epsilon": 0.002,
    "trainer.optimizer_config.optimizer.rmsprop.centered": False,
    "trainer.optimizer_config.learning_rate.type": "exponential",
    "trainer.optimizer_config.learning_rate.exponential.name":
        "ExponentialDecay",
    "trainer.optimizer_config.learning_rate.exponential"
    ".initial_learning_rate": 0.008 * (4096 // 128),
    "trainer.optimizer_config.learning_rate.exponential.decay_steps":
        int(2.5 * STEPS_PER_EPOCH),
    "trainer.optimizer_config.learning_rate.exponential.decay_rate": 0.98,
    "trainer.optimizer_config.learning_rate.exponential.staircase": True,
    "trainer.optimizer_config.learning_rate.exponential.offset": 0,
    "trainer.optimizer_config.warmup.type": "linear",
    "trainer.optimizer_config.warmup.linear.name": "linear",
    "trainer.optimizer_config.warmup.linear.warmup_steps": 5 * STEPS_PER_EPOCH,
    "trainer.optimizer_config.warmup.linear.warmup_learning_rate": 0.0,
}

BERT_ENCODER = {
    "task.model.encoder.type": "bert",
    "task.model.encoder.bert.vocab_size": 30522,
    "task.model.encoder.bert.hidden_size": 768,
    "task.model.encoder.bert.num_layers": 12,
    "task.model.encoder.bert.num_attention_heads": 12,
    "task.model.encoder.bert.hidden_activation": "gelu",
    "task.model.encoder.bert.intermediate_size": 3072,
    "task.model.encoder.bert.dropout_rate": 0.1,
    "task.model.encoder.bert.attention_dropout_rate": 0.1,
    "task.model.encoder.bert.max_position_embeddings": 512,
    "task.model.encoder.bert.type_vocab_size": 2,
    "task.model.encoder.bert.initializer_range": 0.02,
    "task.model.encoder.bert.embedding_size": None,
    "task.model.encoder.bert.output_range": None,
    "task.model.encoder.bert.return_all_encoder_outputs": False,
    "task.model.encoder.bert.return_attention_scores": False,
    "task.model.encoder.bert.norm_first": False,
}


def _bert_optimizer(initial_learning_rate):
    prefix = "trainer.optimizer_config"
    return {
        f"{prefix}.optimizer.type": "adamw",
        f"{prefix}.optimizer.adamw.name": "AdamWeightDecay",
        f"{prefix}.optimizer.adamw.weight_decay_rate": 0.01,
        f"{prefix}.optimizer.adamw.exclude_from_weight_decay": [
            "LayerNorm", "layer_norm", "bias"],
        f"{prefix}.optimizer.adamw.include_in_weight_decay": None,
        f"{prefix}.optimizer.adamw.beta_1": 0.9,
        f"{prefix}.optimizer.adamw.beta_2": 0.999,
        f"{prefix}.optimizer.adamw.epsilon": 1e-7,
        f"{prefix}.optimizer.adamw.amsgrad": False,
        f"{prefix}.optimizer.adamw.gradient_clip_norm": 1.0,
        f"{prefix}.learning_rate.type": "polynomial",
        f"{prefix}.learning_rate.polynomial.name": "PolynomialDecay",
        f"{prefix}.learning_rate.polynomial.initial_learning_rate":
            initial_learning_rate,
        f"{prefix}.learning_rate.polynomial.decay_steps": None,
        f"{prefix}.learning_rate.polynomial.end_learning_rate": 0.0,
        f"{prefix}.learning_rate.polynomial.power": 1.0,
        f"{prefix}.learning_rate.polynomial.cycle": False,
        f"{prefix}.learning_rate.polynomial.offset": 0,
        f"{prefix}.warmup.type": "polynomial",
        f"{prefix}.warmup.polynomial.name": "polynomial",
        f"{prefix}.warmup.polynomial.power": 1.0,
        f"{prefix}.warmup.polynomial.warmup_steps": None,
    }


def _bert(initial_learning_rate, **values):
    return {**RUNTIME, **TRAINER, **BERT_ENCODER,
            **_bert_optimizer(initial_learning_rate),
            "task.init_checkpoint": "", "task.name": None, **values}


SENTENCE_DATA = dict(global_batch_size=32, seq_length=128, label_type="int",
                     include_example_id=False, label_name=None,
                     lower_case=True, tokenization="WordPiece", vocab_file="",
                     preprocessing_hub_module_url="")
#: The Model Garden's VisionTransformer and Transformer defaults
#: (official/vision/configs/backbones.py).
VIT_BACKBONE = {
    "task.model.backbone.type": "vit",
    "task.model.backbone.vit.model_name": "vit-b16",
    "task.model.backbone.vit.pooler": "token",
    "task.model.backbone.vit.representation_size": 0,
    "task.model.backbone.vit.hidden_size": 1,
    "task.model.backbone.vit.patch_size": 16,
    "task.model.backbone.vit.transformer.mlp_dim": 1,
    "task.model.backbone.vit.transformer.num_heads": 1,
    "task.model.backbone.vit.transformer.num_layers": 1,
    "task.model.backbone.vit.transformer.attention_dropout_rate": 0.0,
    "task.model.backbone.vit.transformer.dropout_rate": 0.0,
    "task.model.backbone.vit.init_stochastic_depth_rate": 0.0,
    "task.model.backbone.vit.original_init": True,
    "task.model.backbone.vit.pos_embed_shape": None,
    "task.model.backbone.vit.output_encoded_tokens": True,
    "task.model.backbone.vit.output_2d_feature_maps": False,
    "task.model.backbone.vit.layer_scale_init_value": 0.0,
    "task.model.backbone.vit.transformer_partition_dims": None,
    "task.model.backbone.vit.output_attention_scores": False,
}


def _vit(batch, **values):
    """A ViT factory's values over the class defaults (the one-of backbone
    keeps only its chosen member)."""
    return {
        **{k: v for k, v in IMAGE_CLASSIFICATION.items()
           if not k.startswith("task.model.backbone.resnet.")},
        **VIT_BACKBONE,
        "task.model.num_classes": 1001,
        "task.model.input_size": [224, 224, 3],
        "task.model.kernel_initializer": "zeros",
        "task.losses.l2_weight_decay": 0.0,
        "task.train_data.input_path": "imagenet-2012-tfrecord/train*",
        "task.train_data.global_batch_size": batch,
        "task.validation_data.input_path": "imagenet-2012-tfrecord/valid*",
        "task.validation_data.global_batch_size": batch,
        "trainer.validation_steps": 50000 // batch,
        **{f"trainer.{k}": 1281167 // batch for k in (
            "steps_per_loop", "summary_interval", "checkpoint_interval",
            "validation_interval")},
        **values,
    }


def _vit_adamw(weight_decay_rate):
    adamw = "trainer.optimizer_config.optimizer.adamw."
    return {"trainer.optimizer_config.optimizer.type": "adamw",
            adamw + "weight_decay_rate": weight_decay_rate,
            adamw + "include_in_weight_decay": r".*(kernel|weight):0$",
            adamw + "gradient_clip_norm": 0.0,
            adamw + "beta_1": 0.9, adamw + "beta_2": 0.999,
            adamw + "epsilon": 1e-07}


COSINE = "trainer.optimizer_config.learning_rate.cosine."
WARMUP = "trainer.optimizer_config.warmup.linear."
DEIT_IMAGENET_PRETRAIN = _vit(
    4096,
    **{"task.model.backbone.vit.representation_size": 768,
       "task.model.backbone.vit.init_stochastic_depth_rate": 0.1,
       "task.model.backbone.vit.original_init": False,
       "task.losses.label_smoothing": 0.1, "task.losses.one_hot": False,
       "task.losses.soft_labels": True,
       "task.train_data.aug_type.type": "randaug",
       "task.train_data.aug_type.randaug.magnitude": 9.0,
       "task.train_data.aug_type.randaug.num_layers": 2,
       "task.train_data.aug_type.randaug.exclude_ops": ["Cutout"],
       "task.train_data.mixup_and_cutmix.mixup_alpha": 0.8,
       "task.train_data.mixup_and_cutmix.cutmix_alpha": 1.0,
       "task.train_data.mixup_and_cutmix.prob": 1.0,
       "task.train_data.mixup_and_cutmix.switch_prob": 0.5,
       "task.train_data.mixup_and_cutmix.label_smoothing": 0.1,
       "trainer.train_steps": 300 * 312,
       **_vit_adamw(0.05),
       "trainer.optimizer_config.learning_rate.type": "cosine",
       COSINE + "initial_learning_rate": 0.0005 * 4096 / 512,
       COSINE + "decay_steps": 300 * 312, COSINE + "alpha": 0.0,
       "trainer.optimizer_config.warmup.type": "linear",
       WARMUP + "warmup_steps": 5 * 312,
       WARMUP + "warmup_learning_rate": 0.0})
# Set as blocks here, so not None.
del DEIT_IMAGENET_PRETRAIN["task.train_data.aug_type"]
del DEIT_IMAGENET_PRETRAIN["task.train_data.mixup_and_cutmix"]
VIT_IMAGENET_PRETRAIN = _vit(
    4096,
    **{"task.model.backbone.vit.representation_size": 768,
       "task.train_data.aug_type": None,
       "task.train_data.mixup_and_cutmix": None,
       "trainer.train_steps": 300 * 312,
       **_vit_adamw(0.3),
       "trainer.optimizer_config.learning_rate.type": "cosine",
       COSINE + "initial_learning_rate": 0.003,
       COSINE + "decay_steps": 300 * 312,
       "trainer.optimizer_config.warmup.type": "linear",
       WARMUP + "warmup_steps": 10000,
       WARMUP + "warmup_learning_rate": 0.0})
VIT_IMAGENET_FINETUNE = _vit(
    512,
    **{"task.model.input_size": [384, 384, 3],
       "task.model.kernel_initializer": "random_uniform",
       "trainer.train_steps": 20000,
       "trainer.optimizer_config.optimizer.type": "sgd",
       "trainer.optimizer_config.optimizer.sgd.momentum": 0.9,
       "trainer.optimizer_config.optimizer.sgd.global_clipnorm": 1.0,
       "trainer.optimizer_config.learning_rate.type": "cosine",
       COSINE + "initial_learning_rate": 0.003,
       COSINE + "decay_steps": 20000,
       "trainer.optimizer_config.warmup.type": None})

QA_DATA = dict(global_batch_size=48, is_training=True, seq_length=384,
               version_2_with_negative=False, input_preprocessed_data_path="",
               doc_stride=128, query_length=64, vocab_file="",
               tokenization="WordPiece", do_lower_case=True,
               xlnet_format=False)
PRETRAIN_DATA = dict(global_batch_size=512, seq_length=512,
                     max_predictions_per_seq=76, use_position_id=False,
                     use_v2_feature_names=False, masking_rate=0.15,
                     use_whole_word_masking=False, doc_batch_size=8)

def _detection_data(prefix, **values):
    """The Model Garden's RetinaNet `DataConfig` (and its `Parser` and
    `DataDecoder`) under `prefix`."""
    parser = dict(
        num_channels=3, match_threshold=0.5, unmatched_threshold=0.5,
        aug_rand_hflip=False, aug_rand_jpeg=None, aug_scale_min=1.0,
        aug_scale_max=1.0, skip_crowd_during_training=True,
        max_num_instances=100, aug_type=None, pad=True,
        keep_aspect_ratio=True, aug_policy=None)
    parser.update(values.pop("parser", {}))
    detection = dict(
        input_path="", weights=None, global_batch_size=0, is_training=False,
        dtype="bfloat16", shuffle_buffer_size=10000, file_type="tfrecord",
        **{"decoder.type": "simple_decoder",
           "decoder.simple_decoder.regenerate_source_id": False,
           "decoder.simple_decoder.mask_binarize_threshold": None,
           "decoder.simple_decoder.attribute_names": [],
           "decoder.label_map_decoder.regenerate_source_id": False,
           "decoder.label_map_decoder.mask_binarize_threshold": None,
           "decoder.label_map_decoder.label_map": ""},
        **{f"parser.{k}": v for k, v in parser.items()})
    detection.update(values)
    return _data(prefix, **detection)


RETINANET = {
    **RUNTIME, **TRAINER, **RESNET_BACKBONE,
    "task.model.num_classes": 0,
    "task.model.input_size": [],
    "task.model.min_level": 3,
    "task.model.max_level": 7,
    "task.model.anchor.num_scales": 3,
    "task.model.anchor.aspect_ratios": [0.5, 1.0, 2.0],
    "task.model.anchor.anchor_size": 4.0,
    "task.model.decoder.type": "fpn",
    "task.model.decoder.fpn.num_filters": 256,
    "task.model.decoder.fpn.fusion_type": "sum",
    "task.model.decoder.fpn.use_separable_conv": False,
    "task.model.decoder.fpn.use_keras_layer": False,
    "task.model.head.num_convs": 4,
    "task.model.head.num_filters": 256,
    "task.model.head.use_separable_conv": False,
    "task.model.head.attribute_heads": [],
    "task.model.head.share_classification_heads": False,
    "task.model.head.share_level_convs": True,
    "task.model.detection_generator.apply_nms": True,
    "task.model.detection_generator.pre_nms_top_k": 5000,
    "task.model.detection_generator.pre_nms_score_threshold": 0.05,
    "task.model.detection_generator.nms_iou_threshold": 0.5,
    "task.model.detection_generator.max_num_detections": 100,
    "task.model.detection_generator.nms_version": "v2",
    "task.model.detection_generator.use_cpu_nms": False,
    "task.model.detection_generator.soft_nms_sigma": None,
    "task.model.detection_generator.tflite_post_processing"
    ".max_detections": 200,
    "task.model.detection_generator.tflite_post_processing"
    ".max_classes_per_detection": 5,
    "task.model.detection_generator.tflite_post_processing"
    ".use_regular_nms": False,
    "task.model.detection_generator.tflite_post_processing"
    ".nms_score_threshold": 0.1,
    "task.model.detection_generator.tflite_post_processing"
    ".nms_iou_threshold": 0.5,
    "task.model.detection_generator.tflite_post_processing"
    ".normalize_anchor_coordinates": False,
    "task.model.detection_generator.return_decoded": None,
    "task.model.detection_generator.use_class_agnostic_nms": False,
    "task.model.detection_generator.box_coder_weights": None,
    "task.model.norm_activation.activation": "relu",
    "task.model.norm_activation.use_sync_bn": True,
    "task.model.norm_activation.norm_momentum": 0.99,
    "task.model.norm_activation.norm_epsilon": 0.001,
    "task.losses.loss_weight": 1.0,
    "task.losses.focal_loss_alpha": 0.25,
    "task.losses.focal_loss_gamma": 1.5,
    "task.losses.huber_loss_delta": 0.1,
    "task.losses.box_loss_weight": 50,
    "task.losses.l2_weight_decay": 0.0,
    "task.init_checkpoint": None,
    "task.init_checkpoint_modules": "all",
    "task.annotation_file": None,
    "task.per_category_metrics": False,
    "task.export_config.output_normalized_coordinates": False,
    "task.export_config.cast_num_detections_to_float": False,
    "task.export_config.cast_detection_classes_to_float": False,
    "task.export_config.output_intermediate_features": False,
    "task.use_coco_metrics": True,
    "task.use_wod_metrics": False,
    "task.freeze_backbone": False,
    "task.max_num_eval_detections": 100,
    "task.name": None,
    "task.allow_image_summary": False,
    **_detection_data("task.train_data", is_training=True),
    **_detection_data("task.validation_data", is_training=False),
    "trainer.optimizer_config.optimizer.type": None,
    "trainer.optimizer_config.learning_rate.type": None,
    "trainer.optimizer_config.warmup.type": None,
}

COCO_EPOCH = 118287 // 256  # 462
#: What `retinanet_resnetfpn_coco`, `retinanet_spinenet_coco` and
#: `retinanet_mobile_coco` share (official/vision/configs/retinanet.py).
COCO_RETINANET = {
    "task.annotation_file": "coco/instances_val2017.json",
    "task.model.num_classes": 91,
    "task.model.min_level": 3,
    "task.model.max_level": 7,
    "trainer.validation_steps": 5000 // 8,
    "trainer.validation_interval": COCO_EPOCH,
    "trainer.steps_per_loop": COCO_EPOCH,
    "trainer.summary_interval": COCO_EPOCH,
    "trainer.checkpoint_interval": COCO_EPOCH,
    "trainer.optimizer_config.optimizer.type": "sgd",
    "trainer.optimizer_config.optimizer.sgd.momentum": 0.9,
    "trainer.optimizer_config.optimizer.sgd.nesterov": False,
    "trainer.optimizer_config.learning_rate.type": "stepwise",
    "trainer.optimizer_config.learning_rate.stepwise.values": [
        0.32, 0.032, 0.0032],
    "trainer.optimizer_config.warmup.type": "linear",
    "trainer.optimizer_config.warmup.linear.warmup_learning_rate": 0.0067,
}


RETINANET_RESNETFPN_COCO = {
    **RETINANET, **COCO_RETINANET,
    "runtime.mixed_precision_dtype": "bfloat16",
    "task.init_checkpoint":
        "gs://cloud-tpu-checkpoints/vision-2.0/resnet50_imagenet/ckpt-28080",
    "task.init_checkpoint_modules": "backbone",
    "task.model.input_size": [640, 640, 3],
    "task.model.norm_activation.use_sync_bn": False,
    "task.losses.l2_weight_decay": 1e-4,
    **_detection_data("task.train_data", input_path="coco/train*",
                      is_training=True, global_batch_size=256,
                      parser={"aug_rand_hflip": True, "aug_scale_min": 0.8,
                              "aug_scale_max": 1.2}),
    **_detection_data("task.validation_data", input_path="coco/val*",
                      is_training=False, global_batch_size=8),
    "trainer.train_steps": 72 * COCO_EPOCH,
    "trainer.optimizer_config.learning_rate.stepwise.boundaries": [
        57 * COCO_EPOCH, 67 * COCO_EPOCH],
    "trainer.optimizer_config.warmup.linear.warmup_steps": 500,
}

def _spinenet_retinanet(backbone, fields, **values):
    """A SpineNet factory of retinanet.py: `RETINANET` with the SpineNet
    `backbone` alternative (its `fields`) in place of the ResNet, the
    identity decoder, swish with synchronised batch norm, anchor size 3,
    float32, scale jitter 0.1-2.0 and 2,000 warmup steps."""
    expected = {k: v for k, v in RETINANET.items()
                if not k.startswith(("task.model.backbone.",
                                     "task.model.decoder."))}
    expected.update(COCO_RETINANET)
    expected.update({
        "task.model.backbone.type": backbone,
        **{f"task.model.backbone.{backbone}.{k}": v
           for k, v in fields.items()},
        "task.model.decoder.type": "identity",
        "task.model.decoder.identity": {},
        "task.model.anchor.anchor_size": 3.0,
        "task.model.norm_activation.use_sync_bn": True,
        "task.model.norm_activation.activation": "swish",
        "runtime.mixed_precision_dtype": "float32",
        "trainer.optimizer_config.warmup.linear.warmup_steps": 2000,
        **_detection_data("task.train_data", input_path="coco/train*",
                          is_training=True, global_batch_size=256,
                          parser={"aug_rand_hflip": True,
                                  "aug_scale_min": 0.1,
                                  "aug_scale_max": 2.0}),
        **_detection_data("task.validation_data", input_path="coco/val*",
                          is_training=False, global_batch_size=8),
    })
    expected.update(values)
    return expected


RETINANET_SPINENET_COCO = _spinenet_retinanet(
    "spinenet", {"model_id": "49", "stochastic_depth_drop_rate": 0.2,
                 "min_level": 3, "max_level": 7},
    **{"task.model.input_size": [640, 640, 3],
       "task.losses.l2_weight_decay": 4e-5,
       "trainer.train_steps": 500 * COCO_EPOCH,
       "trainer.optimizer_config.learning_rate.stepwise.boundaries": [
           475 * COCO_EPOCH, 490 * COCO_EPOCH]})

RETINANET_MOBILE_COCO = _spinenet_retinanet(
    "spinenet_mobile", {"model_id": "49", "stochastic_depth_drop_rate": 0.2,
                        "se_ratio": 0.2, "expand_ratio": 6, "min_level": 3,
                        "max_level": 7, "use_keras_upsampling_2d": False},
    **{"task.model.input_size": [384, 384, 3],
       "task.model.head.num_filters": 48,
       "task.model.head.use_separable_conv": True,
       "task.losses.l2_weight_decay": 3e-5,
       "trainer.train_steps": 600 * COCO_EPOCH,
       "trainer.optimizer_config.learning_rate.stepwise.boundaries": [
           575 * COCO_EPOCH, 590 * COCO_EPOCH]})

EXPECTED = {
    "retinanet": RETINANET,
    "retinanet_spinenet_coco": RETINANET_SPINENET_COCO,
    "retinanet_mobile_coco": RETINANET_MOBILE_COCO,
    "retinanet_resnetfpn_coco": RETINANET_RESNETFPN_COCO,
    "image_classification": IMAGE_CLASSIFICATION,
    "resnet_imagenet": RESNET_IMAGENET,
    "mobilenet_imagenet": MOBILENET_IMAGENET,
    "resnet_rs_imagenet": RESNET_RS_IMAGENET,
    "deit_imagenet_pretrain": DEIT_IMAGENET_PRETRAIN,
    "vit_imagenet_pretrain": VIT_IMAGENET_PRETRAIN,
    "vit_imagenet_finetune": VIT_IMAGENET_FINETUNE,
    "bert/sentence_prediction": _bert(
        3e-5,
        **{"task.init_cls_pooler": False, "task.hub_module_url": "",
           "task.metric_type": "accuracy", "task.model.num_classes": 0,
           "task.model.use_encoder_pooler": False},
        **_data("task.train_data", is_training=True, **SENTENCE_DATA),
        **_data("task.validation_data",
                **{**SENTENCE_DATA, "is_training": False,
                   "drop_remainder": False})),
    "bert/squad": _bert(
        8e-5,
        **{"task.hub_module_url": "", "task.n_best_size": 20,
           "task.max_answer_length": 30,
           "task.null_score_diff_threshold": 0.0},
        # The factory's validation data is a plain QADataConfig():
        # is_training true, drop_remainder true (squad_v1.yaml sets them).
        **_data("task.train_data", **QA_DATA),
        **_data("task.validation_data", **QA_DATA)),
    "bert/tagging": _bert(
        8e-5,
        **{"task.hub_module_url": "", "task.class_names": None,
           "task.model.head_dropout": 0.1,
           "task.model.head_initializer_range": 0.02},
        **_data("task.train_data", is_training=True, seq_length=128,
                include_sentence_id=False),
        **_data("task.validation_data", is_training=False,
                drop_remainder=False, seq_length=128,
                include_sentence_id=False)),
    "bert/pretraining": _bert(
        1e-4,
        **{"runtime.enable_xla": True, "trainer.train_steps": 1_000_000,
           "task.scale_loss": False, "task.model.mlm_activation": "gelu",
           "task.model.mlm_initializer_range": 0.02,
           "task.model.mlm_output_weights_use_proj": False},
        **_data("task.train_data", is_training=True, **PRETRAIN_DATA),
        **_data("task.validation_data", is_training=False, **PRETRAIN_DATA)),
}

#: (experiment, key) -> (zoo's value, why it differs from the Model Garden's)
DEVIATIONS = {

    ("image_classification", "task.train_data.decoder"): (
        None, "None is the Model Garden's default decoder (simple_decoder); "
              "other decoders are refused"),
    ("bert/sentence_prediction", "task.train_data.file_type"): (
        "", "zoo reads GLUE's TSV files, not preprocessed TFRecords"),
    ("bert/sentence_prediction", "task.train_data.label_field"): (
        "label", "the TSV column (the Model Garden's text data config's "
                 "default), not the TFRecord feature 'label_ids'"),
    ("bert/squad", "task.train_data.file_type"): (
        "", "zoo reads SQuAD's JSON, not preprocessed TFRecords"),
    ("bert/tagging", "task.train_data.file_type"): (
        "", "zoo reads CoNLL files, not preprocessed TFRecords"),
    ("bert/pretraining", "task.train_data.file_type"): (
        "", "zoo masks raw text itself, not preprocessed TFRecords"),
    ("bert/pretraining", "task.model.cls_heads"): (
        [], "no next-sentence prediction head (the Model Garden's has one)"),
    ("bert/pretraining", "task.train_data.use_next_sentence_label"): (
        False, "no next-sentence prediction"),
}


def flatten(tree, prefix=""):
    """`{"a.b.c": value}` of a nested dict (lists are values)."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


@pytest.mark.parametrize("experiment", sorted(EXPECTED))
def test_experiment_has_the_model_garden_values(experiment):
    actual = flatten(training.get_experiment(experiment).as_dict())
    wrong = {key: (actual.get(key, "<missing>"), expected)
             for key, expected in EXPECTED[experiment].items()
             if actual.get(key, "<missing>") != expected}
    assert wrong == {}, "key: (zoo, Model Garden)"


@pytest.mark.parametrize("experiment, key", sorted(DEVIATIONS))
def test_stated_deviation(experiment, key):
    value, reason = DEVIATIONS[experiment, key]
    actual = flatten(training.get_experiment(experiment).as_dict())
    assert actual[key] == value, reason
