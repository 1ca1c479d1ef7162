"""Task models apply their preprocessor in fit / evaluate / predict."""

import numpy as np
import tensorflow as tf

import zoo


def _model():
    model = zoo.create_model("resnet18", num_classes=3,
                             input_shape=(32, 32, 3))
    model.preprocessor = zoo.ImagePreprocessor(image_size=(32, 32),
                                               crop_pct=0.8)
    model.compile(optimizer="adam",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_predict_runs_preprocessor_on_raw_images():
    model = _model()
    raw = np.random.default_rng(0).integers(0, 256, (5, 48, 40, 3))
    raw = raw.astype("uint8")
    predicted = model.predict(raw, batch_size=2, verbose=0)
    expected = np.asarray(model(model.preprocessor(raw)))
    np.testing.assert_allclose(predicted, expected, atol=1e-4)
    # Without a preprocessor, predict takes model-ready tensors unchanged.
    ready = np.asarray(model.preprocessor(raw))
    model.preprocessor = None
    np.testing.assert_allclose(model.predict(ready, verbose=0), expected,
                               atol=1e-4)


def test_fit_and_evaluate_with_arrays_and_datasets():
    model = _model()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (8, 36, 36, 3)).astype("uint8")
    labels = rng.integers(0, 3, (8,))
    history = model.fit(images, labels, batch_size=4, epochs=1, verbose=0,
                        validation_data=(images, labels))
    assert set(history.history) >= {"loss", "val_loss", "accuracy"}
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    loss, accuracy = model.evaluate(ds, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
