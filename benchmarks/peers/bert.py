"""BERT's peer: keras-hub's `BertBackbone` of the zoo encoder's size."""

from benchmarks.errors import BenchError
from benchmarks.peers import register_peer


@register_peer("bert", "keras_hub")
def keras_hub_bert(name, zoo_model):
    """keras-hub's BertBackbone with the zoo encoder's layers, heads,
    widths, vocabulary and positions (read from the zoo model)."""
    import keras_hub

    encoder = getattr(zoo_model, "backbone", None) or zoo_model
    if getattr(zoo_model, "backbone", None) is not None:
        raise BenchError(
            f"keras_hub's peer of {name!r} is a bare BertBackbone; measure "
            "the zoo encoder without a task head.")
    peer = keras_hub.models.BertBackbone(
        vocabulary_size=encoder.vocabulary_size,
        num_layers=encoder.num_layers,
        num_heads=encoder.num_heads,
        hidden_dim=encoder.hidden_size,
        intermediate_dim=encoder.intermediate_size,
        max_sequence_length=encoder.max_sequence_length,
    )
    return peer, "keras_hub.models.BertBackbone"
