"""The serving functions around a converted network: TensorFlow graphs that
decode, preprocess, run the network and post-process.

Input and output names follow the Model Garden's exported classifiers
(`inputs`; `logits`, `probs`), so its clients read zoo's artifacts.
"""

import numpy as np
import tensorflow as tf

from zoo.serving.export import IMAGE_KEY


def resize_matrices(preprocessor, height, width):
    """`(rows [H, height], cols [W, width])`: the preprocessor's resize and
    centre crop of a `height x width` image as two matrices, `out =
    rows @ image @ cols.T` per channel.

    The resize is separable and a convex combination of pixels, so feeding
    it images that are one along a single row (column) and constant across
    the other axis reads off one column of each matrix. LiteRT runs these
    products with builtin ops where its converter has no antialiased resize
    (`ScaleAndTranslate`).
    """
    import keras

    crop = next(layer for layer in preprocessor.layers
                if layer.name == "resize_and_crop")
    channels_first = crop.data_format == "channels_first"

    def operator(size, axis):
        basis = np.zeros((size, height, width, 1), "float32")
        for i in range(size):
            if axis == 0:
                basis[i, i, :, 0] = 1.0
            else:
                basis[i, :, i, 0] = 1.0
        if channels_first:
            basis = np.transpose(basis, (0, 3, 1, 2))
        out = np.asarray(keras.ops.convert_to_numpy(crop(basis)), "float64")
        if channels_first:
            out = np.transpose(out, (0, 2, 3, 1))
        # out[i, y, x] = M[y, i] (constant along the other axis)
        middle = out.shape[2 - axis] // 2
        column = out[:, :, middle, 0] if axis == 0 else out[:, middle, :, 0]
        return column.T.astype("float32")

    return operator(height, 0), operator(width, 1)


def image_classifier(network, model, input_type, top_k, class_names,
                     input_size=None, batch=None):
    """`(module, input spec, output specs)` of an image classifier.

    Args:
        network: the loaded SavedModel of the bare network (float input,
            preprocessed; its `serve` endpoint).
        model: the zoo `ImageClassifier` (for its preprocessor, input shape,
            activation).
        input_type: `"image_tensor"`, `"image_bytes"` or `"tf_example"`.
        top_k: int, classes in the `top_k_*` outputs.
        class_names: list of str, or None (no `top_k_names` output).
        input_size: None (a batch of images of any size), or `(height,
            width)`: one image of that size, resized by matrix products
            (`resize_matrices`), for LiteRT and ONNX.
        batch: the batch dimension with `input_size` (LiteRT: 1; ONNX:
            None, any).

    Returns:
        a `tf.Module` whose `serve` is the signature's `tf.function`, the
        input's `{shape, dtype}` and `{output: {shape, dtype}}`.
    """
    preprocessor = model.preprocessor
    channels_first = getattr(preprocessor, "data_format",
                             "channels_last") == "channels_first"
    shape = tuple(model.inputs[0].shape[1:])
    channels = shape[0] if channels_first else shape[-1]
    activation = model.activation
    # A constant made inside the function (a captured one would become an
    # extra input of an ONNX graph).
    names = list(class_names) if class_names is not None else None

    if input_size is None:
        def preprocess(images):
            if channels_first:
                images = tf.transpose(images, (0, 3, 1, 2))
            return tf.cast(preprocessor(images), tf.float32)
    else:
        rows, cols = resize_matrices(preprocessor, *input_size)
        scale = np.array([preprocessor.scale / s for s in preprocessor.std],
                         "float32")
        offset = np.array([-m / s for m, s in zip(preprocessor.mean,
                                                  preprocessor.std)],
                          "float32")

        def preprocess(images):
            x = tf.cast(images, tf.float32) * scale + offset
            x = tf.einsum("yi,bixc->byxc", rows, x)
            x = tf.einsum("xj,byjc->byxc", cols, x)
            if channels_first:
                x = tf.transpose(x, (0, 3, 1, 2))
            return x

    def classify(images):
        scores = network.serve(images)
        scores = tf.cast(scores, tf.float32)
        outputs = {}
        if activation is None:
            outputs["logits"] = scores
            probabilities = tf.nn.softmax(scores, axis=-1)
        else:   # the model already outputs probabilities
            probabilities = scores
        outputs["probs"] = probabilities
        values, indices = tf.math.top_k(probabilities, k=top_k)
        outputs["top_k_classes"] = indices
        outputs["top_k_scores"] = values
        if names is not None:
            outputs["top_k_names"] = tf.gather(tf.constant(names), indices)
        return outputs

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=channels,
                                   expand_animations=False)
        image.set_shape((None, None, channels))
        return preprocess(image[None])[0]

    def decode_all(encoded):
        return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec(
            shape, tf.float32))

    if input_type == "image_tensor":
        # LiteRT's: one image of a fixed size (its interpreter rejects the
        # free batch dimension of the converted network's intermediates).
        height, width = input_size if input_size else (None, None)
        spec = tf.TensorSpec((batch, height, width, channels), tf.uint8,
                             name="inputs")

        @tf.function(input_signature=[spec])
        def serve(inputs):
            return classify(preprocess(inputs))
    else:
        spec, serve = _encoded_images_function(
            input_type, lambda encoded: classify(decode_all(encoded)))
    return _module(network, spec, serve)


def object_detector(network, model, input_type):
    """`(module, input spec, output specs)` of an `ObjectDetector`: images
    in (any size, each resized keeping its aspect ratio and padded by the
    model's `DetectionPreprocessor`), the Model Garden's detection outputs:
    `detection_boxes` `[B, D, 4]` yxyx in the input images' pixels,
    `detection_scores`, `detection_classes` (-1 past the detections),
    `num_detections`, and `image_info` `[B, 4, 2]`."""
    preprocessor = model.preprocessor

    def detect(images, info):
        raw = network.serve(images)
        raw = {key: tf.cast(value, tf.float32) for key, value in raw.items()}
        found = model.decode(raw, info)
        return {"detection_boxes": found["boxes"],
                "detection_scores": found["scores"],
                "detection_classes": found["classes"],
                "num_detections": found["num_detections"],
                "image_info": tf.cast(info, tf.float32)}

    height, width = preprocessor.image_size

    def decode_one(encoded):
        image = tf.io.decode_image(encoded, channels=3,
                                   expand_animations=False)
        image.set_shape((None, None, 3))
        ready = preprocessor(image)
        return ready["images"], ready["image_info"]

    def decode_all(encoded):
        return tf.map_fn(decode_one, encoded, fn_output_signature=(
            tf.TensorSpec((height, width, 3), tf.float32),
            tf.TensorSpec((4, 2), tf.float32)))

    if input_type == "image_tensor":
        spec = tf.TensorSpec((None, None, None, 3), tf.uint8, name="inputs")

        @tf.function(input_signature=[spec])
        def serve(inputs):
            ready = preprocessor(inputs)
            return detect(ready["images"], ready["image_info"])
    else:
        spec, serve = _encoded_images_function(
            input_type, lambda encoded: detect(*decode_all(encoded)))
    return _module(network, spec, serve)


def _encoded_images_function(input_type, run):
    """`(input spec, serving tf.function)` of encoded images: `image_bytes`
    (strings `[batch]`) or `tf_example` (serialised examples, the image
    under the Model Garden's key); `run(encoded)` gives the outputs."""
    spec = tf.TensorSpec((None,), tf.string, name="inputs")
    if input_type == "image_bytes":
        @tf.function(input_signature=[spec])
        def serve(inputs):
            return run(inputs)
    else:
        features = {IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}

        @tf.function(input_signature=[spec])
        def serve(inputs):
            return run(tf.io.parse_example(inputs, features)[IMAGE_KEY])
    return spec, serve


def _module(network, spec, serve):
    """`(module, input spec, output specs)`: the module saved, holding the
    network and its `serve` function."""
    module = tf.Module()
    module.network = network
    module.serve = serve
    return module, _spec(spec), _output_specs(serve)


def text_encoder(network, model):
    """`(module, input spec, output specs)` of a text encoder: strings in,
    `embeddings` out (mean over real tokens, L2-normalised: `embed()`)."""
    preprocessor = model.preprocessor
    spec = tf.TensorSpec((None,), tf.string, name="inputs")

    @tf.function(input_signature=[spec])
    def serve(inputs):
        features = preprocessor(inputs)
        features = {key: tf.cast(value, tf.int32)
                    for key, value in features.items()}
        outputs = network.serve(features)
        sequence = tf.cast(outputs["sequence_output"], tf.float32)
        mask = tf.cast(features["padding_mask"], tf.float32)[:, :, None]
        pooled = tf.reduce_sum(sequence * mask, axis=1) / tf.maximum(
            tf.reduce_sum(mask, axis=1), 1e-9)
        return {"embeddings": tf.math.l2_normalize(pooled, axis=-1)}

    return _module(network, spec, serve)


def _spec(spec):
    return {"name": spec.name, "shape": list(spec.shape.as_list()),
            "dtype": spec.dtype.name}


def _output_specs(function):
    concrete = function.get_concrete_function()
    return {name: {"shape": tensor.shape.as_list(),
                   "dtype": tensor.dtype.name}
            for name, tensor in concrete.structured_outputs.items()}
