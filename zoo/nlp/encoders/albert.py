"""ALBERT (Lan et al. 2019, arXiv:1909.11942): BERT with fewer parameters.

Two changes to BERT, everything else the same:

- factorised embeddings: tokens, positions and segments are embedded at a
  small `embedding_size` (128), normalised, then projected to `hidden_size`;
- cross-layer sharing: the `num_layers` blocks reuse `num_groups` sets of
  weights (one by default): layer `i` runs group `i * num_groups //
  num_layers`.

Layer names (Hugging Face `AlbertModel` name in brackets): `token_embedding`
[`embeddings.word_embeddings`], `position_embedding`, `segment_embedding`,
`embeddings_norm`, `embeddings_projection` [`encoder.embedding_hidden_mapping_in`],
`transformer_group_{g}` [`encoder.albert_layer_groups.{g}.albert_layers.0`]
with the sublayers of `TransformerEncoderBlock`, and `pooler`.

ALBERT-base v2 has 11,683,584 trainable parameters (Hugging Face's
`AlbertModel` count; tested).
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
    "albert", modality="text", task=None,
    paper="Lan et al. 2019, ALBERT: A Lite BERT for Self-supervised "
          "Learning of Language Representations, "
          "https://arxiv.org/abs/1909.11942")


@keras.saving.register_keras_serializable(package="zoo")
class AlbertEncoder(TextEncoder):
    """ALBERT: factorised embeddings and transformer blocks shared by layers.

    Args:
        vocabulary_size: int (30000 for the released SentencePiece model).
        embedding_size: int, width of the embeddings before the projection.
        hidden_size: int.
        num_layers: int, transformer layers run.
        num_heads: int.
        intermediate_size: int.
        num_groups: int, distinct sets of block weights; must divide
            `num_layers`.
        activation: str (`"gelu_approximate"` is ALBERT's `gelu_new`).
        dropout, attention_dropout: float (0 in ALBERT v2).
        max_sequence_length: int.
        type_vocabulary_size: int.
        norm_epsilon: float.
        initializer_range: float.
        features_only: bool, output the per-layer hidden states.
        dtype: dtype policy.

    Call args and returns: as `BertEncoder`.
    """

    family = "albert"

    def __init__(
        self,
        vocabulary_size=30000,
        embedding_size=128,
        hidden_size=768,
        num_layers=12,
        num_heads=12,
        intermediate_size=3072,
        num_groups=1,
        activation="gelu_approximate",
        dropout=0.0,
        attention_dropout=0.0,
        max_sequence_length=512,
        type_vocabulary_size=2,
        norm_epsilon=1e-12,
        initializer_range=0.02,
        features_only=False,
        dtype=None,
        **kwargs,
    ):
        get_activation(activation)
        if num_layers % num_groups:
            raise ValueError(
                f"AlbertEncoder: num_groups={num_groups} must divide "
                f"num_layers={num_layers}."
            )
        if hidden_size % num_heads:
            raise ValueError(
                f"AlbertEncoder: hidden_size={hidden_size} is not a multiple "
                f"of num_heads={num_heads}."
            )
        init = HostTruncatedNormal(initializer_range)
        inputs = encoder_inputs()
        x = self._embed_tokens(
            inputs, embedding_size, vocabulary_size=vocabulary_size,
            max_sequence_length=max_sequence_length,
            type_vocabulary_size=type_vocabulary_size,
            norm_epsilon=norm_epsilon, dropout=dropout, initializer=init,
            dtype=dtype)
        x = keras.layers.Dense(
            hidden_size, kernel_initializer=init, dtype=dtype,
            name="embeddings_projection",
        )(x)
        groups = [
            TransformerEncoderBlock(
                num_heads,
                intermediate_size,
                activation=activation,
                dropout=dropout,
                attention_dropout=attention_dropout,
                norm_epsilon=norm_epsilon,
                kernel_initializer=init,
                dtype=dtype,
                name=f"transformer_group_{g}",
            )
            for g in range(num_groups)
        ]
        layer_outputs = [x]
        for i in range(num_layers):
            block = groups[i * num_groups // num_layers]
            x = block(x, padding_mask=inputs["padding_mask"])
            layer_outputs.append(x)
        self._pool_and_init(inputs, x, layer_outputs,
                            hidden_size=hidden_size, initializer=init,
                            features_only=features_only, dtype=dtype,
                            **kwargs)
        self._record_arguments(locals())


# --- Registered variants --------------------------------------------------

#: (num_layers, hidden_size, num_heads, intermediate_size) of the released
#: ALBERT v2 models (Table 1 of the paper; embedding size 128 throughout).
ALBERT_SIZES = {
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
    "xlarge": (24, 2048, 16, 8192),
    "xxlarge": (12, 4096, 64, 16384),
}


def build_albert(size, **kwargs):
    """An `AlbertEncoder` of a size in `ALBERT_SIZES`."""
    layers, hidden, heads, intermediate = ALBERT_SIZES[size]
    config = {
        "num_layers": layers,
        "hidden_size": hidden,
        "num_heads": heads,
        "intermediate_size": intermediate,
        "name": f"albert_{size}_v2",
    }
    config.update(kwargs)
    return AlbertEncoder(**config)


@register_model
def albert_base_v2(**kwargs):
    """ALBERT-base v2: 12 shared layers, hidden 768, 11.7M parameters."""
    return build_albert("base", **kwargs)


@register_model
def albert_large_v2(**kwargs):
    """ALBERT-large v2: 24 shared layers, hidden 1024."""
    return build_albert("large", **kwargs)


@register_model
def albert_xlarge_v2(**kwargs):
    """ALBERT-xlarge v2: 24 shared layers, hidden 2048."""
    return build_albert("xlarge", **kwargs)


@register_model
def albert_xxlarge_v2(**kwargs):
    """ALBERT-xxlarge v2: 12 shared layers, hidden 4096, 64 heads."""
    return build_albert("xxlarge", **kwargs)
