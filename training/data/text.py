"""Input pipelines of the NLP tasks: GLUE-style TSV, CoNLL tagging, raw text.

Each reader turns files into examples held in memory (numpy arrays and
lists), checking every line: a malformed one raises `DataFormatError` naming
the file and the line. The pipelines then draw batches by index:

- training: every epoch is a fresh permutation of the examples, drawn with
  stateless ops from `(seed, epoch)`, so the stream is a function of the seed
  alone and resuming at step N starts exactly at batch N (nothing is read or
  tokenized to get there);
- evaluation: the examples in file order, once.

Texts longer than `seq_length` are truncated; `on_overflow` in the data
config says whether that happens silently (`truncate`), with one warning
per file naming the first such line (`warn`), or stops with an error naming
file and line (`error`).

Masked-LM pretraining masks each batch with stateless random ops keyed by
`(seed, batch number)` (`mask_tokens`): dynamic masking (every epoch sees new
masks) that a resumed run reproduces exactly.
"""

import csv
import dataclasses
import logging

import numpy as np

from training.config.base import ConfigError
from training.data.readers import finish_pipeline, input_paths
from zoo.errors import DataFormatError

logger = logging.getLogger("zoo")

#: Label of positions that no loss or metric counts (word-piece
#: continuations, special tokens, padding, unmasked tokens).
IGNORE_LABEL = -100
OVERFLOW_MODES = ("truncate", "warn", "error")
_TOKENIZE_CHUNK = 4096


# --- files and tokens ----------------------------------------------------------


def list_input_files(data_config, where):
    """The files `input_path` names (comma-separated patterns or a list).

    Raises:
        ConfigError: `input_path` is empty or a pattern matches no file.
    """
    import glob

    patterns = input_paths(data_config)
    if not patterns:
        raise ConfigError(f"{where}.input_path is empty; name the data "
                          "file(s) to read.")
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ConfigError(
                f"{where}.input_path: {pattern!r} matches no file.")
        files.extend(matches)
    return files


def check_overflow_mode(mode, where):
    """Raises `ConfigError` unless `mode` is one of `OVERFLOW_MODES`."""
    if mode not in OVERFLOW_MODES:
        raise ConfigError(
            f"{where}.on_overflow: {mode!r} is not one of "
            f"{list(OVERFLOW_MODES)}.")


def tokenize(tokenizer, texts):
    """Token ids of each text: list of lists of int (no special tokens)."""
    result = []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        chunk = [str(t) for t in texts[start:start + _TOKENIZE_CHUNK]]
        if chunk:
            result.extend(tokenizer.tokenize(chunk).to_list())
    return result


def report_overflow(needed, limit, locations, mode, what="example"):
    """Warns about or refuses texts that need more than `limit` tokens.

    Args:
        needed: int array, tokens each example needs.
        limit: int, tokens it gets (`seq_length`).
        locations: list of `(path, line)`, one per example.
        mode: `"truncate"` (nothing), `"warn"` or `"error"`.
        what: noun for the messages.

    Raises:
        DataFormatError: `mode == "error"` and an example does not fit; the
            message names its file and line.
    """
    needed = np.asarray(needed)
    over = np.flatnonzero(needed > limit)
    if mode == "truncate" or not over.size:
        return
    first = int(over[0])
    path, line = locations[first]
    if mode == "error":
        raise DataFormatError(
            f"{path}:{line}: the {what} needs {int(needed[first])} tokens "
            f"([CLS] and [SEP] included) but seq_length={limit}. Shorten it,"
            " raise seq_length (up to the encoder's max_position_embeddings),"
            " or set on_overflow: truncate (or warn)."
        )
    files = sorted({locations[int(i)][0] for i in over})
    logger.warning(
        "%d of %d %ss need more than seq_length=%d tokens and are truncated "
        "(first: %s:%d, %d tokens; files: %s). Raise seq_length or set "
        "on_overflow: truncate to silence this.", over.size, len(needed),
        what, limit, path, line, int(needed[first]), ", ".join(files))


# --- batching by index -----------------------------------------------------------


def shard_indices(count, num_shards, shard_index):
    """The example indices this process reads: every `num_shards`-th."""
    indices = np.arange(count)
    if num_shards > 1:
        indices = indices[shard_index::num_shards]
    return indices


def index_batches(indices, batch_size, *, is_training, seed, start_step=0,
                  drop_remainder=True):
    """A dataset of `(batch_number, example indices [batch])`.

    Training: an endless stream of epochs, each a permutation of `indices`
    drawn with `tf.random.experimental.stateless_shuffle` from
    `(seed, epoch)`, batched with `drop_remainder`, starting at batch
    `start_step` (computed, not read). Batch numbers count from
    `start_step`. Evaluation: `indices` in order, once.
    """
    import tensorflow as tf

    indices = np.asarray(indices, "int64")
    count = len(indices)
    if count == 0:
        raise ConfigError("The data holds no examples.")
    if count < batch_size and is_training:
        logger.info("%d examples for a batch of %d: epochs repeat within a "
                    "batch.", count, batch_size)
    table = tf.constant(indices)
    if not is_training:
        dataset = tf.data.Dataset.from_tensor_slices(table).batch(
            batch_size, drop_remainder=drop_remainder)
        return dataset.enumerate()
    first = start_step * batch_size
    first_epoch, offset = divmod(first, count)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(
            table, seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order)

    dataset = tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch)
    dataset = dataset.skip(offset).batch(batch_size, drop_remainder=True)
    return dataset.enumerate(start=start_step)


def gather(arrays, indices):
    """Rows `indices` of each numpy array in `arrays`, inside `tf.data`.

    Args:
        arrays: dict name -> numpy array (strings as an object array of
            bytes), all with the same first dimension.
        indices: int64 tensor `[batch]`.

    Returns:
        dict name -> tensor `[batch, ...]`.
    """
    import tensorflow as tf

    names = list(arrays)
    dtypes = []
    for name in names:
        kind = arrays[name].dtype
        dtypes.append(tf.string if kind == object else tf.as_dtype(kind))

    def take(index):
        return [arrays[name][index] for name in names]

    outputs = tf.numpy_function(take, [indices], dtypes, stateful=False)
    result = {}
    for name, tensor in zip(names, outputs):
        tensor.set_shape([None] + list(arrays[name].shape[1:]))
        result[name] = tensor
    return result


def batch_size_per_process(data_config, num_shards, where):
    """`global_batch_size / num_shards`; raises if that is not positive."""
    batch = data_config.global_batch_size // max(1, num_shards)
    if batch <= 0:
        raise ConfigError(
            f"{where}.global_batch_size={data_config.global_batch_size} must "
            f"be a positive multiple of the {num_shards} process(es).")
    return batch


def _bytes(texts):
    return np.asarray([t.encode("utf-8") for t in texts], dtype=object)


# --- sentence prediction: GLUE-style TSV ---------------------------------------


@dataclasses.dataclass
class SentenceExamples:
    """Examples of a sentence (pair) prediction set.

    Attributes:
        texts: tuple of lists of str, one list per text field.
        labels: numpy array `[n]`, int32 class ids or float32 targets.
        locations: list of `(path, line)` of each example.
    """

    texts: tuple
    labels: np.ndarray
    locations: list

    def __len__(self):
        return len(self.labels)


def _tsv_row_lines(path, skip_header):
    """Line numbers of the rows `training.data.tsv.read_tsv` keeps, in order.

    The same reading as `read_tsv` (tab-separated, no quoting, blank rows
    skipped), so the n-th example it returns sits on the n-th line here.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))
    first = 2 if skip_header and rows else 1
    rows = rows[1:] if skip_header and rows else rows
    return [first + i for i, row in enumerate(rows)
            if row and not (len(row) == 1 and not row[0].strip())]


def read_sentence_examples(data_config, *, num_classes, where):
    """Reads the GLUE-style TSV files of a sentence prediction data config.

    `text_fields` name the text columns (header names, or 0-based indices
    for files without a header), `label_field` the label column. Class
    labels are looked up in `label_names` (default: `"0"`, `"1"`, ...,
    `num_classes - 1`, GLUE's convention); `num_classes == 1` reads float
    regression targets.

    Raises:
        DataFormatError: a row with too few fields, or a label that is not a
            class name / not a number; names file and line.
        ConfigError: no input, or label names that do not match
            `num_classes`.
    """
    from training.data.tsv import read_tsv

    regression = num_classes == 1
    label_names = data_config.label_names
    if label_names is None and not regression:
        label_names = [str(i) for i in range(num_classes)]
    if label_names is not None and not regression and (
            len(label_names) != num_classes):
        raise ConfigError(
            f"{where}.label_names has {len(label_names)} names but "
            f"task.model.num_classes={num_classes}.")
    fields = list(data_config.text_fields or [])
    if not 1 <= len(fields) <= 2:
        raise ConfigError(
            f"{where}.text_fields must name one or two text columns, got "
            f"{fields}.")
    texts = [[] for _ in fields]
    labels, locations = [], []
    for path in list_input_files(data_config, where):
        read = read_tsv(path, fields, data_config.label_field,
                        label_names=None if regression else label_names,
                        regression=regression,
                        skip_header=data_config.skip_header)
        lines = _tsv_row_lines(path, data_config.skip_header)
        for column, values in zip(texts, read.texts):
            column.extend(values)
        labels.append(read.labels)
        locations.extend((path, line) for line in lines)
    labels = np.concatenate(labels).astype(
        "float32" if regression else "int32")
    if data_config.num_examples > 0:
        count = data_config.num_examples
        texts = [t[:count] for t in texts]
        labels, locations = labels[:count], locations[:count]
    return SentenceExamples(tuple(texts), labels, locations)


def check_lengths(columns, locations, tokenizer, seq_length, mode,
                  what="example"):
    """Applies `on_overflow` to texts that need more than `seq_length` tokens.

    Args:
        columns: list of lists of str, one list per segment (packed as
            `[CLS] a [SEP] b [SEP]`).
        locations: list of `(path, line)`, one per example.
    """
    if mode == "truncate":
        return
    needed = np.full(len(locations), 1 + len(columns), "int64")
    for column in columns:
        needed += np.asarray([len(t) for t in tokenize(tokenizer, column)],
                             "int64")
    report_overflow(needed, seq_length, locations, mode, what=what)


def sentence_dataset(examples, preprocessor, data_config, *, batch_size,
                     seed, start_step=0, num_shards=1, shard_index=0,
                     with_labels=True):
    """Batches of `(features, labels)` (or features only) for a classifier.

    `features` is what `preprocessor` (a `TextPreprocessor`) packs from the
    texts of the batch: `token_ids`, `segment_ids`, `padding_mask`, each
    `[batch, seq_length]` int32. Labels: `[batch]` int32 class ids, or
    `[batch, 1]` float32 for regression.
    """
    arrays = {f"text_{i}": _bytes(column)
              for i, column in enumerate(examples.texts)}
    arrays["label"] = examples.labels
    if examples.labels.dtype == np.float32:
        arrays["label"] = examples.labels[:, None]
    is_training = bool(data_config.is_training)
    dataset = index_batches(
        shard_indices(len(examples), num_shards, shard_index), batch_size,
        is_training=is_training, seed=seed, start_step=start_step,
        drop_remainder=data_config.drop_remainder or is_training)
    count = len(examples.texts)

    def load(_, indices):
        batch = gather(arrays, indices)
        texts = tuple(batch[f"text_{i}"] for i in range(count))
        features = preprocessor(texts if count > 1 else texts[0])
        if with_labels:
            return features, batch["label"]
        return features

    return finish_pipeline(dataset.map(load), data_config)


# --- tagging: CoNLL-style files ---------------------------------------------------


@dataclasses.dataclass
class TaggedSentences:
    """Sentences of a tagging set.

    Attributes:
        words: list of lists of str.
        tags: list of int32 arrays, the class id of every word.
        locations: list of `(path, line)` of each sentence's first word.
    """

    words: list
    tags: list
    locations: list

    def __len__(self):
        return len(self.words)


def read_conll(data_config, class_names, where):
    """Reads CoNLL-style tagging files: a word and its tag per line.

    Fields are whitespace-separated; the word is the first, the tag the
    `tag_column`-th (default the last, as in CoNLL-2003's
    `word POS chunk NER`). A blank line ends a sentence; `-DOCSTART-` lines
    are skipped.

    Raises:
        DataFormatError: a line with a single field, or a tag not in
            `class_names`; names file and line.
    """
    if not class_names:
        raise ConfigError(
            "task.class_names is empty: list the tags in id order, e.g. "
            "[O, B-PER, I-PER, ...].")
    lookup = {name: i for i, name in enumerate(class_names)}
    sentences = TaggedSentences([], [], [])
    column = data_config.tag_column

    def close(words, tags, start):
        if words:
            sentences.words.append(words)
            sentences.tags.append(np.asarray(tags, "int32"))
            sentences.locations.append(start)

    for path in list_input_files(data_config, where):
        words, tags, start = [], [], None
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                fields = raw.split()
                if not fields or fields[0] == "-DOCSTART-":
                    close(words, tags, start)
                    words, tags, start = [], [], None
                    continue
                if len(fields) < 2:
                    raise DataFormatError(
                        f"{path}:{number}: expected a word and a tag "
                        f"separated by whitespace, got {raw.strip()!r}.")
                try:
                    tag = fields[column]
                except IndexError:
                    raise DataFormatError(
                        f"{path}:{number}: {len(fields)} fields, no column "
                        f"{column} for the tag (tag_column={column}).") from None
                if tag not in lookup:
                    raise DataFormatError(
                        f"{path}:{number}: tag {tag!r} is not one of "
                        f"task.class_names {list(class_names)}.")
                if start is None:
                    start = (path, number)
                words.append(fields[0])
                tags.append(lookup[tag])
        close(words, tags, start)
    if data_config.num_examples > 0:
        count = data_config.num_examples
        sentences = TaggedSentences(sentences.words[:count],
                                    sentences.tags[:count],
                                    sentences.locations[:count])
    return sentences


def tagging_features(sentences, tokenizer, seq_length, mode):
    """Packs tagged sentences: `[CLS] pieces [SEP]`, labels on first pieces.

    Each word's label goes to its first word piece; the other pieces,
    `[CLS]`, `[SEP]` and padding get `IGNORE_LABEL` (-100), which the loss
    and metrics skip (the Model Garden's and Hugging Face's convention). A
    word with no piece at all (only characters the tokenizer drops) becomes
    `[UNK]`. Words that do not fit in `seq_length - 2` pieces are cut off
    (see `on_overflow`).

    Returns:
        dict of int32 arrays `[n, seq_length]`: `token_ids`, `segment_ids`,
        `padding_mask`, `labels`; and `kept` `[n]`, the words kept per
        sentence.
    """
    flat = [w for words in sentences.words for w in words]
    pieces = tokenize(tokenizer, flat)
    unknown = tokenizer.token_to_id(tokenizer.unknown_token)
    cls_id, sep_id = tokenizer.start_token_id, tokenizer.end_token_id
    pad_id = tokenizer.pad_token_id
    count = len(sentences)
    token_ids = np.full((count, seq_length), pad_id, "int32")
    labels = np.full((count, seq_length), IGNORE_LABEL, "int32")
    padding = np.zeros((count, seq_length), "int32")
    kept = np.zeros(count, "int32")
    needed = np.zeros(count, "int64")
    budget = seq_length - 2
    cursor = 0
    for i, (words, tags) in enumerate(zip(sentences.words, sentences.tags)):
        ids, row_labels = [cls_id], [IGNORE_LABEL]
        total = 0
        for w, tag in enumerate(tags):
            word_pieces = pieces[cursor + w] or [unknown]
            total += len(word_pieces)
            if total <= budget:
                ids.extend(word_pieces)
                row_labels.extend([int(tag)] + [IGNORE_LABEL] * (
                    len(word_pieces) - 1))
                kept[i] = w + 1
        cursor += len(words)
        ids.append(sep_id)
        row_labels.append(IGNORE_LABEL)
        needed[i] = total + 2
        token_ids[i, :len(ids)] = ids
        labels[i, :len(ids)] = row_labels
        padding[i, :len(ids)] = 1
    report_overflow(needed, seq_length, sentences.locations, mode,
                    what="sentence")
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding, "labels": labels, "kept": kept}


def feature_dataset(arrays, data_config, *, batch_size, seed, start_step=0,
                    num_shards=1, shard_index=0, label_key="labels",
                    with_labels=True):
    """Batches of `(features, labels)` from already packed numpy arrays.

    Args:
        arrays: dict of numpy arrays `[n, ...]`: the encoder inputs
            (`token_ids`, `segment_ids`, `padding_mask`) and the labels
            (one array under `label_key`, or a dict of them when
            `label_key` is a list of names).
    """
    inputs = ("token_ids", "segment_ids", "padding_mask")
    keys = [label_key] if isinstance(label_key, str) else list(label_key)
    chosen = {k: arrays[k] for k in inputs + tuple(keys)}
    count = len(arrays["token_ids"])
    is_training = bool(data_config.is_training)
    dataset = index_batches(
        shard_indices(count, num_shards, shard_index), batch_size,
        is_training=is_training, seed=seed, start_step=start_step,
        drop_remainder=data_config.drop_remainder or is_training)

    def load(_, indices):
        batch = gather(chosen, indices)
        features = {k: batch[k] for k in inputs}
        if not with_labels:
            return features
        if isinstance(label_key, str):
            return features, batch[label_key]
        return features, {k: batch[k] for k in keys}

    return finish_pipeline(dataset.map(load), data_config)


# --- masked-LM pretraining: raw text lines --------------------------------------------


@dataclasses.dataclass
class TextLines:
    """Non-blank lines of text files, each a pretraining example.

    Attributes:
        texts: list of str.
        locations: list of `(path, line)`.
    """

    texts: list
    locations: list

    def __len__(self):
        return len(self.texts)


def read_text_lines(data_config, where):
    """Reads plain UTF-8 text files: every non-blank line is one example.

    Raises:
        DataFormatError: a file that is not UTF-8, naming file and line.
    """
    lines = TextLines([], [])
    for path in list_input_files(data_config, where):
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError as e:
                    raise DataFormatError(
                        f"{path}:{number}: not UTF-8 text ({e.reason} at "
                        f"byte {e.start}).") from None
                if text:
                    lines.texts.append(text)
                    lines.locations.append((path, number))
    if data_config.num_examples > 0:
        count = data_config.num_examples
        lines = TextLines(lines.texts[:count], lines.locations[:count])
    return lines


def mask_tokens(token_ids, padding_mask, seed, *, vocabulary_size,
                mask_token_id, special_token_ids, max_predictions,
                selection_rate=0.15, mask_token_rate=0.8,
                random_token_rate=0.1):
    """BERT's masked-LM corruption of packed token ids, with stateless ops.

    Per example, `k = round(selection_rate * n)` of its `n` selectable
    tokens (real tokens other than the special ones), at least 1 and at most
    `max_predictions`, are chosen uniformly at random (BERT's
    `create_pretraining_data.py` rule: 15%, at least one, capped); each
    chosen token becomes `[MASK]` with probability `mask_token_rate`, a
    random id in `[0, vocabulary_size)` with `random_token_rate`, and stays
    itself otherwise (Devlin et al. 2018, section 3.1: 80/10/10). The same
    rule as BERT's `create_pretraining_data.py`, but every draw comes from
    `seed`, so a batch's masks depend only on its seed.

    Args:
        token_ids, padding_mask: int32 tensors `[batch, length]`.
        seed: int tensor `[2]`, the stateless seed of this batch.

    Returns:
        `(masked_token_ids [batch, length], mask_positions
        [batch, max_predictions], labels [batch, max_predictions])`, int32;
        labels hold the original ids at the chosen positions and
        `IGNORE_LABEL` in unused slots (whose position is 0).
    """
    import tensorflow as tf

    token_ids = tf.cast(token_ids, tf.int32)
    seed = tf.cast(seed, tf.int64)
    batch = tf.shape(token_ids)[0]
    length = tf.shape(token_ids)[1]
    special = tf.constant(sorted(set(special_token_ids)) or [-1], tf.int32)
    is_special = tf.reduce_any(token_ids[:, :, None] == special, axis=-1)
    selectable = tf.logical_and(padding_mask > 0, tf.logical_not(is_special))
    count = tf.reduce_sum(tf.cast(selectable, tf.int32), axis=1)
    chosen_count = tf.cast(tf.round(tf.cast(count, tf.float32)
                                    * selection_rate), tf.int32)
    chosen_count = tf.where(count > 0, tf.maximum(chosen_count, 1), 0)
    chosen_count = tf.minimum(chosen_count, max_predictions)

    def draw(index, shape, **kwargs):
        return tf.random.stateless_uniform(
            shape, seed=tf.stack([seed[0], seed[1] * 4 + index]), **kwargs)

    scores = tf.where(selectable, draw(0, [batch, length]), 2.0)
    order = tf.cast(tf.argsort(scores, axis=1, stable=True), tf.int32)
    order = tf.pad(order, [[0, 0], [0, tf.maximum(max_predictions - length,
                                                  0)]])
    order = order[:, :max_predictions]
    slots = tf.range(max_predictions)[None, :] < chosen_count[:, None]
    positions = tf.sort(tf.where(slots, order, length), axis=1)
    slots = positions < length
    positions = tf.where(slots, positions, 0)
    originals = tf.gather(token_ids, positions, batch_dims=1)
    choice = draw(1, [batch, max_predictions])
    random_ids = draw(2, [batch, max_predictions], minval=0,
                      maxval=vocabulary_size, dtype=tf.int32)
    values = tf.where(
        choice < mask_token_rate, tf.constant(mask_token_id, tf.int32),
        tf.where(choice < mask_token_rate + random_token_rate, random_ids,
                 originals))
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(positions))
    where = tf.boolean_mask(tf.stack([rows, positions], axis=-1), slots)
    masked = tf.tensor_scatter_nd_update(token_ids, where,
                                         tf.boolean_mask(values, slots))
    labels = tf.where(slots, originals, IGNORE_LABEL)
    return masked, positions, labels


def pretraining_dataset(lines, preprocessor, data_config, *, batch_size,
                        seed, start_step=0, num_shards=1, shard_index=0):
    """Batches of `(features, labels)` for a `MaskedLM`, masked per batch.

    Features: the packed `token_ids` (masked), `segment_ids`,
    `padding_mask` `[batch, seq_length]` and `mask_positions`
    `[batch, max_predictions_per_seq]`; labels `[batch,
    max_predictions_per_seq]` int32, -100 in unused slots. Masks are drawn
    from `(seed, batch number)`: training batches get new masks every
    epoch, and evaluation sees the same masks at every pass.
    """
    import tensorflow as tf

    tokenizer = preprocessor.tokenizer
    arrays = {"text": _bytes(lines.texts)}
    is_training = bool(data_config.is_training)
    dataset = index_batches(
        shard_indices(len(lines), num_shards, shard_index), batch_size,
        is_training=is_training, seed=seed, start_step=start_step,
        drop_remainder=data_config.drop_remainder or is_training)
    options = dict(
        vocabulary_size=tokenizer.vocabulary_size(),
        mask_token_id=tokenizer.mask_token_id,
        special_token_ids=tokenizer.special_token_ids,
        max_predictions=data_config.max_predictions_per_seq,
        selection_rate=data_config.masking_rate,
    )
    # Evaluation masks come from a stream of their own.
    stream = 2 * shard_index + (0 if is_training else 1)

    def load(number, indices):
        features = preprocessor(gather(arrays, indices)["text"])
        masked, positions, labels = mask_tokens(
            features["token_ids"], features["padding_mask"],
            tf.stack([tf.constant(seed, tf.int64) * 1000003 + stream,
                      number]),
            **options)
        features = dict(features, token_ids=masked, mask_positions=positions)
        return features, labels

    return finish_pipeline(dataset.map(load), data_config)
