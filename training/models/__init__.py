"""Model configs in the Model Garden's one-of shape, registered by family.

```yaml
task:
  model:
    backbone: {type: resnet, resnet: {model_id: 50}}
```

`task.model.backbone` is a `BackboneConfig`: its alternatives are the
configs registered with `@register_backbone(name)` in
`training/models/backbones/<family>.py`, each next to its mapping onto
`zoo.create_model` (`ModelConfig.create_model_arguments`). A task builds
whatever is selected with `ModelConfig.build` and never names a family;
a new family adds one file to `training/models/backbones/`.
"""

import dataclasses
import typing
from typing import Optional

from training.config.base import Config, RegisteredOneOfConfig


@dataclasses.dataclass
class ModelConfig(Config):
    """Base of registered model configs: what to build, with which args.

    Subclasses implement `model_name()` (a registered zoo model) and
    `create_model_arguments(norm_activation)` (the zoo arguments that the
    Model Garden fields mean). A subclass of `ParseOnlyConfig` holds the
    keys of a Model Garden alternative that zoo does not build yet.
    """

    #: Whether zoo builds this alternative (False: `ParseOnlyConfig`).
    builds: typing.ClassVar[bool] = True

    def model_name(self):
        """The registered zoo model this config builds."""
        raise NotImplementedError

    def create_model_arguments(self, norm_activation=None):
        """`zoo.create_model` arguments for these fields.

        Args:
            norm_activation: the task's `NormActivation`, or None.
        """
        return {}

    def build(self, norm_activation=None, **kwargs):
        """`zoo.create_model(self.model_name(), ...)` with these settings.

        Args:
            norm_activation: the task's `NormActivation`, or None.
            **kwargs: task-level arguments (`num_classes`, `input_shape`,
                `task`, `features_only`, ...); they win over the config's.
        """
        import zoo

        arguments = self.create_model_arguments(norm_activation)
        arguments.update(kwargs)
        return zoo.create_model(self.model_name(), **arguments)


@dataclasses.dataclass
class ParseOnlyConfig(ModelConfig):
    """The keys of a Model Garden alternative zoo does not build yet.

    A file that selects it parses, its keys checked against the Model
    Garden's fields and types, so an experiment can carry the Model
    Garden's defaults for it; validation of the one-of that selects it
    (`RegisteredOneOfConfig.validate`) then refuses it in one line
    (`backbone 'spinenet' is not built by zoo yet; available: ...`), and a
    file that selects another alternative runs.
    """

    builds: typing.ClassVar[bool] = False
    kind: typing.ClassVar[str] = ""

    def model_name(self):
        raise NotImplementedError(
            f"{self.kind} {self.registered_name!r} is not built by zoo.")


def norm_arguments(norm_activation):
    """Batch-norm `bn_momentum`/`bn_epsilon`/`activation` arguments of a
    `NormActivation` (empty for None)."""
    if norm_activation is None:
        return {}
    return {"bn_momentum": norm_activation.norm_momentum,
            "bn_epsilon": norm_activation.norm_epsilon,
            "activation": norm_activation.activation}


@dataclasses.dataclass(eq=False)
class BackboneConfig(RegisteredOneOfConfig):
    """Which backbone: `type` names a registered backbone config."""

    kind = "backbone"
    type: Optional[str] = None


@dataclasses.dataclass(eq=False)
class DecoderConfig(RegisteredOneOfConfig):
    """Which decoder: `type` names a registered decoder config."""

    kind = "decoder"
    type: Optional[str] = None


@dataclasses.dataclass(eq=False)
class EncoderConfig(RegisteredOneOfConfig):
    """Which text encoder: `type` names a registered encoder config."""

    kind = "encoder"
    type: Optional[str] = "bert"
