"""Converters from other checkpoint formats: one module per (source, family).

```
zoo/convert/
  __init__.py                 the interface, the registry, load_weights_file
  state_dict.py               file readers (safetensors, .npz, Keras 2 HDF5)
  keras_applications/         source package: its loader + one module a family
    resnet.py, efficientnet.py, mobilenet.py, convnext.py
  timm/                       resnet.py (torchvision shares timm's names),
    efficientnet.py, mobilenet.py, convnext.py
  keras_hub/resnet.py, bert.py, albert.py, vit.py, retinanet.py
  huggingface/bert.py, albert.py
  efficientnet_pytorch/efficientnet.py
  gguf/llama.py               llama.cpp's GGUF files (zoo/nlp/gguf.py reads them)
  torch_file.py               torch.save files, with a restricted unpickler
```

Every family module defines a `Converter` subclass, registered with
`@register_converter`, saying which source architectures it covers and
how to convert their config, their backbone weights and their head:

```python
@register_converter
class TimmResNet(Converter):
    source = "timm"
    family = "resnet"
    architectures = ("resnet18", "resnet50", "resnet50d", ...)

    def convert_config(self, config): ...      # -> ("resnet50d", {})
    def convert_weights(self, weights, backbone): ...  # -> {path: array}
    def convert_head(self, weights, model): ...        # -> {path: array}
```

A source's package imports its family modules when first used
(`converters(source)`), so a new family adds a file and touches nothing
else. `load_weights_file(model, path, source)` is what presets call.
"""

import importlib
import pkgutil

from zoo.errors import WeightsError, did_you_mean

#: The sources and the package holding each one's converters.
SOURCES = {
    "keras_applications": "zoo.convert.keras_applications",
    "timm": "zoo.convert.timm",
    "keras_hub": "zoo.convert.keras_hub",
    "huggingface": "zoo.convert.huggingface",
    "efficientnet_pytorch": "zoo.convert.efficientnet_pytorch",
    "gguf": "zoo.convert.gguf",
}
#: Other names a preset may give a source.
SOURCE_ALIASES = {"torchvision": "timm"}

_CONVERTERS = {}
_DISCOVERED = set()


class Converter:
    """Converts one zoo family's checkpoints from one source.

    Class attributes:
        source: str, a key of `SOURCES`.
        family: str, the zoo family it fills (`Backbone.family`).
        architectures: tuple of str, the source-side names it covers
            (timm architectures, Hugging Face `model_type`s, keras-hub
            class names, keras.applications model names).
    """

    source = ""
    family = ""
    architectures = ()

    def convert_config(self, config):
        """`(zoo model name or None, backbone arguments)` for a source config.

        Args:
            config: the source's description of the model (a timm
                `config.json` dict, a transformers config dict, a keras-hub
                backbone, ...).
        """
        raise WeightsError(
            f"The {self.source} {self.family} converter cannot convert "
            "configs.")

    def build_backbone(self, config, **overrides):
        """A zoo backbone (random weights) for a source config.

        The default builds the registered model `convert_config` names.
        """
        from zoo.registry import create_model

        name, arguments = self.convert_config(config)
        return create_model(name, task=None, **{**arguments, **overrides})

    def build_task(self, source_task, backbone):
        """The zoo task model matching a source task model around
        `backbone` (its head still random)."""
        raise WeightsError(
            f"The {self.source} {self.family} converter converts backbones "
            f"only, not {type(source_task).__name__}.")

    def convert_weights(self, weights, backbone):
        """`{zoo backbone weight path: array}` from the source's weights.

        Args:
            weights: what the source's reader produced (a state dict, the
                layers of an HDF5 file, a live model).
            backbone: the zoo backbone to fill (built with matching options).
        """
        raise NotImplementedError

    def convert_head(self, weights, model):
        """`{zoo weight path: array}` of the task head (empty: no head).

        Args:
            weights: as for `convert_weights`.
            model: the zoo task model whose head is filled.
        """
        return {}


def register_converter(cls):
    """Registers a `Converter` subclass (a class decorator)."""
    if cls.source not in SOURCES:
        raise ValueError(f"{cls.__name__}.source={cls.source!r} is not one of "
                         f"{sorted(SOURCES)}.")
    _CONVERTERS.setdefault(cls.source, {})[cls.family] = cls()
    return cls


def canonical_source(source):
    """The source name behind an alias (`torchvision` -> `timm`)."""
    source = SOURCE_ALIASES.get(source, source)
    if source not in SOURCES:
        raise WeightsError(
            f"Unknown weights converter {source!r}; expected one of "
            f"{sorted(list(SOURCES) + list(SOURCE_ALIASES))}."
        )
    return source


def converters(source):
    """`{family: Converter}` of every registered converter of `source`."""
    source = canonical_source(source)
    if source not in _DISCOVERED:
        _DISCOVERED.add(source)
        package = importlib.import_module(SOURCES[source])
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{info.name}")
    return dict(_CONVERTERS.get(source, {}))


def find_converter(source, *, family=None, architecture=None):
    """The converter of `source` for a zoo family or a source architecture.

    Raises:
        WeightsError: none covers it; the message lists what is covered.
    """
    found = converters(source)
    if family is not None:
        if family in found:
            return found[family]
        raise WeightsError(
            f"No {source} converter fills a zoo {family!r} model; {source} "
            f"converts the families {sorted(found)}."
        )
    for converter in found.values():
        if architecture in converter.architectures:
            return converter
    covered = sorted(a for c in found.values() for a in c.architectures)
    raise WeightsError(
        f"No zoo model matches the {source} architecture {architecture!r}."
        f"{did_you_mean(str(architecture), covered)} Supported: {covered}."
    )


def backbone_of(model):
    """The backbone of a task model, or the model itself."""
    return getattr(model, "backbone", None) or model


def family_of(model):
    """The zoo family of a model or of its backbone (`Backbone.family`)."""
    family = getattr(backbone_of(model), "family", None)
    if not family:
        raise WeightsError(
            f"{type(backbone_of(model)).__name__} declares no zoo family, so "
            "no converter can fill it.")
    return family


def assign_converted(model, converter, weights, include_head, source):
    """Converts `weights` with `converter` and writes them into `model`.

    The backbone always; the head too when `include_head` and `model` is a
    task model. Every name and shape is checked (`zoo.weights.assign_state`).
    """
    from zoo.weights import assign_state

    backbone = backbone_of(model)
    state = converter.convert_weights(weights, backbone)
    input_conv = getattr(backbone, "input_conv_layer", None)
    adapters = backbone.weight_adapters() if hasattr(
        backbone, "weight_adapters") else {}
    if include_head and backbone is not model:
        state = {**state, **converter.convert_head(weights, model)}
        assign_state(model, state, input_conv=input_conv, adapters=adapters,
                     source=source)
    else:
        assign_state(backbone, state, input_conv=input_conv,
                     adapters=adapters, source=source)


def load_weights_file(model, path, source, include_head=True):
    """Loads a checkpoint in a foreign format into a zoo model.

    Args:
        model: the zoo model to fill (built with matching options).
        path: local path of the checkpoint file.
        source: a key of `SOURCES` (or an alias such as `torchvision`).
        include_head: bool, also load the task head.

    Raises:
        WeightsError: unknown source, unreadable file, or names/shapes that
            do not fit the model.
    """
    source = canonical_source(source)
    package = importlib.import_module(SOURCES[source])
    package.load(model, path, include_head=include_head)


def from_keras_hub(keras_hub_model, **overrides):
    """A zoo model with the weights of a live keras-hub model.

    Args:
        keras_hub_model: a keras-hub backbone (`ResNetBackbone`,
            `BertBackbone`, `AlbertBackbone`, ...) or a task model around
            one (`ResNetImageClassifier`).
        **overrides: zoo backbone arguments (e.g. `dtype`).

    Returns:
        the zoo backbone, or task model with the head converted too.
    """
    from zoo.convert.keras_hub import convert_model

    return convert_model(keras_hub_model, **overrides)
