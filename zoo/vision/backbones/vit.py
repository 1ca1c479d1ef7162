"""Vision Transformer (Dosovitskiy et al. 2021) and DeiT (Touvron et al.
2021).

Read top to bottom: the token layer, the backbone class, then the
registered variants.

The image is cut into `patch_size` squares, each projected to
`hidden_size` by one strided convolution (`patch_embedding`); a learned
class token (and DeiT's distillation token) goes in front, learned
position embeddings are added (`tokens`), then `num_layers` pre-norm
transformer blocks (`zoo.layers.TransformerEncoderBlock`: attention, then a
GELU MLP of `mlp_dim`, each branch with dropout and stochastic depth) and a
final layer norm (`encoder_norm`; epsilon 1e-6, as the original JAX code,
timm, keras-hub and the Model Garden). The backbone outputs the whole
sequence `[batch, prefix tokens + patches, hidden]`; `ImageClassifier`
pools it (`pooling="token"`: the class token; `"avg"`: the mean of the
patch tokens) and, for DeiT's distilled models, averages the class- and
distillation-token heads.

Sizes are the paper's (Table 1) and the Model Garden's VIT_SPECS
(`official/vision/modeling/backbones/vit_specs.py`); registered names are
timm's (`vit_base_patch16_224`, `deit_small_patch16_224`, ...).

Position embeddings cover a fixed grid, so the input size is fixed when
the model is built; weights trained at another size are resampled over the
grid when loaded (`resample_position_embedding`: bicubic, the prefix tokens
kept), as fine-tuning from 224 to 384 pixels does.
"""

import math

import keras
import numpy as np
from keras import ops

from zoo.backbone import Backbone
from zoo.layers.initializers import HostTruncatedNormal
from zoo.layers.transformer import TransformerEncoderBlock
from zoo.registry import register_family, register_variants
from zoo.vision.blocks import DROP_PATH_SCHEDULES, check_choice, image_input

FAMILY = register_family(
    "vit", modality="vision", task="image_classifier", num_classes=1000,
    paper="Dosovitskiy et al. 2021, An Image is Worth 16x16 Words: "
          "Transformers for Image Recognition at Scale, "
          "https://arxiv.org/abs/2010.11929; Touvron et al. 2021, Training "
          "data-efficient image transformers & distillation through "
          "attention, https://arxiv.org/abs/2012.12877")


@keras.saving.register_keras_serializable(package="zoo")
class PatchTokens(keras.layers.Layer):
    """Prepends the class (and distillation) tokens to the patch tokens and
    adds the position embeddings.

    Weights: `class_token` `[1, 1, hidden]`, `distillation_token` (DeiT),
    `position_embedding` `[1, prefix + patches, hidden]`.

    Args:
        num_prefix_tokens: 0 (no class token), 1 or 2 (class and
            distillation tokens).

    Call args:
        patches: `[batch, patches, hidden]`.

    Returns:
        `[batch, prefix + patches, hidden]`.
    """

    def __init__(self, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        if num_prefix_tokens not in (0, 1, 2):
            raise ValueError(
                f"PatchTokens: num_prefix_tokens={num_prefix_tokens} is not "
                "0, 1 or 2.")
        self.num_prefix_tokens = int(num_prefix_tokens)

    def build(self, patches_shape):
        hidden = patches_shape[-1]
        if self.num_prefix_tokens:
            self.class_token = self.add_weight(
                shape=(1, 1, hidden), initializer="zeros",
                name="class_token")
        if self.num_prefix_tokens == 2:
            self.distillation_token = self.add_weight(
                shape=(1, 1, hidden), initializer=HostTruncatedNormal(0.02),
                name="distillation_token")
        self.position_embedding = self.add_weight(
            shape=(1, self.num_prefix_tokens + patches_shape[1], hidden),
            initializer=HostTruncatedNormal(0.02), name="position_embedding")

    def call(self, patches):
        batch = ops.shape(patches)[0]
        hidden = patches.shape[-1]
        tokens = []
        if self.num_prefix_tokens:
            tokens.append(self.class_token)
        if self.num_prefix_tokens == 2:
            tokens.append(self.distillation_token)
        tokens = [ops.broadcast_to(ops.cast(t, patches.dtype),
                                   (batch, 1, hidden)) for t in tokens]
        x = ops.concatenate([*tokens, patches], axis=1) if tokens else patches
        return x + ops.cast(self.position_embedding, patches.dtype)

    def compute_output_shape(self, patches_shape):
        length = patches_shape[1]
        if length is not None:
            length += self.num_prefix_tokens
        return (patches_shape[0], length, patches_shape[2])

    def get_config(self):
        config = super().get_config()
        config["num_prefix_tokens"] = self.num_prefix_tokens
        return config


def _cubic(x, a=-0.5):
    """The cubic convolution kernel (Keys 1981) with PIL's `a = -0.5`."""
    x = np.abs(x)
    return np.where(
        x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
        np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def _resize_matrix(old, new):
    """`[new, old]` weights of a 1-D antialiased bicubic resize, PIL's (and
    so PyTorch's `antialias=True`) rule: half-pixel centres, the kernel
    widened by the scale when shrinking, weights renormalised where the
    window meets the border."""
    scale = old / new
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    matrix = np.zeros((new, old))
    for i in range(new):
        centre = (i + 0.5) * scale
        low = max(int(centre - support + 0.5), 0)
        high = min(int(centre + support + 0.5), old)
        taps = np.arange(low, high)
        weights = _cubic((taps - centre + 0.5) / stretch)
        matrix[i, low:high] = weights / weights.sum()
    return matrix


def resample_position_embedding(table, old_grid, new_grid,
                                num_prefix_tokens):
    """A `[1, prefix + h * w, hidden]` position table resampled to another
    patch grid: the prefix-token rows kept, the grid resized bicubically
    with antialiasing, as timm's `resample_abs_pos_embed` does (which is
    what checkpoints fine-tuned at another size were made with).

    Args:
        table: array `[1, prefix + old_h * old_w, hidden]`.
        old_grid, new_grid: `(h, w)` patch grids.
        num_prefix_tokens: rows in front that belong to no patch.

    Returns:
        float32 array `[1, prefix + new_h * new_w, hidden]`.
    """
    table = np.asarray(table, "float64")
    prefix, grid = (table[:, :num_prefix_tokens],
                    table[:, num_prefix_tokens:])
    hidden = table.shape[-1]
    grid = grid.reshape(old_grid[0], old_grid[1], hidden)
    rows = _resize_matrix(old_grid[0], new_grid[0])
    cols = _resize_matrix(old_grid[1], new_grid[1])
    resized = np.einsum("ih,jw,hwc->ijc", rows, cols, grid).reshape(
        1, new_grid[0] * new_grid[1], hidden)
    return np.concatenate([prefix, resized], axis=1).astype("float32")


@keras.saving.register_keras_serializable(package="zoo")
class ViTBackbone(Backbone):
    """Vision Transformer / DeiT feature extractor.

    Args:
        patch_size: int, side of the square patches.
        hidden_size: int, token width.
        num_layers: int, transformer blocks.
        num_heads: int, attention heads.
        mlp_dim: int, width of each block's MLP.
        class_token: bool, a class token in front (False: average the
            patch tokens, the Model Garden's `pooler: gap`).
        distilled: bool, DeiT's distillation token after the class token.
        dropout: float, dropout after the position embeddings and on each
            block's branches.
        attention_dropout: float, on the attention probabilities.
        drop_path_rate: float, stochastic depth of the last block.
        drop_path_schedule: `"linear"` (timm: from 0 at the first block to
            `drop_path_rate` at the last), `"model_garden"` (block `i` of
            `n` at `rate * i / n`, from 1) or `"constant"`.
        layer_norm_epsilon: float (1e-6).
        input_shape: `(height, width, channels)`, both sides multiples of
            `patch_size`.
        data_format: `"channels_last"` or `"channels_first"`.
        features_only: output `{"C4": [batch, h, w, hidden]}` (the patch
            tokens as a map at stride `patch_size`, named by that stride)
            instead of the sequence.
        dtype: dtype policy of every layer.

    Call args:
        images: `[batch, height, width, channels]`, preprocessed.

    Returns:
        `[batch, prefix tokens + patches, hidden_size]`.
    """

    family = "vit"
    input_conv_layer = "patch_embedding"

    def __init__(
        self,
        patch_size=16,
        hidden_size=768,
        num_layers=12,
        num_heads=12,
        mlp_dim=3072,
        class_token=True,
        distilled=False,
        dropout=0.0,
        attention_dropout=0.0,
        drop_path_rate=0.0,
        drop_path_schedule="linear",
        layer_norm_epsilon=1e-6,
        input_shape=(224, 224, 3),
        data_format=None,
        features_only=False,
        dtype=None,
        **kwargs,
    ):
        owner = type(self).__name__
        input_shape, data_format, images = image_input(
            owner, input_shape, data_format, min_size=patch_size)
        check_choice(owner, "drop_path_schedule", drop_path_schedule,
                     (*DROP_PATH_SCHEDULES, "model_garden"))
        height, width = input_shape[:2]
        if height is None or width is None:
            raise ValueError(
                f"{owner}: input_shape={input_shape} needs a fixed height "
                "and width (the position embeddings cover a fixed grid).")
        if height % patch_size or width % patch_size:
            raise ValueError(
                f"{owner}: the image size {height}x{width} is not divisible "
                f"by patch_size={patch_size}.")
        if hidden_size % num_heads:
            raise ValueError(
                f"{owner}: hidden_size={hidden_size} is not a multiple of "
                f"num_heads={num_heads}.")
        if distilled and not class_token:
            raise ValueError(
                f"{owner}: distilled=True needs class_token=True.")
        grid = (height // patch_size, width // patch_size)
        prefix = (1 + int(distilled)) if class_token else 0

        x = keras.layers.Conv2D(
            hidden_size, patch_size, strides=patch_size,
            data_format=data_format,
            kernel_initializer=HostTruncatedNormal(0.02), dtype=dtype,
            name="patch_embedding")(images)
        if data_format == "channels_first":
            x = keras.layers.Permute((2, 3, 1), dtype=dtype,
                                     name="to_channels_last")(x)
        x = keras.layers.Reshape((grid[0] * grid[1], hidden_size),
                                 dtype=dtype, name="patches")(x)
        x = PatchTokens(prefix, dtype=dtype, name="tokens")(x)
        x = keras.layers.Dropout(dropout, dtype=dtype,
                                 name="embedding_dropout")(x)
        if drop_path_schedule == "constant":
            rates = [drop_path_rate] * num_layers
        elif drop_path_schedule == "model_garden":
            rates = [drop_path_rate * (i + 1) / num_layers
                     for i in range(num_layers)]
        else:
            rates = [drop_path_rate * i / max(num_layers - 1, 1)
                     for i in range(num_layers)]
        for index in range(num_layers):
            x = TransformerEncoderBlock(
                num_heads, mlp_dim, activation="gelu", dropout=dropout,
                attention_dropout=attention_dropout,
                norm_epsilon=layer_norm_epsilon, norm_first=True,
                drop_path_rate=rates[index], dtype=dtype,
                name=f"block{index + 1}")(x)
        x = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="encoder_norm")(x)

        level = f"C{int(round(math.log2(patch_size)))}"
        grid_map = keras.layers.Reshape(
            (grid[0], grid[1], hidden_size), dtype=dtype, name="grid")(
            x[:, prefix:, :] if prefix else x)
        self._init_backbone(
            inputs=images, outputs=x, pyramid_outputs={level: grid_map},
            feature_info=[{"name": level, "channels": int(hidden_size),
                           "stride": int(patch_size)}],
            features_only=features_only, dtype=dtype, **kwargs)
        self.num_prefix_tokens = prefix
        self.grid_size = grid
        self._record_arguments(locals())

    def weight_adapters(self):
        """`{weight path: adapt(array, target_shape)}` for weights that may
        come from a model built at another image size: the position
        embeddings, resampled over the patch grid."""
        path = "tokens/position_embedding"
        prefix = self.num_prefix_tokens

        def adapt(array, target_shape):
            old = array.shape[1] - prefix
            side = int(round(math.sqrt(old)))
            if side * side != old or array.shape[-1] != target_shape[-1]:
                return array  # left for the shape check to name
            return resample_position_embedding(array, (side, side),
                                               self.grid_size, prefix)

        return {path: adapt}


# --- Registered variants --------------------------------------------------
#
# (patch, hidden, layers, heads, mlp) per size: the paper's Table 1 and the
# Model Garden's VIT_SPECS (vit-ti16, vit-s16, vit-b16, vit-b32, vit-l16,
# vit-h14).

SIZES = {
    "tiny": (192, 12, 3, 768), "small": (384, 12, 6, 1536),
    "base": (768, 12, 12, 3072), "large": (1024, 24, 16, 4096),
    "huge": (1280, 32, 16, 5120),
}


def vit(variant, **kwargs):
    """A ViT backbone; `variant` is `(size, patch, image size, distilled)`."""
    size, patch, image, distilled = variant
    hidden, layers, heads, mlp = SIZES[size]
    family = "deit" if distilled is not None else "vit"
    name = f"{family}_{size}_{'distilled_' if distilled else ''}patch{patch}"
    return ViTBackbone(**{
        "patch_size": patch, "hidden_size": hidden, "num_layers": layers,
        "num_heads": heads, "mlp_dim": mlp, "distilled": bool(distilled),
        "input_shape": (image, image, 3), "name": f"{name}_{image}",
        **kwargs})


# {name: (variant, description, default head)}. DeiT's variants are ViT's
# sizes; `distilled=True` adds the distillation token and head.
register_variants(vit, {
    "vit_tiny_patch16_224": (("tiny", 16, 224, None),
                             "ViT-Ti/16 at 224px: 5.7M.",
                             {"pooling": "token"}),
    "vit_tiny_patch16_384": (("tiny", 16, 384, None), "ViT-Ti/16 at 384px.",
                             {"pooling": "token"}),
    "vit_small_patch16_224": (("small", 16, 224, None),
                              "ViT-S/16 at 224px: 22.1M.",
                              {"pooling": "token"}),
    "vit_small_patch16_384": (("small", 16, 384, None),
                              "ViT-S/16 at 384px.", {"pooling": "token"}),
    "vit_base_patch16_224": (("base", 16, 224, None),
                             "ViT-B/16 at 224px: 86.6M.",
                             {"pooling": "token"}),
    "vit_base_patch16_384": (("base", 16, 384, None), "ViT-B/16 at 384px.",
                             {"pooling": "token"}),
    "vit_base_patch32_224": (("base", 32, 224, None),
                             "ViT-B/32 at 224px: 88.2M.",
                             {"pooling": "token"}),
    "vit_base_patch32_384": (("base", 32, 384, None), "ViT-B/32 at 384px.",
                             {"pooling": "token"}),
    "vit_large_patch16_224": (("large", 16, 224, None),
                              "ViT-L/16 at 224px: 304.3M.",
                              {"pooling": "token"}),
    "vit_large_patch16_384": (("large", 16, 384, None),
                              "ViT-L/16 at 384px.", {"pooling": "token"}),
    "vit_huge_patch14_224": (("huge", 14, 224, None),
                             "ViT-H/14 at 224px: 632.0M.",
                             {"pooling": "token"}),
    "deit_tiny_patch16_224": (("tiny", 16, 224, False),
                              "DeiT-Ti: ViT-Ti/16 trained the DeiT way.",
                              {"pooling": "token"}),
    "deit_small_patch16_224": (("small", 16, 224, False),
                               "DeiT-S: ViT-S/16 trained the DeiT way.",
                               {"pooling": "token"}),
    "deit_base_patch16_224": (("base", 16, 224, False),
                              "DeiT-B: ViT-B/16 trained the DeiT way.",
                              {"pooling": "token"}),
    "deit_base_patch16_384": (("base", 16, 384, False),
                              "DeiT-B at 384px.", {"pooling": "token"}),
})
