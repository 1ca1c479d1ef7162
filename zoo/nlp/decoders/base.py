"""What every decoder backbone shares: token ids and a padding mask in,
final hidden states out, and the methods `CausalLM` decodes with
(`logits`, `empty_cache`, `call_with_cache`)."""

import keras
from keras import ops

from zoo.backbone import Backbone
from zoo.errors import SequenceTooLongError


@keras.saving.register_keras_serializable(package="zoo")
class CausalMask(keras.layers.Layer):
    """`[batch, length, length]` bool: causal, and only real keys (every
    query also sees itself, so a padding query's scores are never all
    masked).

    Call args:
        padding_mask: `[batch, length]` int/bool, 1 for real tokens.
    """

    def call(self, padding_mask):
        length = ops.shape(padding_mask)[1]
        rows = ops.arange(length)[:, None]
        causal = ops.arange(length)[None, :] <= rows
        keys = ops.cast(padding_mask, "bool")[:, None, :]
        diagonal = ops.arange(length)[None, :] == rows
        return ops.logical_or(ops.logical_and(causal[None], keys),
                              diagonal[None])

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], shape[1])


def decoder_inputs():
    """`{"token_ids", "padding_mask"}` Keras inputs, `[batch, length]`."""
    return {
        "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input((None,), dtype="int32",
                                    name="padding_mask"),
    }


class DecoderBackbone(Backbone):
    """A functional decoder over `{"token_ids", "padding_mask"}`.

    Subclasses build `token_embedding`, the blocks
    `transformer_layer_{i}` (`TransformerDecoderBlock`s) and `final_norm`,
    set `lm_head` (None when tied) and define `embed(token_ids,
    positions)`; the attributes `num_layers`, `num_key_value_heads`,
    `head_size`, `vocabulary_size` and `max_sequence_length` size the
    cache.
    """

    @property
    def token_embedding(self):
        """The `Embedding` layer of token ids (the tied output head)."""
        return self.get_layer("token_embedding")

    @property
    def transformer_layers(self):
        """The decoder blocks, in order."""
        return [self.get_layer(f"transformer_layer_{i}")
                for i in range(self.num_layers)]

    def logits(self, hidden):
        """Next-token logits `[batch, length, vocabulary_size]` (float32)
        of final hidden states."""
        if self.lm_head is not None:
            out = self.lm_head(hidden)
        else:
            table = ops.cast(self.token_embedding.embeddings, hidden.dtype)
            out = ops.matmul(hidden, ops.transpose(table))
        return ops.cast(out, "float32")

    def empty_cache(self, batch_size, cache_length):
        """Zeros `[batch, num_layers, 2, cache_length, kv_heads, head_dim]`:
        every layer's keys and values, batch first (beam search reorders
        rows)."""
        return ops.zeros((batch_size, self.num_layers, 2, cache_length,
                          self.num_key_value_heads, self.head_size),
                         dtype=self.compute_dtype)

    def call_with_cache(self, token_ids, cache, cache_index, positions,
                        attention_mask):
        """Runs new tokens against the key/value cache.

        Args:
            token_ids: `[batch, length]` int32, the new tokens.
            cache: `empty_cache`'s layout.
            cache_index: scalar int, the cache slot of the first new token.
            positions: `[batch, length]` int, their rotary positions.
            attention_mask: `[batch, length, cache_length]` bool.

        Returns:
            `(logits [batch, length, vocabulary_size] float32, cache)`.
        """
        length = token_ids.shape[1]
        if isinstance(length, int) and length > self.max_sequence_length:
            raise SequenceTooLongError(
                f"{self.name}: {length} tokens are more than its "
                f"{self.max_sequence_length} positions.")
        x = self.embed(token_ids, positions)
        caches = []
        for i, block in enumerate(self.transformer_layers):
            x, layer_cache = block(x, attention_mask=attention_mask,
                                   positions=positions, cache=cache[:, i],
                                   cache_index=cache_index)
            caches.append(layer_cache)
        x = self.get_layer("final_norm")(x)
        return self.logits(x), ops.stack(caches, axis=1)


    def forward(self, token_ids, positions, attention_mask):
        """Logits of whole sequences without a cache (what `generate`
        recomputes with `use_cache=False`)."""
        x = self.embed(token_ids, positions)
        for block in self.transformer_layers:
            x = block(x, attention_mask=attention_mask, positions=positions)
        return self.logits(self.get_layer("final_norm")(x))
