"""Text encoders: BERT and ALBERT, registered by name (`zoo.list_models`)."""

from zoo.nlp.encoders.albert import AlbertEncoder
from zoo.nlp.encoders.base import TextEncoder, l2_normalize, mean_pool
from zoo.nlp.encoders.bert import BertEncoder

__all__ = [
    "AlbertEncoder",
    "BertEncoder",
    "TextEncoder",
    "l2_normalize",
    "mean_pool",
]
