"""The causal_lm experiment: packed text, chats with the prompt masked,
LoRA from the config, and a tiny decoder whose loss falls on a text
file."""

import json

import numpy as np
import pytest

import training
from training.config.base import ConfigError
from training.data.text import IGNORE_LABEL
from training.registry import get_task
from training.tasks.causal_lm import chat_rows, pack_documents, tfds_documents
from zoo.nlp.bpe import BytePairTokenizer

LINES = ["the cat sat on the mat", "a dog ran in the park",
         "the cat and the dog", "one two three four five"]


def _tokenizer_files(directory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(
        LINES * 4, BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                              initial_alphabet=(
                                  pre_tokenizers.ByteLevel.alphabet()),
                              show_progress=False))
    data = json.loads(tokenizer.to_str())
    (directory / "vocab.json").write_text(json.dumps(data["model"]["vocab"]))
    merges = [m if isinstance(m, str) else " ".join(m)
              for m in data["model"]["merges"]]
    (directory / "merges.txt").write_text("\n".join(merges) + "\n")
    return len(data["model"]["vocab"])


@pytest.mark.one_backend
def test_documents_pack_into_rows_with_shifted_labels():
    tokens, labels = pack_documents([[1, 2, 3], [4, 5]], seq_length=3,
                                    end_token_id=0)
    # stream 1 2 3 0 4 5 0: rows of 3 inputs, labels one ahead.
    np.testing.assert_array_equal(tokens, [[1, 2, 3], [0, 4, 5]])
    np.testing.assert_array_equal(labels, [[2, 3, 0], [4, 5, 0]])
    tokens, labels = pack_documents([[1, 2, 3, 4]], seq_length=3,
                                    end_token_id=0)
    np.testing.assert_array_equal(tokens, [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(labels, [[2, 3, 4], [0, IGNORE_LABEL,
                                                       IGNORE_LABEL]])


@pytest.mark.one_backend
def test_chat_rows_learn_the_answer_only():
    letters = [chr(c) for c in range(97, 123)]
    tokenizer = BytePairTokenizer(
        letters + ["<u>", "<a>", "<e>"], [],
        special_tokens=["<u>", "<a>", "<e>"], eos_token_id=28,
        chat_template=("{% for m in messages %}<{{ m['role'][0] }}>"
                       "{{ m['content'] }}<e>{% endfor %}"
                       "{% if add_generation_prompt %}<a>{% endif %}"))
    chat = [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo"}]
    tokens, labels, truncated = chat_rows([chat], tokenizer, 12, 28)
    ids = tokenizer.encode("<u>hi<e><a>yo<e>")
    assert tokens[0, :len(ids) - 1].tolist() == ids[:-1]
    # Labels: nothing for "<u>hi<e><a>"'s next tokens but the answer's.
    learned = [(i, t) for i, t in enumerate(labels[0]) if t != IGNORE_LABEL]
    assert [t for _, t in learned] == tokenizer.encode("yo<e>")
    assert truncated == 0
    _, _, truncated = chat_rows([chat], tokenizer, 4, 28)
    assert truncated == 1


def test_a_tiny_decoder_learns_a_text_file(tmp_path):
    size = _tokenizer_files(tmp_path)
    (tmp_path / "train.txt").write_text("\n".join(LINES * 6) + "\n")
    data = {"input_path": str(tmp_path / "train.txt"), "seq_length": 16,
            "global_batch_size": 4}
    config = training.get_experiment("causal_lm")
    config.override({
        "task": {"model": {
            "name": "smollm2_135m",
            "arguments": {"num_layers": 2, "hidden_size": 32,
                          "intermediate_size": 64, "num_heads": 4,
                          "num_key_value_heads": 2, "vocabulary_size": size,
                          "max_sequence_length": 32},
            "tokenizer": {"vocabulary": str(tmp_path / "vocab.json"),
                          "merges": str(tmp_path / "merges.txt")}},
            "train_data": data, "validation_data": data},
        "trainer": {"train_steps": 60, "steps_per_loop": 20,
                    "summary_interval": 20, "checkpoint_interval": 60,
                    "validation_interval": 20,
                    "optimizer_config": {
                        "learning_rate": {"polynomial": {
                            "initial_learning_rate": 1e-2,
                            "decay_steps": 60}},
                        "warmup": {"linear": {"warmup_steps": 5}}}}})
    model_dir = tmp_path / "run"
    results = training.run_experiment(config, "train_and_eval",
                                      str(model_dir))
    import csv

    with open(model_dir / "metrics.csv") as f:
        losses = [float(r["val_loss"]) for r in csv.DictReader(f)]
    assert len(losses) == 3 and losses[-1] < 0.5 * losses[0], losses
    assert results["accuracy"] > 0.5


def _tiny_llama(tmp_path, size):
    return {"name": "smollm2_135m",
            "arguments": {"num_layers": 1, "hidden_size": 16,
                          "intermediate_size": 32, "num_heads": 2,
                          "num_key_value_heads": 1, "vocabulary_size": size,
                          "max_sequence_length": 32},
            "tokenizer": {"vocabulary": str(tmp_path / "vocab.json"),
                          "merges": str(tmp_path / "merges.txt")}}


@pytest.mark.one_backend
def test_a_tfds_text_set_is_packed_into_rows(tmp_path):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    size = _tokenizer_files(tmp_path)
    tfds.dataset_builders.store_as_tfds_dataset(
        name="zoo_tiny_text", version="1.0.0", data_dir=str(tmp_path / "tfds"),
        split_datasets={"train": tf.data.Dataset.from_tensor_slices(
            {"body": LINES + [" "]})},
        features=tfds.features.FeaturesDict(
            {"body": tfds.features.Text()}))
    config = training.get_experiment("causal_lm")
    config.override({"task": {"model": _tiny_llama(tmp_path, size)}})
    task = get_task(config.task)
    data = type(config.task.train_data)(
        tfds_name="zoo_tiny_text", tfds_split="train",
        tfds_data_dir=str(tmp_path / "tfds"), tfds_text_key="body",
        seq_length=8)
    # TFDS shuffles examples when it writes them: the same documents (the
    # blank one dropped), packed in the order the set gives them.
    documents = tfds_documents(data, "task.train_data")
    assert sorted(documents) == sorted(LINES)
    tokens, labels = task.rows(data)
    expected = pack_documents([task.tokenizer.encode(d) for d in documents],
                              8, task.tokenizer.eos_token_id)
    assert tokens.shape[0] > 2
    np.testing.assert_array_equal(tokens, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
    with pytest.raises(ConfigError, match="no feature 'text'"):
        task.rows(type(config.task.train_data)(
            tfds_name="zoo_tiny_text", tfds_split="train",
            tfds_data_dir=str(tmp_path / "tfds"), seq_length=8))
    with pytest.raises(ConfigError, match="zoo never downloads"):
        task.rows(type(config.task.train_data)(
            tfds_name="zoo_tiny_text", tfds_data_dir=str(tmp_path / "none"),
            seq_length=8))


@pytest.mark.one_backend
def test_lora_from_the_config_and_bad_configs(tmp_path):
    size = _tokenizer_files(tmp_path)
    config = training.get_experiment("causal_lm")
    config.override({"task": {"model": {
        "name": "gpt2_base",
        "arguments": {"num_layers": 1, "hidden_size": 16, "num_heads": 2,
                      "vocabulary_size": size},
        "tokenizer": {"vocabulary": str(tmp_path / "vocab.json"),
                      "merges": str(tmp_path / "merges.txt")},
        "lora": {"rank": 2}}}})
    model = get_task(config.task).build_model()
    # q, k, v, o 16x16 and the MLP 16x64, 64x16: rank 2 each.
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == (
        2 * (4 * 32 + 2 * 80))
    with pytest.raises(ConfigError, match="set one of preset"):
        config.override({"task.model.preset": "smollm2_135m_instruct"})
        config.validate_all()


@pytest.mark.one_backend  # the merge itself: tests/zoo/nlp/test_decoders.py
def test_the_best_export_of_a_lora_run_is_merged_with_its_tokenizer(
        tmp_path):
    import zoo
    from training.tasks.causal_lm import LORA_FILE
    from training.trainer import Trainer

    size = _tokenizer_files(tmp_path)
    (tmp_path / "train.txt").write_text("\n".join(LINES * 2) + "\n")
    data = {"input_path": str(tmp_path / "train.txt"), "seq_length": 8,
            "global_batch_size": 4}
    config = training.get_experiment("causal_lm")
    model = _tiny_llama(tmp_path, size)
    model["lora"] = {"rank": 2}
    config.override({
        "task": {"model": model, "train_data": data,
                 "validation_data": data},
        "trainer": {"train_steps": 4, "steps_per_loop": 4,
                    "summary_interval": 4, "checkpoint_interval": 4,
                    "validation_interval": 4,
                    "optimizer_config": {"learning_rate": {"polynomial": {
                        "initial_learning_rate": 1e-2, "decay_steps": 4}},
                        "warmup": {"linear": {"warmup_steps": 0}}}}})
    trainer = Trainer(config, str(tmp_path / "run"))
    trainer.train(evaluate=True)
    trained = trainer.model
    best = tmp_path / "run" / "best"
    exported = zoo.from_preset(str(best / "preset"))
    # A plain decoder (no LoRA left, every weight its own) with the run's
    # tokenizer, giving the adapted model's logits.
    assert not any(getattr(layer, "lora_enabled", False)
                   for layer in exported.backbone.lora_layers())
    assert len(exported.trainable_weights) == len(exported.weights)
    assert exported.tokenizer.encode(LINES[0]) == (
        trained.tokenizer.encode(LINES[0]))
    ids = np.asarray([trained.tokenizer.encode(LINES[1])[:6]], "int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    np.testing.assert_allclose(
        np.asarray(exported.predict_on_batch(inputs)),
        np.asarray(trained.predict_on_batch(inputs)), atol=1e-5)
    factors = np.load(best / LORA_FILE)
    state = trained.backbone.lora_state()
    assert sorted(factors.files) == sorted(state) and state
    for name, value in state.items():
        np.testing.assert_array_equal(factors[name], value)
    assert (np.abs(factors[next(n for n in state if "lora_kernel_b" in n)])
            .max() > 0), "the LoRA factors did not train"
