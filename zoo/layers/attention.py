"""Multi-head scaled dot-product attention with a padding mask.

Shared by the transformer encoders (BERT, ALBERT) and the decoders (Llama):
separate query, key, value and output projections, each a plain `Dense`
layer with kernel `[hidden, heads * head_dim]`, the layout of the original
BERT and of Hugging Face checkpoints, so converters only transpose.

Decoders add grouped key/value heads (Ainslie et al. 2023, GQA), rotary
position embeddings on queries and keys (Su et al. 2021, RoFormer, in
Hugging Face's half-split layout) and a key/value cache of static shape
for incremental decoding.
"""

import functools

import keras
from keras import ops

from zoo.layers.initializers import HostTruncatedNormal


def large_negative(dtype):
    """A large negative number that `dtype` can hold (masked attention scores)."""
    dtype = keras.backend.standardize_dtype(dtype)
    return -6.0e4 if dtype == "float16" else -1.0e9


def merge_masks(padding_mask=None, attention_mask=None):
    """Combines a key padding mask and a full attention mask.

    Args:
        padding_mask: None or `[batch, key_length]`, nonzero/True where the key
            is a real token.
        attention_mask: None or `[batch, query_length, key_length]`, True
            where the query may attend to the key.

    Returns:
        None, or a bool mask broadcastable to
        `[batch, heads, query_length, key_length]`.
    """
    mask = None
    if padding_mask is not None:
        mask = ops.cast(padding_mask, "bool")[:, None, None, :]
    if attention_mask is not None:
        full = ops.cast(attention_mask, "bool")[:, None, :, :]
        mask = full if mask is None else ops.logical_and(mask, full)
    return mask


def rotary_embedding(x, positions, max_wavelength=10000.0):
    """Rotates `x` by its positions (RoFormer), half-split layout.

    Dimension `i` of the first half and `i` of the second form a pair
    rotated by the angle `position / max_wavelength ** (2 i / head_dim)`,
    as Hugging Face's `LlamaRotaryEmbedding` and `rotate_half` compute it
    (in float32).

    Args:
        x: `[batch, length, heads, head_dim]` float (`head_dim` even).
        positions: `[batch, length]` or `[length]` int positions.
        max_wavelength: the rotary base (10000; 100000 for SmolLM2).

    Returns:
        `x` rotated, in `x`'s dtype.
    """
    head_dim = x.shape[-1]
    if head_dim % 2:
        raise ValueError(f"rotary_embedding: head_dim {head_dim} is odd.")
    half = head_dim // 2
    exponents = ops.arange(0, half, dtype="float32") * (2.0 / head_dim)
    inverse = ops.power(ops.cast(max_wavelength, "float32"), -exponents)
    positions = ops.cast(positions, "float32")
    if len(positions.shape) == 1:
        positions = positions[None, :]
    angles = positions[:, :, None] * inverse[None, None, :]  # [b, t, half]
    angles = ops.concatenate([angles, angles], axis=-1)[:, :, None, :]
    cos, sin = ops.cos(angles), ops.sin(angles)
    x32 = ops.cast(x, "float32")
    rotated = ops.concatenate([-x32[..., half:], x32[..., :half]], axis=-1)
    return ops.cast(x32 * cos + rotated * sin, x.dtype)


@functools.lru_cache(maxsize=None)
def _jax_on_cpu():
    return keras.backend.backend() == "jax" and all(
        d.lower().startswith("cpu")
        for d in keras.distribution.list_devices())


def _unfused_float16(dtype):
    """Whether float16 attention must avoid `ops.dot_product_attention`:
    JAX's version accumulates in float32, and XLA on CPU cannot take the
    gradient of a float16 x float16 -> float32 product ('F16_F16_F32 is
    not supported by dot_general on CPU')."""
    return keras.backend.standardize_dtype(dtype) == "float16" and (
        _jax_on_cpu())


@keras.saving.register_keras_serializable(package="zoo")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention: `softmax(q k^T / sqrt(d)) v`, then a projection.

    Sublayers (weight paths): `query`, `key`, `value`, `output`, each a
    `Dense` (with bias unless `use_bias=False`).

    Inference (and training without attention dropout) goes through
    `keras.ops.dot_product_attention`, which each backend fuses; training
    with attention dropout computes the probabilities explicitly so they
    can be dropped.

    Args:
        num_heads: int.
        head_dim: int or None; None uses `hidden // num_heads`.
        dropout: float, dropout on the attention probabilities.
        output_dim: int or None; None gives the query's hidden size.
        use_bias: bool, biases on the four projections.
        kernel_initializer: initialiser of the projection kernels.
        num_key_value_heads: int or None (= `num_heads`): key and value
            heads, each shared by `num_heads / num_key_value_heads` query
            heads (grouped-query attention).
        rotary_max_wavelength: float or None: rotate queries and keys by
            their positions (`rotary_embedding`) with this base.

    Call args:
        query: `[batch, query_length, hidden]` float.
        key_value: None for self-attention, else
            `[batch, key_length, key_hidden]` float.
        padding_mask: None or `[batch, key_length]` int/bool, 1 for tokens
            (with a cache: `[batch, cache_length]`).
        attention_mask: None or `[batch, query_length, key_length]` bool
            (with a cache: `[batch, query_length, cache_length]`).
        positions: None (0, 1, ...; from `cache_index` with a cache) or
            `[batch, query_length]` int, the rotary positions.
        cache: None, or `[batch, 2, cache_length, num_key_value_heads,
            head_dim]`: keys and values of earlier positions
            (self-attention only). The new keys and values are written at
            `cache_index` and the queries attend the whole cache, as
            `attention_mask` allows.
        cache_index: scalar int, where the query's first position goes in
            the cache.
        training: bool.
        cache_layer: None, or a Python int: `cache` is then every layer's,
            `[batch, num_layers, 2, cache_length, num_key_value_heads,
            head_dim]`, this layer's at index `cache_layer`; only the new
            tokens' rows are written, and the whole updated cache returned
            (under XLA the update happens in place, so a decoding step does
            not copy the cache).

    Returns:
        `[batch, query_length, output_dim]`, the query's dtype; with a
        cache, `(output, updated_cache)`.
    """

    def __init__(self, num_heads, head_dim=None, dropout=0.0, output_dim=None,
                 use_bias=True, kernel_initializer=None,
                 num_key_value_heads=None, rotary_max_wavelength=None,
                 **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1:
            raise ValueError(
                f"MultiHeadAttention: num_heads must be >= 1, got {num_heads}."
            )
        kv_heads = num_heads if num_key_value_heads is None else int(
            num_key_value_heads)
        if kv_heads < 1 or num_heads % kv_heads:
            raise ValueError(
                f"MultiHeadAttention: num_heads={num_heads} is not a "
                f"multiple of num_key_value_heads={num_key_value_heads}.")
        self.num_key_value_heads = None if num_key_value_heads is None else (
            kv_heads)
        self._kv_heads = kv_heads
        self.rotary_max_wavelength = (None if rotary_max_wavelength is None
                                      else float(rotary_max_wavelength))
        self.num_heads = int(num_heads)
        self.head_dim = None if head_dim is None else int(head_dim)
        self.dropout = float(dropout)
        self.output_dim = None if output_dim is None else int(output_dim)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or HostTruncatedNormal(0.02)
        )
        self.supports_masking = False

    def build(self, query_shape, key_value_shape=None):
        hidden = query_shape[-1]
        head_dim = self.head_dim
        if head_dim is None:
            if hidden % self.num_heads:
                raise ValueError(
                    f"MultiHeadAttention: hidden size {hidden} is not a "
                    f"multiple of num_heads={self.num_heads}; pass head_dim."
                )
            head_dim = hidden // self.num_heads
        self._head_dim = head_dim
        key_value_shape = key_value_shape or query_shape
        inner = self.num_heads * head_dim

        def dense(units, name, input_shape):
            layer = keras.layers.Dense(
                units,
                use_bias=self.use_bias,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )
            layer.build(input_shape)
            return layer

        kv_inner = self._kv_heads * head_dim
        self.query_dense = dense(inner, "query", query_shape)
        self.key_dense = dense(kv_inner, "key", key_value_shape)
        self.value_dense = dense(kv_inner, "value", key_value_shape)
        inner_shape = tuple(query_shape[:-1]) + (inner,)
        self.output_dense = dense(self.output_dim or hidden, "output",
                                  inner_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout")

    def _split_heads(self, x, heads=None):
        shape = ops.shape(x)
        return ops.reshape(
            x, (shape[0], shape[1], heads or self.num_heads, self._head_dim))

    def call(self, query, key_value=None, padding_mask=None,
             attention_mask=None, positions=None, cache=None,
             cache_index=None, training=None, cache_layer=None):
        source = query if key_value is None else key_value
        q = self._split_heads(self.query_dense(query))
        k = self._split_heads(self.key_dense(source), self._kv_heads)
        v = self._split_heads(self.value_dense(source), self._kv_heads)
        if cache is not None and key_value is not None:
            raise ValueError("MultiHeadAttention: a cache is for "
                             "self-attention only.")
        start = 0 if cache_index is None else cache_index
        if self.rotary_max_wavelength is not None:
            if positions is None:
                positions = ops.arange(ops.shape(query)[1]) + start
            q = rotary_embedding(q, positions, self.rotary_max_wavelength)
            k = rotary_embedding(k, positions, self.rotary_max_wavelength)
        if cache is not None:
            zero = ops.zeros((), "int32")
            start = ops.cast(start, "int32")
            update = ops.stack([k, v], axis=1)
            if cache_layer is None:
                index = (zero, zero, start, zero, zero)
                cache = ops.slice_update(cache, index,
                                         ops.cast(update, cache.dtype))
                k, v = cache[:, 0], cache[:, 1]
            else:
                index = (zero, zero + cache_layer, zero, start, zero, zero)
                update = ops.cast(update[:, None], cache.dtype)
                cache = ops.slice_update(cache, index, update)
                k, v = cache[:, cache_layer, 0], cache[:, cache_layer, 1]
        mask = merge_masks(padding_mask, attention_mask)
        scale = 1.0 / float(self._head_dim) ** 0.5
        explicit = (training and self.dropout > 0.0) or _unfused_float16(
            q.dtype)
        grouped = self._kv_heads != self.num_heads
        if grouped and not explicit and keras.backend.backend() != "jax":
            # Queries grouped by their key head: no copy of the keys and
            # values per query head (Keras' TensorFlow attention fails on a
            # single key head; JAX's fused one groups them itself).
            context = self._grouped_attention(q, k, v, mask, scale)
        elif explicit:
            if grouped:
                groups = self.num_heads // self._kv_heads
                k = ops.repeat(k, groups, axis=2)
                v = ops.repeat(v, groups, axis=2)
            # [batch, heads, query, key]
            scores = ops.einsum("btnh,bsnh->bnts", q, k) * ops.cast(
                scale, q.dtype)
            if mask is not None:
                scores = ops.where(mask, scores,
                                   ops.cast(large_negative(scores.dtype),
                                            scores.dtype))
            probs = ops.softmax(scores, axis=-1)
            probs = self.dropout_layer(probs, training=training)
            context = ops.einsum("bnts,bsnh->btnh", probs, v)
        else:
            context = ops.dot_product_attention(q, k, v, mask=mask,
                                                scale=scale)
        shape = ops.shape(context)
        context = ops.reshape(
            context, (shape[0], shape[1], self.num_heads * self._head_dim))
        output = self.output_dense(context)
        if cache is not None:
            return output, cache
        return output

    def _grouped_attention(self, q, k, v, mask, scale):
        """Attention of `[b, t, n, h]` queries on `[b, s, kv, h]` keys and
        values, each key head serving `n / kv` consecutive query heads."""
        shape = ops.shape(q)
        groups = self.num_heads // self._kv_heads
        q = ops.reshape(q, (shape[0], shape[1], self._kv_heads, groups,
                            self._head_dim))
        scores = ops.einsum("btkgh,bskh->bkgts", q, k) * ops.cast(scale,
                                                                 q.dtype)
        if mask is not None:  # [b, 1, t or 1, s] -> [b, 1, 1, t or 1, s]
            scores = ops.where(mask[:, :, None], scores,
                               ops.cast(large_negative(scores.dtype),
                                        scores.dtype))
        probs = ops.softmax(scores, axis=-1)
        context = ops.einsum("bkgts,bskh->btkgh", probs, v)
        return ops.reshape(context, (shape[0], shape[1], self.num_heads,
                                     self._head_dim))

    def compute_output_shape(self, query_shape, key_value_shape=None):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "dropout": self.dropout,
            "output_dim": self.output_dim,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
            "num_key_value_heads": self.num_key_value_heads,
            "rotary_max_wavelength": self.rotary_max_wavelength,
        })
        return config
