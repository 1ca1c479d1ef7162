"""What every decoder backbone shares: token ids and a padding mask in,
final hidden states out, and the methods `CausalLM` decodes with
(`logits`, `empty_cache`, `call_with_cache`)."""

import keras
import numpy as np
from keras import ops

from zoo.backbone import Backbone
from zoo.errors import SequenceTooLongError

#: The projections `enable_lora` adapts by default (all of a block's).
LORA_TARGETS = ("attention/query", "attention/key", "attention/value",
                "attention/output", "feed_forward_gate",
                "feed_forward_intermediate", "feed_forward_output")


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

    def quantize(self, mode=None, *args, **kwargs):
        """Nothing to quantize (no weights); `model.quantize` passes by."""


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

    def _init_decoder(self, inputs, outputs, layer_outputs,
                      features_only=False, lora=None, **kwargs):
        """Builds the functional model: `outputs` (or, with
        `features_only`, every block's output `layer_{i}`); `lora` (what
        `get_config` records after `enable_lora`: `{"rank", "alpha",
        "targets"}`) adapts it again, so a saved LoRA model reloads as
        one."""
        pyramid = {f"layer_{i}": h for i, h in enumerate(layer_outputs)}
        self._init_backbone(
            inputs=inputs, outputs=outputs, pyramid_outputs=pyramid,
            feature_info=[{"name": n, "channels": int(h.shape[-1]),
                           "stride": 1} for n, h in pyramid.items()],
            features_only=features_only, **kwargs)
        self._block_count = len(layer_outputs) - 1  # the embeddings first
        self._lora_config = None
        if lora:
            self.enable_lora(lora["rank"], lora_alpha=lora.get("alpha"),
                             targets=tuple(lora.get("targets",
                                                    LORA_TARGETS)))

    def get_config(self):
        config = super().get_config()
        if self._lora_config:
            config["lora"] = dict(self._lora_config)
        return config

    @property
    def token_embedding(self):
        """The `Embedding` layer of token ids (the tied output head)."""
        return self.get_layer("token_embedding")

    @property
    def transformer_layers(self):
        """The decoder blocks, in order."""
        return [self.get_layer(f"transformer_layer_{i}")
                for i in range(self._block_count)]

    def logits(self, hidden, head=None):
        """Next-token logits `[batch, length, vocabulary_size]` (float32)
        of final hidden states.

        `head`: None, or `output_head()` computed once beforehand (the
        generation loop does, so no step transposes the table)."""
        if self.lm_head is not None:
            out = self.lm_head(hidden)
        else:
            if head is None:
                head = self.output_head(hidden.dtype)
            out = ops.matmul(hidden, ops.cast(head, hidden.dtype))
        return ops.cast(out, "float32")

    def output_head(self, dtype=None):
        """The tied head as a `[hidden, vocabulary_size]` matrix of `dtype`
        (default: the compute dtype): the token embedding table transposed
        (and dequantized, in float32), or None when the head is a layer of
        its own (`lm_head`).

        A product with the table itself contracts its last axis, which XLA
        on a CPU runs about 1.5x slower than a product with this copy; the
        generation loop makes the copy once per call, outside its steps."""
        if self.lm_head is not None:
            return None
        embedding = self.token_embedding
        dtype = dtype or self.compute_dtype
        scale = getattr(embedding, "embeddings_scale", None)
        if scale is not None:  # quantized ("int8"): per-row scales
            table = ops.cast(embedding.embeddings, "float32") / ops.cast(
                scale, "float32")[:, None]
            table = ops.cast(table, dtype)
        else:
            table = ops.cast(embedding.embeddings, dtype)
        return ops.transpose(table)

    def empty_cache(self, batch_size, cache_length):
        """Zeros `[batch, num_layers, 2, cache_length, kv_heads, head_dim]`:
        every layer's keys and values, batch first (beam search reorders
        rows)."""
        return ops.zeros((batch_size, self.num_layers, 2, cache_length,
                          self.num_key_value_heads, self.head_size),
                         dtype=self.compute_dtype)

    def call_with_cache(self, token_ids, cache, cache_index, positions,
                        attention_mask, head=None):
        """Runs new tokens against the key/value cache.

        Args:
            token_ids: `[batch, length]` int32, the new tokens.
            cache: `empty_cache`'s layout.
            cache_index: scalar int, the cache slot of the first new token.
            positions: `[batch, length]` int, their rotary positions.
            attention_mask: `[batch, length, cache_length]` bool.
            head: None, or `output_head()` computed once (see `logits`).

        Returns:
            `(logits [batch, length, vocabulary_size] float32, cache)`.
        """
        length = token_ids.shape[1]
        if isinstance(length, int) and length > self.max_sequence_length:
            raise SequenceTooLongError(
                f"{self.name}: {length} tokens are more than its "
                f"{self.max_sequence_length} positions.")
        x = self.embed(token_ids, positions)
        # Each layer writes only its new tokens' rows into the one cache
        # array, which XLA (JAX, and TensorFlow's compiled decoding loop)
        # updates in place: a greedy or sampling step does not copy the
        # cache (beam search reorders it, which does).
        for i, block in enumerate(self.transformer_layers):
            x, cache = block(x, attention_mask=attention_mask,
                             positions=positions, cache=cache,
                             cache_index=cache_index, cache_layer=i)
        x = self.get_layer("final_norm")(x)
        return self.logits(x, head), cache


    def forward(self, token_ids, positions, attention_mask):
        """Logits of whole sequences without a cache (what `generate`
        recomputes with `use_cache=False`)."""
        x = self.embed(token_ids, positions)
        for block in self.transformer_layers:
            x = block(x, attention_mask=attention_mask, positions=positions)
        return self.logits(self.get_layer("final_norm")(x))

    # --- LoRA ---------------------------------------------------------------

    def lora_layers(self, targets=LORA_TARGETS):
        """The `Dense` projections of every block named by `targets`."""
        layers = []
        for block in self.transformer_layers:
            for layer in block._flatten_layers(include_self=False):
                if not isinstance(layer, keras.layers.Dense):
                    continue
                name = layer.path.split(f"{block.name}/", 1)[-1]
                if name in targets:
                    layers.append(layer)
        return layers

    def enable_lora(self, rank, lora_alpha=None, targets=LORA_TARGETS):
        """Low-rank adaptation (Hu et al. 2021) through Keras' own
        `Dense.enable_lora`: each targeted projection gains `rank`-wide
        factors `A`, `B` (`B` zero, so the model is unchanged), and every
        other weight is frozen, so training changes the factors only.

        Args:
            rank: int, the factors' width.
            lora_alpha: float or None (= rank): the update is scaled by
                `lora_alpha / rank`.
            targets: block projections to adapt (`LORA_TARGETS`).

        Returns:
            int, the LoRA parameters added (now the only trainable ones).
        """
        layers = self.lora_layers(targets)
        if not layers:
            raise ValueError(f"{self.name}: no projection matches {targets}.")
        added = 0
        for layer in layers:
            layer.enable_lora(rank, lora_alpha=lora_alpha)
            added += int(np.prod(layer.lora_kernel_a.shape)
                         + np.prod(layer.lora_kernel_b.shape))
        for variable in self.weights:
            if "lora_kernel" not in variable.path:
                variable.trainable = False
        self._lora_config = {"rank": int(rank), "alpha": lora_alpha,
                             "targets": list(targets)}
        return added

    def lora_state(self):
        """`{weight path: array}` of the LoRA factors (what a fine-tune
        saves: `numpy.savez(path, **lm.backbone.lora_state())`)."""
        return {v.path: np.asarray(v) for v in self.weights
                if "lora_kernel" in v.path}

    def merged(self):
        """A copy without LoRA whose kernels are `W + (alpha / rank) A B`
        (what an export serves), all weights trainable."""
        from zoo.weights import assign_state

        config = self.get_config()
        config.pop("lora", None)
        copy = type(self).from_config(config)
        state = {v.path: np.asarray(v) for v in self.weights
                 if "lora_kernel" not in v.path}
        for layer in self.lora_layers():
            if getattr(layer, "lora_enabled", False):
                state[layer._kernel.path] = np.asarray(layer.kernel)
        assign_state(copy, state, source=f"{self.name} (LoRA merged)")
        return copy
