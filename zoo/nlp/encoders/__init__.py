"""Text encoders: BERT and ALBERT, one module per family (imported on use)."""

from zoo._lazy import lazy_exports

_EXPORTS = {
    "AlbertEncoder": "zoo.nlp.encoders.albert",
    "BertEncoder": "zoo.nlp.encoders.bert",
    "TextEncoder": "zoo.nlp.encoders.base",
    "l2_normalize": "zoo.nlp.encoders.base",
    "mean_pool": "zoo.nlp.encoders.base",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
