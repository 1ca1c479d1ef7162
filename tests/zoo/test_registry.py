"""The model registry: listing without imports, the rule of create_model,
task models, registration errors."""

import importlib
import subprocess
import sys

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
    assert zoo.list_models("nothing*") == []


def test_list_models_filters_by_task_modality_and_family():
    classifiers = zoo.list_models(task="image_classifier")
    assert "resnet50" in classifiers and "bert_base_uncased" not in classifiers
    assert zoo.list_models(task="classification") == classifiers
    encoders = zoo.list_models(task="embedding")
    assert "bert_base_uncased" in encoders and "resnet50" not in encoders
    decoders = zoo.list_models(task="causal_lm")
    assert "smollm2_135m" in decoders and "bert_base_uncased" not in decoders
    assert set(zoo.list_models(modality="text")) == set(encoders) | set(
        decoders)
    assert zoo.list_models(family="albert") == [
        "albert_base_v2", "albert_large_v2", "albert_xlarge_v2",
        "albert_xxlarge_v2"]


def test_catalogue_read_from_source_equals_the_imported_registry():
    """`list_models` reads registrations from the source files; importing
    every family module must register exactly those, with the same
    families, modalities, tasks and descriptions."""
    catalogue = registry.catalogue_entries()
    for module in sorted({e.module for e in catalogue.values()}):
        importlib.import_module(module)
    # Models other tests register at run time live outside the zoo package.
    imported = {name: entry for name, (entry, _) in registry._MODELS.items()
                if entry.module.startswith("zoo.")}
    assert imported == catalogue


def test_listing_imports_no_model_code():
    code = ("import sys, zoo\n"
            "names = zoo.list_models(task='image_classifier')\n"
            "assert 'resnet50' in names\n"
            "zoo.list_presets()\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('keras', 'tensorflow', 'jax') or m.startswith('zoo.nlp') or "
            "m.startswith('zoo.vision')]\n"
            "print(sorted(heavy))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_create_model_rule_is_the_same_for_every_family():
    classifier = zoo.create_model("resnet18", input_shape=(32, 32, 3))
    assert type(classifier).__name__ == "ImageClassifier"
    assert classifier.num_classes == 1000  # the family's default head
    assert classifier.name == "resnet18"
    assert classifier.backbone.name == "resnet18_backbone"
    backbone = zoo.create_model("resnet18", task=None,
                                input_shape=(32, 32, 3))
    assert type(backbone).__name__ == "ResNetBackbone"
    pyramid = zoo.create_model("resnet18", features_only=True,
                               input_shape=(32, 32, 3))
    assert sorted(pyramid.output) == ["C2", "C3", "C4", "C5"]

    encoder = zoo.create_model("bert_tiny_uncased")
    assert type(encoder).__name__ == "BertEncoder"
    layers = zoo.create_model("bert_tiny_uncased", features_only=True)
    assert sorted(layers.output) == ["layer_0", "layer_1", "layer_2"]
    text = zoo.create_model("bert_tiny_uncased", task="text_classifier",
                            num_classes=2, dropout=0.3)
    assert type(text).__name__ == "TextClassifier"
    assert text.dropout == 0.3 and text.backbone.dropout == 0.1
    # A task model with a head sized by num_classes needs it.
    with pytest.raises(zoo.PresetError, match="needs num_classes"):
        zoo.create_model("bert_tiny_uncased", task="token_classifier")
    with pytest.raises(zoo.PresetError, match="Unknown task 'text_clasifier'"
                       ".*'text_classifier'"):
        zoo.create_model("bert_tiny_uncased", task="text_clasifier")


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


FAMILY = zoo.register_family("test_family", modality="vision",
                             task="image_classifier", num_classes=7)


def test_register_model_conflict_and_entry():
    @zoo.register_model(name="test_tiny_resnet")
    def tiny(**kwargs):
        """A tiny ResNet for tests."""
        from zoo.vision.backbones.resnet import resnet_backbone

        return resnet_backbone(18, stage_filters=(8, 8, 8, 8), stem_width=8,
                               **kwargs)

    entry = registry.get_model_entry("test_tiny_resnet")
    assert entry.family == "test_family" and entry.modality == "vision"
    assert entry.description == "A tiny ResNet for tests."
    model = zoo.create_model("test_tiny_resnet", input_shape=(32, 32, 3))
    assert model.num_classes == 7
    with pytest.raises(ValueError, match="already registered"):
        zoo.register_model(name="test_tiny_resnet")(lambda **kw: None)


def test_register_model_needs_a_family():
    namespace = {"__name__": "test_registry_without_family"}
    exec("def builder(**kwargs):\n    pass\n", namespace)
    with pytest.raises(ValueError, match="register_family"):
        zoo.register_model(namespace["builder"])
