"""DeiTDistiller: DeiT's two-head training with a teacher."""

import keras
import numpy as np
import pytest

import zoo

CLASSES = 5


def _student(**kwargs):
    return zoo.create_model(
        "deit_tiny_patch16_224", distilled=True, num_classes=CLASSES,
        patch_size=4, hidden_size=32, num_heads=2, mlp_dim=64, num_layers=1,
        input_shape=(16, 16, 3), **kwargs)


def _teacher(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(CLASSES, name="teacher_logits")(x)
    return keras.Model(inputs, outputs, name="teacher")


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _deit_loss(class_logits, dist_logits, teacher_logits, labels, kind,
               alpha, tau, smoothing):
    """facebookresearch/deit losses.py DistillationLoss, in numpy."""
    target = np.eye(CLASSES)[labels] * (1 - smoothing) + smoothing / CLASSES
    base = -(target * _log_softmax(class_logits)).sum(-1).mean()
    if kind == "hard":
        teacher_top = teacher_logits.argmax(-1)
        dist = -_log_softmax(dist_logits)[np.arange(len(labels)),
                                          teacher_top].mean()
    else:
        log_p = _log_softmax(dist_logits / tau)
        log_q = _log_softmax(teacher_logits / tau)
        dist = (np.exp(log_q) * (log_q - log_p)).sum() * tau * tau / (
            dist_logits.size)
    return (1 - alpha) * base + alpha * dist


@pytest.mark.parametrize("kind, alpha, tau, smoothing", [
    ("hard", 0.5, 1.0, 0.1), ("soft", 0.3, 3.0, 0.0)])
def test_loss_is_deits(kind, alpha, tau, smoothing):
    """The training loss equals the DeiT reference's formula (numpy, float64)
    within 1e-5, the heads apart in training and averaged otherwise."""
    keras.utils.set_random_seed(1)
    student, teacher = _student(), _teacher()
    distiller = zoo.vision.DeiTDistiller(student, teacher, distillation=kind,
                                         alpha=alpha, tau=tau,
                                         label_smoothing=smoothing)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, CLASSES, 6)
    heads = distiller(images, training=True)
    class_logits = np.asarray(heads["class"], "float64")
    dist_logits = np.asarray(heads["distillation"], "float64")
    assert np.abs(class_logits - dist_logits).max() > 1e-3   # two heads
    loss = float(distiller.compute_loss(images, labels, heads))
    expected = _deit_loss(class_logits, dist_logits,
                          np.asarray(teacher(images), "float64"), labels,
                          kind, alpha, tau, smoothing)
    assert abs(loss - expected) < 1e-5, (loss, expected)
    np.testing.assert_allclose(
        np.asarray(distiller(images)), np.asarray(student(images)),
        atol=1e-6)
    clone = zoo.vision.DeiTDistiller.from_config(distiller.get_config())
    assert (clone.distillation, clone.alpha, clone.tau) == (kind, alpha, tau)
    # One-hot labels give the same loss as class ids.
    one_hot = np.eye(CLASSES, dtype="float32")[labels]
    assert abs(float(distiller.compute_loss(images, one_hot, heads))
               - loss) < 1e-6


def test_the_distillation_head_learns_the_teacher():
    """With only the distillation loss (alpha=1), fit teaches the
    distillation head a fixed teacher's top class on 96 images (from about
    1 in 5 to >= 90% agreement) and leaves the teacher unchanged."""
    keras.utils.set_random_seed(2)
    student, teacher = _student(), _teacher(seed=3)
    before = [w.copy() for w in teacher.get_weights()]
    rng = np.random.default_rng(1)
    images = rng.normal(size=(96, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, CLASSES, 96)
    distiller = zoo.vision.DeiTDistiller(student, teacher, alpha=1.0)
    distiller.compile(optimizer=keras.optimizers.Adam(3e-3),
                      metrics=["accuracy"])
    history = distiller.fit(images, labels, batch_size=32, epochs=40,
                            verbose=0)
    assert "accuracy" in history.history
    heads = keras.Model(student.input,
                        student.get_layer("predictions_dist").output)
    agreement = np.mean(np.asarray(heads(images)).argmax(-1)
                        == np.asarray(teacher(images)).argmax(-1))
    assert agreement >= 0.9, agreement
    for old, new in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_bad_students_and_settings_are_refused():
    teacher = _teacher()
    with pytest.raises(ValueError, match="distillation token"):
        zoo.vision.DeiTDistiller(
            zoo.create_model("deit_tiny_patch16_224", num_classes=CLASSES,
                             patch_size=4, hidden_size=32, num_heads=2,
                             mlp_dim=64, num_layers=1,
                             input_shape=(16, 16, 3)), teacher)
    student = _student()
    with pytest.raises(ValueError, match="'hard', 'soft'"):
        zoo.vision.DeiTDistiller(student, teacher, distillation="feature")
    with pytest.raises(ValueError, match="alpha"):
        zoo.vision.DeiTDistiller(student, teacher, alpha=1.5)
    other = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.Flatten(), keras.layers.Dense(7)])
    with pytest.raises(ValueError, match="7 classes, the student 5"):
        zoo.vision.DeiTDistiller(student, other)
    with pytest.raises(ValueError, match="logits"):
        zoo.vision.DeiTDistiller(_student(activation="softmax"), teacher)
