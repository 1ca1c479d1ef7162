"""Image classification: a backbone, global pooling, dropout and a dense head."""

import functools
from pathlib import Path

import keras
import numpy as np

from zoo.backbone import check_model_kwargs
from zoo.layers.initializers import HostGlorotUniform
from zoo.registry import register_task_model
from zoo.task import Task

POOLINGS = ("avg", "max", "token")


@functools.lru_cache(maxsize=1)
def imagenet_class_names():
    """The 1,000 ImageNet-1k (ILSVRC-2012) class names, index order.

    Shipped as data (`zoo/vision/imagenet_classes.tsv`: index, WordNet
    synset, name), so decoding needs no network.
    """
    path = Path(__file__).with_name("imagenet_classes.tsv")
    names = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            names.append(line.split("\t")[2])
    return names


def decode_predictions(predictions, top=5, class_names=None):
    """The `top` classes of each row: `[(class_id, name, score), ...]`.

    Args:
        predictions: `[batch, num_classes]` probabilities or logits.
        top: int, how many classes per row, best first.
        class_names: list of str; default: the ImageNet names for 1,000
            classes (1,001: with the Model Garden's background class 0
            first), else the class ids as strings.

    Returns:
        list (one per row) of lists of `(int, str, float)`.
    """
    predictions = np.asarray(predictions)
    if predictions.ndim != 2:
        raise ValueError(
            "decode_predictions takes [batch, num_classes] predictions, got "
            f"shape {predictions.shape}.")
    count = predictions.shape[1]
    if class_names is None:
        if count == 1000:
            class_names = imagenet_class_names()
        elif count == 1001:
            class_names = ["background", *imagenet_class_names()]
        else:
            class_names = [str(i) for i in range(count)]
    if len(class_names) != count:
        raise ValueError(
            f"{len(class_names)} class names for {count} classes.")
    decoded = []
    for row in predictions:
        best = np.argsort(-row, kind="stable")[:top]
        decoded.append([(int(i), class_names[i], float(row[i]))
                        for i in best])
    return decoded


def _pool_sequence(tokens, pooling, num_prefix_tokens):
    """`(pooled features, distillation-token features or None)` of a
    `[batch, tokens, c]` sequence whose first `num_prefix_tokens` are the
    class (and distillation) tokens."""
    if pooling == "token":
        if not num_prefix_tokens:
            raise ValueError(
                "ImageClassifier: pooling='token' needs a class token; this "
                "backbone has none (use pooling='avg').")
        distillation = tokens[:, 1] if num_prefix_tokens == 2 else None
        return tokens[:, 0], distillation
    patches = tokens[:, num_prefix_tokens:] if num_prefix_tokens else tokens
    reduce = keras.ops.mean if pooling == "avg" else keras.ops.max
    return reduce(patches, axis=1), None


@register_task_model("image_classifier")
@keras.saving.register_keras_serializable(package="zoo")
class ImageClassifier(Task):
    """Classifies images with any image `Backbone`.

    Args:
        backbone: a `Backbone` whose output is a `[batch, h, w, c]` feature
            map, or a `[batch, tokens, c]` sequence (ViT; not
            `features_only`).
        num_classes: int, outputs of the head.
        pooling: `"avg"` or `"max"` global pooling (of a sequence: over its
            patch tokens), or `"token"`: a sequence's class token. A DeiT
            backbone with a distillation token gets a second head on that
            token (`predictions_dist`), and the model outputs the mean of
            the two heads.
        dropout: float, dropout rate before the head.
        activation: None for logits (default), or `"softmax"` / `"sigmoid"`.
        head_norm: None, or `"layer_norm"` on the pooled features
            (ConvNeXt's head).
        head_norm_epsilon: float, its epsilon.
        head_hidden_size: None, or the width of a hidden dense layer after
            pooling (MobileNetV3's "last point" convolution on the pooled
            1x1 map, which is the same thing).
        head_hidden_activation: the activation of that layer.
        head_initializer: initialiser of the final layer's kernel (a Keras
            initializer or its name, e.g. `"zeros"` as the Model Garden's
            ViT recipes); default: Glorot uniform.
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
        head_norm=None,
        head_norm_epsilon=1e-6,
        head_hidden_size=None,
        head_hidden_activation="hard_swish",
        head_initializer=None,
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
        if head_norm not in (None, "layer_norm"):
            raise ValueError(
                "ImageClassifier: head_norm must be None or 'layer_norm', got "
                f"{head_norm!r}.")
        data_format = getattr(backbone, "data_format", None)
        head_dtype = head_dtype or dtype or backbone.dtype_policy

        images = keras.Input(shape=backbone.inputs[0].shape[1:],
                             name="images")
        x = backbone(images)
        distillation = None
        if len(x.shape) == 3:
            x, distillation = _pool_sequence(
                x, pooling, getattr(backbone, "num_prefix_tokens", 0))
        elif pooling == "token":
            raise ValueError(
                "ImageClassifier: pooling='token' takes a backbone that "
                f"outputs a token sequence; {backbone.name} outputs a "
                "feature map.")
        else:
            pool_cls = (
                keras.layers.GlobalAveragePooling2D
                if pooling == "avg"
                else keras.layers.GlobalMaxPooling2D
            )
            x = pool_cls(data_format=data_format, dtype=head_dtype,
                         name="pool")(x)
        if head_norm:
            x = keras.layers.LayerNormalization(
                epsilon=head_norm_epsilon, dtype=head_dtype,
                name="head_norm")(x)
        if head_hidden_size:
            x = keras.layers.Dense(
                head_hidden_size, activation=head_hidden_activation,
                kernel_initializer=HostGlorotUniform(), dtype=head_dtype,
                name="head_hidden")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=head_dtype,
                                     name="dropout")(x)
        def head_kernel():
            if head_initializer is None:
                return HostGlorotUniform()
            return keras.initializers.get(head_initializer)

        outputs = keras.layers.Dense(
            num_classes,
            activation=None if distillation is not None else activation,
            kernel_initializer=head_kernel(),
            dtype=head_dtype,
            name="predictions",
        )(x)
        if distillation is not None:
            if dropout:
                distillation = keras.layers.Dropout(
                    dropout, dtype=head_dtype,
                    name="dropout_dist")(distillation)
            second = keras.layers.Dense(
                num_classes, kernel_initializer=head_kernel(),
                dtype=head_dtype, name="predictions_dist")(distillation)
            outputs = keras.layers.Average(dtype=head_dtype,
                                           name="heads_mean")(
                [outputs, second])
            if activation:
                outputs = keras.layers.Activation(
                    activation, dtype=head_dtype, name="activation")(outputs)
        super().__init__(inputs=images, outputs=outputs, dtype=dtype,
                         **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.activation = activation
        self.head_norm = head_norm
        self.head_norm_epsilon = float(head_norm_epsilon)
        self.head_hidden_size = head_hidden_size
        self.head_hidden_activation = head_hidden_activation
        self.head_initializer = head_initializer
        self.head_dtype = head_dtype

    def decode_predictions(self, predictions, top=5, class_names=None):
        """The `top` classes of each row of `predictions` (see
        `zoo.vision.image_classifier.decode_predictions`)."""
        return decode_predictions(predictions, top, class_names)

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
                "head_norm": self.head_norm,
                "head_norm_epsilon": self.head_norm_epsilon,
                "head_hidden_size": self.head_hidden_size,
                "head_hidden_activation": self.head_hidden_activation,
                "head_initializer": (
                    None if self.head_initializer is None
                    else keras.initializers.serialize(
                        keras.initializers.get(self.head_initializer))),
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
