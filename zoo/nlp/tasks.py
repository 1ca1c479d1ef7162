"""Text task models: an encoder plus a head for each Model Garden NLP task.

| task model        | head                                         | Model Garden       |
|-------------------|----------------------------------------------|--------------------|
| `TextClassifier`  | dropout + dense on the pooled output         | sentence prediction (GLUE) |
| `SpanLabeler`     | dense to start/end logits per token          | span labeling (SQuAD) |
| `TokenClassifier` | dropout + dense on every token               | tagging (NER)      |
| `MaskedLM`        | dense + norm + tied output embedding         | masked-LM pretraining |

Each wraps any `TextEncoder` (BERT, ALBERT) and takes its input dict
`{"token_ids", "segment_ids", "padding_mask"}` (plus `mask_positions` for
`MaskedLM`). With a `TextPreprocessor` attached, `fit`, `evaluate` and
`predict` take raw strings (see `zoo.Task`).

Every head outputs logits; pick the loss with `from_logits=True`.
"""

import keras
from keras import ops

from zoo.backbone import check_model_kwargs
from zoo.layers.attention import large_negative
from zoo.layers.transformer import get_activation
from zoo.layers.initializers import HostTruncatedNormal
from zoo.nlp.encoders.base import TextEncoder, check_preprocessor_fits
from zoo.registry import register_task_model
from zoo.task import Task

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def _check_encoder(cls, backbone):
    if not isinstance(backbone, TextEncoder):
        raise TypeError(
            f"{cls.__name__} needs a zoo TextEncoder (BertEncoder, "
            f"AlbertEncoder) as backbone, got {type(backbone).__name__}."
        )
    if backbone.features_only:
        raise ValueError(
            f"{cls.__name__} needs the encoder's sequence and pooled outputs;"
            f" {backbone.name} was built with features_only=True."
        )


def _check_classes(cls, num_classes):
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"{cls.__name__}: num_classes must be a positive int, got "
            f"{num_classes!r}."
        )


def _encoder_inputs():
    return {name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in INPUT_NAMES}


class _TextTask(Task):
    """Shared construction of the text task models."""

    def _init_text_task(self, inputs, outputs, backbone, preprocessor,
                        dtype, **kwargs):
        check_model_kwargs(type(self), kwargs)
        if preprocessor is not None:
            check_preprocessor_fits(backbone, preprocessor)
        Task.__init__(self, inputs=inputs, outputs=outputs, dtype=dtype,
                      **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor


@keras.saving.register_keras_serializable(package="zoo")
class FirstToken(keras.layers.Layer):
    """`[batch, length, hidden]` -> `[batch, hidden]`: the first ([CLS])
    token's vector."""

    def call(self, sequence):
        return sequence[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@register_task_model("text_classifier")
@keras.saving.register_keras_serializable(package="zoo")
class TextClassifier(_TextTask):
    """Classifies (or regresses) a text or a text pair from the pooled output.

    `logits = W dropout(pooled_output) + b` with the encoder's pooler
    (Hugging Face's `BertForSequenceClassification`); with
    `use_encoder_pooler=False` the head pools itself, as the Model Garden's
    `ClassificationHead` does: `logits = W dropout(tanh(P h_[CLS] + c)) +
    b`, a new pooler `P` of the encoder's width.
    `num_classes=1` is regression (STS-B): train with mean squared error.

    Args:
        backbone: a `TextEncoder`.
        num_classes: int, outputs of the head.
        dropout: float, dropout before the head (BERT fine-tuning uses 0.1).
        activation: None for logits, or e.g. `"softmax"`.
        use_encoder_pooler: bool, read the encoder's `pooled_output`
            (True) or pool the first token in the head (False).
        preprocessor: optional `TextPreprocessor`, so `fit`/`predict` take
            raw strings (a str batch, or a tuple of two for pairs).
        dtype: dtype policy of the head.

    Call args:
        dict `{"token_ids", "segment_ids", "padding_mask"}`, each
        `[batch, length]` int32.

    Returns:
        `[batch, num_classes]` float logits.
    """

    def __init__(self, backbone, num_classes, dropout=0.1, activation=None,
                 use_encoder_pooler=True, preprocessor=None, dtype=None,
                 **kwargs):
        _check_encoder(type(self), backbone)
        _check_classes(type(self), num_classes)
        inputs = _encoder_inputs()
        features = backbone(inputs)
        if use_encoder_pooler:
            x = features["pooled_output"]
        else:
            x = FirstToken(dtype=dtype, name="first_token")(
                features["sequence_output"])
            x = keras.layers.Dense(
                int(x.shape[-1]), activation="tanh",
                kernel_initializer=HostTruncatedNormal(
                    backbone.initializer_range),
                dtype=dtype, name="head_pooler")(x)
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes,
            activation=activation,
            kernel_initializer=HostTruncatedNormal(
                backbone.initializer_range),
            dtype=dtype,
            name="logits",
        )(x)
        self._init_text_task(inputs, outputs, backbone, preprocessor, dtype,
                             **kwargs)
        self.num_classes = num_classes
        self.dropout = float(dropout)
        self.activation = activation
        self.use_encoder_pooler = bool(use_encoder_pooler)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes,
                       "dropout": self.dropout,
                       "activation": self.activation,
                       "use_encoder_pooler": self.use_encoder_pooler})
        return config


@register_task_model("span_labeler", needs_num_classes=False)
@keras.saving.register_keras_serializable(package="zoo")
class SpanLabeler(_TextTask):
    """Start and end logits of an answer span for every token (SQuAD).

    A dense layer maps each token vector to two numbers, the start and end
    logits (the Model Garden's `BertSpanLabeler`, Hugging Face's
    `BertForQuestionAnswering`). Padded positions get a large negative
    logit, so a softmax over the sequence never picks them.

    Args:
        backbone: a `TextEncoder`.
        preprocessor: optional `TextPreprocessor` (question, context pairs).
        dtype: dtype policy of the head.

    Call args:
        dict `{"token_ids", "segment_ids", "padding_mask"}`, each
        `[batch, length]` int32.

    Returns:
        `{"start_logits": [batch, length], "end_logits": [batch, length]}`
        float; train each with sparse categorical cross-entropy over the
        positions (`from_logits=True`).
    """

    def __init__(self, backbone, preprocessor=None, dtype=None, **kwargs):
        _check_encoder(type(self), backbone)
        inputs = _encoder_inputs()
        sequence = backbone(inputs)["sequence_output"]
        logits = keras.layers.Dense(
            2,
            kernel_initializer=HostTruncatedNormal(
                backbone.initializer_range),
            dtype=dtype,
            name="span_logits",
        )(sequence)
        masked = _MaskPadding(dtype=dtype, name="mask_padding")(
            logits, inputs["padding_mask"])
        outputs = {
            "start_logits": keras.layers.Lambda(
                lambda t: t[..., 0], dtype=dtype, name="start_logits")(masked),
            "end_logits": keras.layers.Lambda(
                lambda t: t[..., 1], dtype=dtype, name="end_logits")(masked),
        }
        self._init_text_task(inputs, outputs, backbone, preprocessor, dtype,
                             **kwargs)

    @property
    def num_classes(self):
        """2: start and end."""
        return 2

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("num_classes", None)
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="zoo")
class _MaskPadding(keras.layers.Layer):
    """Sets logits of padded positions to a large negative number."""

    def call(self, logits, padding_mask):
        mask = ops.cast(padding_mask, "bool")[:, :, None]
        return ops.where(mask, logits,
                         ops.cast(large_negative(logits.dtype), logits.dtype))

    def compute_output_shape(self, logits_shape, padding_mask_shape):
        return logits_shape


@register_task_model("token_classifier")
@keras.saving.register_keras_serializable(package="zoo")
class TokenClassifier(_TextTask):
    """A label for every token (named entities, part of speech: tagging).

    `logits = W dropout(sequence_output) + b` per token (the Model Garden's
    `BertTokenClassifier`). Weight the loss with the padding mask (or with 0
    for word-piece continuations) so padded positions do not count.

    Args:
        backbone: a `TextEncoder`.
        num_classes: int, tags.
        dropout: float, dropout before the head.
        initializer_range: float, the head's initial standard deviation;
            defaults to the encoder's.
        preprocessor: optional `TextPreprocessor`.
        dtype: dtype policy of the head.

    Call args:
        dict `{"token_ids", "segment_ids", "padding_mask"}`, each
        `[batch, length]` int32.

    Returns:
        `[batch, length, num_classes]` float logits.
    """

    def __init__(self, backbone, num_classes, dropout=0.1,
                 initializer_range=None, preprocessor=None, dtype=None,
                 **kwargs):
        _check_encoder(type(self), backbone)
        _check_classes(type(self), num_classes)
        if initializer_range is None:
            initializer_range = backbone.initializer_range
        inputs = _encoder_inputs()
        x = backbone(inputs)["sequence_output"]
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
        outputs = keras.layers.Dense(
            num_classes,
            kernel_initializer=HostTruncatedNormal(initializer_range),
            dtype=dtype,
            name="logits",
        )(x)
        self._init_text_task(inputs, outputs, backbone, preprocessor, dtype,
                             **kwargs)
        self.num_classes = num_classes
        self.dropout = float(dropout)
        self.initializer_range = float(initializer_range)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes,
                       "dropout": self.dropout,
                       "initializer_range": self.initializer_range})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class MaskedLMHead(keras.layers.Layer):
    """BERT's masked-LM head with the output embedding tied to the input one.

    For each masked position: `h = norm(act(W x + b))`, then
    `logits = h E^T + c` with `E` the encoder's token embedding table
    (`[vocabulary, embedding_size]`) and `c` a learned bias per token.

    Args:
        token_embedding: the encoder's `Embedding` layer (tied, not copied).
        activation: a name in `zoo.layers.transformer.ACTIVATIONS`.
        norm_epsilon: float.
        kernel_initializer: initialiser of `W`.

    Call args:
        sequence_output: `[batch, length, hidden]` float.
        mask_positions: `[batch, num_masked]` int32, positions to predict.

    Returns:
        `[batch, num_masked, vocabulary]` float logits.
    """

    def __init__(self, token_embedding, activation="gelu",
                 norm_epsilon=1e-12, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.activation = activation
        self.norm_epsilon = float(norm_epsilon)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or HostTruncatedNormal(0.02))

    def build(self, sequence_output_shape, mask_positions_shape=None):
        sequence_shape = sequence_output_shape
        width = self.token_embedding.output_dim
        self.transform = keras.layers.Dense(
            width, kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy, name="transform")
        self.transform.build(sequence_shape)
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, dtype=self.dtype_policy, name="norm")
        self.norm.build(tuple(sequence_shape[:-1]) + (width,))
        self.output_bias = self.add_weight(
            shape=(self.token_embedding.input_dim,), initializer="zeros",
            name="output_bias")
        self._activation_fn = get_activation(self.activation)

    def call(self, sequence_output, mask_positions):
        positions = ops.cast(mask_positions, "int32")[:, :, None]
        x = ops.take_along_axis(sequence_output, positions, axis=1)
        x = self.norm(self._activation_fn(self.transform(x)))
        table = ops.cast(self.token_embedding.embeddings, x.dtype)
        logits = ops.matmul(x, ops.transpose(table))
        return logits + ops.cast(self.output_bias, x.dtype)

    def compute_output_shape(self, sequence_output_shape,
                             mask_positions_shape):
        return (sequence_output_shape[0], mask_positions_shape[1],
                self.token_embedding.input_dim)

    def get_config(self):
        # The tied embedding is not part of the config: MaskedLM passes it.
        config = super().get_config()
        config.update({"activation": self.activation,
                       "norm_epsilon": self.norm_epsilon})
        return config


@register_task_model("masked_lm", needs_num_classes=False)
@keras.saving.register_keras_serializable(package="zoo")
class MaskedLM(_TextTask):
    """Predicts the original token at masked positions (BERT pretraining).

    Args:
        backbone: a `TextEncoder`.
        preprocessor: optional text preprocessor.
        dtype: dtype policy of the head.

    Call args:
        dict `{"token_ids", "segment_ids", "padding_mask"}` `[batch, length]`
        int32 (the masked ids) plus `mask_positions` `[batch, num_masked]`
        int32.

    Returns:
        `[batch, num_masked, vocabulary_size]` float logits; train with
        sparse categorical cross-entropy against the original ids, weighted
        by which positions are real masks.
    """

    def __init__(self, backbone, preprocessor=None, dtype=None, **kwargs):
        _check_encoder(type(self), backbone)
        inputs = _encoder_inputs()
        inputs["mask_positions"] = keras.Input(
            shape=(None,), dtype="int32", name="mask_positions")
        encoder_inputs = {k: inputs[k] for k in INPUT_NAMES}
        sequence = backbone(encoder_inputs)["sequence_output"]
        outputs = MaskedLMHead(
            backbone.token_embedding,
            activation=backbone.activation,
            norm_epsilon=backbone.norm_epsilon,
            kernel_initializer=HostTruncatedNormal(
                backbone.initializer_range),
            dtype=dtype,
            name="masked_lm_head",
        )(sequence, inputs["mask_positions"])
        self._init_text_task(inputs, outputs, backbone, preprocessor, dtype,
                             **kwargs)

    @property
    def num_classes(self):
        """The vocabulary size."""
        return self.backbone.vocabulary_size

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("num_classes", None)
        return super().from_config(config)
