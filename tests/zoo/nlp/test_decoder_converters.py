"""Decoder checkpoints of other libraries load into zoo decoders with their
outputs: Hugging Face `LlamaForCausalLM` and `GPT2LMHeadModel` directories
(random weights drawn by tests/data/make_decoder_reference.py, logits
computed once there with transformers), and keras-hub's GPT-2 and Llama
backbones built in the test."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

import zoo
from model_test_case import assert_close

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"
REFERENCE = json.loads((DATA / "decoder_reference.json").read_text())


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_decoder_reference", DATA / "make_decoder_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hf_directory(tmp_path, kind):
    from safetensors.numpy import save_file

    script = _script()
    directory = tmp_path / kind
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(script.CONFIGS[kind]))
    save_file(script.random_state_dict(kind), str(directory
                                                  / "model.safetensors"))
    return directory


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_hugging_face_decoder_directories_give_transformers_logits(
        tmp_path, kind):
    lm = zoo.from_preset(_hf_directory(tmp_path, kind))
    assert isinstance(lm, zoo.CausalLM)
    ids = np.asarray(REFERENCE["ids"], "int32")
    mask = np.asarray(REFERENCE["mask"], "int32")
    logits = lm.predict_on_batch({"token_ids": ids, "padding_mask": mask})
    for row, expected in enumerate(REFERENCE[kind]["logits"]):
        assert_close(logits[row, :len(expected)], np.asarray(expected),
                     atol=1e-4, what=f"{kind} row {row}")


def _keras_hub_backbones():
    import keras_hub

    gpt2 = keras_hub.models.GPT2Backbone(
        vocabulary_size=61, num_layers=2, num_heads=4, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=32, dropout=0.0)
    llama = keras_hub.models.LlamaBackbone(
        vocabulary_size=61, num_layers=2, num_query_heads=4,
        num_key_value_heads=2, hidden_dim=32, intermediate_dim=40,
        rope_max_wavelength=500, layer_norm_epsilon=1e-5)
    return {"gpt2": (gpt2, keras_hub.models.GPT2CausalLM),
            "llama": (llama, keras_hub.models.LlamaCausalLM)}


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_keras_hub_decoder_presets_give_keras_hubs_logits(tmp_path, kind):
    """A randomly initialised keras-hub backbone saved with
    `save_to_preset` loads as a zoo `CausalLM` with the counts and the
    logits (within 1e-4) of keras-hub's causal LM on it."""
    import keras

    keras.utils.set_random_seed(5)
    backbone, causal_lm = _keras_hub_backbones()[kind]
    for variable in backbone.weights:  # away from the initialisers' zeros
        if variable.path.endswith(("gamma", "scale", "beta", "bias")):
            variable.assign(np.random.default_rng(1).normal(
                1.0 if not variable.path.endswith(("beta", "bias")) else 0.0,
                0.1, variable.shape))
    reference = causal_lm(backbone=backbone, preprocessor=None)
    backbone.save_to_preset(str(tmp_path / kind))
    lm = zoo.from_preset(tmp_path / kind)
    assert isinstance(lm, zoo.CausalLM)
    assert lm.count_params() == reference.count_params()
    ids = np.asarray(REFERENCE["ids"], "int32")
    mask = np.asarray(REFERENCE["mask"], "int32")
    inputs = {"token_ids": ids, "padding_mask": mask}
    expected = keras.ops.convert_to_numpy(reference(inputs))
    got = lm.predict_on_batch(inputs)
    for row in range(2):
        real = int(mask[row].sum())
        assert_close(got[row, :real], expected[row, :real], atol=1e-4,
                     what=f"keras-hub {kind} row {row}")


@pytest.mark.one_backend
def test_hugging_face_tokenizer_json_and_chat_template_load(tmp_path):
    """A decoder directory's `tokenizer.json` (byte-level BPE) and
    `tokenizer_config.json` (special tokens, chat template) give the
    tokenizer `tokenizers` runs."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    directory = _hf_directory(tmp_path, "llama")
    reference = Tokenizer(models.BPE())
    reference.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    reference.train_from_iterator(
        ["Hello world, 2024 was a year.", "The cat sat on the mat."] * 8,
        BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                   initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                   show_progress=False))
    reference.save(str(directory / "tokenizer.json"))
    template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}"
                "</s>{% endfor %}{% if add_generation_prompt %}<s>assistant:"
                " {% endif %}")
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "chat_template": template}))
    config = json.loads((directory / "config.json").read_text())
    config["vocab_size"] = reference.get_vocab_size()
    (directory / "config.json").write_text(json.dumps(config))
    lm = zoo.from_preset(directory, load_weights=False)
    text = "Hello 2024 cats, the mat!"
    assert lm.tokenizer.encode(text) == reference.encode(text).ids
    assert lm.tokenizer.eos_token_id == reference.token_to_id("</s>")
    prompt = lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}])
    assert prompt == "<s>user: Hi</s><s>assistant: "
    assert lm.tokenizer.encode(prompt)[:1] == [reference.token_to_id("<s>")]


@pytest.mark.one_backend
def test_unconverted_tensors_and_options_are_named(tmp_path):
    from safetensors.numpy import save_file

    directory = _hf_directory(tmp_path, "llama")
    state = _script().random_state_dict("llama")
    state["model.layers.0.self_attn.q_proj.bias"] = np.zeros(32, "float32")
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(zoo.WeightsError,
                       match=r"'layers\.0\.self_attn\.q_proj\.bias' has no "
                             "counterpart"):
        zoo.from_preset(directory)
    config = dict(_script().CONFIGS["llama"],
                  rope_scaling={"rope_type": "llama3", "factor": 8.0})
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(zoo.WeightsError, match="rope_scaling"):
        zoo.from_preset(directory, load_weights=False)
