"""`encoder: {type: albert, albert: {...}}`: the Model Garden's
`AlbertEncoderConfig` (`official/nlp/configs/encoders.py`), built as a
`zoo.AlbertEncoder`."""

import dataclasses

from training.models import ModelConfig
from training.models.encoders.bert import encoder_arguments
from training.registry import register_encoder


@register_encoder("albert")
@dataclasses.dataclass
class AlbertEncoderConfig(ModelConfig):
    """The Model Garden's `AlbertEncoderConfig`, built as a
    `zoo.AlbertEncoder`."""

    vocab_size: int = 30000
    embedding_width: int = 128
    hidden_size: int = 768
    num_layers: int = 12
    num_attention_heads: int = 12
    hidden_activation: str = "gelu"
    intermediate_size: int = 3072
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02

    def build_encoder(self, path):
        """`(AlbertEncoder, None)`."""
        from zoo.nlp.encoders.albert import AlbertEncoder

        return AlbertEncoder(embedding_size=self.embedding_width,
                             **encoder_arguments(self, path)), None
