"""Reusable NLP data pieces: GLUE-style TSV files and masked-LM masking.

- `read_tsv`: a tab-separated file (GLUE's format) -> text columns and
  labels, every malformed row reported with its file and line;
- `MaskedLMMasker`: BERT's dynamic masking, applied per batch inside
  `tf.data` (15% of the tokens chosen; of those 80% become `[MASK]`, 10% a
  random token, 10% stay).

Nothing here imports the training framework; its tasks import these.
"""

import csv
import dataclasses
import os

import keras
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


@keras.saving.register_keras_serializable(package="zoo")
class MaskedLMMasker(keras.layers.Layer):
    """BERT's dynamic masking of packed token ids, for masked-LM pretraining.

    Each call draws new masks (so every epoch sees different ones): every
    token except the special ones (`[CLS]`, `[SEP]`, `[PAD]`, ...) is chosen
    with probability `selection_rate`, at most `max_selections` per example;
    a chosen token becomes `[MASK]` with probability `mask_token_rate`, a
    random token with `random_token_rate`, and stays itself otherwise
    (Devlin et al. 2018, section 3.1: 15%, 80/10/10). Built on keras-hub's
    `MaskedLMMaskGenerator`; runs inside `tf.data`.

    Args:
        vocabulary_size: int, random replacements are drawn from
            `[0, vocabulary_size)`.
        mask_token_id: int.
        special_token_ids: list of int, never chosen.
        max_selections: int, masked positions per example (the width of
            `mask_positions`).
        selection_rate, mask_token_rate, random_token_rate: float.

    Call args:
        features: dict from a `TextPreprocessor` (`token_ids`,
            `segment_ids`, `padding_mask`, each `[batch, length]` int32).

    Returns:
        `(features, labels, sample_weight)`, what `Model.fit` takes for a
        `MaskedLM`: features with masked `token_ids` and `mask_positions`
        `[batch, max_selections]` int32; labels the original ids at those
        positions `[batch, max_selections]` int32; sample_weight
        `[batch, max_selections]` float32, 1 for real selections and 0 for
        padding.
    """

    def __init__(self, vocabulary_size, mask_token_id, special_token_ids=(),
                 max_selections=20, selection_rate=0.15, mask_token_rate=0.8,
                 random_token_rate=0.1, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="int32", **kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        import keras_hub

        self.vocabulary_size = int(vocabulary_size)
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = [int(i) for i in special_token_ids]
        self.max_selections = int(max_selections)
        self.selection_rate = float(selection_rate)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self._generator = keras_hub.layers.MaskedLMMaskGenerator(
            vocabulary_size=self.vocabulary_size,
            mask_selection_rate=self.selection_rate,
            mask_token_id=self.mask_token_id,
            mask_selection_length=self.max_selections,
            unselectable_token_ids=self.special_token_ids,
            mask_token_rate=self.mask_token_rate,
            random_token_rate=self.random_token_rate,
            name="mask_generator",
        )
        self._function = None
        self.built = True

    def _mask_graph(self, token_ids):
        import tensorflow as tf

        masked = self._generator(token_ids)
        return (tf.cast(masked["token_ids"], tf.int32),
                tf.cast(masked["mask_positions"], tf.int32),
                tf.cast(masked["mask_ids"], tf.int32),
                tf.cast(masked["mask_weights"], tf.float32))

    def call(self, features):
        import tensorflow as tf

        token_ids = features["token_ids"]
        if tf.executing_eagerly():
            token_ids = tf.convert_to_tensor(
                np.asarray(keras.ops.convert_to_numpy(token_ids)))
            if self._function is None:
                self._function = tf.function(self._mask_graph)
            outputs = self._function(token_ids)
            outputs = [keras.ops.convert_to_tensor(o.numpy())
                       for o in outputs]
            rest = {k: keras.ops.convert_to_tensor(np.asarray(v))
                    for k, v in features.items() if k != "token_ids"}
        else:
            outputs = self._mask_graph(token_ids)
            rest = {k: v for k, v in features.items() if k != "token_ids"}
        masked_ids, positions, labels, weights = outputs
        new_features = dict(rest, token_ids=masked_ids,
                            mask_positions=positions)
        return new_features, labels, weights

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "mask_token_id": self.mask_token_id,
            "special_token_ids": self.special_token_ids,
            "max_selections": self.max_selections,
            "selection_rate": self.selection_rate,
            "mask_token_rate": self.mask_token_rate,
            "random_token_rate": self.random_token_rate,
        })
        return config
