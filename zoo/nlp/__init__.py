"""NLP models: text encoders, tokenizers and packing, task models, metrics.

```python
import zoo
encoder = zoo.from_preset("all_minilm_l6_v2")       # BertEncoder + tokenizer
vectors = encoder.embed(["a sentence", "another one"])
classifier = zoo.from_preset("all_minilm_l6_v2", task="text_classifier",
                             num_classes=2)
```

Names are imported from their modules on first use.
"""

from zoo._lazy import lazy_exports

_EXPORTS = {
    "AlbertEncoder": "zoo.nlp.encoders.albert",
    "BertEncoder": "zoo.nlp.encoders.bert",
    "TextEncoder": "zoo.nlp.encoders.base",
    "BytePairTokenizer": "zoo.nlp.bpe",
    "CausalLM": "zoo.nlp.decoders.causal_lm",
    "LlamaBackbone": "zoo.nlp.decoders.llama",
    "MaskedLM": "zoo.nlp.tasks",
    "MaskedLMHead": "zoo.nlp.tasks",
    "SpanLabeler": "zoo.nlp.tasks",
    "TextClassifier": "zoo.nlp.tasks",
    "TokenClassifier": "zoo.nlp.tasks",
    "SentencePieceTokenizer": "zoo.nlp.tokenizers",
    "TextPreprocessor": "zoo.nlp.tokenizers",
    "WordPieceTokenizer": "zoo.nlp.tokenizers",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
