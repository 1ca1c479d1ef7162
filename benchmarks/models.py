"""Building what `zoo bench` measures: zoo models, their peers, their inputs.

A peer is the model a user would otherwise pick from another library, built
with random weights at the same input size and number of classes. Each
family declares its peers in `benchmarks/peers/<family>.py`
(`@register_peer`); `build_peer_model` picks the one for the zoo model's
family.
"""

import contextlib

import keras
import numpy as np

from benchmarks.errors import BenchError

@contextlib.contextmanager
def dtype_policy(name):
    """Sets Keras' global dtype policy inside the `with` block."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def model_kind(name):
    """`"image"` or `"text"`: the modality of a registered model."""
    from zoo.registry import get_model_entry

    return {"vision": "image", "text": "text"}.get(
        get_model_entry(name).modality, "other")


def build_zoo_model(name, settings):
    """Builds the registered model `name` with random weights.

    Image models get `input_shape=(img_size, img_size, 3)` and
    `num_classes`, unless `settings.model_args` sets them.

    Args:
        name: str, a registered model name.
        settings: `BenchSettings`.

    Returns:
        `(model, built)`: the Keras model and a description of the call.

    Raises:
        BenchError: the builder rejects the arguments (a `TypeError` or
            `ValueError` from it).
    """
    from zoo.registry import create_model

    kwargs = {}
    if model_kind(name) == "image":
        kwargs = {"input_shape": (settings.img_size, settings.img_size, 3),
                  "num_classes": settings.num_classes}
    kwargs.update(settings.model_args)
    try:
        model = create_model(name, **kwargs)
    except (TypeError, ValueError) as error:
        raise BenchError(
            f"zoo model {name!r} rejects the arguments {kwargs}: {error}"
        ) from None
    return model, f"zoo.create_model({name!r})"


def build_peer_model(source, name, zoo_model):
    """Builds the `source` library's counterpart of a zoo model.

    Args:
        source: str, one of `settings.PEER_SOURCES`.
        name: str, the zoo model's registered name.
        zoo_model: the zoo model, already built (its input shape, classes
            and stages are copied).

    Returns:
        `(peer_model, built)`, built a description like
        `"keras.applications.ResNet50"`.

    Raises:
        BenchError: the library has no counterpart of this model.
    """
    from benchmarks.errors import check_choice
    from benchmarks.peers import find_peer
    from benchmarks.settings import PEER_SOURCES

    check_choice("peer", source, PEER_SOURCES)
    build = find_peer(source, name, zoo_model)
    try:
        return build(name, zoo_model)
    except ValueError as error:
        if isinstance(error, BenchError):
            raise
        raise BenchError(
            f"{source} cannot build a counterpart of zoo model {name!r}: "
            f"{error}"
        ) from None


def _vocabulary_size(model):
    for holder in (model, getattr(model, "backbone", None)):
        size = getattr(holder, "vocabulary_size", None)
        if isinstance(size, int) and size > 0:
            return size
    return 100


def _fill_shape(shape, batch_size, settings, kind):
    """Replaces unknown dimensions: batch first, then image size or length."""
    dims = [batch_size]
    for dim in shape[1:]:
        if dim is None:
            dim = settings.img_size if kind == "image" else settings.seq_len
        dims.append(dim)
    return tuple(dims)


def make_inputs(model, batch_size, settings, seed=0):
    """Random inputs for `model`, shaped and typed as its `keras.Input`s.

    Float inputs are standard normal; integer inputs are token ids below the
    model's `vocabulary_size` (100 when it has none), except inputs named
    `*mask*` (all ones) and `*segment*` (all zeros).

    Args:
        model: a functional Keras model.
        batch_size: int.
        settings: `BenchSettings` (image size, sequence length).
        seed: int.

    Returns:
        a numpy array, or a dict of them by input name for several inputs.
    """
    rng = np.random.default_rng(seed)
    kind = "image" if len(model.inputs) == 1 and len(
        model.inputs[0].shape) == 4 else "text"
    arrays = {}
    for tensor in model.inputs:
        shape = _fill_shape(tuple(tensor.shape), batch_size, settings, kind)
        dtype = str(tensor.dtype)
        name = tensor.name
        if "float" in dtype:
            array = rng.standard_normal(shape).astype("float32")
        elif "mask" in name or dtype == "bool":
            array = np.ones(shape, dtype=dtype)
        elif "segment" in name:
            array = np.zeros(shape, dtype=dtype)
        else:
            array = rng.integers(0, _vocabulary_size(model),
                                 size=shape).astype(dtype)
        arrays[name] = array
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    struct = model._inputs_struct
    if isinstance(struct, dict):
        return {key: arrays[t.name] for key, t in struct.items()}
    return [arrays[t.name] for t in model.inputs]


def describe_input_shape(inputs):
    """One sample's shape, `"224x224x3"`, of the first input."""
    first = keras.tree.flatten(inputs)[0]
    return "x".join(str(d) for d in first.shape[1:]) or "scalar"


#: `make_training_setup`'s loss for models that train with their own loss
#: (compiled without a `loss` argument).
OWN_LOSS = ...


def _random_boxes(batch_size, image_size, rng, count=4):
    """`count` random boxes a side of 1/16 to 1/2 of the image, yxyx pixels,
    and their classes."""
    h, w = image_size
    sides = rng.uniform(1 / 16, 1 / 2, (batch_size, count, 2)) * (h, w)
    tops = rng.uniform(0, 1, (batch_size, count, 2)) * ((h, w) - sides)
    boxes = np.concatenate([tops, tops + sides], axis=-1).astype("float32")
    return boxes


def _detection_training_setup(model, batch_size, rng):
    """A detector's own loss and targets of random boxes, or None.

    zoo's `ObjectDetector` trains on anchor targets made in the input
    pipeline (`anchor_targets`), keras-hub's `RetinaNetObjectDetector` on
    boxes and labels it encodes inside the step; each as its users train
    it.
    """
    from zoo.vision.detection.object_detector import ObjectDetector

    if isinstance(model, ObjectDetector):
        boxes = _random_boxes(batch_size, model.image_size, rng)
        classes = rng.integers(0, model.num_classes, boxes.shape[:2])
        targets = model.anchor_targets(boxes, classes)
        return OWN_LOSS, {k: keras.ops.convert_to_numpy(targets[k]) for k in
                          ("class_targets", "box_targets", "class_weights",
                           "box_weights")}
    if type(model).__name__ == "RetinaNetObjectDetector":
        size = tuple(model.backbone.image_shape)[:2]
        boxes = _random_boxes(batch_size, size, rng)
        labels = rng.integers(0, model.num_classes, boxes.shape[:2])
        return OWN_LOSS, {"boxes": boxes, "labels": labels.astype("int32")}
    return None


def _is_segmentation_output(model, inputs):
    """One image input and one output of per-pixel logits at its size."""
    if len(model.outputs) != 1 or len(model.inputs) != 1:
        return False
    out = tuple(model.outputs[0].shape)
    images = keras.tree.flatten(inputs)[0].shape
    return (len(out) == 4 and len(images) == 4 and (out[-1] or 0) > 1
            and tuple(out[1:3]) == tuple(images[1:3]))


def make_training_setup(model, inputs, seed=0):
    """Loss and targets to train `model` on random data.

    A model with one `[batch, classes]` output trains with sparse categorical
    cross-entropy on random labels (logits, as zoo and the peers are built),
    one with `[batch, height, width, classes]` logits at its image input's
    size (a segmenter) likewise on random per-pixel labels; a detector with its own loss (`OWN_LOSS`) on random boxes; any other
    model with mean squared error towards zeros, on every output.

    Args:
        model: a functional Keras model.
        inputs: the inputs `make_inputs` made (their batch size is used, and
            they are run once when an output shape is not static).
        seed: int.

    Returns:
        `(loss, targets)` for `model.compile(loss=...)` and
        `model.train_on_batch(inputs, targets)`.
    """
    rng = np.random.default_rng(seed)
    batch_size = keras.tree.flatten(inputs)[0].shape[0]
    detection = _detection_training_setup(model, batch_size, rng)
    if detection is not None:
        return detection
    outputs = model.outputs
    if len(outputs) == 1 and len(outputs[0].shape) == 2 \
            and (outputs[0].shape[-1] or 0) > 1:
        labels = rng.integers(0, outputs[0].shape[-1], size=(batch_size,))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return loss, labels
    if _is_segmentation_output(model, inputs):
        shape = tuple(outputs[0].shape)
        # [B, H, W, 1]: keras-hub's segmenters compile a default accuracy
        # metric that needs the trailing axis; the loss squeezes it.
        labels = rng.integers(0, shape[-1],
                              size=(batch_size,) + shape[1:3] + (1,))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return loss, labels.astype("int32")
    struct = model._outputs_struct
    if any(d is None for t in outputs for d in t.shape[1:]):
        struct = model(inputs, training=False)

    def zeros(tensor):
        return np.zeros((batch_size,) + tuple(tensor.shape[1:]), "float32")

    targets = keras.tree.map_structure(zeros, struct)
    loss = keras.tree.map_structure(lambda _: "mean_squared_error", struct)
    return loss, targets
