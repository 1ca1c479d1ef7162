"""Times zoo_ops' NMS and RoIAlign against peers, on the current backend.

```sh
KERAS_BACKEND=jax python -m benchmarks.ops
KERAS_BACKEND=tensorflow python -m benchmarks.ops --repeats 50
```

Peers, measured in the same run:

- NMS (5000 boxes -> 100): the raw TensorFlow kernel
  `tf.image.non_max_suppression_padded`, and keras-hub's `NonMaxSuppression`
  layer (jit-compiled on JAX, and once un-jitted).
- RoIAlign (FPN levels 2-6 of a 640x640 image, 256 channels): one
  `tf.image.crop_and_resize` call over all boxes on a single level, the
  kernel the TensorFlow path is built on.

Prints median milliseconds and ratios; numbers on a shared machine are noisy.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def _block(x):
    for leaf in keras.tree.flatten(x):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        elif hasattr(leaf, "numpy"):
            leaf.numpy()
    return x


def _time(fn, repeats, warmup=3):
    """Median wall time of fn() in milliseconds."""
    for _ in range(warmup):
        _block(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _block(fn())
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _compile(fn):
    """jax.jit on JAX, tf.function on TensorFlow, as is elsewhere."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def _nms_inputs(batch, num_boxes, seed=0):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 640, (batch, num_boxes, 2))
    size = rng.uniform(10, 150, (batch, num_boxes, 2))
    boxes = np.concatenate([corner, corner + size], -1).astype("float32")
    scores = rng.uniform(0, 1, (batch, num_boxes)).astype("float32")
    return boxes, scores


def bench_nms(repeats, batch=1, num_boxes=5000, max_output=100):
    import tensorflow as tf
    from keras_hub.layers import NonMaxSuppression

    import zoo_ops

    backend = keras.backend.backend()
    boxes_np, scores_np = _nms_inputs(batch, num_boxes)
    boxes = keras.ops.convert_to_tensor(boxes_np)
    scores = keras.ops.convert_to_tensor(scores_np)
    results = {}

    tf_boxes, tf_scores = tf.constant(boxes_np), tf.constant(scores_np)
    results["raw TF kernel"] = _time(
        lambda: tf.image.non_max_suppression_padded(
            tf_boxes, tf_scores, max_output, 0.5, pad_to_max_output_size=True),
        repeats)

    def zoo_nms(b, s):
        return zoo_ops.non_max_suppression_padded(b, s, max_output, 0.5)

    results["zoo (eager call)"] = _time(lambda: zoo_nms(boxes, scores), repeats)
    if backend != "tensorflow":
        compiled = _compile(zoo_nms)
        results["zoo (jit)"] = _time(lambda: compiled(boxes, scores), repeats)

    layer = NonMaxSuppression(bounding_box_format="yxyx", from_logits=False,
                              iou_threshold=0.5, confidence_threshold=-1.0,
                              max_detections=max_output)
    class_scores = keras.ops.expand_dims(scores, -1)
    compiled_layer = _compile(lambda b, s: layer(b, s))
    results["keras-hub layer (jit)"] = _time(
        lambda: compiled_layer(boxes, class_scores), repeats)
    if backend == "jax":
        results["keras-hub layer (un-jitted)"] = _time(
            lambda: layer(boxes, class_scores), max(3, repeats // 10), warmup=1)
    return results


def bench_roi_align(repeats, batch=2, num_boxes=256, channels=256,
                    output_size=7, sampling_ratio=2):
    import tensorflow as tf

    import zoo_ops

    rng = np.random.default_rng(1)
    features_np = {level: rng.uniform(
        0, 1, (batch, 640 // 2 ** level, 640 // 2 ** level, channels)
    ).astype("float32") for level in range(2, 7)}
    corner = rng.uniform(0, 560, (batch, num_boxes, 2))
    size = rng.uniform(16, 400, (batch, num_boxes, 2))
    boxes_np = np.concatenate([corner, corner + size], -1).astype("float32")
    features = {k: keras.ops.convert_to_tensor(v) for k, v in features_np.items()}
    boxes = keras.ops.convert_to_tensor(boxes_np)
    results = {}

    samples = output_size * sampling_ratio
    level4 = tf.constant(features_np[4])
    crop_boxes = tf.constant((boxes_np / 640.0).reshape(-1, 4))
    box_index = tf.constant(np.repeat(np.arange(batch), num_boxes).astype("int32"))

    @tf.function
    def raw(fmap, crop_boxes, box_index):
        crops = tf.image.crop_and_resize(fmap, crop_boxes, box_index,
                                         [samples, samples])
        crops = tf.reshape(crops, [-1, output_size, sampling_ratio, output_size,
                                   sampling_ratio, channels])
        return tf.reduce_mean(crops, axis=[2, 4])

    results["raw TF crop_and_resize (1 level)"] = _time(
        lambda: raw(level4, crop_boxes, box_index), repeats)

    def zoo_roi(f, b):
        return zoo_ops.multilevel_roi_align(f, b, output_size, sampling_ratio)

    results["zoo (eager call)"] = _time(lambda: zoo_roi(features, boxes), repeats)
    compiled = _compile(zoo_roi)
    results["zoo (jit)" if keras.backend.backend() == "jax"
            else "zoo (tf.function)"] = _time(
        lambda: compiled(features, boxes), repeats)
    return results


def _report(title, results, reference):
    print(f"\n{title} [{keras.backend.backend()}]")
    base = results[reference]
    for name, ms in results.items():
        print(f"  {name:<34} {ms:9.3f} ms   {ms / base:6.2f}x {reference}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-roi-align", action="store_true")
    args = parser.parse_args(argv)
    nms = bench_nms(args.repeats)
    _report("NMS 5000 boxes -> 100, batch 1", nms, "raw TF kernel")
    peer = "keras-hub layer (jit)"
    ours = "zoo (jit)" if "zoo (jit)" in nms else "zoo (eager call)"
    print(f"  => {ours} is {nms[peer] / nms[ours]:.2f}x as fast as {peer}; "
          f"{nms[ours] / nms['raw TF kernel']:.2f}x the raw TF kernel's time")
    if not args.skip_roi_align:
        roi = bench_roi_align(args.repeats)
        _report("RoIAlign 2 x 256 boxes, 7x7, sampling 2, C=256", roi,
                "raw TF crop_and_resize (1 level)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
