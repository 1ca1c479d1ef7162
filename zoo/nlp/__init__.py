"""NLP models: text encoders, tokenizers and packing, task models, metrics."""

from zoo.nlp.encoders import AlbertEncoder, BertEncoder, TextEncoder
