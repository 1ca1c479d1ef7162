"""Runs a small model of every family once and saves what it computed.

`python tests/data/xla_flags_families.py OUT.npz`, with `KERAS_BACKEND=jax`,
in a process of its own (XLA reads its flags once per process): each
family's tiny model is built from a fixed seed and runs one compiled
training-mode forward and backward pass on a fixed batch (the detector
predicts, with NMS; the Llama decoder generates, with its cache); its
outputs and gradients and `zoo.xla_flags.state()` go to OUT.npz.
`tests/zoo/test_xla_flags.py` runs it with XLA's oneDNN path and without,
and compares.
"""

import json
import sys

import numpy as np

import zoo  # first: it decides XLA_FLAGS


def _image_backbones():
    from zoo.vision.backbones import (
        ConvNeXtBackbone,
        EfficientNetBackbone,
        MobileNetBackbone,
        ViTBackbone,
    )

    shape = (64, 64, 3)
    yield "resnet", lambda: zoo.ResNetBackbone(
        stage_blocks=(1, 1, 1, 1), stage_filters=(8, 8, 16, 16),
        stem_width=8, input_shape=shape)
    yield "efficientnet", lambda: EfficientNetBackbone(
        stages=[("mb", 3, 1, 8, 8, 1, 1, 0.25),
                ("fused", 3, 1, 8, 16, 2, 2, 0),
                ("mb", 3, 1, 16, 16, 2, 2, 0.25),
                ("mb", 5, 2, 16, 24, 2, 2, 0.25),
                ("mb", 3, 1, 24, 32, 2, 2, 0)],
        head_filters=32, input_shape=shape)
    yield "mobilenet", lambda: MobileNetBackbone(
        version="v3_small", width_multiplier=0.35, input_shape=shape)
    yield "convnext", lambda: ConvNeXtBackbone(
        depths=(1, 1, 1, 1), widths=(8, 16, 24, 32), input_shape=shape)
    yield "vit", lambda: ViTBackbone(
        patch_size=8, hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64,
        input_shape=shape)


def _pooled(outputs):
    """`[batch, n]`: the mean of each floating output of a model."""
    import keras

    ops = keras.ops
    return ops.stack([ops.mean(t, axis=tuple(range(1, len(t.shape))))
                      for t in keras.tree.flatten(outputs)
                      if "float" in str(t.dtype)], axis=-1)


def _forward_and_gradients(model, inputs):
    """One compiled training-mode forward and backward pass: the pooled
    outputs, and the gradient of their sum of squares for every trainable
    weight (so every backward op compiles too)."""
    import jax
    import jax.numpy as jnp

    def loss(trainable, non_trainable, x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x,
                                          training=True)
        pooled = _pooled(outputs)
        return jnp.sum(pooled ** 2), pooled

    step = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (_, pooled), gradients = step(
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables], inputs)
    return pooled, gradients


def run():
    """`{family: arrays}`: each family's outputs (and gradients)."""
    import keras

    results = {}
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    for name, build in _image_backbones():
        keras.utils.set_random_seed(0)
        results[name] = _forward_and_gradients(build(), images)

    tokens = rng.integers(1, 40, (2, 12)).astype("int32")
    mask = np.ones_like(tokens)
    text = {"token_ids": tokens, "segment_ids": np.zeros_like(tokens),
            "padding_mask": mask}
    keras.utils.set_random_seed(0)
    results["bert"] = _forward_and_gradients(zoo.BertEncoder(
        vocabulary_size=40, hidden_size=16, num_layers=2, num_heads=2,
        intermediate_size=32, max_sequence_length=16), text)
    keras.utils.set_random_seed(0)
    results["albert"] = _forward_and_gradients(zoo.AlbertEncoder(
        vocabulary_size=40, embedding_size=8, hidden_size=16, num_layers=2,
        num_heads=2, intermediate_size=32, num_groups=1,
        max_sequence_length=16), text)
    decoder_inputs = {"token_ids": tokens, "padding_mask": mask}
    for name, size in (("gpt2", "gpt2_base"), ("llama", "smollm2_135m")):
        keras.utils.set_random_seed(0)
        arguments = dict(num_layers=2, hidden_size=16, num_heads=2,
                         vocabulary_size=40, max_sequence_length=16)
        if name == "llama":
            arguments.update(intermediate_size=32, num_key_value_heads=1)
        lm = zoo.create_model(size, **arguments)
        results[name] = _forward_and_gradients(lm.backbone, decoder_inputs)
    # The cached decoding loop (the same ops for both decoders).
    results["llama_generate"] = np.asarray(lm.generate(
        tokens[:, :4].tolist(), max_new_tokens=4, return_ids=True))

    keras.utils.set_random_seed(0)
    detector = zoo.create_model(
        "resnet18", task="object_detector", input_shape=(128, 128, 3),
        num_classes=3, decoder_filters=16, head_filters=16,
        head_num_convs=1, stage_filters=(8, 8, 8, 8))
    pixels = rng.integers(0, 256, (2, 128, 128, 3)).astype("uint8")
    detections = detector.predict(pixels, verbose=0)
    results["retinanet"] = (detections["boxes"], detections["scores"])
    keras.utils.set_random_seed(0)
    segmenter = zoo.create_model(
        "resnet18", task="semantic_segmenter", input_shape=(64, 64, 3),
        num_classes=3, output_stride=16, stage_filters=(8, 8, 8, 8),
        aspp_filters=16, head_filters=16, low_level_num_filters=8)
    results["deeplab"] = _forward_and_gradients(
        segmenter, rng.uniform(-1, 1, (2, 64, 64, 3)).astype("float32"))
    return results


def main(path):
    """Writes `run()` and the XLA flags' state to `path`."""
    import jax
    import keras

    from zoo.xla_flags import state

    arrays = {}
    for name, values in run().items():
        for i, value in enumerate(keras.tree.flatten(values)):
            arrays[f"{name}/{i}"] = np.asarray(value, "float64")
    # XLA's default CPU path compiles a matmul into a YNNPACK fusion; the
    # oneDNN flags turn that path off.
    square = np.ones((64, 64), "float32")
    compiled = jax.jit(lambda a: a @ a).lower(square).compile().as_text()
    arrays["state"] = np.asarray(json.dumps(
        {**state(), "ynn_matmul": "__ynn_fusion" in compiled}))
    np.savez(path, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
