"""Optimizers and learning-rate schedules built from `OptimizationConfig`.

Schedules are Keras `LearningRateSchedule`s registered for serialisation, so
an optimizer saved with a model reloads with its schedule. Keras' own
optimizers are used wherever Keras has one; LARS, which Keras lacks, is
written here over `keras.ops`.
"""

import keras
from keras import ops

from training.config.base import ConfigError

Schedule = keras.optimizers.schedules.LearningRateSchedule


def _float(step):
    return ops.cast(step, "float32")


@keras.saving.register_keras_serializable(package="zoo_training")
class OffsetSchedule(Schedule):
    """Evaluates `schedule(step - offset)`, holding step 0 before `offset`."""

    def __init__(self, schedule, offset):
        self.schedule = schedule
        self.offset = int(offset)

    def __call__(self, step):
        return self.schedule(ops.maximum(_float(step) - self.offset, 0.0))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "offset": self.offset,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(
            config["schedule"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="zoo_training")
class PowerSchedule(Schedule):
    """`initial_learning_rate * step ** power` (step counted from 1)."""

    def __init__(self, initial_learning_rate, power):
        self.initial_learning_rate = float(initial_learning_rate)
        self.power = float(power)

    def __call__(self, step):
        step = ops.maximum(_float(step), 1.0)
        return self.initial_learning_rate * ops.power(step, self.power)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "power": self.power}


@keras.saving.register_keras_serializable(package="zoo_training")
class StepwiseSchedule(Schedule):
    """`values[i]` while `step < boundaries[i]`, the last value after."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "StepwiseSchedule needs len(values) == len(boundaries) + 1, "
                f"got {len(values)} and {len(boundaries)}."
            )
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]

    def __call__(self, step):
        step = _float(step)
        lr = ops.convert_to_tensor(self.values[0], "float32")
        for boundary, value in zip(self.boundaries, self.values[1:]):
            lr = ops.where(step >= boundary, value, lr)
        return lr

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values}


@keras.saving.register_keras_serializable(package="zoo_training")
class WarmupSchedule(Schedule):
    """Warmup for `warmup_steps`, then `after_warmup`.

    Linear (`power=None`): from `warmup_learning_rate` up to
    `after_warmup(warmup_steps)`. Polynomial (`power=p`):
    `after_warmup(warmup_steps) * (step / warmup_steps) ** p`.
    """

    def __init__(self, after_warmup, warmup_steps, warmup_learning_rate=0.0,
                 power=None):
        self.after_warmup = after_warmup
        self.warmup_steps = int(warmup_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.power = None if power is None else float(power)

    def __call__(self, step):
        step = _float(step)
        target = self.after_warmup(self.warmup_steps)
        fraction = ops.minimum(step / max(1, self.warmup_steps), 1.0)
        if self.power is None:
            warm = (self.warmup_learning_rate
                    + (target - self.warmup_learning_rate) * fraction)
        else:
            warm = target * ops.power(fraction, self.power)
        return ops.where(step < self.warmup_steps, warm,
                         self.after_warmup(step))

    def get_config(self):
        return {
            "after_warmup": keras.saving.serialize_keras_object(
                self.after_warmup),
            "warmup_steps": self.warmup_steps,
            "warmup_learning_rate": self.warmup_learning_rate,
            "power": self.power,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after_warmup"] = keras.saving.deserialize_keras_object(
            config["after_warmup"])
        return cls(**config)


_LR_KEY = "trainer.optimizer_config.learning_rate"
_WARMUP_KEY = "trainer.optimizer_config.warmup"


def _required(value, key):
    if value is None:
        raise ConfigError(f"{key} is not set; the experiment leaves it to "
                          "the config file or --params_override.")
    return value


def build_learning_rate(config, train_steps=None):
    """A Keras schedule (or a float) from an `OptimizationConfig`.

    Args:
        config: `OptimizationConfig`.
        train_steps: `trainer.train_steps`, the `decay_steps` of polynomial
            and cosine schedules that leave it unset.

    Raises:
        ConfigError: no learning rate configured, or a value it needs unset.
    """
    lr_config = config.learning_rate
    kind = lr_config.type
    if kind is None:
        raise ConfigError(
            f"{_LR_KEY}.type is not set; choose one of constant, stepwise, "
            "exponential, polynomial, cosine, power."
        )
    c = lr_config.get()
    where = f"{_LR_KEY}.{kind}"
    S = keras.optimizers.schedules
    base = None

    def decay_steps():
        if c.decay_steps is not None:
            return c.decay_steps
        if train_steps:
            return train_steps
        return _required(None, f"{where}.decay_steps")

    def initial():
        return _required(c.initial_learning_rate,
                         f"{where}.initial_learning_rate")

    if kind == "constant":
        schedule = None
        base = c.learning_rate
    elif kind == "stepwise":
        schedule = StepwiseSchedule(
            _required(c.boundaries, f"{where}.boundaries"),
            _required(c.values, f"{where}.values"))
    elif kind == "exponential":
        schedule = S.ExponentialDecay(
            initial(), _required(c.decay_steps, f"{where}.decay_steps"),
            _required(c.decay_rate, f"{where}.decay_rate"),
            staircase=bool(c.staircase))
    elif kind == "polynomial":
        schedule = S.PolynomialDecay(initial(), decay_steps(),
                                     c.end_learning_rate, power=c.power,
                                     cycle=c.cycle)
    elif kind == "cosine":
        schedule = S.CosineDecay(initial(), decay_steps(), alpha=c.alpha)
    elif kind == "power":
        schedule = PowerSchedule(initial(), c.power)
    else:  # validated by the config
        raise ConfigError(f"Unknown learning rate type {kind!r}.")
    offset = getattr(c, "offset", 0)
    if schedule is not None and offset:
        schedule = OffsetSchedule(schedule, offset)
    warmup = config.warmup
    if warmup.type is not None:
        w = warmup.get()
        steps = _required(w.warmup_steps,
                          f"{_WARMUP_KEY}.{warmup.type}.warmup_steps")
        if steps > 0:
            if schedule is None:
                schedule = StepwiseSchedule([], [base])
            schedule = WarmupSchedule(
                schedule,
                steps,
                warmup_learning_rate=getattr(w, "warmup_learning_rate", 0.0),
                power=w.power if warmup.type == "polynomial" else None,
            )
    return base if schedule is None else schedule


#: Names the Model Garden's TensorFlow 2 models give their normalisation
#: layers, which its weight-decay patterns name (`LayerNorm`, `layer_norm`).
_MG_LAYER_ALIASES = {
    "LayerNormalization": "LayerNorm/layer_norm/",
    "RMSNormalization": "LayerNorm/layer_norm/",
    "BatchNormalization": "BatchNorm/batch_norm/",
}


def mg_variable_names(model):
    """`{id(variable): name}`: each weight as the Model Garden names it.

    The Model Garden's weight-decay options are regular expressions over
    TensorFlow variable names (`.../kernel:0`, `.../LayerNorm/gamma:0`).
    Here a name is the Keras path plus `:0`, prefixed by the aliases of its
    layer's class (`LayerNorm/layer_norm/` for layer norms), so its
    patterns select the same weights:
    `transformer_layer_0/attention_norm/gamma` ->
    `LayerNorm/layer_norm/transformer_layer_0/attention_norm/gamma:0`.
    """
    names = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        alias = _MG_LAYER_ALIASES.get(type(layer).__name__, "")
        own = list(getattr(layer, "_trainable_variables", [])) + list(
            getattr(layer, "_non_trainable_variables", []))
        for variable in own:
            names.setdefault(id(variable), f"{alias}{variable.path}:0")
    for variable in model.weights:
        names.setdefault(id(variable), f"{variable.path}:0")
    return names


def _as_patterns(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def weight_decay_exclusions(model, include=None, exclude=None):
    """The trainable variables of `model` that get no weight decay.

    A variable is decayed when its Model Garden name (`mg_variable_names`)
    matches one of `include` (every variable when `include` is empty) and
    none of `exclude`; patterns are searched with `re.search`.
    """
    import re

    include, exclude = _as_patterns(include), _as_patterns(exclude)
    names = mg_variable_names(model)
    excluded = []
    for variable in model.trainable_variables:
        name = names.get(id(variable), variable.path)
        decayed = (not include or any(re.search(p, name) for p in include))
        if not decayed or any(re.search(p, name) for p in exclude):
            excluded.append(variable)
    return excluded


def configure_ema(optimizer, ema):
    """Gives `optimizer` the Model Garden's moving average (`EMAConfig`).

    Keras' `use_ema` keeps the averages and swaps them in; its update
    starts from a copy of the weights with a fixed momentum. The Model
    Garden's (`official/modeling/optimization/ema_optimizer.py`) starts
    from zeros and, after each update at step `s` (counted from 1), uses
    the decay 0 before `start_step`, `average_decay`, or with
    `dynamic_decay` `min(average_decay, (1 + t) / (10 + t))` for
    `t = s - start_step`. That update replaces Keras' on this optimizer.
    """
    decay = float(ema.average_decay)
    start = float(ema.start_step)
    dynamic = bool(ema.dynamic_decay)

    def update_average(trainable_variables):
        # Keras calls this before counting the step; the Model Garden
        # after, so its step is one more.
        step = ops.cast(optimizer.iterations, "float32") + 1.0
        t = step - start
        value = ops.minimum(decay, (1.0 + t) / (10.0 + t)) if dynamic else (
            ops.convert_to_tensor(decay, "float32"))
        value = ops.where(step < start, 0.0, value)
        first = ops.equal(optimizer.iterations, 0)
        for variable, average in zip(
                trainable_variables,
                optimizer._model_variables_moving_average):
            if average is None:
                continue
            momentum = ops.cast(value, variable.dtype)
            current = average.value
            previous = ops.where(first, ops.zeros_like(current), current)
            average.assign(momentum * previous
                           + (1.0 - momentum) * variable.value)

    optimizer._update_model_variables_moving_average = update_average
    return optimizer


@keras.saving.register_keras_serializable(package="zoo_training")
class LARS(keras.optimizers.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling.

    For each variable `w` with gradient `g` (You et al. 2017):
    `g' = g + weight_decay * w`, trust ratio
    `eeta * |w| / |g'|` (1 when either norm is zero or the variable is
    excluded), `v = momentum * v + learning_rate * ratio * g'`, `w -= v`
    (or the Nesterov form).

    Args:
        learning_rate: float or schedule.
        momentum: float.
        eeta: float, the trust coefficient.
        weight_decay_rate: float, L2 decay added to the gradient.
        nesterov: bool.
        exclude_from_weight_decay: list of regular expressions searched in
            variable paths.
        exclude_from_layer_adaptation: the same, for the trust ratio;
            defaults to `exclude_from_weight_decay`.
        **kwargs: Keras optimizer arguments (clipnorm, use_ema, ...).
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, eeta=0.001,
                 weight_decay_rate=0.0, nesterov=False,
                 exclude_from_weight_decay=None,
                 exclude_from_layer_adaptation=None, name="lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = float(momentum)
        self.eeta = float(eeta)
        self.weight_decay_rate = float(weight_decay_rate)
        self.nesterov = bool(nesterov)
        self.exclude_from_weight_decay_names = list(
            exclude_from_weight_decay or [])
        self.exclude_from_layer_adaptation_names = list(
            exclude_from_layer_adaptation
            if exclude_from_layer_adaptation is not None
            else self.exclude_from_weight_decay_names)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = [
            self.add_variable_from_reference(v, "momentum") for v in variables
        ]

    def _excluded(self, variable, names):
        import re

        return any(re.search(n, variable.path) for n in names)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = self.momentums[self._get_variable_index(variable)]
        if self.weight_decay_rate and not self._excluded(
                variable, self.exclude_from_weight_decay_names):
            gradient = gradient + self.weight_decay_rate * variable
        ratio = 1.0
        if not self._excluded(variable,
                              self.exclude_from_layer_adaptation_names):
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            ratio = ops.where(
                (w_norm > 0) & (g_norm > 0),
                self.eeta * w_norm / ops.maximum(g_norm, 1e-12),
                1.0,
            )
        scaled_lr = lr * ratio
        new_momentum = self.momentum * momentum + scaled_lr * gradient
        self.assign(momentum, new_momentum)
        if self.nesterov:
            step = self.momentum * new_momentum + scaled_lr * gradient
        else:
            step = new_momentum
        self.assign_sub(variable, step)

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "eeta": self.eeta,
            "weight_decay_rate": self.weight_decay_rate,
            "nesterov": self.nesterov,
            "exclude_from_weight_decay":
                self.exclude_from_weight_decay_names,
            "exclude_from_layer_adaptation":
                self.exclude_from_layer_adaptation_names,
        })
        return config


def build_optimizer(config, learning_rate=None, model=None,
                    train_steps=None):
    """A Keras optimizer from an `OptimizationConfig`.

    Args:
        config: `OptimizationConfig`.
        learning_rate: overrides `build_learning_rate(config)` when given.
        model: the model to train; needed for weight-decay patterns
            (`include_in_weight_decay`, `exclude_from_weight_decay`).
        train_steps: `trainer.train_steps`, for schedules whose
            `decay_steps` is unset.

    Raises:
        ConfigError: no optimizer type set, or an unset value it needs.
    """
    kind = config.optimizer.type
    if kind is None:
        raise ConfigError(
            "trainer.optimizer_config.optimizer.type is not set; choose one "
            "of sgd, adam, adamw, lamb, lars, rmsprop, adafactor."
        )
    c = config.optimizer.get()
    if learning_rate is None:
        learning_rate = build_learning_rate(config, train_steps=train_steps)
    common = {
        "learning_rate": learning_rate,
        "clipnorm": c.clipnorm,
        "clipvalue": c.clipvalue,
        "global_clipnorm": c.global_clipnorm,
    }
    if kind == "adamw" and c.gradient_clip_norm > 0 and (
            c.global_clipnorm is None):
        # The Model Garden's AdamWeightDecay clips by the global norm.
        if c.clipnorm is not None or c.clipvalue is not None:
            raise ConfigError(
                "trainer.optimizer_config.optimizer.adamw: gradient_clip_norm"
                f"={c.gradient_clip_norm} (the Model Garden's default global "
                "clipping) and clipnorm/clipvalue are both set, and Keras "
                "clips one way only; set adamw.gradient_clip_norm: 0.0 to "
                "use clipnorm/clipvalue.")
        common["global_clipnorm"] = c.gradient_clip_norm
    if config.ema is not None:
        common.update(use_ema=True, ema_momentum=config.ema.average_decay,
                      ema_overwrite_frequency=config.ema.overwrite_frequency)
    if config.gradient_accumulation_steps and (
            config.gradient_accumulation_steps > 1):
        common["gradient_accumulation_steps"] = (
            config.gradient_accumulation_steps)
    O = keras.optimizers
    if kind == "sgd":
        optimizer = O.SGD(momentum=c.momentum, nesterov=c.nesterov, **common)
    elif kind == "adam":
        optimizer = O.Adam(beta_1=c.beta_1, beta_2=c.beta_2,
                           epsilon=c.epsilon, amsgrad=c.amsgrad, **common)
    elif kind == "adamw":
        optimizer = O.AdamW(weight_decay=c.weight_decay_rate, beta_1=c.beta_1,
                            beta_2=c.beta_2, epsilon=c.epsilon,
                            amsgrad=c.amsgrad, **common)
    elif kind == "lamb":
        optimizer = O.Lamb(weight_decay=c.weight_decay_rate or None,
                           beta_1=c.beta_1, beta_2=c.beta_2,
                           epsilon=c.epsilon, **common)
    elif kind == "lars":
        optimizer = LARS(momentum=c.momentum, eeta=c.eeta,
                         weight_decay_rate=c.weight_decay_rate,
                         nesterov=c.nesterov,
                         exclude_from_weight_decay=c.exclude_from_weight_decay,
                         exclude_from_layer_adaptation=(
                             c.exclude_from_layer_adaptation),
                         **common)
    elif kind == "rmsprop":
        optimizer = O.RMSprop(rho=c.rho, momentum=c.momentum,
                              epsilon=c.epsilon, centered=c.centered,
                              **common)
    elif kind == "adafactor":
        optimizer = O.Adafactor(beta_2_decay=-c.decay_rate,
                                epsilon_1=c.epsilon1, epsilon_2=c.epsilon2,
                                clip_threshold=c.clipping_threshold,
                                **common)
    else:
        raise ConfigError(f"Unknown optimizer type {kind!r}.")
    if kind in ("adamw", "lamb"):
        include = getattr(c, "include_in_weight_decay", None)
        exclude = c.exclude_from_weight_decay
        if include or exclude:
            if model is None:
                raise ConfigError(
                    "Weight-decay patterns need the model: call "
                    "build_optimizer(config, model=model).")
            excluded = weight_decay_exclusions(model, include, exclude)
            if excluded:
                optimizer.exclude_from_weight_decay(var_list=excluded)
    if config.ema is not None:
        configure_ema(optimizer, config.ema)
    return optimizer


def schedule_value(learning_rate, step):
    """The learning rate at `step` as a Python float (for logs and tests)."""
    if callable(learning_rate):
        return float(ops.convert_to_numpy(learning_rate(step)))
    return float(learning_rate)

