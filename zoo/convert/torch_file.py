"""PyTorch checkpoint files (`torch.save`) read without torch, safely.

A `.pth` file is a pickle, and unpickling runs whatever callables the file
names. This reader runs none of its own choosing: its unpickler resolves
only the names a state dict of tensors needs (`collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2` and `_rebuild_parameter`, the typed
`torch.*Storage` classes), each to a function of this module that builds
numpy arrays; any other global (`os.system`, `builtins.eval`, a model
class, ...) raises `UnsafePickleError` before anything is called.

Both layouts `torch.save` has written are read:

- the zip archive of torch >= 1.6 (`<name>/data.pkl` and one file per
  storage under `<name>/data/`);
- the legacy stream of older torch: magic number, protocol version and
  system info pickles, the object pickle, the list of storage keys, then
  each storage as an 8-byte little-endian element count and its raw bytes.
"""

import collections
import pickle
import struct
import zipfile

import numpy as np

from zoo.errors import CorruptFileError, UnsafePickleError

#: The legacy format's first pickle.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

#: `torch.<X>Storage` -> numpy dtype of its elements.
STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
    "BFloat16Storage": "bfloat16",
}


def _numpy_dtype(name):
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class _StorageType:
    """Stands for `torch.<X>Storage` in a pickle: only its dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = _numpy_dtype(STORAGE_DTYPES[name])


class _Storage:
    """A storage named by the pickle; its bytes arrive later."""

    def __init__(self, storage_type, key, numel):
        self.dtype = storage_type.dtype
        self.key = str(key)
        self.numel = int(numel)
        self.array = None


class _Tensor:
    """A tensor of a storage (offset, size and stride in elements),
    materialised once the storage's bytes are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self):
        data = self.storage.array
        if not self.size:
            return np.array(data[self.offset])
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size,
            strides=[s * itemsize for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *args):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None,
                       *args):
    return data


class _OrderedDict(collections.OrderedDict):
    """`collections.OrderedDict` that also takes the `_metadata` attribute
    torch attaches to state dicts."""


#: (module, name) -> what the unpickler gives for it; nothing else resolves.
ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source, storage_of):
        super().__init__(file)
        self.source = source
        self.storage_of = storage_of

    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(
            f"{self.source}: the pickle asks for {module}.{name}, which a "
            "file of tensors does not need; it is not loaded (only state "
            "dicts of tensors are read, and nothing in them is run).")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafePickleError(
                f"{self.source}: unexpected persistent id {pid!r}.")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise CorruptFileError(
                f"{self.source}: storage of unknown type {storage_type!r}.")
        if len(pid) > 5 and pid[5] is not None:
            raise CorruptFileError(
                f"{self.source}: storage views are not supported.")
        return self.storage_of(storage_type, key, numel)


def _materialise(obj):
    if isinstance(obj, _Tensor):
        return obj.to_numpy()
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl")
                   or n == "data.pkl"]
        if len(pickles) != 1:
            raise CorruptFileError(
                f"{path}: a zip but not a torch.save archive (no data.pkl).")
        prefix = pickles[0][:-len("data.pkl")]
        storages = {}

        def storage_of(storage_type, key, numel):
            if key not in storages:
                storage = _Storage(storage_type, key, numel)
                raw = archive.read(f"{prefix}data/{storage.key}")
                storage.array = np.frombuffer(raw, storage.dtype,
                                              count=storage.numel)
                storages[key] = storage
            return storages[key]

        with archive.open(pickles[0]) as f:
            return _RestrictedUnpickler(f, str(path), storage_of).load()


def _read_legacy(path, f):
    def plain(what):
        try:
            return _RestrictedUnpickler(f, str(path), None).load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise CorruptFileError(
                f"{path}: truncated or corrupt ({what}: {e}).") from None

    if plain("magic number") != LEGACY_MAGIC:
        raise CorruptFileError(f"{path} is not a torch.save file.")
    plain("protocol version")
    info = plain("system info")
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise CorruptFileError(f"{path} was written big-endian.")
    storages = {}

    def storage_of(storage_type, key, numel):
        return storages.setdefault(key, _Storage(storage_type, key, numel))

    result = _RestrictedUnpickler(f, str(path), storage_of).load()
    keys = plain("storage keys")
    for key in keys:
        storage = storages[key]
        header = f.read(8)
        if len(header) != 8:
            raise CorruptFileError(f"{path}: truncated in storage {key}.")
        (count,) = struct.unpack("<q", header)
        raw = f.read(count * storage.dtype.itemsize)
        if len(raw) != count * storage.dtype.itemsize:
            raise CorruptFileError(f"{path}: truncated in storage {key}.")
        storage.array = np.frombuffer(raw, storage.dtype, count=count)
    return result


def read_torch_file(path):
    """The state dict of a `torch.save` file, as `{name: numpy array}`.

    Args:
        path: a `.pth` / `.pt` / `.bin` / `.ckpt` file of either layout;
            a `{"state_dict": ...}` or `{"model": ...}` wrapper is opened.

    Raises:
        UnsafePickleError: the pickle names anything but tensors and dicts.
        CorruptFileError: not a torch file, or truncated.
    """
    path = str(path)
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head.startswith(b"PK"):
            result = _read_zip(path)
        else:
            result = _read_legacy(path, f)
    for wrapper in ("state_dict", "model"):
        if isinstance(result, dict) and isinstance(result.get(wrapper), dict):
            result = result[wrapper]
    if not isinstance(result, dict):
        raise CorruptFileError(
            f"{path} holds a {type(result).__name__}, not a state dict.")
    tensors = _materialise(result)
    return {k: v for k, v in tensors.items() if isinstance(v, np.ndarray)}
