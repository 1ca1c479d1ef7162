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


def zero_host_initializers(monkeypatch):
    """Makes zoo's host initialisers fill zeros (for counting parameters of
    large models: building them then takes a moment instead of seconds of
    random numbers)."""
    from zoo.layers import initializers

    for name in ("HostHeNormal", "HostGlorotUniform", "HostTruncatedNormal"):
        monkeypatch.setattr(
            getattr(initializers, name), "__call__",
            lambda self, shape, dtype=None: np.zeros(shape, "float32"))


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
                                  deep_stem=False, avg_down=False,
                                  se=False):
    """A random state dict with torchvision/timm ResNet names and shapes.

    Written from torchvision's module layout (conv1/bn1, layer1..4 with
    conv{i}/bn{i} and downsample.{0,1}, fc), independently of zoo's converter;
    `se` adds timm's squeeze-excitation (`se.fc1`, `se.fc2`, 1x1 convolutions
    with biases, reduced to 1/16 of the block's output, a multiple of 8).
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
            if se:
                reduced = max(8, int(out_ch / 16 + 4) // 8 * 8)
                # Small gate weights keep the random gates off saturation,
                # where float32 rounding would swamp the comparison.
                state[f"{prefix}.se.fc1.weight"] = rng.normal(
                    0, 0.01, (reduced, out_ch, 1, 1))
                state[f"{prefix}.se.fc1.bias"] = rng.normal(0, 0.1, reduced)
                state[f"{prefix}.se.fc2.weight"] = rng.normal(
                    0, 0.1, (out_ch, reduced, 1, 1))
                state[f"{prefix}.se.fc2.bias"] = rng.normal(0, 0.1, out_ch)
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


# --- a float64 NumPy ResNet with torch's semantics: an independent reference --


def _conv(x, weight, stride=1, padding=0, bias=None, dilation=1):
    """torch's conv2d on NCHW float64 (symmetric zero padding; a dilated
    kernel reads every `dilation`-th pixel of a wider window)."""
    from numpy.lib.stride_tricks import sliding_window_view

    kh, kw = weight.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    windows = sliding_window_view(x, (span_h, span_w), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride, ::dilation, ::dilation]
    out = np.einsum("nchwij,ocij->nohw", windows, weight, optimize=True)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out


def _bn(x, state, name, epsilon=1e-5):
    scale = state[f"{name}.weight"] / np.sqrt(state[f"{name}.running_var"]
                                              + epsilon)
    shift = state[f"{name}.bias"] - state[f"{name}.running_mean"] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def _relu(x):
    return np.maximum(x, 0.0)


def _max_pool(x):
    """3x3, stride 2, padding 1 (torch's MaxPool2d of the ResNet stem)."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    return sliding_window_view(x, (3, 3), axis=(2, 3))[
        :, :, ::2, ::2].max(axis=(-1, -2))


def numpy_resnet_forward(state, images, depth, deep_stem=False,
                         avg_down=False, se=False, output_stride=32,
                         multigrid=None, features=False):
    """Logits of a torchvision / timm ResNet state dict on NHWC images,
    in float64: the semantics of torch's layers (as timm's resnet.py
    composes them), written here independently of zoo.

    `output_stride` 16 or 8 dilates as the Model Garden's DilatedResNet
    (official/vision/modeling/backbones/resnet_deeplab.py): a stage that
    would pass the output stride keeps stride 1, and every 3x3 of it is
    dilated (2, doubling per such stage, times `multigrid[block]` in the
    last one). `features=True` returns the last feature map (NHWC)."""
    state = {k: np.asarray(v, np.float64) for k, v in state.items()}
    x = np.transpose(np.asarray(images, np.float64), (0, 3, 1, 2))
    if deep_stem:
        x = _relu(_bn(_conv(x, state["conv1.0.weight"], 2, 1), state,
                      "conv1.1"))
        x = _relu(_bn(_conv(x, state["conv1.3.weight"], 1, 1), state,
                      "conv1.4"))
        x = _conv(x, state["conv1.6.weight"], 1, 1)
    else:
        x = _conv(x, state["conv1.weight"], 2, 3)
    x = _max_pool(_relu(_bn(x, state, "bn1")))
    block, blocks = TORCHVISION_LAYOUT[depth]
    reached, rate = 4, 1
    for stage, count in enumerate(blocks):
        stage_stride = 2 if stage > 0 else 1
        if reached * stage_stride > output_stride:
            stage_stride, rate = 1, rate * 2
        reached *= stage_stride
        for b in range(count):
            prefix = f"layer{stage + 1}.{b}"
            stride = stage_stride if b == 0 else 1
            d = rate
            if multigrid is not None and stage == len(blocks) - 1:
                d = rate * multigrid[b]
            shortcut = x
            if f"{prefix}.downsample.{1 if avg_down else 0}.weight" in state:
                if avg_down:
                    if stride > 1:  # AvgPool2d(2, 2, count_include_pad=False)
                        n, c, h, w = shortcut.shape
                        shortcut = shortcut.reshape(
                            n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
                    shortcut = _bn(_conv(shortcut, state[
                        f"{prefix}.downsample.1.weight"]), state,
                        f"{prefix}.downsample.2")
                else:
                    shortcut = _bn(_conv(shortcut, state[
                        f"{prefix}.downsample.0.weight"], stride), state,
                        f"{prefix}.downsample.1")
            if block == "bottleneck":
                y = _relu(_bn(_conv(x, state[f"{prefix}.conv1.weight"]),
                              state, f"{prefix}.bn1"))
                y = _relu(_bn(_conv(y, state[f"{prefix}.conv2.weight"],
                                    stride, d, dilation=d), state,
                              f"{prefix}.bn2"))
                y = _bn(_conv(y, state[f"{prefix}.conv3.weight"]), state,
                        f"{prefix}.bn3")
            else:
                y = _relu(_bn(_conv(x, state[f"{prefix}.conv1.weight"],
                                    stride, d, dilation=d), state,
                              f"{prefix}.bn1"))
                y = _bn(_conv(y, state[f"{prefix}.conv2.weight"], 1, d,
                              dilation=d), state, f"{prefix}.bn2")
            if se:
                gate = y.mean(axis=(2, 3), keepdims=True)
                gate = _relu(_conv(gate, state[f"{prefix}.se.fc1.weight"],
                                   bias=state[f"{prefix}.se.fc1.bias"]))
                gate = _conv(gate, state[f"{prefix}.se.fc2.weight"],
                             bias=state[f"{prefix}.se.fc2.bias"])
                y = y / (1.0 + np.exp(-gate))
            x = _relu(y + shortcut)
    if features:
        return np.transpose(x, (0, 2, 3, 1))
    pooled = x.mean(axis=(2, 3))
    return pooled @ state["fc.weight"].T + state["fc.bias"]


# --- torch.save files written without torch ---------------------------------


def write_torch_file(tensors, path, legacy=True):
    """Writes `{name: numpy array}` as `torch.save` would, without torch.

    The pickle names `torch._utils._rebuild_tensor_v2` and the typed
    `torch.<X>Storage` classes, as torch's does; stand-in modules are put
    in `sys.modules` while pickling only, so the file is byte-for-byte the
    layout (legacy stream, or the zip archive of torch >= 1.6) and never
    needs torch to be read.
    """
    import collections
    import io
    import pickle
    import struct
    import sys
    import types
    import zipfile

    names = {"float32": "FloatStorage", "float64": "DoubleStorage",
             "int64": "LongStorage", "float16": "HalfStorage"}
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for storage in names.values():
        cls = type(storage, (), {"__module__": "torch"})
        setattr(torch, storage, cls)
    torch._utils = utils

    class _TensorStub:
        def __init__(self, key, array):
            self.key, self.array = key, np.ascontiguousarray(array)

        def __reduce__(self):
            stride = tuple(s // self.array.itemsize
                           for s in self.array.strides)
            return (_rebuild_tensor_v2, (
                _StorageStub(self.key, self.array), 0, self.array.shape,
                stride, False, collections.OrderedDict()))

    class _StorageStub:
        def __init__(self, key, array):
            self.key, self.array = key, array

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _StorageStub):
                storage = getattr(torch, names[str(obj.array.dtype)])
                pid = ("storage", storage, obj.key, "cpu", obj.array.size)
                return pid + (None,) if legacy else pid
            return None

    state = collections.OrderedDict(
        (name, _TensorStub(str(i), array))
        for i, (name, array) in enumerate(tensors.items()))
    stand_ins = {"torch": torch, "torch._utils": utils}
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        body = io.BytesIO()
        _Pickler(body, protocol=2).dump(state)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    if legacy:
        with open(path, "wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001,
                           {"protocol_version": 1001,
                            "little_endian": True}):
                pickle.dump(header, f, protocol=2)
            f.write(body.getvalue())
            pickle.dump([str(i) for i in range(len(tensors))], f,
                        protocol=2)
            for array in tensors.values():
                array = np.ascontiguousarray(array)
                f.write(struct.pack("<q", array.size))
                f.write(array.tobytes())
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", body.getvalue())
            for i, array in enumerate(tensors.values()):
                archive.writestr(f"archive/data/{i}",
                                 np.ascontiguousarray(array).tobytes())



def huggingface_vit_state_dict(patch=8, hidden=32, layers=2,
                               intermediate=64, image=32, seed=0,
                               pooler=True):
    """A random state dict with transformers' `ViTModel` names and shapes
    (transformers/models/vit/modeling_vit.py: `embeddings.*`,
    `encoder.layer.{i}.*`, `layernorm`, `pooler.dense`), written from that
    module layout, not from zoo's converter. float32 arrays."""
    rng = np.random.default_rng(seed)
    state = {}

    def linear(name, out_dim, in_dim):
        state[f"{name}.weight"] = rng.normal(0, in_dim ** -0.5,
                                             (out_dim, in_dim))
        state[f"{name}.bias"] = rng.normal(0, 0.1, out_dim)

    def norm(name):
        state[f"{name}.weight"] = rng.uniform(0.5, 1.5, hidden)
        state[f"{name}.bias"] = rng.normal(0, 0.2, hidden)

    patches = (image // patch) ** 2
    state["embeddings.cls_token"] = rng.normal(0, 0.02, (1, 1, hidden))
    state["embeddings.position_embeddings"] = rng.normal(
        0, 0.02, (1, 1 + patches, hidden))
    state["embeddings.patch_embeddings.projection.weight"] = rng.normal(
        0, (3 * patch * patch) ** -0.5, (hidden, 3, patch, patch))
    state["embeddings.patch_embeddings.projection.bias"] = rng.normal(
        0, 0.1, hidden)
    for i in range(layers):
        p = f"encoder.layer.{i}"
        norm(f"{p}.layernorm_before")
        for role in ("query", "key", "value"):
            linear(f"{p}.attention.attention.{role}", hidden, hidden)
        linear(f"{p}.attention.output.dense", hidden, hidden)
        norm(f"{p}.layernorm_after")
        linear(f"{p}.intermediate.dense", intermediate, hidden)
        linear(f"{p}.output.dense", hidden, intermediate)
    norm("layernorm")
    if pooler:
        linear("pooler.dense", hidden, hidden)
    return {k: np.asarray(v, "float32") for k, v in state.items()}


def small_classifier(num_classes=5, input_shape=(32, 32, 3), **preprocessing):
    """A quarter-width ResNet-18 (178k parameters at 5 classes) with an
    `ImagePreprocessor` (defaults: no crop, pixels / 255), for tests of
    exports and commands that need a real zoo model, not a large one."""
    import zoo

    model = zoo.create_model("resnet18", num_classes=num_classes,
                             input_shape=input_shape,
                             stage_filters=[8, 16, 32, 64], stem_width=8)
    preprocessing = {"crop_pct": 1.0, "scale": 1 / 255, **preprocessing}
    model.preprocessor = zoo.ImagePreprocessor(
        image_size=input_shape[:2], **preprocessing)
    return model


def keras_probabilities(model, images):
    """Softmax of the model's logits on uint8 `images`, each through its
    own preprocessor (what an export of it must give), float64."""
    logits = np.stack([np.asarray(model(np.asarray(
        model.preprocessor(image[None])), training=False))[0]
        for image in images]).astype("float64")
    logits -= logits.max(-1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
