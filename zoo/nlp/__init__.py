"""NLP models: text encoders, tokenizers and packing, task models, metrics.

```python
import zoo
encoder = zoo.from_preset("all_minilm_l6_v2")       # BertEncoder + tokenizer
vectors = encoder.embed(["a sentence", "another one"])
classifier = zoo.from_preset("all_minilm_l6_v2", task="text_classifier",
                             num_classes=2)
```
"""

from zoo.nlp.encoders import AlbertEncoder, BertEncoder, TextEncoder
from zoo.nlp.tasks import (
    MaskedLM,
    MaskedLMHead,
    SpanLabeler,
    TextClassifier,
    TokenClassifier,
)
from zoo.nlp.tokenizers import (
    SentencePieceTokenizer,
    TextPreprocessor,
    WordPieceTokenizer,
)

__all__ = [
    "AlbertEncoder",
    "BertEncoder",
    "MaskedLM",
    "MaskedLMHead",
    "SentencePieceTokenizer",
    "SpanLabeler",
    "TextClassifier",
    "TextEncoder",
    "TextPreprocessor",
    "TokenClassifier",
    "WordPieceTokenizer",
]
