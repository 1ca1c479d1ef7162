"""GLUE-style tab-separated files: text columns and labels.

`read_tsv` reads one, every malformed row reported with its file and line;
`TextExamples.to_dataset` makes a batched `tf.data.Dataset` of it.
"""

import csv
import dataclasses
import os

import numpy as np

from zoo.errors import DataFormatError


@dataclasses.dataclass
class TextExamples:
    """Texts and labels read from a file.

    Attributes:
        texts: tuple of lists of str, one list per text column (one for
            single sentences, two for pairs).
        labels: numpy array `[num_examples]`: int32 class ids, float32
            regression targets, or None when the file has no labels.
        label_names: list of str, the class of each id (None for
            regression or unlabeled files).
        ids: list of str, the id column (None if not asked for).
    """

    texts: tuple
    labels: object = None
    label_names: list = None
    ids: list = None

    def __len__(self):
        return len(self.texts[0]) if self.texts else 0

    def to_dataset(self, batch_size=32, shuffle=False, seed=None):
        """A batched `tf.data.Dataset` of `(texts, label)` (or texts only).

        `texts` is a string tensor `[batch]` for one column, a tuple of
        them for pairs: what a `TextPreprocessor` takes.
        """
        import tensorflow as tf

        texts = self.texts[0] if len(self.texts) == 1 else tuple(self.texts)
        parts = texts if self.labels is None else (texts, self.labels)
        dataset = tf.data.Dataset.from_tensor_slices(parts)
        if shuffle:
            dataset = dataset.shuffle(len(self), seed=seed,
                                      reshuffle_each_iteration=True)
        return dataset.batch(batch_size)


def _column_index(header, column, path):
    if column is None or isinstance(column, int):
        return column
    if header is None:
        raise DataFormatError(
            f"{path}: column {column!r} is named, but skip_header=False "
            "gives no header to find it in; pass its index."
        )
    if column not in header:
        raise DataFormatError(
            f"{path}:1: no column {column!r} in the header {header}."
        )
    return header.index(column)


def read_tsv(path, text_columns, label_column=None, *, label_names=None,
             regression=False, id_column=None, skip_header=True):
    """Reads a GLUE-style tab-separated file.

    Fields are split on tabs with no quoting (as BERT's `_read_tsv`:
    quotes are text). Columns are given by header name or 0-based index.

    ```python
    sst2 = read_tsv("SST-2/train.tsv", ["sentence"], "label",
                    label_names=["0", "1"])
    mrpc = read_tsv("MRPC/train.tsv", [3, 4], 0, label_names=["0", "1"])
    stsb = read_tsv("STS-B/train.tsv", ["sentence1", "sentence2"], "score",
                    regression=True)
    ```

    Args:
        path: str or path of the file (UTF-8).
        text_columns: list of column names or indices (one or two).
        label_column: name or index of the label, or None (test files).
        label_names: list of str, the classes in id order; a label not in it
            is an error. None with `regression=False` collects the classes
            found, sorted.
        regression: bool, labels are float32 numbers.
        id_column: name or index of an id column to keep, or None.
        skip_header: bool, the first line is a header.

    Returns:
        `TextExamples`.

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: a row with too few fields, an unknown label or a
            label that is not a number; the message names the file, the
            line (1-based) and the offending value.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such TSV file: {path}.")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))
    header = None
    first_line = 1
    if skip_header and rows:
        header, rows, first_line = rows[0], rows[1:], 2
    text_indices = [_column_index(header, c, path) for c in text_columns]
    label_index = _column_index(header, label_column, path)
    id_index = _column_index(header, id_column, path)
    needed = max(i for i in text_indices + [label_index, id_index, -1]
                 if i is not None) + 1
    texts = [[] for _ in text_indices]
    raw_labels, ids = [], []
    for offset, row in enumerate(rows):
        line = first_line + offset
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) < needed:
            raise DataFormatError(
                f"{path}:{line}: {len(row)} tab-separated fields, expected at"
                f" least {needed} (row: {chr(9).join(row)[:80]!r})."
            )
        for column, index in zip(texts, text_indices):
            column.append(row[index])
        if id_index is not None:
            ids.append(row[id_index])
        if label_index is not None:
            value = row[label_index].strip()
            if regression:
                try:
                    raw_labels.append(float(value))
                except ValueError:
                    raise DataFormatError(
                        f"{path}:{line}: label {value!r} is not a number "
                        "(regression=True)."
                    ) from None
            else:
                if label_names is not None and value not in label_names:
                    raise DataFormatError(
                        f"{path}:{line}: label {value!r} is not one of "
                        f"{list(label_names)}."
                    )
                raw_labels.append(value)
    labels = names = None
    if label_index is not None:
        if regression:
            labels = np.asarray(raw_labels, "float32")
        else:
            names = list(label_names) if label_names is not None else sorted(
                set(raw_labels))
            lookup = {name: i for i, name in enumerate(names)}
            labels = np.asarray([lookup[v] for v in raw_labels], "int32")
    return TextExamples(texts=tuple(texts), labels=labels, label_names=names,
                        ids=ids if id_index is not None else None)
