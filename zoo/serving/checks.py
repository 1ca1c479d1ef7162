"""The check of an artifact against the Keras model it came from: the same
inputs through both, the largest absolute difference per output."""

import logging

import numpy as np

from zoo.serving.export import IMAGE_KEY, TOLERANCE, ExportError

logger = logging.getLogger(__name__)

#: Texts the check of a text encoder runs on by default.
DEFAULT_TEXTS = ("A photo of a cat sitting on a mat.",
                 "Exported models answer without Python.", "zoo")


def sample_images(model, count=3, seed=0, size=None):
    """Deterministic smooth uint8 test images around the model's input size
    (two of one size, batched together, and one of another; all of `size`
    when given), each a sum of random low-frequency waves."""
    preprocessor = model.preprocessor
    height, width = preprocessor.image_size
    shape = tuple(model.inputs[0].shape[1:])
    channels = shape[0] if getattr(preprocessor, "data_format", "") == (
        "channels_first") else shape[-1]
    sizes = [(int(height * 1.3) + 1, int(width * 1.1) + 3)] * 2 + [
        (max(height // 2, 8) + 5, int(width * 1.7))]
    if size is not None:
        sizes = [tuple(size)] * count
    rng = np.random.default_rng(seed)
    images = []
    for h, w in sizes[:count]:
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        planes = []
        for _ in range(channels):
            wave = sum(np.sin(2 * np.pi * (rng.uniform(0.5, 3) * x
                                           + rng.uniform(0.5, 3) * y)
                              + rng.uniform(0, 6)) for _ in range(3))
            planes.append(127.5 + 40 * wave)
        images.append(np.clip(np.stack(planes, -1), 0, 255).astype("uint8"))
    return images


def encode_png(image):
    """PNG bytes of a uint8 `[h, w, c]` array (lossless: the check's
    decoded image equals the array)."""
    import tensorflow as tf

    return tf.io.encode_png(image).numpy()


def tf_example(encoded):
    """A serialised `tf.train.Example` with the image under the Model
    Garden's key."""
    import tensorflow as tf

    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))
    return tf.train.Example(features=tf.train.Features(
        feature={IMAGE_KEY: feature})).SerializeToString()


def reference_outputs(model, kind, samples):
    """What the Keras model says about `samples`, as the artifact's output
    names: image classifiers `logits` (or none) and `probs`; text encoders
    `embeddings`."""
    import keras

    if kind == "text_encoder":
        return {"embeddings": model.embed(list(samples))}
    if kind == "object_detector":
        rows = [{k: np.asarray(keras.ops.convert_to_numpy(v))[0]
                 for k, v in model.detect(image[None]).items()}
                for image in samples]
        return {"detection_boxes": np.stack([r["boxes"] for r in rows]),
                "detection_scores": np.stack([r["scores"] for r in rows]),
                "detection_classes": np.stack([r["classes"] for r in rows]),
                "num_detections": np.stack([r["num_detections"]
                                            for r in rows])}
    preprocessed = np.stack([
        np.asarray(keras.ops.convert_to_numpy(
            model.preprocessor(_layout(model, image[None]))))[0]
        for image in samples])
    scores = np.asarray(keras.ops.convert_to_numpy(
        model(preprocessed, training=False)), "float64")
    if model.activation is None:
        shifted = scores - scores.max(-1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(-1,
                                                              keepdims=True)
        return {"logits": scores, "probs": probabilities}
    return {"probs": scores}


def _layout(model, images):
    if getattr(model.preprocessor, "data_format", "") == "channels_first":
        return np.transpose(images, (0, 3, 1, 2))
    return images


def artifact_inputs(input_type, samples):
    """Batches to feed the artifact: `[(indices, inputs)]`; same-size images
    go together."""
    if input_type == "text":
        return [(list(range(len(samples))),
                 np.asarray([s.encode() for s in samples], object))]
    if input_type == "image_tensor":
        groups = {}
        for index, image in enumerate(samples):
            groups.setdefault(image.shape, []).append(index)
        return [(indices, np.stack([samples[i] for i in indices]))
                for indices in groups.values()]
    encoded = [encode_png(image) for image in samples]
    if input_type == "tf_example":
        encoded = [tf_example(e) for e in encoded]
    return [(list(range(len(samples))), np.asarray(encoded, object))]


def compare(model, kind, input_type, run, samples=None, log=True):
    """Runs the artifact (`run({"inputs": array}) -> {name: array}`) and the
    Keras model on the same samples.

    Returns:
        `(differences, got, expected)`: `{output: max abs difference}`
        (logits: relative to their largest magnitude), and both sides'
        outputs `{name: [samples, ...]}` in the samples' order.
    """
    if samples is None:
        samples = (list(DEFAULT_TEXTS) if kind == "text_encoder"
                   else sample_images(model))
    expected = reference_outputs(model, kind, samples)
    got = {name: [None] * len(samples) for name in expected}
    for indices, inputs in artifact_inputs(input_type, samples):
        outputs = run({"inputs": inputs})
        for name in expected:
            for row, index in enumerate(indices):
                got[name][index] = np.asarray(outputs[name][row], "float64")
    got = {name: np.stack(rows) for name, rows in got.items()}
    if kind == "object_detector":
        got = match_detections(got, expected)
    differences = {}
    for name, reference in expected.items():
        difference = float(np.abs(got[name] - reference).max())
        if name in ("logits", "detection_boxes"):
            # Relative to the largest magnitude (logits; box coordinates
            # in pixels); class ids and counts must be equal.
            difference /= max(1.0, float(np.abs(reference).max()))
        differences[name] = difference
    (logger.info if log else logger.debug)(
        "export check on %d samples: max abs difference %s", len(samples),
        ", ".join(f"{k} {v:.2e}" for k, v in differences.items()))
    return differences, got, expected


DETECTION_KEYS = ("detection_boxes", "detection_scores",
                  "detection_classes")


def match_detections(got, expected):
    """`got`'s detections reordered to pair with `expected`'s: each
    expected detection takes the unused one of its class with the nearest
    box. Detections whose scores differ by float noise can come out of NMS
    in either order; the pairs are then compared as they are.

    Args:
        got, expected: dicts with `detection_boxes` `[N, D, 4]`,
            `detection_scores` `[N, D]`, `detection_classes` `[N, D]` and
            `num_detections` `[N]`.

    Returns:
        `got`, reordered (a copy).
    """
    got = {name: np.array(value) for name, value in got.items()}
    for i in range(len(expected["num_detections"])):
        count = min(int(expected["num_detections"][i]),
                    int(got["num_detections"][i]))
        boxes = got["detection_boxes"][i, :count]
        classes = got["detection_classes"][i, :count]
        free = np.ones(count, bool)
        order = []
        for j in range(count):
            cost = np.abs(boxes - expected["detection_boxes"][i, j]).sum(-1)
            cost = np.where(
                free & (classes == expected["detection_classes"][i, j]),
                cost, np.inf)
            pick = int(np.argmin(cost)) if np.isfinite(cost).any() else \
                int(np.argmax(free))
            free[pick] = False
            order.append(pick)
        for name in DETECTION_KEYS:
            got[name][i, :count] = got[name][i, order]
    return got


def check(model, kind, input_type, run, samples=None, tolerance=TOLERANCE):
    """`compare`, raising when the artifact is off.

    Returns:
        `{output: max abs difference}`.

    Raises:
        ExportError: a difference above `tolerance`.
    """
    differences, _, _ = compare(model, kind, input_type, run, samples)
    worst = max(differences, key=differences.get)
    if differences[worst] > tolerance:
        raise ExportError(
            f"the exported artifact differs from the Keras model: {worst} by "
            f"{differences[worst]:.3g} (max abs, more than {tolerance:g}); "
            "nothing was written.")
    return differences


def agreement(model, run, samples=None, input_type="image_tensor",
              kind="image_classifier"):
    """What a quantised or bfloat16 artifact is held to, against the Keras
    model on `samples`: image classifiers `{"max_abs_diff": {"probs": d},
    "top1_agreement": share}`; text encoders `{"max_abs_diff":
    {"embeddings": d}, "min_cosine_similarity": c}`."""
    differences, got, expected = compare(model, kind, input_type, run,
                                         samples)
    if kind == "text_encoder":
        cosine = float(np.min(np.sum(got["embeddings"]
                                     * expected["embeddings"], -1)))
        logger.info("embeddings within %.3g, cosine similarity >= %.4f",
                    differences["embeddings"], cosine)
        return {"max_abs_diff": differences,
                "min_cosine_similarity": cosine}
    share = float(np.mean(got["probs"].argmax(-1)
                          == expected["probs"].argmax(-1)))
    logger.info("top-1 agreement with the Keras model %.3f on %d samples, "
                "probs within %.3g", share, len(got["probs"]),
                differences["probs"])
    return {"max_abs_diff": {"probs": differences["probs"]},
            "top1_agreement": share}


def accuracy(model, run, images, labels, input_type="image_tensor",
             batch=64):
    """Top-1 accuracy of the Keras model and of the artifact on held-out
    `images` (uint8 arrays) with class ids `labels`.

    Returns:
        `{"examples", "keras", "artifact", "change", "agreement"}`
        (`change`: artifact minus Keras, in accuracy points of 1.0).
    """
    labels = np.asarray(labels).reshape(-1)
    images = list(images)
    if len(images) != len(labels) or not len(images):
        raise ExportError(
            f"evaluation needs as many labels as images, at least one; got "
            f"{len(images)} images and {len(labels)} labels.")
    ours, theirs = [], []
    for start in range(0, len(images), batch):
        _, got, expected = compare(model, "image_classifier", input_type,
                                   run, images[start:start + batch],
                                   log=False)
        ours.append(got["probs"].argmax(-1))
        theirs.append(expected["probs"].argmax(-1))
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    result = {"examples": len(labels),
              "keras": float(np.mean(theirs == labels)),
              "artifact": float(np.mean(ours == labels)),
              "agreement": float(np.mean(ours == theirs))}
    result["change"] = result["artifact"] - result["keras"]
    logger.info("held-out top-1 on %d images: Keras %.4f, artifact %.4f "
                "(%+.4f)", len(labels), result["keras"], result["artifact"],
                result["change"])
    return result


def resized(images, size):
    """`images` (uint8 arrays of any sizes) resized to `size` (antialiased
    bilinear, rounded back to uint8) for a fixed-size artifact; those of
    that size unchanged."""
    import tensorflow as tf

    out = []
    for image in images:
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        if tuple(image.shape[:2]) != tuple(size):
            image = tf.image.resize(image, size, antialias=True).numpy()
            image = np.clip(np.round(image), 0, 255).astype("uint8")
        out.append(image)
    return out
