"""torch.save files read without torch, by a restricted unpickler."""

import os
import pickle

import numpy as np
import pytest

from testing_utils import write_torch_file
from zoo.convert.torch_file import read_torch_file
from zoo.errors import CorruptFileError, UnsafePickleError

# Backend-independent file reading.
pytestmark = pytest.mark.one_backend


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_both_layouts_round_trip(legacy, tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype("float32"),
               "bn.running_var": rng.uniform(size=4),
               "bn.num_batches_tracked": np.array(7, "int64"),
               "fc.weight": rng.normal(size=(5, 4)).astype("float16").T}
    path = tmp_path / "weights.pth"
    write_torch_file(tensors, path, legacy=legacy)
    read = read_torch_file(path)
    assert list(read) == list(tensors)
    for name, array in tensors.items():
        assert read[name].dtype == array.dtype
        np.testing.assert_array_equal(read[name], array)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_a_pickle_that_would_run_code_is_refused_unrun(legacy, tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"weight": _Payload(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if legacy:
        with open(path, "wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001, {}):
                pickle.dump(header, f, protocol=2)
            f.write(payload)
    else:
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
    with pytest.raises(UnsafePickleError,
                       match=r"asks for (posix|os|nt)\.system"):
        read_torch_file(path)
    assert not marker.exists()


def test_not_a_torch_file_is_named(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"\x80\x02K\x01.")   # a pickle of the int 1
    with pytest.raises(CorruptFileError, match="not a torch.save file"):
        read_torch_file(path)
    tensors = {"w": np.ones(8, "float32")}
    write_torch_file(tensors, path)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_torch_file(path)
