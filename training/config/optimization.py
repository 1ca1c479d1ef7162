"""Optimizer, learning-rate schedule and warmup configs.

Field names follow the Model Garden's `official/modeling/optimization`
configs, so its YAML files read unchanged:

```yaml
optimizer_config:
  optimizer: {type: sgd, sgd: {momentum: 0.9}}
  learning_rate:
    type: stepwise
    stepwise: {boundaries: [18750, 37500], values: [0.8, 0.08, 0.008]}
  warmup: {type: linear, linear: {warmup_steps: 3125}}
```
"""

import dataclasses
from typing import List, Optional

from training.config.base import Config, ConfigError, OneOfConfig


def _field(factory):
    return dataclasses.field(default_factory=factory)


@dataclasses.dataclass
class BaseOptimizerConfig(Config):
    """Settings every optimizer shares (Keras' names)."""

    clipnorm: Optional[float] = None
    clipvalue: Optional[float] = None
    global_clipnorm: Optional[float] = None


@dataclasses.dataclass
class SGDConfig(BaseOptimizerConfig):
    """SGD with momentum (`keras.optimizers.SGD`)."""

    momentum: float = 0.0
    nesterov: bool = False


@dataclasses.dataclass
class AdamConfig(BaseOptimizerConfig):
    """Adam (`keras.optimizers.Adam`)."""

    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False


@dataclasses.dataclass
class AdamWConfig(BaseOptimizerConfig):
    """AdamW with decoupled weight decay (`keras.optimizers.AdamW`).

    `exclude_from_weight_decay`: substrings of variable names that get no
    decay (the Model Garden's BERT recipes exclude LayerNorm and biases).
    """

    weight_decay_rate: float = 0.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False
    exclude_from_weight_decay: Optional[List[str]] = None


@dataclasses.dataclass
class LAMBConfig(BaseOptimizerConfig):
    """LAMB (`keras.optimizers.Lamb`)."""

    weight_decay_rate: float = 0.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    exclude_from_weight_decay: Optional[List[str]] = None


@dataclasses.dataclass
class LARSConfig(BaseOptimizerConfig):
    """LARS: SGD with momentum and layer-wise trust ratios (You et al. 2017).

    `exclude_from_layer_adaptation`: substrings of variable names that keep
    the plain SGD step (biases and batch-norm parameters, by convention).
    """

    momentum: float = 0.9
    eeta: float = 0.001
    weight_decay_rate: float = 0.0
    nesterov: bool = False
    exclude_from_weight_decay: Optional[List[str]] = None
    exclude_from_layer_adaptation: Optional[List[str]] = None


@dataclasses.dataclass
class RMSPropConfig(BaseOptimizerConfig):
    """RMSprop (`keras.optimizers.RMSprop`)."""

    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False


@dataclasses.dataclass
class AdafactorConfig(BaseOptimizerConfig):
    """Adafactor (`keras.optimizers.Adafactor`)."""

    beta_2_decay: float = -0.8
    epsilon_1: float = 1e-30
    epsilon_2: float = 1e-3
    clip_threshold: float = 1.0
    relative_step: bool = True


@dataclasses.dataclass
class OptimizerConfig(OneOfConfig):
    """Which optimizer: `type` is one of the fields below."""

    type: Optional[str] = None
    sgd: SGDConfig = _field(SGDConfig)
    adam: AdamConfig = _field(AdamConfig)
    adamw: AdamWConfig = _field(AdamWConfig)
    lamb: LAMBConfig = _field(LAMBConfig)
    lars: LARSConfig = _field(LARSConfig)
    rmsprop: RMSPropConfig = _field(RMSPropConfig)
    adafactor: AdafactorConfig = _field(AdafactorConfig)


@dataclasses.dataclass
class ConstantLrConfig(Config):
    """A constant learning rate."""

    learning_rate: float = 0.1


@dataclasses.dataclass
class StepwiseLrConfig(Config):
    """Piecewise constant: `values[i]` until `boundaries[i]` (steps)."""

    boundaries: List[int] = _field(list)
    values: List[float] = _field(list)
    offset: int = 0

    def validate(self, path=""):
        if self.boundaries and len(self.values) != len(self.boundaries) + 1:
            raise ConfigError(
                f"{path}: stepwise needs one more value than boundaries, got "
                f"{len(self.values)} values for {len(self.boundaries)} "
                "boundaries."
            )


@dataclasses.dataclass
class ExponentialLrConfig(Config):
    """`initial * decay_rate ** (step / decay_steps)`."""

    initial_learning_rate: float = 0.1
    decay_steps: int = 1
    decay_rate: float = 0.96
    staircase: bool = False
    offset: int = 0


@dataclasses.dataclass
class PolynomialLrConfig(Config):
    """Polynomial decay from `initial` to `end_learning_rate`."""

    initial_learning_rate: float = 0.1
    decay_steps: int = 1
    end_learning_rate: float = 0.0001
    power: float = 1.0
    cycle: bool = False
    offset: int = 0


@dataclasses.dataclass
class CosineLrConfig(Config):
    """Cosine decay to `alpha * initial` over `decay_steps`."""

    initial_learning_rate: float = 0.1
    decay_steps: int = 1
    alpha: float = 0.0
    offset: int = 0


@dataclasses.dataclass
class PowerLrConfig(Config):
    """`initial * step ** power` (inverse square root with power -0.5)."""

    initial_learning_rate: float = 0.1
    power: float = -0.5
    offset: int = 0


@dataclasses.dataclass
class LrConfig(OneOfConfig):
    """Which schedule: `type` is one of the fields below."""

    type: Optional[str] = None
    constant: ConstantLrConfig = _field(ConstantLrConfig)
    stepwise: StepwiseLrConfig = _field(StepwiseLrConfig)
    exponential: ExponentialLrConfig = _field(ExponentialLrConfig)
    polynomial: PolynomialLrConfig = _field(PolynomialLrConfig)
    cosine: CosineLrConfig = _field(CosineLrConfig)
    power: PowerLrConfig = _field(PowerLrConfig)


@dataclasses.dataclass
class LinearWarmupConfig(Config):
    """Linear ramp from `warmup_learning_rate` over `warmup_steps`."""

    warmup_learning_rate: float = 0.0
    warmup_steps: int = 0


@dataclasses.dataclass
class PolynomialWarmupConfig(Config):
    """`lr(warmup_steps) * (step / warmup_steps) ** power`."""

    power: float = 1.0
    warmup_steps: int = 0


@dataclasses.dataclass
class WarmupConfig(OneOfConfig):
    """Which warmup, if any."""

    type: Optional[str] = None
    linear: LinearWarmupConfig = _field(LinearWarmupConfig)
    polynomial: PolynomialWarmupConfig = _field(PolynomialWarmupConfig)


@dataclasses.dataclass
class EMAConfig(Config):
    """Exponential moving average of the weights, used to evaluate and export.

    `average_decay` is the EMA momentum (Keras' `ema_momentum`).
    `overwrite_frequency`: every how many steps the model weights are replaced
    by their average during training; None keeps the raw weights for training
    and swaps the average in for evaluation, checkpoints of the best model and
    the end of training.
    """

    average_decay: float = 0.9999
    overwrite_frequency: Optional[int] = None


@dataclasses.dataclass
class OptimizationConfig(Config):
    """Optimizer, schedule, warmup, EMA and gradient accumulation."""

    optimizer: OptimizerConfig = _field(OptimizerConfig)
    learning_rate: LrConfig = _field(LrConfig)
    warmup: WarmupConfig = _field(WarmupConfig)
    ema: Optional[EMAConfig] = None
    gradient_accumulation_steps: Optional[int] = None
