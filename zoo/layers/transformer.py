"""Transformer encoder and decoder blocks, and learned position embeddings.

`TransformerEncoderBlock` is the block of BERT and its kin (Vaswani et al.
2017, "Attention Is All You Need"): self-attention, then a two-layer
feed-forward network, each wrapped in dropout, a residual connection and a
layer norm. `norm_first=False` (post-norm) is BERT's order;
`norm_first=True` (pre-norm) is the GPT-2 / ViT order, for later models.

`TransformerDecoderBlock` is the pre-norm causal block of the decoders:
layer or RMS norm, the same attention (grouped key/value heads, rotary
positions, a key/value cache), a plain or gated (SwiGLU) feed-forward
network.
"""

import keras
from keras import ops

from zoo.errors import SequenceTooLongError
from zoo.layers.attention import MultiHeadAttention
from zoo.layers.drop_path import DropPath
from zoo.layers.initializers import HostTruncatedNormal

#: Activation names the transformer layers take, and what each computes.
ACTIVATIONS = {
    "gelu": "exact GELU, x * Phi(x) (Hugging Face 'gelu', Model Garden)",
    "gelu_approximate": "tanh approximation of GELU (keras-hub BERT, "
                        "Hugging Face 'gelu_new')",
    "relu": "max(x, 0)",
    "silu": "x * sigmoid(x)",
    "tanh": "tanh(x)",
}


def get_activation(name):
    """The function an activation name in `ACTIVATIONS` stands for.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    if name == "gelu_approximate":
        return lambda x: keras.activations.gelu(x, approximate=True)
    if name in ACTIVATIONS:
        return keras.activations.get(name)
    raise ValueError(
        f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}."
    )


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoderBlock(keras.layers.Layer):
    """Self-attention and feed-forward sublayers with residuals and norms.

    Post-norm (`norm_first=False`, BERT):
    `x = norm(x + dropout(attention(x)))`,
    `x = norm(x + dropout(W2 act(W1 x)))`.
    Pre-norm puts each norm at the start of its branch instead.

    Sublayers (weight paths): `attention/{query,key,value,output}`,
    `attention_norm`, `intermediate`, `output`, `output_norm`.

    Args:
        num_heads: int.
        intermediate_size: int, width of the feed-forward hidden layer.
        activation: a name in `ACTIVATIONS`.
        dropout: float, dropout on each branch's output.
        attention_dropout: float, dropout on the attention probabilities.
        norm_epsilon: float, layer-norm epsilon.
        norm_first: bool, pre-norm instead of post-norm.
        kernel_initializer: initialiser of every kernel.
        drop_path_rate: float, stochastic depth on each branch (ViT).

    Call args:
        inputs: `[batch, length, hidden]` float.
        padding_mask: None or `[batch, length]` int/bool, 1 for tokens.
        attention_mask: None or `[batch, length, length]` bool.
        training: bool.

    Returns:
        `[batch, length, hidden]`.
    """

    def __init__(self, num_heads, intermediate_size, activation="gelu",
                 dropout=0.0, attention_dropout=0.0, norm_epsilon=1e-12,
                 norm_first=False, kernel_initializer=None,
                 drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        get_activation(activation)
        self.drop_path_rate = float(drop_path_rate)
        self.num_heads = int(num_heads)
        self.intermediate_size = int(intermediate_size)
        self.activation = activation
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.norm_epsilon = float(norm_epsilon)
        self.norm_first = bool(norm_first)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or HostTruncatedNormal(0.02)
        )

    def build(self, inputs_shape):
        hidden = inputs_shape[-1]
        policy = self.dtype_policy
        self.attention = MultiHeadAttention(
            self.num_heads,
            dropout=self.attention_dropout,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="attention",
        )
        self.attention.build(inputs_shape)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, dtype=policy, name="attention_norm")
        self.attention_norm.build(inputs_shape)
        self.intermediate = keras.layers.Dense(
            self.intermediate_size,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="intermediate",
        )
        self.intermediate.build(inputs_shape)
        self.output_dense = keras.layers.Dense(
            hidden,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="output",
        )
        self.output_dense.build(
            tuple(inputs_shape[:-1]) + (self.intermediate_size,))
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, dtype=policy, name="output_norm")
        self.output_norm.build(inputs_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=policy, name="dropout")
        self.drop_path = DropPath(
            self.drop_path_rate, dtype=policy,
            name="drop_path") if self.drop_path_rate else None
        self._activation_fn = get_activation(self.activation)

    def call(self, inputs, padding_mask=None, attention_mask=None,
             training=None):
        x = inputs
        branch = self.attention_norm(x) if self.norm_first else x
        branch = self.attention(branch, padding_mask=padding_mask,
                                attention_mask=attention_mask,
                                training=training)
        x = x + self._drop(branch, training)
        if not self.norm_first:
            x = self.attention_norm(x)
        branch = self.output_norm(x) if self.norm_first else x
        branch = self._activation_fn(self.intermediate(branch))
        branch = self.output_dense(branch)
        x = x + self._drop(branch, training)
        if not self.norm_first:
            x = self.output_norm(x)
        return x

    def _drop(self, branch, training):
        branch = self.dropout_layer(branch, training=training)
        if self.drop_path is not None:
            branch = self.drop_path(branch, training=training)
        return branch

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "drop_path_rate": self.drop_path_rate,
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "activation": self.activation,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "norm_epsilon": self.norm_epsilon,
            "norm_first": self.norm_first,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="zoo")
class PositionEmbedding(keras.layers.Layer):
    """Learned absolute position embeddings: position `i` -> a vector.

    Args:
        max_length: int, the number of positions (BERT's
            `max_position_embeddings`).
        initializer: initialiser of the `[max_length, hidden]` table.

    Call args:
        inputs: `[batch, length, hidden]`; only its shape is used.

    Returns:
        `[batch, length, hidden]`: the embeddings of positions
        `0..length-1`, repeated over the batch, to be added to the inputs.

    Raises:
        SequenceTooLongError: `length > max_length` (checked whenever the
            length is known when the model is traced or called).
    """

    def __init__(self, max_length, initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)
        self.initializer = keras.initializers.get(
            initializer or HostTruncatedNormal(0.02))

    def build(self, inputs_shape):
        self.embeddings = self.add_weight(
            shape=(self.max_length, inputs_shape[-1]),
            initializer=self.initializer,
            name="embeddings",
        )

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        if isinstance(length, int) and length > self.max_length:
            raise SequenceTooLongError(
                f"{self.path or self.name}: a sequence of {length} tokens is "
                f"longer than the {self.max_length} positions this model has."
                " Pack inputs to at most that many tokens (the text "
                "preprocessor's sequence_length)."
            )
        table = ops.cast(self.embeddings, self.compute_dtype)
        return ops.broadcast_to(ops.expand_dims(table[:length], 0),
                                ops.shape(inputs))

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "max_length": self.max_length,
            "initializer": keras.initializers.serialize(self.initializer),
        })
        return config


#: Norms `TransformerDecoderBlock` takes.
NORMS = ("layer_norm", "rms_norm")
#: Feed-forward networks it takes: `W2 act(W1 x)`, or `W2 (act(Wg x) * W1 x)`.
FEED_FORWARDS = ("mlp", "gated")


def make_norm(kind, epsilon, dtype, name):
    """A layer norm or an RMS norm (Zhang and Sennrich 2019) over the last
    axis."""
    if kind == "rms_norm":
        return keras.layers.RMSNormalization(epsilon=epsilon, dtype=dtype,
                                             name=name)
    if kind == "layer_norm":
        return keras.layers.LayerNormalization(epsilon=epsilon, dtype=dtype,
                                               name=name)
    raise ValueError(f"Unknown norm {kind!r}; expected one of {NORMS}.")


@keras.saving.register_keras_serializable(package="zoo")
class TransformerDecoderBlock(keras.layers.Layer):
    """A pre-norm decoder block: `x + attention(norm(x))`, then
    `x + feed_forward(norm(x))`.

    Llama: `norm="rms_norm", feed_forward="gated", activation="silu",
    use_bias=False` with grouped key/value heads and rotary positions.
    GPT-2: `norm="layer_norm", feed_forward="mlp",
    activation="gelu_approximate"`, biases, learned positions outside.

    Sublayers (weight paths): `attention/{query,key,value,output}`,
    `attention_norm`, `feed_forward_norm`, `feed_forward_intermediate`
    (Llama's `up_proj`), `feed_forward_gate` (gated only) and
    `feed_forward_output`.

    Args:
        num_heads: int.
        intermediate_size: int, width of the feed-forward hidden layer.
        num_key_value_heads: int or None (= `num_heads`).
        head_dim: int or None (`hidden / num_heads`).
        rotary_max_wavelength: float or None (no rotary positions).
        norm: a name in `NORMS`.
        feed_forward: a name in `FEED_FORWARDS`.
        activation: a name in `ACTIVATIONS`.
        use_bias: biases on every projection.
        norm_epsilon: float.
        dropout, attention_dropout: float.
        kernel_initializer: initialiser of every kernel.

    Call args:
        inputs: `[batch, length, hidden]` float.
        attention_mask: `[batch, length, key_length]` bool (causal and
            padding; key_length is the cache's with a cache).
        positions, cache, cache_index, cache_layer: as
            `MultiHeadAttention`'s.
        training: bool.

    Returns:
        `[batch, length, hidden]`; with a cache `(outputs, cache)`.
    """

    def __init__(self, num_heads, intermediate_size,
                 num_key_value_heads=None, head_dim=None,
                 rotary_max_wavelength=None, norm="layer_norm",
                 feed_forward="mlp", activation="gelu", use_bias=True,
                 norm_epsilon=1e-5, dropout=0.0, attention_dropout=0.0,
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        get_activation(activation)
        if norm not in NORMS:
            raise ValueError(f"TransformerDecoderBlock: norm {norm!r} is "
                             f"not one of {NORMS}.")
        if feed_forward not in FEED_FORWARDS:
            raise ValueError(
                f"TransformerDecoderBlock: feed_forward {feed_forward!r} is "
                f"not one of {FEED_FORWARDS}.")
        self.num_heads = int(num_heads)
        self.intermediate_size = int(intermediate_size)
        self.num_key_value_heads = (None if num_key_value_heads is None
                                    else int(num_key_value_heads))
        self.head_dim = None if head_dim is None else int(head_dim)
        self.rotary_max_wavelength = (None if rotary_max_wavelength is None
                                      else float(rotary_max_wavelength))
        self.norm = norm
        self.feed_forward = feed_forward
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.norm_epsilon = float(norm_epsilon)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or HostTruncatedNormal(0.02))

    def build(self, inputs_shape):
        hidden = inputs_shape[-1]
        policy = self.dtype_policy
        self.attention = MultiHeadAttention(
            self.num_heads, head_dim=self.head_dim,
            dropout=self.attention_dropout, use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            num_key_value_heads=self.num_key_value_heads,
            rotary_max_wavelength=self.rotary_max_wavelength, dtype=policy,
            name="attention")
        self.attention.build(inputs_shape)
        self.attention_norm = make_norm(self.norm, self.norm_epsilon, policy,
                                        "attention_norm")
        self.attention_norm.build(inputs_shape)
        self.feed_forward_norm = make_norm(self.norm, self.norm_epsilon,
                                           policy, "feed_forward_norm")
        self.feed_forward_norm.build(inputs_shape)

        def dense(units, name, input_shape):
            layer = keras.layers.Dense(
                units, use_bias=self.use_bias,
                kernel_initializer=self.kernel_initializer, dtype=policy,
                name=name)
            layer.build(input_shape)
            return layer

        inner = tuple(inputs_shape[:-1]) + (self.intermediate_size,)
        self.feed_forward_intermediate = dense(
            self.intermediate_size, "feed_forward_intermediate", inputs_shape)
        self.feed_forward_gate = dense(
            self.intermediate_size, "feed_forward_gate",
            inputs_shape) if self.feed_forward == "gated" else None
        self.feed_forward_output = dense(hidden, "feed_forward_output", inner)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=policy,
                                                  name="dropout")
        self._activation_fn = get_activation(self.activation)

    def call(self, inputs, attention_mask=None, positions=None, cache=None,
             cache_index=None, training=None, cache_layer=None):
        x = inputs
        branch = self.attention(
            self.attention_norm(x), attention_mask=attention_mask,
            positions=positions, cache=cache, cache_index=cache_index,
            training=training, cache_layer=cache_layer)
        if cache is not None:
            branch, cache = branch
        x = x + self.dropout_layer(branch, training=training)
        branch = self.feed_forward_norm(x)
        if self.feed_forward_gate is not None:
            branch = (self._activation_fn(self.feed_forward_gate(branch))
                      * self.feed_forward_intermediate(branch))
        else:
            branch = self._activation_fn(
                self.feed_forward_intermediate(branch))
        branch = self.feed_forward_output(branch)
        x = x + self.dropout_layer(branch, training=training)
        if cache is not None:
            return x, cache
        return x

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "rotary_max_wavelength": self.rotary_max_wavelength,
            "norm": self.norm,
            "feed_forward": self.feed_forward,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "norm_epsilon": self.norm_epsilon,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        })
        return config
