"""timm state dicts of the convolutional families (EfficientNet,
MobileNetV2/V3, ConvNeXt) -> zoo, against timm's own logits.

The state dicts are random, with timm's names and shapes
(tests/timm_layouts.py, written from timm's module layout); the reference
logits are timm's on the same weights and images, computed once by
tests/data/timm_reference/make_reference.py (which also checks the names
and shapes against timm's `state_dict()`)."""

import json
import pathlib
import sys

import numpy as np
import pytest

import zoo
from timm_layouts import timm_convnext_state_dict, timm_mbconv_state_dict
from zoo.convert import find_converter
from zoo.convert.state_dict import write_safetensors
from zoo.vision.backbones import ConvNeXtBackbone

REFERENCE = pathlib.Path(__file__).resolve().parents[2] / "data" / \
    "timm_reference"
sys.path.insert(0, str(REFERENCE))
from make_reference import (  # noqa: E402
    SEED,
    VIT_DEPTH,
    reference_images,
    state_dict,
)

#: Run on TensorFlow only: the converters are NumPy, and JAX's eager
#: dispatch compiles every op of these full-size graphs; MobileNetV2 runs
#: on both (PyTorch's symmetric padding on each backend).
TENSORFLOW_ONLY = ("efficientnet_b0", "mobilenetv3_large_100",
                   "convnext_tiny")


def _timm_directory(tmp_path, architecture):
    """A timm Hugging Face directory: `config.json`, `model.safetensors`."""
    directory = tmp_path / f"{architecture}.test"
    directory.mkdir()
    write_safetensors({k: np.asarray(v, "float32" if v.ndim else "int64")
                       for k, v in state_dict(architecture).items()},
                      directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps({
        "architecture": architecture, "num_classes": 1000,
        "pretrained_cfg": {"input_size": [3, 224, 224], "crop_pct": 0.875,
                           "interpolation": "bicubic",
                           "mean": [0.485, 0.456, 0.406],
                           "std": [0.229, 0.224, 0.225]}}))
    return directory


@pytest.mark.parametrize("architecture", [
    pytest.param(a, marks=pytest.mark.one_backend)
    if a in TENSORFLOW_ONLY else a
    for a in ("convnext_tiny", "efficientnet_b0", "mobilenetv2_100",
              "mobilenetv3_large_100")])
def test_timm_weights_give_timms_logits(architecture, tmp_path):
    """Loaded through `zoo.from_preset` on a timm directory, the zoo model
    gives timm's float64 logits within 1e-4 of their scale."""
    model = zoo.from_preset(_timm_directory(tmp_path, architecture),
                            input_shape=(64, 64, 3))
    assert model.backbone.name.startswith(architecture.split("_")[0])
    expected = np.load(REFERENCE / f"{architecture}.npz")["logits"]
    got = np.asarray(model(reference_images()), "float64")
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert np.max(np.abs(got - expected)) <= 1e-4 * scale


@pytest.mark.one_backend  # NumPy conversion; ViT layers run on both
@pytest.mark.parametrize("architecture, zoo_name, arguments", [
    ("vit_base_patch16_224", "vit_base_patch16_224", {}),
    ("deit_tiny_distilled_patch16_224", "deit_tiny_patch16_224",
     {"distilled": True}),
])
def test_timm_vit_gives_timms_logits(architecture, zoo_name, arguments,
                                     tmp_path):
    """timm's ViT-B/16 and distilled DeiT-Ti names (on the reference's two
    blocks) at 224 pixels: timm's logits (DeiT: the mean of its two heads)
    within 1e-4 of their scale."""
    path = tmp_path / "model.safetensors"
    write_safetensors(state_dict(architecture), path)
    model = zoo.create_model(zoo_name, num_layers=VIT_DEPTH[architecture],
                             **arguments)
    zoo.convert.load_weights_file(model, path, "timm")
    expected = np.load(REFERENCE / f"{architecture}.npz")["logits"]
    got = np.asarray(model(reference_images(224)), "float64")
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert np.max(np.abs(got - expected)) <= 1e-4 * scale
    converter = find_converter("timm", family="vit")
    assert converter.convert_config({"architecture": architecture}) == (
        zoo_name, arguments)


def test_timm_options_and_bad_input(tmp_path):
    """PyTorch-trained timm EfficientNets pad symmetrically with epsilon
    1e-5, the TF ports as TensorFlow does; wrong weights are named."""
    converter = find_converter("timm", family="efficientnet")
    assert converter.convert_config({"architecture": "efficientnet_b0.ra_in1k"}) == (
        "efficientnet_b0", {"padding": "symmetric", "bn_epsilon": 1e-5})
    assert converter.convert_config(
        {"architecture": "tf_efficientnet_b3.in1k"}) == ("efficientnet_b3", {})
    with pytest.raises(zoo.WeightsError, match="efficientnet_b9"):
        converter.convert_config({"architecture": "efficientnet_b9"})
    # A MobileNetV2 state dict into an EfficientNet: the first tensor
    # without a counterpart is named.
    backbone = zoo.create_model("efficientnet_b0", task=None,
                                input_shape=(32, 32, 3))
    with pytest.raises(zoo.WeightsError, match="has no counterpart"):
        converter.convert_weights(
            {"blocks.0.0.conv_dw.weight": np.zeros((32, 1, 3, 3)),
             "blocks.0.0.bn9.weight": np.zeros(32)}, backbone)
    # Weights of a wider ConvNeXt: the mismatched tensor and both shapes.
    narrow = ConvNeXtBackbone(depths=(1, 1, 2, 1), widths=(8, 16, 24, 32))
    state = timm_convnext_state_dict(depths=(1, 1, 2, 1),
                                     dims=(16, 16, 24, 32), seed=SEED)
    path = tmp_path / "wide.safetensors"
    write_safetensors({k: np.asarray(v, "float32") for k, v in
                       state.items()}, path)
    with pytest.raises(zoo.WeightsError, match=r"stem_conv/kernel has shape "
                                               r"\(4, 4, 3, 16\), the model "
                                               r"expects \(4, 4, 3, 8\)"):
        zoo.convert.load_weights_file(narrow, path, "timm")
