"""`zoo bench`: columns, files, OOM retry, peers, recipes and CLI errors.

These tests check the tool's behaviour on tiny models, never a speed.
"""

import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from benchmarks import (
    COLUMNS,
    BenchError,
    BenchFailure,
    BenchSettings,
    add_ratios,
    benchmark_model,
    is_out_of_memory,
    list_recipes,
    load_recipe,
    read_results,
    run_benchmarks,
    write_results,
)
from benchmarks.flops import analytic_flops, count_flops
from benchmarks.models import build_peer_model, make_inputs
from benchmarks.recipes import parse_recipe
from training.cli import main

BACKEND = keras.backend.backend()
REPO = Path(__file__).resolve().parents[2]


FAMILY = zoo.register_family("bench_tiny", modality="vision",
                             task="image_classifier", num_classes=10)


@zoo.register_model
def bench_tiny_resnet(**kwargs):
    """A two-stage basic-block ResNet small enough to compile in seconds."""
    # keras_hub's ResNet needs 64 filters in the first stage and stem.
    kwargs.setdefault("input_shape", (None, None, 3))
    return zoo.ResNetBackbone(stage_blocks=(1, 1), stage_filters=(64, 8),
                              block_type="basic", **kwargs)


def _settings(**overrides):
    values = dict(mode="infer", batch_size=4, img_size=32, warmup=1, iters=2,
                  peak_size=128)
    values.update(overrides)
    return BenchSettings(**values)


@pytest.fixture(scope="module")
def tiny_rows():
    """One run measuring every kind of row: zoo, fused, a peer; both modes."""
    settings = _settings(mode="both", peers=("keras_hub",), fuse=True)
    return run_benchmarks(["bench_tiny_resnet"], settings)


def _by_kind(rows):
    return {(r.source, r.variant, r.mode): r for r in rows}


# --- columns ---------------------------------------------------------------


def test_rows_cover_zoo_fused_and_peer_in_both_modes(tiny_rows):
    assert sorted(_by_kind(tiny_rows)) == [
        ("keras_hub", "", "infer"),
        ("keras_hub", "", "train"),
        ("zoo", "", "infer"),
        ("zoo", "", "train"),
        ("zoo", "fused", "infer"),
    ]


def test_every_column_is_present_and_sane(tiny_rows):
    for row in tiny_rows:
        record = row.to_dict()
        assert tuple(record) == COLUMNS
        for name in ("samples_per_s", "step_ms_median", "step_ms_min",
                     "step_ms_max", "gflops_per_sample", "achieved_gflops",
                     "peak_gflops", "peak_fraction", "params"):
            assert record[name] > 0 and math.isfinite(record[name]), name
        assert row.step_ms_min <= row.step_ms_median <= row.step_ms_max
        assert row.step_ms_iqr >= 0 and row.compile_s >= 0
        assert row.samples_per_s == pytest.approx(
            1e3 * row.batch_size / row.step_ms_median)
        assert row.achieved_gflops == pytest.approx(
            row.gflops_per_sample * row.samples_per_s)
        assert row.peak_fraction == pytest.approx(
            row.achieved_gflops / row.peak_gflops)
        assert row.batch_size == row.batch_size_requested == 4
        assert row.input_shape == "32x32x3"
        assert (row.warmup, row.iters, row.rounds) == (1, 2, 1)
        assert row.model == "bench_tiny_resnet"
        assert row.backend == BACKEND and row.precision == "float32"
        # Keras' jit_compile="auto": XLA on JAX, not on a TensorFlow CPU.
        assert row.jit is (BACKEND == "jax")
        assert row.flops_source == {"jax": "xla_cost_analysis",
                                    "tensorflow": "tf_profiler"}[BACKEND]
        assert row.backend_version.startswith(BACKEND + " ")
        assert row.keras_version == keras.__version__
        assert row.zoo_version == zoo.__version__
        assert row.device.startswith(("cpu: ", "gpu: ", "tpu: "))
        assert row.timestamp.endswith("+00:00")


def test_params_equal_count_params_of_the_measured_models(tiny_rows):
    rows = _by_kind(tiny_rows)
    model = zoo.create_model("bench_tiny_resnet", num_classes=1000,
                             input_shape=(32, 32, 3))
    assert rows["zoo", "", "infer"].params == model.count_params()
    assert rows["zoo", "", "train"].params == model.count_params()
    fused = model.fuse()
    assert rows["zoo", "fused", "infer"].params == fused.count_params()
    peer, built = build_peer_model("keras_hub", "bench_tiny_resnet", model)
    assert built == "keras_hub.models.ResNetImageClassifier"
    assert rows["keras_hub", "", "infer"].params == peer.count_params()
    # Same architecture, so the same trainable parameters.
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert sum(math.prod(w.shape) for w in peer.trainable_weights) == \
        trainable


def test_flops_of_training_are_about_three_times_inference(tiny_rows):
    rows = _by_kind(tiny_rows)
    for source in ("zoo", "keras_hub"):
        infer = rows[source, "", "infer"].gflops_per_sample
        train = rows[source, "", "train"].gflops_per_sample
        assert 2.0 < train / infer < 4.0
    # Folding removes the batch norms' work and nothing else.
    fused = rows["zoo", "fused", "infer"].gflops_per_sample
    assert 0.9 < fused / rows["zoo", "", "infer"].gflops_per_sample <= 1.0


def test_ratios_compare_zoo_with_peer_and_fused_with_unfused(tiny_rows):
    rows = _by_kind(tiny_rows)
    for mode in ("infer", "train"):
        peer = rows["keras_hub", "", mode]
        assert peer.ratio_of == "zoo/keras_hub"
        assert peer.ratio == pytest.approx(
            rows["zoo", "", mode].samples_per_s / peer.samples_per_s)
        assert rows["zoo", "", mode].ratio is None
    fused = rows["zoo", "fused", "infer"]
    assert fused.ratio_of == "fused/unfused"
    assert fused.ratio == pytest.approx(
        fused.samples_per_s / rows["zoo", "", "infer"].samples_per_s)


def test_precision_ratio_is_against_float32(tiny_rows):
    base = _by_kind(tiny_rows)["zoo", "", "infer"]
    other = type(base)(**{**base.to_dict(), "precision": "bfloat16",
                          "samples_per_s": 3 * base.samples_per_s})
    add_ratios([base, other])
    assert other.ratio_of == "bfloat16/float32"
    assert other.ratio == pytest.approx(3.0)


def test_ratios_compare_rows_of_the_same_batch_size(tiny_rows):
    rows = _by_kind(tiny_rows)
    base, peer = rows["zoo", "", "infer"], rows["keras_hub", "", "infer"]
    big_base, big_peer = (
        type(row)(**{**row.to_dict(), "batch_size": 16,
                     "batch_size_requested": 16,
                     "samples_per_s": 5 * row.samples_per_s})
        for row in (base, peer))
    big_peer.samples_per_s = big_base.samples_per_s / 2
    add_ratios([base, peer, big_base, big_peer])
    assert peer.ratio == pytest.approx(base.samples_per_s
                                       / peer.samples_per_s)
    assert big_peer.ratio == pytest.approx(2.0)


def test_flops_of_one_convolution_are_its_multiply_adds():
    # 2 x (30 x 30 outputs x 16 filters) x (3 x 3 x 4 inputs) per sample.
    inputs = keras.Input((32, 32, 4))
    outputs = keras.layers.Conv2D(16, 3, use_bias=False)(inputs)
    model = keras.Model(inputs, outputs)
    expected = 2 * 30 * 30 * 16 * 3 * 3 * 4 * 2
    assert analytic_flops(model, batch_size=2) == expected
    flops, source = count_flops(model, np.zeros((2, 32, 32, 4), "float32"))
    assert source in ("xla_cost_analysis", "tf_profiler")
    assert flops == pytest.approx(expected, rel=0.01)


def test_inputs_of_a_text_model_follow_names_and_vocabulary():
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    mask = keras.Input((None,), dtype="int32", name="padding_mask")
    embedded = keras.layers.Embedding(50, 4)(token_ids)
    model = keras.Model({"token_ids": token_ids, "segment_ids": segment_ids,
                         "padding_mask": mask}, embedded)
    model.vocabulary_size = 50
    inputs = make_inputs(model, 3, BenchSettings(seq_len=7))
    assert sorted(inputs) == ["padding_mask", "segment_ids", "token_ids"]
    assert all(v.shape == (3, 7) for v in inputs.values())
    assert (inputs["padding_mask"] == 1).all()
    assert (inputs["segment_ids"] == 0).all()
    assert 0 <= inputs["token_ids"].min() and inputs["token_ids"].max() < 50


# --- files ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_results_file_round_trip(tiny_rows, tmp_path, suffix):
    path = write_results(tiny_rows, tmp_path / f"out{suffix}")
    assert read_results(path) == tiny_rows
    if suffix == ".csv":
        header = path.read_text().splitlines()[0]
        assert tuple(header.split(",")) == COLUMNS
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_results_files_with_bad_names_or_contents_are_refused(tmp_path):
    with pytest.raises(BenchError,
                       match=r"r\.txt' must end in \.csv or \.json"):
        write_results([], tmp_path / "r.txt")
    bad = tmp_path / "bad.csv"
    bad.write_text("model,source\nresnet50,zoo\n")
    with pytest.raises(BenchError, match="lacks the columns"):
        read_results(bad)


# --- out-of-memory retry -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model():
    return zoo.create_model("bench_tiny_resnet")


def test_out_of_memory_halves_the_batch_until_it_fits(tiny_model):
    attempts = []

    def hook(batch_size, mode):
        attempts.append(batch_size)
        if batch_size > 2:
            raise MemoryError(f"injected: no room for batch {batch_size}")

    row = benchmark_model(tiny_model, name="bench_tiny_resnet",
                          settings=_settings(batch_size=8, iters=1),
                          attempt_hook=hook)
    assert attempts == [8, 4, 2]
    assert (row.batch_size, row.batch_size_requested) == (2, 8)
    assert row.samples_per_s == pytest.approx(2e3 / row.step_ms_median)


def test_rounds_add_up_their_timed_steps(tiny_model):
    row = benchmark_model(tiny_model, name="bench_tiny_resnet",
                          settings=_settings(iters=2, rounds=3))
    assert (row.iters, row.rounds, row.warmup) == (6, 3, 1)
    assert row.step_ms_min <= row.step_ms_median <= row.step_ms_max


def test_out_of_memory_at_batch_size_one_fails_clearly(tiny_model):
    import tensorflow as tf

    def hook(batch_size, mode):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[4,64,16,16]")

    with pytest.raises(BenchFailure, match="out of memory even at batch "
                       "size 1"):
        benchmark_model(tiny_model, name="bench_tiny_resnet",
                        settings=_settings(batch_size=3, iters=1),
                        attempt_hook=hook)


def test_other_errors_are_not_retried(tiny_model):
    attempts = []

    def hook(batch_size, mode):
        attempts.append(batch_size)
        raise ValueError("a shape error, not memory")

    with pytest.raises(ValueError, match="not memory"):
        benchmark_model(tiny_model, name="bench_tiny_resnet",
                        settings=_settings(batch_size=8), attempt_hook=hook)
    assert attempts == [8]


def test_out_of_memory_is_recognised_on_every_backend():
    import tensorflow as tf

    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(tf.errors.ResourceExhaustedError(None, None,
                                                             "OOM"))
    assert is_out_of_memory(RuntimeError(
        "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB"))
    assert not is_out_of_memory(ValueError("Incompatible shapes (2, 3)"))


# --- peers ------------------------------------------------------------------


def test_keras_applications_peer_of_resnet50():
    model = zoo.create_model("resnet50", block_variant="v1", num_classes=5,
                             input_shape=(64, 64, 3))
    peer, built = build_peer_model("keras.applications", "resnet50", model)
    assert built == "keras.applications.ResNet50"
    assert tuple(peer.input_shape) == (None, 64, 64, 3)
    assert tuple(peer.output_shape) == (None, 5)
    # keras.applications' convolutions carry biases; otherwise the same.
    biases = sum(math.prod(l.bias.shape) for l in peer.layers
                 if isinstance(l, keras.layers.Conv2D))
    assert peer.count_params() == model.count_params() + biases


@pytest.mark.parametrize("name, class_name", [
    ("mobilenetv3_small_100", "MobileNetV3Small"),
    ("convnext_tiny", "ConvNeXtTiny"),
])
def test_keras_applications_peers_of_the_convnets(name, class_name):
    model = zoo.create_model(name, num_classes=5, input_shape=(64, 64, 3))
    peer, built = build_peer_model("keras.applications", name, model)
    assert built == f"keras.applications.{class_name}"
    assert tuple(peer.output_shape) == (None, 5)
    trainable = [sum(math.prod(w.shape) for w in m.trainable_weights)
                 for m in (peer, model)]
    assert trainable[0] == trainable[1]


def test_keras_hub_peer_of_vit():
    """keras-hub's ViT classifier of a zoo ViT's size: the same count (with
    a pre-logits layer too); a distilled DeiT has no such peer."""
    model = zoo.create_model("vit_tiny_patch16_224", num_classes=5,
                             num_layers=2, input_shape=(32, 32, 3),
                             head_hidden_size=16,
                             head_hidden_activation="tanh")
    peer, built = build_peer_model("keras_hub", "vit_tiny_patch16_224",
                                   model)
    assert built == "keras_hub.models.ViTImageClassifier"
    assert tuple(peer.output_shape) == (None, 5)
    assert peer.count_params() == model.count_params()
    deit = zoo.create_model("deit_tiny_patch16_224", distilled=True,
                            num_layers=1, input_shape=(32, 32, 3))
    with pytest.raises(BenchError, match="distillation token"):
        build_peer_model("keras_hub", "deit_tiny_patch16_224", deit)


def test_a_peer_that_does_not_exist_is_named(tiny_model):
    with pytest.raises(BenchError, match="keras.applications has no "
                       "counterpart of zoo model 'bench_tiny_resnet'.*"
                       "ResNet-50"):
        build_peer_model("keras.applications", "bench_tiny_resnet",
                         tiny_model)
    with pytest.raises(BenchError, match="Unknown peer 'timm'"):
        build_peer_model("timm", "bench_tiny_resnet", tiny_model)


# --- recipes ----------------------------------------------------------------


def test_every_recipe_parses():
    names = list_recipes()
    assert {"resnet50_cpu", "bert_base_cpu"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.description and recipe.runs
        for run in recipe.runs:
            assert run.bench_settings().iters >= 1


def test_resnet50_recipe_measures_the_issue_settings():
    recipe = load_recipe("resnet50_cpu")
    assert recipe.backends == ("tensorflow", "jax")
    settings = [run.bench_settings() for run in recipe.runs]
    assert {(s.batch_size, s.img_size) for s in settings} == {(16, 224)}
    assert {s.precision for s in settings} == {"float32", "bfloat16"}
    assert all(s.fuse for s in settings)
    peers = {p for s in settings for p in s.peers}
    assert peers == {"keras.applications", "keras_hub"}


def test_bert_recipe_names_model_sequence_length_and_peer():
    recipe = load_recipe("bert_base_cpu")
    (run,) = recipe.runs
    settings = run.bench_settings()
    assert run.models == ("bert_base_uncased",)
    assert settings.seq_len == 128 and settings.peers == ("keras_hub",)
    assert settings.mode == "both"


def test_recipe_overrides_take_priority():
    recipe = parse_recipe({"models": ["resnet50"], "iters": 10,
                           "runs": [{"precision": "bfloat16"}, {}]})
    first, second = (r.bench_settings({"iters": 2}) for r in recipe.runs)
    assert (first.precision, first.iters) == ("bfloat16", 2)
    assert (second.precision, second.iters) == ("float32", 2)


@pytest.mark.parametrize("data, message", [
    ({"models": ["resnet50"], "itres": 3},
     r"unknown key 'itres'. Did you mean: 'iters'"),
    ({"models": ["resnet50"], "precision": "fp16"},
     r"run 1: Unknown precision 'fp16'.*Valid: float32, bfloat16"),
    ({"runs": [{"mode": "infer"}]}, r"run 1: no models"),
    ({"models": ["resnet50"], "runs": [{}, {"peers": ["timm"]}]},
     r"run 2: Unknown peer 'timm'"),
    ({"models": ["resnet50"], "backends": ["torch"]},
     r"Unknown backend 'torch'"),
    ({"models": ["resnet50"], "batch_size": 0},
     r"batch_size must be an integer >= 1, got 0"),
])
def test_bad_recipes_are_named(data, message):
    with pytest.raises(BenchError, match=message):
        parse_recipe(data, name="mine")


def test_unknown_recipe_lists_close_names():
    with pytest.raises(BenchError, match=r"Unknown recipe 'resnet50_gpu'. "
                       r"Did you mean: .*'resnet50_cpu'"):
        load_recipe("resnet50_gpu")


# --- command line (in process) ---------------------------------------------


def _bench(capsys, *args):
    status = main(["bench", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


TINY_CLI = ("--img-size", "32", "--batch-size", "2", "--iters", "1",
            "--warmup", "0", "--peak-size", "128", "--quiet")


def test_cli_prints_the_table_and_writes_results(capsys, tmp_path):
    """matplotlib is in the test extras, so the chart is always drawn."""
    csv_path, png = tmp_path / "r.csv", tmp_path / "chart.png"
    status, out, err = _bench(capsys, "bench_tiny_*", *TINY_CLI, "--fuse",
                              "--results-file", str(csv_path),
                              "--plot", str(png))
    assert status == 0, err
    for header in ("samples/s", "GFLOPs/sample", "% peak", "compile s"):
        assert header in out
    assert "bench_tiny_resnet" in out and "fused/unfused" in out
    rows = read_results(csv_path)
    assert [(r.model, r.variant) for r in rows] == [
        ("bench_tiny_resnet", ""), ("bench_tiny_resnet", "fused")]
    assert rows[1].ratio_of == "fused/unfused"
    assert rows[1].ratio == pytest.approx(
        rows[1].samples_per_s / rows[0].samples_per_s, rel=1e-6)
    with open(png, "rb") as f:
        signature, _, chunk, width, height = struct.unpack(">8sI4sII",
                                                           f.read(24))
    assert signature == b"\x89PNG\r\n\x1a\n" and chunk == b"IHDR"
    assert width > 0 and height > 0


def test_exported_artifacts_are_timed_against_the_keras_model(
        capsys, tmp_path, monkeypatch):
    """Each format's artifact is exported, checked and timed in its own
    runtime; its row is the Keras model's, with the artifact's timing."""
    # A temporary folder of this test's own: the other backend's suite
    # may be exporting into the shared one at the same time.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    path = tmp_path / "r.json"
    status, out, err = _bench(capsys, "bench_tiny_resnet", *TINY_CLI,
                              "--export", "saved_model,tflite",
                              "--export", "onnx", "--results-file", str(path))
    assert status == 0, err
    assert "saved_model/keras" in out
    rows = {r.variant: r for r in read_results(path)}
    assert sorted(rows) == ["", "onnx", "saved_model", "tflite"]
    keras_row = rows[""]
    runtimes = {"saved_model": "tf.saved_model.load",
                "tflite": "LiteRT interpreter", "onnx": "ONNX Runtime"}
    for format, runtime in runtimes.items():
        row = rows[format]
        assert row.source == "zoo" and row.mode == "infer"
        assert row.built.startswith(f"zoo.export(format={format!r})")
        assert runtime in row.built
        assert row.ratio_of == f"{format}/keras"
        assert row.ratio == pytest.approx(
            row.samples_per_s / keras_row.samples_per_s, rel=1e-6)
        assert row.samples_per_s == pytest.approx(
            1e3 * row.batch_size / row.step_ms_median, rel=1e-6)
        assert row.step_ms_min <= row.step_ms_median <= row.step_ms_max
        # Described as the model it came from, so the ratio compares alike.
        for column in ("model", "model_args", "input_shape", "params",
                       "gflops_per_sample", "batch_size", "backend"):
            assert getattr(row, column) == getattr(keras_row, column), column
        assert row.achieved_gflops == pytest.approx(
            row.gflops_per_sample * row.samples_per_s, rel=1e-6)
        assert row.jit is False
    # The artifacts lived in a temporary folder, removed after the run.
    assert not list(own_tmp.glob("zoo-bench-export-*"))


def test_exports_need_an_image_classifier_and_a_known_format(capsys):
    status, _, err = _bench(capsys, "bench_tiny_resnet", "--export", "gguf",
                            "--quiet")
    assert status == 2
    assert "Unknown export format (--export) 'gguf'. Valid: saved_model, " \
           "tflite, onnx" in err
    from benchmarks.exports import preprocessor_for

    backbone = zoo.ResNetBackbone(stage_blocks=(1,), stage_filters=(8,),
                                  block_type="basic", input_shape=(32, 32, 3))
    with pytest.raises(BenchError, match="--export times image classifiers; "
                       ".* is a ResNetBackbone"):
        preprocessor_for(backbone)


def test_export_recipe_times_every_format_at_batch_1_and_16():
    recipe = load_recipe("export_cpu")
    assert recipe.backends == ("tensorflow", "jax")
    settings = [run.bench_settings() for run in recipe.runs]
    assert {s.batch_size for s in settings} == {1, 16}
    assert {s.exports for s in settings} == {
        ("saved_model", "tflite", "onnx")}
    assert {s.img_size for s in settings} == {224}


def test_recipe_run_writes_csv_and_json(capsys, tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("description: tiny\nmodels: [bench_tiny_resnet]\n"
                      "runs: [{precision: float32}, {precision: bfloat16}]\n")
    status, out, err = _bench(capsys, "--recipe", str(recipe), *TINY_CLI,
                              "--output-dir", str(tmp_path / "out"))
    assert status == 0, err
    csv_rows = read_results(tmp_path / "out" / "tiny.csv")
    assert csv_rows == read_results(tmp_path / "out" / "tiny.json")
    assert [r.precision for r in csv_rows] == ["float32", "bfloat16"]
    assert csv_rows[1].ratio_of == "bfloat16/float32"
    assert "zoo bench tiny" in out


@pytest.mark.parametrize("args, message", [
    (["resnt50"], "No registered model matches 'resnt50'. Did you mean: "
                  "'resnet50'"),
    (["nothing_like_this*"], "No registered model matches "
                             "'nothing_like_this*'"),
    (["resnet50", "--vs", "keras.applications,timm"],
     "Unknown peer library (--vs) 'timm'. Valid: keras.applications, "
     "keras_hub"),
    (["resnet50", "--results-file", "r.txt"],
     "Results file 'r.txt' must end in .csv or .json"),
    (["resnet50", "--backends", "tensorflow,pytorch"],
     "Unknown backend 'pytorch'"),
    (["resnet50", "--model-arg", "block_variant=v3"],
     "block_variant='v3' is not one of ['v1', 'v1.5']"),
    ([], "Give one or more model names"),
    (["resnet50", "--recipe", "resnet50_cpu"],
     "Give model names or --recipe, not both"),
    (["--recipe", "resnet50_gpu"], "Unknown recipe 'resnet50_gpu'"),
])
def test_usage_errors_exit_2_with_a_clear_message(capsys, args, message):
    status, out, err = _bench(capsys, *args, "--quiet")
    assert status == 2
    assert err.startswith("zoo bench: error: ")
    assert message in err
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("args, message", [
    (["resnet50", "--precision", "fp8"], "invalid choice: 'fp8'"),
    (["resnet50", "--mode", "eval"], "invalid choice: 'eval'"),
    (["resnet50", "--batch-size", "0"], "0 is below 1"),
    (["resnet50", "--iters", "many"], "'many' is not an integer"),
    (["resnet50", "--model-arg", "novalue"], "is not KEY=VALUE"),
])
def test_bad_flag_values_exit_2_naming_the_choices(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "invalid choice" in message:
        assert "float32" in err or "infer" in err


def test_recipe_whose_model_is_not_registered_is_named(capsys, tmp_path):
    recipe = tmp_path / "future.yaml"
    recipe.write_text("description: later\nmodels: [bert_huge_cased]\n"
                      "seq_len: 64\npeers: [keras_hub]\n")
    status, _, err = _bench(capsys, "--recipe", str(recipe))
    assert status == 2
    assert "Recipe 'future' measures model 'bert_huge_cased', which is not " \
           "registered here" in err
    assert "Traceback" not in err


# --- command line (subprocesses) -------------------------------------------


# It starts both backends' subprocesses itself.
@pytest.mark.one_backend
def test_backends_run_in_their_own_subprocesses(tmp_path):
    results = tmp_path / "both.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-m", "training.cli", "bench", "resnet18",
         "--model-arg", "stage_filters=[64, 8, 8, 8]", *TINY_CLI,
         "--vs", "keras_hub",
         "--backends", "tensorflow,jax", "--results-file", str(results)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_results(results)
    kinds = [(r.backend, r.source, r.settings, r.xla_flags) for r in rows]
    # TensorFlow: XLA's flags untouched, so one ratio says both things;
    # zoo's predict folds the batch norms. JAX: zoo's XLA flags, and the
    # peer once more in a process of its own under Keras' defaults.
    assert kinds == [
        ("tensorflow", "zoo", "folded BN", "default"),
        ("tensorflow", "keras_hub", "", "default"),
        ("jax", "zoo", "", "onednn"),
        ("jax", "keras_hub", "", "onednn"),
        ("jax", "keras_hub", "Keras defaults", "default")]
    assert [r.ratio_of for r in rows] == [
        "", "zoo/keras_hub", "", "zoo/keras_hub",
        "zoo/keras_hub (Keras defaults)"]
    assert rows[4].ratio == pytest.approx(
        rows[2].samples_per_s / rows[4].samples_per_s, rel=1e-6)
    for row in rows:
        assert row.backend_version.startswith(row.backend + " ")
        assert row.model_args == "stage_filters=[64, 8, 8, 8]"
    assert rows[0].params == rows[2].params
    assert "tensorflow" in result.stdout and "jax" in result.stdout
    assert "XLA flags: onednn" in result.stdout


@pytest.mark.one_backend  # the runner is backend-independent
def test_detector_against_keras_hubs_retinanet_in_both_modes():
    """A RetinaNet is measured against keras-hub's of the same layout:
    predict returns detections after NMS on both sides, training runs each
    library's own loss (zoo on anchor targets, keras-hub on boxes and labels
    it encodes in the step)."""
    settings = _settings(mode="both", peers=("keras_hub",), img_size=128,
                         batch_size=1, num_classes=3, iters=1, warmup=0,
                         model_args={"fpn_norm": False, "head_norm": "none",
                                     "anchor_style": "keras_hub"})
    rows = _by_kind(run_benchmarks(["retinanet_resnet18_fpn"], settings))
    assert set(rows) == {("zoo", "", "infer"), ("keras_hub", "", "infer"),
                         ("zoo", "", "train"), ("keras_hub", "", "train")}
    # keras-hub's layout: the same weights on both sides.
    assert rows["zoo", "", "infer"].params == rows[
        "keras_hub", "", "infer"].params
    for mode in ("infer", "train"):
        peer = rows["keras_hub", "", mode]
        assert peer.ratio_of == "zoo/keras_hub"
        assert peer.ratio == pytest.approx(
            rows["zoo", "", mode].samples_per_s / peer.samples_per_s)


@pytest.mark.one_backend  # the runner is backend-independent
def test_segmenter_against_keras_hubs_deeplab_in_both_modes():
    """A segmenter in keras-hub's layout is measured against keras-hub's
    DeepLabV3+ of the same ResNet, rates and widths (the same weights):
    both train on per-pixel labels at the input's size."""
    settings = _settings(mode="both", peers=("keras_hub",), img_size=64,
                         batch_size=1, num_classes=3, iters=1, warmup=0,
                         model_args={"task": "semantic_segmenter",
                                     "stage_filters": [64, 8, 8, 8],
                                     "output_stride": 32, "head_num_convs": 1,
                                     "head_kernel_size": 1,
                                     "classifier_bias": False,
                                     "classify_at_input_size": True})
    rows = _by_kind(run_benchmarks(["resnet18"], settings))
    assert set(rows) == {("zoo", "", "infer"), ("keras_hub", "", "infer"),
                         ("zoo", "", "train"), ("keras_hub", "", "train")}
    assert rows["keras_hub", "", "infer"].built == (
        "keras_hub.models.DeepLabV3ImageSegmenter")
    assert rows["zoo", "", "infer"].params == rows[
        "keras_hub", "", "infer"].params
    for mode in ("infer", "train"):
        peer = rows["keras_hub", "", mode]
        assert peer.ratio == pytest.approx(
            rows["zoo", "", mode].samples_per_s / peer.samples_per_s)


def test_segmentation_training_setup_labels_every_pixel():
    """A segmenter's training targets are class ids per pixel at its
    input's size, under sparse cross-entropy on logits."""
    from benchmarks.models import make_training_setup

    seg = zoo.create_model("resnet18", task="semantic_segmenter",
                           num_classes=5, input_shape=(32, 48, 3),
                           stage_filters=(8, 8, 8, 8), aspp_filters=8,
                           head_filters=8, low_level_num_filters=8)
    inputs = np.zeros((2, 32, 48, 3), "float32")
    loss, labels = make_training_setup(seg, inputs)
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"]
    assert labels.shape == (2, 32, 48, 1) and labels.dtype == np.int32
    assert set(np.unique(labels)) == set(range(5))


def test_deeplab_recipe_measures_the_issue_settings():
    recipe = load_recipe("deeplab_cpu")
    assert recipe.backends == ("tensorflow", "jax")
    settings = [run.bench_settings() for run in recipe.runs]
    assert {(s.img_size, s.num_classes, s.mode) for s in settings} == {
        (512, 21, "both")}
    assert all(s.peers == ("keras_hub",) for s in settings)
    assert recipe.runs[0].models == ("deeplabv3plus_resnet50",)
    assert settings[0].model_args["output_stride"] == 32
    assert settings[1].model_args == {}


@pytest.mark.one_backend  # the runner is backend-independent
def test_generation_rows_against_keras_hubs_llama():
    """`--mode generate`: prefill and decode tokens/s of the zoo decoder,
    its uncached and int8 variants and keras-hub's Llama of the same size,
    with ratios in the same mode."""
    settings = _settings(mode="generate", peers=("keras_hub",), batch_size=2,
                         seq_len=6, new_tokens=3, iters=1, warmup=0,
                         model_args={"num_layers": 1, "hidden_size": 16,
                                     "intermediate_size": 24, "num_heads": 2,
                                     "num_key_value_heads": 1,
                                     "vocabulary_size": 50})
    rows = _by_kind(run_benchmarks(["smollm2_135m"], settings))
    assert set(rows) == {(s, v, m) for m in ("prefill", "decode")
                         for s, v in (("zoo", ""), ("zoo", "uncached"),
                                      ("zoo", "int8"), ("keras_hub", ""))}
    peer = rows["keras_hub", "", "prefill"]
    assert peer.built == "keras_hub.models.LlamaCausalLM"
    # keras-hub's head is untied: one 50 x 16 matrix more.
    assert peer.params == rows["zoo", "", "prefill"].params + 50 * 16
    assert peer.ratio == pytest.approx(
        rows["zoo", "", "prefill"].samples_per_s / peer.samples_per_s)
    assert rows["zoo", "uncached", "decode"].ratio_of == "uncached/cached"
    assert rows["zoo", "int8", "prefill"].ratio_of == "int8/float32"
    assert peer.input_shape == "6+3" and peer.batch_size == 2
    # zoo's decoding loop is XLA-compiled on every backend.
    assert rows["zoo", "", "decode"].jit is True


def test_generation_recipe_measures_the_issue_settings():
    recipe = load_recipe("generation_cpu")
    settings = [run.bench_settings() for run in recipe.runs]
    assert {s.batch_size for s in settings} == {1, 8}
    assert all(s.mode == "generate" and s.peers == ("keras_hub",)
               for s in settings)
    assert recipe.runs[0].models == ("smollm2_135m",)


def test_retinanet_recipe_measures_the_issue_settings():
    recipe = load_recipe("retinanet_cpu")
    assert recipe.backends == ("tensorflow", "jax")
    settings = [run.bench_settings() for run in recipe.runs]
    assert {(s.img_size, s.num_classes, s.mode) for s in settings} == {
        (640, 91, "both")}
    assert all(s.peers == ("keras_hub",) for s in settings)
    assert settings[1].model_args["head_norm"] == "none"
