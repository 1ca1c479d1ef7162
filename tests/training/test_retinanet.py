"""RetinaNet as an experiment: the record pipeline's anchor targets and bad
input, the COCO evaluation through the trainer, and a detector that learns
the drawn shapes set (`retinanet_shapes`) here."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

import training
from training.config import ConfigError
from training.data.detection import (
    build_detection_dataset,
    make_detection_example,
)
from training.data.image_classification import CorruptImageCounter
from training.data.shapes import CATEGORIES, draw_image, write_shapes_dataset
from training.registry import get_task
from training.tasks.retinanet import RetinaNetDataConfig
from training.trainer import Trainer

import zoo_ops

SIZE = (128, 128)
ANCHORS = zoo_ops.generate_anchors_numpy(SIZE, min_level=3, max_level=5,
                                         anchor_size=3.0)
FLAT = np.concatenate([ANCHORS[k].reshape(-1, 4) for k in sorted(ANCHORS)])


def _write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return [str(path)]


def _record(boxes, classes, source_id="1", size=SIZE):
    image = np.full(size + (3,), 128, np.uint8)
    return make_detection_example(tf.io.encode_png(image).numpy(), *size,
                                  boxes, classes, source_id=source_id)


def _batches(files, num_classes=4, box_counter=None, **data):
    config = RetinaNetDataConfig(is_training=False, global_batch_size=1,
                                 dtype="float32", **data)
    config.parser.unmatched_threshold = 0.4
    dataset = build_detection_dataset(
        files, config, output_size=SIZE, anchors=FLAT,
        num_classes=num_classes, batch_size=1, box_counter=box_counter)
    return list(dataset.as_numpy_iterator())


def _iou(a, b):
    """`[N, M]` IoU of yxyx boxes, NumPy."""
    ymin = np.maximum(a[:, None, 0], b[None, :, 0])
    xmin = np.maximum(a[:, None, 1], b[None, :, 1])
    ymax = np.minimum(a[:, None, 2], b[None, :, 2])
    xmax = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None] - inter)


@pytest.mark.one_backend
def test_anchor_targets_of_a_hand_made_image_match_numpy(tmp_path):
    boxes = np.array([[16, 16, 48, 48], [60, 30, 110, 100], [2, 100, 10, 112]],
                     "float32")
    files = _write(tmp_path / "r.tfrecord", [_record(boxes, [1, 2, 3])])
    (_, labels), = _batches(files)
    # NumPy: IoU >= 0.5 positive, < 0.4 negative, between ignored; each
    # box's best anchor positive whatever its IoU (the third box, 8 x 12
    # pixels, matches no anchor at 0.5).
    iou = _iou(FLAT, boxes)
    best, matched = iou.max(1), iou.argmax(1)
    positive = best >= 0.5
    ignored = (best >= 0.4) & ~positive
    for g in range(len(boxes)):
        a = iou[:, g].argmax()
        positive[a], ignored[a], matched[a] = True, False, g
    assert iou[:, 2].max() < 0.5 and positive.sum() > 3
    expected_classes = np.where(positive, np.array([1, 2, 3])[matched], -1)
    np.testing.assert_array_equal(labels["class_targets"][0],
                                  expected_classes)
    np.testing.assert_array_equal(labels["class_weights"][0], ~ignored)
    np.testing.assert_array_equal(labels["box_weights"][0], positive)
    ya, xa = (FLAT[:, 0] + FLAT[:, 2]) / 2, (FLAT[:, 1] + FLAT[:, 3]) / 2
    ha, wa = FLAT[:, 2] - FLAT[:, 0], FLAT[:, 3] - FLAT[:, 1]
    g = boxes[matched]
    y, x = (g[:, 0] + g[:, 2]) / 2, (g[:, 1] + g[:, 3]) / 2
    h, w = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    encoded = np.stack([(y - ya) / ha, (x - xa) / wa, np.log(h / ha),
                        np.log(w / wa)], -1)
    np.testing.assert_allclose(labels["box_targets"][0][positive],
                               encoded[positive], atol=1e-5)
    np.testing.assert_array_equal(labels["box_targets"][0][~positive], 0)


@pytest.mark.one_backend
def test_an_image_without_boxes_is_all_background(tmp_path):
    from zoo.vision.detection.losses import retinanet_loss

    files = _write(tmp_path / "r.tfrecord", [_record(np.zeros((0, 4)), [])])
    (_, labels), = _batches(files)
    assert (labels["class_targets"] == -1).all()
    assert (labels["class_weights"] == 1).all()
    assert (labels["box_weights"] == 0).all()
    assert int(labels["num_gt"][0]) == 0
    rng = np.random.default_rng(0)
    outputs = {"cls_outputs": rng.normal(size=(1, len(FLAT), 4)),
               "box_outputs": rng.normal(size=(1, len(FLAT), 4))}
    total, classes, box = (float(v) for v in retinanet_loss(
        outputs, labels, 4))
    assert np.isfinite(total) and total > 0 and box == 0


@pytest.mark.one_backend
def test_boxes_are_clipped_and_degenerate_ones_dropped_and_counted(tmp_path):
    boxes = [[-20, -10, 40, 50],    # half outside: clipped to the image
             [30, 30, 30, 60],      # no height
             [140, 20, 170, 60],    # below the image: empty once clipped
             [50, 50, 90, 100]]
    files = _write(tmp_path / "r.tfrecord", [_record(boxes, [1, 2, 3, 1])])
    counter = CorruptImageCounter("dropped_boxes", "empty boxes")
    (_, labels), = _batches(files, box_counter=counter)
    assert int(labels["num_gt"][0]) == 2
    np.testing.assert_allclose(labels["gt_boxes"][0, :2],
                               [[0, 0, 40, 50], [50, 50, 90, 100]],
                               atol=1e-4)
    np.testing.assert_array_equal(labels["gt_classes"][0, :3], [1, 1, -1])
    assert counter.count == 2


@pytest.mark.one_backend
def test_a_class_id_beyond_num_classes_names_the_record(tmp_path):
    files = _write(tmp_path / "r.tfrecord", [
        _record([[10, 10, 50, 50]], [1], source_id="7"),
        _record([[10, 10, 50, 50]], [4], source_id="1234")])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image/source_id=1234 has a box of class 4, "
                             r"outside \[0, num_classes=4\)"):
        _batches(files)


def test_shapes_are_drawn_inside_their_boxes():
    rng = np.random.default_rng(3)
    from training.data.shapes import _photos

    image, objects = draw_image(rng, _photos())
    h, w = image.shape[:2]
    assert 96 <= h <= 160 and 96 <= w <= 160 and 1 <= len(objects) <= 4
    for o in objects:
        ymin, xmin, ymax, xmax = o["box"]
        assert 0 <= ymin < ymax <= h and 0 <= xmin < xmax <= w
        side = max(ymax - ymin, xmax - xmin)
        assert 16 <= side <= 64
        # The painted area fills as much of the box as its shape does:
        # all of a square, pi/4 of a circle, half of a triangle.
        fill = o["area"] / ((ymax - ymin) * (xmax - xmin))
        expected = {1: np.pi / 4, 2: 1.0, 3: 0.5}[o["category_id"]]
        assert abs(fill - expected) < 0.12
    assert {c["name"] for c in CATEGORIES} == {"circle", "square",
                                               "triangle"}


def _shapes_config(tmp_path, train_images, val_images, steps, **trainer):
    train = write_shapes_dataset(tmp_path / "shapes", "train", train_images,
                                 seed=0)
    val = write_shapes_dataset(tmp_path / "shapes", "val", val_images, seed=1)
    config = training.get_experiment("retinanet_shapes")
    config.override({
        "task": {
            "annotation_file": val["annotation_file"],
            "train_data": {"file_type": "tfrecord",
                           "input_path": train["tfrecords"]},
            "validation_data": {"file_type": "tfrecord",
                                "input_path": val["tfrecords"]}},
        "trainer": {
            "train_steps": steps, "steps_per_loop": steps,
            "summary_interval": steps, "checkpoint_interval": steps,
            "validation_interval": steps,
            "optimizer_config": {"learning_rate": {"cosine": {
                "decay_steps": steps}}}, **trainer}})
    return config, val


def test_a_small_retinanet_learns_the_shapes(tmp_path):
    """Trained here from scratch, scored by pycocotools against the held-out
    images' COCO JSON through the trainer's validation; the metrics reach
    the CSV log and TensorBoard, and the best checkpoint by AP is
    exported."""
    config, _ = _shapes_config(tmp_path, 256, 48, 400)
    # Every shape's box is square: one aspect ratio, a third of the anchors.
    config.override({"task.model.anchor.aspect_ratios": [1.0],
                     "trainer.optimizer_config.warmup.linear.warmup_steps":
                         50})
    trainer = Trainer(config, str(tmp_path / "run"))
    results = trainer.train()
    assert results["val_AP50"] >= 0.5, results
    assert 0 < results["val_AP"] <= results["val_AP50"]
    assert results["dropped_boxes"] == 0 and results["corrupt_images"] == 0
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["val_AP50"]) == pytest.approx(results["val_AP50"])
    events = list((tmp_path / "run" / "validation").rglob("events.out.*"))
    assert events
    import zoo

    best = zoo.from_preset(str(tmp_path / "run" / "best" / "preset"))
    assert isinstance(best.preprocessor, zoo.DetectionPreprocessor)
    assert best.aspect_ratios == [1.0]


def test_an_annotation_file_of_other_images_is_refused(tmp_path):
    config, val = _shapes_config(tmp_path, 4, 4, 1)
    data = json.loads(open(val["annotation_file"]).read())
    data["images"] = [i for i in data["images"] if i["id"] != 3]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    config.override({"task": {"annotation_file": str(other),
                              "validation_data": {"global_batch_size": 4}}})
    trainer = Trainer(config, str(tmp_path / "run"))
    trainer._setup()
    with pytest.raises(ConfigError,
                       match=r"task.annotation_file: Image id 3 of the "
                             r"evaluated records is not in the annotation "
                             r"file"):
        trainer.evaluate_model()


@pytest.mark.one_backend
def test_the_model_gardens_checkpoint_path_is_refused_clearly(tmp_path):
    config = training.get_experiment("retinanet_resnetfpn_coco")
    task = get_task(config.task)
    with pytest.raises(ConfigError, match="Model Garden TensorFlow "
                                          "checkpoint, which zoo does not"):
        task.initialize(None)
