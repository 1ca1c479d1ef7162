"""Task names: which task model wraps a preset's backbone.

`zoo.from_preset(handle, task="text_classifier", num_classes=2)` builds the
preset's backbone, loads its weights, and wraps it in the task model named
here (a new head, randomly initialised). A preset YAML's `task` key names
the default.

| name               | class                       | head arguments              |
|--------------------|-----------------------------|-----------------------------|
| `image_classifier` | `zoo.ImageClassifier`       | `num_classes`, `pooling`, `dropout`, `activation` |
| `text_classifier`  | `zoo.nlp.TextClassifier`    | `num_classes`, `dropout`, `activation` |
| `span_labeler`     | `zoo.nlp.SpanLabeler`       | (start/end logits)          |
| `token_classifier` | `zoo.nlp.TokenClassifier`   | `num_classes`, `dropout`    |
| `masked_lm`        | `zoo.nlp.MaskedLM`          | (tied output embedding)     |
"""

import importlib

from zoo.errors import PresetError, did_you_mean

#: task name -> "module:class", imported when used.
TASKS = {
    "image_classifier": "zoo.vision.image_classifier:ImageClassifier",
    "text_classifier": "zoo.nlp.tasks:TextClassifier",
    "span_labeler": "zoo.nlp.tasks:SpanLabeler",
    "token_classifier": "zoo.nlp.tasks:TokenClassifier",
    "masked_lm": "zoo.nlp.tasks:MaskedLM",
}

#: Tasks whose head size is given by `num_classes` (required).
TASKS_WITH_CLASSES = ("image_classifier", "text_classifier",
                      "token_classifier")


def get_task_class(name):
    """The task model class registered under `name`.

    Raises:
        PresetError: an unknown name; the message lists the closest ones.
    """
    if name not in TASKS:
        raise PresetError(
            f"Unknown task {name!r}.{did_you_mean(name, TASKS)} "
            f"Known tasks: {sorted(TASKS)}."
        )
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_task(name, backbone, num_classes=None, preprocessor=None,
               **kwargs):
    """Wraps `backbone` in the task model `name`.

    Args:
        name: str, a key of `TASKS`.
        backbone: the backbone (its weights are kept).
        num_classes: int, required by the tasks in `TASKS_WITH_CLASSES`.
        preprocessor: optional preprocessor attached to the task.
        **kwargs: head arguments of the task class.

    Returns:
        the task model.

    Raises:
        PresetError: unknown task, or `num_classes` missing where needed.
    """
    cls = get_task_class(name)
    if name in TASKS_WITH_CLASSES:
        if num_classes is None:
            raise PresetError(
                f"task={name!r} needs num_classes (the size of its new "
                "head), e.g. from_preset(..., task="
                f"{name!r}, num_classes=2)."
            )
        kwargs["num_classes"] = num_classes
    elif num_classes is not None:
        raise PresetError(
            f"task={name!r} takes no num_classes (got {num_classes})."
        )
    return cls(backbone, preprocessor=preprocessor, **kwargs)
