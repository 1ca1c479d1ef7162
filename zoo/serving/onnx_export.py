"""ONNX files of the serving function, checked with ONNX Runtime.

tf2onnx converts the TensorFlow serving function (uint8 images of a fixed
size, any batch; resize, crop and normalisation as matrix products, the
network, softmax and top-k). On JAX the network is first rebuilt on
TensorFlow in a subprocess (`zoo.serving.tf_network`): jax2tf's
`XlaCallModule` op has no ONNX form. `quantize="int8"` is ONNX Runtime's
dynamic quantisation (int8 weights of matrix products and convolutions).
"""

import logging
import os

import numpy as np

from zoo.serving.export import ExportError, _first_line

logger = logging.getLogger(__name__)

#: The ONNX opset written (ONNX Runtime 1.17+ runs it).
OPSET = 17


def _require():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        raise ExportError(
            f"format='onnx' needs tf2onnx, onnx and onnxruntime ({error}); "
            "pip install 'zoo[onnx]'.") from error


def convert(module, spec):
    """The ONNX `ModelProto` of `module.serve` for inputs `spec`.

    Raises:
        ExportError: an op without an ONNX form, named, with the formats
            that take it.
    """
    _require()
    import onnx
    import tf2onnx

    tf2onnx_logger = logging.getLogger("tf2onnx")
    level = tf2onnx_logger.level
    tf2onnx_logger.setLevel(logging.CRITICAL)   # it logs, we raise
    try:
        proto, _ = tf2onnx.convert.from_function(
            module.serve, input_signature=[spec], opset=OPSET)
    except Exception as error:
        raise ExportError(
            f"tf2onnx could not convert the model: {_first_line(error)}. "
            "format='saved_model' takes every TensorFlow op.") from error
    finally:
        tf2onnx_logger.setLevel(level)
    missing = sorted({node.op_type for node in proto.graph.node
                      if not onnx.defs.has(node.op_type, node.domain)})
    if missing:
        raise ExportError(
            f"ONNX has no form of the TensorFlow op(s) {missing}; "
            "format='saved_model' takes them (and 'tflite' where LiteRT "
            "has them).")
    return proto


def quantize_dynamic(proto, work):
    """ONNX Runtime's dynamic int8 quantisation of `proto`; returns the
    quantised model's bytes."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as quantize

    source = os.path.join(work, "float.onnx")
    target = os.path.join(work, "int8.onnx")
    with open(source, "wb") as f:
        f.write(proto.SerializeToString())
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # a line per tensor at INFO
    try:
        quantize(source, target, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    with open(target, "rb") as f:
        return f.read()


def session(model_bytes):
    """An ONNX Runtime `InferenceSession` on the CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        model_bytes, options, providers=["CPUExecutionProvider"])


def runner(model_bytes):
    """A callable `({"inputs": array}) -> {name: array}` over ONNX
    Runtime."""
    inference = session(model_bytes)
    names = [output.name for output in inference.get_outputs()]

    def run(inputs):
        values = inference.run(None, {"inputs": np.asarray(inputs["inputs"])})
        return dict(zip(names, values))

    return run


def write(module, spec, path, work, model, quantize, samples, verify,
          fields, evaluation=None):
    """Converts, checks and writes the `.onnx` file and its card
    (`<path>.json`, with `fields` added); returns the card."""
    from zoo.serving import checks
    from zoo.serving.export import (
        _base_card,
        refuse_directory,
        write_artifact,
    )

    path = os.fspath(path)
    refuse_directory(path, "an ONNX export", "out/model.onnx")
    proto = convert(module, spec)
    float_bytes = proto.SerializeToString()
    model_bytes = quantize_dynamic(proto, work) if quantize else float_bytes
    card = _base_card("onnx", "image_tensor", model)
    card.update({"path": path, "size_bytes": len(model_bytes),
                 "quantize": quantize, "opset": OPSET})
    run = runner(model_bytes)
    if quantize:
        card["float_size_bytes"] = len(float_bytes)
        card.update(checks.agreement(model, run, samples))
    elif verify:
        card["max_abs_diff"] = checks.check(
            model, "image_classifier", "image_tensor", run, samples)
    if evaluation is not None:
        card["accuracy"] = checks.accuracy(
            model, run, *evaluation, batch=16)
    card.update(fields)
    write_artifact(model_bytes, path, card)
    return card
