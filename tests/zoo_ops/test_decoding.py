"""Decoding: exact beam search, sampling filters, greedy loop, masks."""

import itertools

import numpy as np
import pytest
from keras import ops

import zoo_ops
from ops_test_helpers import to_numpy

VOCAB, EOS, PAD = 4, 3, 0


def _table(seed=0, length=8):
    rng = np.random.default_rng(seed)
    # Logits depend on (position, previous token, running token sum mod 3).
    return rng.normal(0, 1.5, (length, VOCAB, 3, VOCAB)).astype("float32")


def _log_softmax(x):
    x = x.astype(np.float64)
    return x - np.log(np.exp(x - x.max()).sum()) - x.max()


def _brute_force(prompt, table, steps, alpha):
    """Every continuation: stops at EOS or after `steps` tokens."""
    results = []
    for length in range(1, steps + 1):
        for tail in itertools.product(range(VOCAB), repeat=length):
            if EOS in tail[:-1] or (length < steps and tail[-1] != EOS):
                continue
            seq = list(prompt)
            logp = 0.0
            for token in tail:
                pos = len(seq)
                logp += _log_softmax(table[pos, seq[-1], sum(seq) % 3])[token]
                seq.append(token)
            penalty = ((5.0 + length) / 6.0) ** alpha
            results.append((logp / penalty, tail))
    results.sort(key=lambda r: -r[0])
    return results


def _logits_fn(table):
    """A model that reads only the previous token and its cache."""
    table = ops.convert_to_tensor(table)

    def fn(tokens, index, cache):
        previous = ops.take_along_axis(tokens, ops.reshape(index - 1, (1, 1))
                                       * ops.ones((tokens.shape[0], 1), "int32"), axis=1)[:, 0]
        running = cache["sum"]
        logits = table[index][previous, running % 3]
        return logits, {"sum": running}

    return fn


def _with_cache_update(fn, table):
    def wrapped(tokens, index, cache):
        logits, _ = fn(tokens, index, cache)
        return logits, cache

    return wrapped


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_search_is_exact_when_the_beam_holds_every_hypothesis(alpha):
    table = _table()
    prompt = np.array([[1, 2], [2, 2]], "int32")
    steps = 3
    max_length = prompt.shape[1] + steps
    # (V - 1)**(steps - 1) * V = 36 candidates per step fit in 2 * beam.
    beam = 18

    def logits_fn(tokens, index, cache):
        # The cache carries the running token sum; it must follow its beam.
        previous = ops.sum(ops.where(ops.arange(max_length)[None] == index - 1,
                                     tokens, 0), axis=1)
        running = cache["sum"] + previous
        logits = ops.take(ops.convert_to_tensor(table)[index], previous, axis=0)
        logits = ops.take_along_axis(
            logits, ops.reshape(running % 3, (-1, 1, 1)), axis=1)[:, 0]
        return logits, {"sum": running}

    initial = {"sum": ops.convert_to_tensor(prompt[:, :-1].sum(1).astype("int32"))}
    seqs, scores = zoo_ops.beam_search(logits_fn, prompt, max_length, beam,
                                       end_token_id=EOS, pad_token_id=PAD,
                                       length_penalty_alpha=alpha, cache=initial)
    seqs, scores = to_numpy(seqs), to_numpy(scores)
    for b in range(2):
        expected = _brute_force(prompt[b].tolist(), table, steps, alpha)[:beam]
        np.testing.assert_allclose(scores[b], [s for s, _ in expected], rtol=1e-5)
        for row, (_, tail) in zip(seqs[b], expected):
            padded = list(tail) + [PAD] * (steps - len(tail))
            assert row.tolist() == prompt[b].tolist() + padded


def test_greedy_generate_and_eos_padding():
    table = _table(1)

    def logits_fn(tokens, index, cache):
        previous = ops.sum(ops.where(ops.arange(tokens.shape[1])[None] == index - 1,
                                     tokens, 0), axis=1)
        return ops.take(ops.convert_to_tensor(table[:, :, 0])[index], previous, axis=0), cache

    prompt = np.array([[1], [2], [0]], "int32")
    out = to_numpy(zoo_ops.generate(logits_fn, prompt, 7, end_token_id=EOS, pad_token_id=PAD))
    for b in range(3):
        seq, done = [int(prompt[b, 0])], False
        for pos in range(1, 7):
            token = PAD if done else int(np.argmax(table[pos, seq[-1], 0]))
            done = done or token == EOS
            seq.append(token)
        assert out[b].tolist() == seq


def test_top_k_and_top_p_never_leave_the_allowed_set():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (2, 12)).astype("float32")
    rows = np.repeat(logits, 500, axis=0)                   # 1000 draws
    top3 = np.argsort(-logits, axis=1)[:, :3]
    draws = to_numpy(zoo_ops.sample_logits(rows, seed=7, top_k=3)).reshape(2, 500)
    for b in range(2):
        assert set(draws[b]) <= set(top3[b])
        assert len(set(draws[b])) == 3                       # all 3 do occur
        # Frequencies follow the renormalised top-3 softmax.
        p = np.exp(logits[b, top3[b]]) / np.exp(logits[b, top3[b]]).sum()
        freq = np.array([(draws[b] == t).mean() for t in top3[b]])
        assert np.abs(freq - p).max() < 0.07
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    order = np.argsort(-probs, axis=1)
    draws = to_numpy(zoo_ops.sample_logits(rows, seed=8, top_p=0.6)).reshape(2, 500)
    for b in range(2):
        mass_before = np.cumsum(probs[b, order[b]]) - probs[b, order[b]]
        nucleus = set(order[b][mass_before < 0.6])
        assert set(draws[b]) <= nucleus and len(set(draws[b])) == len(nucleus)
    # Same seed and step: same tokens; another step: different noise.
    a = to_numpy(zoo_ops.sample_logits(rows, seed=1, step=0))
    assert np.array_equal(a, to_numpy(zoo_ops.sample_logits(rows, seed=1, step=0)))
    assert not np.array_equal(a, to_numpy(zoo_ops.sample_logits(rows, seed=1, step=1)))
    filtered = to_numpy(zoo_ops.filter_top_k(logits, 2))
    assert (np.isfinite(filtered).sum(1) == 2).all()


def test_sampled_generate_respects_top_k():
    table = _table(2)[:, :, 0]

    def logits_fn(tokens, index, cache):
        return ops.broadcast_to(ops.convert_to_tensor(table[1, 1])[None],
                                (tokens.shape[0], VOCAB)), cache

    out = to_numpy(zoo_ops.generate(logits_fn, np.ones((64, 1), "int32"), 6,
                                    strategy="sample", top_k=2, seed=3))
    allowed = set(np.argsort(-table[1, 1])[:2])
    assert set(out[:, 1:].ravel()) <= allowed and len(set(out[:, 1:].ravel())) == 2


def test_masks():
    causal = to_numpy(zoo_ops.causal_attention_mask(3))
    assert causal.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert to_numpy(zoo_ops.causal_attention_mask(2, 4)).tolist() == [
        [1, 1, 1, 0], [1, 1, 1, 1]]
    padding = np.array([[1, 1, 0]], bool)
    assert to_numpy(zoo_ops.padding_attention_mask(padding)).shape == (1, 1, 3)
    full = to_numpy(zoo_ops.attention_mask(padding))
    assert full.tolist() == [[[1, 0, 0], [1, 1, 0], [1, 1, 0]]]
    with pytest.raises(zoo_ops.ArgumentError, match=r"`max_length` must be an int > prompt length 2"):
        zoo_ops.generate(lambda t, i, c: (None, c), np.ones((1, 2), "int32"), 2)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_compile_decoding_reads_the_variables_current_values(jit_compile):
    """Compiled with XLA (the default) or as a plain graph, the program
    reads a variable's value at each call, not a constant baked in."""
    import keras

    from zoo_ops.decoding import compile_decoding

    weight = keras.Variable(np.full((3,), 2.0, "float32"))
    fn = compile_decoding(lambda x: x * weight, [weight],
                          jit_compile=jit_compile)
    x = np.arange(3, dtype="float32")
    np.testing.assert_array_equal(to_numpy(fn(x)), x * 2.0)
    weight.assign(np.full((3,), 5.0, "float32"))
    np.testing.assert_array_equal(to_numpy(fn(x)), x * 5.0)
