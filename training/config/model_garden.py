"""What the Model Garden has, as data: so that a real Model Garden value that
zoo does not build yet is said so, not treated as a typo.

```
>>> build_config("image_classification", [], "task.model.backbone.type=spinenet")
ConfigError: task.model.backbone.type: backbone 'spinenet' is not built by
zoo yet; available: resnet.
```

The names come from the Model Garden (`tensorflow/models`, Apache-2.0):

- backbones: the alternatives of `Backbone` in
  `official/vision/configs/backbones.py`;
- decoders: `Decoder` in `official/vision/configs/decoders.py`;
- encoders: `EncoderConfig` in `official/nlp/configs/encoders.py`;
- experiments: the `@exp_factory.register_config_factory` names of
  `official/vision/configs/{image_classification,retinanet,maskrcnn,
  semantic_segmentation,video_classification}.py` and
  `official/nlp/configs/{finetuning,pretraining,wmt_transformer}_experiments.py`.
"""

MODEL_GARDEN_NAMES = {
    "backbone": (
        "resnet", "dilated_resnet", "revnet", "efficientnet", "spinenet",
        "spinenet_mobile", "mobilenet", "mobiledet", "vit",
    ),
    "decoder": ("identity", "fpn", "nasfpn", "aspp"),
    "encoder": (
        "albert", "bert", "bert_v2", "bigbird", "kernel", "mobilebert",
        "reuse", "xlnet", "query_bert", "fnet", "sparse_mixer", "any",
    ),
    "experiment": (
        # official/vision/configs/image_classification.py
        "image_classification", "resnet_imagenet", "resnet_rs_imagenet",
        "revnet_imagenet", "mobilenet_imagenet", "deit_imagenet_pretrain",
        "vit_imagenet_pretrain", "vit_imagenet_finetune",
        # official/vision/configs/retinanet.py
        "retinanet", "retinanet_resnetfpn_coco", "retinanet_spinenet_coco",
        "retinanet_mobile_coco",
        # official/vision/configs/maskrcnn.py
        "fasterrcnn_resnetfpn_coco", "maskrcnn_resnetfpn_coco",
        "maskrcnn_spinenet_coco", "cascadercnn_spinenet_coco",
        "maskrcnn_mobilenet_coco",
        # official/vision/configs/semantic_segmentation.py
        "semantic_segmentation", "seg_deeplabv3_pascal",
        "seg_deeplabv3plus_pascal", "seg_resnetfpn_pascal",
        "mnv2_deeplabv3_pascal", "seg_deeplabv3plus_cityscapes",
        "mnv2_deeplabv3_cityscapes", "mnv2_deeplabv3plus_cityscapes",
        # official/vision/configs/video_classification.py
        "video_classification", "video_classification_ucf101",
        "video_classification_kinetics400", "video_classification_kinetics600",
        "video_classification_kinetics700",
        "video_classification_kinetics700_2020",
        # official/nlp/configs/finetuning_experiments.py
        "bert/sentence_prediction", "bert/sentence_prediction_text",
        "bert/squad", "bert/tagging",
        # official/nlp/configs/pretraining_experiments.py
        "bert/pretraining", "bert/pretraining_dynamic",
        "bert/text_wiki_pretraining",
        # official/nlp/configs/wmt_transformer_experiments.py
        "wmt_transformer/large",
    ),
}

_NOUNS = {"backbone": "backbone", "decoder": "decoder",
          "encoder": "encoder", "experiment": "experiment"}


def is_model_garden_name(kind, name):
    """Whether the Model Garden has a `kind` (backbone, decoder, encoder,
    experiment) called `name`."""
    return name in MODEL_GARDEN_NAMES.get(kind, ())


def unsupported_message(kind, name, available):
    """The refusal of a real Model Garden `name` that zoo lacks, or None.

    Args:
        kind: `"backbone"`, `"decoder"`, `"encoder"` or `"experiment"`.
        name: the value asked for.
        available: the names zoo has for `kind`.

    Returns:
        str, e.g. "backbone 'spinenet' is not built by zoo yet; available:
        resnet.", or None when the Model Garden has no such name either
        (then it is a typo, and the caller suggests the closest names).
    """
    if not is_model_garden_name(kind, name):
        return None
    listing = ", ".join(available) or "none"
    if kind == "experiment":
        return (f"experiment {name!r} is a Model Garden experiment that zoo "
                f"does not run yet; available: {listing}.")
    return (f"{_NOUNS.get(kind, kind)} {name!r} is not built by zoo yet; "
            f"available: {listing}.")
