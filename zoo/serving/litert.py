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
                                write_card)

logger = logging.getLogger(__name__)


def convert(module, work, quantize=None):
    """`(flat buffer bytes, uses TensorFlow ops)` of `module.serve`, by way
    of a SavedModel in `work` (which keeps the signature's names)."""
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
        if quantize == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            return converter.convert(), len(ops) > 1
        except Exception as caught:  # ConverterError names the ops
            error = caught
            logger.info("LiteRT builtins alone do not cover the model (%s); "
                        "retrying with TensorFlow ops", _ops_named(caught))
    raise ExportError(
        f"LiteRT could not convert the model: {_ops_named(error)}. "
        "format='saved_model' takes every TensorFlow op.") from error


def _ops_named(error):
    text = str(error)
    for line in text.splitlines():
        if "op" in line.lower() and ("not supported" in line.lower()
                                     or "failed to legalize" in line.lower()):
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else repr(error)


def runner(flat_buffer):
    """A callable `({"inputs": array}) -> {name: array}` over the LiteRT
    interpreter, a batch fed one image at a time."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=flat_buffer)
    signature = interpreter.get_signature_runner("serving_default")

    def run(inputs):
        # One image per call: the artifact's batch is 1.
        rows = [signature(inputs=image[None]) for image in inputs["inputs"]]
        return {name: np.concatenate([np.asarray(row[name]) for row in rows])
                for name in rows[0]}

    return run


def write(module, path, work, model, quantize, samples, verify, fields):
    """Converts, checks and writes the `.tflite` file and its card
    (`<path>.json`, with `fields` added); returns the card."""
    from zoo.serving import checks

    path = os.fspath(path)
    if os.path.isdir(path):
        raise ExportError(
            f"{path!r} is a directory; a LiteRT export is one file "
            "(e.g. out/model.tflite).")
    flat_buffer, select_ops = convert(module, work, quantize)
    card = _base_card("tflite", "image_tensor", model)
    card.update({"path": path, "size_bytes": len(flat_buffer),
                 "quantize": quantize, "select_tf_ops": select_ops})
    run = runner(flat_buffer)
    if quantize:
        float_buffer, _ = convert(module, work)
        card["float_size_bytes"] = len(float_buffer)
        differences, got, expected = checks.compare(
            model, "image_classifier", "image_tensor", run, samples)
        card["max_abs_diff"] = {"probs": differences["probs"]}
        card["top1_agreement"] = float(np.mean(
            got["probs"].argmax(-1) == expected["probs"].argmax(-1)))
        logger.info("int8 LiteRT: %d bytes (float %d), top-1 agreement %.3f"
                    " on %d samples", len(flat_buffer),
                    card["float_size_bytes"], card["top1_agreement"],
                    len(got["probs"]))
    elif verify:
        card["max_abs_diff"] = checks.check(
            model, "image_classifier", "image_tensor", run, samples,
            tolerance=TOLERANCE)
    card.update(fields)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(flat_buffer)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    write_card(card, path + ".json")
    return card
