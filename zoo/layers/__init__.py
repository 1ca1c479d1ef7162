"""Layers shared by several model families."""

from zoo.layers.attention import MultiHeadAttention
from zoo.layers.drop_path import DropPath
from zoo.layers.layer_scale import LayerScale
from zoo.layers.resize import ResizeLike
from zoo.layers.squeeze_excite import SqueezeExcite
from zoo.layers.transformer import PositionEmbedding, TransformerEncoderBlock
from zoo.layers.initializers import HostTruncatedNormal

__all__ = [
    "DropPath",
    "HostTruncatedNormal",
    "LayerScale",
    "MultiHeadAttention",
    "PositionEmbedding",
    "ResizeLike",
    "SqueezeExcite",
    "TransformerEncoderBlock",
]
