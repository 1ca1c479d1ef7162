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
                 "mobilenetv3_large_100", "convnext_tiny",
                 "vit_base_patch16_224", "deit_tiny_distilled_patch16_224")
#: ViT references are computed on fewer blocks than the architecture's
#: (the names and shapes are checked on the whole one): `depth` for
#: `timm.create_model` and `timm_vit_state_dict`.
VIT_DEPTH = {"vit_base_patch16_224": 2, "deit_tiny_distilled_patch16_224": 2}
VIT_WIDTH = {"vit_base_patch16_224": (768, 3072),
             "deit_tiny_distilled_patch16_224": (192, 768)}
SEED = 11
IMAGE_SIZE = 64


def reference_images(size=IMAGE_SIZE):
    """The images the test feeds both models, `[2, size, size, 3]`."""
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1, 1, (2, size, size, 3)).astype("float32")


def state_dict(architecture, depth=None):
    """The random timm-layout state dict of the test (ViTs: `depth`
    blocks, default the test's `VIT_DEPTH`)."""
    if architecture.startswith("convnext"):
        return timm_layouts.timm_convnext_state_dict(seed=SEED)
    if architecture in VIT_DEPTH:
        dim, mlp = VIT_WIDTH[architecture]
        return timm_layouts.timm_vit_state_dict(
            dim=dim, mlp=mlp, depth=depth or VIT_DEPTH[architecture],
            distilled="distilled" in architecture, seed=SEED)
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
    for architecture in ARCHITECTURES:
        vit = architecture in VIT_DEPTH
        size = 224 if vit else IMAGE_SIZE
        images = torch.from_numpy(
            reference_images(size).transpose(0, 3, 1, 2).astype("float64"))
        model = timm.create_model(architecture)
        theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        mine = {k: tuple(v.shape) for k, v in state_dict(
            architecture, depth=len(model.blocks) if vit else None).items()}
        assert mine == theirs, (architecture,
                                sorted(set(mine) ^ set(theirs))[:5],
                                [k for k in mine if k in theirs
                                 and mine[k] != theirs[k]][:5])
        if vit:
            model = timm.create_model(architecture,
                                      depth=VIT_DEPTH[architecture])
        model = model.double().eval()
        ours = state_dict(architecture)
        model.load_state_dict({k: torch.from_numpy(np.asarray(v))
                               .to(model.state_dict()[k].dtype)
                               for k, v in ours.items()})
        with torch.no_grad():
            logits = model(images).numpy()
        np.savez(HERE / f"{architecture}.npz", logits=logits)
        print(architecture, len(ours), "tensors; logits max",
              float(np.abs(logits).max()))


def resampling_reference():
    """timm's own position-embedding resampling of a random table with
    one prefix token: 7x7 -> 12x12 and 7x7 -> 5x3, saved as
    `pos_embed_resample.npz`."""
    import torch

    _import_timm()
    from timm.layers import resample_abs_pos_embed

    rng = np.random.default_rng(SEED)
    table = rng.normal(size=(1, 1 + 7 * 7, 8))
    outputs = {"table": table}
    for new in ((12, 12), (5, 3)):
        outputs[f"to_{new[0]}x{new[1]}"] = resample_abs_pos_embed(
            torch.from_numpy(table), new_size=list(new), old_size=[7, 7],
            num_prefix_tokens=1).numpy()
    np.savez(HERE / "pos_embed_resample.npz", **outputs)


if __name__ == "__main__":
    main()
    resampling_reference()
