"""COCO detection metrics through `pycocotools` (the COCO API itself).

```python
ev = CocoEvaluator()
ev.update_state(groundtruths, detections)     # batch after batch
ev.result()      # {"AP": ..., "AP50": ..., "ARmax100": ..., ...}
```

Metric names and order are the Model Garden's `COCOEvaluator`
(`official/vision/evaluation/coco_evaluator.py`): `AP`, `AP50`, `AP75`,
`APs`, `APm`, `APl`, `ARmax1`, `ARmax10`, `ARmax100`, `ARs`, `ARm`, `ARl`,
fractions in [0, 1], and with `per_category_metrics` `AP_/<category>` and
`ARmax100_/<category>` per class as well. Ground truth comes from an
annotation file, or from the batches (what the validation records hold).
"""

import contextlib
import io

import numpy as np

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "ARmax1",
                "ARmax10", "ARmax100", "ARs", "ARm", "ARl")


def _numpy(value):
    if hasattr(value, "numpy"):
        return value.numpy()
    return np.asarray(value)


def _image_id(source_id):
    if isinstance(source_id, (bytes, np.bytes_)):
        source_id = source_id.decode()
    return int(source_id)


def _xywh(boxes):
    boxes = np.asarray(boxes, "float64")
    return np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1],
                     boxes[:, 2] - boxes[:, 0]], axis=-1)


class CocoEvaluator:
    """Accumulates detections (and ground truth) over a data set and scores
    them with `pycocotools.cocoeval.COCOeval` (`bbox`).

    Args:
        annotation_file: optional COCO instances JSON for the ground truth;
            without it the ground truth passed to `update_state` is used.
        per_category_metrics: also report AP and AR@100 per category.
        max_num_eval_detections: detections per image scored (the Model
            Garden's `max_num_eval_detections`, 100).
    """

    def __init__(self, annotation_file=None, per_category_metrics=False,
                 max_num_eval_detections=100):
        self.annotation_file = annotation_file
        self.per_category_metrics = bool(per_category_metrics)
        self.max_num_eval_detections = int(max_num_eval_detections)
        self._annotations_coco = None
        self.reset_state()

    def reset_state(self):
        """Forgets what was accumulated."""
        self._detections = []
        self._seen = set()
        self._images = {}
        self._annotations = []

    def update_state(self, groundtruths, detections):
        """Adds one batch.

        Args:
            groundtruths: dict of `[B, ...]` arrays: `source_id` (COCO image
                ids), and unless an annotation file is given, `height`,
                `width` (the original image's), `boxes` `[B, M, 4]` yxyx in
                original pixels, `classes` `[B, M]` (negative: padding),
                optional `is_crowd`, `area`, `num_detections` `[B]`.
            detections: dict of `[B, ...]` arrays, `ObjectDetector.decode`'s
                with boxes in original pixels: `boxes`, `scores`, `classes`,
                `num_detections`.
        """
        ids = [_image_id(s) for s in _numpy(groundtruths["source_id"])]
        self._seen.update(ids)
        boxes = _numpy(detections["boxes"])
        scores = _numpy(detections["scores"])
        classes = _numpy(detections["classes"])
        counts = _numpy(detections["num_detections"])
        for i, image_id in enumerate(ids):
            n = min(int(counts[i]), self.max_num_eval_detections)
            for box, score, cls in zip(_xywh(boxes[i, :n]), scores[i, :n],
                                       classes[i, :n]):
                self._detections.append([image_id, *box, float(score),
                                         int(cls)])
        if self.annotation_file is None:
            self._add_groundtruths(ids, groundtruths)

    def _add_groundtruths(self, ids, groundtruths):
        boxes = _numpy(groundtruths["boxes"])
        classes = _numpy(groundtruths["classes"])
        heights = _numpy(groundtruths["height"])
        widths = _numpy(groundtruths["width"])
        crowd = groundtruths.get("is_crowd")
        area = groundtruths.get("area")
        counts = groundtruths.get("num_detections")
        for i, image_id in enumerate(ids):
            self._images[image_id] = {"id": image_id,
                                      "height": int(heights[i]),
                                      "width": int(widths[i])}
            n = (int(_numpy(counts)[i]) if counts is not None
                 else int((classes[i] >= 0).sum()))
            for j, box in enumerate(_xywh(boxes[i, :n])):
                if classes[i, j] < 0:
                    continue
                self._annotations.append({
                    "id": len(self._annotations) + 1, "image_id": image_id,
                    "category_id": int(classes[i, j]),
                    "bbox": [float(v) for v in box],
                    "area": (float(_numpy(area)[i, j]) if area is not None
                             else float(box[2] * box[3])),
                    "iscrowd": (int(_numpy(crowd)[i, j]) if crowd is not None
                                else 0)})

    def check_image_ids(self):
        """Raises unless every image seen is in the annotation file.

        Raises:
            ValueError: naming the first image id the file lacks (records
                and annotations of different sets would score nonsense).
        """
        if self.annotation_file is None:
            return
        known = set(self._ground_truth().getImgIds())
        missing = sorted(self._seen - known)
        if missing:
            raise ValueError(
                f"Image id {missing[0]} of the evaluated records is not in "
                f"the annotation file {str(self.annotation_file)!r} "
                f"({len(missing)} of {len(self._seen)} images missing): the "
                "records and the annotations are of different sets.")

    def _ground_truth(self):
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            if self.annotation_file is not None:
                if self._annotations_coco is None:
                    self._annotations_coco = COCO(str(self.annotation_file))
                return self._annotations_coco
            coco = COCO()
            categories = sorted({a["category_id"] for a in self._annotations}
                                | {d[6] for d in self._detections})
            coco.dataset = {"images": list(self._images.values()),
                            "annotations": list(self._annotations),
                            "categories": [{"id": c} for c in categories]}
            coco.createIndex()
        return coco

    def result(self):
        """The metrics of everything added since the last reset.

        Returns:
            dict name -> float (`METRIC_NAMES`, and per category on
            request); every metric is 0 when there were no detections.
        """
        from pycocotools.cocoeval import COCOeval

        if not self._detections:
            return {name: 0.0 for name in METRIC_NAMES}
        truth = self._ground_truth()
        with contextlib.redirect_stdout(io.StringIO()):
            found = truth.loadRes(np.asarray(self._detections, "float64"))
            evaluation = COCOeval(truth, found, iouType="bbox")
            # The images seen, whether or not anything was found in them.
            evaluation.params.imgIds = sorted(self._seen)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        metrics = {name: float(value)
                   for name, value in zip(METRIC_NAMES, evaluation.stats)}
        if self.per_category_metrics:
            # precision [T, R, K, A, M], recall [T, K, A, M]; area "all",
            # the largest max-detections setting.
            precision = evaluation.eval["precision"][:, :, :, 0, -1]
            recall = evaluation.eval["recall"][:, :, 0, -1]
            for k, category in enumerate(evaluation.params.catIds):
                p = precision[:, :, k]
                r = recall[:, k]
                metrics[f"AP_/{category}"] = float(p[p > -1].mean()) \
                    if (p > -1).any() else 0.0
                metrics[f"ARmax100_/{category}"] = float(r[r > -1].mean()) \
                    if (r > -1).any() else 0.0
        return metrics
