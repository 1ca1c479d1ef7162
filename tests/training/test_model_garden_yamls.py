"""The Model Garden's own experiment files, as they are
(tests/data/model_garden/, verbatim): each one zoo supports is loaded over
its experiment and builds its model on both backends and runs for two
steps on local data (on one backend each, see `ONE_BACKEND`; a file whose
run would repeat a twin's, `COVERED_BY`, parses and builds only); each one
it does not
support yet is refused with one line that says so. As families land, their
files move from UNSUPPORTED to SUPPORTED.

What a run overrides: data paths (for RetinaNet also the annotation file
and the factory's Model Garden checkpoint), batch sizes and step counts;
`distribution_strategy: tpu` becomes `mirrored` (this machine has no TPU);
and the architecture is cut to the smallest of its family (ResNet-18 at a
quarter width with the file's other ResNet keys, the file's MobileNet at
width 0.35, ViT-Ti/16 (the smallest Model Garden ViT spec), on 32x32
images; a
one-layer BERT of width 32; a RetinaNet on that ResNet-18, or on the
file's MobileNet at width 0.35, with a 16-wide FPN and head at 128x128),
because two
steps of ResNet-101 at 224x224 or BERT-base at 384 tokens take minutes on a
CPU and the suite must stay within its budget. Everything else the file
sets, precision, loss scale, optimizer, schedule, warmup, losses, data
options and trainer settings, runs as written; the full-size architectures
are checked by the published-count and parity tests of their families.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from test_data import write_classification_tfrecords
from training.config import ConfigError
from training.train_cli import build_config

MODEL_GARDEN = Path(__file__).resolve().parents[1] / "data" / "model_garden"
VISION = "official/vision/configs/experiments"
VISION_BETA = "official/vision/beta/configs/experiments"
NLP = "official/nlp/configs"

#: (files applied in order, experiment, data kind)
SUPPORTED = [
    ((f"{VISION}/image_classification/imagenet_resnet50_gpu.yaml",),
     "resnet_imagenet", "image"),
    ((f"{VISION}/image_classification/imagenet_resnet50_tpu.yaml",),
     "resnet_imagenet", "image"),
    ((f"{VISION}/image_classification/imagenet_resnet101_tpu.yaml",),
     "resnet_imagenet", "image"),
    ((f"{VISION}/image_classification/imagenet_resnetrs50_i160_gpu.yaml",),
     "resnet_rs_imagenet", "image"),
    ((f"{VISION}/image_classification/imagenet_mobilenetv2_gpu.yaml",),
     "mobilenet_imagenet", "image"),
    ((f"{VISION}/image_classification/imagenet_vitb16_i224_gpu.yaml",),
     "deit_imagenet_pretrain", "image"),
    ((f"{VISION}/retinanet/resnet50fpn_coco_tpu4x4_benchmark.yaml",),
     "retinanet_resnetfpn_coco", "detection"),
    ((f"{VISION_BETA}/retinanet/resnet50fpn_coco_tfds_tpu.yaml",),
     "retinanet_resnetfpn_coco", "detection"),
    ((f"{VISION}/semantic_segmentation/deeplabv3plus_resnet101_cityscapes_gpu"
      ".yaml",), "seg_deeplabv3plus_cityscapes", "segmentation"),
    ((f"{VISION}/semantic_segmentation/deeplabv3plus_resnet101_cityscapes_gpu"
      "_multiworker_mirrored.yaml",), "seg_deeplabv3plus_cityscapes",
     "segmentation"),
    ((f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet101_"
      "cityscapes_tfds_tpu.yaml",), "seg_deeplabv3plus_cityscapes",
     "segmentation"),
    ((f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet101_pascal_"
      "tpu.yaml",), "seg_deeplabv3plus_pascal", "segmentation"),
    ((f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet50_pascal_"
      "tpu.yaml",), "seg_deeplabv3plus_pascal", "segmentation"),
    ((f"{VISION}/retinanet/coco_mobilenetv2_tpu.yaml",),
     "retinanet_mobile_coco", "detection"),
    ((f"{NLP}/experiments/glue_mnli_matched.yaml",
      f"{NLP}/models/bert_en_uncased_base.yaml"),
     "bert/sentence_prediction", "glue"),
    ((f"{NLP}/experiments/squad_v1.yaml",
      f"{NLP}/models/bert_en_uncased_base.yaml"),
     "bert/squad", "squad"),
]

#: (file, experiment, the refusal it must give)
UNSUPPORTED = [
    (f"{VISION}/image_classification/imagenet_mobilenetv3large_tpu.yaml",
     "image_classification",
     "task.train_data.aug_type.type='autoaug' is not supported yet; use "
     "randaug."),
    # These set output_stride 8 under the factory's ASPP at level 4: the
    # dilated ResNet has no stride-16 map then (the Model Garden's
    # DilatedResNet has no endpoint '4' either).
    *[(f"{VISION_BETA}/semantic_segmentation/deeplab_resnet{depth}_pascal_"
       "tpu.yaml", "seg_deeplabv3_pascal",
       "task.model.decoder.aspp.level=4 reads the stride-16 map, which a "
       "dilated_resnet at output_stride 8 does not have")
      for depth in (50, 101)],
    *[(f"{VISION}/retinanet/coco_spinenet{n}.yaml", experiment,
       f"task.model.backbone.type: backbone '{kind}' is not built by "
       "zoo yet")
      for n, experiment, kind in [
          ("49_gpu_multiworker_mirrored", "retinanet_spinenet_coco",
           "spinenet"),
          ("96_gpu_multiworker_mirrored", "retinanet_spinenet_coco",
           "spinenet"),
          ("143_gpu_multiworker_mirrored", "retinanet_spinenet_coco",
           "spinenet"),
          ("190_tpu", "retinanet_spinenet_coco", "spinenet"),
          ("49_mobile_tpu", "retinanet_mobile_coco", "spinenet_mobile"),
          ("49s_mobile_tpu", "retinanet_mobile_coco", "spinenet_mobile"),
          ("49xs_mobile_tpu", "retinanet_mobile_coco", "spinenet_mobile")]],
    (f"{VISION}/retinanet/coco_mobilenetv3.5_avg_tpu.yaml",
     "retinanet_mobile_coco",
     "task.model.backbone.mobilenet.model_id='MobileNetMultiAVG' is a "
     "Model Garden MobileNet that zoo does not build yet"),
    # The file's `input_size: [320 320, 3]` is YAML for ['320 320', 3]:
    # the Model Garden stores it unchecked and fails building the model;
    # zoo refuses it when parsing.
    (f"{VISION}/retinanet/coco_mobiledetcpu_tpu.yaml",
     "retinanet_mobile_coco",
     "task.model.input_size[0]: expected int, got str '320 320'."),
    (f"{NLP}/experiments/glue_mnli_text.yaml", "bert/sentence_prediction_text",
     "experiment 'bert/sentence_prediction_text' is a Model Garden "
     "experiment that zoo does not run yet"),
    (f"{NLP}/experiments/wiki_books_pretrain.yaml", "bert/pretraining",
     "task.model.cls_heads: classification heads (next-sentence prediction)"
     " are not supported"),
    (f"{NLP}/experiments/wiki_tfds_pretrain.yaml",
     "bert/text_wiki_pretraining",
     "experiment 'bert/text_wiki_pretraining' is a Model Garden experiment "
     "that zoo does not run yet"),
]

TWO_STEPS = {"train_steps": 2, "steps_per_loop": 2, "summary_interval": 2,
             "checkpoint_interval": 2, "validation_interval": 2,
             "validation_steps": 1}


def test_every_vendored_file_is_listed():
    listed = {f for files, _, _ in SUPPORTED for f in files} | {
        f for f, _, _ in UNSUPPORTED}
    vendored = {p.relative_to(MODEL_GARDEN).as_posix()
                for p in MODEL_GARDEN.rglob("*.yaml")}
    assert listed == vendored - {f"{NLP}/models/albert_base.yaml"}


def test_albert_overlay_parses_into_the_albert_encoder():
    """albert_base.yaml sizes ALBERT-base; running it needs a 30,000-piece
    SentencePiece model, so it is parsed here and ALBERT runs elsewhere."""
    config = build_config("bert/squad", [
        str(MODEL_GARDEN / NLP / "experiments/squad_v1.yaml"),
        str(MODEL_GARDEN / NLP / "models/albert_base.yaml")])
    encoder = config.task.model.encoder
    assert encoder.type == "albert"
    assert (encoder.albert.vocab_size, encoder.albert.num_layers,
            encoder.albert.embedding_width) == (30000, 12, 128)


def _write_vocabulary(path, size):
    """A WordPiece vocabulary of `size` tokens: BERT's specials, the test
    words, then fillers."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += ("the a cat sat on mat dog is good bad movie where does john "
              "live london paris in ? . ,").split()
    words += [f"filler{i}" for i in range(size - len(words))]
    path.write_text("\n".join(words) + "\n")


SMALL_RESNET = {"input_size": [32, 32, 3], "backbone": {
    "type": "resnet", "resnet": {"model_id": 18, "depth_multiplier": 0.25}}}
#: The file's own MobileNet (`model_id` as written) at width 0.35.
SMALL_MOBILENET = {"input_size": [32, 32, 3], "backbone": {
    "type": "mobilenet", "mobilenet": {"filter_size_scale": 0.35}}}
#: The smallest of the Model Garden's ViT specs (its `model_name` sets the
#: sizes), with the file's other ViT keys.
SMALL_VIT = {"input_size": [32, 32, 3], "backbone": {
    "type": "vit", "vit": {"model_name": "vit-ti16"}}}


def small_bert(vocabulary_size):
    """The `encoder` block of a one-layer BERT of width 32."""
    return {"type": "bert", "bert": {
        "vocab_size": vocabulary_size, "hidden_size": 32, "num_layers": 1,
        "num_attention_heads": 4, "intermediate_size": 64,
        "max_position_embeddings": 64}}


#: A ResNet-18 at quarter width (a file's MobileNet: `SMALL_MOBILENET`'s)
#: under a 16-channel FPN and a 1 x 16 head, at 128x128 (levels 3-7 need
#: multiples of 128).
SMALL_DETECTOR = {"input_size": [128, 128, 3], "backbone": SMALL_RESNET[
    "backbone"], "decoder": {"type": "fpn", "fpn": {"num_filters": 16}},
    "head": {"num_convs": 1, "num_filters": 16}}


#: A dilated ResNet-18 at quarter width (the file's other backbone keys
#: kept; two multigrid rates for its two last blocks) under a 16-channel
#: ASPP and decoder, on 64x64 images (crops, when the file crops).
SMALL_SEGMENTER = {"backbone": {"type": "dilated_resnet", "dilated_resnet": {
    "model_id": 18, "depth_multiplier": 0.25, "multigrid": [1, 2]}},
    "decoder": {"type": "aspp", "aspp": {"num_filters": 16}},
    "head": {"num_filters": 16, "low_level_num_filters": 8}}


def _overrides(kind, tmp_path, raw):
    if kind == "segmentation":
        from training.data.shapes import write_segmentation_shapes

        train = write_segmentation_shapes(tmp_path / "seg", "train", 4, 0)
        val = write_segmentation_shapes(tmp_path / "seg", "val", 2, 1)
        task = raw.get("task", {})
        model = json.loads(json.dumps(SMALL_SEGMENTER))
        if (task.get("model", {}).get("decoder", {}).get("aspp", {})
                .get("pool_kernel_size")):
            # The file's pooling window, over what 64x64 images give.
            model["decoder"]["aspp"]["pool_kernel_size"] = [64, 64]
        data = {"tfds_name": "", "global_batch_size": 2,
                "output_size": [64, 64]}
        train_data = {**data, "input_path": train["tfrecords"]}
        if task.get("train_data", {}).get("crop_size"):
            train_data["crop_size"] = [64, 64]
        # The factories' gs:// checkpoint and PASCAL / Cityscapes paths
        # become random weights and local records.
        return {"task": {
            "model": model, "init_checkpoint": "",
            "train_data": train_data,
            "validation_data": {**data, "input_path": val["tfrecords"]}},
            "trainer": dict(TWO_STEPS)}
    if kind == "detection":
        from training.data.shapes import write_shapes_dataset

        train = write_shapes_dataset(tmp_path / "shapes", "train", 4, 0)
        val = write_shapes_dataset(tmp_path / "shapes", "val", 2, 1)
        # The files' TFDS COCO and the factory's gs:// checkpoint and COCO
        # paths become local records, their JSON and random weights.
        data = {"tfds_name": "", "global_batch_size": 2}
        backbone = raw.get("task", {}).get("model", {}).get(
            "backbone", {}).get("type")
        model = dict(SMALL_DETECTOR)
        if backbone == "mobilenet":
            model["backbone"] = SMALL_MOBILENET["backbone"]
        return {"task": {
            "model": model, "init_checkpoint": "",
            "annotation_file": val["annotation_file"],
            "train_data": {**data, "input_path": train["tfrecords"]},
            "validation_data": {**data, "input_path": val["tfrecords"]}},
            "trainer": dict(TWO_STEPS)}
    if kind == "image":
        backbone = raw.get("task", {}).get("model", {}).get("backbone", {})
        small = {"mobilenet": SMALL_MOBILENET, "vit": SMALL_VIT}.get(
            backbone.get("type"), SMALL_RESNET)
        data = tmp_path / "records"
        write_classification_tfrecords(str(data / "train"), num_files=1,
                                       per_file=4, size=32)
        write_classification_tfrecords(str(data / "valid"), num_files=1,
                                       per_file=2, size=32)
        return {"task": {
            "model": small,
            "train_data": {"input_path": str(data / "train" / "*"),
                           "global_batch_size": 2},
            "validation_data": {"input_path": str(data / "valid" / "*"),
                                "global_batch_size": 2}},
            "trainer": dict(TWO_STEPS)}
    vocabulary = tmp_path / "vocab.txt"
    _write_vocabulary(vocabulary, 60)
    if kind == "glue":
        tsv = tmp_path / "train.tsv"
        tsv.write_text("sentence\tlabel\nthe movie is good\t0\n"
                       "the movie is bad\t1\nthe cat sat\t2\n"
                       "the dog sat on the mat\t0\n")
        data = {"input_path": str(tsv), "vocab_file": str(vocabulary),
                "global_batch_size": 2, "seq_length": 16}
    else:
        squad = tmp_path / "squad.json"
        context = "john is in london . the cat sat on the mat ."
        squad.write_text(json.dumps({"version": "1.1", "data": [{
            "title": "t", "paragraphs": [{"context": context, "qas": [
                {"id": f"q{i}", "question": "where does john live ?",
                 "answers": [{"text": "london",
                              "answer_start": context.index("london")}]}
                for i in range(4)]}]}]}))
        data = {"input_path": str(squad), "vocab_file": str(vocabulary),
                "global_batch_size": 2, "seq_length": 24, "doc_stride": 8,
                "query_length": 8}
    return {"task": {"model": {"encoder": small_bert(60)},
                     "train_data": data, "validation_data": dict(data)},
            "trainer": dict(TWO_STEPS)}


#: The backend each file trains on. Two steps of each on both would cost
#: the suite minutes, and what differs between the files is their config
#: (every file parses on both backends, below): the image files map onto
#: the same small networks, so each backend runs float16 and bfloat16 files
#: at least once (TensorFlow: ResNet bfloat16, ResNet-RS float16, MobileNet
#: float16, DeepLabV3+ float16 and float32; JAX: ResNet float16, ViT
#: float16, RetinaNet bfloat16, DeepLabV3+ float32). SQuAD trains on both.
#: ResNet-RS-50 runs on TensorFlow, where its two steps took 16 s alone
#: (112 s in the JAX suite): the JAX suite is the longer one.
ONE_BACKEND = {
    f"{VISION}/image_classification/imagenet_resnet50_gpu.yaml":
        pytest.mark.one_backend("jax"),
    f"{VISION}/image_classification/imagenet_resnet50_tpu.yaml":
        pytest.mark.one_backend,
    f"{VISION}/image_classification/imagenet_resnetrs50_i160_gpu.yaml":
        pytest.mark.one_backend,
    f"{VISION}/image_classification/imagenet_mobilenetv2_gpu.yaml":
        pytest.mark.one_backend,
    f"{VISION}/image_classification/imagenet_vitb16_i224_gpu.yaml":
        pytest.mark.one_backend("jax"),
    f"{VISION}/retinanet/coco_mobilenetv2_tpu.yaml": pytest.mark.one_backend,
    f"{VISION}/retinanet/resnet50fpn_coco_tpu4x4_benchmark.yaml":
        pytest.mark.one_backend("jax"),
    f"{VISION}/semantic_segmentation/deeplabv3plus_resnet101_cityscapes_gpu"
    ".yaml": pytest.mark.one_backend,
    f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet101_cityscapes"
    "_tfds_tpu.yaml": pytest.mark.one_backend,
    f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet101_pascal_"
    "tpu.yaml": pytest.mark.one_backend("jax"),
    f"{NLP}/experiments/glue_mnli_matched.yaml":
        pytest.mark.one_backend("jax"),
}


@pytest.mark.parametrize("files, experiment, kind", [
    pytest.param(files, experiment, kind, id=Path(files[0]).stem)
    for files, experiment, kind in SUPPORTED])
def test_supported_file_parses_with_its_run_overrides(files, experiment,
                                                      kind, tmp_path):
    """Every supported file, on both backends: it parses over its
    experiment, takes the run's overrides, and builds its task's model."""
    from training.registry import get_task

    paths = [str(MODEL_GARDEN / f) for f in files]
    config = build_config(experiment, paths)
    raw = yaml.safe_load(Path(paths[0]).read_text())
    config.override(_overrides(kind, tmp_path, raw))
    model = get_task(config.task).build_model()
    assert model.count_params() > 0


#: Files whose two-step run would repeat another's: they map onto the same
#: small network at the same precision as the file named, and what differs
#: (depth before the cut, the data source, the schedule) is config, which
#: the parse-and-build test above checks on both backends.
COVERED_BY = {
    f"{VISION}/image_classification/imagenet_resnet101_tpu.yaml":
        f"{VISION}/image_classification/imagenet_resnet50_tpu.yaml",
    f"{VISION_BETA}/retinanet/resnet50fpn_coco_tfds_tpu.yaml":
        f"{VISION}/retinanet/resnet50fpn_coco_tpu4x4_benchmark.yaml",
    f"{VISION}/semantic_segmentation/deeplabv3plus_resnet101_cityscapes_"
    "gpu_multiworker_mirrored.yaml":
        f"{VISION}/semantic_segmentation/deeplabv3plus_resnet101_cityscapes_"
        "gpu.yaml",
    f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet50_pascal_"
    "tpu.yaml":
        f"{VISION_BETA}/semantic_segmentation/deeplabv3plus_resnet101_"
        "pascal_tpu.yaml",
}


def test_covered_files_are_twins_of_their_coverer():
    """What `COVERED_BY` leaves out of the two-step runs is the same run:
    the same experiment, precision and data kind as its coverer."""
    kinds = {files[0]: (experiment, kind)
             for files, experiment, kind in SUPPORTED}
    for covered, coverer in COVERED_BY.items():
        assert coverer not in COVERED_BY
        assert kinds[covered] == kinds[coverer], covered
        precision = [build_config(kinds[f][0], [str(MODEL_GARDEN / f)])
                     .runtime.mixed_precision_dtype for f in (covered,
                                                              coverer)]
        assert precision[0] == precision[1], covered


@pytest.mark.parametrize("files, experiment, kind", [
    pytest.param(files, experiment, kind, id=Path(files[0]).stem,
                 marks=[ONE_BACKEND[files[0]]] if files[0] in ONE_BACKEND
                 else [])
    for files, experiment, kind in SUPPORTED
    if files[0] not in COVERED_BY])
def test_supported_file_runs_two_steps(files, experiment, kind, tmp_path):
    from training.trainer import Trainer

    paths = [str(MODEL_GARDEN / f) for f in files]
    config = build_config(experiment, paths)
    raw = yaml.safe_load(Path(paths[0]).read_text())
    if raw.get("runtime", {}).get("distribution_strategy") in (
            "tpu", "multi_worker_mirrored"):
        # One process on a machine without a TPU.
        config.override("runtime.distribution_strategy=mirrored")
    config.override(_overrides(kind, tmp_path, raw))
    trainer = Trainer(config, str(tmp_path / "run"))
    try:
        trainer.write_params()
        results = trainer.train(evaluate=True)
        policy = keras.config.dtype_policy().name
    finally:
        keras.config.set_dtype_policy("float32")
    assert results["step"] == 2
    assert np.isfinite(results["loss"])
    assert any(k.startswith("val_") for k in results)
    # The precision the file (or its experiment) asks for is the one that
    # trained.
    precision = config.runtime.mixed_precision_dtype
    expected = {None: "float32", "float32": "float32",
                "float16": "mixed_float16",
                "bfloat16": "mixed_bfloat16"}[precision]
    model = trainer.model
    assert policy == expected
    assert model.backbone.dtype_policy.name == expected
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "float16")
    if scaled:
        assert results["loss_scale"] > 0 and "skipped_steps" in results
    if kind == "image":
        compute = {"float32": "float32", "mixed_float16": "float16",
                   "mixed_bfloat16": "bfloat16"}[expected]
        conv = model.backbone.get_layer(model.backbone.input_conv_layer)
        assert conv.compute_dtype == compute
        assert conv.kernel.dtype == "float32"
        # Logits stay float32 for the loss.
        assert model.get_layer("predictions").compute_dtype == "float32"
        data_dtype = raw["task"]["train_data"].get("dtype", "float32")
        assert config.task.train_data.dtype == data_dtype


@pytest.mark.parametrize("path, experiment, message", UNSUPPORTED,
                         ids=[f"{Path(p).stem}-{e}"
                              for p, e, _ in UNSUPPORTED])
def test_unsupported_file_is_refused_in_one_line(path, experiment, message):
    with pytest.raises(ConfigError) as error:
        build_config(experiment, [str(MODEL_GARDEN / path)])
    text = str(error.value)
    assert message in text
    assert "\n" not in text
    assert "Did you mean" not in text
