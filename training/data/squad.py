"""SQuAD v1.1: JSON files -> packed features with a document stride, and
predicted spans -> answer text.

Reading follows BERT's `run_squad.py` in what it produces, with one
difference in how text maps back: the context is split into words with
their character offsets (whitespace, and for WordPiece also punctuation and
CJK ideographs, BERT's basic tokenization), each word is tokenized into
pieces, and a predicted span of pieces maps back through its words to the
exact characters of the context. An answer is therefore always a substring
of the original context.

- `read_squad`: examples (question, context, word offsets, answers, the
  answer's word span);
- `squad_features`: `[CLS] question [SEP] context window [SEP]`, windows
  `doc_stride` pieces apart when the context does not fit, start/end labels
  (0, the `[CLS]` position, when the answer is outside the window), the
  word of every context piece and whether a window is its "max context"
  (BERT's `_check_is_max_context`);
- `predict_answers`: for every example, the best span over all its windows
  (`n_best_size` starts x ends, at most `max_answer_length` pieces, start in
  its max-context window), as BERT's `write_predictions` decodes.
"""

import dataclasses
import json
import logging
import unicodedata

import numpy as np

from training.data.text import tokenize
from zoo.errors import DataFormatError

logger = logging.getLogger("zoo")

# CJK ideograph blocks BERT splits into single-character words.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
               (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
               (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_punctuation(char):
    """BERT's `_is_punctuation`: ASCII non-alphanumerics and Unicode P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or (
            123 <= code <= 126):
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char):
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def split_words(text, split_punctuation=True):
    """Words of `text` as `(start, end)` character offsets.

    Whitespace separates words; with `split_punctuation` every punctuation
    character and CJK ideograph is a word of its own (BERT's basic
    tokenizer), so WordPiece never splits a word further.
    """
    spans, start = [], None
    for i, char in enumerate(text):
        if char.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
        elif split_punctuation and (_is_punctuation(char) or _is_cjk(char)):
            if start is not None:
                spans.append((start, i))
                start = None
            spans.append((i, i + 1))
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


@dataclasses.dataclass
class SquadExample:
    """One question about one context.

    Attributes:
        qas_id: str, the question's id.
        question, context: str.
        words: list of `(start, end)` character offsets of the context words.
        answers: list of str, the reference answers.
        start_word, end_word: int, word span of the first answer (-1 when
            it could not be located).
        source: str, the file it came from.
    """

    qas_id: str
    question: str
    context: str
    words: list
    answers: list
    start_word: int = -1
    end_word: int = -1
    source: str = ""


def _locate(words, start, end):
    """Indices of the first and last word overlapping `[start, end)`."""
    inside = [i for i, (s, e) in enumerate(words) if s < end and e > start]
    if not inside:
        return -1, -1
    return inside[0], inside[-1]


def _require(mapping, key, kind, where):
    if not isinstance(mapping, dict) or key not in mapping:
        raise DataFormatError(
            f"{where}: the {kind} has no {key!r} (SQuAD v1.1 layout: "
            "data[].paragraphs[].qas[] with context, question, id, "
            "answers).")
    return mapping[key]


def read_squad(paths, *, split_punctuation=True):
    """Reads SQuAD v1.1 JSON files.

    Args:
        paths: list of file paths.
        split_punctuation: bool, split punctuation off words (WordPiece).

    Returns:
        list of `SquadExample`, in file order.

    Raises:
        DataFormatError: a file that is not JSON (names file and line) or
            lacks a SQuAD key (names file, article, paragraph and
            question).
    """
    examples, mismatched = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            try:
                content = json.load(f)
            except json.JSONDecodeError as e:
                raise DataFormatError(
                    f"{path}:{e.lineno}: not valid JSON ({e.msg}, column "
                    f"{e.colno}).") from None
        articles = _require(content, "data", "file", path)
        for a, article in enumerate(articles):
            where = f"{path}: data[{a}]"
            for p, paragraph in enumerate(
                    _require(article, "paragraphs", "article", where)):
                where_p = f"{where}.paragraphs[{p}]"
                context = _require(paragraph, "context", "paragraph",
                                   where_p)
                words = split_words(context, split_punctuation)
                for q, qa in enumerate(_require(paragraph, "qas",
                                                "paragraph", where_p)):
                    where_q = f"{where_p}.qas[{q}]"
                    qas_id = str(_require(qa, "id", "question", where_q))
                    question = _require(qa, "question", "question", where_q)
                    answers = _require(qa, "answers", "question", where_q)
                    texts, start_word, end_word = [], -1, -1
                    for k, answer in enumerate(answers):
                        text = _require(answer, "text", "answer",
                                        f"{where_q}.answers[{k}]")
                        texts.append(text)
                        if k:
                            continue
                        offset = _require(answer, "answer_start", "answer",
                                          f"{where_q}.answers[{k}]")
                        if context[offset:offset + len(text)] != text:
                            mismatched.append(f"{path}: question {qas_id}")
                            continue
                        start_word, end_word = _locate(
                            words, offset, offset + len(text))
                    examples.append(SquadExample(
                        qas_id, question, context, words, texts, start_word,
                        end_word, path))
    if mismatched:
        logger.warning(
            "%d answers do not match their context at answer_start and are "
            "not used for training (first: %s).", len(mismatched),
            mismatched[0])
    return examples


@dataclasses.dataclass
class SquadFeatures:
    """Packed windows of SQuAD examples, one row per window.

    Attributes:
        token_ids, segment_ids, padding_mask: int32 `[n, seq_length]`.
        start_positions, end_positions: int32 `[n]`, the answer's first and
            last piece in the window, 0 (`[CLS]`) when it is not inside.
        example_index: int32 `[n]`, the example each window belongs to.
        token_to_word: int32 `[n, seq_length]`, the context word of each
            piece, -1 for the question, special tokens and padding.
        max_context: bool `[n, seq_length]`, the window is the piece's
            max-context window.
    """

    token_ids: np.ndarray
    segment_ids: np.ndarray
    padding_mask: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    token_to_word: np.ndarray
    max_context: np.ndarray

    def __len__(self):
        return len(self.example_index)

    def arrays(self):
        """The encoder inputs and labels as a dict of numpy arrays."""
        return {"token_ids": self.token_ids, "segment_ids": self.segment_ids,
                "padding_mask": self.padding_mask,
                "start_logits": self.start_positions,
                "end_logits": self.end_positions}


def _windows(length, budget, stride):
    """BERT's doc spans: `(start, length)` windows `stride` pieces apart."""
    spans, start = [], 0
    while True:
        size = min(length - start, budget)
        spans.append((start, size))
        if start + size >= length:
            return spans
        start += min(size, stride)


def _max_context(spans, position):
    """Index of the window where `position` has the most context around it
    (BERT's score: min(left, right) + 0.01 * window length)."""
    best, best_score = None, None
    for index, (start, size) in enumerate(spans):
        end = start + size - 1
        if not start <= position <= end:
            continue
        score = min(position - start, end - position) + 0.01 * size
        if best_score is None or score > best_score:
            best, best_score = index, score
    return best


def _report_long_questions(examples, questions, query_length, mode):
    over = [i for i, q in enumerate(questions) if len(q) > query_length]
    if mode == "truncate" or not over:
        return
    first = examples[over[0]]
    pieces = len(questions[over[0]])
    if mode == "error":
        raise DataFormatError(
            f"{first.source}: question {first.qas_id!r} has {pieces} word "
            f"pieces but query_length={query_length}. Raise query_length or"
            " set on_overflow: truncate (or warn).")
    logger.warning(
        "%d of %d questions have more than query_length=%d word pieces and "
        "are truncated (first: %s, question %r, %d pieces).", len(over),
        len(examples), query_length, first.source, first.qas_id, pieces)


def squad_features(examples, tokenizer, *, seq_length, query_length,
                   doc_stride, on_overflow="truncate", is_training=True):
    """Packs examples into windows (see the module docstring).

    Questions longer than `query_length` pieces are cut (`on_overflow`
    says whether silently, with a warning or as an error naming the
    question). Training drops examples whose answer could not be located;
    evaluation keeps every example.

    Returns:
        `(SquadFeatures, examples)`: the windows, and the examples they
        index (`example_index`).
    """
    cls_id, sep_id = tokenizer.start_token_id, tokenizer.end_token_id
    pad_id = tokenizer.pad_token_id
    unknown = tokenizer.token_to_id(tokenizer.unknown_token)
    if is_training:
        examples = [e for e in examples if e.start_word >= 0]
    questions = tokenize(tokenizer, [e.question for e in examples])
    _report_long_questions(examples, questions, query_length, on_overflow)
    contexts = {}
    for e in examples:
        contexts.setdefault(e.context, e.words)
    context_list = list(contexts)
    words_flat = [c[s:t] for c in context_list for s, t in contexts[c]]
    pieces_flat = tokenize(tokenizer, words_flat)
    pieces, cursor = {}, 0
    for c in context_list:
        count = len(contexts[c])
        pieces[c] = [p or [unknown] for p in
                     pieces_flat[cursor:cursor + count]]
        cursor += count

    rows = {k: [] for k in ("token_ids", "segment_ids", "padding_mask",
                            "start", "end", "example", "word", "max")}
    for index, (example, question) in enumerate(zip(examples, questions)):
        question = question[:query_length]
        word_pieces = pieces[example.context]
        doc, piece_word, word_first, word_last = [], [], [], []
        for w, ids in enumerate(word_pieces):
            word_first.append(len(doc))
            doc.extend(ids)
            piece_word.extend([w] * len(ids))
            word_last.append(len(doc) - 1)
        budget = seq_length - len(question) - 3
        spans = _windows(len(doc), budget, doc_stride)
        answer = None
        if example.start_word >= 0:
            answer = (word_first[example.start_word],
                      word_last[example.end_word])
        offset = len(question) + 2
        for span_index, (start, size) in enumerate(spans):
            ids = ([cls_id] + question + [sep_id] + doc[start:start + size]
                   + [sep_id])
            segments = [0] * offset + [1] * (size + 1)
            word = np.full(seq_length, -1, "int32")
            is_max = np.zeros(seq_length, bool)
            for k in range(size):
                word[offset + k] = piece_word[start + k]
                is_max[offset + k] = (
                    _max_context(spans, start + k) == span_index)
            first = last = 0
            if answer is not None and start <= answer[0] and (
                    answer[1] < start + size):
                first = answer[0] - start + offset
                last = answer[1] - start + offset
            padding = seq_length - len(ids)
            rows["token_ids"].append(ids + [pad_id] * padding)
            rows["segment_ids"].append(segments + [0] * padding)
            rows["padding_mask"].append([1] * len(ids) + [0] * padding)
            rows["start"].append(first)
            rows["end"].append(last)
            rows["example"].append(index)
            rows["word"].append(word)
            rows["max"].append(is_max)
    matrix = (lambda key: np.asarray(rows[key], "int32").reshape(
        -1, seq_length))
    return SquadFeatures(
        token_ids=matrix("token_ids"),
        segment_ids=matrix("segment_ids"),
        padding_mask=matrix("padding_mask"),
        start_positions=np.asarray(rows["start"], "int32"),
        end_positions=np.asarray(rows["end"], "int32"),
        example_index=np.asarray(rows["example"], "int32"),
        token_to_word=np.asarray(rows["word"], "int32").reshape(
            -1, seq_length),
        max_context=np.asarray(rows["max"], bool).reshape(-1, seq_length),
    ), examples


def predict_answers(examples, features, start_logits, end_logits, *,
                    n_best_size=20, max_answer_length=30):
    """The answer text of every example that has predicted windows.

    For each window, the `n_best_size` highest start and end logits are
    paired; a pair counts if both pieces are context pieces, the start's
    window is its max-context window, `start <= end` and the span has at
    most `max_answer_length` pieces; the best `start + end` logit over all
    windows of the example wins. Its pieces map back to their words and the
    answer is the context's text from the first word's first character to
    the last word's last one.

    Args:
        examples: the list `squad_features` returned with `features`.
        features: `SquadFeatures`.
        start_logits, end_logits: float arrays `[m, seq_length]` for the
            first `m` windows (`m <= len(features)`).

    Returns:
        dict question id -> answer str (empty when no span qualifies).
    """
    start_logits = np.asarray(start_logits, "float64")
    end_logits = np.asarray(end_logits, "float64")
    best = {}
    for row in range(len(start_logits)):
        example = int(features.example_index[row])
        words = features.token_to_word[row]
        starts = np.argsort(-start_logits[row], kind="stable")[:n_best_size]
        ends = np.argsort(-end_logits[row], kind="stable")[:n_best_size]
        current = best.setdefault(example, (-np.inf, None))
        for s in starts:
            if words[s] < 0 or not features.max_context[row, s]:
                continue
            for e in ends:
                if words[e] < 0 or e < s or e - s + 1 > max_answer_length:
                    continue
                score = start_logits[row, s] + end_logits[row, e]
                if score > current[0]:
                    current = (score, (int(words[s]), int(words[e])))
        best[example] = current
    answers = {}
    for example, (_, span) in best.items():
        e = examples[example]
        if span is None:
            answers[e.qas_id] = ""
        else:
            answers[e.qas_id] = e.context[e.words[span[0]][0]:
                                          e.words[span[1]][1]]
    return answers


def evaluation_set(examples, answered):
    """A SQuAD `data` list of the examples whose ids are in `answered`, for
    `zoo.nlp.metrics.squad_evaluate`."""
    qas = [{"id": e.qas_id, "answers": [{"text": t} for t in e.answers]}
           for e in examples if e.qas_id in answered]
    return [{"paragraphs": [{"qas": qas}]}]
