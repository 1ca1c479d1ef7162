"""transformers `AlbertModel` checkpoints -> zoo `AlbertEncoder`.

The names are in the table of `zoo/convert/huggingface/bert.py`, which
reads both (ALBERT's blocks are `albert_layer_groups.{g}.albert_layers.0`).
"""

from zoo.convert import register_converter
from zoo.convert.huggingface.bert import _HuggingFaceEncoder


@register_converter
class HuggingFaceAlbert(_HuggingFaceEncoder):
    """transformers `AlbertModel` (and `albert.`-prefixed task models)."""

    family = "albert"
    architectures = ("albert",)

    def build_backbone(self, config, **overrides):
        from zoo.nlp.encoders.albert import AlbertEncoder

        _, arguments = self.convert_config(config)
        return AlbertEncoder(**{**arguments, **overrides})
