"""SQuAD exact match / F1, span decoding, TSV reading, masked-LM masking."""

import numpy as np
import pytest

import zoo
from training.data.tsv import read_tsv
from zoo.nlp.metrics import (
    best_span,
    exact_match_score,
    f1_score,
    normalize_answer,
    squad_evaluate,
)


# --- SQuAD v1.1 formulas, on examples worked out by hand ---------------------


def test_normalization_follows_the_official_script():
    # lower, drop punctuation, drop a/an/the as words, collapse spaces.
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # not a word "the"


@pytest.mark.parametrize("prediction, truth, exact, f1", [
    ("the Eiffel Tower", "Eiffel Tower", 1.0, 1.0),
    ("in Paris, France", "Paris", 0.0, 0.5),          # P 1/3, R 1
    ("New York City", "New York", 0.0, 0.8),          # P 2/3, R 1
    ("the the cat cat", "cat", 0.0, 2 / 3),           # bag: min(2, 1)
    ("Denver Broncos", "Broncos of Denver", 0.0, 0.8),  # P 1, R 2/3
    ("", "anything", 0.0, 0.0),
])
def test_exact_match_and_f1(prediction, truth, exact, f1):
    assert exact_match_score(prediction, truth) == exact
    assert f1_score(prediction, truth) == pytest.approx(f1)


def test_squad_evaluate_takes_the_best_answer_and_counts_unanswered():
    dataset = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
        "context": "...",
        "qas": [
            {"id": "q1", "answers": [{"text": "Eiffel Tower"},
                                     {"text": "the tower"}]},
            {"id": "q2", "answers": [{"text": "New York"}, {"text": "NYC"}]},
            {"id": "q3", "answers": [{"text": "Paris"}]},
            {"id": "q4", "answers": [{"text": "1889"}]},
        ]}]}]}
    predictions = {"q1": "tower", "q2": "New York City", "q3": "paris"}
    result = squad_evaluate(dataset, predictions)
    # q1: "tower" equals "the tower" once normalised: EM 1, F1 1 (against
    # "Eiffel Tower" alone it would be EM 0, F1 2/3); q2: EM 0, F1 0.8;
    # q3: 1, 1; q4: unanswered, 0.
    assert result["total"] == 4 and result["unanswered"] == 1
    assert result["exact_match"] == pytest.approx(100 * 2 / 4)
    assert result["f1"] == pytest.approx(100 * (1.0 + 0.8 + 1.0) / 4)


def test_best_span_respects_order_length_and_allowed_positions():
    start = np.array([0.0, 5.0, 1.0, 0.0, 9.0, 0.0])
    end = np.array([0.0, 0.0, 4.0, 0.0, 0.0, 3.0])
    # Best unconstrained pair would be start 4 with end 2: not a span.
    assert best_span(start, end)[:2] == (4, 5)
    assert best_span(start, end, max_answer_length=1)[:2] == (4, 4)
    allowed = np.array([0, 1, 1, 1, 0, 0], bool)
    span = best_span(start, end, allowed=allowed)
    assert span[:2] == (1, 2) and span[2] == pytest.approx(9.0)


# --- TSV files ------------------------------------------------------------------


def test_read_glue_style_files(tmp_path):
    sst = tmp_path / "train.tsv"
    sst.write_text("sentence\tlabel\nit 's a \"charming\" film \t1\n"
                   "dull\t0\n\n", encoding="utf-8")
    examples = read_tsv(sst, ["sentence"], "label", label_names=["0", "1"])
    assert examples.texts == (["it 's a \"charming\" film ", "dull"],)
    assert examples.labels.tolist() == [1, 0]
    assert examples.labels.dtype == np.int32
    texts, labels = next(iter(examples.to_dataset(batch_size=2)))
    assert labels.numpy().tolist() == [1, 0]
    sts = tmp_path / "sts.tsv"
    sts.write_text("id\ts1\ts2\tscore\n7\ta\tb\t3.8\n8\tc\td\t0\n")
    pairs = read_tsv(sts, ["s1", "s2"], "score", regression=True,
                     id_column="id")
    assert pairs.texts == (["a", "c"], ["b", "d"])
    np.testing.assert_allclose(pairs.labels, [3.8, 0.0])
    assert pairs.ids == ["7", "8"]
    nli = tmp_path / "nli.tsv"
    nli.write_text("a\tb\tneutral\nc\td\tentailment\n")
    classes = read_tsv(nli, [0, 1], 2, skip_header=False)
    assert classes.label_names == ["entailment", "neutral"]
    assert classes.labels.tolist() == [1, 0]


def test_malformed_rows_name_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nno label here\nbad\t0\n")
    with pytest.raises(zoo.DataFormatError,
                       match=r"bad.tsv:3: 1 tab-separated fields, expected "
                             r"at least 2"):
        read_tsv(path, ["sentence"], "label")
    path.write_text("sentence\tlabel\ngood\t1\nbad\tneg\n")
    with pytest.raises(zoo.DataFormatError,
                       match=r"bad.tsv:3: label 'neg' is not one of"):
        read_tsv(path, ["sentence"], "label", label_names=["0", "1"])
    with pytest.raises(zoo.DataFormatError,
                       match=r"bad.tsv:3: label 'neg' is not a number"):
        read_tsv(path, ["sentence"], "label", regression=True)
    with pytest.raises(zoo.DataFormatError, match="no column 'text'"):
        read_tsv(path, ["text"], "label")
