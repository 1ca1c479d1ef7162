"""Tokenizers and packing: raw strings -> the token ids a text encoder reads.

Data code, not model code: everything here runs as TensorFlow ops, inside a
`tf.data` pipeline on any Keras backend (the tokenizers build on keras-hub's
tokenizer layers), and also eagerly on Python strings.

- `WordPieceTokenizer`: BERT's tokenizer. The normalisation and word
  splitting follow BERT's rules exactly as Hugging Face `tokenizers`
  implements them (`BertNormalizer` + `BertPreTokenizer`): drop control
  characters, turn whitespace into spaces, put spaces around CJK ideographs,
  strip accents (NFD, drop non-spacing marks), lower-case, split on
  whitespace and punctuation. Then greedy longest-match WordPiece (keras-hub's
  `WordPieceTokenizer` over tf-text's `FastWordpieceTokenizer`); words longer
  than `max_chars_per_word` characters become the unknown token.
- `SentencePieceTokenizer`: ALBERT's (and T5's) tokenizer, a SentencePiece
  model file (keras-hub's `SentencePieceTokenizer`).
- `TextPreprocessor`: tokenizer + packer, `[CLS] a [SEP] b [SEP]`, segment
  ids, padding mask, truncation longest-first. The `preprocessor` of text
  task models and encoders.

```python
tokenizer = WordPieceTokenizer("vocab.txt", lowercase=True)
preprocessor = TextPreprocessor(tokenizer, sequence_length=128)
features = preprocessor(["a sentence", "another one"])
# {"token_ids": [2, 128] int32, "segment_ids": ..., "padding_mask": ...}
ds = ds.map(lambda text, label: (preprocessor(text), label))
```
"""

import logging
import os
import re

import keras
import numpy as np

from zoo.errors import SequenceTooLongError, VocabularyError

logger = logging.getLogger("zoo")

VOCABULARY_FILE = "vocab.txt"
SENTENCEPIECE_FILE = "spiece.model"
OVERFLOW_MODES = ("truncate", "warn", "error")

# Characters that BERT's pre-tokenizer splits on and keeps as tokens: ASCII
# non-alphanumerics and every Unicode punctuation category.
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# Unicode White_Space: Rust's char::is_whitespace, which Hugging Face uses.
_WHITESPACE = r"[\t\n\x{0B}\x{0C}\r\x{85}\x{2028}\x{2029}\p{Zs}]"
# CJK ideograph blocks of BERT's `_is_chinese_char` (Hugging Face's ranges).
_CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}"
        r"\x{2A700}-\x{2B73F}\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}"
        r"\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")


def _tf():
    import tensorflow as tf

    return tf


def _tf_text():
    import tensorflow_text as tf_text

    return tf_text


def bert_normalize(text, lowercase=True, strip_accents=None, clean_text=True,
                   split_on_cjk=True):
    """BERT's text normalisation as TensorFlow string ops.

    The steps and order of Hugging Face's `BertNormalizer`: remove NUL,
    U+FFFD and control/format characters (tab, newline and carriage return
    become spaces), map every whitespace to a space, surround CJK
    ideographs with spaces, strip accents (NFD, then drop the non-spacing
    marks, category Mn), lower-case (character-wise, like Rust's
    `char::to_lowercase`: capital sigma always becomes `σ`).

    Args:
        text: string `tf.Tensor` (any shape) or `tf.RaggedTensor`.
        lowercase: bool.
        strip_accents: bool, or None to follow `lowercase` (BERT's rule).
        clean_text: bool, remove control characters and unify whitespace.
        split_on_cjk: bool, surround CJK ideographs with spaces.

    Returns:
        string tensor of the same shape.
    """
    tf = _tf()
    if strip_accents is None:
        strip_accents = lowercase
    if clean_text:
        text = tf.strings.regex_replace(text, r"[\t\n\r]", " ")
        text = tf.strings.regex_replace(text, r"[\x{0}\x{FFFD}\p{C}]", "")
        text = tf.strings.regex_replace(text, _WHITESPACE, " ")
    if split_on_cjk:
        text = tf.strings.regex_replace(text, f"({_CJK})", r" \1 ")
    if strip_accents:
        text = _tf_text().normalize_utf8(text, "NFD")
        text = tf.strings.regex_replace(text, r"\p{Mn}", "")
    if lowercase:
        # ICU's lower-casing turns a final capital sigma into `ς`; BERT's
        # (Python's str.lower per word, Rust's per character) gives `σ`.
        text = tf.strings.regex_replace(text, "Σ", "σ")
        text = tf.strings.lower(text, encoding="utf-8")
    return text


def _read_vocabulary(vocabulary):
    """A list of tokens and where it came from (a path or None)."""
    if vocabulary is None:
        return None, None
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.fspath(vocabulary)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such vocabulary file: {path}.")
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n").rstrip("\r") for line in f]
        while tokens and tokens[-1] == "":
            tokens.pop()
        return tokens, path
    return [str(t) for t in vocabulary], None


class _StringLayer(keras.layers.Layer):
    """A layer that takes strings: Keras leaves its inputs unconverted."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @staticmethod
    def _to_string_tensor(x):
        tf = _tf()
        if isinstance(x, (tf.Tensor, tf.RaggedTensor)):
            return x
        if isinstance(x, (str, bytes)):
            return tf.constant(x)
        array = np.asarray(x, dtype=object)
        if array.size == 0:
            return tf.constant([], dtype=tf.string, shape=array.shape)
        return tf.constant(array.astype(str).tolist(), dtype=tf.string)


_SPECIAL_ROLES = ("unknown_token", "start_token", "end_token", "pad_token",
                  "mask_token")


class _Tokenizer(_StringLayer):
    """What both tokenizers share: special tokens, id lookups, `tokenize`.

    A subclass sets `self._vocabulary` (list of str, index = id) and
    `self._token_ids` (its inverse), and implements `_tokenize_graph`
    (`[batch]` strings to ragged ids, in a graph).
    """

    #: What one entry of the vocabulary is called, and what holds them.
    _unit, _holder = "Token", "vocabulary"
    #: How to give a tokenizer its vocabulary.
    _how_to_set = "pass vocabulary= or call set_vocabulary()"

    def __init__(self, *, unknown_token, start_token, end_token, pad_token,
                 mask_token, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="int32", **kwargs)
        self.unknown_token = unknown_token
        self.start_token = start_token
        self.end_token = end_token
        self.pad_token = pad_token
        self.mask_token = mask_token
        self._vocabulary = None
        self._token_ids = None
        self._tokenize_function = None
        self.vocabulary_source = None

    def _check_special_tokens(self, where, fix):
        """Raises `VocabularyError` if a special token has no id."""
        for role in _SPECIAL_ROLES:
            token = getattr(self, role)
            if token is not None and token not in self._token_ids:
                raise VocabularyError(
                    f"{where} has no {role} {token!r}; {fix}")

    def has_vocabulary(self):
        """True once a vocabulary (or SentencePiece model) is set."""
        return self._vocabulary is not None

    def _check_vocabulary(self):
        if self._vocabulary is None:
            raise VocabularyError(
                f"{type(self).__name__} {self.name!r} has no {self._holder} "
                f"yet; {self._how_to_set}."
            )

    def get_vocabulary(self):
        """The tokens (pieces), as a list of str (index = id)."""
        self._check_vocabulary()
        return list(self._vocabulary)

    def vocabulary_size(self):
        """Number of tokens (pieces)."""
        self._check_vocabulary()
        return len(self._vocabulary)

    def token_to_id(self, token):
        """The id of `token`; raises `VocabularyError` if it has none."""
        self._check_vocabulary()
        if token not in self._token_ids:
            raise VocabularyError(
                f"{self._unit} {token!r} is not in the {self._holder}.")
        return self._token_ids[token]

    def id_to_token(self, token_id):
        """The token of id `token_id`; raises `VocabularyError` outside."""
        self._check_vocabulary()
        if not 0 <= int(token_id) < len(self._vocabulary):
            raise VocabularyError(
                f"Token id {token_id} is outside [0, "
                f"{len(self._vocabulary) - 1}]."
            )
        return self._vocabulary[int(token_id)]

    @property
    def start_token_id(self):
        """Id of `start_token` (`[CLS]`)."""
        return self.token_to_id(self.start_token)

    @property
    def end_token_id(self):
        """Id of `end_token` (`[SEP]`)."""
        return self.token_to_id(self.end_token)

    @property
    def pad_token_id(self):
        """Id of `pad_token`."""
        return self.token_to_id(self.pad_token)

    @property
    def mask_token_id(self):
        """Id of `mask_token` (`[MASK]`)."""
        return self.token_to_id(self.mask_token)

    @property
    def special_token_ids(self):
        """Ids of start, end, pad, unknown and mask tokens, sorted."""
        tokens = (self.start_token, self.end_token, self.pad_token,
                  self.unknown_token, self.mask_token)
        return sorted({self._token_ids[t] for t in tokens if t is not None})

    def _tokenize_graph(self, text):
        raise NotImplementedError

    def tokenize(self, texts):
        """Token ids of `texts` (see the class docstring)."""
        tf = _tf()
        self._check_vocabulary()
        text = self._to_string_tensor(texts)
        scalar = text.shape.rank == 0
        if scalar:
            text = tf.reshape(text, [1])
        if tf.executing_eagerly():
            if self._tokenize_function is None:
                self._tokenize_function = tf.function(
                    self._tokenize_graph,
                    input_signature=[tf.TensorSpec([None], tf.string)],
                )
            ids = self._tokenize_function(text)
        else:
            ids = self._tokenize_graph(text)
        return ids[0] if scalar else ids

    def call(self, inputs):
        return self.tokenize(inputs)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update({role: getattr(self, role) for role in _SPECIAL_ROLES})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class WordPieceTokenizer(_Tokenizer):
    """BERT's WordPiece tokenizer (uncased or cased rules), in TensorFlow ops.

    Gives the token ids Hugging Face `tokenizers` gives with a BERT
    `tokenizer.json` (tested on accents, punctuation, CJK, emoji, very long
    words and empty strings).

    Args:
        vocabulary: list of str, or the path of a `vocab.txt` (one token a
            line, id = line number); None to set it later
            (`set_vocabulary`, `load_assets`).
        lowercase: bool, the uncased models' lower-casing (True for
            `*_uncased`, False for `*_cased`).
        strip_accents: bool, or None to strip exactly when lower-casing.
        split_on_cjk: bool, make every CJK ideograph a word.
        clean_text: bool, drop control characters, unify whitespace.
        max_chars_per_word: int, longer words become `unknown_token`.
        special_tokens_in_strings: bool, recognise the special tokens
            (`[CLS]`, `[MASK]`, ...) written in the input text, as Hugging
            Face does; False (default) tokenizes them as text.
        unknown_token, start_token, end_token, pad_token, mask_token: str,
            the special tokens.

    Call args:
        texts: str, list of str, or string tensor `[batch]` / scalar.

    Returns:
        int32 `tf.RaggedTensor` `[batch, None]` of token ids (a dense
        `[None]` tensor for a scalar), no special tokens added.
    """

    def __init__(self, vocabulary=None, lowercase=True, strip_accents=None,
                 split_on_cjk=True, clean_text=True, max_chars_per_word=100,
                 special_tokens_in_strings=False, unknown_token="[UNK]",
                 start_token="[CLS]", end_token="[SEP]", pad_token="[PAD]",
                 mask_token="[MASK]", **kwargs):
        super().__init__(unknown_token=unknown_token,
                         start_token=start_token, end_token=end_token,
                         pad_token=pad_token, mask_token=mask_token, **kwargs)
        self.lowercase = bool(lowercase)
        self.strip_accents = strip_accents
        self.split_on_cjk = bool(split_on_cjk)
        self.clean_text = bool(clean_text)
        self.max_chars_per_word = int(max_chars_per_word)
        self.special_tokens_in_strings = bool(special_tokens_in_strings)
        self._wordpiece = None
        self.set_vocabulary(vocabulary)

    # --- vocabulary ---------------------------------------------------------

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary: a list of tokens or a `vocab.txt` path.

        Raises:
            VocabularyError: a special token is missing, or a token appears
                twice.
        """
        tokens, source = _read_vocabulary(vocabulary)
        self._vocabulary = tokens
        self.vocabulary_source = source
        self._wordpiece = None
        self._tokenize_function = None
        if tokens is None:
            self._token_ids = None
            return
        where = source or "the vocabulary list"
        self._token_ids = {}
        for index, token in enumerate(tokens):
            if token in self._token_ids:
                raise VocabularyError(
                    f"{where}: token {token!r} appears twice (lines "
                    f"{self._token_ids[token] + 1} and {index + 1})."
                )
            self._token_ids[token] = index
        self._check_special_tokens(
            where, "pass the token this vocabulary uses (unknown_token=, "
            "start_token=, ...), or use the model's own vocabulary file.")
        import keras_hub

        self._wordpiece = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=tokens,
            lowercase=False,
            strip_accents=False,
            split=False,
            oov_token=self.unknown_token,
            suffix_indicator="##",
            dtype="int32",
            name="wordpiece",
        )

    # --- assets -------------------------------------------------------------

    def save_assets(self, directory):
        """Writes the vocabulary to `directory/vocab.txt`."""
        self._check_vocabulary()
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, VOCABULARY_FILE), "w",
                  encoding="utf-8") as f:
            for token in self._vocabulary:
                f.write(token + "\n")

    def load_assets(self, directory):
        """Reads the vocabulary from `directory/vocab.txt`."""
        self.set_vocabulary(os.path.join(directory, VOCABULARY_FILE))

    # --- tokenizing ---------------------------------------------------------

    def _split_words(self, text):
        """Normalised words of `text` ([batch] strings): ragged [batch, None]."""
        tf = _tf()
        tf_text = _tf_text()

        def normalize(t):
            return bert_normalize(t, self.lowercase, self.strip_accents,
                                  self.clean_text, self.split_on_cjk)

        split = f"{_WHITESPACE}|{_PUNCTUATION}"
        keep = _PUNCTUATION
        if self.special_tokens_in_strings:
            special = "|".join(
                re.escape(t) for t in (self.start_token, self.end_token,
                                       self.pad_token, self.unknown_token,
                                       self.mask_token) if t)
            pieces = tf_text.regex_split(text, special, special)
            is_special = tf.strings.regex_full_match(pieces.flat_values,
                                                     special)
            flat = tf.where(is_special, pieces.flat_values,
                            normalize(pieces.flat_values))
            words = tf_text.regex_split(flat, f"{special}|{split}",
                                        f"{special}|{keep}")
            words = pieces.with_flat_values(words).merge_dims(-2, -1)
        else:
            words = tf_text.regex_split(normalize(text), split, keep)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > (
            self.max_chars_per_word)
        return words.with_flat_values(
            tf.where(too_long, self.unknown_token, words.flat_values))

    def _tokenize_graph(self, text):
        words = self._split_words(text)
        return self._wordpiece.tokenize(words)

    def detokenize(self, token_ids):
        """Joins token ids back into text (`##` pieces glued to their word).

        Args:
            token_ids: int `[batch, None]` (ragged or dense) or `[None]`.

        Returns:
            string tensor `[batch]` (or a scalar); not the exact input (case,
            accents and spacing around punctuation are lost).
        """
        tf = _tf()
        self._check_vocabulary()
        ids = token_ids
        if not isinstance(ids, (tf.Tensor, tf.RaggedTensor)):
            ids = tf.ragged.constant(ids, dtype=tf.int32) if (
                isinstance(ids, list) and ids and isinstance(ids[0], list)
            ) else tf.constant(np.asarray(ids, "int32"))
        tokens = tf.gather(tf.constant(self._vocabulary), ids)
        if isinstance(tokens, tf.RaggedTensor):
            joined = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        else:
            joined = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        return tf.strings.regex_replace(joined, r" ##", "")

    def get_config(self):
        config = super().get_config()
        config.update({
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "split_on_cjk": self.split_on_cjk,
            "clean_text": self.clean_text,
            "max_chars_per_word": self.max_chars_per_word,
            "special_tokens_in_strings": self.special_tokens_in_strings,
        })
        return config


@keras.saving.register_keras_serializable(package="zoo")
class SentencePieceTokenizer(_Tokenizer):
    """A SentencePiece model (ALBERT, T5, ...) as a tokenizer layer.

    Args:
        proto: bytes of a `.model` file, its path, or None to set it later
            (`set_proto`, `load_assets`).
        lowercase: bool, lower-case before encoding (ALBERT's
            `do_lower_case`).
        strip_accents: bool, NFD and drop non-spacing marks first (ALBERT's
            `keep_accents=False`).
        unknown_token, start_token, end_token, pad_token, mask_token: str,
            pieces of the model used as special tokens (ALBERT's defaults).

    Call args:
        texts: str, list of str, or string tensor `[batch]` / scalar.

    Returns:
        int32 `tf.RaggedTensor` `[batch, None]` (dense `[None]` for a
        scalar), the SentencePiece ids, no special tokens added.
    """

    _unit, _holder = "Piece", "model"
    _how_to_set = "pass proto= or call set_proto()"

    def __init__(self, proto=None, lowercase=False, strip_accents=False,
                 unknown_token="<unk>", start_token="[CLS]",
                 end_token="[SEP]", pad_token="<pad>", mask_token="[MASK]",
                 **kwargs):
        super().__init__(unknown_token=unknown_token,
                         start_token=start_token, end_token=end_token,
                         pad_token=pad_token, mask_token=mask_token, **kwargs)
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self._sentencepiece = None
        self.set_proto(proto)

    def set_proto(self, proto):
        """Sets the SentencePiece model: bytes or a file path.

        Raises:
            VocabularyError: a special token is not a piece of the model.
        """
        self._tokenize_function = None
        self._proto = None
        self._vocabulary = None
        if proto is None:
            return
        if isinstance(proto, (str, os.PathLike)):
            self.vocabulary_source = os.fspath(proto)
            with open(proto, "rb") as f:
                proto = f.read()
        self._proto = bytes(proto)
        import keras_hub

        self._sentencepiece = keras_hub.tokenizers.SentencePieceTokenizer(
            proto=self._proto, dtype="int32", name="sentencepiece")
        pieces = list(self._sentencepiece.get_vocabulary())
        self._token_ids = {p: i for i, p in enumerate(pieces)}
        self._vocabulary = pieces
        self._check_special_tokens(
            f"SentencePiece model {self.vocabulary_source or '(bytes)'}",
            "pass the piece it uses instead (unknown_token=, start_token=, "
            "...).")

    def save_assets(self, directory):
        """Writes the model to `directory/spiece.model`."""
        self._check_vocabulary()
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, SENTENCEPIECE_FILE), "wb") as f:
            f.write(self._proto)

    def load_assets(self, directory):
        """Reads the model from `directory/spiece.model`."""
        self.set_proto(os.path.join(directory, SENTENCEPIECE_FILE))

    def _tokenize_graph(self, text):
        tf = _tf()
        if self.strip_accents:
            text = _tf_text().normalize_utf8(text, "NFD")
            text = tf.strings.regex_replace(text, r"\p{Mn}", "")
        if self.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        return self._sentencepiece.tokenize(text)

    def detokenize(self, token_ids):
        """Decodes piece ids back into text: string tensor `[batch]`."""
        self._check_vocabulary()
        return self._sentencepiece.detokenize(token_ids)

    def get_config(self):
        config = super().get_config()
        config.update({
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
        })
        return config


def longest_first_lengths(lengths, budget):
    """How many tokens of each segment longest-first truncation keeps.

    The rule of the original BERT's `_truncate_seq_pair`: remove the last
    token of the longest segment (the later one on ties) until the total
    fits. That is the same as handing out the budget one token at a time to
    each segment in turn, tf-text's round-robin trimmer, which keras-hub's
    packer and the Model Garden use. (Hugging Face's fast tokenizers differ
    in one case: when both segments must be cut to half of an odd budget,
    they give the odd token to the longer segment.) A plain-Python
    reference of the rule.

    Args:
        lengths: list of int, tokens per segment.
        budget: int, tokens available for all segments together.

    Returns:
        list of int, tokens kept per segment.
    """
    kept = list(lengths)
    while sum(kept) > budget:
        longest = max(kept)
        index = len(kept) - 1 - kept[::-1].index(longest)
        kept[index] -= 1
    return kept


@keras.saving.register_keras_serializable(package="zoo")
class TextPreprocessor(_StringLayer):
    """Tokenizes one or more text segments and packs them for an encoder.

    Packing is BERT's: `[CLS] a [SEP]` for one segment,
    `[CLS] a [SEP] b [SEP]` for two, segment id 0 up to and including the
    first `[SEP]` and 1 after, padded with `[PAD]` to `sequence_length`.
    Segments that do not fit are truncated longest-first (the tokens that
    go are always taken from the end of the currently longest segment, the
    later one on ties: see `longest_first_lengths`).

    Args:
        tokenizer: `WordPieceTokenizer` or `SentencePieceTokenizer`.
        sequence_length: int, tokens per packed example (special tokens
            included).
        on_overflow: what to do when a text does not fit:
            `"truncate"` (silently, the default), `"warn"` (truncate and log
            a warning), `"error"` (raise `SequenceTooLongError`; inside a
            `tf.data` pipeline it surfaces as `tf.errors.InvalidArgumentError`
            with the same message).

    Call args:
        inputs: the texts: str, list of str or string tensor `[batch]` (one
            segment), or a tuple of such (one entry per segment).

    Returns:
        dict of int32 `[batch, sequence_length]` (`[sequence_length]` for a
        single str): `token_ids`, `segment_ids`, `padding_mask` (1 for real
        tokens). Backend tensors when called eagerly, `tf.Tensor`s inside
        `tf.data`.
    """

    def __init__(self, tokenizer, sequence_length=128, on_overflow="truncate",
                 **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="int32", **kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = _deserialize(tokenizer)
        if on_overflow not in OVERFLOW_MODES:
            raise ValueError(
                f"TextPreprocessor: on_overflow={on_overflow!r} is not one of "
                f"{list(OVERFLOW_MODES)}."
            )
        if int(sequence_length) < 3:
            raise ValueError(
                "TextPreprocessor: sequence_length must be at least 3 "
                f"([CLS] x [SEP]), got {sequence_length}."
            )
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.on_overflow = on_overflow
        self._functions = {}
        self._packers = {}

    # --- assets are the tokenizer's ------------------------------------------

    def save_assets(self, directory):
        """Writes the tokenizer's vocabulary or model into `directory`."""
        self.tokenizer.save_assets(directory)

    def load_assets(self, directory):
        """Reads the tokenizer's vocabulary or model from `directory`."""
        self.tokenizer.load_assets(directory)

    # --- packing ------------------------------------------------------------

    def _packer(self):
        import keras_hub

        key = "packer"
        if key not in self._packers:
            self._packers[key] = keras_hub.layers.MultiSegmentPacker(
                sequence_length=self.sequence_length,
                start_value=self.tokenizer.start_token_id,
                end_value=self.tokenizer.end_token_id,
                pad_value=self.tokenizer.pad_token_id,
                truncate="round_robin",
                name="packer",
            )
        return self._packers[key]

    def _pack_graph(self, *segments):
        tf = _tf()
        tokenized = [self.tokenizer.tokenize(s) for s in segments]
        lengths = tf.add_n([t.row_lengths() for t in tokenized])
        needed = lengths + len(tokenized) + 1
        token_ids, segment_ids = self._packer()(tuple(tokenized))
        padding_mask = tf.cast(
            tf.sequence_mask(tf.minimum(needed, self.sequence_length),
                             self.sequence_length), tf.int32)
        features = {
            "token_ids": tf.cast(token_ids, tf.int32),
            "segment_ids": tf.cast(segment_ids, tf.int32),
            "padding_mask": padding_mask,
        }
        return features, needed

    def _canonicalize(self, inputs):
        tf = _tf()
        if isinstance(inputs, list) and inputs and isinstance(
                inputs[0], (tuple, list)) and len(inputs[0]) in (2, 3) and (
                all(isinstance(s, str) for s in inputs[0])):
            # [(a, b), (a, b), ...] -> ([a, a, ...], [b, b, ...])
            inputs = tuple(list(s) for s in zip(*inputs))
        segments = inputs if isinstance(inputs, tuple) else (inputs,)
        segments = tuple(self._to_string_tensor(s) for s in segments)
        scalar = segments[0].shape.rank == 0
        if scalar:
            segments = tuple(tf.reshape(s, [1]) for s in segments)
        return segments, scalar

    def _overflow_message(self, needed):
        return (
            f"a text needs {needed} tokens ([CLS], [SEP] included) but "
            f"sequence_length={self.sequence_length}"
        )

    def call(self, inputs):
        tf = _tf()
        segments, scalar = self._canonicalize(inputs)
        if tf.executing_eagerly():
            count = len(segments)
            if count not in self._functions:
                self._functions[count] = tf.function(
                    self._pack_graph,
                    input_signature=[tf.TensorSpec([None], tf.string)] * count,
                )
            features, needed = self._functions[count](*segments)
            needed = needed.numpy()
            over = needed > self.sequence_length
            if over.any() and self.on_overflow != "truncate":
                first = int(np.argmax(over))
                message = (
                    f"Text {first} of the batch: "
                    f"{self._overflow_message(int(needed[first]))}"
                )
                if self.on_overflow == "error":
                    raise SequenceTooLongError(
                        message + ". Shorten the text, raise sequence_length "
                        "(up to the encoder's max_sequence_length), or set "
                        "on_overflow='truncate'."
                    )
                logger.warning("%s; %d of %d texts truncated.", message,
                               int(over.sum()), len(needed))
            features = {k: keras.ops.convert_to_tensor(v.numpy())
                        for k, v in features.items()}
        else:
            features, needed = self._pack_graph(*segments)
            features = self._check_in_graph(features, needed)
        if scalar:
            features = {k: v[0] for k, v in features.items()}
        return features

    def _check_in_graph(self, features, needed):
        tf = _tf()
        if self.on_overflow == "truncate":
            return features
        longest = tf.reduce_max(tf.concat([needed, [0]], axis=0))
        if self.on_overflow == "error":
            check = tf.debugging.assert_less_equal(
                longest, tf.constant(self.sequence_length, longest.dtype),
                message=(
                    "SequenceTooLongError: a text needs more tokens than "
                    f"sequence_length={self.sequence_length}; shorten it, "
                    "raise sequence_length or set on_overflow='truncate'"),
            )
        else:
            sequence_length = self.sequence_length

            def log(value):
                logger.warning(
                    "A text needs %d tokens ([CLS], [SEP] included) but "
                    "sequence_length=%d; truncated.", int(value),
                    sequence_length)
                return np.int32(0)

            check = tf.cond(
                longest > self.sequence_length,
                lambda: tf.numpy_function(log, [longest], tf.int32,
                                          stateful=True),
                lambda: tf.constant(0, tf.int32),
            )
        with tf.control_dependencies([check]):
            return {k: tf.identity(v) for k, v in features.items()}

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update({
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
            "on_overflow": self.on_overflow,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = _deserialize(
            config["tokenizer"])
        return cls(**config)


def preprocessor_from_preset_config(preprocessing, assets):
    """Builds a `TextPreprocessor` from a preset's `preprocessing` mapping.

    Args:
        preprocessing: dict with `tokenizer` (`"wordpiece"` or
            `"sentencepiece"`), `vocabulary` (the name of an asset),
            `sequence_length` and the tokenizer's options (`lowercase`,
            `strip_accents`, ...), and optionally `on_overflow`.
        assets: dict asset name -> local path.

    Returns:
        `TextPreprocessor`.

    Raises:
        VocabularyError: an unknown tokenizer kind or a missing asset.
    """
    options = dict(preprocessing)
    kind = options.pop("tokenizer")
    vocabulary = options.pop("vocabulary", None)
    sequence_length = int(options.pop("sequence_length", 128))
    on_overflow = options.pop("on_overflow", "truncate")
    if vocabulary not in assets:
        raise VocabularyError(
            f"The preset's preprocessing names the vocabulary {vocabulary!r}"
            f", which is not one of its assets {sorted(assets)}."
        )
    if kind == "wordpiece":
        tokenizer = WordPieceTokenizer(str(assets[vocabulary]), **options)
    elif kind == "sentencepiece":
        tokenizer = SentencePieceTokenizer(str(assets[vocabulary]), **options)
    else:
        raise VocabularyError(
            f"Unknown tokenizer {kind!r}; expected 'wordpiece' or "
            "'sentencepiece'."
        )
    return TextPreprocessor(tokenizer, sequence_length=sequence_length,
                            on_overflow=on_overflow)


def _deserialize(spec):
    from zoo.registry import deserialize

    return deserialize(spec)
