"""Computes the timm reference logits of tests/zoo/convert/test_timm.py.

Run once, with torch and timm installed (neither is needed by the tests):

    python tests/data/timm_reference/make_reference.py

For each architecture it (1) checks that the state dict
`tests/timm_layouts.py` writes has exactly the names and shapes of
`timm.create_model(architecture).state_dict()`, then (2) loads that state
dict into the timm model and saves its float64 logits on the test's
images as `<architecture>.npz`. Written with torch 2.13.0 and timm 1.0.31.
"""

import importlib.abc
import importlib.machinery
import pathlib
import sys
import types

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import timm_layouts  # noqa: E402

ARCHITECTURES = ("efficientnet_b0", "mobilenetv2_100",
                 "mobilenetv3_large_100", "convnext_tiny")
SEED = 11
IMAGE_SIZE = 64


def reference_images():
    """The images the test feeds both models, `[2, 64, 64, 3]`."""
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1, 1, (2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(
        "float32")


def state_dict(architecture):
    """The random timm-layout state dict of the test."""
    if architecture.startswith("convnext"):
        return timm_layouts.timm_convnext_state_dict(seed=SEED)
    return timm_layouts.timm_mbconv_state_dict(architecture, seed=SEED)


def _import_timm():
    """timm, importable where no torchvision build matches the installed
    torch (these models use none of it): a placeholder package stands in
    for torchvision."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # a missing or mismatched build
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]

        class Meta(type):
            def __getattr__(cls, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                sub = Meta(name, (cls,), {})
                type.__setattr__(cls, name, sub)
                return sub

        class Placeholder(metaclass=Meta):
            def __init__(self, *args, **kwargs):
                pass

        class Module(types.ModuleType):
            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                sub = Meta(name, (Placeholder,), {})
                setattr(self, name, sub)
                return sub

        class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
            def find_spec(self, fullname, path, target=None):
                if fullname.split(".")[0] == "torchvision":
                    return importlib.machinery.ModuleSpec(
                        fullname, self, is_package=True)
                return None

            def create_module(self, spec):
                module = Module(spec.name)
                module.__path__ = []
                return module

            def exec_module(self, module):
                pass

        sys.meta_path.insert(0, Finder())
    import timm

    return timm


def main():
    import torch

    timm = _import_timm()
    images = torch.from_numpy(
        reference_images().transpose(0, 3, 1, 2).astype("float64"))
    for architecture in ARCHITECTURES:
        model = timm.create_model(architecture).double().eval()
        theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        ours = state_dict(architecture)
        mine = {k: tuple(v.shape) for k, v in ours.items()}
        assert mine == theirs, (architecture,
                                sorted(set(mine) ^ set(theirs))[:5],
                                [k for k in mine if k in theirs
                                 and mine[k] != theirs[k]][:5])
        model.load_state_dict({k: torch.from_numpy(np.asarray(v))
                               .to(model.state_dict()[k].dtype)
                               for k, v in ours.items()})
        with torch.no_grad():
            logits = model(images).numpy()
        np.savez(HERE / f"{architecture}.npz", logits=logits)
        print(architecture, len(ours), "tensors; logits max",
              float(np.abs(logits).max()))


if __name__ == "__main__":
    main()
