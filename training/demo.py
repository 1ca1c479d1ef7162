"""`make demo`: a ResNet on the scikit-learn digits, end to end on this machine.

Builds a small ResNet-18, fits it briefly on the embedded digits, saves it as a
preset, reloads it with `zoo.from_preset` and predicts held-out digits.
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    """Runs the demo and prints a short result table."""
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    import zoo

    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = digits.images[..., None].astype("float32") / 16.0
    labels = digits.target
    train_x, test_x = images[:1500], images[1500:]
    train_y, test_y = labels[:1500], labels[1500:]

    model = zoo.create_model("resnet18", num_classes=10,
                             input_shape=(8, 8, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True),
                  metrics=["accuracy"])
    start = time.time()
    model.fit(train_x, train_y, batch_size=64, epochs=5, verbose=2)
    elapsed = time.time() - start
    with tempfile.TemporaryDirectory() as tmp:
        model.save_to_preset(os.path.join(tmp, "digits_resnet18"))
        reloaded = zoo.from_preset(os.path.join(tmp, "digits_resnet18"))
    logits = reloaded.predict(test_x, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, -1) == test_y))
    print()
    print(f"backend        {keras.backend.backend()}")
    print(f"parameters     {model.count_params():,}")
    print(f"train time     {elapsed:.1f} s (5 epochs, 1500 digits)")
    print(f"held-out top-1 {accuracy:.3f} on {len(test_y)} digits")
    print("first predictions:", np.argmax(logits[:10], -1).tolist(),
          "labels:", test_y[:10].tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
