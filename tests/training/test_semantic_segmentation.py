"""Semantic segmentation as an experiment: the Model Garden's factories'
values, the drawn shapes set's masks, the whole-set evaluation (masks at
the input's size or at their own), and a segmenter that learns the
shapes (`seg_shapes`) here."""

import csv

import numpy as np
import pytest

import training
from training.config import ConfigError
from training.data.shapes import (
    _photos,
    draw_image,
    write_segmentation_shapes,
)
from training.registry import get_task
from training.trainer import Trainer


@pytest.mark.one_backend
def test_factories_carry_the_model_gardens_values():
    """`official/vision/configs/semantic_segmentation.py`, field by field
    where the factories set them."""
    v3 = training.get_experiment("seg_deeplabv3_pascal")
    plus = training.get_experiment("seg_deeplabv3plus_pascal")
    city = training.get_experiment("seg_deeplabv3plus_cityscapes")
    for config in (v3, plus):
        t = config.task
        assert t.model.num_classes == 21
        assert t.model.input_size == [None, None, 3]
        assert t.model.norm_activation.norm_momentum == 0.9997
        assert t.train_data.output_size == [512, 512]
        assert (t.train_data.aug_scale_min, t.train_data.aug_scale_max) == (
            0.5, 2.0)
        assert t.train_data.global_batch_size == 16
        assert t.validation_data.global_batch_size == 8
        assert t.validation_data.resize_eval_groundtruth is False
        assert t.validation_data.groundtruth_padded_size == [512, 512]
        assert t.init_checkpoint_modules == "backbone"
        assert config.trainer.train_steps == 45 * 661 == 29745
        assert config.trainer.validation_steps == 181
        assert config.trainer.validation_interval == 661
        schedule = config.trainer.optimizer_config.learning_rate.polynomial
        assert (schedule.initial_learning_rate, schedule.decay_steps,
                schedule.power, schedule.end_learning_rate) == (
            0.007, 29745, 0.9, 0.0)
        warmup = config.trainer.optimizer_config.warmup.linear
        assert (warmup.warmup_steps, warmup.warmup_learning_rate) == (
            3305, 0.0)
        backbone = t.model.backbone.dilated_resnet
        assert (backbone.model_id, backbone.output_stride,
                backbone.multigrid, backbone.stem_type) == (
            101, 16, [1, 2, 4], "v1")
        assert t.losses.l2_weight_decay == 1e-4
    assert v3.task.model.decoder.aspp.dilation_rates == [12, 24, 36]
    assert v3.task.model.head.num_convs == 0
    assert plus.task.model.decoder.aspp.dilation_rates == [6, 12, 18]
    assert (plus.task.model.head.feature_fusion,
            plus.task.model.head.low_level_num_filters,
            plus.task.model.head.num_convs) == ("deeplabv3plus", 48, 2)
    t = city.task
    assert t.model.num_classes == 19
    assert t.model.decoder.aspp.pool_kernel_size == [512, 1024]
    assert t.model.norm_activation.norm_momentum == 0.99
    assert t.train_data.crop_size == [512, 1024]
    assert t.train_data.output_size == [1024, 2048]
    assert t.validation_data.resize_eval_groundtruth is True
    assert city.trainer.train_steps == 500 * 185 == 92500
    assert city.trainer.validation_steps == 31
    assert city.trainer.optimizer_config.warmup.linear.warmup_steps == 925
    assert (city.trainer.optimizer_config.learning_rate.polynomial
            .initial_learning_rate) == 0.01
    # The bare experiment keeps the Model Garden's identity decoder, which
    # zoo does not build: a run must select ASPP.
    with pytest.raises(ConfigError, match="decoder 'identity' is not built"):
        training.get_experiment("semantic_segmentation").validate_all()


@pytest.mark.one_backend
def test_aspp_pool_kernel_size_is_in_input_pixels():
    city = training.get_experiment("seg_deeplabv3plus_cityscapes")
    arguments = city.task.model.decoder.get().create_model_arguments()
    assert arguments["aspp_pool_size"] == [32, 64]
    assert arguments["level"] == 4


@pytest.mark.one_backend
def test_a_dilated_mobilenet_backbone_builds_from_its_keys():
    """The Model Garden's `mobilenet.output_stride` (its MobileNet DeepLab
    factories use 16) keeps the last maps at that stride; ASPP reads
    level 4."""
    config = training.get_experiment("semantic_segmentation")
    config.override({"task": {"model": {
        "num_classes": 3, "input_size": [64, 64, 3],
        "backbone": {"type": "mobilenet", "mobilenet": {
            "model_id": "MobileNetV2", "filter_size_scale": 0.35,
            "output_stride": 16}},
        "decoder": {"type": "aspp", "aspp": {"level": 4, "num_filters": 8}},
        "head": {"level": 4, "num_convs": 0, "num_filters": 8}}}})
    config.validate_all()
    model = get_task(config.task).build_model()
    assert [i["stride"] for i in model.backbone.feature_info] == [4, 8, 16,
                                                                  16]
    assert tuple(model.output.shape) == (None, 64, 64, 3)
    with pytest.raises(ConfigError, match="output_stride=4 must be 8, 16"):
        config.override({"task.model.backbone.mobilenet.output_stride": 4})
        config.validate_all()


@pytest.mark.one_backend
def test_shape_masks_match_what_is_drawn():
    """The class map of a drawn image: each shape's pixels carry its
    category (where no later shape covers it), the photo is 0; drawing the
    map changes nothing else."""
    rng = np.random.default_rng(3)
    image, objects, labels = draw_image(rng, _photos(), class_map=True)
    again, same_objects = draw_image(np.random.default_rng(3), _photos())
    np.testing.assert_array_equal(image, again)
    assert objects == same_objects
    assert labels.shape == image.shape[:2] and labels.dtype == np.uint8
    for o in objects:
        ymin, xmin, ymax, xmax = o["box"]
        inside = labels[ymin:ymax, xmin:xmax]
        share = (inside == o["category_id"]).sum() / o["area"]
        assert share > 0.85, o
    covered = sum(o["area"] for o in objects)
    assert (labels > 0).sum() <= covered
    assert set(np.unique(labels)) <= {0, 1, 2, 3}


def _shapes_config(tmp_path, train_images, val_images, steps, **task):
    train = write_segmentation_shapes(tmp_path / "seg", "train",
                                      train_images, seed=0)
    val = write_segmentation_shapes(tmp_path / "seg", "val", val_images,
                                    seed=1)
    config = training.get_experiment("seg_shapes")
    config.override({
        "task": {
            "train_data": {"file_type": "tfrecord",
                           "input_path": train["tfrecords"]},
            "validation_data": {"file_type": "tfrecord",
                                "input_path": val["tfrecords"]}, **task},
        "trainer": {
            "train_steps": steps, "steps_per_loop": steps,
            "summary_interval": steps, "checkpoint_interval": steps,
            "validation_interval": steps,
            "optimizer_config": {"learning_rate": {"polynomial": {
                "decay_steps": steps}}}}})
    return config


def test_evaluation_at_the_masks_own_resolution(tmp_path):
    """With `resize_eval_groundtruth: false` the logits are mapped back to
    each mask's resolution (crop the padding, resize): the confusion
    matrix counts every labelled pixel of the original masks once, and no
    loss is reported."""
    config = _shapes_config(tmp_path, 4, 6, 1, validation_data={
        "resize_eval_groundtruth": False,
        "groundtruth_padded_size": [160, 160], "global_batch_size": 4})
    task = get_task(config.task)
    model = task.build_model()
    results = task.evaluate(model, config.task.validation_data)
    assert "loss" not in results
    assert 0.0 <= results["mean_iou"] <= 1.0
    assert sorted(k for k in results if k.startswith("iou/")) == [
        "iou/0", "iou/1", "iou/2", "iou/3"]
    # The same from the logits by hand: TensorFlow's bilinear resize of
    # the unpadded part to each original size, one NumPy confusion matrix.
    import tensorflow as tf

    matrix = np.zeros((4, 4))
    for images, labels in task.build_inputs(
            config.task.validation_data,
            with_image_info=True).as_numpy_iterator():
        logits = model.predict_logits(images)
        for logit, mask, info in zip(logits, labels["masks"],
                                     labels["image_info"]):
            h, w = (int(v) for v in info[0])
            keep = [int(round(h * info[2][0])), int(round(w * info[2][1]))]
            assert (mask[:h, :w] != 255).all()
            assert (mask[h:] == 255).all() and (mask[:, w:] == 255).all()
            predicted = np.argmax(tf.image.resize(
                logit[:keep[0], :keep[1]], (h, w)).numpy(), axis=-1)
            np.add.at(matrix, (mask[:h, :w].ravel(), predicted.ravel()), 1)
    hits = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    expected = (hits[union > 0] / union[union > 0]).mean()
    assert results["mean_iou"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ConfigError, match="groundtruth_padded_size is needed"):
        config.task.validation_data.groundtruth_padded_size = []
        task.build_inputs(config.task.validation_data)


def test_a_small_segmenter_learns_the_shapes(tmp_path):
    """Trained here from scratch on the drawn shapes, scored over the
    held-out images' one confusion matrix by the trainer's validation;
    the metrics reach the CSV log, and the best checkpoint by mean IoU is
    exported as a preset that segments raw images."""
    # 500 steps of batch 16: the shapes are told apart from about 300 on
    # (0.67 TensorFlow / 0.64 JAX after 400, 0.85 on JAX after 500).
    config = _shapes_config(tmp_path, 256, 32, 500)
    trainer = Trainer(config, str(tmp_path / "run"))
    results = trainer.train()
    assert results["val_mean_iou"] >= 0.6, results
    assert results["val_out_of_range_labels"] == 0
    assert results["corrupt_images"] == 0
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["val_mean_iou"]) == pytest.approx(
        results["val_mean_iou"])
    import zoo

    best = zoo.from_preset(str(tmp_path / "run" / "best" / "preset"))
    assert isinstance(best, zoo.SemanticSegmenter)
    assert isinstance(best.preprocessor, zoo.SegmentationPreprocessor)
    image, _, labels = draw_image(np.random.default_rng(7), _photos(),
                                  class_map=True)
    masks = best.predict(image[None], verbose=0)
    assert masks.shape == (1,) + labels.shape
