"""Building what `zoo bench` measures: zoo models, their peers, their inputs.

A peer is the model a user would otherwise pick from another library, built
with random weights at the same input size and number of classes:

| zoo model                      | keras.applications | keras_hub             |
|--------------------------------|--------------------|-----------------------|
| `resnet50`, `101`, `152`       | `ResNet50/101/152` | ResNetImageClassifier |
| any other zoo ResNet (no SE)   | --                 | ResNetImageClassifier |
| `bert_{tiny..large}_*`         | --                 | BertBackbone          |

keras-hub's ResNet is built with the zoo model's stages, widths and stem;
its BERT with the size in the zoo name.

keras.applications' ResNets are v1 (stride in the first 1x1 of a block);
keras-hub's are v1.5 like zoo's default, so against keras.applications
compare `block_variant=v1` for equal FLOPs (the `gflops_per_sample` column
shows the difference).
"""

import contextlib

import keras
import numpy as np

from training.bench.errors import BenchError

#: Sizes of BERT (layers, heads, hidden, intermediate), from the BERT paper
#: (Devlin et al. 2018) and the smaller ones of Turc et al. 2019.
BERT_SIZES = {
    "bert_tiny": (2, 2, 128, 512),
    "bert_mini": (4, 4, 256, 1024),
    "bert_small": (4, 8, 512, 2048),
    "bert_medium": (8, 8, 512, 2048),
    "bert_base": (12, 12, 768, 3072),
    "bert_large": (24, 16, 1024, 4096),
}
BERT_VOCABULARY_SIZE = 30522
KERAS_APPLICATIONS_RESNETS = {
    (3, 4, 6, 3): "ResNet50",
    (3, 4, 23, 3): "ResNet101",
    (3, 8, 36, 3): "ResNet152",
}


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
    """`"image"`, `"text"` or `"other"`: the family of a registered model."""
    from zoo.registry import get_model_entry

    module = get_model_entry(name).builder.__module__
    if module.startswith("zoo.vision"):
        return "image"
    if module.startswith("zoo.nlp"):
        return "text"
    return "other"


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


def _resnet_parts(model):
    from zoo.vision.backbones.resnet import ResNetBackbone

    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, ResNetBackbone) and hasattr(model, "num_classes"):
        return backbone, model.num_classes
    return None, None


def _keras_applications_peer(name, model):
    backbone, num_classes = _resnet_parts(model)
    stages = tuple(backbone.stage_blocks) if backbone is not None else None
    if (
        backbone is None
        or stages not in KERAS_APPLICATIONS_RESNETS
        or backbone.block_type != "bottleneck"
        or backbone.stem_type != "basic"
        or backbone.avg_down
        or backbone.se_ratio
        or tuple(backbone.stage_filters) != (64, 128, 256, 512)
        or backbone.data_format != "channels_last"
    ):
        raise BenchError(
            f"keras.applications has no counterpart of zoo model {name!r}; "
            "it has ResNet-50/101/152 (zoo resnet50, resnet101, resnet152)."
        )
    class_name = KERAS_APPLICATIONS_RESNETS[stages]
    builder = getattr(keras.applications, class_name)
    peer = builder(
        weights=None,
        input_shape=tuple(backbone.image_shape),
        classes=num_classes,
        classifier_activation=None,
    )
    return peer, f"keras.applications.{class_name}"


def _keras_hub_resnet(backbone, num_classes):
    import keras_hub

    if backbone.se_ratio or backbone.data_format != "channels_last":
        raise BenchError(
            "keras_hub has no ResNet with squeeze-excitation or channels_first"
            f" data; {backbone.name} has se_ratio={backbone.se_ratio}, "
            f"data_format={backbone.data_format!r}."
        )
    width = backbone.stem_width
    if backbone.stem_type == "deep":
        stem = {"input_conv_filters": [width, width, 2 * width],
                "input_conv_kernel_sizes": [3, 3, 3]}
    else:
        stem = {"input_conv_filters": [width],
                "input_conv_kernel_sizes": [7]}
    block_type = f"{backbone.block_type}_block"
    if backbone.avg_down:
        block_type += "_vd"
    hub_backbone = keras_hub.models.ResNetBackbone(
        stackwise_num_filters=list(backbone.stage_filters),
        stackwise_num_blocks=list(backbone.stage_blocks),
        stackwise_num_strides=[1] + [2] * (len(backbone.stage_blocks) - 1),
        block_type=block_type,
        image_shape=tuple(backbone.image_shape),
        **stem,
    )
    return keras_hub.models.ResNetImageClassifier(
        backbone=hub_backbone, num_classes=num_classes
    ), "keras_hub.models.ResNetImageClassifier"


def _bert_size(name):
    matches = [key for key in BERT_SIZES if name == key or
               name.startswith(key + "_")]
    return BERT_SIZES[max(matches, key=len)] if matches else None


def _keras_hub_peer(name, model):
    backbone, num_classes = _resnet_parts(model)
    if backbone is not None:
        return _keras_hub_resnet(backbone, num_classes)
    size = _bert_size(name)
    if size is not None:
        import keras_hub

        layers, heads, hidden, intermediate = size
        vocabulary = getattr(model, "vocabulary_size", None) or getattr(
            getattr(model, "backbone", None), "vocabulary_size", None)
        peer = keras_hub.models.BertBackbone(
            vocabulary_size=vocabulary or BERT_VOCABULARY_SIZE,
            num_layers=layers,
            num_heads=heads,
            hidden_dim=hidden,
            intermediate_dim=intermediate,
        )
        return peer, "keras_hub.models.BertBackbone"
    raise BenchError(
        f"keras_hub has no counterpart of zoo model {name!r}; it has the zoo "
        f"ResNets and {', '.join(BERT_SIZES)}."
    )


PEER_BUILDERS = {
    "keras.applications": _keras_applications_peer,
    "keras_hub": _keras_hub_peer,
}


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
    from training.bench.errors import check_choice

    check_choice("peer", source, PEER_BUILDERS)
    try:
        return PEER_BUILDERS[source](name, zoo_model)
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


def make_training_setup(model, inputs, seed=0):
    """Loss and targets to train `model` on random data.

    A model with one `[batch, classes]` output trains with sparse categorical
    cross-entropy on random labels (logits, as zoo and the peers are built);
    any other model with mean squared error towards zeros, on every output.

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
    outputs = model.outputs
    if len(outputs) == 1 and len(outputs[0].shape) == 2 \
            and (outputs[0].shape[-1] or 0) > 1:
        labels = rng.integers(0, outputs[0].shape[-1], size=(batch_size,))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return loss, labels
    struct = model._outputs_struct
    if any(d is None for t in outputs for d in t.shape[1:]):
        struct = model(inputs, training=False)

    def zeros(tensor):
        return np.zeros((batch_size,) + tuple(tensor.shape[1:]), "float32")

    targets = keras.tree.map_structure(zeros, struct)
    loss = keras.tree.map_structure(lambda _: "mean_squared_error", struct)
    return loss, targets
