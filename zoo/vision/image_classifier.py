"""Image classification: a backbone, global pooling, dropout and a dense head."""

import keras

from zoo.backbone import check_model_kwargs
from zoo.layers.initializers import HostGlorotUniform
from zoo.registry import register_task_model
from zoo.task import Task

POOLINGS = ("avg", "max")


@register_task_model("image_classifier")
@keras.saving.register_keras_serializable(package="zoo")
class ImageClassifier(Task):
    """Classifies images with any image `Backbone`.

    Args:
        backbone: a `Backbone` whose output is a `[batch, h, w, c]` feature
            map (not `features_only`).
        num_classes: int, outputs of the head.
        pooling: `"avg"` or `"max"` global pooling.
        dropout: float, dropout rate before the head.
        activation: None for logits (default), or `"softmax"` / `"sigmoid"`.
        preprocessor: optional `ImagePreprocessor`, applied by `fit`,
            `evaluate` and `predict` (see `Task`).
        head_dtype: dtype policy of the head; defaults to the model's.
        dtype: dtype policy of the task layers.

    Call args:
        images: `[batch, height, width, channels]`, preprocessed.

    Returns:
        `[batch, num_classes]` logits (or probabilities with `activation`).
    """

    def __init__(
        self,
        backbone,
        num_classes,
        pooling="avg",
        dropout=0.0,
        activation=None,
        preprocessor=None,
        head_dtype=None,
        dtype=None,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        if getattr(backbone, "features_only", False):
            raise ValueError(
                "ImageClassifier needs a backbone with a single feature map; "
                f"{backbone.name} was built with features_only=True."
            )
        if pooling not in POOLINGS:
            raise ValueError(
                f"ImageClassifier: pooling={pooling!r} is not one of "
                f"{list(POOLINGS)}."
            )
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                "ImageClassifier: num_classes must be a positive int, got "
                f"{num_classes!r}."
            )
        data_format = getattr(backbone, "data_format", None)
        head_dtype = head_dtype or dtype or backbone.dtype_policy

        images = keras.Input(shape=backbone.inputs[0].shape[1:],
                             name="images")
        x = backbone(images)
        pool_cls = (
            keras.layers.GlobalAveragePooling2D
            if pooling == "avg"
            else keras.layers.GlobalMaxPooling2D
        )
        x = pool_cls(data_format=data_format, dtype=head_dtype,
                     name="pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=head_dtype,
                                     name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes,
            activation=activation,
            kernel_initializer=HostGlorotUniform(),
            dtype=head_dtype,
            name="predictions",
        )(x)
        super().__init__(inputs=images, outputs=outputs, dtype=dtype,
                         **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.activation = activation
        self.head_dtype = head_dtype

    @property
    def head(self):
        """The final `Dense` layer."""
        return self.get_layer("predictions")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "dropout": self.dropout,
                "activation": self.activation,
                "head_dtype": keras.dtype_policies.serialize(
                    keras.dtype_policies.get(self.head_dtype)
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("head_dtype"), dict):
            config["head_dtype"] = keras.dtype_policies.deserialize(
                config["head_dtype"]
            )
        return super().from_config(config)
