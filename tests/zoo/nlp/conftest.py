"""Fixtures of the NLP tests."""

import pytest

from nlp_helpers import TINY_VOCABULARY


@pytest.fixture
def tiny_vocabulary():
    return list(TINY_VOCABULARY)


@pytest.fixture
def tiny_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCABULARY) + "\n", encoding="utf-8")
    return path
