"""`zoo data coco-to-tfrecord`: a COCO instances file and real image files
to sharded TFRecords that decode to the same boxes, classes and ids."""

import json

import numpy as np
import pytest
import tensorflow as tf

from training.cli import main
from training.data.coco import CocoError, coco_to_tfrecords
from training.data.detection import decode_detection_example

pytestmark = pytest.mark.one_backend


def _coco(tmp_path, count=5):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    images, annotations = [], []
    for i in range(count):
        height, width = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        name = f"{i:03d}." + ("jpg" if i % 2 else "png")
        data = (tf.io.encode_jpeg(pixels) if i % 2
                else tf.io.encode_png(pixels)).numpy()
        (folder / name).write_bytes(data)
        images.append({"id": 100 + i, "file_name": name, "height": height,
                       "width": width})
        for j in range(i % 3 + 1):
            annotations.append({
                "id": len(annotations) + 1, "image_id": 100 + i,
                "category_id": int(rng.integers(1, 91)),
                "bbox": [2.0 + j, 3.0, 20.5, 10.0 + j], "area": 150.0 + j,
                "iscrowd": int(j == 2)})
    annotations.append({"id": 99, "image_id": 100, "category_id": 5,
                        "bbox": [1, 1, 0, 4], "area": 0, "iscrowd": 0})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "a"}]}))
    return path, folder, images, annotations


def test_converted_shards_decode_to_the_annotations(tmp_path):
    path, folder, images, annotations = _coco(tmp_path)
    summary = coco_to_tfrecords(path, folder, str(tmp_path / "out" / "val"),
                                num_shards=2, progress=False)
    assert [p.rsplit("/", 1)[1] for p in summary["shards"]] == [
        "val-00000-of-00002.tfrecord", "val-00001-of-00002.tfrecord"]
    assert summary["images"] == 5 and summary["boxes"] == len(annotations) - 1
    decoded = list(tf.data.TFRecordDataset(summary["shards"]).map(
        decode_detection_example))
    assert len(decoded) == 5
    by_id = {int(d["source_id"].numpy()): d for d in decoded}
    for image in images:
        record = by_id[image["id"]]
        h, w = image["height"], image["width"]
        assert (int(record["height"]), int(record["width"])) == (h, w)
        assert record["image"].shape == (h, w, 3)
        mine = [a for a in annotations if a["image_id"] == image["id"]
                and a["bbox"][2] > 0]
        x, y, bw, bh = np.array([a["bbox"] for a in mine]).T
        expected = np.stack([y / h, x / w, (y + bh) / h, (x + bw) / w], -1)
        np.testing.assert_allclose(record["boxes"].numpy(), expected,
                                   atol=1e-6)
        np.testing.assert_array_equal(record["classes"].numpy(),
                                      [a["category_id"] for a in mine])
        np.testing.assert_array_equal(record["is_crowd"].numpy(),
                                      [bool(a["iscrowd"]) for a in mine])
        np.testing.assert_allclose(record["area"].numpy(),
                                   [a["area"] for a in mine])
    assert not list((tmp_path / "out").glob("*.part"))


def test_cli_converts_and_names_what_is_missing(tmp_path, capsys):
    path, folder, _, _ = _coco(tmp_path, count=3)
    status = main(["data", "coco-to-tfrecord", "--annotations", str(path),
                   "--images", str(folder), "--output",
                   str(tmp_path / "train"), "--shards", "3", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0 and "wrote 3 images" in out
    (folder / "001.jpg").unlink()
    status = main(["data", "coco-to-tfrecord", "--annotations", str(path),
                   "--images", str(folder), "--output",
                   str(tmp_path / "again"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert "001.jpg" in err and "COCO image id 101 is missing" in err
    # Nothing half-written is left behind.
    assert not list(tmp_path.glob("again*"))
    with pytest.raises(CocoError, match="no 'images' list"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        coco_to_tfrecords(bad, folder, str(tmp_path / "x"))
