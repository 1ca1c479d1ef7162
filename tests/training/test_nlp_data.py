"""NLP task data: SQuAD windows and answer decoding against the official
formulas, tagging label alignment, dynamic masking, bad input reported with
file and line, overlong texts, resumable pipelines."""

import json
import logging
import re

import numpy as np
import pytest

import training
import zoo
from test_nlp_tasks import (
    NEGATIVE,
    POSITIVE,
    SQUAD_PARAGRAPHS,
    TAG_NAMES,
    TAGGED_SENTENCES,
    tiny_encoder,
    write_conll,
    write_sst,
    write_squad,
    write_vocabulary,
)
from training.config import ConfigError
from training.data import squad
from training.data.text import IGNORE_LABEL, mask_tokens
from training.registry import get_task
from training.tasks.tagging import entity_chunks, entity_scores
from zoo.errors import DataFormatError


def _task(experiment, **task_overrides):
    config = training.get_experiment(experiment)
    config.override({"task": task_overrides})
    return get_task(config.task), config


def _sst_task(tmp_path, **data_overrides):
    write_sst(tmp_path / "train.tsv")
    size = write_vocabulary(tmp_path / "vocab.txt", POSITIVE + NEGATIVE)
    data = {"input_path": str(tmp_path / "train.tsv"),
            "vocab_file": str(tmp_path / "vocab.txt"),
            "global_batch_size": 4, "seq_length": 8, **data_overrides}
    return _task("bert/sentence_prediction",
                 model={"num_classes": 2, "encoder": tiny_encoder(size)},
                 train_data=data, validation_data=data)


def _batches(dataset, count):
    return [(dict((k, np.asarray(v)) for k, v in x.items()), np.asarray(y))
            for x, y in dataset.take(count)]


# --- SQuAD: windows, decoding and scores --------------------------------------------


def _tokenizer(tmp_path, texts, extra=()):
    write_vocabulary(tmp_path / "vocab.txt", texts, extra)
    return zoo.WordPieceTokenizer(str(tmp_path / "vocab.txt"))


def test_squad_windows_follow_the_doc_stride_and_max_context_rule(tmp_path):
    context = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
    write_squad(tmp_path / "s.json", [(context, [("q", "what", "w7 w8")])])
    tokenizer = _tokenizer(tmp_path, [context, "what"])
    examples = squad.read_squad([str(tmp_path / "s.json")])
    assert (examples[0].start_word, examples[0].end_word) == (7, 8)
    # [CLS] what [SEP] + 6 context pieces + [SEP] = 10; windows start 3
    # pieces apart: pieces 0-5, 3-8, 6-9.
    features, _ = squad.squad_features(
        examples, tokenizer, seq_length=10, query_length=4, doc_stride=3)
    assert len(features) == 3
    assert features.token_to_word[:, 3:9].tolist() == [
        [0, 1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8], [6, 7, 8, 9, -1, -1]]
    assert features.token_to_word[:, :3].tolist() == [[-1] * 3] * 3
    # BERT's max context: min(left, right) + 0.01 * window length, the
    # first window on ties (piece 4: 1.06 in both of the first two).
    owner = {}
    for row in range(3):
        for pos in np.flatnonzero(features.max_context[row]):
            owner[int(features.token_to_word[row, pos])] = row
    assert owner == {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1, 7: 1, 8: 2,
                     9: 2}
    # The answer (pieces 7-8) is whole in windows 2 and 3 only; offset 3.
    assert features.start_positions.tolist() == [0, 7, 4]
    assert features.end_positions.tolist() == [0, 8, 5]
    assert features.segment_ids[1].tolist() == [0, 0, 0] + [1] * 7
    assert features.padding_mask[2].tolist() == [1] * 8 + [0] * 2


def _logits_for(features, example, first_word, last_word, value=10.0,
                start=None, end=None):
    """Puts `value` on the pieces of `first_word`/`last_word` in the window
    where the first word has its max context."""
    for row in np.flatnonzero(features.example_index == example):
        words = features.token_to_word[row]
        where = np.flatnonzero((words == first_word)
                               & features.max_context[row])
        if where.size and last_word in words:
            start[row, where[0]] = value
            end[row, np.flatnonzero(words == last_word)[-1]] = value
            return row
    raise AssertionError("no window holds the word")


def test_squad_answers_and_scores_match_the_official_formulas(tmp_path):
    paragraphs = [
        ("The Eiffel Tower is in Paris, the capital of France.",
         [("a1", "Where is the tower?", "Paris"),
          ("a2", "What is the capital of France?", "Paris"),
          ("a3", "What is in Paris?", "The Eiffel Tower")]),
        ("John lives in London with his sister Mary. Mary works at a bank "
         "near the river Thames.",
         [("b1", "Who works at the bank?", "Mary"),
          ("b2", "Where is the bank?", "near the river Thames")]),
    ]
    write_squad(tmp_path / "s.json", paragraphs)
    data = json.loads((tmp_path / "s.json").read_text())
    # More reference answers, as SQuAD's dev set has.
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"].append(
        {"text": "in Paris", "answer_start": 20})
    data["data"][0]["paragraphs"][1]["qas"][1]["answers"].append(
        {"text": "the Thames", "answer_start": 0})
    (tmp_path / "s.json").write_text(json.dumps(data))
    texts = [c for c, _ in paragraphs] + [q for _, qs in paragraphs
                                          for _, q, _ in qs]
    tokenizer = _tokenizer(tmp_path, texts)
    examples = squad.read_squad([str(tmp_path / "s.json")])
    features, examples = squad.squad_features(
        examples, tokenizer, seq_length=20, query_length=8, doc_stride=4,
        is_training=False)
    assert len(examples) == 5
    start = np.zeros(features.token_ids.shape)
    end = np.zeros(features.token_ids.shape)
    words = lambda e: [examples[e].context[s:t] for s, t in  # noqa: E731
                       examples[e].words]
    paris = words(0).index("Paris")
    # a1: "Paris, the capital" (words Paris , the capital).
    _logits_for(features, 0, paris, paris + 3, start=start, end=end)
    # a2: "Paris" alone: the comma is a word of its own, left out.
    _logits_for(features, 1, paris, paris, start=start, end=end)
    # a3: "Eiffel Tower".
    _logits_for(features, 2, 1, 2, start=start, end=end)
    thames = words(3).index("Thames")
    # b1 and b2: "the river Thames".
    _logits_for(features, 3, thames - 2, thames, start=start, end=end)
    row = _logits_for(features, 4, thames - 2, thames, start=start, end=end)
    # Traps that must lose: in b2's other windows, higher scores on a start
    # outside its max context...
    trapped = 0
    for other in np.flatnonzero(features.example_index == 4):
        if other == row:
            continue
        pieces = features.token_to_word[other]
        not_max = np.flatnonzero((pieces >= 0) & ~features.max_context[
            other] & (pieces == thames - 2))
        if not_max.size:
            start[other] = end[other] = -100.0
            start[other, not_max[0]] = end[other, not_max[0]] = 50.0
            trapped += 1
    assert trapped >= 1
    # ... and a start far before the answer's end, the pair scoring 80 but
    # 6 pieces long (the answer itself then scores 10 + 40).
    first = np.flatnonzero(features.max_context[row])[0]
    last = np.flatnonzero(features.token_to_word[row] == thames)[0]
    assert last - first + 1 > 5
    start[row, first] = 40.0
    end[row, last] = 40.0

    answers = squad.predict_answers(examples, features, start, end,
                                    n_best_size=20, max_answer_length=5)
    assert answers == {"a1": "Paris, the capital", "a2": "Paris",
                       "a3": "Eiffel Tower", "b1": "the river Thames",
                       "b2": "the river Thames"}
    from zoo.nlp.metrics import squad_evaluate

    scores = squad_evaluate(squad.evaluation_set(examples, answers), answers)
    # Normalised (lower case, no punctuation, no a/an/the):
    # a1 "paris capital" vs "paris": P 1/2, R 1, F1 2/3; vs "in paris":
    #    P 1/2, R 1/2, F1 1/2; EM 0; best F1 2/3.
    # a2 "paris" = "paris": EM 1, F1 1.
    # a3 "eiffel tower" = "eiffel tower" (article dropped): EM 1, F1 1.
    # b1 "river thames" vs "mary": EM 0, F1 0.
    # b2 "river thames" vs "near river thames": P 1, R 2/3, F1 0.8; vs
    #    "thames": P 1/2, R 1, F1 2/3; EM 0; best F1 0.8.
    assert scores["total"] == 5
    assert scores["exact_match"] == pytest.approx(100 * 2 / 5)
    assert scores["f1"] == pytest.approx(100 * (2 / 3 + 1 + 1 + 0 + 0.8) / 5)


def test_squad_bad_files_name_file_line_and_question(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(DataFormatError,
                       match=re.escape(f"{path}:2: not valid JSON")):
        squad.read_squad([str(path)])
    path.write_text(json.dumps({"data": [{"paragraphs": [
        {"context": "c", "qas": [{"id": "x", "answers": []}]}]}]}))
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}: data[0].paragraphs[0].qas[0]: the question has no "
            "'question'")):
        squad.read_squad([str(path)])


def test_squad_long_questions_warn_or_stop(tmp_path, caplog):
    write_squad(tmp_path / "s.json")
    texts = [c for c, _ in SQUAD_PARAGRAPHS] + [
        q for _, qs in SQUAD_PARAGRAPHS for _, q, _ in qs]
    tokenizer = _tokenizer(tmp_path, texts)
    examples = squad.read_squad([str(tmp_path / "s.json")])
    # "Who is the sister of John?" is 7 pieces, the longest.
    with pytest.raises(DataFormatError, match=re.escape(
            f"{tmp_path / 's.json'}: question 'q5' has 7 word pieces but "
            "query_length=6.")):
        squad.squad_features(examples, tokenizer, seq_length=32,
                             query_length=6, doc_stride=8,
                             on_overflow="error")
    with caplog.at_level(logging.WARNING, logger="zoo"):
        features, _ = squad.squad_features(
            examples, tokenizer, seq_length=32, query_length=6,
            doc_stride=8, on_overflow="warn")
    assert "1 of 6 questions have more than query_length=6" in caplog.text
    # Cut to 6 pieces: [CLS] + 6 + [SEP] before the context.
    row = np.flatnonzero(features.example_index == 4)[0]
    assert features.segment_ids[row].tolist().index(1) == 8


# --- sentence prediction: TSV errors and overlong texts ------------------------------


def test_malformed_tsv_rows_name_file_and_line(tmp_path):
    task, config = _sst_task(tmp_path)
    path = tmp_path / "train.tsv"
    lines = path.read_text().splitlines()
    lines[3] = "a film without a label"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}:4: 1 tab-separated fields, expected at least 2")):
        task.build_inputs(config.task.train_data)
    lines[3] = "a film\t2"
    path.write_text("\n".join(lines) + "\n")
    task, config = _task("bert/sentence_prediction",
                         **config.task.as_dict())
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}:4: label '2' is not one of ['0', '1'].")):
        task.build_inputs(config.task.train_data)


def test_overlong_texts_error_warn_or_truncate(tmp_path, caplog):
    # Four texts have 4 tokens, 6 with [CLS] and [SEP]; the first, "a great
    # great film", is on line 5 (after the header).
    path = tmp_path / "train.tsv"
    task, config = _sst_task(tmp_path, seq_length=5, on_overflow="error")
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}:5: the example needs 6 tokens ([CLS] and [SEP] "
            "included) but seq_length=5.")):
        task.build_inputs(config.task.train_data)

    task, config = _sst_task(tmp_path, seq_length=5, on_overflow="warn")
    with caplog.at_level(logging.WARNING, logger="zoo"):
        dataset = task.build_inputs(config.task.validation_data)
    assert (f"4 of 16 examples need more than seq_length=5 tokens and are "
            f"truncated (first: {path}:5, 6 tokens") in caplog.text
    features, labels = _batches(dataset, 1)[0]
    vocabulary = (tmp_path / "vocab.txt").read_text().split()
    # Evaluation reads in file order: the 4th text, cut to 3 tokens.
    tokens = [vocabulary[i] for i in features["token_ids"][3]]
    assert tokens == ["[CLS]", "a", "great", "great", "[SEP]"]
    assert labels.tolist() == [1, 1, 1, 1]

    caplog.clear()
    task, config = _sst_task(tmp_path, seq_length=5, on_overflow="truncate")
    with caplog.at_level(logging.WARNING, logger="zoo"):
        task.build_inputs(config.task.train_data)
    assert "truncated" not in caplog.text


def test_encoder_limits_and_vocabulary_are_checked(tmp_path):
    task, config = _sst_task(tmp_path, seq_length=80)
    with pytest.raises(ConfigError, match=re.escape(
            "task.train_data.seq_length=80 exceeds the encoder's 64 "
            "positions (max_position_embeddings); use seq_length <= 64.")):
        task.build_model()
    task, config = _sst_task(tmp_path)
    config.override({"task": {"model": {"encoder": tiny_encoder(99)}}})
    task = get_task(config.task)
    size = len((tmp_path / "vocab.txt").read_text().split())
    with pytest.raises(ConfigError, match=re.escape(
            f"The vocabulary ({tmp_path / 'vocab.txt'}) has {size} tokens "
            "but the encoder embeds 99: set task.model.encoder.bert."
            f"vocab_size: {size}")):
        task.build_model()
    config.override("task.train_data.vocab_file='',"
                    "task.validation_data.vocab_file=''")
    with pytest.raises(ConfigError, match="No vocabulary: set "
                                          "task.train_data.vocab_file"):
        get_task(config.task).build_model()


def test_model_garden_pretraining_yaml_is_refused_clearly(tmp_path):
    # The heart of official/nlp/configs/experiments/wiki_books_pretrain.yaml.
    (tmp_path / "wiki.yaml").write_text(
        "task:\n  model:\n    cls_heads: [{activation: tanh, cls_token_idx: "
        "0, dropout_rate: 0.1, inner_dim: 768, name: next_sentence, "
        "num_classes: 2}]\n")
    config = training.get_experiment("bert/pretraining")
    with pytest.raises(ConfigError, match=re.escape(
            "task.model.cls_heads: classification heads (next-sentence "
            "prediction) are not supported; set cls_heads: [].")):
        config.override(str(tmp_path / "wiki.yaml"))
    config = training.get_experiment("bert/pretraining")
    with pytest.raises(ConfigError, match="use_next_sentence_label=true"):
        config.override("task.train_data.use_next_sentence_label=true")


# --- tagging ---------------------------------------------------------------------------


def test_tagging_labels_sit_on_first_word_pieces(tmp_path):
    (tmp_path / "t.txt").write_text(
        "Londoners NN B-PER\nlike VB O\nParis NN B-LOC\n\n"
        "John NN B-PER\n")
    write_vocabulary(tmp_path / "vocab.txt", ["london like paris john"],
                     extra=["##ers"])
    task, config = _task(
        "bert/tagging", class_names=TAG_NAMES,
        model={"encoder": tiny_encoder(10)},
        train_data={"input_path": str(tmp_path / "t.txt"),
                    "vocab_file": str(tmp_path / "vocab.txt"),
                    "seq_length": 8, "global_batch_size": 2})
    arrays = task.features(config.task.train_data)
    vocabulary = (tmp_path / "vocab.txt").read_text().split()
    assert [vocabulary[i] for i in arrays["token_ids"][0]] == [
        "[CLS]", "london", "##ers", "like", "paris", "[SEP]", "[PAD]",
        "[PAD]"]
    x = IGNORE_LABEL
    assert arrays["labels"].tolist() == [[x, 1, x, 0, 3, x, x, x],
                                         [x, 1, x, x, x, x, x, x]]
    assert arrays["padding_mask"][1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


def test_bad_conll_lines_name_file_and_line(tmp_path):
    path = tmp_path / "t.txt"
    write_conll(path)
    size = write_vocabulary(tmp_path / "vocab.txt",
                            [s for s, _ in TAGGED_SENTENCES])
    data = {"input_path": str(path), "vocab_file": str(tmp_path / "vocab.txt"),
            "seq_length": 16, "global_batch_size": 2}
    lines = path.read_text().splitlines()
    assert lines[7] == "Mary NN B-PER"
    lines[7] = "Mary"
    path.write_text("\n".join(lines))
    task, config = _task("bert/tagging", class_names=TAG_NAMES,
                         model={"encoder": tiny_encoder(size)},
                         train_data=data)
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}:8: expected a word and a tag separated by whitespace, "
            "got 'Mary'.")):
        task.build_inputs(config.task.train_data)
    lines[7] = "Mary NN B-PERSON"
    path.write_text("\n".join(lines))
    task = get_task(config.task)
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}:8: tag 'B-PERSON' is not one of task.class_names")):
        task.build_inputs(config.task.train_data)
    lines[7] = "Mary NN B-PER"
    path.write_text("\n".join(lines))
    config.override("task.train_data.seq_length=7,"
                    "task.train_data.on_overflow=error")
    # "Peter Smith works in New York" (from line 13) needs 8 tokens.
    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}:13: the sentence needs 8 tokens ([CLS] and [SEP] "
            "included) but seq_length=7.")):
        get_task(config.task).build_inputs(config.task.train_data)


def test_entity_chunks_and_scores():
    assert entity_chunks(["B-PER", "I-PER", "O", "I-LOC"]) == [
        ("PER", 0, 1), ("LOC", 3, 3)]
    # IOB1: I- starts a chunk, B- only splits two adjacent ones.
    assert entity_chunks(["I-PER", "I-PER", "B-PER", "O"]) == [
        ("PER", 0, 1), ("PER", 2, 2)]
    assert entity_chunks(["S-LOC", "B-ORG", "E-ORG", "O"]) == [
        ("LOC", 0, 0), ("ORG", 1, 2)]
    truth = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    guess = [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "B-PER"]]
    scores = entity_scores(truth, guess)
    # Found 4 entities, 2 right (LOC 3-3, LOC 0-0); 3 expected.
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (7 / 6))
    assert scores["accuracy"] == pytest.approx(4 / 6)


# --- masked-LM masking ------------------------------------------------------------------


def test_dynamic_masking_follows_bert_and_depends_on_the_seed_only():
    rng = np.random.default_rng(0)
    vocabulary, mask_id, special = 1000, 4, [0, 1, 2, 3, 4]
    token_ids = rng.integers(5, vocabulary, (64, 128)).astype("int32")
    lengths = rng.integers(10, 129, 64)
    padding = (np.arange(128)[None, :] < lengths[:, None]).astype("int32")
    token_ids[:, 0] = 2
    token_ids[np.arange(64), lengths - 1] = 3
    token_ids = np.where(padding > 0, token_ids, 0)
    options = dict(vocabulary_size=vocabulary, mask_token_id=mask_id,
                   special_token_ids=special, max_predictions=20)
    masked, positions, labels = [np.asarray(t) for t in mask_tokens(
        token_ids, padding, [7, 1], **options)]
    chosen = labels != IGNORE_LABEL
    expected = np.minimum(20, np.maximum(1, np.round(0.15 * (lengths - 2))))
    assert chosen.sum(axis=1).tolist() == expected.astype(int).tolist()
    rows = np.repeat(np.arange(64)[:, None], 20, axis=1)
    picked = positions[chosen]
    assert np.all(picked >= 1) and np.all(picked < lengths[rows[chosen]] - 1)
    assert np.array_equal(labels[chosen], token_ids[rows[chosen], picked])
    assert np.all(positions[~chosen] == 0)
    for row in range(64):  # sorted, distinct
        real = positions[row][chosen[row]]
        assert np.all(np.diff(real) > 0)
    # Outside the chosen positions nothing changes.
    untouched = np.ones_like(token_ids, bool)
    untouched[rows[chosen], picked] = False
    assert np.array_equal(masked[untouched], token_ids[untouched])
    new = masked[rows[chosen], picked]
    share_mask = np.mean(new == mask_id)
    share_same = np.mean(new == labels[chosen])
    # 80% [MASK], 10% unchanged (plus a random draw of the same id, 1e-4).
    assert share_mask == pytest.approx(0.8, abs=0.04)
    assert share_same == pytest.approx(0.1, abs=0.03)
    assert 1.0 - share_mask - share_same == pytest.approx(0.1, abs=0.03)

    again = [np.asarray(t) for t in mask_tokens(token_ids, padding, [7, 1],
                                                **options)]
    other = [np.asarray(t) for t in mask_tokens(token_ids, padding, [7, 2],
                                                **options)]
    assert all(np.array_equal(a, b) for a, b in
               zip(again, (masked, positions, labels)))
    assert not np.array_equal(other[1], positions)


# --- resumption: the stream at step N is the stream from 0, skipped ---------------------


def _resume_case(kind, tmp_path):
    if kind == "sentence_prediction":
        return _sst_task(tmp_path)
    if kind == "tagging":
        write_conll(tmp_path / "t.txt")
        size = write_vocabulary(tmp_path / "vocab.txt",
                                [s for s, _ in TAGGED_SENTENCES])
        data = {"input_path": str(tmp_path / "t.txt"),
                "vocab_file": str(tmp_path / "vocab.txt"),
                "seq_length": 16, "global_batch_size": 3}
        return _task("bert/tagging", class_names=TAG_NAMES,
                     model={"encoder": tiny_encoder(size)}, train_data=data)
    if kind == "squad":
        write_squad(tmp_path / "s.json")
        texts = [c for c, _ in SQUAD_PARAGRAPHS] + [
            q for _, qs in SQUAD_PARAGRAPHS for _, q, _ in qs]
        size = write_vocabulary(tmp_path / "vocab.txt", texts)
        data = {"input_path": str(tmp_path / "s.json"),
                "vocab_file": str(tmp_path / "vocab.txt"), "seq_length": 24,
                "doc_stride": 6, "query_length": 8, "global_batch_size": 3}
        return _task("bert/squad", model={"encoder": tiny_encoder(size)},
                     train_data=data)
    (tmp_path / "t.txt").write_text("\n".join(POSITIVE + NEGATIVE))
    size = write_vocabulary(tmp_path / "vocab.txt", POSITIVE + NEGATIVE)
    data = {"input_path": str(tmp_path / "t.txt"),
            "vocab_file": str(tmp_path / "vocab.txt"), "seq_length": 8,
            "global_batch_size": 3, "max_predictions_per_seq": 2}
    return _task("bert/pretraining", model={"encoder": tiny_encoder(size)},
                 train_data=data)


def _flat(batch):
    x, y = batch
    y = y if isinstance(y, dict) else {"labels": y}
    return {**{k: np.asarray(v) for k, v in x.items()},
            **{k: np.asarray(v) for k, v in y.items()}}


@pytest.mark.parametrize("kind", ["sentence_prediction", "squad", "tagging",
                                  "pretraining"])
def test_training_stream_resumes_exactly_at_a_step(kind, tmp_path):
    task, config = _resume_case(kind, tmp_path)
    data = config.task.train_data
    stream = [_flat(b) for b in task.build_inputs(data, seed=5).take(9)]
    resumed = [_flat(b) for b in task.build_inputs(
        data, seed=5, start_step=6).take(3)]
    assert len(resumed) == len(stream[6:]) > 0
    for ours, theirs in zip(resumed, stream[6:]):
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key])
    # Epochs are reshuffled, and another seed gives another order.
    other = [_flat(b) for b in task.build_inputs(data, seed=6).take(9)]
    assert any(not np.array_equal(a["token_ids"], b["token_ids"])
               for a, b in zip(stream, other))
