"""Llama-architecture decoders (Touvron et al. 2023), SmolLM2 among them.

Read top to bottom: the backbone class, then the registered sizes.

Token embedding, `num_layers` pre-norm `TransformerDecoderBlock`s (RMS norm,
causal self-attention with grouped key/value heads and rotary positions,
SwiGLU feed-forward, no biases), a final RMS norm. The language-model head
is the token embedding transposed (`tie_word_embeddings`, SmolLM2) or a
bias-free `lm_head`; `CausalLM` (`zoo/nlp/decoders/causal_lm.py`) applies it
and generates.

Layer names, used by the converters (Hugging Face `LlamaForCausalLM` name;
GGUF name in brackets): `token_embedding` [`model.embed_tokens`;
`token_embd`], `transformer_layer_{i}` [`model.layers.{i}`; `blk.{i}`] with
`attention/{query,key,value,output}` [`self_attn.{q,k,v,o}_proj`;
`attn_{q,k,v,output}`], `attention_norm` [`input_layernorm`; `attn_norm`],
`feed_forward_norm` [`post_attention_layernorm`; `ffn_norm`],
`feed_forward_gate` [`mlp.gate_proj`; `ffn_gate`],
`feed_forward_intermediate` [`mlp.up_proj`; `ffn_up`],
`feed_forward_output` [`mlp.down_proj`; `ffn_down`]; `final_norm`
[`model.norm`; `output_norm`]; `lm_head` [`lm_head`; `output`] when untied.
"""

import keras

from zoo.layers.initializers import HostTruncatedNormal
from zoo.layers.transformer import TransformerDecoderBlock, make_norm
from zoo.nlp.decoders.base import CausalMask, DecoderBackbone, decoder_inputs
from zoo.registry import register_family, register_variants

FAMILY = register_family(
    "llama", modality="text", task="causal_lm",
    paper="Touvron et al. 2023, LLaMA: Open and Efficient Foundation "
          "Language Models, https://arxiv.org/abs/2302.13971")


@keras.saving.register_keras_serializable(package="zoo")
class LlamaBackbone(DecoderBackbone):
    """A Llama-architecture decoder: token ids to final hidden states.

    Args:
        vocabulary_size: int, rows of the token embedding.
        num_layers: int, decoder blocks.
        hidden_size: int.
        intermediate_size: int, SwiGLU width.
        num_heads: int, query heads.
        num_key_value_heads: int, key/value heads (grouped-query attention;
            equal to `num_heads` for multi-head attention).
        head_dim: int or None (`hidden_size / num_heads`).
        rope_max_wavelength: float, the rotary base (`rope_theta`).
        norm_epsilon: float, RMS norm epsilon.
        max_sequence_length: int, the context length (longer prompts are
            refused by `CausalLM.generate`).
        tie_word_embeddings: the output head is the token embedding.
        dropout: float, on each block's branches.
        initializer_range: float, stddev of the initialiser.
        dtype: dtype policy.

    Call args:
        `{"token_ids", "padding_mask"}`, each `[batch, length]` int32
        (right-padded; positions 0, 1, ...).

    Returns:
        `[batch, length, hidden_size]` float: the final-normed hidden states.
    """

    family = "llama"

    def __init__(self, vocabulary_size=32000, num_layers=32, hidden_size=4096,
                 intermediate_size=11008, num_heads=32,
                 num_key_value_heads=None, head_dim=None,
                 rope_max_wavelength=10000.0, norm_epsilon=1e-5,
                 max_sequence_length=2048, tie_word_embeddings=False,
                 dropout=0.0, initializer_range=0.02, features_only=False,
                 dtype=None, **kwargs):
        kv_heads = num_heads if num_key_value_heads is None else int(
            num_key_value_heads)
        if head_dim is None and hidden_size % num_heads:
            raise ValueError(
                f"LlamaBackbone: hidden_size={hidden_size} is not a multiple "
                f"of num_heads={num_heads}; pass head_dim.")
        if num_heads % kv_heads:
            raise ValueError(
                f"LlamaBackbone: num_heads={num_heads} is not a multiple of "
                f"num_key_value_heads={kv_heads}.")
        init = HostTruncatedNormal(initializer_range)
        inputs = decoder_inputs()
        x = keras.layers.Embedding(
            vocabulary_size, hidden_size, embeddings_initializer=init,
            dtype=dtype, name="token_embedding")(inputs["token_ids"])
        mask = CausalMask(dtype=dtype, name="causal_mask")(
            inputs["padding_mask"])
        layer_outputs = [x]
        for i in range(num_layers):
            x = self.make_block(
                i, num_heads=num_heads, intermediate_size=intermediate_size,
                num_key_value_heads=kv_heads, head_dim=head_dim,
                rope_max_wavelength=rope_max_wavelength,
                norm_epsilon=norm_epsilon, dropout=dropout, initializer=init,
                dtype=dtype)(x, attention_mask=mask)
            layer_outputs.append(x)
        x = make_norm("rms_norm", norm_epsilon, dtype, "final_norm")(x)
        self._init_decoder(inputs, x, layer_outputs,
                           features_only=features_only, dtype=dtype,
                           **kwargs)
        if not tie_word_embeddings:
            self.lm_head = keras.layers.Dense(
                vocabulary_size, use_bias=False, kernel_initializer=init,
                dtype=dtype, name="lm_head")
            self.lm_head.build((None, None, hidden_size))
        else:
            self.lm_head = None
        self.num_key_value_heads = kv_heads
        self._record_arguments(locals())
        self.num_key_value_heads = kv_heads
        self.head_size = head_dim or hidden_size // num_heads

    @staticmethod
    def make_block(index, *, num_heads, intermediate_size,
                   num_key_value_heads, head_dim, rope_max_wavelength,
                   norm_epsilon, dropout, initializer, dtype):
        """Decoder block `index` (Llama's options of
        `TransformerDecoderBlock`)."""
        return TransformerDecoderBlock(
            num_heads, intermediate_size,
            num_key_value_heads=num_key_value_heads, head_dim=head_dim,
            rotary_max_wavelength=rope_max_wavelength, norm="rms_norm",
            feed_forward="gated", activation="silu", use_bias=False,
            norm_epsilon=norm_epsilon, dropout=dropout,
            kernel_initializer=initializer, dtype=dtype,
            name=f"transformer_layer_{index}")

    def embed(self, token_ids, positions):
        """Token vectors (Llama's positions enter through the rotary
        attention, not here)."""
        del positions
        return self.token_embedding(token_ids)


# --- Registered sizes -----------------------------------------------------
#
# (layers, hidden, intermediate, heads, kv heads, rope base, context,
# vocabulary, tied): SmolLM2's config.json files on the Hugging Face Hub
# (HuggingFaceTB/SmolLM2-135M, -360M, -1.7B); Llama-2 7B's (meta-llama).
LLAMA_SIZES = {
    "smollm2_135m": (30, 576, 1536, 9, 3, 100000.0, 8192, 49152, True),
    "smollm2_360m": (32, 960, 2560, 15, 5, 100000.0, 8192, 49152, True),
    "smollm2_1_7b": (24, 2048, 8192, 32, 32, 130000.0, 8192, 49152, True),
    "llama2_7b": (32, 4096, 11008, 32, 32, 10000.0, 4096, 32000, False),
}


def build_llama(size, **kwargs):
    """A `LlamaBackbone` of a size in `LLAMA_SIZES` (arguments override)."""
    (layers, hidden, inner, heads, kv, base, context, vocabulary,
     tied) = LLAMA_SIZES[size]
    config = {"vocabulary_size": vocabulary, "num_layers": layers,
              "hidden_size": hidden, "intermediate_size": inner,
              "num_heads": heads, "num_key_value_heads": kv,
              "rope_max_wavelength": base, "max_sequence_length": context,
              "tie_word_embeddings": tied, "name": size}
    config.update(kwargs)
    return LlamaBackbone(**config)


register_variants(build_llama, {
    "smollm2_135m": ("smollm2_135m", "SmolLM2-135M: 30 layers, width 576, 9 "
                     "query and 3 key/value heads.", {}),
    "smollm2_360m": ("smollm2_360m", "SmolLM2-360M: 32 layers, width 960, 15 "
                     "query and 5 key/value heads.", {}),
    "smollm2_1_7b": ("smollm2_1_7b", "SmolLM2-1.7B: 24 layers, width 2048, "
                     "32 heads.", {}),
    "llama2_7b": ("llama2_7b", "Llama-2 7B: 32 layers, width 4096, 32 heads, "
                  "untied head.", {}),
})
