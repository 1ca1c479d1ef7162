"""Export for serving: a TensorFlow SavedModel (TF Serving layout), a
LiteRT (TFLite) flat buffer or an ONNX file with the preprocessing and the
post-processing inside, checked against the Keras model before it is
reported done; int8 (Keras, LiteRT, ONNX Runtime), full-integer LiteRT and
bfloat16 variants with their agreement and sizes recorded.

```python
import zoo
model = zoo.from_preset("efficientnet_lite0")
card = zoo.export(model, "out/lite0", format="saved_model",
                  input_type="image_bytes")
card["max_abs_diff"]          # the check: artifact vs Keras model
run = zoo.serving.load_runner(card["path"])   # the artifact, no Keras
```

What goes in and out (see `docs/export.md`):

- image classifiers: `image_tensor` (uint8 `[batch, height, width, 3]`,
  any size), `image_bytes` (encoded JPEG / PNG / GIF / BMP strings
  `[batch]`) or `tf_example` (serialised `tf.train.Example`s with the
  Model Garden's `image/encoded` key); the preset's resize, crop and
  normalisation inside; out `logits`, `probs`, `top_k_classes`,
  `top_k_scores` (and `top_k_names` where the classes have names);
- text encoders: `text` (strings `[batch]`), the tokenizer inside; out
  `embeddings` (mean-pooled, L2-normalised, as `embed()`);
- object detectors (SavedModel): the image inputs above, the
  `DetectionPreprocessor` and the detection generator inside; out
  `detection_boxes` (in the input images' pixels), `detection_scores`,
  `detection_classes`, `num_detections`, `image_info`.

Keras' own `Model.export` converts the network (on TensorFlow directly, on
JAX through jax2tf); the serving signature around it is TensorFlow code
here. A SavedModel runs in a process that imports only TensorFlow.
"""

from zoo.serving.export import (  # noqa: F401
    CARD_NAME,
    FORMATS,
    INPUT_TYPES,
    PRECISIONS,
    QUANTIZATIONS,
    ExportError,
    export,
    load_runner,
    read_card,
)

__all__ = ["CARD_NAME", "ExportError", "FORMATS", "INPUT_TYPES",
           "PRECISIONS", "QUANTIZATIONS", "export", "load_runner",
           "read_card"]
