"""The `ops` kind of benchmark: zoo_ops functions against the kernels and
layers a user would otherwise call, timed by the same harness as models.

```sh
zoo bench op:nms op:roi_align --iters 30
zoo bench "op:*" --backends tensorflow,jax
```

Each op benchmark is registered here with `@register_op_benchmark(name)`
and returns what to time, as the harness times models (interleaved rounds,
median step time, ratios `zoo/<peer>` in the same run):

- `op:nms` (5000 boxes -> 100, batch 1): zoo's
  `non_max_suppression_padded`, compiled (`jax.jit` / `tf.function`),
  against TensorFlow's `non_max_suppression_padded` kernel (`tensorflow`)
  and keras-hub's `NonMaxSuppression` layer, compiled (`keras_hub`);
- `op:roi_align` (FPN levels 2-6 of a 640x640 image, 256 channels, 2 x 256
  boxes to 7x7, sampling 2): zoo's `multilevel_roi_align`, compiled,
  against one `tf.image.crop_and_resize` over all boxes on a single level
  (`tensorflow`), the kernel the TensorFlow path is built on.
"""

import dataclasses
import fnmatch

import keras
import numpy as np

from benchmarks.errors import BenchError
from zoo.registry import table_decorator

OP_PREFIX = "op:"
_OPS = {}


@dataclasses.dataclass
class OpCandidate:
    """One function to time in an op benchmark.

    Attributes:
        fn: callable of no arguments; its outputs are waited for.
        source: `"zoo"` or the peer's library.
        built: str, what is timed (the `built` column).
        batch_size: int, samples per call.
        input_shape: str, one sample's shape (the `input_shape` column).
    """

    fn: object
    source: str
    built: str
    batch_size: int
    input_shape: str


def register_op_benchmark(name):
    """Registers `fn() -> list of OpCandidate` as the op benchmark `name`."""
    return table_decorator(_OPS, name)


def is_op(name):
    """Whether a benchmark name names an op (`op:nms`)."""
    return name.startswith(OP_PREFIX)


def expand_op_names(pattern):
    """The op benchmarks matching `op:<pattern>` (wildcards allowed)."""
    wanted = pattern[len(OP_PREFIX):]
    return [OP_PREFIX + n for n in sorted(_OPS)
            if fnmatch.fnmatchcase(n, wanted)]


def op_candidates(name):
    """The `OpCandidate`s of the op benchmark `name` (`op:nms`).

    Raises:
        BenchError: an unknown op, listing the known ones.
    """
    key = name[len(OP_PREFIX):]
    if key not in _OPS:
        raise BenchError(f"Unknown op benchmark {name!r}; known: "
                         f"{[OP_PREFIX + n for n in sorted(_OPS)]}.")
    return _OPS[key]()


def wait(outputs):
    """Blocks until every output of a call is computed."""
    for leaf in keras.tree.flatten(outputs):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        elif hasattr(leaf, "numpy"):
            leaf.numpy()
    return outputs


def compiled(fn):
    """`jax.jit` on JAX, `tf.function` on TensorFlow, as a user would."""
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


@register_op_benchmark("nms")
def nms_benchmark(batch=1, num_boxes=5000, max_output=100):
    """NMS of 5000 random boxes down to 100, IoU 0.5."""
    import tensorflow as tf
    from keras_hub.layers import NonMaxSuppression

    import zoo_ops

    boxes_np, scores_np = _nms_inputs(batch, num_boxes)
    boxes = keras.ops.convert_to_tensor(boxes_np)
    scores = keras.ops.convert_to_tensor(scores_np)
    shape = f"{num_boxes}x4"
    zoo_nms = compiled(lambda b, s: zoo_ops.non_max_suppression_padded(
        b, s, max_output, 0.5))
    tf_boxes, tf_scores = tf.constant(boxes_np), tf.constant(scores_np)
    layer = NonMaxSuppression(bounding_box_format="yxyx", from_logits=False,
                              iou_threshold=0.5, confidence_threshold=-1.0,
                              max_detections=max_output)
    class_scores = keras.ops.expand_dims(scores, -1)
    hub = compiled(lambda b, s: layer(b, s))
    return [
        OpCandidate(lambda: zoo_nms(boxes, scores), "zoo",
                    "zoo_ops.non_max_suppression_padded (compiled)", batch,
                    shape),
        OpCandidate(lambda: tf.image.non_max_suppression_padded(
            tf_boxes, tf_scores, max_output, 0.5,
            pad_to_max_output_size=True), "tensorflow",
            "tf.image.non_max_suppression_padded", batch, shape),
        OpCandidate(lambda: hub(boxes, class_scores), "keras_hub",
                    "keras_hub.layers.NonMaxSuppression (compiled)", batch,
                    shape),
    ]


@register_op_benchmark("roi_align")
def roi_align_benchmark(batch=2, num_boxes=256, channels=256, output_size=7,
                        sampling_ratio=2):
    """Multi-level RoIAlign over FPN levels 2-6 against one-level
    `crop_and_resize`."""
    import tensorflow as tf

    import zoo_ops

    rng = np.random.default_rng(1)
    features_np = {level: rng.uniform(
        0, 1, (batch, 640 // 2 ** level, 640 // 2 ** level, channels)
    ).astype("float32") for level in range(2, 7)}
    corner = rng.uniform(0, 560, (batch, num_boxes, 2))
    size = rng.uniform(16, 400, (batch, num_boxes, 2))
    boxes_np = np.concatenate([corner, corner + size], -1).astype("float32")
    features = {k: keras.ops.convert_to_tensor(v)
                for k, v in features_np.items()}
    boxes = keras.ops.convert_to_tensor(boxes_np)
    samples = output_size * sampling_ratio
    level4 = tf.constant(features_np[4])
    crop_boxes = tf.constant((boxes_np / 640.0).reshape(-1, 4))
    box_index = tf.constant(np.repeat(np.arange(batch),
                                      num_boxes).astype("int32"))

    @tf.function
    def raw(fmap, crop_boxes, box_index):
        crops = tf.image.crop_and_resize(fmap, crop_boxes, box_index,
                                         [samples, samples])
        crops = tf.reshape(crops, [-1, output_size, sampling_ratio,
                                   output_size, sampling_ratio, channels])
        return tf.reduce_mean(crops, axis=[2, 4])

    zoo_roi = compiled(lambda f, b: zoo_ops.multilevel_roi_align(
        f, b, output_size, sampling_ratio))
    shape = f"{num_boxes}x{output_size}x{output_size}x{channels}"
    return [
        OpCandidate(lambda: zoo_roi(features, boxes), "zoo",
                    "zoo_ops.multilevel_roi_align (compiled)", batch, shape),
        OpCandidate(lambda: raw(level4, crop_boxes, box_index), "tensorflow",
                    "tf.image.crop_and_resize (one level)", batch, shape),
    ]
