"""Two encoder alternatives of zoo's own: any registered text encoder
(`type: registered`) or a preset's, with its weights and tokenizer
(`type: preset`)."""

import dataclasses

from training.config.base import ConfigError, config_field
from training.models import ModelConfig
from training.registry import register_encoder



@register_encoder("registered")
@dataclasses.dataclass
class RegisteredEncoderConfig(ModelConfig):
    """A text encoder registered in the zoo (`zoo.list_models("bert*")`),
    random weights: `name` and constructor `arguments`."""

    name: str = ""
    arguments: dict = config_field(dict)

    def build_encoder(self, path):
        """`(encoder, None)`."""
        import zoo

        if not self.name:
            raise ConfigError(f"{path}.name is empty; name a registered "
                              "text encoder, e.g. bert_tiny_uncased.")
        try:
            return zoo.create_model(self.name, task=None,
                                    **self.arguments), None
        except TypeError as e:
            raise ConfigError(f"{path}.arguments: {e}") from None


@register_encoder("preset")
@dataclasses.dataclass
class PresetEncoderConfig(ModelConfig):
    """A preset's encoder (`zoo.from_preset(handle)`): its architecture, its
    weights (unless `load_weights: false`) and its tokenizer. `arguments`
    override constructor arguments (e.g. `dropout`)."""

    handle: str = ""
    load_weights: bool = True
    arguments: dict = config_field(dict)

    def build_encoder(self, path):
        """`(encoder, the preset's preprocessor)`."""
        import zoo

        if not self.handle:
            raise ConfigError(f"{path}.handle is empty; name a preset, e.g."
                              " all_minilm_l6_v2.")
        encoder = zoo.from_preset(self.handle, load_weights=self.load_weights,
                                  task=None, **self.arguments)
        return encoder, getattr(encoder, "preprocessor", None)
