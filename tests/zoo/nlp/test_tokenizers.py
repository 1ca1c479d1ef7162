"""Tokenizers and packing: exact ids against Hugging Face `tokenizers`."""

import logging
import random

import numpy as np
import pytest
import tensorflow as tf

import zoo
from nlp_helpers import ENCODER_CONFIG, minilm_package_dir, train_sentencepiece
from zoo.nlp.tokenizers import longest_first_lengths

# Tokenizers run TensorFlow string ops whatever the Keras backend.
pytestmark = pytest.mark.one_backend

#: Accents, punctuation, CJK, emoji (with skin tones and joiners), very long
#: words, empty and blank strings, control and odd whitespace characters.
SENTENCES = [
    "Héllo, wörld! Ça va? naïve café résumé",
    "Don't stop-believing... (really) #1 $5.00 @home 50% a+b=c ~tilde~",
    "我爱北京天安门 and 東京タワー",
    "日本語のテキスト、カタカナ。 한국어 텍스트",
    "emoji 😀👍🏽 👨‍👩‍👧 ❤️ test 🤖",
    "a" * 150,
    "supercalifragilisticexpialidocious" * 3,
    "x" * 100,
    "ab" + "é" * 99,
    "",
    "   ",
    "\t\n",
    "ΟΔΟΣ Σ σ ς Άλφα ΆΈ",
    "İstanbul ß ﬁ ＡＢＣ１２３",
    "zero\u200bwidth nb\u00a0sp ideo\u3000space",
    "ctrl\x07char \ufffd repl",
    "Москва Ё ё",
    "œuvre Æsir Øre ℌ ℍ Ⅸ ①",
    "\u0301alone e\u0301 combined",
    "The Eiffel Tower is in Paris. Unaffable!",
]


@pytest.fixture(scope="module")
def hf_tokenizer():
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(
        str(minilm_package_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module")
def wordpiece():
    return zoo.WordPieceTokenizer(minilm_package_dir() / "vocab.txt",
                                  lowercase=True)


def test_uncased_ids_equal_hugging_face(hf_tokenizer, wordpiece):
    ids = wordpiece.tokenize(SENTENCES).to_list()
    for sentence, actual in zip(SENTENCES, ids):
        expected = hf_tokenizer.encode(sentence,
                                       add_special_tokens=False).ids
        assert actual == expected, sentence
    # Sanity: the set exercises unknown words and CJK splitting.
    assert ids[5] == [wordpiece.token_to_id("[UNK]")]
    assert len(ids[2]) >= 7


def test_cased_rules_equal_hugging_face(tiny_vocabulary):
    import tokenizers

    vocabulary = tiny_vocabulary + ["The", "Paris", "Tower", "é", "É",
                                    "##é", "cafe", "caf"]
    oracle = tokenizers.Tokenizer(tokenizers.models.WordPiece(
        {t: i for i, t in enumerate(vocabulary)}, unk_token="[UNK]"))
    oracle.normalizer = tokenizers.normalizers.BertNormalizer(
        lowercase=False)
    oracle.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    cased = zoo.WordPieceTokenizer(vocabulary, lowercase=False)
    texts = ["The Tower is in Paris.", "the tower", "café É é CAFÉ",
             "playing guitar!", ""]
    for text, ids in zip(texts, cased.tokenize(texts).to_list()):
        assert ids == oracle.encode(text, add_special_tokens=False).ids, text
    # Cased keeps accents and case: "é" is its own token here.
    assert cased.tokenize("é").numpy().tolist() == [vocabulary.index("é")]


def test_special_tokens_in_strings_like_hugging_face(hf_tokenizer):
    text = "The [MASK] token and [SEP] here"
    plain = zoo.WordPieceTokenizer(minilm_package_dir() / "vocab.txt")
    special = zoo.WordPieceTokenizer(minilm_package_dir() / "vocab.txt",
                                     special_tokens_in_strings=True)
    expected = hf_tokenizer.encode(text, add_special_tokens=False).ids
    assert special.tokenize(text).numpy().tolist() == expected
    assert 103 in expected  # [MASK]
    assert 103 not in plain.tokenize(text).numpy().tolist()


def test_same_ids_inside_tf_data(wordpiece):
    dataset = tf.data.Dataset.from_tensor_slices(SENTENCES).batch(4).map(
        wordpiece.tokenize)
    in_graph = [row for batch in dataset for row in batch.to_list()]
    assert in_graph == wordpiece.tokenize(SENTENCES).to_list()


def test_detokenize_joins_word_pieces(tiny_vocabulary):
    tokenizer = zoo.WordPieceTokenizer(tiny_vocabulary)
    ids = tokenizer.tokenize(["Unaffable playing!"])
    assert ids.to_list() == [[30, 31, 32, 9, 35]]
    text = tokenizer.detokenize(ids).numpy()[0].decode()
    assert text == "unaffable playing !"


def test_vocabulary_errors_name_the_problem(tmp_path, tiny_vocabulary):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(t for t in tiny_vocabulary if t != "[UNK]"))
    with pytest.raises(zoo.VocabularyError,
                       match=r"vocab.txt has no unknown_token '\[UNK\]'"):
        zoo.WordPieceTokenizer(path)
    with pytest.raises(zoo.VocabularyError, match="'the' appears twice"):
        zoo.WordPieceTokenizer(tiny_vocabulary + ["the"])


def test_vocabulary_that_does_not_fit_the_encoder(tiny_vocabulary_file):
    encoder = zoo.BertEncoder(**{**ENCODER_CONFIG, "vocabulary_size": 99})
    preprocessor = zoo.TextPreprocessor(
        zoo.WordPieceTokenizer(tiny_vocabulary_file), sequence_length=16)
    with pytest.raises(zoo.VocabularyError) as excinfo:
        zoo.TextClassifier(encoder, num_classes=2, preprocessor=preprocessor)
    message = str(excinfo.value)
    assert "vocab.txt" in message and "99" in message
    assert str(len(open(tiny_vocabulary_file).read().split())) in message


def test_preprocessor_longer_than_positions_is_refused(tiny_vocabulary):
    encoder = zoo.BertEncoder(**ENCODER_CONFIG)  # 32 positions
    preprocessor = zoo.TextPreprocessor(
        zoo.WordPieceTokenizer(tiny_vocabulary), sequence_length=64)
    with pytest.raises(zoo.SequenceTooLongError, match="64 tokens.*32"):
        zoo.TextClassifier(encoder, num_classes=2, preprocessor=preprocessor)


# --- packing ------------------------------------------------------------------


def test_pair_packing_layout(tiny_vocabulary):
    preprocessor = zoo.TextPreprocessor(
        zoo.WordPieceTokenizer(tiny_vocabulary), sequence_length=12)
    features = preprocessor((["the man plays"], ["a guitar !"]))
    np.testing.assert_array_equal(
        np.asarray(features["token_ids"])[0],
        [2, 5, 7, 12, 3, 6, 10, 35, 3, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(features["segment_ids"])[0],
                                  [0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(features["padding_mask"])[0],
                                  [1] * 9 + [0] * 3)
    single = preprocessor("the man")  # a scalar gives unbatched features
    np.testing.assert_array_equal(np.asarray(single["token_ids"]),
                                  [2, 5, 7, 3] + [0] * 8)


def _truncate_seq_pair(a, b, max_length):
    """The original BERT's rule (run_classifier.py), written out."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_length:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def test_longest_first_truncation_matches_bert(tiny_vocabulary):
    tokenizer = zoo.WordPieceTokenizer(tiny_vocabulary)
    words = tiny_vocabulary[5:28]
    rng = random.Random(0)
    firsts, seconds = [], []
    for _ in range(24):
        firsts.append(" ".join(rng.choice(words)
                               for _ in range(rng.randint(0, 14))))
        seconds.append(" ".join(rng.choice(words)
                                for _ in range(rng.randint(0, 14))))
    all_a = tokenizer.tokenize(firsts).to_list()
    all_b = tokenizer.tokenize(seconds).to_list()
    for length in (5, 8, 13):
        preprocessor = zoo.TextPreprocessor(tokenizer, sequence_length=length)
        features = preprocessor((firsts, seconds))
        token_ids = np.asarray(features["token_ids"])
        for row, (ids_a, ids_b) in enumerate(zip(all_a, all_b)):
            kept_a, kept_b = _truncate_seq_pair(ids_a, ids_b, length - 3)
            assert longest_first_lengths(
                [len(ids_a), len(ids_b)], length - 3) == [len(kept_a),
                                                          len(kept_b)]
            expected = [2] + kept_a + [3] + kept_b + [3]
            expected += [0] * (length - len(expected))
            assert token_ids[row].tolist() == expected


def test_overflow_warn_and_error(tiny_vocabulary, caplog):
    tokenizer = zoo.WordPieceTokenizer(tiny_vocabulary)
    long_text = "the man is playing a guitar today"  # 7 tokens
    warn = zoo.TextPreprocessor(tokenizer, sequence_length=6,
                                on_overflow="warn")
    with caplog.at_level(logging.WARNING, logger="zoo"):
        features = warn([long_text, "a man"])
    assert "needs 9 tokens" in caplog.text and "1 of 2" in caplog.text
    assert np.asarray(features["padding_mask"]).sum() == 6 + 4
    error = zoo.TextPreprocessor(tokenizer, sequence_length=6,
                                 on_overflow="error")
    with pytest.raises(zoo.SequenceTooLongError,
                       match="Text 1 of the batch.*9 tokens.*=6"):
        error(["a man", long_text])
    error(["a man"])  # fits: no error
    dataset = tf.data.Dataset.from_tensor_slices([long_text]).batch(1).map(
        error)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="SequenceTooLongError"):
        list(dataset)
    silent = zoo.TextPreprocessor(tokenizer, sequence_length=6)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo"):
        silent([long_text])
    assert caplog.text == ""


# --- SentencePiece --------------------------------------------------------------


def test_sentencepiece_ids_equal_the_library_and_pack():
    import sentencepiece

    corpus = ["the quick brown fox jumps over the lazy dog",
              "a man is playing a guitar", "someone plays an instrument",
              "the stock market fell today"] * 20
    proto = train_sentencepiece(corpus)
    oracle = sentencepiece.SentencePieceProcessor(model_proto=proto)
    tokenizer = zoo.SentencePieceTokenizer(proto)
    texts = ["the man plays a fox", "quick dog!", ""]
    assert tokenizer.tokenize(texts).to_list() == [oracle.encode(t)
                                                   for t in texts]
    assert tokenizer.vocabulary_size() == oracle.get_piece_size()
    packed = zoo.TextPreprocessor(tokenizer, sequence_length=12)(
        ("the man", "a fox"))
    ids = np.asarray(packed["token_ids"]).tolist()
    cls, sep = oracle.piece_to_id("[CLS]"), oracle.piece_to_id("[SEP]")
    expected = ([cls] + oracle.encode("the man") + [sep]
                + oracle.encode("a fox") + [sep])
    assert ids[:len(expected)] == expected
    assert set(ids[len(expected):]) <= {oracle.piece_to_id("<pad>")}
