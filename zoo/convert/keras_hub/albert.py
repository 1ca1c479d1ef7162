"""keras-hub `AlbertBackbone` -> zoo `AlbertEncoder`.

The BERT mapping (`zoo/convert/keras_hub/bert.py`) with ALBERT's names:
`embedding_projection` -> `embeddings_projection` and
`group_{g}_inner_layer_0` -> `transformer_group_{g}`.
"""

from zoo.convert import Converter, register_converter
from zoo.convert.keras_hub.bert import bert_config, bert_state


@register_converter
class KerasHubAlbert(Converter):
    """keras-hub ALBERT backbones (`num_inner_repetitions` 1)."""

    source = "keras_hub"
    family = "albert"
    architectures = ("AlbertBackbone",)

    def convert_config(self, config):
        """`(None, AlbertEncoder arguments)` for a keras-hub AlbertBackbone."""
        return None, bert_config(config)

    def build_backbone(self, config, **overrides):
        from zoo.nlp.encoders.albert import AlbertEncoder

        return AlbertEncoder(**{**bert_config(config), **overrides})

    def convert_weights(self, weights, backbone):
        return bert_state(getattr(weights, "backbone", weights))
