"""COCO metrics through pycocotools: values that follow from the COCO
definitions for constructed detections (perfect, half found, shifted to a
known IoU, on crowds), ground truth from batches or from a file."""

import json

import numpy as np
import pytest

from zoo.vision.detection.coco_metrics import METRIC_NAMES, CocoEvaluator

pytestmark = pytest.mark.one_backend


def _truth():
    """2 images, 2 categories, 2 boxes of each category per image (50
    wide, 64 to 88 high: medium), plus a crowd box in image 2."""
    boxes = np.zeros((2, 5, 4), "float32")
    classes = np.full((2, 5), -1)
    crowd = np.zeros((2, 5), "int32")
    for i in range(2):
        for j in range(4):
            top, left = 10 + 100 * j, 20 + 60 * i
            boxes[i, j] = [top, left, top + 64 + 8 * j, left + 50]
            classes[i, j] = 1 + (j % 2)
    boxes[1, 4] = [300, 300, 400, 400]
    classes[1, 4] = 1
    crowd[1, 4] = 1
    return {"source_id": np.array([b"7", b"9"]),
            "height": np.array([480, 480]), "width": np.array([640, 640]),
            "boxes": boxes, "classes": classes, "is_crowd": crowd,
            "num_detections": np.array([4, 5])}


def _detections(boxes, classes, keep, scores=None):
    b, m = classes.shape
    out_boxes = np.zeros((b, 10, 4), "float32")
    out_scores = np.zeros((b, 10), "float32")
    out_classes = np.full((b, 10), -1)
    counts = np.zeros(b, "int32")
    for i in range(b):
        chosen = [j for j in range(m) if keep(i, j)]
        counts[i] = len(chosen)
        for n, j in enumerate(chosen):
            out_boxes[i, n] = boxes[i, j]
            out_scores[i, n] = 0.9 - 0.01 * n if scores is None else scores
            out_classes[i, n] = classes[i, j]
    return {"boxes": out_boxes, "scores": out_scores, "classes": out_classes,
            "num_detections": counts}


def test_perfect_detections_score_one():
    truth = _truth()
    ev = CocoEvaluator()
    ev.update_state(truth, _detections(truth["boxes"], truth["classes"],
                                       lambda i, j: j < 4))
    metrics = ev.result()
    assert tuple(metrics) == METRIC_NAMES
    for name in ("AP", "AP50", "AP75", "ARmax100", "APm", "ARm"):
        assert metrics[name] == pytest.approx(1.0), name
    # Every box is medium (32^2 to 96^2 pixels): no small or large ones,
    # which COCO reports as -1.
    assert metrics["APs"] == metrics["APl"] == -1.0


def test_half_found_gives_recall_one_half_and_ap_51_of_101():
    """Per category 2 of 4 found, ranked first: precision 1 up to recall
    0.5, none after: 51 of COCO's 101 recall points."""
    truth = _truth()
    ev = CocoEvaluator(per_category_metrics=True)
    ev.update_state(truth, _detections(truth["boxes"], truth["classes"],
                                       lambda i, j: i == 0 and j < 4))
    metrics = ev.result()
    assert metrics["ARmax100"] == pytest.approx(0.5)
    assert metrics["AP"] == pytest.approx(51 / 101)
    assert metrics["AP_/1"] == pytest.approx(51 / 101)
    assert metrics["ARmax100_/2"] == pytest.approx(0.5)


def test_boxes_at_iou_0_62_count_at_three_of_ten_thresholds():
    truth = _truth()
    shifted = truth["boxes"].copy()
    # Same size, moved down by d: IoU = (h - d) / (h + d) = 0.62.
    height = shifted[..., 2] - shifted[..., 0]
    d = height * (1 - 0.62) / (1 + 0.62)
    shifted[..., 0] += d
    shifted[..., 2] += d
    ev = CocoEvaluator()
    ev.update_state(truth, _detections(shifted, truth["classes"],
                                       lambda i, j: j < 4))
    metrics = ev.result()
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(0.0)
    assert metrics["AP"] == pytest.approx(0.3)   # IoU 0.5, 0.55, 0.6


def test_a_detection_on_a_crowd_is_not_a_false_positive(tmp_path):
    truth = _truth()
    crowd_hit = _detections(truth["boxes"], truth["classes"],
                            lambda i, j: j < 4 or (i == 1 and j == 4))
    # The crowd detection ranks first in image 2.
    crowd_hit["scores"][1, 4] = 0.99
    ev = CocoEvaluator()
    ev.update_state(truth, crowd_hit)
    assert ev.result()["AP"] == pytest.approx(1.0)
    # The same ground truth from an annotation file gives the same figures.
    images = [{"id": 7, "height": 480, "width": 640},
              {"id": 9, "height": 480, "width": 640}]
    annotations = []
    for i, image in enumerate(images):
        for j in range(int(truth["num_detections"][i])):
            y1, x1, y2, x2 = truth["boxes"][i, j].tolist()
            annotations.append({
                "id": len(annotations) + 1, "image_id": image["id"],
                "category_id": int(truth["classes"][i, j]),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": int(truth["is_crowd"][i, j])})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1}, {"id": 2}]}))
    from_file = CocoEvaluator(annotation_file=path)
    half = _detections(truth["boxes"], truth["classes"],
                       lambda i, j: i == 0 and j < 4)
    from_file.update_state({"source_id": truth["source_id"]}, half)
    assert from_file.result()["AP"] == pytest.approx(51 / 101)
    from_file.reset_state()
    assert from_file.result() == {name: 0.0 for name in METRIC_NAMES}


def test_equals_pycocotools_run_directly_on_noisy_detections(tmp_path):
    """Random ground truth (3 classes, small to large boxes, crowds) and
    jittered, partly wrong detections: every metric equals COCOeval's own
    summary over the same JSON, whether the evaluator builds the ground
    truth from batches or reads the file."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(11)
    b, m, d = 6, 8, 12
    images, annotations, results = [], [], []
    truth = {"source_id": np.array([str(i + 1).encode() for i in range(b)]),
             "height": np.full(b, 400), "width": np.full(b, 500),
             "boxes": np.zeros((b, m, 4), "float32"),
             "classes": np.full((b, m), -1), "is_crowd": np.zeros((b, m)),
             "area": np.zeros((b, m), "float32")}
    found = {"boxes": np.zeros((b, d, 4), "float32"),
             "scores": np.zeros((b, d), "float32"),
             "classes": np.full((b, d), -1),
             "num_detections": np.zeros(b, "int32")}
    for i in range(b):
        images.append({"id": i + 1, "height": 400, "width": 500})
        n = rng.integers(2, m + 1)
        for j in range(n):
            h, w = rng.uniform(10, 150, 2)
            y, x = rng.uniform(0, 400 - h), rng.uniform(0, 500 - w)
            box = [y, x, y + h, x + w]
            cls = int(rng.integers(1, 4))
            crowd = int(rng.random() < 0.1)
            truth["boxes"][i, j] = box
            truth["classes"][i, j] = cls
            truth["is_crowd"][i, j] = crowd
            truth["area"][i, j] = h * w
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": cls, "bbox": [x, y, w, h],
                                "area": float(h * w), "iscrowd": crowd})
        k = rng.integers(1, d + 1)
        found["num_detections"][i] = k
        for j in range(k):
            if j < n and rng.random() < 0.8:  # a jittered true box
                box = truth["boxes"][i, j] + rng.normal(0, 6, 4)
                cls = truth["classes"][i, j] if rng.random() < 0.9 else 1
            else:  # a false positive
                y, x = rng.uniform(0, 300), rng.uniform(0, 400)
                box = [y, x, y + 60, x + 60]
                cls = int(rng.integers(1, 4))
            score = float(rng.uniform(0.05, 1))
            found["boxes"][i, j], found["classes"][i, j] = box, cls
            found["scores"][i, j] = score
            results.append({"image_id": i + 1, "category_id": int(cls),
                            "bbox": [float(box[1]), float(box[0]),
                                     float(box[3] - box[1]),
                                     float(box[2] - box[0])],
                            "score": score})
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": c} for c in (1, 2, 3)]}))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        evaluation = COCOeval(gt, gt.loadRes(results), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    direct = dict(zip(METRIC_NAMES, evaluation.stats))
    assert 0.1 < direct["AP"] < 0.9  # a fixture that discriminates
    for annotation_file in (None, path):
        ev = CocoEvaluator(annotation_file=annotation_file)
        for start in (0, 3):  # two batches
            part = slice(start, start + 3)
            ev.update_state({k: v[part] for k, v in truth.items()},
                            {k: v[part] for k, v in found.items()})
        ours = ev.result()
        for name in METRIC_NAMES:
            assert ours[name] == pytest.approx(direct[name], abs=1e-9), name
