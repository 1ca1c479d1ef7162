"""Checkpoint readers: safetensors (checked against the safetensors package),
legacy Keras HDF5, and their errors."""

import keras
import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy

import zoo
from testing_utils import write_keras_applications_h5
from zoo.convert.state_dict import (
    read_legacy_keras_h5,
    read_safetensors,
    read_state_dict,
    write_safetensors,
)


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "a.weight": rng.normal(size=(3, 4, 2)).astype("float32"),
        "a.bias": rng.normal(size=(5,)).astype("float16"),
        "steps": np.array(7, dtype="int64"),
        "mask": np.array([True, False]),
    }


def test_safetensors_agrees_with_reference_library(tmp_path):
    tensors = _tensors()
    ours = tmp_path / "ours.safetensors"
    theirs = tmp_path / "theirs.safetensors"
    write_safetensors(tensors, ours)
    safetensors.numpy.save_file(tensors, str(theirs))
    for path in (ours, theirs):
        loaded = read_safetensors(path)
        reference = safetensors.numpy.load_file(str(path))
        assert sorted(loaded) == sorted(reference)
        for name in reference:
            assert loaded[name].dtype == reference[name].dtype
            np.testing.assert_array_equal(loaded[name], reference[name])


def test_safetensors_bfloat16(tmp_path):
    values = np.arange(6, dtype="float32").reshape(2, 3)
    raw = values.astype(ml_dtypes.bfloat16)
    path = tmp_path / "bf16.safetensors"
    header = b'{"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]}}'
    header += b" " * (-len(header) % 8)
    path.write_bytes(len(header).to_bytes(8, "little") + header
                     + raw.tobytes())
    loaded = read_state_dict(path)["w"]
    np.testing.assert_array_equal(loaded.astype("float32"), values)


def test_truncated_safetensors_is_named(tmp_path):
    path = tmp_path / "x.safetensors"
    write_safetensors(_tensors(), path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(zoo.WeightsError, match="x.safetensors"):
        read_safetensors(path)


def test_legacy_h5_reader_keeps_layer_weight_order(tmp_path):
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(3, name="dense_a"),
        keras.layers.BatchNormalization(name="bn_a"),
    ])
    path = tmp_path / "w.h5"
    write_keras_applications_h5(model, path)
    layers = read_legacy_keras_h5(path)
    assert list(layers) == ["dense_a", "bn_a"]
    for layer in model.layers:
        assert len(layers[layer.name]) == len(layer.get_weights())
        for ours, theirs in zip(layers[layer.name], layer.get_weights()):
            np.testing.assert_array_equal(ours, theirs)


def test_not_hdf5_is_named(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(zoo.WeightsError, match="junk.h5"):
        read_legacy_keras_h5(path)
