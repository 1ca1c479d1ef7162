"""Decoders' peers: keras-hub's `LlamaCausalLM` and `GPT2CausalLM` of the
zoo decoder's size (random weights, no preprocessor), for `zoo bench
--mode generate`.

keras-hub's Llama has the same blocks (RMS norm, rotary positions,
grouped-query attention, SwiGLU); its head is untied (its own
`reverse_embeddings`), so it counts one vocabulary-by-width matrix more
than a tied zoo decoder; the work per token is the same.
"""

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer


@register_peer("llama", "keras_hub")
def keras_hub_llama(name, zoo_model):
    """keras-hub's Llama causal LM with the zoo decoder's size."""
    import keras_hub

    b = zoo_model.backbone
    if b.head_dim not in (None, b.hidden_size // b.num_heads):
        raise BenchError("keras-hub's Llama has head_dim = hidden / heads; "
                         f"{name!r} has {b.head_dim}.")
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=b.vocabulary_size, num_layers=b.num_layers,
        num_query_heads=b.num_heads,
        num_key_value_heads=b.num_key_value_heads, hidden_dim=b.hidden_size,
        intermediate_dim=b.intermediate_size,
        rope_max_wavelength=b.rope_max_wavelength,
        layer_norm_epsilon=b.norm_epsilon, dtype=b.dtype_policy.name)
    return (keras_hub.models.LlamaCausalLM(backbone=backbone,
                                           preprocessor=None),
            "keras_hub.models.LlamaCausalLM")


@register_peer("gpt2", "keras_hub")
def keras_hub_gpt2(name, zoo_model):
    """keras-hub's GPT-2 causal LM with the zoo decoder's size."""
    import keras_hub

    b = zoo_model.backbone
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=b.vocabulary_size, num_layers=b.num_layers,
        num_heads=b.num_heads, hidden_dim=b.hidden_size,
        intermediate_dim=b.intermediate_size or 4 * b.hidden_size,
        dropout=b.dropout, max_sequence_length=b.max_sequence_length,
        dtype=b.dtype_policy.name)
    return (keras_hub.models.GPT2CausalLM(backbone=backbone,
                                          preprocessor=None),
            "keras_hub.models.GPT2CausalLM")
