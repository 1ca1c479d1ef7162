"""Layers shared by several model families."""

from zoo.layers.drop_path import DropPath
from zoo.layers.squeeze_excite import SqueezeExcite

__all__ = ["DropPath", "SqueezeExcite"]
