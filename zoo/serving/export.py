"""`zoo.export`: SavedModel and LiteRT artifacts with the preprocessing and
the post-processing inside, verified against the Keras model.

The network is converted by Keras' own `Model.export` (TensorFlow: traced
directly; JAX: through jax2tf), into a temporary SavedModel. The serving
function is TensorFlow code around it: decoding, the preset's
`ImagePreprocessor` or `TextPreprocessor` (Keras layers that run in a
TensorFlow graph on any backend), softmax and top-k, or pooling. The
artifact is written under a temporary name, run on sample inputs and
compared with the Keras model; only then is it renamed into place, with
its card (`zoo_export.json`) beside it.
"""

import datetime
import json
import logging
import math
import os
import shutil
import tempfile

import numpy as np

from zoo.errors import ZooError

logger = logging.getLogger(__name__)

#: Export formats.
FORMATS = ("saved_model", "tflite")
#: Input types per kind of model; the first is the default.
INPUT_TYPES = {
    "image_classifier": ("image_tensor", "image_bytes", "tf_example"),
    "text_encoder": ("text",),
}
#: The card written next to every artifact.
CARD_NAME = "zoo_export.json"
#: Largest max-abs difference a float export may have from the Keras model
#: (probabilities, embeddings; logits relative to their largest magnitude).
TOLERANCE = 1e-4
#: `quantize` values, LiteRT only: dynamic-range int8 weights.
QUANTIZATIONS = (None, "int8")
#: The Model Garden's TF Example key of the encoded image.
IMAGE_KEY = "image/encoded"


class ExportError(ZooError, ValueError):
    """A model, format or input type that cannot be exported as asked, or an
    artifact that failed its check against the Keras model."""


def export(model, path, *, format="saved_model", input_type=None, top_k=5,
           fuse=True, quantize=None, input_size=None, class_names=None, samples=None, source=None, verify=True):
    """Exports `model` for serving and checks the artifact against it.

    Args:
        model: a zoo `ImageClassifier` or text encoder with its
            preprocessor attached (`zoo.from_preset(...)` attaches it), or
            a preset handle (str) that `zoo.from_preset` loads.
        path: SavedModel: a directory, written in TF Serving's layout
            (`path/<version>/saved_model.pb`, the next free version);
            LiteRT: the `.tflite` file.
        format: one of `FORMATS`.
        input_type: image classifiers: `"image_tensor"` (default; uint8
            `[batch, height, width, channels]`, any size),
            `"image_bytes"` (encoded images `[batch]`) or `"tf_example"`
            (serialised examples, the image under `image/encoded`); text
            encoders: `"text"`. LiteRT takes `image_tensor` only.
        top_k: classes in the `top_k_*` outputs (at most the class count).
        fuse: fold batch norms into the convolutions first
            (`zoo.fusion.fuse_batch_norm`), where the model has any.
        quantize: LiteRT only: `"int8"` (post-training dynamic-range
            quantisation: int8 weights, float activations); its check
            reports the difference and the top-1 agreement instead of
            holding it to the float tolerance.
        input_size: LiteRT only: `(height, width)` of its uint8 input
            (default: the preset's resize size, `floor(size / crop_pct)`
            per side); the resize and crop to the model's size are inside.
        class_names: names of the classes, for the `top_k_names` output;
            default: ImageNet's for 1,000 (1,001) classes, else none.
        samples: uint8 images (or strings for text encoders) the check runs
            on; default: a few made here.
        source: dict recorded in the card (preset name, hash, ...).
        verify: run the check (on by default; the artifact is not renamed
            into place when it fails).

    Returns:
        the card (a dict, also written to `CARD_NAME` beside the artifact):
        format, input type, inputs and outputs with shapes and dtypes, the
        check's `max_abs_diff`, versions, source.

    Raises:
        ExportError: an unknown format, input type or quantisation; a model
            without its preprocessor; a conversion the converter refuses
            (naming the op and the formats that work); a failed check.
    """
    if isinstance(model, str):
        import zoo

        handle = model
        model = zoo.from_preset(handle)
        source = dict(source or {}, preset=handle)
    if format not in FORMATS:
        raise ExportError(
            f"unknown export format {format!r}; choose one of "
            f"{list(FORMATS)}.")
    kind = model_kind(model)
    valid = INPUT_TYPES[kind]
    input_type = input_type or valid[0]
    if input_type not in valid:
        raise ExportError(
            f"input_type={input_type!r} does not suit a {kind.replace('_', ' ')}"
            f"; choose one of {list(valid)}.")
    if quantize not in QUANTIZATIONS:
        raise ExportError(
            f"quantize={quantize!r} is not one of {list(QUANTIZATIONS)}.")
    if quantize and format != "tflite":
        raise ExportError(
            f"quantize={quantize!r} applies to format='tflite' (LiteRT "
            "post-training quantisation); a SavedModel is exported in the "
            "model's own precision.")
    if format == "tflite" and input_type != "image_tensor":
        raise ExportError(
            f"format='tflite' takes input_type='image_tensor' (LiteRT has no "
            f"image decoding or tokenizer); {input_type!r} works with "
            "'saved_model'.")
    if input_size is not None and format != "tflite":
        raise ExportError(
            "input_size fixes a LiteRT file's input; a SavedModel takes "
            "images of any size.")
    if kind == "image_classifier":
        _check_top_k(top_k)

    import tensorflow as tf

    from zoo.serving import signatures

    network, fused = _network(model, fuse)
    work = tempfile.mkdtemp(prefix="zoo-export-")
    try:
        core_dir = os.path.join(work, "network")
        _export_network(network, core_dir, kind)
        core = tf.saved_model.load(core_dir)
        if kind == "image_classifier":
            names = class_names if class_names is not None else (
                default_class_names(model.num_classes))
            if names is not None and len(names) != model.num_classes:
                raise ExportError(
                    f"{len(names)} class names for {model.num_classes} "
                    "classes.")
            if format == "tflite":
                input_size = _litert_input_size(model, input_size)
                if samples is None:
                    from zoo.serving.checks import sample_images

                    samples = sample_images(model, size=input_size)
            module, spec, outputs = signatures.image_classifier(
                core, model, input_type, min(top_k, model.num_classes),
                names, input_size=input_size)
        else:
            module, spec, outputs = signatures.text_encoder(core, model)
        fields = {"fused": fused, "outputs": outputs, "source": source or {},
                  "inputs": {"images" if kind == "image_classifier"
                             else "text": spec}}
        if format == "saved_model":
            return _write_saved_model(module, path, model, kind, input_type,
                                      samples, verify, fields)
        from zoo.serving import litert

        return litert.write(module, path, work, model, quantize, samples,
                            verify, fields)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_kind(model):
    """`"image_classifier"` or `"text_encoder"`, or ExportError naming what
    the model lacks."""
    from zoo.vision.image_classifier import ImageClassifier

    from zoo.nlp.encoders.base import TextEncoder

    preprocessor = getattr(model, "preprocessor", None)
    if isinstance(model, ImageClassifier):
        kind = "image_classifier"
    elif isinstance(model, TextEncoder):
        kind = "text_encoder"
    else:
        raise ExportError(
            f"zoo.export takes an ImageClassifier or a text encoder; got "
            f"{type(model).__name__} {getattr(model, 'name', '')!r}.")
    if preprocessor is None:
        raise ExportError(
            f"{model.name} has no preprocessor, so the artifact could not "
            "take raw inputs: load it with zoo.from_preset(...) or attach "
            "one (model.preprocessor = zoo.ImagePreprocessor(...) / "
            "zoo.TextPreprocessor(...)).")
    return kind


def default_class_names(num_classes):
    """ImageNet's class names for 1,000 classes (1,001: background first),
    else None."""
    from zoo.vision.image_classifier import imagenet_class_names

    if num_classes == 1000:
        return list(imagenet_class_names())
    if num_classes == 1001:
        return ["background", *imagenet_class_names()]
    return None


def read_card(path):
    """The card of an exported artifact: `path` is the card, the artifact
    (a `.tflite` file, a SavedModel version directory) or a TF Serving
    model directory (its newest version)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        candidate = os.path.join(path, CARD_NAME)
        if not os.path.exists(candidate):
            versions = _versions(path)
            if versions:
                candidate = os.path.join(path, str(versions[-1]), CARD_NAME)
    elif path.endswith(".json"):
        candidate = path
    else:
        candidate = path + ".json"
    if not os.path.exists(candidate):
        raise ExportError(f"no export card ({CARD_NAME}) at {path!r}.")
    with open(candidate) as f:
        return json.load(f)


# --- the pieces ---------------------------------------------------------


def _check_top_k(top_k):
    if not isinstance(top_k, int) or top_k < 1:
        raise ExportError(f"top_k must be a positive int, got {top_k!r}.")


def _litert_input_size(model, input_size):
    preprocessor = model.preprocessor
    if input_size is None:
        return tuple(math.floor(side / preprocessor.crop_pct)
                     for side in preprocessor.image_size)
    size = tuple(int(s) for s in input_size)
    if len(size) != 2 or min(size) < 1:
        raise ExportError(
            f"input_size must be (height, width), got {input_size!r}.")
    return size


def _network(model, fuse):
    """The network to convert: batch norms folded when asked and present."""
    import keras

    if not fuse:
        return model, False
    has_batch_norm = any(isinstance(layer, keras.layers.BatchNormalization)
                         for layer in _all_layers(model))
    if not has_batch_norm:
        return model, False
    from zoo.fusion import fuse_batch_norm

    return fuse_batch_norm(model), True


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _export_network(network, directory, kind):
    """Keras' `Model.export` of the bare network, batch dimension free."""
    import tensorflow as tf

    if kind == "image_classifier":
        shape = (None,) + tuple(network.inputs[0].shape[1:])
        signature = [tf.TensorSpec(shape, "float32")]
    else:
        # A TextEncoder's inputs: a dict of int32 [batch, sequence], the
        # sequence as long as the preprocessor packs (fixed: jax2tf cannot
        # slice position embeddings to a symbolic length).
        length = network.preprocessor.sequence_length
        signature = [{key: tf.TensorSpec((None, length), "int32")
                      for key in ("token_ids", "segment_ids",
                                  "padding_mask")}]
    try:
        network.export(directory, format="tf_saved_model", verbose=False,
                       input_signature=signature)
    except Exception as error:  # the converter's own message names the op
        raise ExportError(
            f"Keras could not convert {network.name} to a SavedModel: "
            f"{_first_line(error)}") from error


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _versions(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


def _write_saved_model(module, path, model, kind, input_type, samples,
                       verify, fields):
    import tensorflow as tf

    from zoo.serving import checks

    path = os.fspath(path)
    if os.path.isfile(path):
        raise ExportError(
            f"{path!r} is a file; a SavedModel is exported into a "
            "directory (TF Serving's layout: <dir>/<version>/).")
    versions = _versions(path)
    version = versions[-1] + 1 if versions else 1
    os.makedirs(path, exist_ok=True)
    staging = os.path.join(path, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # No gradients in a serving artifact (and jax2tf's custom ones do
        # not survive a second save).
        tf.saved_model.save(
            module, staging,
            signatures={"serving_default": module.serve},
            options=tf.saved_model.SaveOptions(
                experimental_custom_gradients=False))
        card = _base_card("saved_model", input_type, model)
        card["version"] = version
        if verify:
            loaded = tf.saved_model.load(staging)
            run = loaded.signatures["serving_default"]
            card["max_abs_diff"] = checks.check(
                model, kind, input_type,
                lambda inputs: {k: v.numpy() for k, v in run(**inputs).items()},
                samples)
        final = os.path.join(path, str(version))
        card["path"] = final
        card.update(fields)
        write_card(card, os.path.join(staging, CARD_NAME))
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card


def _base_card(format, input_type, model):
    import keras

    import zoo

    return {
        "format": format,
        "input_type": input_type,
        "model": model.name,
        "num_classes": getattr(model, "num_classes", None),
        "zoo_version": zoo.__version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "tensorflow_version": __import__("tensorflow").__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
    }


def write_card(card, card_path):
    """Writes `card` as JSON to `card_path`, atomically."""
    tmp = card_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(card, f, indent=2, default=_jsonable)
    os.replace(tmp, card_path)


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    return str(value)
