"""`zoo export`: a preset or a training run's best model as a SavedModel,
a LiteRT file or an ONNX file, checked against the Keras model.

```sh
zoo export resnet50 --format saved_model --input-type image_bytes --output out/r50
zoo export runs/digits --format tflite --quantize int8_full --output out/digits.tflite
zoo export runs/digits --format onnx --output out/digits.onnx
zoo export all_minilm_l6_v2 --quantize int8 --output out/minilm
```

SOURCE is a preset (a built-in name, a YAML file, a preset directory, any
handle `zoo.from_preset` takes) or a `zoo train --model_dir`, whose best
exported model (`<model_dir>/<best_checkpoint_export_subdir>/preset`) is
used. For a run of an image classification experiment the artifact is also
evaluated on the experiment's validation data (`--eval-examples`), and an
`int8_full` LiteRT file is calibrated on it (`--calibration-examples`). The
check's figures are printed and stored in the artifact's card.
"""

import glob
import json
import os


def add_parser(subparsers):
    """Registers the `export` subcommand."""
    from zoo.serving.export import FORMATS, PRECISIONS, QUANTIZATIONS

    parser = subparsers.add_parser(
        "export", help="export a model for serving (SavedModel, LiteRT, "
                       "ONNX)",
        description="Export a preset or a training run's best model with "
                    "its preprocessing inside, checked against the Keras "
                    "model.")
    parser.add_argument("source", help="preset handle or zoo train model_dir")
    parser.add_argument("--format", default="saved_model", choices=FORMATS)
    parser.add_argument("--input-type", dest="input_type", default=None,
                        help="image_tensor (default), image_bytes, "
                             "tf_example; text for text encoders")
    parser.add_argument("--output", required=True,
                        help="SavedModel: directory (a version is added); "
                             "LiteRT, ONNX: the .tflite / .onnx file")
    parser.add_argument("--quantize", default=None,
                        choices=[q for q in QUANTIZATIONS if q],
                        help="int8: int8 weights (every format); "
                             "int8_full: LiteRT weights and activations")
    parser.add_argument("--precision", default="float32",
                        choices=list(PRECISIONS),
                        help="bfloat16: a SavedModel computing in bfloat16")
    parser.add_argument("--input-size", dest="input_size", type=int,
                        nargs=2, metavar=("HEIGHT", "WIDTH"), default=None,
                        help="LiteRT, ONNX: the fixed input size")
    parser.add_argument("--top-k", dest="top_k", type=int, default=5)
    parser.add_argument("--no-fuse", dest="fuse", action="store_false",
                        help="keep batch norms unfolded")
    parser.add_argument("--eval-examples", dest="eval_examples", type=int,
                        default=500,
                        help="run sources: validation images the artifact "
                             "is evaluated on (0: none)")
    parser.add_argument("--calibration-examples",
                        dest="calibration_examples", type=int, default=100,
                        help="run sources: validation images int8_full "
                             "calibrates on")
    parser.set_defaults(func=run)
    return parser


def resolve_source(source):
    """`(handle for zoo.from_preset, description for the card)`: a run
    directory's best export, or the source itself."""
    if is_run_dir(source):
        found = sorted(glob.glob(os.path.join(source, "*", "preset")))
        if not found:
            from zoo.serving import ExportError

            raise ExportError(
                f"{source} is a training run without an exported best model"
                " (<model_dir>/<best_checkpoint_export_subdir>/preset); "
                "train with evaluation to write one.")
        return found[0], {"run": os.path.abspath(source),
                          "preset": os.path.abspath(found[0])}
    return source, {"preset": source}


def is_run_dir(source):
    """Whether `source` is a `zoo train --model_dir` (has params.yaml)."""
    return os.path.isdir(source) and os.path.exists(
        os.path.join(source, "params.yaml"))


def validation_examples(run_dir, limit):
    """A run's validation images as stored (uint8, not resized) and labels,
    at most `limit`, or None when its task is not image classification."""
    from training.config.base import load_yaml_file
    from training.data.image_classification import raw_examples
    from training.tasks.image_classification import ImageDataConfig

    params = load_yaml_file(os.path.join(run_dir, "params.yaml"))
    task = params.get("task") or {}
    model = task.get("model") or {}
    if "validation_data" not in task or "input_size" not in model:
        return None
    data = ImageDataConfig.from_dict(task["validation_data"])
    return raw_examples(data, image_size=tuple(model["input_size"][:2]),
                        channels=model["input_size"][2],
                        num_classes=model["num_classes"], limit=limit)


def run(args):
    """Runs `zoo export`; returns the exit status."""
    import zoo
    from zoo.errors import ZooError

    try:
        handle, source = resolve_source(args.source)
        model = zoo.from_preset(handle)
        evaluation = representative = None
        if is_run_dir(args.source):
            wanted = max(args.eval_examples, args.calibration_examples
                         if args.quantize == "int8_full" else 0)
            held_out = validation_examples(args.source, wanted) if (
                wanted > 0) else None
            if held_out is not None and args.eval_examples > 0:
                evaluation = (held_out[0][:args.eval_examples],
                              held_out[1][:args.eval_examples])
            if held_out is not None and args.quantize == "int8_full":
                representative = held_out[0][:args.calibration_examples]
        card = zoo.export(model, args.output, format=args.format,
                          input_type=args.input_type, top_k=args.top_k,
                          fuse=args.fuse, quantize=args.quantize,
                          precision=args.precision,
                          input_size=args.input_size, evaluation=evaluation,
                          representative=representative, source=source)
    except ZooError as error:
        print(f"zoo export: {error}")
        return 1
    print(json.dumps(summary(card), indent=2))
    return 0


def summary(card):
    """The card's figures `zoo export` prints."""
    return {key: card.get(key) for key in (
        "path", "format", "input_type", "quantize", "precision",
        "max_abs_diff", "top1_agreement", "min_cosine_similarity",
        "size_bytes", "float_size_bytes", "weight_bytes", "accuracy")
        if card.get(key) is not None}
