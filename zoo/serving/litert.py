"""LiteRT (TFLite) flat buffers of the serving function, checked with the
LiteRT interpreter.

The converter takes the serving function itself (uint8 images of any size
in; the preset's resize, crop and normalisation, the network, softmax and
top-k inside). Ops LiteRT's builtins lack (the antialiased resize of most
presets) are kept as TensorFlow ops (`SELECT_TF_OPS`, which the
interpreter in TensorFlow's pip package runs); the card says so, since an
app then links the Flex delegate.
"""

import logging
import os

import numpy as np

from zoo.serving.export import (TOLERANCE, ExportError, _base_card,
                                refuse_directory, write_artifact)

logger = logging.getLogger(__name__)


def convert(module, work, quantize=None, representative=None):
    """`(flat buffer bytes, uses TensorFlow ops)` of `module.serve`, by way
    of a SavedModel in `work` (which keeps the signature's names).

    `quantize`: None, `"int8"` (dynamic range: int8 weights) or
    `"int8_full"` (int8 weights and activations, their ranges calibrated
    on `representative`, uint8 images of the input's size; ops without an
    int8 kernel stay float)."""
    import tensorflow as tf

    saved = os.path.join(work, "litert-source")
    if not os.path.exists(saved):
        tf.saved_model.save(
            module, saved, signatures={"serving_default": module.serve},
            options=tf.saved_model.SaveOptions(
                experimental_custom_gradients=False))
    attempts = [[tf.lite.OpsSet.TFLITE_BUILTINS],
                [tf.lite.OpsSet.TFLITE_BUILTINS,
                 tf.lite.OpsSet.SELECT_TF_OPS]]
    error = None
    for ops in attempts:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved, signature_keys=["serving_default"])
        converter.target_spec.supported_ops = ops
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8_full":
            converter.representative_dataset = _calibration(representative)
        try:
            return converter.convert(), len(ops) > 1
        except Exception as caught:  # ConverterError names the ops
            error = caught
            logger.info("LiteRT builtins alone do not cover the model (%s); "
                        "retrying with TensorFlow ops", _ops_named(caught))
    raise ExportError(
        f"LiteRT could not convert the model: {_ops_named(error)}. "
        "format='saved_model' takes every TensorFlow op.") from error


def _calibration(images):
    def generate():
        for image in images:
            yield {"inputs": np.asarray(image, "uint8")[None]}

    return generate


def _ops_named(error):
    text = str(error)
    for line in text.splitlines():
        if "op" in line.lower() and ("not supported" in line.lower()
                                     or "failed to legalize" in line.lower()):
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else repr(error)


def runner(flat_buffer, num_threads=None):
    """A callable `({"inputs": array}) -> {name: array}` over the LiteRT
    interpreter, a batch fed one image at a time.

    Args:
        flat_buffer: bytes, the `.tflite` file's content.
        num_threads: threads of the interpreter's kernels; None: LiteRT's
            default.
    """
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        # TensorFlow's interpreter warns that it moves to ai_edge_litert;
        # it runs the same flat buffers.
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=flat_buffer,
                                          num_threads=num_threads)
    signature = interpreter.get_signature_runner("serving_default")

    def run(inputs):
        # One image per call: the artifact's batch is 1.
        rows = [signature(inputs=image[None]) for image in inputs["inputs"]]
        return {name: np.concatenate([np.asarray(row[name]) for row in rows])
                for name in rows[0]}

    return run


def write(module, path, work, model, quantize, samples, verify, fields,
          evaluation=None, representative=None):
    """Converts, checks and writes the `.tflite` file and its card
    (`<path>.json`, with `fields` added); returns the card."""
    from zoo.serving import checks

    path = os.fspath(path)
    refuse_directory(path, "a LiteRT export", "out/model.tflite")
    if quantize == "int8_full" and representative is None:
        representative = samples
    flat_buffer, select_ops = convert(module, work, quantize, representative)
    card = _base_card("tflite", "image_tensor", model)
    card.update({"path": path, "size_bytes": len(flat_buffer),
                 "quantize": quantize, "select_tf_ops": select_ops})
    if quantize == "int8_full":
        card["calibration_images"] = len(representative)
    run = runner(flat_buffer)
    if quantize:
        card["float_size_bytes"] = len(convert(module, work)[0])
        card.update(checks.agreement(model, run, samples))
        logger.info("%s LiteRT: %d bytes (float %d)", quantize,
                    len(flat_buffer), card["float_size_bytes"])
    elif verify:
        card["max_abs_diff"] = checks.check(
            model, "image_classifier", "image_tensor", run, samples,
            tolerance=TOLERANCE)
    if evaluation is not None:
        card["accuracy"] = checks.accuracy(model, run, *evaluation)
    card.update(fields)
    write_artifact(flat_buffer, path, card)
    return card
