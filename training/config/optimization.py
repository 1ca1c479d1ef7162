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

Every class has the Model Garden's `name` field (Keras' optimizer or
schedule name; carried by `params.yaml` dumps) and its defaults, including
the `Optional` fields left unset (`None`) by the factories, which the
experiment's YAML file fills in.
"""

import dataclasses
from typing import List, Optional, Union

from training.config.base import Config, ConfigError, OneOfConfig, config_field



@dataclasses.dataclass
class BaseOptimizerConfig(Config):
    """Settings every optimizer shares (Keras' names)."""

    clipnorm: Optional[float] = None
    clipvalue: Optional[float] = None
    global_clipnorm: Optional[float] = None


@dataclasses.dataclass
class SGDConfig(BaseOptimizerConfig):
    """SGD with momentum (`keras.optimizers.SGD`); `decay` (the legacy
    Keras 2 time decay) is accepted at 0 only."""

    name: str = "SGD"
    decay: float = 0.0
    nesterov: bool = False
    momentum: float = 0.0

    def validate(self, path=""):
        if self.decay:
            raise ConfigError(f"{path}.decay={self.decay} is not supported "
                              "(Keras 3 has no SGD decay); use a schedule.")


@dataclasses.dataclass
class AdamConfig(BaseOptimizerConfig):
    """Adam (`keras.optimizers.Adam`)."""

    name: str = "Adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False


@dataclasses.dataclass
class AdamWConfig(BaseOptimizerConfig):
    """AdamW with decoupled weight decay (`keras.optimizers.AdamW`): the
    Model Garden's `AdamWeightDecayConfig`.

    `include_in_weight_decay` / `exclude_from_weight_decay`: regular
    expressions searched in each variable's name as the Model Garden's
    TensorFlow 2 code names it (see `training.optimization.mg_variable_name`:
    `LayerNorm` matches layer norms, `.*(kernel|weight):0$` kernels);
    `gradient_clip_norm` clips the global gradient norm (1.0 by default, as
    there; 0 turns it off).
    """

    name: str = "AdamWeightDecay"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False
    weight_decay_rate: float = 0.0
    include_in_weight_decay: Optional[Union[List[str], str]] = None
    exclude_from_weight_decay: Optional[List[str]] = None
    gradient_clip_norm: float = 1.0


@dataclasses.dataclass
class LAMBConfig(BaseOptimizerConfig):
    """LAMB (`keras.optimizers.Lamb`); `exclude_from_layer_adaptation`
    is accepted unset only (Keras' LAMB adapts every layer)."""

    name: str = "LAMB"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    weight_decay_rate: float = 0.0
    exclude_from_weight_decay: Optional[List[str]] = None
    exclude_from_layer_adaptation: Optional[List[str]] = None

    def validate(self, path=""):
        if self.exclude_from_layer_adaptation:
            raise ConfigError(
                f"{path}.exclude_from_layer_adaptation is not supported "
                "(Keras' Lamb adapts every variable).")


@dataclasses.dataclass
class LARSConfig(BaseOptimizerConfig):
    """LARS: SGD with momentum and layer-wise trust ratios (You et al. 2017).

    `exclude_from_layer_adaptation`: substrings of variable names that keep
    the plain SGD step (biases and batch-norm parameters, by convention).
    """

    name: str = "LARS"
    momentum: float = 0.9
    eeta: float = 0.001
    weight_decay_rate: float = 0.0
    nesterov: bool = False
    classic_momentum: bool = True
    exclude_from_weight_decay: Optional[List[str]] = None
    exclude_from_layer_adaptation: Optional[List[str]] = None

    def validate(self, path=""):
        if not self.classic_momentum:
            raise ConfigError(f"{path}.classic_momentum=false is not "
                              "supported (only the classic form).")


@dataclasses.dataclass
class RMSPropConfig(BaseOptimizerConfig):
    """RMSprop (`keras.optimizers.RMSprop`)."""

    name: str = "RMSprop"
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False


@dataclasses.dataclass
class AdafactorConfig(BaseOptimizerConfig):
    """Adafactor, the Model Garden's fields on `keras.optimizers.Adafactor`.

    `decay_rate` d is Keras' `beta_2_decay = -d`; `epsilon1`/`epsilon2`
    and `clipping_threshold` map one to one. Keras' Adafactor always
    factors and scales by the parameter scale, without momentum or weight
    decay, so `factored`, `multiply_by_parameter_scale`, `beta1`,
    `min_dim_size_to_factor`, `step_offset`, `weight_decay` and
    `include_in_weight_decay` are accepted at the Model Garden's defaults
    only.
    """

    name: str = "Adafactor"
    factored: bool = True
    multiply_by_parameter_scale: bool = True
    beta1: Optional[float] = None
    decay_rate: float = 0.8
    step_offset: int = 0
    clipping_threshold: float = 1.0
    min_dim_size_to_factor: int = 128
    epsilon1: float = 1e-30
    epsilon2: float = 1e-3
    weight_decay: Optional[float] = None
    include_in_weight_decay: Optional[str] = None

    def validate(self, path=""):
        fixed = {"factored": True, "multiply_by_parameter_scale": True,
                 "beta1": None, "step_offset": 0,
                 "min_dim_size_to_factor": 128, "weight_decay": None,
                 "include_in_weight_decay": None}
        for key, default in fixed.items():
            if getattr(self, key) != default:
                raise ConfigError(
                    f"{path}.{key}={getattr(self, key)!r} is not supported "
                    f"(Keras' Adafactor; only {default!r}).")


@dataclasses.dataclass
class OptimizerConfig(OneOfConfig):
    """Which optimizer: `type` is one of the fields below."""

    type: Optional[str] = None
    sgd: SGDConfig = config_field(SGDConfig)
    adam: AdamConfig = config_field(AdamConfig)
    adamw: AdamWConfig = config_field(AdamWConfig)
    lamb: LAMBConfig = config_field(LAMBConfig)
    lars: LARSConfig = config_field(LARSConfig)
    rmsprop: RMSPropConfig = config_field(RMSPropConfig)
    adafactor: AdafactorConfig = config_field(AdafactorConfig)


@dataclasses.dataclass
class ConstantLrConfig(Config):
    """A constant learning rate."""

    name: str = "Constant"
    learning_rate: float = 0.1


@dataclasses.dataclass
class StepwiseLrConfig(Config):
    """Piecewise constant: `values[i]` until `boundaries[i]` (steps)."""

    name: str = "PiecewiseConstantDecay"
    boundaries: Optional[List[int]] = None
    values: Optional[List[float]] = None
    offset: int = 0

    def validate(self, path=""):
        if self.boundaries and len(self.values or []) != len(
                self.boundaries) + 1:
            raise ConfigError(
                f"{path}: stepwise needs one more value than boundaries, got "
                f"{len(self.values or [])} values for {len(self.boundaries)} "
                "boundaries."
            )


@dataclasses.dataclass
class ExponentialLrConfig(Config):
    """`initial * decay_rate ** (step / decay_steps)`."""

    name: str = "ExponentialDecay"
    initial_learning_rate: Optional[float] = None
    decay_steps: Optional[int] = None
    decay_rate: Optional[float] = None
    staircase: Optional[bool] = None
    offset: int = 0


@dataclasses.dataclass
class PolynomialLrConfig(Config):
    """Polynomial decay from `initial` to `end_learning_rate`
    (`decay_steps` unset: `trainer.train_steps`)."""

    name: str = "PolynomialDecay"
    initial_learning_rate: Optional[float] = None
    decay_steps: Optional[int] = None
    end_learning_rate: float = 0.0001
    power: float = 1.0
    cycle: bool = False
    offset: int = 0


@dataclasses.dataclass
class CosineLrConfig(Config):
    """Cosine decay to `alpha * initial` over `decay_steps` (unset:
    `trainer.train_steps`)."""

    name: str = "CosineDecay"
    initial_learning_rate: Optional[float] = None
    decay_steps: Optional[int] = None
    alpha: float = 0.0
    offset: int = 0


@dataclasses.dataclass
class PowerLrConfig(Config):
    """`initial * step ** power` (inverse square root with power -0.5)."""

    name: str = "DirectPowerDecay"
    initial_learning_rate: Optional[float] = None
    power: float = -0.5


@dataclasses.dataclass
class LrConfig(OneOfConfig):
    """Which schedule: `type` is one of the fields below."""

    type: Optional[str] = None
    constant: ConstantLrConfig = config_field(ConstantLrConfig)
    stepwise: StepwiseLrConfig = config_field(StepwiseLrConfig)
    exponential: ExponentialLrConfig = config_field(ExponentialLrConfig)
    polynomial: PolynomialLrConfig = config_field(PolynomialLrConfig)
    cosine: CosineLrConfig = config_field(CosineLrConfig)
    power: PowerLrConfig = config_field(PowerLrConfig)


@dataclasses.dataclass
class LinearWarmupConfig(Config):
    """Linear ramp from `warmup_learning_rate` over `warmup_steps`."""

    name: str = "linear"
    warmup_learning_rate: float = 0.0
    warmup_steps: Optional[int] = None


@dataclasses.dataclass
class PolynomialWarmupConfig(Config):
    """`lr(warmup_steps) * (step / warmup_steps) ** power`."""

    name: str = "polynomial"
    power: float = 1.0
    warmup_steps: Optional[int] = None


@dataclasses.dataclass
class WarmupConfig(OneOfConfig):
    """Which warmup, if any."""

    type: Optional[str] = None
    linear: LinearWarmupConfig = config_field(LinearWarmupConfig)
    polynomial: PolynomialWarmupConfig = config_field(PolynomialWarmupConfig)


@dataclasses.dataclass
class EMAConfig(BaseOptimizerConfig):
    """Exponential moving average of the weights, used to evaluate and export.

    Keras' optimizer EMA (`use_ema`) with the Model Garden's schedule:
    the decay at step `s` is 0 before `start_step`, then `average_decay`,
    or with `dynamic_decay` `min(average_decay, (1 + t) / (10 + t))` for
    `t = s - start_step`. `trainable_weights_only: false` (averaging batch
    norm statistics too) is not supported yet. `overwrite_frequency` (zoo's):
    every how many steps the model weights are replaced by their average
    during training; None keeps the raw weights for training and swaps the
    average in for evaluation and best-model export, and into the model at
    the end of training.
    """

    name: str = "ExponentialMovingAverage"
    trainable_weights_only: bool = True
    average_decay: float = 0.99
    start_step: int = 0
    dynamic_decay: bool = True
    overwrite_frequency: Optional[int] = None

    def validate(self, path=""):
        if not self.trainable_weights_only:
            raise ConfigError(
                f"{path}.trainable_weights_only=false is not supported yet "
                "(Keras averages the trainable weights only).")
        if not 0.0 <= self.average_decay <= 1.0:
            raise ConfigError(f"{path}.average_decay={self.average_decay} "
                              "must be in [0, 1].")


@dataclasses.dataclass
class OptimizationConfig(Config):
    """Optimizer, schedule, warmup, EMA and gradient accumulation."""

    optimizer: OptimizerConfig = config_field(OptimizerConfig)
    learning_rate: LrConfig = config_field(LrConfig)
    warmup: WarmupConfig = config_field(WarmupConfig)
    ema: Optional[EMAConfig] = None
    gradient_accumulation_steps: Optional[int] = None
