"""What every preset format shares: the options of `from_preset`, deciding
which head to build, loading converted weights, attaching preprocessors.

The rule, the same for every format (and the same as `create_model`'s):
the weights hold a backbone, and maybe a task head (`default_task` with
`head_classes` classes). `task` defaults to that task (None for a
backbone's weights); a different task, or another `num_classes`, gets a
new, randomly initialised head on the pretrained backbone (said in a log
line); `features_only` returns the backbone with its multi-level outputs.
"""

import dataclasses
import logging

from zoo.errors import CorruptFileError, PresetError, WeightsError

logger = logging.getLogger("zoo")


@dataclasses.dataclass
class LoadOptions:
    """The arguments of `from_preset`, carried to the format's loader.

    Attributes:
        num_classes: int or None.
        load_weights: bool.
        dtype: dtype policy name or None.
        features_only: bool.
        task: task model name, None (the backbone), or `...` (the
            preset's own).
        kwargs: dict, architecture overrides and task head arguments.
    """

    num_classes: object = None
    load_weights: bool = True
    dtype: object = None
    features_only: bool = False
    task: object = ...
    kwargs: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Plan:
    """The model to build for a preset and the options.

    Attributes:
        task: the task model, or None for the backbone.
        num_classes: the head size to build, or None.
        include_head: whether the weights' head is loaded.
        head_kwargs: arguments of the task model.
        backbone_kwargs: arguments of the backbone (`dtype` and
            `features_only` included).
        same_task_name: the task, when it is the one the weights include.
    """

    task: object
    num_classes: object
    include_head: bool
    head_kwargs: dict
    backbone_kwargs: dict
    same_task_name: object = None


def plan_model(options, *, default_task, head_classes, source):
    """Decides task, head and where each argument goes.

    Args:
        options: `LoadOptions`.
        default_task: the task model the weights include, or None.
        head_classes: the classes of that head (None without one).
        source: str, for messages.

    Raises:
        PresetError: `num_classes` for a backbone's weights without `task`.
    """
    from zoo.registry import split_task_arguments

    task = default_task if options.task is ... else options.task
    if options.features_only:
        task = None
    num_classes = options.num_classes
    if task is None and num_classes is not None and not options.features_only:
        raise PresetError(
            f"{source} holds a backbone without a classifier head; pass "
            "task= with num_classes (e.g. task='text_classifier' or "
            "task='image_classifier').")
    same_task = task is not None and task == default_task
    include_head = same_task and num_classes in (None, head_classes)
    if same_task and num_classes is None:
        num_classes = head_classes
    head, rest = split_task_arguments(task, options.kwargs)
    if options.dtype is not None:
        rest["dtype"] = options.dtype
        if task is not None:
            head["dtype"] = options.dtype
    if options.features_only:
        rest["features_only"] = True
    return Plan(task=task, num_classes=num_classes,
                include_head=include_head, head_kwargs=head,
                backbone_kwargs=rest,
                same_task_name=default_task if same_task else None)


def assemble(plan, backbone):
    """The backbone under the planned task model (or alone)."""
    from zoo.registry import build_task_model

    if plan.task is None:
        return backbone
    return build_task_model(plan.task, backbone,
                            num_classes=plan.num_classes, **plan.head_kwargs)


def say_new_head(plan, model, source, head_classes):
    """Logs that a head is new (randomly initialised), when it is."""
    if plan.task is None or plan.include_head:
        return
    if (head_classes is not None and plan.num_classes is not None
            and plan.num_classes != head_classes
            and getattr(model, "task_name", None) == plan.same_task_name):
        logger.info("Preset %s has a %d-class head; built a new %d-class "
                    "head (randomly initialised) on its backbone weights.",
                    source, head_classes, plan.num_classes)
    else:
        logger.info("Built a %s on the backbone of %s; its head is new "
                    "(randomly initialised).", type(model).__name__, source)


def load_converted(model, path, converter, include_head, source):
    """Converts the weights file `path` into `model`; a corrupt cached file
    is removed so that the next load fetches it again."""
    from zoo.convert import load_weights_file
    from zoo.presets.download import remove_cached

    try:
        load_weights_file(model, path, converter, include_head=include_head)
    except CorruptFileError as e:
        if remove_cached(path):
            raise CorruptFileError(
                f"{e} It came from {source}; the bad cache entry was removed,"
                " so the next load downloads it again.") from None
        raise


def load_keras_weights(model, weights_path, source):
    """`model.load_weights(weights_path)`, errors named after `source`."""
    try:
        model.load_weights(weights_path)
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(
            f"Cannot load {weights_path} ({source}) into {model.name}: {e}"
        ) from None


def attach_image_preprocessor(model, preprocessing):
    """Sets an `ImagePreprocessor` on a task model (dict of its arguments),
    a `DetectionPreprocessor` on a detector."""
    from zoo.task import Task
    from zoo.vision.detection.object_detector import ObjectDetector
    from zoo.vision.detection.preprocessing import DetectionPreprocessor
    from zoo.vision.preprocessing import ImagePreprocessor

    if isinstance(model, ObjectDetector) and preprocessing:
        # A detector keeps the aspect ratio and pads (no crop).
        model.preprocessor = DetectionPreprocessor(**{
            k: v for k, v in preprocessing.items()
            if k in ("image_size", "scale", "mean", "std", "interpolation")})
    elif isinstance(model, Task) and preprocessing:
        model.preprocessor = ImagePreprocessor(**preprocessing)
    return model


def attach_text_preprocessor(model, preprocessor):
    """Sets a text preprocessor on an encoder and on its task model, after
    checking that it fits the encoder's vocabulary and positions."""
    from zoo.nlp.encoders.base import check_preprocessor_fits

    if preprocessor is None:
        return model
    backbone = getattr(model, "backbone", None) or model
    check_preprocessor_fits(backbone, preprocessor)
    backbone.preprocessor = preprocessor
    if model is not backbone:
        model.preprocessor = preprocessor
    return model


def attach_gguf_tokenizer(model, path):
    """Gives a `CausalLM` the byte-level BPE tokenizer and chat template of
    the GGUF file its weights came from (a bare decoder gets none)."""
    if not hasattr(model, "set_tokenizer"):
        return
    from zoo.nlp.gguf import GGUFFile

    model.set_tokenizer(GGUFFile(path).tokenizer())


def text_preprocessor(preprocessing, assets):
    """A `TextPreprocessor` from preset preprocessing and asset paths."""
    from zoo.nlp.tokenizers import preprocessor_from_preset_config

    return preprocessor_from_preset_config(preprocessing, assets)
