"""The model registry."""

import pytest

import zoo
from zoo import registry


def test_list_models_patterns_and_natural_order():
    names = zoo.list_models("resnet*")
    assert names[:5] == ["resnet18", "resnet18d", "resnet34", "resnet34d",
                         "resnet50"]
    assert zoo.list_models("resnet1??") == ["resnet18d", "resnet101",
                                            "resnet152"]
    assert zoo.list_models(["seresnet*", "resnet50d"]) == ["resnet50d",
                                                            "seresnet50"]
    assert zoo.list_models("vit*") == []


def test_create_model_drops_none_kwargs():
    model = zoo.create_model("resnet18", num_classes=10, input_shape=(32, 32, 3),
                             drop_path_rate=None, dtype=None)
    assert model.num_classes == 10
    assert model.backbone.drop_path_rate == 0.0


def test_unknown_model_suggests_close_names():
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        zoo.create_model("resnet05")
    assert "'resnet50'" in str(excinfo.value)
    assert isinstance(excinfo.value, KeyError)


def test_unknown_argument_is_a_type_error():
    with pytest.raises(TypeError, match="num_clases"):
        zoo.create_model("resnet18", num_clases=3)


def test_register_model_conflict_and_entry():
    @zoo.register_model(name="test_tiny_resnet", family="resnet")
    def tiny(**kwargs):
        """A tiny ResNet for tests."""
        return zoo.create_model("resnet18", **kwargs)

    entry = registry.get_model_entry("test_tiny_resnet")
    assert entry.family == "resnet"
    assert entry.description == "A tiny ResNet for tests."
    with pytest.raises(ValueError, match="already registered"):
        zoo.register_model(name="test_tiny_resnet")(lambda **kw: None)
