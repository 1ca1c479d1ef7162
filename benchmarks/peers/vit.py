"""ViT's peer: keras-hub's `ViTImageClassifier` of the zoo model's size
(the layouts tested equal in tests/zoo/vision/test_vit.py, through the
keras-hub converter)."""

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer


@register_peer("vit", "keras_hub")
def keras_hub_vit(name, zoo_model):
    """keras-hub's ViTBackbone + ViTImageClassifier with the zoo model's
    patch size, widths, depth, image size and classes (class-token pooling;
    a pre-logits layer where the zoo model has one)."""
    import keras_hub

    backbone = getattr(zoo_model, "backbone", None)
    if backbone is None or getattr(zoo_model, "pooling", None) != "token" or (
            backbone.distilled or backbone.data_format != "channels_last"):
        raise BenchError(
            f"keras_hub's peer of {name!r} is a ViTImageClassifier with "
            "class-token pooling: measure a channels_last zoo ViT "
            "classifier without a distillation token.")
    peer_backbone = keras_hub.models.ViTBackbone(
        image_shape=tuple(backbone.image_shape),
        patch_size=backbone.patch_size, num_layers=backbone.num_layers,
        num_heads=backbone.num_heads, hidden_dim=backbone.hidden_size,
        mlp_dim=backbone.mlp_dim,
        layer_norm_epsilon=backbone.layer_norm_epsilon)
    peer = keras_hub.models.ViTImageClassifier(
        backbone=peer_backbone, num_classes=zoo_model.num_classes,
        intermediate_dim=zoo_model.head_hidden_size)
    return peer, "keras_hub.models.ViTImageClassifier"
