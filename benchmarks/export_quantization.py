"""The size and accuracy change of quantised exports of the
EfficientNet-Lite0 preset (real ImageNet weights) on real photos.

```sh
python -m benchmarks.export_quantization [--out DIR]
```

Exports the preset as a float LiteRT file, a dynamic-range int8 one, a
full-integer one calibrated on photos and an int8 ONNX file, and prints
for each its size and, on scikit-image's photos (crops and flips of
them: 24 images, calibration on other crops than those evaluated), its
top-1 agreement with the Keras model and the share of the two labelled
photos (coffee: espresso, chelsea: a cat class) it still gets right.
"""

import argparse
import tempfile

import numpy as np

#: ImageNet class ids the labelled photos must get (test_convnets has them).
LABELS = {"coffee": (967,), "chelsea": (281, 282, 285)}
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def photos(size, offset=0):
    """`(images, names)`: crops and flips of scikit-image's photos resized
    to `size`; `offset` shifts the crops (calibration vs evaluation)."""
    import skimage.data
    import skimage.transform

    images, names = [], []
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()
        height, width = photo.shape[:2]
        shift = offset * min(height, width) // 16
        crops = [photo, photo[shift:, shift:], photo[:height - shift or None,
                                                     ::-1]]
        for crop in crops:
            for flip in (False, True):
                image = crop[:, ::-1] if flip else crop
                images.append((skimage.transform.resize(
                    image, size, anti_aliasing=True) * 255).round().astype(
                        "uint8"))
                names.append(name)
    return images, names


def main(argv=None):
    """Runs the measurement; prints a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import keras

    import zoo

    out = args.out or tempfile.mkdtemp(prefix="zoo-quant-")
    model = zoo.from_preset("efficientnet_lite0")
    size = tuple(int(s / model.preprocessor.crop_pct)
                 for s in model.preprocessor.image_size)
    images, names = photos(size)
    calibration, _ = photos(size, offset=2)
    keras_top1 = []
    for image in images:
        scores = keras.ops.convert_to_numpy(
            model(model.preprocessor(image[None]), training=False))[0]
        keras_top1.append(int(np.argmax(scores)))
    labels = np.asarray(keras_top1)
    rows = []
    for fmt, quantize in (("tflite", None), ("tflite", "int8"),
                          ("tflite", "int8_full"), ("onnx", None),
                          ("onnx", "int8")):
        path = f"{out}/lite0-{quantize or 'float'}.{fmt}"
        card = zoo.export(model, path, format=fmt, quantize=quantize,
                          representative=calibration,
                          evaluation=(images, labels))
        run = _runner(fmt, path)
        kept = []
        for image, name in zip(images, names):
            if name in LABELS:
                probs = run({"inputs": image[None]})["probs"][0]
                kept.append(int(np.argmax(probs)) in LABELS[name])
        rows.append((fmt, quantize or "float", card["size_bytes"] / 1e6,
                     card["accuracy"]["agreement"], float(np.mean(kept))))
    keras_kept = np.mean([label in LABELS[name] for label, name in
                          zip(keras_top1, names) if name in LABELS])
    print(f"EfficientNet-Lite0 on {len(images)} photo crops, "
          f"{keras.backend.backend()}; Keras model: labelled photos right "
          f"{keras_kept:.2f}")
    print(f"{'format':<8} {'weights':<10} {'MB':>6} {'top-1 = Keras':>14} "
          f"{'labelled right':>15}")
    for fmt, kind, megabytes, agreement, kept in rows:
        print(f"{fmt:<8} {kind:<10} {megabytes:6.2f} {agreement:14.3f} "
              f"{kept:15.2f}")
    return 0


def _runner(fmt, path):
    with open(path, "rb") as f:
        data = f.read()
    if fmt == "onnx":
        from zoo.serving.onnx_export import runner
    else:
        from zoo.serving.litert import runner
    return runner(data)


if __name__ == "__main__":
    raise SystemExit(main())
