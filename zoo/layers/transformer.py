"""Transformer encoder block and learned position embeddings.

`TransformerEncoderBlock` is the block of BERT and its kin (Vaswani et al.
2017, "Attention Is All You Need"): self-attention, then a two-layer
feed-forward network, each wrapped in dropout, a residual connection and a
layer norm. `norm_first=False` (post-norm) is BERT's order;
`norm_first=True` (pre-norm) is the GPT-2 / ViT order, for later models.
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
