"""keras-hub's DeepLabV3+ converts: a randomly initialised keras-hub
`DeepLabV3ImageSegmenter` saved with `save_to_preset` loads with
`zoo.from_preset` into a zoo `SemanticSegmenter` with keras-hub's parameter
count and its logits (within 1e-4); in keras-hub's configuration of
`deeplab_v3_plus_resnet50_pascalvoc` the counts are keras-hub's."""

import keras
import numpy as np
import pytest

import zoo
from model_test_case import assert_close
from testing_utils import zero_host_initializers

SIZE = (64, 64)


def _keras_hub_segmenter():
    import keras_hub

    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[16], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block", use_pre_activation=False,
        image_shape=(None, None, 3))
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder, low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P5", upsampling_size=8,
        dilation_rates=[6, 12, 18], image_shape=(None, None, 3))
    converter = keras_hub.layers.DeepLabV3ImageConverter(
        image_size=SIZE, scale=1 / 255.0)
    preprocessor = keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(
        image_converter=converter)
    segmenter = keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone, num_classes=3, preprocessor=preprocessor)
    # Random statistics in every batch norm, so a swapped mean/variance or
    # an unconverted norm shows.
    rng = np.random.default_rng(0)
    for layer in _all_layers(segmenter):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1,
                                                layer.moving_mean.shape))
            layer.moving_variance.assign(
                rng.uniform(0.5, 1.5, layer.moving_variance.shape))
    return segmenter


def _all_layers(model):
    for layer in model._flatten_layers(include_self=False):
        yield layer


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    reference = _keras_hub_segmenter()
    path = tmp_path_factory.mktemp("kh") / "deeplab"
    reference.save_to_preset(str(path))
    return reference, zoo.from_preset(path)


def test_keras_hub_segmenter_converts_with_its_logits(converted):
    reference, model = converted
    assert isinstance(model, zoo.SemanticSegmenter)
    assert model.count_params() == reference.count_params()
    images = np.random.default_rng(1).uniform(0, 255, (2,) + SIZE + (3,))
    images = images.astype("float32")
    ready = images / 255.0
    # keras-hub's segmenter in inference mode (its bare call runs some
    # batch norms in training mode); its predict() preprocesses itself.
    expected = keras.ops.convert_to_numpy(reference(ready, training=False))
    assert_close(reference.predict(images, verbose=0), expected, atol=1e-5,
                 what="keras-hub's own predict")
    got = model(ready, training=False)
    assert_close(got, expected, atol=1e-4, what="logits")
    # The preprocessor scales as keras-hub's: masks from raw images.
    assert isinstance(model.preprocessor, zoo.SegmentationPreprocessor)
    masks = model.predict(images, verbose=0)
    np.testing.assert_array_equal(masks, np.argmax(expected, axis=-1))


def test_keras_hub_preset_refuses_arguments(converted, tmp_path):
    reference, _ = converted
    path = tmp_path / "deeplab"
    reference.save_to_preset(str(path))
    with pytest.raises(zoo.PresetError, match="converts as it is"):
        zoo.from_preset(path, num_classes=5)


@pytest.mark.one_backend
def test_keras_hub_pascalvoc_configuration_counts(monkeypatch):
    """keras-hub's `deeplab_v3_plus_resnet50_pascalvoc` lists 39,190,656
    parameters: its DeepLabV3 backbone (ResNet-50 at stride 32, ASPP on
    P5, the decoder and head convolution), without the 21-class
    classifier (256 x 21 = 5,376, no bias)."""
    zero_host_initializers(monkeypatch)
    model = zoo.create_model(
        "deeplabv3plus_resnet50", output_stride=32,
        head_num_convs=1, head_kernel_size=1, classifier_bias=False,
        classify_at_input_size=True)
    assert model.count_params() == 39_190_656 + 256 * 21
