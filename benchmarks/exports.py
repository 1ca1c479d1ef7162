"""Timing exported artifacts against the Keras model they came from.

```sh
zoo bench resnet50 --export saved_model,tflite,onnx --batch-size 16
zoo bench --recipe export_cpu
```

With `BenchSettings.exports`, each image classifier measured for inference
is also exported with `zoo.export` (uint8 `image_tensor` in, probabilities
and top-k out, batch norms folded, the float check against the Keras model
passed) and each artifact is timed in its own runtime on uint8 images of
the same batch size, interleaved with the Keras model's rounds:

- `saved_model`: the `serving_default` signature of the SavedModel,
  loaded with `tf.saved_model.load`;
- `tflite`: TensorFlow's LiteRT interpreter with one thread per core; its
  input is one image, so a batch is that many calls, as a LiteRT server
  would run them;
- `onnx`: an ONNX Runtime `InferenceSession` on the CPU (its default
  threads: one per physical core).

The artifact does more than the Keras step: the cast and normalisation of
uint8 pixels, the resize to the model's size (an identity here, kept as a
served model has it), softmax and top-k. Its row's `ratio` is the
artifact's samples/s over the Keras model's (`saved_model/keras`).
"""

import dataclasses
import logging
import os
import shutil
import tempfile

import numpy as np

from benchmarks.errors import BenchError

logger = logging.getLogger("zoo")

#: The runtime of each format, for the `built` column.
RUNTIMES = {
    "saved_model": "tf.saved_model.load signature",
    "tflite": "LiteRT interpreter",
    "onnx": "ONNX Runtime CPU",
}
#: Artifact file (or directory) names inside the work directory.
_ARTIFACT_NAMES = {"saved_model": "saved_model", "tflite": "model.tflite",
                   "onnx": "model.onnx"}


@dataclasses.dataclass
class ExportedModel:
    """An artifact ready to time.

    Attributes:
        format: str, the `zoo.export` format.
        run: `run({"inputs": uint8 array}) -> {name: numpy array}`.
        built: str, what is timed (the `built` column).
        size_bytes: int, the artifact's size on disk.
        image_size: `(height, width)` of the uint8 images it takes.
    """

    format: str
    run: object
    built: str
    size_bytes: int
    image_size: tuple


def preprocessor_for(model):
    """The `ImagePreprocessor` an export of `model` takes uint8 images
    through: the model's own, or (when it has none) one for its input size
    with no crop and pixels / 255.

    Raises:
        BenchError: not an image classifier, or an input size left open.
    """
    import zoo
    from zoo.vision.image_classifier import ImageClassifier

    if not isinstance(model, ImageClassifier):
        raise BenchError(
            f"--export times image classifiers; {model.name} is a "
            f"{type(model).__name__}.")
    if getattr(model, "preprocessor", None) is not None:
        return model.preprocessor
    shape = tuple(model.inputs[0].shape[1:])
    height, width = shape[:2]
    if height is None or width is None:
        raise BenchError(
            f"--export needs a fixed input size; {model.name} takes {shape}.")
    return zoo.ImagePreprocessor(image_size=(height, width), crop_pct=1.0)


def export_for_timing(model, format, directory, num_threads=None):
    """Exports `model` to `format` under `directory` and loads the
    artifact's runner.

    A model without a preprocessor gets `preprocessor_for(model)` for the
    export only; the model itself is left as it was.

    Args:
        model: an `ImageClassifier`.
        format: one of `zoo.serving.FORMATS`.
        directory: str, where the artifact is written.
        num_threads: LiteRT interpreter threads (default: `os.cpu_count()`).

    Returns:
        `ExportedModel`.

    Raises:
        BenchError: the export failed (the message is `zoo.export`'s).
    """
    from zoo.serving import ExportError, export, load_runner

    path = os.path.join(directory, _ARTIFACT_NAMES[format])
    logger.info("bench: exporting %s to %s", model.name, format)
    own = model.preprocessor
    preprocessor = preprocessor_for(model)
    model.preprocessor = preprocessor
    try:
        card = export(model, path, format=format, input_type="image_tensor",
                      fuse=True)
    except ExportError as error:
        raise BenchError(
            f"zoo.export of {model.name} to {format} failed: {error}"
        ) from None
    finally:
        model.preprocessor = own
    threads = num_threads or os.cpu_count() or 1
    run = load_runner(card["path"], num_threads=threads)
    built = f"zoo.export(format={format!r}), {RUNTIMES[format]}"
    if format == "tflite":
        built += f", {threads} threads"
    return ExportedModel(format=format, run=run, built=built,
                         size_bytes=int(card["size_bytes"]),
                         image_size=tuple(preprocessor.image_size))


def uint8_images(image_size, batch_size, seed=0):
    """Random uint8 RGB images `[batch_size, height, width, 3]`."""
    height, width = image_size
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch_size, height, width, 3),
                        dtype=np.uint8)


class WorkDirectory:
    """A temporary directory holding a run's artifacts, removed on exit."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="zoo-bench-export-")
        return self

    def subdirectory(self, name):
        """A fresh folder `name` inside, for one model's artifacts."""
        path = os.path.join(self.path, name)
        os.makedirs(path, exist_ok=True)
        return path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False
