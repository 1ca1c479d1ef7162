"""`zoo.export`: SavedModel, LiteRT and ONNX artifacts with the
preprocessing and the post-processing inside, verified against the Keras
model.

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
FORMATS = ("saved_model", "tflite", "onnx")
#: Input types per kind of model; the first is the default.
INPUT_TYPES = {
    "image_classifier": ("image_tensor", "image_bytes", "tf_example"),
    "text_encoder": ("text",),
    "object_detector": ("image_tensor", "image_bytes", "tf_example"),
}
#: Formats each kind of model exports to (a detector's NMS has no LiteRT
#: or ONNX form here yet).
KIND_FORMATS = {"image_classifier": FORMATS, "text_encoder": FORMATS,
                "object_detector": ("saved_model",)}
#: The card written next to every artifact.
CARD_NAME = "zoo_export.json"
#: Largest max-abs difference a float export may have from the Keras model
#: (probabilities, embeddings; logits relative to their largest magnitude).
TOLERANCE = 1e-4
#: `quantize` values and the formats that take them: `"int8"` weights
#: (SavedModel: Keras' `Model.quantize`; LiteRT: post-training dynamic
#: range; ONNX: ONNX Runtime's dynamic quantisation), `"int8_full"` (LiteRT:
#: weights and activations, calibrated on representative images).
QUANTIZATIONS = {
    None: FORMATS,
    "int8": ("saved_model", "tflite", "onnx"),
    "int8_full": ("tflite",),
}
#: `precision` values and the formats that take them (bfloat16: where the
#: CPU has bfloat16 kernels, TensorFlow's oneDNN ones).
PRECISIONS = {"float32": FORMATS, "bfloat16": ("saved_model",)}
#: Formats whose input is one fixed image size (no decoder, no resize op).
FIXED_SIZE_FORMATS = ("tflite", "onnx")
#: The Model Garden's TF Example key of the encoded image.
IMAGE_KEY = "image/encoded"


class ExportError(ZooError, ValueError):
    """A model, format or input type that cannot be exported as asked, or an
    artifact that failed its check against the Keras model."""


def export(model, path, *, format="saved_model", input_type=None, top_k=5,
           fuse=True, quantize=None, precision="float32", input_size=None,
           class_names=None, samples=None, representative=None,
           evaluation=None, source=None, verify=True):
    """Exports `model` for serving and checks the artifact against it.

    Args:
        model: a zoo `ImageClassifier`, `ObjectDetector` (SavedModel,
            float32: decoded boxes after NMS out) or text encoder with its
            preprocessor attached (`zoo.from_preset(...)` attaches it), or
            a preset handle (str) that `zoo.from_preset` loads.
        path: SavedModel: a directory, written in TF Serving's layout
            (`path/<version>/saved_model.pb`, the next free version);
            LiteRT and ONNX: the `.tflite` / `.onnx` file.
        format: one of `FORMATS`.
        input_type: image models: `"image_tensor"` (default; uint8
            `[batch, height, width, channels]`, any size),
            `"image_bytes"` (encoded images `[batch]`) or `"tf_example"`
            (serialised examples, the image under `image/encoded`); text
            encoders: `"text"`. LiteRT and ONNX take `image_tensor` only.
        top_k: classes in the `top_k_*` outputs (at most the class count).
        fuse: fold batch norms into the convolutions first
            (`zoo.fusion.fuse_batch_norm`), where the model has any.
        quantize: None, `"int8"` (int8 weights: Keras' `Model.quantize`
            for a SavedModel, dynamic-range post-training quantisation for
            LiteRT and ONNX) or `"int8_full"` (LiteRT: int8 weights and
            activations, calibrated on `representative`); see
            `QUANTIZATIONS`. Its check reports the difference and the
            top-1 agreement instead of holding it to the float tolerance.
        precision: `"float32"` or `"bfloat16"` (SavedModel: the network's
            weights and arithmetic in bfloat16; checked like `quantize`).
        input_size: LiteRT and ONNX: `(height, width)` of their uint8
            input (default: the preset's resize size, `floor(size /
            crop_pct)` per side); the resize and crop to the model's size
            are inside.
        class_names: names of the classes, for the `top_k_names` output;
            default: ImageNet's for 1,000 (1,001) classes, else none.
        samples: uint8 images (or strings for text encoders) the check runs
            on; default: a few made here.
        representative: uint8 images `int8_full` calibrates on (the
            experiment's validation data, say); default: `samples`.
        evaluation: `(images, labels)`, held-out uint8 images and their
            class ids: the top-1 accuracy of the Keras model and of the
            artifact on them goes in the card (`accuracy`). For fixed-size
            formats the images are first resized to `input_size`, and both
            see the resized ones.
        source: dict recorded in the card (preset name, hash, ...).
        verify: run the check (on by default; the artifact is not renamed
            into place when it fails).

    Returns:
        the card (a dict, also written to `CARD_NAME` beside the artifact):
        format, input type, inputs and outputs with shapes and dtypes, the
        check's `max_abs_diff`, versions, source.

    Raises:
        ExportError: an unknown format, input type, quantisation or
            precision, or one the format does not take; a model without its
            preprocessor; a conversion the converter refuses (naming the op
            and the formats that work); a failed check.
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
    if format not in KIND_FORMATS[kind]:
        raise ExportError(
            f"a {kind.replace('_', ' ')} exports to "
            f"{list(KIND_FORMATS[kind])}, not {format!r}.")
    if kind == "object_detector" and (quantize or precision != "float32"):
        raise ExportError("a detector exports in float32 only (no quantize "
                          "or bfloat16 precision yet).")
    _check_option("quantize", quantize, QUANTIZATIONS, format)
    _check_option("precision", precision, PRECISIONS, format)
    if quantize and precision != "float32":
        raise ExportError("quantize and precision='bfloat16' do not combine;"
                          " choose one.")
    fixed = format in FIXED_SIZE_FORMATS
    if fixed and input_type != "image_tensor":
        raise ExportError(
            f"format={format!r} takes input_type='image_tensor' (it has no "
            f"image decoding or tokenizer); {input_type!r} works with "
            "'saved_model'.")
    if input_size is not None and not fixed:
        raise ExportError(
            f"input_size fixes the input of {list(FIXED_SIZE_FORMATS)} "
            "files; a SavedModel takes images of any size.")
    if evaluation is not None and kind != "image_classifier":
        raise ExportError("evaluation= takes labelled images, for image "
                          "classifiers.")
    if kind == "image_classifier":
        _check_top_k(top_k)

    import tensorflow as tf

    from zoo.serving import checks, signatures

    network, fused = _network(model, fuse, quantize if format == (
        "saved_model") else None, precision)
    work = tempfile.mkdtemp(prefix="zoo-export-")
    try:
        core_dir = os.path.join(work, "network")
        _export_network(network, core_dir, kind, format)
        core = _load_network(core_dir)
        if kind == "image_classifier":
            names = class_names if class_names is not None else (
                default_class_names(model.num_classes))
            if names is not None and len(names) != model.num_classes:
                raise ExportError(
                    f"{len(names)} class names for {model.num_classes} "
                    "classes.")
            if fixed:
                input_size = _fixed_input_size(model, input_size)
                if samples is None:
                    samples = checks.sample_images(model, size=input_size)
                if evaluation is not None:
                    evaluation = (checks.resized(evaluation[0], input_size),
                                  evaluation[1])
            module, spec, outputs = signatures.image_classifier(
                core, model, input_type, min(top_k, model.num_classes),
                names, input_size=input_size,
                batch=1 if format == "tflite" else None)
        elif kind == "object_detector":
            module, spec, outputs = signatures.object_detector(
                core, model, input_type)
        else:
            module, spec, outputs = signatures.text_encoder(core, model)
        fields = {"fused": fused, "outputs": outputs, "source": source or {},
                  "precision": precision,
                  "inputs": {"text" if kind == "text_encoder"
                             else "images": spec}}
        if format == "saved_model" and (quantize or precision != "float32"):
            fields["weight_bytes"] = {"float32": _weight_bytes(model),
                                      "exported": _weight_bytes(network)}
        if format == "saved_model":
            return _write_saved_model(module, path, model, kind, input_type,
                                      samples, verify, fields, quantize,
                                      precision, evaluation)
        if format == "onnx":
            from zoo.serving import onnx_export

            return onnx_export.write(
                module, tf.TensorSpec((None, *input_size, spec["shape"][-1]),
                                      tf.uint8, name="inputs"),
                path, work, model, quantize, samples, verify, fields,
                evaluation)
        from zoo.serving import litert

        if quantize == "int8_full" and representative is None:
            logger.warning("int8_full calibrates on the check's synthetic "
                           "images; pass representative= (real images of "
                           "the task) for a faithful calibration.")
        return litert.write(module, path, work, model, quantize, samples,
                            verify, fields, evaluation,
                            representative=(
                                None if representative is None else
                                checks.resized(representative, input_size)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_kind(model):
    """`"image_classifier"`, `"text_encoder"` or `"object_detector"`, or
    ExportError naming what the model lacks."""
    from zoo.vision.detection.object_detector import ObjectDetector
    from zoo.vision.image_classifier import ImageClassifier

    from zoo.nlp.encoders.base import TextEncoder

    preprocessor = getattr(model, "preprocessor", None)
    if isinstance(model, ImageClassifier):
        kind = "image_classifier"
    elif isinstance(model, TextEncoder):
        kind = "text_encoder"
    elif isinstance(model, ObjectDetector):
        kind = "object_detector"
    else:
        hint = (" A CausalLM is served from its preset (save_to_preset "
                "keeps its tokenizer; merge_lora() folds LoRA in first)."
                if hasattr(model, "generate") else "")
        raise ExportError(
            f"zoo.export takes an ImageClassifier, an ObjectDetector or a "
            f"text encoder; got {type(model).__name__} "
            f"{getattr(model, 'name', '')!r}.{hint}")
    if preprocessor is None:
        raise ExportError(
            f"{model.name} has no preprocessor, so the artifact could not "
            "take raw inputs: load it with zoo.from_preset(...) or attach "
            "one (model.preprocessor = zoo.ImagePreprocessor(...) / "
            "zoo.DetectionPreprocessor(...) / zoo.TextPreprocessor(...)).")
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


def _check_option(name, value, table, format):
    if value not in table:
        raise ExportError(
            f"{name}={value!r} is not one of {list(table)}.")
    if format not in table[value]:
        raise ExportError(
            f"{name}={value!r} applies to format(s) {list(table[value])}, "
            f"not {format!r}.")


def _fixed_input_size(model, input_size):
    preprocessor = model.preprocessor
    if input_size is None:
        return tuple(math.floor(side / preprocessor.crop_pct)
                     for side in preprocessor.image_size)
    size = tuple(int(s) for s in input_size)
    if len(size) != 2 or min(size) < 1:
        raise ExportError(
            f"input_size must be (height, width), got {input_size!r}.")
    return size


def _network(model, fuse, quantize=None, precision="float32"):
    """`(network to convert, fused)`: batch norms folded when asked and
    present; weights quantised by Keras (`quantize="int8"`) or the network
    rebuilt in bfloat16 when asked."""
    import keras

    from zoo.fusion import fuse_batch_norm, recast

    network, fused = model, False
    if fuse and any(isinstance(layer, keras.layers.BatchNormalization)
                    for layer in _all_layers(model)):
        network, fused = fuse_batch_norm(model), True
    if precision == "bfloat16":
        network = recast(network, "bfloat16")
    if quantize == "int8":
        if network is model:
            network = recast(model, None)   # a copy: model stays float
        try:
            # Layers without weights to quantise stay as they are (a
            # tokenizer is never built).
            network.quantize("int8", filters=lambda layer: layer.built)
        except Exception as error:
            raise ExportError(
                f"Keras could not quantise {model.name}: "
                f"{_first_line(error)}") from error
    return network, fused


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _export_network(network, directory, kind, format="saved_model"):
    """Keras' `Model.export` of the bare network, batch dimension free.

    On JAX an ONNX export's network is rebuilt on TensorFlow in a
    subprocess (`zoo.serving.tf_network`): tf2onnx cannot read jax2tf's
    `XlaCallModule`."""
    import keras
    import tensorflow as tf

    if format == "onnx" and keras.backend.backend() != "tensorflow":
        from zoo.serving import tf_network

        return tf_network.export_in_subprocess(network, directory)
    if kind != "text_encoder":
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


def _load_network(directory):
    """The SavedModel Keras wrote, loaded without a second list of the
    same weights that its functions do not use (Keras' export tracks them
    as `variables` and as `_all_variables`, so a re-save would store each
    twice)."""
    import tensorflow as tf

    core = tf.saved_model.load(directory)
    extra = getattr(core, "_all_variables", None)
    if extra is None or not hasattr(core, "serve"):
        return core
    captured = {id(tensor) for function in core.serve.concrete_functions
                for tensor in function.captured_inputs}
    if not any(id(variable.handle) in captured for variable in extra):
        del core._all_variables
    return core


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _versions(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


def _write_saved_model(module, path, model, kind, input_type, samples,
                       verify, fields, quantize=None, precision="float32",
                       evaluation=None):
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
        card["quantize"] = quantize
        card["size_bytes"] = _directory_size(staging)
        run = _saved_model_runner(staging)
        if quantize or precision != "float32":
            card.update(checks.agreement(model, run, samples, input_type,
                                         kind))
        elif verify:
            card["max_abs_diff"] = checks.check(model, kind, input_type,
                                                run, samples)
        if evaluation is not None:
            card["accuracy"] = checks.accuracy(model, run, *evaluation,
                                               input_type=input_type)
        final = os.path.join(path, str(version))
        card["path"] = final
        card.update(fields)
        write_card(card, os.path.join(staging, CARD_NAME))
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card


def _saved_model_runner(directory):
    import tensorflow as tf

    serving = tf.saved_model.load(directory).signatures["serving_default"]

    def run(inputs):
        return {k: v.numpy() for k, v in serving(**inputs).items()}

    return run


def load_runner(path, num_threads=None):
    """Runs an exported artifact in its own runtime, without Keras.

    ```python
    run = zoo.serving.load_runner(card["path"])
    outputs = run({"inputs": uint8_images})   # {"probs": ..., ...}
    ```

    Args:
        path: what `export` wrote (its card's `path`): a SavedModel version
            directory (`out/r50/1`), a `.tflite` or an `.onnx` file.
        num_threads: LiteRT: threads of its kernels (None: LiteRT's
            default). SavedModels and ONNX Runtime use every core.

    Returns:
        `run({"inputs": array}) -> {output name: numpy array}`; a LiteRT
        file (batch 1) is fed one image at a time.

    Raises:
        ExportError: `path` is none of those.
    """
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return _saved_model_runner(path)
    if os.path.isfile(path) and path.endswith((".tflite", ".onnx")):
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".tflite"):
            from zoo.serving import litert

            return litert.runner(data, num_threads=num_threads)
        from zoo.serving import onnx_export

        return onnx_export.runner(data)
    raise ExportError(
        f"{path!r} is not an exported artifact: expected a SavedModel "
        "version directory (with saved_model.pb), a .tflite or an .onnx "
        "file.")


def refuse_directory(path, what, example):
    """ExportError when `path`, where one file goes, is a directory
    (`what`: "a LiteRT export")."""
    if os.path.isdir(path):
        raise ExportError(f"{path!r} is a directory; {what} is one file "
                          f"(e.g. {example}).")


def _weight_bytes(model):
    return int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize
                   for w in model.weights))


def _directory_size(directory):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(directory) for name in names)


def write_artifact(data, path, card):
    """Writes a one-file artifact (`data`, bytes) to `path` under a
    temporary name, renames it into place, then its card to
    `<path>.json`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    write_card(card, path + ".json")


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
