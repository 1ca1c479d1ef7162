"""Learning-rate schedules and optimizers built from configs."""

import math

import keras
import numpy as np
import pytest

from training.config import ConfigError, OptimizationConfig
from training.optimization import (
    LARS,
    build_learning_rate,
    build_optimizer,
    schedule_value,
)


def _config(**sections):
    return OptimizationConfig.from_dict(sections)


def _values(schedule, steps):
    return [schedule_value(schedule, s) for s in steps]


def test_stepwise_with_linear_warmup_matches_hand_values():
    config = _config(
        learning_rate={"type": "stepwise",
                       "stepwise": {"boundaries": [100, 200],
                                    "values": [0.8, 0.08, 0.008]}},
        warmup={"type": "linear",
                "linear": {"warmup_steps": 10, "warmup_learning_rate": 0.0}})
    lr = build_learning_rate(config)
    expected = [0.0, 0.4, 0.8, 0.8, 0.08, 0.08, 0.008]
    assert _values(lr, [0, 5, 10, 99, 100, 199, 200]) == pytest.approx(
        expected, rel=1e-6)


def test_polynomial_warmup_and_decay():
    config = _config(
        learning_rate={"type": "polynomial",
                       "polynomial": {"initial_learning_rate": 1.0,
                                      "decay_steps": 100,
                                      "end_learning_rate": 0.0,
                                      "power": 1.0}},
        warmup={"type": "polynomial",
                "polynomial": {"warmup_steps": 10, "power": 2.0}})
    lr = build_learning_rate(config)
    # Warmup: lr(10) * (s/10)^2 with lr(10) = 0.9; then linear decay.
    assert _values(lr, [5, 10, 50, 100]) == pytest.approx(
        [0.9 * 0.25, 0.9, 0.5, 0.0], abs=1e-6)


def test_cosine_exponential_power_constant_and_offset():
    cosine = build_learning_rate(_config(learning_rate={
        "type": "cosine",
        "cosine": {"initial_learning_rate": 2.0, "decay_steps": 100}}))
    assert _values(cosine, [0, 50, 100]) == pytest.approx([2.0, 1.0, 0.0],
                                                          abs=1e-6)
    exponential = build_learning_rate(_config(learning_rate={
        "type": "exponential",
        "exponential": {"initial_learning_rate": 1.0, "decay_steps": 10,
                        "decay_rate": 0.5, "staircase": True,
                        "offset": 5}}))
    assert _values(exponential, [0, 14, 15, 25]) == pytest.approx(
        [1.0, 1.0, 0.5, 0.25])
    power = build_learning_rate(_config(learning_rate={
        "type": "power",
        "power": {"initial_learning_rate": 1.0, "power": -0.5}}))
    assert _values(power, [1, 4, 100]) == pytest.approx([1.0, 0.5, 0.1])
    constant = build_learning_rate(_config(learning_rate={
        "type": "constant", "constant": {"learning_rate": 0.3}}))
    assert constant == 0.3


def test_schedules_serialise_with_the_optimizer():
    config = _config(
        optimizer={"type": "sgd", "sgd": {"momentum": 0.9}},
        learning_rate={"type": "stepwise",
                       "stepwise": {"boundaries": [3], "values": [1.0, 0.1]}},
        warmup={"type": "linear", "linear": {"warmup_steps": 2}})
    optimizer = build_optimizer(config)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    for step in range(6):
        assert schedule_value(clone.learning_rate, step) == pytest.approx(
            schedule_value(optimizer.learning_rate, step))


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw", "lamb", "lars",
                                  "rmsprop", "adafactor"])
def test_every_optimizer_trains_a_linear_model(kind):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    lr = {"lars": 0.5}.get(kind, 0.05)
    # LARS scales each step by eeta * |w| / |g|; a larger eeta suits this
    # four-weight problem.
    extra = {"eeta": 0.05} if kind == "lars" else {}
    if kind == "adamw":
        # Its Model Garden default clips the global norm to 1.0; Keras clips
        # one way only, so that is turned off for clipnorm.
        extra = {"gradient_clip_norm": 0.0}
    config = _config(
        optimizer={"type": kind, kind: {"clipnorm": 10.0, **extra}},
        learning_rate={"type": "constant",
                       "constant": {"learning_rate": lr}})
    model.compile(build_optimizer(config), "mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * first


def test_lars_step_matches_numpy():
    w0 = np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
    g = np.array([[0.1, 0.2], [-0.3, 0.4]], "float32")
    variable = keras.Variable(w0, name="kernel")
    optimizer = LARS(learning_rate=0.1, momentum=0.9, eeta=0.001,
                     weight_decay_rate=0.01)
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    w, v = w0.copy(), np.zeros_like(w0)
    for _ in range(2):
        grad = g + 0.01 * w
        ratio = 0.001 * np.linalg.norm(w) / np.linalg.norm(grad)
        v = 0.9 * v + 0.1 * ratio * grad
        w = w - v
    np.testing.assert_allclose(np.asarray(variable), w, rtol=1e-5)


def test_adamw_exclusions_follow_model_garden_patterns_and_accumulation():
    """`exclude_from_weight_decay: ['LayerNorm', 'layer_norm', 'bias']`, the
    Model Garden's BERT setting, leaves layer norms and biases undecayed."""
    model = keras.Sequential([keras.Input((2,)),
                              keras.layers.Dense(2, name="dense"),
                              keras.layers.LayerNormalization(name="norm")])
    config = _config(
        optimizer={"type": "adamw",
                   "adamw": {"weight_decay_rate": 0.1,
                             "gradient_clip_norm": 0.0,
                             "exclude_from_weight_decay": [
                                 "LayerNorm", "layer_norm", "bias"]}},
        learning_rate={"type": "constant", "constant": {"learning_rate": 0.1}},
        gradient_accumulation_steps=2)
    optimizer = build_optimizer(config, model=model)
    assert optimizer.gradient_accumulation_steps == 2
    for variable in model.trainable_variables:
        variable.assign(np.ones(variable.shape, "float32"))
    zeros = [keras.ops.zeros(v.shape) for v in model.trainable_variables]
    # One accumulation step: nothing moves yet.
    optimizer.apply_gradients(zip(zeros, model.trainable_variables))
    assert all(np.all(np.asarray(v) == 1.0) for v in model.trainable_variables)
    optimizer.apply_gradients(zip(zeros, model.trainable_variables))
    values = {"/".join(v.path.split("/")[-2:]): np.asarray(v)
              for v in model.trainable_variables}
    # Decoupled decay shrinks the kernel (1 - lr * wd) and nothing else.
    np.testing.assert_allclose(values["dense/kernel"], 0.99, rtol=1e-6)
    for path in ("dense/bias", "norm/gamma", "norm/beta"):
        np.testing.assert_array_equal(values[path], 1.0)


def _numpy_ema(weights, decay, start_step, dynamic):
    """The Model Garden's EMA (ema_optimizer.py) of a weight sequence: from
    zeros, decay at step s (1-based) 0 before start_step, else
    min(decay, (1 + t) / (10 + t)) with t = s - start_step when dynamic."""
    average = np.zeros_like(weights[0])
    for step, w in enumerate(weights, start=1):
        if step < start_step:
            d = 0.0
        elif dynamic:
            t = step - start_step
            d = min(decay, (1.0 + t) / (10.0 + t))
        else:
            d = decay
        average = average - (1.0 - d) * (average - w)
    return average


@pytest.mark.parametrize("ema", [
    {"average_decay": 0.9},
    {"average_decay": 0.5, "dynamic_decay": False},
    {"average_decay": 0.8, "dynamic_decay": False, "start_step": 3},
    {"average_decay": 0.999, "start_step": 2},
], ids=["dynamic", "fixed", "fixed_from_3", "dynamic_from_2"])
def test_ema_averages_as_the_model_garden_does(ema):
    config = _config(optimizer={"type": "sgd"},
                     learning_rate={"type": "constant",
                                    "constant": {"learning_rate": 0.1}},
                     ema=ema)
    optimizer = build_optimizer(config)
    assert optimizer.use_ema
    variable = keras.Variable(np.array([1.0, -2.0, 0.5], "float32"),
                              name="kernel")
    rng = np.random.default_rng(0)
    weights = []
    for _ in range(6):
        gradient = rng.normal(size=3).astype("float32")
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient),
                                    variable)])
        weights.append(np.asarray(variable).copy())
    expected = _numpy_ema(weights, ema["average_decay"],
                          ema.get("start_step", 0),
                          ema.get("dynamic_decay", True))
    average = np.asarray(optimizer._model_variables_moving_average[0])
    np.testing.assert_allclose(average, expected, rtol=1e-6, atol=1e-7)


def test_missing_choices_are_reported():
    with pytest.raises(ConfigError, match="learning_rate.type is not set"):
        build_learning_rate(_config())
    with pytest.raises(ConfigError, match="optimizer.type is not set"):
        build_optimizer(_config(learning_rate={"type": "constant"}))
    assert math.isclose(
        schedule_value(build_learning_rate(
            _config(learning_rate={"type": "constant"})), 0), 0.1)
