"""A network rebuilt on TensorFlow, for converters that read TensorFlow ops
only (tf2onnx cannot read jax2tf's `XlaCallModule`).

The model is saved as a `.keras` file (weights and config are backend
independent) and exported by `python -m zoo.serving.tf_network MODEL DIR`
in a subprocess whose Keras runs on TensorFlow; the caller still checks the
final artifact against its own model.
"""

import os
import subprocess
import sys

from zoo.serving.export import ExportError


def export_in_subprocess(network, directory, timeout=1800):
    """Exports `network` (a Keras model of any backend) as a TensorFlow
    SavedModel in `directory`, by way of a TensorFlow-backend subprocess.

    Raises:
        ExportError: the subprocess failed; its last error line is named.
    """
    os.makedirs(directory, exist_ok=True)
    keras_file = os.path.join(os.path.dirname(directory) or ".",
                              "network.keras")
    network.save(keras_file)
    # This process's zoo modules (among them those that define and
    # register the network's classes, initialisers included), so that the
    # subprocess knows them before it deserialises.
    modules = sorted(name for name in sys.modules
                     if name.startswith("zoo.") and sys.modules[name])
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, "-m", "zoo.serving.tf_network", keras_file,
         directory, *modules], env=env, capture_output=True, text=True,
        timeout=timeout)
    if done.returncode:
        lines = [line for line in done.stderr.strip().splitlines()
                 if line.strip()]
        raise ExportError(
            "rebuilding the network on TensorFlow failed: "
            f"{lines[-1] if lines else f'exit status {done.returncode}'}")


def main(argv=None):
    """`MODEL.keras DIR [MODULE ...]`: imports the zoo modules named (they
    register the classes the model uses), loads the model on this process's
    backend (TensorFlow) and exports its SavedModel into DIR."""
    import importlib

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python -m zoo.serving.tf_network MODEL.keras DIR "
              "[MODULE ...]", file=sys.stderr)
        return 2
    import keras

    from zoo.serving.export import _export_network

    for module in argv[2:]:
        if module.startswith("zoo."):
            importlib.import_module(module)

    network = keras.saving.load_model(argv[0])
    _export_network(network, argv[1], "image_classifier")
    return 0


if __name__ == "__main__":
    sys.exit(main())
