"""Decoders on tiny random models: grouped-query and rotary attention,
cached against uncached generation, left-padded batches, the GGUF reader
and converter on files written here, and byte-level BPE against Hugging
Face `tokenizers` on a vocabulary trained in the test."""

import json

import keras
import numpy as np
import pytest

import zoo
from model_test_case import assert_close
from zoo.errors import VocabularyError, WeightsError
from zoo.layers.attention import MultiHeadAttention, rotary_embedding
from zoo.nlp.bpe import BytePairTokenizer
from zoo.nlp.decoders.causal_lm import CausalLM
from zoo.nlp.decoders.llama import LlamaBackbone

TINY = dict(vocabulary_size=97, num_layers=2, hidden_size=32,
            intermediate_size=48, num_heads=4, num_key_value_heads=2,
            rope_max_wavelength=500.0, max_sequence_length=48,
            norm_epsilon=1e-5, tie_word_embeddings=True)
CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Numbers: 12345, 3.14159 and 2026-12-04; don't, won't, it's.",
    "Héllo wörld, naïve café! 我爱北京天安门. Ωμέγα.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "<|im_start|>user\nHi there<|im_end|>\n",
]


@pytest.fixture(scope="module")
def tiny_lm():
    keras.utils.set_random_seed(7)
    return CausalLM(LlamaBackbone(**TINY))


def test_rotary_embedding_is_the_half_split_rotation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3, 8)).astype("float32")
    positions = np.array([[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]])
    half = 4
    inverse = 100.0 ** (-np.arange(half) * 2.0 / 8)
    angles = positions[:, :, None] * inverse  # [b, t, half]
    cos = np.cos(np.concatenate([angles, angles], -1))[:, :, None]
    sin = np.sin(np.concatenate([angles, angles], -1))[:, :, None]
    rotated = np.concatenate([-x[..., half:], x[..., :half]], -1)
    expected = x * cos + rotated * sin
    assert_close(rotary_embedding(x, positions, 100.0), expected, atol=1e-5,
                 what="rotary")


@pytest.mark.parametrize("kv_heads", [2, 1])
def test_grouped_query_attention_is_multi_head_with_shared_heads(kv_heads):
    """Two key/value heads (or one: multi-query) shared by four query heads
    equal four-head attention whose key and value heads repeat in
    groups."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 16)).astype("float32")
    grouped = MultiHeadAttention(4, num_key_value_heads=kv_heads,
                                 use_bias=False, rotary_max_wavelength=100.0)
    grouped.build((None, None, 16))
    full = MultiHeadAttention(4, use_bias=False, rotary_max_wavelength=100.0)
    full.build((None, None, 16))
    for layer in (grouped.query_dense, grouped.key_dense,
                  grouped.value_dense, grouped.output_dense):
        layer.kernel.assign(rng.normal(size=layer.kernel.shape) * 0.3)

    def repeat(kernel):  # [16, kv * 4] -> [16, 4 * 4], heads 0 0 1 1
        heads = np.asarray(kernel).reshape(16, kv_heads, 4)
        return np.repeat(heads, 4 // kv_heads, axis=1).reshape(16, 16)

    full.query_dense.kernel.assign(grouped.query_dense.kernel)
    full.key_dense.kernel.assign(repeat(grouped.key_dense.kernel))
    full.value_dense.kernel.assign(repeat(grouped.value_dense.kernel))
    full.output_dense.kernel.assign(grouped.output_dense.kernel)
    causal = np.tril(np.ones((6, 6), bool))[None].repeat(2, 0)
    assert_close(grouped(x, attention_mask=causal),
                 full(x, attention_mask=causal), atol=1e-5, what="GQA")
    # The explicit-probabilities path (attention dropout) agrees too.
    assert_close(grouped(x, attention_mask=causal, training=True),
                 full(x, attention_mask=causal), atol=1e-5,
                 what="GQA, unfused")


def test_cached_greedy_is_uncached_recomputation(tiny_lm):
    """Prompts of different lengths, left-padded into one batch: the cache
    gives exactly the ids of recomputing the whole sequence every step,
    and each row those of its prompt alone."""
    prompts = [[5, 9, 13, 2, 40, 41, 7], [60, 3], [11, 12, 13, 14]]
    cached = tiny_lm.generate(prompts, max_new_tokens=8, return_ids=True,
                              stop_token_ids=[])
    uncached = tiny_lm.generate(prompts, max_new_tokens=8, return_ids=True,
                                stop_token_ids=[], use_cache=False)
    assert cached == uncached
    assert all(len(row) == 8 for row in cached)
    alone = tiny_lm.generate([prompts[1]], max_new_tokens=8,
                             return_ids=True, stop_token_ids=[])
    assert alone[0] == cached[1]


def test_cached_logits_equal_the_full_forward_pass(tiny_lm):
    """The prompt's last logits through the cache (prefill, then one step)
    equal the functional model's."""
    ids = np.array([[4, 8, 15, 16, 23, 42]], "int32")
    full = tiny_lm.predict_on_batch({"token_ids": ids,
                                     "padding_mask": np.ones_like(ids)})
    backbone = tiny_lm.backbone
    cache = backbone.empty_cache(1, 10)
    pads = keras.ops.zeros((1,), "int32")
    positions, mask = tiny_lm._step_inputs(pads, 0, 5, 10)
    _, cache = backbone.call_with_cache(ids[:, :5], cache, 0, positions, mask)
    positions, mask = tiny_lm._step_inputs(pads, 5, 1, 10)
    step, _ = backbone.call_with_cache(ids[:, 5:], cache, 5, positions, mask)
    assert_close(step[:, 0], full[:, 5], atol=1e-5, what="cached logits")


def test_sampling_is_seeded_and_beam_search_runs():
    # One block: each sampler compiles a loop of its own (TensorFlow
    # traces every layer).
    keras.utils.set_random_seed(7)
    tiny_lm = CausalLM(LlamaBackbone(**{**TINY, "num_layers": 1}))
    prompts = [[5, 9, 13], [7, 1, 2]]
    kwargs = dict(max_new_tokens=6, return_ids=True, stop_token_ids=[])
    a = tiny_lm.generate(prompts, sampler="top_k", top_k=5, seed=1, **kwargs)
    b = tiny_lm.generate(prompts, sampler="top_k", top_k=5, seed=1, **kwargs)
    c = tiny_lm.generate(prompts, sampler="top_k", top_k=5, seed=2, **kwargs)
    assert a == b and a != c
    beams = tiny_lm.generate(prompts, sampler="beam", num_beams=3, **kwargs)
    greedy = tiny_lm.generate(prompts, **kwargs)
    assert [len(r) for r in beams] == [6, 6]
    one_beam = tiny_lm.generate(prompts, sampler="beam", num_beams=1,
                                **kwargs)
    assert one_beam == greedy


def test_untied_head_and_bad_arguments():
    untied = LlamaBackbone(**{**TINY, "tie_word_embeddings": False,
                              "num_layers": 1})
    assert untied.lm_head is not None
    lm = CausalLM(untied)
    ids = np.ones((1, 3), "int32")
    out = lm.predict_on_batch({"token_ids": ids, "padding_mask": ids})
    assert out.shape == (1, 3, 97)
    tied = LlamaBackbone(**{**TINY, "num_layers": 1})
    assert lm.count_params() == untied.count_params() == (
        tied.count_params() + 32 * 97)
    with pytest.raises(ValueError, match="num_heads=4 is not a multiple of "
                                         "num_key_value_heads=3"):
        LlamaBackbone(**{**TINY, "num_key_value_heads": 3})


# --- byte-level BPE against Hugging Face tokenizers ---------------------------


def _trained_tokenizer(digits):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.pre_tokenizer = (pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), byte_level])
        if digits else byte_level)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=420, special_tokens=["<|endoftext|>", "<|im_start|>",
                                        "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    data = json.loads(tokenizer.to_str())
    vocab = data["model"]["vocab"]
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    for added in data["added_tokens"]:
        tokens[added["id"]] = added["content"]
    merges = [m if isinstance(m, str) else " ".join(m)
              for m in data["model"]["merges"]]
    ours = BytePairTokenizer(
        tokens, merges,
        special_tokens=[a["content"] for a in data["added_tokens"]],
        pre_tokenizer="smollm" if digits else "gpt2", eos_token_id=0)
    return tokenizer, ours


@pytest.mark.one_backend
@pytest.mark.parametrize("digits", [False, True])
def test_byte_level_bpe_ids_are_tokenizers(digits):
    reference, ours = _trained_tokenizer(digits)
    texts = CORPUS + ["  leading spaces and\ttabs\n\nnewlines  ",
                      "unseen: zyxwv 98765 ¿qué? 🙂",
                      "<|im_start|>assistant\nSure.<|im_end|><|endoftext|>",
                      ""]
    for text in texts:
        expected = reference.encode(text).ids
        assert ours.encode(text) == expected, text
        assert ours.decode(expected) == reference.decode(
            expected, skip_special_tokens=False), text


@pytest.mark.one_backend
def test_chat_templates_render_in_the_sandbox():
    tokenizer = BytePairTokenizer(
        ["a"], [], chat_template=(
            "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n"
            "{% endfor %}{% if add_generation_prompt %}<assistant>"
            "{% endif %}"))
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text == "<user>Hi\n<assistant>"
    from jinja2.exceptions import SecurityError

    evil = BytePairTokenizer(["a"], [], chat_template=(
        "{{ messages.__class__.__mro__[1].__subclasses__() }}"))
    with pytest.raises(SecurityError):
        evil.apply_chat_template([])


# --- GGUF files written here ----------------------------------------------------


def _llama_cpp_permute(weight, heads):
    """llama.cpp's `convert_hf_to_gguf.py` row order of q/k projections."""
    return (weight.reshape(heads, 2, weight.shape[0] // heads // 2,
                           *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _write_gguf(path, model, architecture="llama", tensor_type=None):
    import gguf

    b = model.backbone
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(b.num_layers)
    writer.add_context_length(b.max_sequence_length)
    writer.add_embedding_length(b.hidden_size)
    writer.add_feed_forward_length(b.intermediate_size)
    writer.add_head_count(b.num_heads)
    writer.add_head_count_kv(b.num_key_value_heads)
    writer.add_rope_freq_base(b.rope_max_wavelength)
    writer.add_layer_norm_rms_eps(b.norm_epsilon)
    writer.add_vocab_size(b.vocabulary_size)
    writer.add_tokenizer_model("gpt2")
    tokens = ["tt"] + [f"t{i}" for i in range(1, b.vocabulary_size - 1)]
    writer.add_token_list(tokens + ["t"])
    writer.add_token_merges(["t t"])
    writer.add_token_types([1] * b.vocabulary_size)
    writer.add_eos_token_id(1)

    def w(layer):
        return np.asarray(b.get_layer(layer).kernel).T

    arrays = {"token_embd.weight": np.asarray(
        b.token_embedding.embeddings),
        "output_norm.weight": np.asarray(b.get_layer("final_norm").scale)}
    for i, block in enumerate(b.transformer_layers):
        att = block.attention
        arrays.update({
            f"blk.{i}.attn_norm.weight": np.asarray(
                block.attention_norm.scale),
            f"blk.{i}.ffn_norm.weight": np.asarray(
                block.feed_forward_norm.scale),
            f"blk.{i}.attn_q.weight": _llama_cpp_permute(
                np.asarray(att.query_dense.kernel).T, b.num_heads),
            f"blk.{i}.attn_k.weight": _llama_cpp_permute(
                np.asarray(att.key_dense.kernel).T, b.num_key_value_heads),
            f"blk.{i}.attn_v.weight": np.asarray(att.value_dense.kernel).T,
            f"blk.{i}.attn_output.weight": np.asarray(
                att.output_dense.kernel).T,
            f"blk.{i}.ffn_gate.weight": np.asarray(
                block.feed_forward_gate.kernel).T,
            f"blk.{i}.ffn_up.weight": np.asarray(
                block.feed_forward_intermediate.kernel).T,
            f"blk.{i}.ffn_down.weight": np.asarray(
                block.feed_forward_output.kernel).T,
        })
    for name, array in arrays.items():
        array = np.ascontiguousarray(array, dtype="float32")
        if tensor_type is not None and name == "blk.0.ffn_up.weight":
            rows, cols = array.shape
            size = gguf.GGML_QUANT_SIZES[tensor_type]
            raw = np.zeros((rows, cols // size[0] * size[1]), "uint8")
            writer.add_tensor(name, raw, raw_dtype=tensor_type)
            continue
        if name.endswith("ffn_down.weight"):  # one half-precision tensor
            writer.add_tensor(name, array.astype("float16"))
            continue
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_round_trip_gives_the_same_logits(tiny_lm, tmp_path):
    """A tiny model written as llama.cpp writes one (q and k rows
    permuted, one float16 tensor) loads with its logits."""
    from zoo.convert.gguf import load_causal_lm

    path = _write_gguf(tmp_path / "tiny.gguf", tiny_lm)
    loaded = load_causal_lm(path)
    assert loaded.backbone.num_key_value_heads == 2
    assert loaded.count_params() == tiny_lm.count_params()
    ids = np.array([[3, 1, 4, 1, 5, 9, 2, 6]], "int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    # ffn_down went through float16: the logits agree to its precision.
    assert_close(loaded.predict_on_batch(inputs),
                 tiny_lm.predict_on_batch(inputs), atol=2e-3,
                 what="GGUF logits")
    assert loaded.tokenizer.encode("ttt") == [0, 96]


def test_gguf_refuses_unknown_architectures_and_types(tiny_lm, tmp_path):
    import gguf

    from zoo.nlp.gguf import GGUFFile

    mamba = _write_gguf(tmp_path / "mamba.gguf", tiny_lm,
                        architecture="mamba")
    with pytest.raises(WeightsError, match="architecture 'mamba' is not one"):
        GGUFFile(mamba)
    unsupported = _write_gguf(tmp_path / "q8_1.gguf", tiny_lm,
                          tensor_type=gguf.GGMLQuantizationType.Q8_1)
    with pytest.raises(WeightsError, match=r"\['Q8_1'\] are not dequantised"):
        GGUFFile(unsupported)
    with pytest.raises(WeightsError, match="not a readable GGUF file"):
        GGUFFile(_not_gguf(tmp_path))


def _not_gguf(tmp_path):
    path = tmp_path / "text.gguf"
    path.write_text("not a gguf file")
    return path


# --- GPT-2 ---------------------------------------------------------------------


@pytest.mark.one_backend
def test_gpt2_base_has_keras_hubs_count(monkeypatch):
    from testing_utils import zero_host_initializers

    zero_host_initializers(monkeypatch)
    # keras-hub's gpt2_base_en (and Hugging Face's GPT2Model) count.
    backbone = zoo.create_model("gpt2_base", task=None)
    assert backbone.count_params() == 124_439_808


def test_gpt2_caches_its_learned_positions():
    keras.utils.set_random_seed(3)
    lm = zoo.create_model("gpt2_base", num_layers=2, hidden_size=32,
                          num_heads=4, vocabulary_size=90,
                          max_sequence_length=32, dropout=0.0)
    prompts = [[5, 9, 13, 2, 40, 41], [60, 3]]
    cached = lm.generate(prompts, max_new_tokens=6, stop_token_ids=[])
    assert cached == lm.generate(prompts, max_new_tokens=6,
                                 stop_token_ids=[], use_cache=False)
    assert cached[1] == lm.generate([prompts[1]], max_new_tokens=6,
                                    stop_token_ids=[])[0]


@pytest.mark.one_backend
def test_gpt2_takes_a_vocabulary_and_merges(tmp_path):
    reference, ours = _trained_tokenizer(digits=False)
    data = json.loads(reference.to_str())
    vocab = {**data["model"]["vocab"],
             **{a["content"]: a["id"] for a in data["added_tokens"]}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    merges = [m if isinstance(m, str) else " ".join(m)
              for m in data["model"]["merges"]]
    (tmp_path / "merges.txt").write_text("#version: 0.2\n"
                                         + "\n".join(merges) + "\n")
    lm = zoo.create_model("gpt2_base", num_layers=1, hidden_size=16,
                          num_heads=2, vocabulary_size=len(vocab),
                          vocabulary=tmp_path / "vocab.json",
                          merges=tmp_path / "merges.txt")
    text = "The quick brown fox, 3.14!"
    assert lm.tokenizer.encode(text) == reference.encode(text).ids
    assert lm.tokenizer.eos_token_id == vocab["<|endoftext|>"]
    assert isinstance(lm.generate([text], max_new_tokens=3)[0], str)


def test_the_tokenizer_travels_in_presets_and_keras_files(tmp_path):
    _, ours = _trained_tokenizer(digits=True)
    ours.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}"
                          "\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    keras.utils.set_random_seed(3)
    lm = CausalLM(LlamaBackbone(**{**TINY, "num_layers": 1,
                                   "vocabulary_size": ours.vocabulary_size()}),
                  tokenizer=ours)
    lm.backbone.enable_lora(rank=2)
    ids = np.asarray([ours.encode(CORPUS[0])[:8]], "int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    expected = np.asarray(lm.predict_on_batch(inputs))
    lm.save(tmp_path / "lm.keras")
    lm.save_to_preset(tmp_path / "preset")
    for loaded in (keras.saving.load_model(tmp_path / "lm.keras"),
                   zoo.from_preset(str(tmp_path / "preset"))):
        assert loaded.tokenizer.get_config() == ours.get_config()
        for text in CORPUS:
            assert loaded.tokenizer.encode(text) == ours.encode(text)
        assert any(layer.lora_enabled
                   for layer in loaded.backbone.lora_layers())
        np.testing.assert_allclose(
            np.asarray(loaded.predict_on_batch(inputs)), expected, atol=1e-6)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "tokenizer.json").write_text('{"tokens": []}')
    with pytest.raises(VocabularyError, match="not a zoo byte-level BPE"):
        BytePairTokenizer.load(tmp_path / "bad")


# --- training and LoRA ------------------------------------------------------


def _sequences(count=32, length=12, vocabulary=97, seed=0):
    """Token rows following a fixed rule (next = 3 * token + 1 mod V), so
    a small decoder can learn them."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((count, length), "int32")
    rows[:, 0] = rng.integers(0, vocabulary, count)
    for t in range(1, length):
        rows[:, t] = (3 * rows[:, t - 1] + 1) % vocabulary
    return {"token_ids": rows, "padding_mask": np.ones_like(rows)}


def test_fit_without_labels_learns_the_next_token():
    keras.utils.set_random_seed(11)
    lm = CausalLM(LlamaBackbone(**TINY))
    data = _sequences()
    lm.compile(optimizer=keras.optimizers.Adam(1e-2))
    first = lm.evaluate(data, batch_size=16, verbose=0)
    lm.fit(data, batch_size=16, epochs=40, verbose=0)
    last = lm.evaluate(data, batch_size=16, verbose=0)
    # ln(97) = 4.57 at the start; the rule is learned to a small fraction.
    assert last < 0.05 * first, (first, last)
    # A loss mask of zeros on the first half learns nothing there.
    masked = dict(data, loss_mask=np.concatenate(
        [np.zeros((32, 6), "int32"), np.ones((32, 6), "int32")], axis=1))
    assert np.isfinite(lm.evaluate(masked, batch_size=16, verbose=0))


def test_lora_trains_only_its_factors_and_merges():
    keras.utils.set_random_seed(12)
    lm = CausalLM(LlamaBackbone(**TINY))
    base = {v.path: np.asarray(v).copy() for v in lm.weights}
    lm.generate([[5, 16, 49]], max_new_tokens=4, stop_token_ids=[])
    added = lm.backbone.enable_lora(rank=4)
    # rank * (in + out) per projection: q, o 32x32; k, v 32x16; gate, up
    # 32x48; down 48x32; two blocks.
    per_block = 4 * ((32 + 32) * 2 + (32 + 16) * 2 + (32 + 48) * 3)
    assert added == 2 * per_block
    trainable = sum(int(np.prod(v.shape)) for v in lm.trainable_weights)
    assert trainable == added
    data = _sequences()
    lm.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = lm.evaluate(data, batch_size=16, verbose=0)
    lm.fit(data, batch_size=16, epochs=5, verbose=0)
    assert lm.evaluate(data, batch_size=16, verbose=0) < before
    for v in lm.weights:
        if "lora_kernel" not in v.path:
            np.testing.assert_array_equal(np.asarray(v), base[v.path],
                                          err_msg=v.path)
    assert set(lm.backbone.lora_state()) == {
        v.path for v in lm.weights if "lora_kernel" in v.path}
    # Generation after fine-tuning uses the trained factors (a loop
    # compiled before enable_lora would not).
    prompt = [[5, 16, 49]]
    assert lm.generate(prompt, max_new_tokens=4, stop_token_ids=[]) == (
        lm.merge_lora().generate(prompt, max_new_tokens=4,
                                 stop_token_ids=[]))
    merged = lm.merge_lora()
    assert sum(int(np.prod(v.shape)) for v in merged.weights) == sum(
        int(np.prod(b.shape)) for b in base.values())
    inputs = {k: v[:4] for k, v in data.items()}
    assert_close(merged.predict_on_batch(inputs), lm.predict_on_batch(inputs),
                 atol=1e-4, what="merged LoRA")


def test_int8_quantized_decoder_keeps_its_logits():
    """Keras' `quantize("int8")` (per-row embedding scales included in the
    tied head) changes the logits by the quantisation error only."""
    keras.utils.set_random_seed(13)
    lm = CausalLM(LlamaBackbone(**{**TINY, "num_layers": 1}))
    ids = np.array([[5, 9, 13, 2, 40, 7]], "int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    before = lm.predict_on_batch(inputs)
    lm.quantize("int8")
    assert lm.backbone.token_embedding.embeddings.dtype == "int8"
    after = lm.predict_on_batch(inputs)
    assert np.abs(after - before).max() < 0.02 * np.abs(before).max()
    cached = lm.generate([[5, 9]], max_new_tokens=3, stop_token_ids=[],
                         return_ids=True)
    assert len(cached[0]) == 3
    # The dequantized head, made once per call, gives the ids of the
    # uncached loop, which makes it at every step.
    assert cached == lm.generate([[5, 9]], max_new_tokens=3,
                                 stop_token_ids=[], return_ids=True,
                                 use_cache=False)
