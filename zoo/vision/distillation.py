"""DeiT's training with a teacher through the distillation token (Touvron
et al. 2021, "Training data-efficient image transformers & distillation
through attention").

A distilled DeiT (`zoo.create_model("deit_small_patch16_224",
distilled=True)`) has two heads: the class token's (`predictions`) and the
distillation token's (`predictions_dist`). At inference the model outputs
their mean. In training, `DeiTDistiller` keeps them apart: the class head
learns the labels and the distillation head learns the teacher, with the
loss of the DeiT reference (facebookresearch/deit `losses.py`
`DistillationLoss`, defaults from its `main.py`):

    loss = (1 - alpha) * CE(class head, labels) + alpha * distillation
    hard: distillation = CE(distillation head, argmax(teacher))
    soft: distillation = tau**2 * sum KL(softmax(teacher / tau) ||
                                         softmax(head / tau)) / (batch * classes)

(the soft form divides the summed KL by the number of logits, as the DeiT
code does). Keras' own `keras.distillation.Distiller` applies the label
loss to the student's single output, which for DeiT is the mean of both
heads, so it cannot express this.
"""

import keras

from zoo.vision.image_classifier import ImageClassifier

DISTILLATION_TYPES = ("hard", "soft")


@keras.saving.register_keras_serializable(package="zoo")
class DeiTDistiller(keras.Model):
    """Trains a distilled DeiT classifier's two heads, the distillation one
    on a frozen teacher's predictions.

    Args:
        student: a zoo `ImageClassifier` whose backbone has a distillation
            token (`distilled=True`), outputting logits (`activation=None`).
        teacher: a `keras.Model` mapping the same images to
            `[batch, num_classes]` logits; frozen (`trainable = False`) and
            run in inference mode.
        distillation: `"hard"` (the teacher's top class, DeiT's best) or
            `"soft"` (its tempered distribution).
        alpha: weight of the distillation loss; `1 - alpha` weighs the
            label loss (DeiT: 0.5).
        tau: temperature of the soft distillation (DeiT: 1.0).
        label_smoothing: smoothing of the labels in the class head's loss
            (DeiT trains with 0.1; soft labels from MixUp / CutMix are used
            as they are when this is 0).

    Call args:
        images: `[batch, height, width, channels]`, as the student takes
            them (preprocessed).
        training: in training, a dict of both heads' logits (`"class"`,
            `"distillation"`); otherwise their mean, as the student
            outputs.

    `fit` takes integer class labels or one-hot / soft labels. Metrics
    compiled in see the mean of the heads, as inference does. After
    training, save or export `distiller.student`.
    """

    def __init__(self, student, teacher, distillation="hard", alpha=0.5,
                 tau=1.0, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(student, ImageClassifier) or not getattr(
                student.backbone, "distilled", False):
            raise ValueError(
                "DeiTDistiller: the student must be an ImageClassifier on a "
                "backbone with a distillation token (e.g. "
                "zoo.create_model('deit_tiny_patch16_224', distilled=True)); "
                f"got {type(student).__name__} {student.name!r}.")
        if student.activation is not None:
            raise ValueError(
                "DeiTDistiller: the student must output logits "
                f"(activation=None), got activation={student.activation!r}.")
        if distillation not in DISTILLATION_TYPES:
            raise ValueError(
                f"DeiTDistiller: distillation={distillation!r} is not one of "
                f"{list(DISTILLATION_TYPES)}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(
                f"DeiTDistiller: alpha={alpha} must be in [0, 1].")
        if tau <= 0:
            raise ValueError(f"DeiTDistiller: tau={tau} must be positive.")
        teacher_classes = teacher.outputs[0].shape[-1] if getattr(
            teacher, "outputs", None) else None
        if teacher_classes is not None and (
                teacher_classes != student.num_classes):
            raise ValueError(
                f"DeiTDistiller: the teacher outputs {teacher_classes} "
                f"classes, the student {student.num_classes}.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.distillation = distillation
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.label_smoothing = float(label_smoothing)
        # The two heads apart, on the student's own layers (no new weights).
        self._heads = keras.Model(
            student.input,
            [student.get_layer("predictions").output,
             student.get_layer("predictions_dist").output],
            name=f"{student.name}_heads")

    def call(self, images, training=False):
        class_logits, distillation_logits = self._heads(images,
                                                        training=training)
        if training:
            return {"class": class_logits,
                    "distillation": distillation_logits}
        return (class_logits + distillation_logits) / 2.0

    def _label_loss(self, y, logits):
        logits = keras.ops.cast(logits, "float32")
        classes = logits.shape[-1]
        sparse = len(y.shape) < len(logits.shape) or "int" in str(
            keras.backend.standardize_dtype(y.dtype))
        if sparse:
            y = keras.ops.one_hot(
                keras.ops.reshape(keras.ops.cast(y, "int32"), (-1,)),
                classes)
        y = keras.ops.cast(y, "float32")
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + (
                self.label_smoothing / classes)
        return keras.ops.mean(keras.losses.categorical_crossentropy(
            y, logits, from_logits=True))

    def _distillation_loss(self, teacher_logits, logits):
        logits = keras.ops.cast(logits, "float32")
        teacher_logits = keras.ops.cast(teacher_logits, "float32")
        if self.distillation == "hard":
            target = keras.ops.argmax(teacher_logits, axis=-1)
            return keras.ops.mean(
                keras.losses.sparse_categorical_crossentropy(
                    target, logits, from_logits=True))
        log_p = keras.ops.log_softmax(logits / self.tau, axis=-1)
        log_q = keras.ops.log_softmax(teacher_logits / self.tau, axis=-1)
        kl = keras.ops.sum(keras.ops.exp(log_q) * (log_q - log_p))
        count = keras.ops.cast(keras.ops.size(logits), "float32")
        return kl * (self.tau * self.tau) / count

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        """The DeiT loss of a training batch (see the module docstring);
        outside training, the label loss of the heads' mean."""
        if y_pred is None:
            y_pred = self(x, training=training)
        if isinstance(y_pred, dict):
            label_loss = self._label_loss(y, y_pred["class"])
            teacher_logits = self.teacher(x, training=False)
            loss = (1.0 - self.alpha) * label_loss + (
                self.alpha * self._distillation_loss(
                    teacher_logits, y_pred["distillation"]))
        else:
            loss = self._label_loss(y, y_pred)
        for extra in self.student.losses:
            loss = loss + keras.ops.cast(extra, "float32")
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Compiled metrics on the heads' mean (what inference outputs)."""
        if isinstance(y_pred, dict):
            y_pred = (y_pred["class"] + y_pred["distillation"]) / 2.0
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "distillation": self.distillation, "alpha": self.alpha,
            "tau": self.tau, "label_smoothing": self.label_smoothing,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = _deserialize(
            config["student"])
        config["teacher"] = _deserialize(
            config["teacher"])
        return cls(**config)


def _deserialize(spec):
    from zoo.registry import deserialize

    return deserialize(spec)
