"""BERT (Devlin et al. 2018, arXiv:1810.04805): a post-norm transformer encoder.

Read top to bottom: the encoder class, then the registered variants.

Embeddings: token + learned absolute position + segment ("token type"),
layer-normalised, dropout. Then `num_layers` post-norm
`TransformerEncoderBlock`s, and a pooler `tanh(W h_[CLS] + b)`.

Layer names, used by the converters in `zoo/convert/` (Hugging Face name in
brackets): `token_embedding` [`embeddings.word_embeddings`],
`position_embedding` [`embeddings.position_embeddings`], `segment_embedding`
[`embeddings.token_type_embeddings`], `embeddings_norm`
[`embeddings.LayerNorm`], `transformer_layer_{i}` [`encoder.layer.{i}`] with
`attention/{query,key,value}` [`attention.self.*`], `attention/output`
[`attention.output.dense`], `attention_norm` [`attention.output.LayerNorm`],
`intermediate` [`intermediate.dense`], `output` [`output.dense`],
`output_norm` [`output.LayerNorm`]; and `pooler` [`pooler.dense`].

Trainable parameters equal the published counts (BERT-base uncased
109,482,240, as Hugging Face's `BertModel` counts them; tested).
"""

import keras

from zoo.layers.transformer import (
    TransformerEncoderBlock,
    get_activation,
)
from zoo.layers.initializers import HostTruncatedNormal
from zoo.nlp.encoders.base import TextEncoder, encoder_inputs
from zoo.registry import register_family, register_model

FAMILY = register_family(
    "bert", modality="text", task=None,
    paper="Devlin et al. 2018, BERT: Pre-training of Deep Bidirectional "
          "Transformers for Language Understanding, "
          "https://arxiv.org/abs/1810.04805")


@keras.saving.register_keras_serializable(package="zoo")
class BertEncoder(TextEncoder):
    """BERT: embeddings, `num_layers` post-norm transformer blocks, a pooler.

    Args:
        vocabulary_size: int, rows of the token embedding (30522 for the
            uncased English WordPiece vocabulary).
        hidden_size: int, width of every token vector.
        num_layers: int, transformer blocks.
        num_heads: int, attention heads (`hidden_size` must divide evenly).
        intermediate_size: int, width of the feed-forward hidden layer.
        activation: str, feed-forward activation (`"gelu"` is exact GELU as in
            Hugging Face and the Model Garden; keras-hub's BERT uses
            `"gelu_approximate"`).
        dropout: float, dropout on embeddings and on each block's branches.
        attention_dropout: float, dropout on attention probabilities.
        max_sequence_length: int, positions of the position embedding.
        type_vocabulary_size: int, segment ids (2 for sentence pairs).
        norm_epsilon: float, layer-norm epsilon (1e-12 in BERT).
        initializer_range: float, stddev of the truncated-normal initialiser.
        features_only: bool, output the per-layer hidden states instead.
        dtype: dtype policy of every layer.

    Call args:
        A dict `{"token_ids", "segment_ids", "padding_mask"}`, each
        `[batch, length]` int32 (see `TextEncoder`).

    Returns:
        `{"sequence_output": [batch, length, hidden_size],
        "pooled_output": [batch, hidden_size]}` float, or the per-layer dict
        with `features_only`.

    Raises:
        SequenceTooLongError: `length > max_sequence_length`.
    """

    family = "bert"

    def __init__(
        self,
        vocabulary_size=30522,
        hidden_size=768,
        num_layers=12,
        num_heads=12,
        intermediate_size=3072,
        activation="gelu",
        dropout=0.1,
        attention_dropout=0.1,
        max_sequence_length=512,
        type_vocabulary_size=2,
        norm_epsilon=1e-12,
        initializer_range=0.02,
        features_only=False,
        dtype=None,
        **kwargs,
    ):
        get_activation(activation)
        if hidden_size % num_heads:
            raise ValueError(
                f"BertEncoder: hidden_size={hidden_size} is not a multiple of "
                f"num_heads={num_heads}."
            )
        init = HostTruncatedNormal(initializer_range)
        inputs = encoder_inputs()
        x = self._embed_tokens(
            inputs, hidden_size, vocabulary_size=vocabulary_size,
            max_sequence_length=max_sequence_length,
            type_vocabulary_size=type_vocabulary_size,
            norm_epsilon=norm_epsilon, dropout=dropout, initializer=init,
            dtype=dtype)
        layer_outputs = [x]
        for i in range(num_layers):
            x = TransformerEncoderBlock(
                num_heads,
                intermediate_size,
                activation=activation,
                dropout=dropout,
                attention_dropout=attention_dropout,
                norm_epsilon=norm_epsilon,
                kernel_initializer=init,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )(x, padding_mask=inputs["padding_mask"])
            layer_outputs.append(x)
        self._pool_and_init(inputs, x, layer_outputs,
                            hidden_size=hidden_size, initializer=init,
                            features_only=features_only, dtype=dtype,
                            **kwargs)
        self._record_arguments(locals())


# --- Registered variants --------------------------------------------------

#: (num_layers, hidden_size, num_heads) of Google's BERT releases; the
#: feed-forward width is 4 * hidden_size throughout (Turc et al. 2019 for the
#: compact sizes, arXiv:1908.08962).
BERT_SIZES = {
    "tiny": (2, 128, 2),
    "mini": (4, 256, 4),
    "small": (4, 512, 8),
    "medium": (8, 512, 8),
    "base": (12, 768, 12),
    "large": (24, 1024, 16),
}

#: WordPiece vocabulary sizes of the released checkpoints.
VOCABULARY_SIZES = {
    "uncased": 30522,
    "cased": 28996,
    "multilingual_cased": 119547,
}


def build_bert(size, vocabulary="uncased", **kwargs):
    """A `BertEncoder` of a size in `BERT_SIZES` and a vocabulary size.

    Args:
        size: str, a key of `BERT_SIZES`.
        vocabulary: str, a key of `VOCABULARY_SIZES`.
        **kwargs: any `BertEncoder` argument, overriding the size's.

    Returns:
        `BertEncoder`.
    """
    layers, hidden, heads = BERT_SIZES[size]
    config = {
        "vocabulary_size": VOCABULARY_SIZES[vocabulary],
        "num_layers": layers,
        "hidden_size": hidden,
        "num_heads": heads,
        "intermediate_size": 4 * hidden,
    }
    config.update(kwargs)
    config.setdefault("name", f"bert_{size}_{vocabulary}")
    return BertEncoder(**config)


@register_model
def bert_tiny_uncased(**kwargs):
    """BERT-Tiny: 2 layers, hidden 128, 2 heads, uncased vocabulary."""
    return build_bert("tiny", **kwargs)


@register_model
def bert_mini_uncased(**kwargs):
    """BERT-Mini: 4 layers, hidden 256, 4 heads, uncased vocabulary."""
    return build_bert("mini", **kwargs)


@register_model
def bert_small_uncased(**kwargs):
    """BERT-Small: 4 layers, hidden 512, 8 heads, uncased vocabulary."""
    return build_bert("small", **kwargs)


@register_model
def bert_medium_uncased(**kwargs):
    """BERT-Medium: 8 layers, hidden 512, 8 heads, uncased vocabulary."""
    return build_bert("medium", **kwargs)


@register_model
def bert_base_uncased(**kwargs):
    """BERT-Base: 12 layers, hidden 768, 12 heads, uncased, 109.5M parameters."""
    return build_bert("base", **kwargs)


@register_model
def bert_base_cased(**kwargs):
    """BERT-Base: 12 layers, hidden 768, 12 heads, cased vocabulary."""
    return build_bert("base", "cased", **kwargs)


@register_model
def bert_base_multilingual_cased(**kwargs):
    """Multilingual BERT-Base: 104 languages, cased, 119,547 tokens."""
    return build_bert("base", "multilingual_cased", **kwargs)


@register_model
def bert_large_uncased(**kwargs):
    """BERT-Large: 24 layers, hidden 1024, 16 heads, uncased vocabulary."""
    return build_bert("large", **kwargs)


@register_model
def bert_large_cased(**kwargs):
    """BERT-Large: 24 layers, hidden 1024, 16 heads, cased vocabulary."""
    return build_bert("large", "cased", **kwargs)


@register_model
def minilm_l6_h384_uncased(**kwargs):
    """MiniLM-L6-H384: 6 layers, hidden 384, 12 heads (all-MiniLM-L6-v2)."""
    config = {
        "vocabulary_size": 30522,
        "num_layers": 6,
        "hidden_size": 384,
        "num_heads": 12,
        "intermediate_size": 1536,
        "name": "minilm_l6_h384_uncased",
    }
    config.update(kwargs)
    return BertEncoder(**config)
