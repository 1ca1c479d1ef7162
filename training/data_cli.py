"""`zoo data`: preparing data sets in the Model Garden's formats.

```sh
zoo data coco-to-tfrecord --annotations instances_val2017.json \\
    --images val2017 --output coco/val --shards 8
```

Bad input (unreadable annotations, a missing image) prints one line naming
it and exits with status 2.
"""

import argparse


def add_parser(subparsers):
    """Registers `zoo data` and its subcommands."""
    parser = subparsers.add_parser(
        "data", help="convert data sets to the Model Garden's formats")
    sub = parser.add_subparsers(dest="data_command", required=True)
    coco = sub.add_parser(
        "coco-to-tfrecord",
        help="COCO instances JSON + image folder -> sharded detection "
        "TFRecords")
    coco.add_argument("--annotations", required=True, metavar="JSON")
    coco.add_argument("--images", required=True, metavar="DIR")
    coco.add_argument("--output", required=True, metavar="PREFIX",
                      help="shard prefix: PREFIX-00000-of-0000N.tfrecord")
    coco.add_argument("--shards", type=_positive, default=1)
    coco.add_argument("--quiet", action="store_true",
                      help="no progress")
    coco.set_defaults(func=_coco)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def _coco(args):
    import sys

    from training.data.coco import CocoError, coco_to_tfrecords
    from zoo.log import configure_default_logging

    configure_default_logging()
    try:
        summary = coco_to_tfrecords(args.annotations, args.images,
                                    args.output, num_shards=args.shards,
                                    progress=not args.quiet)
    except CocoError as error:
        print(f"zoo data: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {summary['images']} images, {summary['boxes']} boxes "
          f"to {len(summary['shards'])} shards: {summary['shards'][0]} ...")
    return 0
