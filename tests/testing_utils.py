"""Helpers shared by the tests: reference checkpoints made from random values."""

import numpy as np
import keras

TORCHVISION_LAYOUT = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}


def trainable_count(model):
    """Trainable parameters, as published tables count them."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def randomize_batch_norm(model, seed=0):
    """Gives every BatchNormalization random gamma/beta/mean/variance."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            shapes = [w.shape for w in layer.get_weights()]
            layer.set_weights([
                rng.uniform(0.5, 1.5, shapes[0]),
                rng.normal(0.0, 0.2, shapes[1]),
                rng.normal(0.0, 0.2, shapes[2]),
                rng.uniform(0.5, 1.5, shapes[3]),
            ])


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def torchvision_resnet_state_dict(depth, num_classes=1000, seed=0,
                                  deep_stem=False, avg_down=False):
    """A random state dict with torchvision/timm ResNet names and shapes.

    Written from torchvision's module layout (conv1/bn1, layer1..4 with
    conv{i}/bn{i} and downsample.{0,1}, fc), independently of zoo's converter.
    """
    rng = np.random.default_rng(seed)
    block, blocks = TORCHVISION_LAYOUT[depth]
    expansion = 4 if block == "bottleneck" else 1
    state = {}

    def conv(name, out_ch, in_ch, k):
        std = np.sqrt(2.0 / (in_ch * k * k))
        state[f"{name}.weight"] = rng.normal(0, std, (out_ch, in_ch, k, k))

    def bn(name, ch):
        state[f"{name}.weight"] = rng.uniform(0.5, 1.5, ch)
        state[f"{name}.bias"] = rng.normal(0, 0.2, ch)
        state[f"{name}.running_mean"] = rng.normal(0, 0.2, ch)
        state[f"{name}.running_var"] = rng.uniform(0.5, 1.5, ch)
        state[f"{name}.num_batches_tracked"] = np.array(100)

    if deep_stem:
        conv("conv1.0", 32, 3, 3)
        bn("conv1.1", 32)
        conv("conv1.3", 32, 32, 3)
        bn("conv1.4", 32)
        conv("conv1.6", 64, 32, 3)
    else:
        conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    in_ch = 64
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for b in range(count):
            prefix = f"layer{stage + 1}.{b}"
            out_ch = width * expansion
            if block == "bottleneck":
                conv(f"{prefix}.conv1", width, in_ch, 1)
                bn(f"{prefix}.bn1", width)
                conv(f"{prefix}.conv2", width, width, 3)
                bn(f"{prefix}.bn2", width)
                conv(f"{prefix}.conv3", out_ch, width, 1)
                bn(f"{prefix}.bn3", out_ch)
            else:
                conv(f"{prefix}.conv1", width, in_ch, 3)
                bn(f"{prefix}.bn1", width)
                conv(f"{prefix}.conv2", width, width, 3)
                bn(f"{prefix}.bn2", width)
            stride = 2 if stage > 0 and b == 0 else 1
            if stride != 1 or in_ch != out_ch:
                # timm's avg_down shortcut is Sequential(pool, conv, bn), the
                # pool an Identity at stride 1: conv and bn sit at 1 and 2.
                first = 1 if avg_down else 0
                conv(f"{prefix}.downsample.{first}", out_ch, in_ch, 1)
                bn(f"{prefix}.downsample.{first + 1}", out_ch)
            in_ch = out_ch
    state["fc.weight"] = rng.normal(0, 0.01, (num_classes, in_ch))
    state["fc.bias"] = rng.normal(0, 0.01, (num_classes,))
    return {k: np.asarray(v, dtype=np.float32 if v.ndim else np.int64)
            for k, v in state.items()}


def write_keras_applications_h5(model, path):
    """Writes `model`'s weights in the legacy Keras HDF5 layout.

    keras.applications publishes its weights in this layout; Keras' own
    legacy writer produces it, so the file matches the real ones.
    """
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
