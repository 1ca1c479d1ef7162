"""Readers for checkpoint files as `{name: numpy array}` dicts.

- safetensors (Hugging Face, timm): parsed here with numpy alone;
- `.npz` archives;
- legacy Keras HDF5 weights (keras.applications `*_tf_dim_ordering_*.h5`):
  `{layer name: [arrays in the layer's weight order]}`.
"""

import json
import struct
from pathlib import Path

import numpy as np

from zoo.errors import CorruptFileError, WeightsError

SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def _bfloat16():
    import ml_dtypes

    return ml_dtypes.bfloat16


def read_safetensors(path):
    """Reads a `.safetensors` file into `{name: numpy array}`.

    The format: an 8-byte little-endian header length, a JSON header mapping
    each tensor name to its dtype, shape and byte offsets, then the raw data.

    Raises:
        WeightsError: the file is truncated or its header is malformed.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        if len(data) < 8:
            raise ValueError("shorter than its 8-byte header length")
        (header_len,) = struct.unpack("<Q", data[:8])
        if 8 + header_len > len(data):
            raise ValueError(f"header of {header_len} bytes past end of file")
        header = json.loads(data[8:8 + header_len])
        body = memoryview(data)[8 + header_len:]
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = info["dtype"]
            np_dtype = (
                _bfloat16() if dtype == "BF16" else SAFETENSORS_DTYPES[dtype]
            )
            start, end = info["data_offsets"]
            if end > len(body):
                raise ValueError(f"tensor {name!r} ends past the end of file")
            array = np.frombuffer(body[start:end], dtype=np_dtype)
            tensors[name] = array.reshape(info["shape"]).copy()
        return tensors
    except (ValueError, KeyError, TypeError, struct.error) as e:
        raise CorruptFileError(
            f"{path} is not a valid safetensors file: {e}."
        ) from None


def write_safetensors(tensors, path):
    """Writes `{name: numpy array}` as a `.safetensors` file (for tests/export)."""
    inverse = {np.dtype(v): k for k, v in SAFETENSORS_DTYPES.items()}
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        blob = array.tobytes()
        header[name] = {
            "dtype": inverse[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def read_state_dict(path):
    """Reads a `.safetensors` or `.npz` state dict into `{name: array}`."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path) as archive:
                return {k: archive[k] for k in archive.files}
        except (OSError, ValueError) as e:
            raise CorruptFileError(
                f"{path} is not a valid .npz file: {e}."
            ) from None
    return read_safetensors(path)


def read_legacy_keras_h5(path):
    """Reads Keras 2-style HDF5 weights: `{layer name: [arrays]}`.

    Handles both weights-only files and whole-model files (weights under
    `model_weights`). Arrays keep the order of the layer's `weight_names`.

    Raises:
        WeightsError: not an HDF5 file, truncated, or not in this layout.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in group.attrs:
                raise CorruptFileError(
                    f"{path} is HDF5 but has no 'layer_names': not a Keras "
                    "2-style weights file."
                )
            result = {}
            for raw in group.attrs["layer_names"]:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                layer = group[name]
                names = layer.attrs.get("weight_names", [])
                result[name] = [
                    np.asarray(
                        layer[n.decode() if isinstance(n, bytes) else n]
                    )
                    for n in names
                ]
            return result
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise CorruptFileError(
            f"{path} is not a readable HDF5 weights file (truncated or "
            f"corrupt?): {e}."
        ) from None
