"""The NLP experiments end to end: Model Garden YAML -> a few training steps
on tiny files written here -> validation metrics that move -> a best-model
preset that predicts raw text. Tiny encoders (hidden 32, one layer)."""

import csv
import json
import os
import re

import numpy as np
import pytest
import yaml

import training
import zoo
from training import checkpoints
from training.trainer import Trainer
from zoo.weights import get_state

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

POSITIVE = ["good movie", "great film", "a fun movie", "a great great film",
            "good fun", "the film is good", "great fun movie", "a good film"]
NEGATIVE = ["bad movie", "awful film", "a boring movie", "a bad boring film",
            "awful fun", "the film is bad", "boring awful movie",
            "a bad film"]

# The Model Garden's official/nlp/configs/experiments/glue_mnli_matched.yaml,
# verbatim.
MODEL_GARDEN_GLUE_MNLI = """
task:
  hub_module_url: ''
  model:
    num_classes: 3
  init_checkpoint: ''
  metric_type: 'accuracy'
  train_data:
    drop_remainder: true
    global_batch_size: 32
    input_path: ''
    is_training: true
    seq_length: 128
    label_type: 'int'
  validation_data:
    drop_remainder: false
    global_batch_size: 32
    input_path: ''
    is_training: false
    seq_length: 128
    label_type: 'int'
trainer:
  checkpoint_interval: 3000
  optimizer_config:
    learning_rate:
      polynomial:
        # 100% of train_steps.
        decay_steps: 36813
        end_learning_rate: 0.0
        initial_learning_rate: 3.0e-05
        power: 1.0
      type: polynomial
    optimizer:
      type: adamw
    warmup:
      polynomial:
        power: 1
        # ~10% of train_steps.
        warmup_steps: 3681
      type: polynomial
  steps_per_loop: 1000
  summary_interval: 1000
  # Training data size 392,702 examples, 3 epochs.
  train_steps: 36813
  validation_interval: 6135
  # Eval data size = 9815 examples.
  validation_steps: 307
  best_checkpoint_export_subdir: 'best_ckpt'
  best_checkpoint_eval_metric: 'cls_accuracy'
  best_checkpoint_metric_comp: 'higher'
"""

# The Model Garden's official/nlp/configs/experiments/squad_v1.yaml, verbatim.
MODEL_GARDEN_SQUAD_V1 = """
task:
  hub_module_url: ''
  max_answer_length: 30
  n_best_size: 20
  null_score_diff_threshold: 0.0
  init_checkpoint: ''
  train_data:
    drop_remainder: true
    global_batch_size: 48
    input_path: ''
    is_training: true
    seq_length: 384
  validation_data:
    do_lower_case: true
    doc_stride: 128
    drop_remainder: false
    global_batch_size: 48
    input_path: ''
    is_training: false
    query_length: 64
    seq_length: 384
    tokenization: WordPiece
    version_2_with_negative: false
    vocab_file: ''
trainer:
  checkpoint_interval: 1000
  max_to_keep: 5
  optimizer_config:
    learning_rate:
      polynomial:
        decay_steps: 3699
        end_learning_rate: 0.0
        initial_learning_rate: 8.0e-05
        power: 1.0
      type: polynomial
    optimizer:
      type: adamw
    warmup:
      polynomial:
        power: 1
        warmup_steps: 370
      type: polynomial
  steps_per_loop: 1000
  summary_interval: 1000
  train_steps: 3699
  validation_interval: 1000
  validation_steps: 226
  best_checkpoint_export_subdir: 'best_ckpt'
  best_checkpoint_eval_metric: 'final_f1'
  best_checkpoint_metric_comp: 'higher'
"""

SQUAD_PARAGRAPHS = [
    ("The Eiffel Tower is in Paris, the capital of France. It was built in "
     "1889 by Gustave Eiffel for the world fair.",
     [("q1", "Where is the Eiffel Tower?", "Paris"),
      ("q2", "When was the tower built?", "1889"),
      ("q3", "Who built the tower?", "Gustave Eiffel")]),
    ("John lives in London with his sister Mary. Mary works at a bank near "
     "the river Thames.",
     [("q4", "Where does John live?", "London"),
      ("q5", "Who is the sister of John?", "Mary"),
      ("q6", "Where does Mary work?", "a bank")]),
]

TAGGED_SENTENCES = [
    ("John lives in London", "B-PER O O B-LOC"),
    ("Mary visited Paris .", "B-PER O B-LOC O"),
    ("Peter Smith works in New York", "B-PER I-PER O O B-LOC I-LOC"),
    ("the cat sat", "O O O"),
    ("Anna met John in Rome", "B-PER O B-PER O B-LOC"),
    ("Berlin is big", "B-LOC O O"),
    ("Paul flew to Madrid", "B-PER O O B-LOC"),
    ("Lisa likes Oslo", "B-PER O B-LOC"),
]
TAG_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

PRETRAINING_LINES = ["the cat sat on the mat", "the dog sat on the log",
                     "a cat and a dog", "the mat is on the floor",
                     "the log is in the river", "a dog sat on a cat"]


# --- fixture files ----------------------------------------------------------------


def write_vocabulary(path, texts, extra=()):
    """A WordPiece vocabulary with every lower-cased word and punctuation
    mark of `texts` (each a single token); returns its size."""
    words = set(extra)
    for text in texts:
        words.update(re.findall(r"\w+|[^\w\s]", text.lower()))
    tokens = SPECIAL_TOKENS + sorted(words)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return len(tokens)


def write_sst(path):
    """An SST-2-style TSV: `sentence<TAB>label` with a header."""
    rows = ["sentence\tlabel"] + [f"{t}\t1" for t in POSITIVE] + [
        f"{t}\t0" for t in NEGATIVE]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_squad(path, paragraphs=SQUAD_PARAGRAPHS):
    """A SQuAD v1.1 JSON file of `paragraphs`."""
    data = {"version": "1.1", "data": [{"title": "fixture", "paragraphs": [
        {"context": context,
         "qas": [{"id": qid, "question": question,
                  "answers": [{"text": answer,
                               "answer_start": context.index(answer)}]}
                 for qid, question, answer in questions]}
        for context, questions in paragraphs]}]}
    path.write_text(json.dumps(data), encoding="utf-8")


def write_conll(path, sentences=TAGGED_SENTENCES):
    """A CoNLL-2003-style file: `word POS tag`, blank lines between."""
    lines = ["-DOCSTART- -X- O", ""]
    for words, tags in sentences:
        lines += [f"{w} NN {t}" for w, t in zip(words.split(), tags.split())]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def tiny_encoder(vocabulary_size, positions=64):
    """The `task.model.encoder` block of a one-layer, hidden-32 BERT."""
    return {"type": "bert", "bert": {
        "vocab_size": vocabulary_size, "hidden_size": 32, "num_layers": 1,
        "num_attention_heads": 4, "intermediate_size": 64,
        "max_position_embeddings": positions, "dropout_rate": 0.0,
        "attention_dropout_rate": 0.0}}


def short_run(steps, loop, learning_rate=3e-3):
    """Trainer overrides: `steps` steps, evaluation every `loop`."""
    return {"trainer": {
        "train_steps": steps, "steps_per_loop": loop,
        "summary_interval": loop, "checkpoint_interval": loop,
        "validation_interval": loop, "validation_steps": -1,
        "optimizer_config": {
            "learning_rate": {"polynomial": {
                "initial_learning_rate": learning_rate,
                "decay_steps": steps}},
            "warmup": {"polynomial": {"warmup_steps": 2}}}}}


def history(model_dir, column):
    """The values of `column` in the run's metrics.csv, one per loop."""
    with open(os.path.join(model_dir, "metrics.csv")) as f:
        return [float(row[column]) for row in csv.DictReader(f)]


def run(experiment, model_dir, *overrides):
    config = training.get_experiment(experiment)
    for override in overrides:
        config.override(override)
    return training.run_experiment(config, "train_and_eval", str(model_dir))


# --- sentence prediction ------------------------------------------------------------


def test_model_garden_glue_yaml_parses_strictly(tmp_path):
    path = tmp_path / "glue_mnli_matched.yaml"
    path.write_text(MODEL_GARDEN_GLUE_MNLI)
    config = training.get_experiment("bert/sentence_prediction")
    config.override(str(path))
    assert config.task.model.num_classes == 3
    assert config.task.train_data.seq_length == 128
    assert config.task.validation_data.drop_remainder is False
    assert config.task.model.encoder.get().num_layers == 12  # BERT-base
    opt = config.trainer.optimizer_config
    assert opt.optimizer.type == "adamw"
    assert opt.learning_rate.get().decay_steps == 36813
    assert opt.warmup.get().warmup_steps == 3681
    assert config.trainer.best_checkpoint_eval_metric == "cls_accuracy"
    with pytest.raises(training.config.ConfigError,
                       match="Unknown config key 'task.train_data.seq_lenght'"
                             r".*'seq_length'"):
        config.override("task.train_data.seq_lenght=64")
    with pytest.raises(training.config.ConfigError,
                       match="metric_type: 'auc' is not one of"):
        config.override("task.metric_type=auc")


def _tiny_preset(directory, vocabulary_path, size):
    """A one-layer BERT saved as a preset with its WordPiece tokenizer."""
    encoder = zoo.BertEncoder(
        vocabulary_size=size, hidden_size=32, num_layers=1, num_heads=4,
        intermediate_size=64, max_sequence_length=32, dropout=0.0,
        attention_dropout=0.0)
    encoder.preprocessor = zoo.TextPreprocessor(
        zoo.WordPieceTokenizer(str(vocabulary_path)), sequence_length=32)
    encoder.save_to_preset(str(directory))


def test_zoo_train_sentence_prediction_from_model_garden_yaml(tmp_path,
                                                              capsys):
    """The user story: `zoo train --experiment bert/sentence_prediction
    --config_file glue_mnli_matched.yaml --config_file glue_sst2.yaml
    --model_dir runs/sst2`, the Model Garden's file then ours (data and a
    preset encoder whose tokenizer comes with it, as with `handle:
    all_minilm_l6_v2`)."""
    from training.cli import main

    write_sst(tmp_path / "train.tsv")
    size = write_vocabulary(tmp_path / "vocab.txt", POSITIVE + NEGATIVE)
    _tiny_preset(tmp_path / "encoder", tmp_path / "vocab.txt", size)
    (tmp_path / "glue_mnli_matched.yaml").write_text(MODEL_GARDEN_GLUE_MNLI)
    data = {"input_path": str(tmp_path / "train.tsv"),
            "global_batch_size": 8, "seq_length": 16}
    recipe = {"task": {"model": {"num_classes": 2, "head_dropout": 0.0,
                                 "encoder": {"type": "preset", "preset": {
                                     "handle": str(tmp_path / "encoder")}}},
                       "train_data": data, "validation_data": data}}
    recipe.update(short_run(30, 10))
    (tmp_path / "glue_sst2.yaml").write_text(yaml.safe_dump(recipe))
    model_dir = tmp_path / "runs" / "sst2"
    status = main(["train", "--experiment", "bert/sentence_prediction",
                   "--config_file", str(tmp_path / "glue_mnli_matched.yaml"),
                   "--config_file", str(tmp_path / "glue_sst2.yaml"),
                   "--model_dir", str(model_dir)])
    out = capsys.readouterr().out
    assert status == 0
    assert "zoo train: done." in out and "val_cls_accuracy=1" in out
    assert "corrupt_images" not in out  # an image pipeline's count only
    saved = yaml.safe_load((model_dir / "params.yaml").read_text())
    assert saved["experiment"] == "bert/sentence_prediction"
    assert saved["task"]["train_data"]["vocab_file"] == ""
    assert saved["task"]["metric_type"] == "accuracy"
    accuracy = history(model_dir, "val_cls_accuracy")
    losses = history(model_dir, "val_loss")
    assert len(accuracy) == 3
    assert accuracy[0] < 1.0 == accuracy[-1]
    assert losses[-1] < losses[0]
    with open(model_dir / "best_ckpt" / "best.json") as f:
        best = json.load(f)
    assert best["metric"] == "val_cls_accuracy" and best["value"] == 1.0

    model = zoo.from_preset(str(model_dir / "best_ckpt" / "preset"))
    assert model.preprocessor.sequence_length == 16
    assert model.preprocessor.tokenizer.vocabulary_size() == size
    texts = ["good film", "awful movie", "a great fun film", "boring film"]
    logits = model.predict(texts, verbose=0)
    assert logits.shape == (4, 2)
    assert np.argmax(logits, axis=-1).tolist() == [1, 0, 1, 0]


def _pairs_file(path):
    """Sentence pairs scored 1 for a positive first sentence and -1 for a
    negative one, plus 0.5 when the second is positive too; returns the
    pairs and scores."""
    rows = ["index\tsentence1\tsentence2\tscore"]
    firsts = [t for pair in zip(POSITIVE, NEGATIVE) for t in pair]
    seconds = POSITIVE[::2] + NEGATIVE[::2]
    pairs, scores = [], []
    for i, first in enumerate(firsts):
        second = seconds[i % len(seconds)]
        score = (1.0 if first in POSITIVE else -1.0) + (
            0.5 if second in POSITIVE else 0.0)
        rows.append(f"{i}\t{first}\t{second}\t{score}")
        pairs.append((first, second))
        scores.append(score)
    path.write_text("\n".join(rows) + "\n")
    return pairs, np.asarray(scores)


def _ranks(values):
    """Ranks from 1, ties sharing their mean rank (Spearman's convention)."""
    values = np.asarray(values)
    ranks = np.empty(len(values))
    for value in np.unique(values):
        where = np.flatnonzero(values == value)
        order = np.flatnonzero(np.sort(values) == value)
        ranks[where] = order.mean() + 1
    return ranks


@pytest.mark.parametrize("metric_type", ["pearson_spearman_corr",
                                         "matthews_corrcoef"])
def test_whole_set_metrics_score_every_validation_example(tmp_path,
                                                          metric_type):
    pairs, scores = _pairs_file(tmp_path / "pairs.tsv")
    size = write_vocabulary(tmp_path / "vocab.txt", POSITIVE + NEGATIVE)
    regression = metric_type == "pearson_spearman_corr"
    labels = scores if regression else (scores > 0).astype("int32")
    if not regression:
        rows = (tmp_path / "pairs.tsv").read_text().splitlines()
        rows = [rows[0]] + [r.rsplit("\t", 1)[0] + f"\t{y}"
                            for r, y in zip(rows[1:], labels)]
        (tmp_path / "pairs.tsv").write_text("\n".join(rows) + "\n")
    data = {"input_path": str(tmp_path / "pairs.tsv"),
            "vocab_file": str(tmp_path / "vocab.txt"),
            "text_fields": ["sentence1", "sentence2"], "label_field": "score",
            "label_type": "float" if regression else "int",
            "global_batch_size": 6, "seq_length": 16}
    config = training.get_experiment("bert/sentence_prediction")
    config.override({"task": {"model": {"num_classes": 1 if regression
                                        else 2,
                                        "encoder": tiny_encoder(size)},
                              "metric_type": metric_type,
                              "train_data": data, "validation_data": data}})
    task = training.registry.get_task(config.task)
    assert task.evaluates_itself
    model = task.build_model()
    # The same model on the same pairs, packed by hand.
    preprocessor = task.preprocessor(config.task.validation_data)
    features = {k: np.asarray(v)
                for k, v in preprocessor(tuple(zip(*pairs))).items()}
    outputs = model.predict(features, batch_size=6, verbose=0)
    assert outputs.shape == (16, 1 if regression else 2)
    if not regression:
        # An untrained classifier favours one class; a bias at the median
        # margin splits its predictions in two.
        margin = np.median(outputs[:, 1] - outputs[:, 0])
        bias = model.get_layer("logits").bias
        bias.assign(np.asarray(bias) - np.asarray([0.0, margin]))
        outputs = model.predict(features, batch_size=6, verbose=0)
    results = task.evaluate(model, config.task.validation_data)
    if regression:
        predicted = outputs[:, 0]
        error = float(np.mean((predicted - labels) ** 2))
        pearson = np.corrcoef(predicted, labels)[0, 1]
        spearman = np.corrcoef(_ranks(predicted), _ranks(labels))[0, 1]
        assert results["mean_squared_error"] == pytest.approx(error, 1e-5)
        assert results["loss"] == pytest.approx(error, 1e-5)
        assert results["pearson_spearman_corr"] == pytest.approx(
            (pearson + spearman) / 2, abs=1e-5)
    else:
        predicted = np.argmax(outputs, axis=-1)
        assert set(predicted) == {0, 1} and set(labels[:6]) == {0, 1}
        tp = np.sum((predicted == 1) & (labels == 1))
        tn = np.sum((predicted == 0) & (labels == 0))
        fp = np.sum((predicted == 1) & (labels == 0))
        fn = np.sum((predicted == 0) & (labels == 1))
        denominator = np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp)
                                    * (tn + fn)))
        mcc = (tp * tn - fp * fn) / denominator if denominator else 0.0
        assert results["matthews_corrcoef"] == pytest.approx(mcc, abs=1e-6)
        assert results["cls_accuracy"] == pytest.approx(
            np.mean(predicted == labels))
    # validation_steps: only the first batch is scored.
    first = task.evaluate(model, config.task.validation_data, steps=1)
    if regression:
        assert first["mean_squared_error"] == pytest.approx(
            float(np.mean((predicted[:6] - labels[:6]) ** 2)), 1e-5)
    else:
        assert first["cls_accuracy"] == pytest.approx(
            np.mean(predicted[:6] == labels[:6]))


# --- span labeling --------------------------------------------------------------------


def test_model_garden_squad_yaml_trains_and_reports_exact_match_and_f1(
        tmp_path):
    write_squad(tmp_path / "squad.json")
    texts = [c for c, _ in SQUAD_PARAGRAPHS] + [
        q for _, qs in SQUAD_PARAGRAPHS for _, q, _ in qs]
    size = write_vocabulary(tmp_path / "vocab.txt", texts)
    (tmp_path / "squad_v1.yaml").write_text(MODEL_GARDEN_SQUAD_V1)
    # 24-piece windows 6 pieces apart: every context needs several.
    data = {"input_path": str(tmp_path / "squad.json"),
            "vocab_file": str(tmp_path / "vocab.txt"),
            "global_batch_size": 4, "seq_length": 24, "doc_stride": 6,
            "query_length": 8}
    model_dir = tmp_path / "run"
    results = run("bert/squad", model_dir, str(tmp_path / "squad_v1.yaml"),
                  {"task": {"model": {"encoder": tiny_encoder(size)},
                            "max_answer_length": 5, "n_best_size": 5,
                            "train_data": data, "validation_data": data}},
                  # The Model Garden's AdamW clips gradients to norm 1.0:
                  # a higher rate learns the fixture in the same 60 steps.
                  short_run(30, 10))
    task = training.registry.get_task(
        training.get_experiment("bert/squad").override(
            {"task": {"model": {"encoder": tiny_encoder(size)},
                      "validation_data": data}}).task)
    features, examples = task.features(task.params.validation_data)
    assert len(examples) == 6 and len(features) > 2 * len(examples)

    f1 = history(model_dir, "val_final_f1")
    assert f1[-1] > f1[0]
    assert results["val_f1"] == pytest.approx(100 * results["val_final_f1"])
    assert 0.0 <= results["val_exact_match"] <= results["val_f1"] <= 100.0
    assert results["val_f1"] >= 60.0
    assert {"start_logits_accuracy", "end_logits_accuracy"} <= set(results)
    with open(model_dir / "best_ckpt" / "best.json") as f:
        assert json.load(f)["value"] == pytest.approx(max(f1))


# --- tagging ----------------------------------------------------------------------------


def test_tagging_trains_on_conll_and_reports_entity_f1(tmp_path):
    write_conll(tmp_path / "train.txt")
    size = write_vocabulary(tmp_path / "vocab.txt",
                            [s for s, _ in TAGGED_SENTENCES])
    data = {"input_path": str(tmp_path / "train.txt"),
            "vocab_file": str(tmp_path / "vocab.txt"),
            "global_batch_size": 4, "seq_length": 16}
    model_dir = tmp_path / "run"
    results = run("bert/tagging", model_dir,
                  {"task": {"class_names": TAG_NAMES,
                            "model": {"head_dropout": 0.0,
                                      "encoder": tiny_encoder(size)},
                            "train_data": data, "validation_data": data}},
                  short_run(40, 10))
    f1 = history(model_dir, "val_f1")
    assert f1[0] < 1.0 and f1[-1] == 1.0
    assert results["val_accuracy"] == 1.0
    assert results["val_precision"] == results["val_recall"] == 1.0
    assert history(model_dir, "val_loss")[-1] < history(model_dir,
                                                        "val_loss")[0]


# --- masked-LM pretraining, then fine-tuning from it ------------------------------------


@pytest.fixture(scope="module")
def pretraining_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretraining")
    (root / "text.txt").write_text("\n".join(PRETRAINING_LINES * 8) + "\n")
    size = write_vocabulary(root / "vocab.txt", PRETRAINING_LINES)
    data = {"input_path": str(root / "text.txt"),
            "vocab_file": str(root / "vocab.txt"), "global_batch_size": 8,
            "seq_length": 12, "max_predictions_per_seq": 3}
    overrides = {"task": {"model": {"encoder": tiny_encoder(size)},
                          "train_data": data, "validation_data": data}}
    model_dir = root / "run"
    results = run("bert/pretraining", model_dir, overrides,
                  short_run(30, 10))
    return root, model_dir, results, size


def test_pretraining_masks_dynamically_and_learns(pretraining_run):
    _, model_dir, results, _ = pretraining_run
    accuracy = history(model_dir, "val_masked_lm_accuracy")
    losses = history(model_dir, "val_loss")
    assert len(accuracy) == 3
    assert accuracy[-1] > accuracy[0]
    assert losses[-1] < losses[0] - 0.3
    assert results["masked_lm_accuracy"] > 0.4


def test_fine_tuning_starts_from_the_pretrained_encoder(pretraining_run,
                                                        tmp_path):
    root, model_dir, _, size = pretraining_run
    write_sst(tmp_path / "train.tsv")
    data = {"input_path": str(tmp_path / "train.tsv"),
            "vocab_file": str(root / "vocab.txt"), "global_batch_size": 8,
            "seq_length": 12}
    config = training.get_experiment("bert/sentence_prediction")
    config.override({"task": {"init_checkpoint": str(model_dir),
                              "model": {"num_classes": 2,
                                        "encoder": tiny_encoder(size)},
                              "train_data": data, "validation_data": data},
                     # The factory leaves the lengths to the YAML file.
                     "trainer": {"train_steps": 10, "optimizer_config": {
                         "warmup": {"polynomial": {"warmup_steps": 1}}}}})
    assert config.task.init_checkpoint_modules == "backbone"
    trainer = Trainer(config, str(tmp_path / "fine_tune"))
    model = trainer._setup()
    head = np.asarray(model.get_layer("logits").kernel)
    trainer.task.initialize(model)
    _, path = checkpoints.list_checkpoints(str(model_dir))[-1]
    arrays, _, meta = checkpoints.read_checkpoint(path)
    pretrained = dict(zip(meta["model_paths"], arrays))
    encoder = get_state(model.backbone)
    assert len(encoder) == 23 and set(encoder) < set(pretrained)
    for path, value in encoder.items():
        np.testing.assert_array_equal(value, pretrained[path])
    np.testing.assert_array_equal(np.asarray(
        model.get_layer("logits").kernel), head)
