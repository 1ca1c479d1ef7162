"""`encoder: {type: bert, bert: {...}}`: the Model Garden's
`BertEncoderConfig` (`official/nlp/configs/encoders.py`), built as a
`zoo.BertEncoder`."""

import dataclasses
from typing import Optional

from training.config.base import ConfigError
from training.models import ModelConfig
from training.registry import register_encoder


def checked_activation(name, path):
    """`name` if zoo's transformer layers have that activation."""
    from zoo.layers.transformer import ACTIVATIONS

    if name not in ACTIVATIONS:
        raise ConfigError(
            f"{path}.hidden_activation={name!r} is not one of "
            f"{sorted(ACTIVATIONS)}.")
    return name


def encoder_arguments(config, path):
    """The `zoo` encoder arguments of the fields BERT and ALBERT configs
    share (the Model Garden's names on the left)."""
    return dict(
        vocabulary_size=config.vocab_size, hidden_size=config.hidden_size,
        num_layers=config.num_layers, num_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        activation=checked_activation(config.hidden_activation, path),
        dropout=config.dropout_rate,
        attention_dropout=config.attention_dropout_rate,
        max_sequence_length=config.max_position_embeddings,
        type_vocabulary_size=config.type_vocab_size,
        initializer_range=config.initializer_range)


@register_encoder("bert")
@dataclasses.dataclass
class BertEncoderConfig(ModelConfig):
    """The Model Garden's `BertEncoderConfig`, built as a `zoo.BertEncoder`.

    `embedding_size`, `output_range`, `return_all_encoder_outputs`,
    `return_attention_scores` and `norm_first` are accepted with their
    default values only (zoo's BERT has none of these variations).
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_attention_heads: int = 12
    hidden_activation: str = "gelu"
    intermediate_size: int = 3072
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    embedding_size: Optional[int] = None
    output_range: Optional[int] = None
    return_all_encoder_outputs: bool = False
    return_attention_scores: bool = False
    norm_first: bool = False

    def validate(self, path=""):
        defaults = {"output_range": None, "return_all_encoder_outputs": False,
                    "return_attention_scores": False, "norm_first": False}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                raise ConfigError(
                    f"{path}.{name}={getattr(self, name)!r} is not supported "
                    f"(only {default!r}).")
        if self.embedding_size not in (None, self.hidden_size):
            raise ConfigError(
                f"{path}.embedding_size={self.embedding_size} differs from "
                f"hidden_size={self.hidden_size}: a factorised embedding is "
                "ALBERT's (use type: albert).")

    def build_encoder(self, path):
        """`(BertEncoder, None)`."""
        from zoo.nlp.encoders.bert import BertEncoder

        return BertEncoder(**encoder_arguments(self, path)), None
