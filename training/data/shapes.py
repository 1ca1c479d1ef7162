"""`shapes`: a small detection set drawn here, in COCO's formats.

Circles, squares and triangles (COCO category ids 1, 2, 3) of 16 to 64
pixels, one to four an image, painted in flat colours onto crops of the
photos that scikit-image ships (`skimage.data`: astronaut, chelsea,
coffee, rocket, immunohistochemistry, hubble_deep_field). Images are 96 to
160 pixels a side, so a batch mixes sizes and aspect ratios. Everything is
a function of the seed.

`write_shapes_dataset` writes a split the way a real data set arrives: PNG
files, a COCO instances JSON (boxes `[x, y, width, height]`, `area` the
shape's pixel count), and the TFRecords that `zoo data coco-to-tfrecord`
makes of them (`training.data.coco`). `ensure_shapes_dataset` keeps both
splits under `$ZOO_HOME/datasets/` for the `retinanet_shapes` experiment,
written once (into a temporary folder renamed when complete, so an
interrupted run leaves nothing half-written). `write_segmentation_shapes`
and `ensure_segmentation_shapes` do the same for `seg_shapes`: the same
drawings, each pixel's class (0 for the photo) as the mask of a
segmentation record.

```python
from training.data.shapes import write_shapes_dataset
split = write_shapes_dataset("/tmp/shapes", "val", num_images=8, seed=1)
split["annotation_file"], split["tfrecords"]
```
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

CATEGORIES = ({"id": 1, "name": "circle"}, {"id": 2, "name": "square"},
              {"id": 3, "name": "triangle"})
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
          "hubble_deep_field")
IMAGE_SIDES = (96, 160)
OBJECT_SIDES = (16, 64)
MAX_OBJECTS = 4
#: Bump when the drawing changes, so cached sets are redrawn.
VERSION = 1
#: Image and shape sides of the segmentation set: larger shapes, whose
#: outlines tell them apart at a small network's resolution.
SEGMENTATION_IMAGE_SIDES = (96, 128)
SEGMENTATION_OBJECT_SIDES = (32, 64)
#: The `retinanet_shapes` splits: (images, seed).
SPLITS = {"train": (1024, 0), "val": (128, 1)}


def _photos():
    import skimage.data

    photos = []
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        # Subsampled to about 200 pixels a side: more texture per crop.
        step = max(1, min(photo.shape[:2]) // 200)
        photos.append(photo[::step, ::step])
    return photos


def _overlap(a, b):
    """Intersection over the smaller box's area."""
    ymin, xmin = max(a[0], b[0]), max(a[1], b[1])
    ymax, xmax = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, ymax - ymin) * max(0, xmax - xmin)
    return inter / min((a[2] - a[0]) * (a[3] - a[1]),
                       (b[2] - b[0]) * (b[3] - b[1]))


def _mask(category, side, rng):
    """A `[side, side]` bool mask of one shape."""
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    if category == 1:
        r = side / 2
        return (yy - r) ** 2 + (xx - r) ** 2 <= r * r
    if category == 2:
        return np.ones((side, side), bool)
    # An upright or upside-down triangle filling the square's width.
    if rng.random() < 0.5:
        yy = side - yy
    half = side / 2
    return np.abs(xx - half) <= half * yy / side


def draw_image(rng, photos, class_map=False, image_sides=IMAGE_SIDES,
               object_sides=OBJECT_SIDES):
    """One image and its objects.

    Args:
        rng: a NumPy Generator (the same draws whatever `class_map`).
        photos: `_photos()`.
        class_map: also return each pixel's category id.
        image_sides, object_sides: `(smallest, largest)` side of the image
            and of a shape, in pixels.

    Returns:
        `(image uint8 [h, w, 3], objects)`: each object a dict with
        `category_id`, `box` `[ymin, xmin, ymax, xmax]` (pixels, the shape's
        tight extent) and `area` (its pixel count); with `class_map`, a
        third element: uint8 `[h, w]`, 0 for the photo, else the category
        id of the shape painted last there.
    """
    h, w = (int(v) for v in rng.integers(image_sides[0],
                                         image_sides[1] + 1, 2))
    photo = photos[rng.integers(len(photos))]
    top = rng.integers(0, photo.shape[0] - h + 1)
    left = rng.integers(0, photo.shape[1] - w + 1)
    image = photo[top:top + h, left:left + w].copy()
    labels = np.zeros((h, w), np.uint8)
    objects = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        for _ in range(20):  # placements that barely cover the others
            side = int(rng.integers(object_sides[0], object_sides[1] + 1))
            side = min(side, h, w)
            y = int(rng.integers(0, h - side + 1))
            x = int(rng.integers(0, w - side + 1))
            box = [y, x, y + side, x + side]
            if all(_overlap(box, o["box"]) < 0.1 for o in objects):
                break
        else:
            continue
        category = int(rng.integers(1, len(CATEGORIES) + 1))
        mask = _mask(category, side, rng)
        region = image[y:y + side, x:x + side]
        colour = rng.integers(0, 256, 3)
        # Far enough from what it covers to be seen.
        if np.abs(colour - region.reshape(-1, 3).mean(0)).sum() < 150:
            colour = 255 - colour
        region[mask] = colour
        labels[y:y + side, x:x + side][mask] = category
        rows, cols = np.nonzero(mask)
        objects.append({
            "category_id": category,
            "box": [y + int(rows.min()), x + int(cols.min()),
                    y + int(rows.max()) + 1, x + int(cols.max()) + 1],
            "area": float(mask.sum())})
    if class_map:
        return image, objects, labels
    return image, objects


def write_shapes_dataset(directory, split, num_images, seed, num_shards=1,
                         progress=False):
    """Draws `num_images` and writes them as PNG + COCO JSON + TFRecords.

    Args:
        directory: where `<split>/` images, `instances_<split>.json` and
            `<split>-0000i-of-0000N.tfrecord` go.
        split: name of the split (`"train"`, `"val"`, ...).
        num_images: int >= 1.
        seed: int; the same seed draws the same images.
        num_shards: TFRecord shards.
        progress: show the conversion's progress.

    Returns:
        dict `annotation_file`, `image_dir`, `tfrecords` (list of paths),
        `images`, `boxes`.
    """
    import skimage.io

    from training.data.coco import coco_to_tfrecords

    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}.")
    directory = Path(directory)
    image_dir = directory / split
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = _photos()
    images, annotations = [], []
    for index in range(num_images):
        image, objects = draw_image(rng, photos)
        image_id = index + 1
        name = f"{image_id:06d}.png"
        skimage.io.imsave(image_dir / name, image, check_contrast=False)
        images.append({"id": image_id, "file_name": name,
                       "height": image.shape[0], "width": image.shape[1]})
        for o in objects:
            ymin, xmin, ymax, xmax = o["box"]
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": o["category_id"],
                "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                "area": o["area"], "iscrowd": 0})
    annotation_file = directory / f"instances_{split}.json"
    annotation_file.write_text(json.dumps({
        "info": {"description": f"zoo shapes v{VERSION}, {split}, seed "
                                f"{seed}"},
        "images": images, "annotations": annotations,
        "categories": list(CATEGORIES)}))
    converted = coco_to_tfrecords(annotation_file, image_dir,
                                  str(directory / split), num_shards,
                                  progress=progress)
    return {"annotation_file": str(annotation_file),
            "image_dir": str(image_dir), "tfrecords": converted["shards"],
            "images": num_images, "boxes": converted["boxes"]}


def write_segmentation_shapes(directory, split, num_images, seed,
                              num_shards=1):
    """Draws `num_images` and writes them as segmentation TFRecords.

    The drawings of `draw_image` (96-128 pixel images, shapes of 32-64
    pixels), their class maps as single-channel PNG masks (0 background,
    1 circle, 2 square, 3 triangle), in the Model Garden's segmentation
    records (`training.data.segmentation`).

    Args:
        directory: where `<split>-0000i-of-0000N.tfrecord` go.
        split: name of the split.
        num_images: int >= 1.
        seed: int; the same seed draws the same images.
        num_shards: TFRecord shards.

    Returns:
        dict `tfrecords` (list of paths), `images`, `pixels` (per class).
    """
    import tensorflow as tf

    from training.data.segmentation import (
        encode_png,
        make_segmentation_example,
    )

    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = _photos()
    paths = [str(directory / f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord")
             for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    pixels = np.zeros(len(CATEGORIES) + 1, np.int64)
    try:
        for index in range(num_images):
            image, _, labels = draw_image(
                rng, photos, class_map=True,
                image_sides=SEGMENTATION_IMAGE_SIDES,
                object_sides=SEGMENTATION_OBJECT_SIDES)
            pixels += np.bincount(labels.ravel(), minlength=len(pixels))
            writers[index % num_shards].write(make_segmentation_example(
                encode_png(image), encode_png(labels), image.shape[0],
                image.shape[1], source_id=f"{split}-{index + 1:06d}"))
    finally:
        for writer in writers:
            writer.close()
    return {"tfrecords": paths, "images": num_images,
            "pixels": pixels.tolist()}


def _ensure(root, write, what):
    """`write(staging) -> splits`, run once into `root` (staged, renamed
    when complete); returns the manifest."""
    import logging

    manifest = root / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    root.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("zoo").info("Drawing the %s data set into %s.", what,
                                  root)
    staging = Path(tempfile.mkdtemp(prefix=".shapes-", dir=root.parent))
    try:
        splits = write(staging)
        text = json.dumps(splits).replace(str(staging), str(root))
        (staging / "manifest.json").write_text(text)
        try:
            os.replace(staging, root)
        except OSError:  # another process finished first
            if not manifest.exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return json.loads(manifest.read_text())


def ensure_segmentation_shapes(root=None):
    """Both `seg_shapes` splits (`SPLITS`: 1,024 training and 128
    validation images), drawn on first use into
    `$ZOO_HOME/datasets/seg-shapes-v<VERSION>`.

    Returns:
        dict split -> `write_segmentation_shapes`'s dict.
    """
    from zoo.presets.download import zoo_home

    if root is None:
        root = zoo_home() / "datasets" / f"seg-shapes-v{VERSION}"
    return _ensure(Path(root), lambda staging: {
        name: write_segmentation_shapes(staging, name, count, seed)
        for name, (count, seed) in SPLITS.items()}, "segmentation shapes")


def shapes_root():
    """Where `ensure_shapes_dataset` keeps the set:
    `$ZOO_HOME/datasets/shapes-v<VERSION>`."""
    from zoo.presets.download import zoo_home

    return zoo_home() / "datasets" / f"shapes-v{VERSION}"


def ensure_shapes_dataset(root=None):
    """Both `retinanet_shapes` splits (`SPLITS`), drawn on first use.

    Args:
        root: folder of the set (default `shapes_root()`).

    Returns:
        dict split -> `write_shapes_dataset`'s dict.
    """
    root = Path(root) if root is not None else shapes_root()
    return _ensure(root, lambda staging: {
        name: write_shapes_dataset(staging, name, count, seed, progress=True)
        for name, (count, seed) in SPLITS.items()}, "shapes")
