"""SQuAD v1.1 evaluation: exact match and token F1 over answer strings.

The formulas of the official `evaluate-v1.1.py`: both strings are
normalised (lower-cased, ASCII punctuation removed, the articles a/an/the
removed, whitespace collapsed); exact match is string equality after that,
F1 the harmonic mean of precision and recall of the shared tokens (a bag of
words). Each prediction scores the best over the question's ground-truth
answers; the totals are percentages over all questions, a question with no
prediction scoring 0.

```python
exact_match_score("The Eiffel Tower", "eiffel tower")   # 1.0
f1_score("in Paris, France", "Paris")                    # 0.5
squad_evaluate(dataset, {"q1": "eiffel tower"})          # {"exact_match":.., "f1":..}
```

Also `best_span`, which turns a `SpanLabeler`'s start/end logits into the
highest-scoring answer span.
"""

import collections
import re
import string

import numpy as np

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text):
    """Lower-case, drop punctuation and articles, collapse whitespace."""
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction, ground_truth):
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) ==
                 normalize_answer(ground_truth))


def f1_score(prediction, ground_truth):
    """Token F1 of the normalised strings, in [0, 1]."""
    predicted = normalize_answer(prediction).split()
    truth = normalize_answer(ground_truth).split()
    common = collections.Counter(predicted) & collections.Counter(truth)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(truth)
    return 2 * precision * recall / (precision + recall)


def max_over_ground_truths(metric, prediction, ground_truths):
    """The best `metric(prediction, truth)` over the ground truths."""
    return max(metric(prediction, truth) for truth in ground_truths)


def squad_evaluate(dataset, predictions):
    """Exact match and F1 (percentages) of predictions on a SQuAD v1.1 set.

    Args:
        dataset: the `"data"` list of a SQuAD v1.1 JSON file (articles with
            `paragraphs`, each with `qas` holding `id` and `answers`), or the
            whole parsed file (a dict with `"data"`).
        predictions: dict question id -> predicted answer string.

    Returns:
        dict `{"exact_match": float, "f1": float, "total": int,
        "unanswered": int}`; exact match and F1 in [0, 100].
    """
    if isinstance(dataset, dict):
        dataset = dataset["data"]
    exact = f1 = 0.0
    total = unanswered = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    unanswered += 1
                    continue
                truths = [a["text"] for a in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact += max_over_ground_truths(exact_match_score,
                                                prediction, truths)
                f1 += max_over_ground_truths(f1_score, prediction, truths)
    scale = 100.0 / max(total, 1)
    return {"exact_match": exact * scale, "f1": f1 * scale, "total": total,
            "unanswered": unanswered}


def best_span(start_logits, end_logits, max_answer_length=30,
              allowed=None):
    """The span `(start, end)` maximising `start_logits[s] + end_logits[e]`.

    Only spans with `s <= e < s + max_answer_length` count, as in BERT's
    SQuAD post-processing.

    Args:
        start_logits, end_logits: `[length]` float arrays (one example).
        max_answer_length: int, longest span in tokens.
        allowed: optional `[length]` bool array, positions an answer may
            use (the context tokens); others are never chosen.

    Returns:
        (start, end, score): token indices (inclusive) and the summed logit.
    """
    start_logits = np.asarray(start_logits, "float64")
    end_logits = np.asarray(end_logits, "float64")
    length = start_logits.shape[0]
    scores = start_logits[:, None] + end_logits[None, :]
    offsets = np.arange(length)[None, :] - np.arange(length)[:, None]
    valid = (offsets >= 0) & (offsets < max_answer_length)
    if allowed is not None:
        allowed = np.asarray(allowed, bool)
        valid &= allowed[:, None] & allowed[None, :]
    if not valid.any():
        return 0, 0, float("-inf")
    scores = np.where(valid, scores, -np.inf)
    start, end = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(start), int(end), float(scores[start, end])
