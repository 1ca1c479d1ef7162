"""COCO annotations + an image folder -> sharded TFRecords of detection
examples in the Model Garden's format (`training.data.detection`).

```sh
zoo data coco-to-tfrecord --annotations annotations/instances_val2017.json \\
    --images val2017 --output coco/val --shards 8
```

As the Model Garden's `official/vision/data/create_coco_tf_record.py`: one
example per image, its encoded file as it is, `image/source_id` the COCO
`image_id`, boxes from COCO's `[x, y, width, height]` normalised by the
image's size, the `category_id` as class label, `iscrowd` and `area` as
given. Shards are named `<output>-00000-of-00008.tfrecord`, each written
under a temporary name and renamed once complete, so an interrupted
conversion leaves no truncated shard.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger("zoo")


class CocoError(ValueError):
    """Annotations or images that cannot be converted; the message names
    the file and the entry."""


def read_annotations(path):
    """`(images, annotations by image id, categories)` of a COCO JSON file.

    Raises:
        CocoError: unreadable JSON, or missing `images` / `annotations`.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise CocoError(f"Cannot read COCO annotations {str(path)!r}: "
                        f"{error}") from None
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise CocoError(f"{str(path)!r} has no {key!r} list: not a COCO "
                            "instances file.")
    by_image = {}
    for annotation in data["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    return data["images"], by_image, data.get("categories", [])


def coco_example(image, annotations, image_dir):
    """The serialised example of one COCO image entry.

    Raises:
        CocoError: the image file is missing, or a box has no area.
    """
    from training.data.detection import make_detection_example

    path = Path(image_dir) / image["file_name"]
    try:
        encoded = path.read_bytes()
    except OSError:
        raise CocoError(f"Image {str(path)!r} of COCO image id "
                        f"{image['id']} is missing.") from None
    height, width = int(image["height"]), int(image["width"])
    boxes, classes, crowd, area = [], [], [], []
    for annotation in annotations:
        x, y, w, h = (float(v) for v in annotation["bbox"])
        if w <= 0 or h <= 0:
            # The Model Garden's converter skips these too.
            continue
        boxes.append([y, x, min(y + h, height), min(x + w, width)])
        classes.append(int(annotation["category_id"]))
        crowd.append(int(annotation.get("iscrowd", 0)))
        area.append(float(annotation.get("area", w * h)))
    return make_detection_example(encoded, height, width, boxes, classes,
                                  source_id=str(image["id"]),
                                  is_crowd=crowd, area=area)


class _Progress:
    """A progress bar on stderr (rich) when it is a terminal, else a log
    line every 10 seconds."""

    def __init__(self, total, label):
        self.total, self.label, self.done = total, label, 0
        self._last = time.monotonic()
        self._bar = None
        if sys.stderr.isatty() or os.environ.get("ZOO_PROGRESS") == "1":
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True))
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self):
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
        elif time.monotonic() - self._last > 10 or self.done == self.total:
            self._last = time.monotonic()
            logger.info("%s: %d/%d images", self.label, self.done,
                        self.total)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def shard_paths(output, num_shards):
    """`<output>-00000-of-0000N.tfrecord` for each shard."""
    return [f"{output}-{i:05d}-of-{num_shards:05d}.tfrecord"
            for i in range(num_shards)]


def coco_to_tfrecords(annotation_file, image_dir, output, num_shards=1,
                      progress=True):
    """Converts a COCO instances file and its images to sharded TFRecords.

    Images go to shards in turn (image i to shard i mod N).

    Args:
        annotation_file: path of the COCO JSON.
        image_dir: folder of the images (`file_name` relative to it).
        output: prefix of the shard files (its folder is created).
        num_shards: int >= 1.
        progress: show progress (a bar on a terminal, else log lines).

    Returns:
        dict: `shards` (paths), `images`, `boxes` (converted),
        `categories`.

    Raises:
        CocoError: bad annotations, a missing image, or a bad shard count.
    """
    import tensorflow as tf

    if not isinstance(num_shards, int) or num_shards < 1:
        raise CocoError(f"num_shards must be an int >= 1, got {num_shards!r}.")
    images, by_image, categories = read_annotations(annotation_file)
    paths = shard_paths(output, num_shards)
    Path(paths[0]).parent.mkdir(parents=True, exist_ok=True)
    parts = [p + ".part" for p in paths]
    writers = [tf.io.TFRecordWriter(p) for p in parts]
    bar = _Progress(len(images), "coco-to-tfrecord") if progress else None
    boxes = 0
    try:
        for index, image in enumerate(images):
            annotations = by_image.get(image["id"], [])
            writers[index % num_shards].write(
                coco_example(image, annotations, image_dir))
            boxes += sum(1 for a in annotations
                         if a["bbox"][2] > 0 and a["bbox"][3] > 0)
            if bar:
                bar.advance()
    except BaseException:
        for writer in writers:
            writer.close()
        for part in parts:
            if os.path.exists(part):
                os.remove(part)
        raise
    finally:
        if bar:
            bar.close()
    for writer, part, path in zip(writers, parts, paths):
        writer.close()
        os.replace(part, path)
    return {"shards": paths, "images": len(images), "boxes": boxes,
            "categories": len(categories)}
