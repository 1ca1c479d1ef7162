"""Random state dicts with timm's names and shapes, written from timm's
module layout (numpy only, so that the reference script under
tests/data/timm_reference/ runs where Keras is not installed).
"""

import numpy as np


# timm's names and shapes for efficientnet_b0, mobilenetv2_100,
# mobilenetv3_large_100 and convnext_tiny (timm/models/efficientnet.py
# `_gen_efficientnet`, `_gen_mobilenet_v2`; mobilenetv3.py
# `_gen_mobilenet_v3`; convnext.py; the blocks of
# _efficientnet_blocks.py), independently of zoo's converters.
# tests/data/timm_reference/make_reference.py checks them against timm's
# own `state_dict()`.

#: (block, repeats, kernel, stride, expansion, channels, se) per stage.
TIMM_ARCH = {
    "efficientnet_b0": dict(stem=32, head=1280, se_from_expansion=False,
                            stages=[
        ("ds", 1, 3, 1, 1, 16, 0.25), ("ir", 2, 3, 2, 6, 24, 0.25),
        ("ir", 2, 5, 2, 6, 40, 0.25), ("ir", 3, 3, 2, 6, 80, 0.25),
        ("ir", 3, 5, 1, 6, 112, 0.25), ("ir", 4, 5, 2, 6, 192, 0.25),
        ("ir", 1, 3, 1, 6, 320, 0.25)]),
    "mobilenetv2_100": dict(stem=32, head=1280, se_from_expansion=False,
                            stages=[
        ("ds", 1, 3, 1, 1, 16, 0), ("ir", 2, 3, 2, 6, 24, 0),
        ("ir", 3, 3, 2, 6, 32, 0), ("ir", 4, 3, 2, 6, 64, 0),
        ("ir", 3, 3, 1, 6, 96, 0), ("ir", 3, 3, 2, 6, 160, 0),
        ("ir", 1, 3, 1, 6, 320, 0)]),
    "mobilenetv3_large_100": dict(stem=16, head=1280, se_from_expansion=True,
                                  stages=[
        [("ds", 1, 3, 1, 1, 16, 0)],
        [("ir", 1, 3, 2, 4, 24, 0), ("ir", 1, 3, 1, 3, 24, 0)],
        [("ir", 3, 5, 2, 3, 40, 0.25)],
        [("ir", 1, 3, 2, 6, 80, 0), ("ir", 1, 3, 1, 2.5, 80, 0),
         ("ir", 2, 3, 1, 2.3, 80, 0)],
        [("ir", 2, 3, 1, 6, 112, 0.25)], [("ir", 3, 5, 2, 6, 160, 0.25)],
        [("cn", 1, 1, 1, 1, 960, 0)]]),
}


def timm_make_divisible(value, divisor=8):
    """timm's `make_divisible`: nearest multiple, never below 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class _TimmState:
    """A random state dict being written, torch layouts."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.state = {}

    def conv(self, name, out_ch, in_ch, k, bias=False, groups=1):
        fan_in = in_ch // groups * k * k
        self.state[f"{name}.weight"] = self.rng.normal(
            0, np.sqrt(2.0 / fan_in), (out_ch, in_ch // groups, k, k))
        if bias:
            self.state[f"{name}.bias"] = self.rng.normal(0, 0.1, out_ch)

    def linear(self, name, out_ch, in_ch):
        self.state[f"{name}.weight"] = self.rng.normal(
            0, np.sqrt(1.0 / in_ch), (out_ch, in_ch))
        self.state[f"{name}.bias"] = self.rng.normal(0, 0.1, out_ch)

    def bn(self, name, ch):
        self.state[f"{name}.weight"] = self.rng.uniform(0.5, 1.5, ch)
        self.state[f"{name}.bias"] = self.rng.normal(0.0, 0.2, ch)
        self.state[f"{name}.running_mean"] = self.rng.normal(0.0, 0.2, ch)
        self.state[f"{name}.running_var"] = self.rng.uniform(0.5, 1.5, ch)
        self.state[f"{name}.num_batches_tracked"] = np.array(100)

    def layer_norm(self, name, ch):
        self.state[f"{name}.weight"] = self.rng.uniform(0.5, 1.5, ch)
        self.state[f"{name}.bias"] = self.rng.normal(0.0, 0.2, ch)

    def se(self, name, ch, reduced):
        self.conv(f"{name}.conv_reduce", reduced, ch, 1, bias=True)
        self.conv(f"{name}.conv_expand", ch, reduced, 1, bias=True)


def timm_mbconv_state_dict(architecture, num_classes=1000, seed=0):
    """A random state dict with the names and shapes of timm's
    `efficientnet_b0`, `mobilenetv2_100` or `mobilenetv3_large_100`
    (float64 arrays; batch-norm buffers included)."""
    arch = TIMM_ARCH[architecture]
    s = _TimmState(seed)
    s.conv("conv_stem", arch["stem"], 3, 3)
    s.bn("bn1", arch["stem"])
    channels = arch["stem"]
    stages = [stage if isinstance(stage, list) else [stage]
              for stage in arch["stages"]]
    for index, stage in enumerate(stages):
        blocks = [spec for spec in stage for _ in range(spec[1])]
        for number, (kind, _, k, _, e, out_ch, se) in enumerate(blocks):
            p = f"blocks.{index}.{number}"
            if kind == "cn":
                s.conv(f"{p}.conv", out_ch, channels, k)
                s.bn(f"{p}.bn1", out_ch)
            elif kind == "ds":
                s.conv(f"{p}.conv_dw", channels, channels, k, groups=channels)
                s.bn(f"{p}.bn1", channels)
                if se:
                    s.se(f"{p}.se", channels, round(channels * se))
                s.conv(f"{p}.conv_pw", out_ch, channels, 1)
                s.bn(f"{p}.bn2", out_ch)
            else:
                mid = timm_make_divisible(channels * e)
                s.conv(f"{p}.conv_pw", mid, channels, 1)
                s.bn(f"{p}.bn1", mid)
                s.conv(f"{p}.conv_dw", mid, mid, k, groups=mid)
                s.bn(f"{p}.bn2", mid)
                if se:
                    reduced = (timm_make_divisible(mid * se)
                               if arch["se_from_expansion"]
                               else round(mid * se / e))
                    s.se(f"{p}.se", mid, reduced)
                s.conv(f"{p}.conv_pwl", out_ch, mid, 1)
                s.bn(f"{p}.bn3", out_ch)
            channels = out_ch
    if architecture.startswith("mobilenetv3"):
        # Pooled first, then a 1x1 convolution with a bias, no norm.
        s.conv("conv_head", arch["head"], channels, 1, bias=True)
    else:
        s.conv("conv_head", arch["head"], channels, 1)
        s.bn("bn2", arch["head"])
    s.linear("classifier", num_classes, arch["head"])
    return s.state


def timm_convnext_state_dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768),
                             num_classes=1000, seed=0):
    """A random state dict with timm's ConvNeXt names and shapes
    (`convnext_tiny` by default); layer scales drawn around 0.2 so that
    activations stay bounded through the residual stream."""
    s = _TimmState(seed)
    s.conv("stem.0", dims[0], 3, 4, bias=True)
    s.layer_norm("stem.1", dims[0])
    for i, (depth, dim) in enumerate(zip(depths, dims)):
        if i:
            s.layer_norm(f"stages.{i}.downsample.0", dims[i - 1])
            s.conv(f"stages.{i}.downsample.1", dim, dims[i - 1], 2, bias=True)
        for j in range(depth):
            p = f"stages.{i}.blocks.{j}"
            s.state[f"{p}.gamma"] = s.rng.uniform(0.1, 0.3, dim)
            s.conv(f"{p}.conv_dw", dim, dim, 7, bias=True, groups=dim)
            s.layer_norm(f"{p}.norm", dim)
            s.linear(f"{p}.mlp.fc1", 4 * dim, dim)
            s.linear(f"{p}.mlp.fc2", dim, 4 * dim)
    s.layer_norm("head.norm", dims[-1])
    s.linear("head.fc", num_classes, dims[-1])
    return s.state


def timm_vit_state_dict(patch=16, dim=768, depth=12, mlp=3072, image=224,
                        num_classes=1000, distilled=False, seed=0):
    """A random state dict with timm's VisionTransformer names and shapes
    (`vit_base_patch16_224` by default; `distilled`: DeiT's
    `dist_token` and `head_dist`, timm/models/deit.py). float32 arrays."""
    s = _TimmState(seed)
    prefix = 2 if distilled else 1
    patches = (image // patch) ** 2
    rng = s.rng
    s.state["cls_token"] = rng.normal(0, 0.02, (1, 1, dim))
    if distilled:
        s.state["dist_token"] = rng.normal(0, 0.02, (1, 1, dim))
    s.state["pos_embed"] = rng.normal(0, 0.02, (1, prefix + patches, dim))
    s.conv("patch_embed.proj", dim, 3, patch, bias=True)
    for i in range(depth):
        p = f"blocks.{i}"
        s.layer_norm(f"{p}.norm1", dim)
        s.linear(f"{p}.attn.qkv", 3 * dim, dim)
        s.linear(f"{p}.attn.proj", dim, dim)
        s.layer_norm(f"{p}.norm2", dim)
        s.linear(f"{p}.mlp.fc1", mlp, dim)
        s.linear(f"{p}.mlp.fc2", dim, mlp)
    s.layer_norm("norm", dim)
    s.linear("head", num_classes, dim)
    if distilled:
        s.linear("head_dist", num_classes, dim)
    return {k: np.asarray(v, "float32") for k, v in s.state.items()}
