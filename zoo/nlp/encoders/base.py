"""Base class of the text encoders: token ids in, contextual vectors out."""

import logging

import keras
import numpy as np
from keras import ops

from zoo.backbone import Backbone
from zoo.layers.transformer import PositionEmbedding
from zoo.errors import SequenceTooLongError, VocabularyError

logger = logging.getLogger("zoo")


def mean_pool(sequence_output, padding_mask):
    """Mean of the token vectors over the real (unpadded) tokens.

    The sentence embedding of Sentence-BERT (Reimers and Gurevych 2019) and
    of the sentence-transformers models: padded positions are excluded.

    Args:
        sequence_output: `[batch, length, hidden]` float.
        padding_mask: `[batch, length]` int/bool, 1 for real tokens.

    Returns:
        `[batch, hidden]`, the dtype of `sequence_output`.
    """
    mask = ops.cast(padding_mask, sequence_output.dtype)[:, :, None]
    total = ops.sum(sequence_output * mask, axis=1)
    count = ops.maximum(ops.sum(mask, axis=1), 1e-9)
    return total / count


def l2_normalize(x, epsilon=1e-12):
    """`x / max(||x||_2, epsilon)` along the last axis (torch's `normalize`)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, epsilon)


def check_preprocessor_fits(encoder, preprocessor):
    """Raises if a text preprocessor cannot feed `encoder`.

    Raises:
        VocabularyError: the tokenizer's vocabulary size differs from the
            encoder's token embedding rows.
        SequenceTooLongError: the preprocessor packs more tokens than the
            encoder has positions.
    """
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is not None and tokenizer.has_vocabulary():
        size = tokenizer.vocabulary_size()
        if size != encoder.vocabulary_size:
            raise VocabularyError(
                f"The tokenizer's vocabulary has {size} entries "
                f"({tokenizer.vocabulary_source or 'given as a list'}) but "
                f"{encoder.name} embeds {encoder.vocabulary_size} token ids. "
                "Use the vocabulary the weights were trained with, or build "
                f"the encoder with vocabulary_size={size}."
            )
    length = getattr(preprocessor, "sequence_length", None)
    if length is not None and length > encoder.max_sequence_length:
        raise SequenceTooLongError(
            f"The preprocessor packs {length} tokens but {encoder.name} has "
            f"{encoder.max_sequence_length} positions. Use "
            f"sequence_length<={encoder.max_sequence_length}."
        )


class TextEncoder(Backbone):
    """A functional encoder over packed token ids (BERT, ALBERT, ...).

    Inputs, a dict (the keys keras-hub's BERT models use):

    - `token_ids`: `[batch, length]` int32;
    - `segment_ids`: `[batch, length]` int32, 0 for the first segment, 1 for
      the second;
    - `padding_mask`: `[batch, length]` int32 or bool, 1 for real tokens.

    Outputs, a dict:

    - `sequence_output`: `[batch, length, hidden_size]` float, the last
      layer's vector for every token;
    - `pooled_output`: `[batch, hidden_size]` float, `tanh(W h_[CLS] + b)`.

    With `features_only=True` the outputs are the per-layer hidden states
    instead: `{"layer_0": embeddings, "layer_1": ..., "layer_N": ...}`, each
    `[batch, length, hidden_size]` (`feature_info` lists them).

    `preprocessor` (a `TextPreprocessor`, attached by presets) lets `embed`
    take raw strings.
    """

    preprocessor = None

    def _init_encoder(self, inputs, sequence_output, pooled_output,
                      layer_outputs, features_only=False, **kwargs):
        pyramid = {f"layer_{i}": x for i, x in enumerate(layer_outputs)}
        info = [
            {"name": name, "channels": int(x.shape[-1]), "stride": 1}
            for name, x in pyramid.items()
        ]
        self._init_backbone(
            inputs=inputs,
            outputs={"sequence_output": sequence_output,
                     "pooled_output": pooled_output},
            pyramid_outputs=pyramid,
            feature_info=info,
            features_only=features_only,
            **kwargs,
        )
        self.layer_outputs = list(layer_outputs)

    def _embed_tokens(self, inputs, width, *, vocabulary_size,
                      max_sequence_length, type_vocabulary_size,
                      norm_epsilon, dropout, initializer, dtype):
        """Token + position + segment embeddings, layer-normalised, dropout.

        The embedding block of BERT and ALBERT, `width` wide (ALBERT's
        factorised embedding size, BERT's hidden size); layer names are
        the ones the converters map.
        """
        tokens = keras.layers.Embedding(
            vocabulary_size, width, embeddings_initializer=initializer,
            dtype=dtype, name="token_embedding",
        )(inputs["token_ids"])
        positions = PositionEmbedding(
            max_sequence_length, initializer=initializer, dtype=dtype,
            name="position_embedding",
        )(tokens)
        segments = keras.layers.Embedding(
            type_vocabulary_size, width, embeddings_initializer=initializer,
            dtype=dtype, name="segment_embedding",
        )(inputs["segment_ids"])
        x = keras.layers.Add(dtype=dtype, name="embeddings_add")(
            [tokens, positions, segments])
        x = keras.layers.LayerNormalization(
            epsilon=norm_epsilon, dtype=dtype, name="embeddings_norm")(x)
        return keras.layers.Dropout(dropout, dtype=dtype,
                                    name="embeddings_dropout")(x)

    def _pool_and_init(self, inputs, x, layer_outputs, *, hidden_size,
                       initializer, features_only, dtype, **kwargs):
        """Adds the pooler `tanh(W h_[CLS] + b)` and builds the model."""
        cls_vector = keras.layers.Lambda(
            lambda h: h[:, 0, :], dtype=dtype, name="cls_token")(x)
        pooled = keras.layers.Dense(
            hidden_size, activation="tanh", kernel_initializer=initializer,
            dtype=dtype, name="pooler",
        )(cls_vector)
        self._init_encoder(inputs, x, pooled, layer_outputs,
                           features_only=features_only, dtype=dtype, **kwargs)

    @property
    def token_embedding(self):
        """The `Embedding` layer of token ids (tied to masked-LM heads)."""
        return self.get_layer("token_embedding")

    def embed(self, texts, batch_size=32, normalize=True):
        """Sentence embeddings: mean over real tokens, then L2-normalised.

        As the sentence-transformers models define them (mean pooling over
        the padding mask, then `normalize`). Runs the attached preprocessor;
        texts longer than its `sequence_length` are truncated (see the
        preprocessor's `on_overflow`).

        Args:
            texts: str or list of str.
            batch_size: int, texts per forward pass.
            normalize: bool, L2-normalise each vector (cosine similarity is
                then a dot product).

        Returns:
            float32 numpy array `[len(texts), hidden_size]` (`[hidden_size]`
            for a single str).

        Raises:
            ValueError: the encoder has no preprocessor, or was built with
                `features_only=True`.
        """
        if self.preprocessor is None:
            raise ValueError(
                f"{self.name} has no preprocessor, so it cannot read raw "
                "text. Load it with zoo.from_preset(...), or set "
                "`encoder.preprocessor = zoo.nlp.TextPreprocessor(...)`."
            )
        if self.features_only:
            raise ValueError(
                f"{self.name} was built with features_only=True; embed needs "
                "the sequence output."
            )
        single = isinstance(texts, str)
        texts = [texts] if single else [str(t) for t in texts]
        check_preprocessor_fits(self, self.preprocessor)
        vectors = []
        for start in range(0, len(texts), batch_size):
            features = self.preprocessor(texts[start:start + batch_size])
            features = {k: np.asarray(v) for k, v in features.items()}
            count = features["token_ids"].shape[0]
            features = _bucket(features, batch_size)
            outputs = self.predict_on_batch(features)
            pooled = mean_pool(
                ops.convert_to_tensor(
                    outputs["sequence_output"][:count], "float32"),
                ops.convert_to_tensor(features["padding_mask"][:count]),
            )
            if normalize:
                pooled = l2_normalize(pooled)
            vectors.append(np.asarray(ops.convert_to_numpy(pooled),
                                      "float32"))
        result = np.concatenate(vectors, axis=0) if vectors else np.zeros(
            (0, self.hidden_size), "float32")
        return result[0] if single else result


def _next_power_of_two(n):
    return 1 << max(0, int(n) - 1).bit_length()


def _bucket(features, batch_size):
    """Trims padding and pads the batch to powers of two.

    Padding beyond the longest text changes nothing (it is masked), so it is
    cut to the next power of two (at least 16); the batch is filled up to
    `batch_size` (to a power of two above 64) with copies of its first row,
    dropped afterwards. A few shapes then cover every call, so compiled
    functions are reused.
    """
    longest = int(features["padding_mask"].sum(axis=1).max())
    length = features["token_ids"].shape[1]
    keep = min(length, max(16, _next_power_of_two(longest)))
    count = features["token_ids"].shape[0]
    rows = batch_size if batch_size <= 64 else _next_power_of_two(count)
    rows = max(rows, count)
    bucketed = {}
    for key, value in features.items():
        value = value[:, :keep]
        if rows > count:
            value = np.concatenate(
                [value, np.repeat(value[:1], rows - count, axis=0)], axis=0)
        bucketed[key] = value
    return bucketed


def encoder_inputs():
    """The three `keras.Input`s of a `TextEncoder`, as a dict."""
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32",
                                 name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32",
                                   name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="int32",
                                    name="padding_mask"),
    }
