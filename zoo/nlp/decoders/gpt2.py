"""GPT-2 (Radford et al. 2019): learned positions, pre-LayerNorm blocks.

Read top to bottom: the backbone class, then the registered sizes.

Token and position embeddings, dropout, `num_layers` pre-norm
`TransformerDecoderBlock`s (layer norm, causal multi-head attention with
biases, a 4x MLP with the tanh approximation of GELU), a final layer norm;
the output head is the token embedding transposed. The vocabulary and
merges are OpenAI's byte-level BPE (`zoo.BytePairTokenizer`).

Layer names, used by the converters (Hugging Face `GPT2LMHeadModel` name
in brackets): `token_embedding` [`transformer.wte`], `position_embedding`
[`transformer.wpe`], `transformer_layer_{i}` [`transformer.h.{i}`] with
`attention_norm` [`ln_1`], `attention/{query,key,value}` [the thirds of
`attn.c_attn`], `attention/output` [`attn.c_proj`], `feed_forward_norm`
[`ln_2`], `feed_forward_intermediate` [`mlp.c_fc`],
`feed_forward_output` [`mlp.c_proj`]; `final_norm` [`transformer.ln_f`].
"""

import keras
from keras import ops

from zoo.layers.initializers import HostTruncatedNormal
from zoo.layers.transformer import (
    PositionEmbedding,
    TransformerDecoderBlock,
    make_norm,
)
from zoo.nlp.decoders.base import CausalMask, DecoderBackbone, decoder_inputs
from zoo.registry import register_family, register_variants

FAMILY = register_family(
    "gpt2", modality="text", task="causal_lm",
    paper="Radford et al. 2019, Language Models are Unsupervised Multitask "
          "Learners, https://openai.com/research/better-language-models")


@keras.saving.register_keras_serializable(package="zoo")
class GPT2Backbone(DecoderBackbone):
    """GPT-2: token ids to final hidden states.

    Args:
        vocabulary_size: int (50257 for OpenAI's BPE).
        num_layers, hidden_size, num_heads: the size.
        intermediate_size: int or None (4 * hidden_size).
        max_sequence_length: int, learned positions (1024).
        dropout: float, on embeddings and each block's branches.
        norm_epsilon: float, layer norm epsilon (1e-5).
        initializer_range: float, stddev of the initialiser (0.02).
        dtype: dtype policy.

    Call args:
        `{"token_ids", "padding_mask"}`, each `[batch, length]` int32
        (right-padded; positions 0, 1, ...).

    Returns:
        `[batch, length, hidden_size]` float.
    """

    family = "gpt2"

    def __init__(self, vocabulary_size=50257, num_layers=12, hidden_size=768,
                 num_heads=12, intermediate_size=None,
                 max_sequence_length=1024, dropout=0.1, norm_epsilon=1e-5,
                 initializer_range=0.02, features_only=False, dtype=None,
                 **kwargs):
        if hidden_size % num_heads:
            raise ValueError(
                f"GPT2Backbone: hidden_size={hidden_size} is not a multiple "
                f"of num_heads={num_heads}.")
        intermediate_size = intermediate_size or 4 * hidden_size
        init = HostTruncatedNormal(initializer_range)
        inputs = decoder_inputs()
        tokens = keras.layers.Embedding(
            vocabulary_size, hidden_size, embeddings_initializer=init,
            dtype=dtype, name="token_embedding")(inputs["token_ids"])
        positions = PositionEmbedding(
            max_sequence_length, initializer=init, dtype=dtype,
            name="position_embedding")(tokens)
        x = keras.layers.Add(dtype=dtype, name="embeddings_add")(
            [tokens, positions])
        x = keras.layers.Dropout(dropout, dtype=dtype,
                                 name="embeddings_dropout")(x)
        mask = CausalMask(dtype=dtype, name="causal_mask")(
            inputs["padding_mask"])
        layer_outputs = [x]
        for i in range(num_layers):
            x = TransformerDecoderBlock(
                num_heads, intermediate_size, norm="layer_norm",
                feed_forward="mlp", activation="gelu_approximate",
                use_bias=True, norm_epsilon=norm_epsilon, dropout=dropout,
                attention_dropout=dropout, kernel_initializer=init,
                dtype=dtype, name=f"transformer_layer_{i}")(
                    x, attention_mask=mask)
            layer_outputs.append(x)
        x = make_norm("layer_norm", norm_epsilon, dtype, "final_norm")(x)
        self._init_decoder(inputs, x, layer_outputs,
                           features_only=features_only, dtype=dtype,
                           **kwargs)
        self.lm_head = None
        self._record_arguments(locals())
        self.num_key_value_heads = num_heads
        self.head_size = hidden_size // num_heads

    def embed(self, token_ids, positions):
        """Token plus learned position vectors at `positions`."""
        table = self.get_layer("position_embedding").embeddings
        position_vectors = ops.take(ops.cast(table, self.compute_dtype),
                                    ops.cast(positions, "int32"), axis=0)
        if len(position_vectors.shape) == 2:
            position_vectors = position_vectors[None]
        return self.token_embedding(token_ids) + position_vectors


# --- Registered sizes -----------------------------------------------------
#
# (layers, hidden, heads): OpenAI's GPT-2 releases (Hugging Face gpt2,
# gpt2-medium, gpt2-large, gpt2-xl config.json).
GPT2_SIZES = {
    "gpt2_base": (12, 768, 12),
    "gpt2_medium": (24, 1024, 16),
    "gpt2_large": (36, 1280, 20),
    "gpt2_extra_large": (48, 1600, 25),
}


def build_gpt2(size, **kwargs):
    """A `GPT2Backbone` of a size in `GPT2_SIZES` (arguments override)."""
    layers, hidden, heads = GPT2_SIZES[size]
    config = {"num_layers": layers, "hidden_size": hidden,
              "num_heads": heads, "name": size}
    config.update(kwargs)
    return GPT2Backbone(**config)


register_variants(build_gpt2, {
    "gpt2_base": ("gpt2_base", "GPT-2 124M: 12 layers, width 768, 12 heads "
                  "(124,439,808).", {}),
    "gpt2_medium": ("gpt2_medium", "GPT-2 355M: 24 layers, width 1024, 16 "
                    "heads.", {}),
    "gpt2_large": ("gpt2_large", "GPT-2 774M: 36 layers, width 1280, 20 "
                   "heads.", {}),
    "gpt2_extra_large": ("gpt2_extra_large", "GPT-2 1.5B: 48 layers, width "
                         "1600, 25 heads.", {}),
})
