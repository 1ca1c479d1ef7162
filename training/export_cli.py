"""`zoo export`: a preset or a training run's best model as a SavedModel or
a LiteRT file, checked against the Keras model.

```sh
zoo export resnet50 --format saved_model --input-type image_bytes --output out/r50
zoo export runs/digits --format tflite --quantize int8 --output out/digits.tflite
zoo export all_minilm_l6_v2 --output out/minilm
```

SOURCE is a preset (a built-in name, a YAML file, a preset directory, any
handle `zoo.from_preset` takes) or a `zoo train --model_dir`, whose best
exported model (`<model_dir>/<best_checkpoint_export_subdir>/preset`) is
used. The check's figures are printed and stored in the artifact's card.
"""

import glob
import json
import os


def add_parser(subparsers):
    """Registers the `export` subcommand."""
    from zoo.serving.export import FORMATS, QUANTIZATIONS

    parser = subparsers.add_parser(
        "export", help="export a model for serving (SavedModel, LiteRT)",
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
                             "LiteRT: the .tflite file")
    parser.add_argument("--quantize", default=None,
                        choices=[q for q in QUANTIZATIONS if q],
                        help="LiteRT dynamic-range int8")
    parser.add_argument("--top-k", dest="top_k", type=int, default=5)
    parser.add_argument("--no-fuse", dest="fuse", action="store_false",
                        help="keep batch norms unfolded")
    parser.set_defaults(func=run)
    return parser


def resolve_source(source):
    """`(handle for zoo.from_preset, description for the card)`: a run
    directory's best export, or the source itself."""
    if os.path.isdir(source) and os.path.exists(
            os.path.join(source, "params.yaml")):
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


def run(args):
    """Runs `zoo export`; returns the exit status."""
    import zoo
    from zoo.errors import ZooError

    try:
        handle, source = resolve_source(args.source)
        model = zoo.from_preset(handle)
        card = zoo.export(model, args.output, format=args.format,
                          input_type=args.input_type, top_k=args.top_k,
                          fuse=args.fuse, quantize=args.quantize,
                          source=source)
    except ZooError as error:
        print(f"zoo export: {error}")
        return 1
    summary = {key: card.get(key) for key in (
        "path", "format", "input_type", "max_abs_diff", "size_bytes",
        "top1_agreement") if card.get(key) is not None}
    print(json.dumps(summary, indent=2))
    return 0
