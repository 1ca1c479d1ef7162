"""`zoo predict` and `zoo info`.

```sh
zoo predict resnet50 photo.jpg scan.png --top-k 3      # a table per image
zoo predict resnet50 photo.jpg --precision bfloat16    # faster on bf16 CPUs
zoo predict runs/digits digit.png --json               # machine-readable
zoo predict all_minilm_l6_v2 --text "a cat" --text "a kitten"
zoo info out/r50                                       # an export's card
zoo info resnet50                                      # a preset's card
```

`zoo predict` takes a preset handle or a `zoo train --model_dir` (its best
exported model) and image files of any size (JPEG, PNG, GIF, BMP;
grayscale and RGBA converted to the model's channels), through the preset's
own preprocessing. A file that cannot be read is named and skipped; the
exit status is then 1. Text encoders take `--text` (repeatable) and print
each embedding's norm and the cosine similarities between the texts.
"""

import json
import os
import sys


def add_parser(subparsers):
    """Registers the `predict` and `info` subcommands."""
    predict = subparsers.add_parser(
        "predict", help="classify image files or embed texts",
        description="Run a preset or a training run's best model on image "
                    "files or texts.")
    predict.add_argument("source", help="preset handle or zoo train model_dir")
    predict.add_argument("images", nargs="*", help="image files")
    predict.add_argument("--text", action="append", default=[],
                         help="a text to embed (text encoders; repeatable)")
    predict.add_argument("--top-k", dest="top_k", type=int, default=5)
    predict.add_argument("--json", action="store_true",
                         help="print JSON instead of tables")
    predict.add_argument("--precision", default="float32",
                         choices=("float32", "bfloat16"),
                         help="image models: compute in bfloat16 (a copy "
                              "of the weights; see docs/performance.md)")
    predict.set_defaults(func=run_predict)

    info = subparsers.add_parser(
        "info", help="print a preset's or an exported model's card",
        description="Print the card of an exported artifact (SavedModel "
                    "directory, .tflite, .onnx), a preset directory, a "
                    "training run or a built-in preset.")
    info.add_argument("source")
    info.set_defaults(func=run_info)
    return predict


def read_image(path, channels):
    """A uint8 `[h, w, channels]` array of the image file at `path`
    (grayscale repeated to three channels, alpha dropped).

    Raises:
        ValueError: the file is missing or not an image.
    """
    import numpy as np
    import tensorflow as tf

    try:
        with open(path, "rb") as f:
            data = f.read()
        image = tf.io.decode_image(data, channels=channels,
                                   expand_animations=False)
    except (OSError, tf.errors.InvalidArgumentError) as error:
        message = getattr(error, "message", None) or str(error)
        # TensorFlow's: "{{function_node ...}} Unknown image file format..."
        message = message.split("}}")[-1].split(" [Op:")[0].strip()
        raise ValueError(message or type(error).__name__) from None
    return np.asarray(image)


def classify(model, images, top_k, class_names=None):
    """`[(top-k [(class id, name, probability)])]` of the uint8 images, each
    through the model's own preprocessor and its `inference_model()`."""
    import keras
    import numpy as np

    from zoo.serving.export import default_class_names

    names = class_names or default_class_names(model.num_classes)
    channels_first = getattr(model.preprocessor, "data_format",
                             "") == "channels_first"
    # Batch norms folded where predict folds them (TensorFlow), called
    # eagerly: a few images do not pay for tracing.
    network = model.inference_model() or model
    results = []
    for image in images:
        batch = image[None]
        if channels_first:
            batch = np.transpose(batch, (0, 3, 1, 2))
        scores = keras.ops.convert_to_numpy(
            network(model.preprocessor(batch), training=False))[0]
        scores = np.asarray(scores, "float64")
        if model.activation is None:
            scores = np.exp(scores - scores.max())
            scores /= scores.sum()
        order = np.argsort(-scores)[:min(top_k, len(scores))]
        results.append([(int(i), names[i] if names else str(int(i)),
                         float(scores[i])) for i in order])
    return results


def run_predict(args):
    """Runs `zoo predict`; returns the exit status."""
    import numpy as np

    import zoo
    from training.export_cli import resolve_source
    from zoo.errors import ZooError
    from zoo.serving.export import ExportError, model_kind

    if not args.images and not args.text:
        print("zoo predict: give image files, or --text for a text encoder.")
        return 2
    try:
        handle, _ = resolve_source(args.source)
        model = zoo.from_preset(handle)
        kind = model_kind(model)
    except (ZooError, ExportError) as error:
        print(f"zoo predict: {error}")
        return 1
    if kind == "text_encoder":
        if args.images or not args.text:
            print("zoo predict: a text encoder takes --text, not image files.")
            return 2
        vectors = np.asarray(model.embed(args.text), "float64")
        norms = np.linalg.norm(vectors, axis=-1)
        unit = vectors / np.maximum(norms[:, None], 1e-12)
        cosine = unit @ unit.T
        if args.json:
            print(json.dumps({"texts": args.text, "norms": norms.tolist(),
                              "cosine_similarity": cosine.tolist()},
                             indent=2))
            return 0
        for i, text in enumerate(args.text):
            print(f"[{i}] norm {norms[i]:.4f}  {text}")
        print("cosine similarity")
        print("     " + " ".join(f"[{j}]".rjust(7)
                                 for j in range(len(args.text))))
        for i, row in enumerate(cosine):
            print(f"[{i}]".ljust(5) + " ".join(f"{v:7.4f}" for v in row))
        return 0
    if args.text:
        print("zoo predict: an image classifier takes image files, not "
              "--text.")
        return 2
    model.inference_dtype = args.precision
    shape = tuple(model.inputs[0].shape[1:])
    channels = shape[0] if getattr(model.preprocessor, "data_format",
                                   "") == "channels_first" else shape[-1]
    status, records = 0, []
    for path in args.images:
        try:
            image = read_image(path, channels)
        except ValueError as error:
            print(f"zoo predict: cannot read {path}: {error}",
                  file=sys.stderr)
            status = 1
            continue
        (top,) = classify(model, [image], args.top_k)
        records.append({"file": path, "size": list(image.shape[:2]),
                        "top_k": [{"class": c, "name": n, "probability": p}
                                  for c, n, p in top]})
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        for record in records:
            height, width = record["size"]
            print(f"{record['file']} ({width}x{height})")
            for entry in record["top_k"]:
                print(f"  {entry['probability']:7.2%}  {entry['class']:>5}  "
                      f"{entry['name']}")
    return status


def card(source):
    """The card `zoo info` prints for `source` (a dict), or None."""
    from training.export_cli import is_run_dir, resolve_source
    from zoo.presets.builtin import get_preset
    from zoo.serving.export import CARD_NAME, ExportError, read_card

    if is_run_dir(source):
        source = resolve_source(source)[0]
    if os.path.isdir(source) and os.path.exists(
            os.path.join(source, "metadata.json")):
        with open(os.path.join(source, "metadata.json")) as f:
            return json.load(f)
    if (os.path.isdir(source) or os.path.isfile(source)
            or os.path.isfile(source + ".json")):
        try:
            return read_card(source)
        except ExportError:
            if os.path.isdir(source) and not os.path.exists(
                    os.path.join(source, CARD_NAME)):
                return None
            raise
    info = get_preset(source)
    if info is None:
        return None
    return {"name": info.name, "kind": info.kind,
            "description": info.description,
            "architecture": info.architecture, "task": info.task,
            "num_classes": info.num_classes, "parameters": info.parameters,
            "preprocessing": _plain(info.preprocessing),
            "license": info.license, "origin": info.origin,
            "paper": info.paper, "weights": _plain(info.weights)}


def _plain(value):
    import dataclasses

    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def run_info(args):
    """Runs `zoo info`; returns the exit status."""
    from zoo.errors import ZooError

    try:
        found = card(args.source)
    except ZooError as error:
        print(f"zoo info: {error}")
        return 1
    if found is None:
        print(f"zoo info: {args.source!r} is neither an exported model, a "
              "preset directory, a training run nor a built-in preset "
              "(zoo presets lists those).")
        return 1
    print(json.dumps(found, indent=2, default=str))
    return 0
