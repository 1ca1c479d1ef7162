"""keras-hub models -> zoo models, one module per family.

A converter here takes a live keras-hub model (built from a preset
directory's `config.json` and `model.weights.h5`, or in a test) and
returns the zoo model with the same weights: `convert_model`.
"""

from zoo.convert import assign_converted, find_converter

SOURCE = "keras_hub"


def backbone_class_name(keras_hub_model):
    """The class name of a keras-hub model's backbone (`ResNetBackbone`)."""
    return type(getattr(keras_hub_model, "backbone", keras_hub_model)).__name__


def convert_model(keras_hub_model, **overrides):
    """A zoo model with the weights of a keras-hub backbone or task model.

    Args:
        keras_hub_model: a keras-hub backbone, or a task model around one
            whose family converts heads (`ResNetImageClassifier`).
        **overrides: zoo backbone arguments (e.g. `dtype`).

    Returns:
        the zoo backbone, or the zoo task model with its head converted.

    Raises:
        WeightsError: no zoo family converts that keras-hub class.
    """
    kh_backbone = getattr(keras_hub_model, "backbone", keras_hub_model)
    converter = find_converter(
        SOURCE, architecture=backbone_class_name(keras_hub_model))
    backbone = converter.build_backbone(kh_backbone, **overrides)
    model = backbone
    if kh_backbone is not keras_hub_model:
        model = converter.build_task(keras_hub_model, backbone)
    assign_converted(model, converter, keras_hub_model, include_head=True,
                     source=f"keras-hub {keras_hub_model.name}")
    return model


def load(model, path, include_head=True):
    """keras-hub weights are read through their preset directory
    (`zoo.from_preset(directory)`), not as a bare file."""
    from zoo.errors import WeightsError

    raise WeightsError(
        f"{path}: keras-hub weights load from their preset directory; pass "
        "the directory to zoo.from_preset.")
