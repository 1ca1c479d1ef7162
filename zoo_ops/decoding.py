"""Autoregressive decoding: masks, sampling filters, sampling loops, beam search.

Every loop has static shapes and runs in `keras.ops.while_loop`, so it
jit-compiles. The model is a callback

    logits_fn(tokens, index, cache) -> (logits, cache)

with `tokens` [rows, max_length] int32 (positions >= index are padding),
`index` a scalar int32, the position whose token is predicted, and `logits`
[rows, vocab_size] float. `cache` is any nest of tensors whose leaves have
`rows` as leading axis (e.g. attention keys and values for incremental
decoding); it is passed back unchanged in structure and shape. Beam search
reorders its rows whenever beams are re-ranked.

Random sampling uses a counter-based hash (stateless, the same on every
backend): the noise of a step depends only on `seed`, the step index and the
position in the logits tensor, so decoding is reproducible under jit.
"""

import keras
from keras import ops

from zoo_ops._backend import compiled_with_variables, ops_for, static_shape
from zoo_ops.errors import ArgumentError, check_shape

_NEG_INF = float("-inf")


# ----------------------------------------------------------------- masks ----
def causal_attention_mask(query_length, key_length=None):
    """[query_length, key_length] bool; True where a query may attend a key.

    Queries are the last `query_length` of `key_length` positions (so a
    query at row i sees keys 0 .. key_length - query_length + i).
    """
    key_length = query_length if key_length is None else key_length
    if key_length < query_length:
        raise ArgumentError(
            f"`key_length` ({key_length}) must be >= `query_length` ({query_length}).")
    ops = ops_for()
    rows = ops.arange(query_length)[:, None] + (key_length - query_length)
    return ops.arange(key_length)[None, :] <= rows


def padding_attention_mask(padding_mask, query_length=None):
    """[batch, query_length or 1, length] bool from a [batch, length] mask.

    Args:
        padding_mask: [batch, length] bool/int, True (1) for real tokens.
        query_length: int to broadcast to [batch, query_length, length], or
            None for [batch, 1, length].
    """
    check_shape("padding_mask", padding_mask, "[batch, length]", allowed_ranks=(2,))
    ops = ops_for(padding_mask)
    mask = ops.cast(ops.convert_to_tensor(padding_mask), "bool")[:, None, :]
    if query_length is not None:
        batch, length = static_shape(padding_mask)
        if batch is None:
            batch = ops.shape(mask)[0]
        mask = ops.broadcast_to(mask, (batch, query_length, length))
    return mask


def attention_mask(padding_mask, causal=True):
    """[batch, length, length] bool: padding mask, and causal if asked."""
    check_shape("padding_mask", padding_mask, "[batch, length]", allowed_ranks=(2,))
    ops = ops_for(padding_mask)
    length = static_shape(padding_mask)[1]
    mask = padding_attention_mask(padding_mask, length)
    if causal:
        mask = ops.logical_and(mask, causal_attention_mask(length)[None])
    return mask


# ------------------------------------------------------ sampling filters ----
def filter_top_k(logits, k):
    """Sets every logit below the k-th largest (per row) to -inf.

    Args:
        logits: [..., vocab_size] float.
        k: int in [1, vocab_size].

    Returns:
        [..., vocab_size] float (ties with the k-th largest are kept).
    """
    vocab = logits.shape[-1]
    if not isinstance(k, int) or not 1 <= k <= vocab:
        raise ArgumentError(f"`top_k` must be an int in [1, {vocab}]; received {k!r}.")
    values, _ = ops.top_k(logits, k=k)
    # The k-th value by a reduction (slicing top_k's output makes XLA sort).
    kth = ops.min(values, axis=-1, keepdims=True)
    return ops.where(logits >= kth, logits, _NEG_INF)


def filter_top_p(logits, p):
    """Nucleus filter: keeps the smallest set of top tokens with mass >= p.

    A token is kept when the probability mass of the tokens ranked above it is
    < p (so the top token is always kept).

    Args:
        logits: [..., vocab_size] float.
        p: float in (0, 1].

    Returns:
        [..., vocab_size] float, -inf outside the nucleus.
    """
    if not 0.0 < p <= 1.0:
        raise ArgumentError(f"`top_p` must be in (0, 1]; received {p!r}.")
    vocab = logits.shape[-1]
    sorted_logits, _ = ops.top_k(logits, k=vocab)
    probs = ops.softmax(sorted_logits, axis=-1)
    mass_before = ops.cumsum(probs, axis=-1) - probs
    kept = ops.where(mass_before < p, sorted_logits, float("inf"))
    threshold = ops.min(kept, axis=-1, keepdims=True)
    return ops.where(logits >= threshold, logits, _NEG_INF)


def _hash_uniform(shape, seed, step):
    """Uniform (0, 1) float32 of `shape` from (seed, step, position)."""
    size = 1
    for s in shape:
        size *= s
    counter = ops.cast(ops.reshape(ops.arange(size), shape), "uint32")
    mix = (ops.cast(seed, "uint32") * ops.cast(0x9E3779B9, "uint32")
           + ops.cast(step, "uint32") * ops.cast(0x85EBCA6B, "uint32"))
    x = counter * ops.cast(0x27D4EB2F, "uint32") + mix
    # lowbias32 finaliser (Wellons): full avalanche on 32 bits.
    for shift, mult in ((16, 0x7FEB352D), (15, 0x846CA68B)):
        x = ops.bitwise_xor(x, ops.right_shift(x, ops.cast(shift, "uint32")))
        x = x * ops.cast(mult, "uint32")
    x = ops.bitwise_xor(x, ops.right_shift(x, ops.cast(16, "uint32")))
    mantissa = ops.cast(ops.right_shift(x, ops.cast(8, "uint32")), "float32")
    return (mantissa + 0.5) * (1.0 / 16777216.0)


def sample_logits(logits, seed=0, step=0, temperature=1.0, top_k=None,
                  top_p=None):
    """Draws one token per row from softmax(logits / temperature).

    Top-k and top-p filters are applied (in that order) before sampling; a
    filtered-out token is never drawn (Gumbel-max sampling over finite
    logits only).

    Args:
        logits: [batch, vocab_size] float.
        seed: int, or int32 scalar tensor.
        step: int or int32 scalar tensor, varies the noise between steps.
        temperature: float > 0.
        top_k: None or int.
        top_p: None or float in (0, 1].

    Returns:
        [batch] int32 token ids.
    """
    check_shape("logits", logits, "[batch, vocab_size]", allowed_ranks=(2,))
    if temperature <= 0:
        raise ArgumentError(
            f"`temperature` must be > 0 (use greedy decoding for 0); received {temperature!r}.")
    logits = ops.cast(logits, "float32") / temperature
    if top_k is not None:
        logits = filter_top_k(logits, top_k)
    if top_p is not None:
        logits = filter_top_p(logits, top_p)
    uniform = _hash_uniform(tuple(logits.shape), seed, step)
    gumbel = -ops.log(-ops.log(uniform))
    return ops.cast(ops.argmax(logits + gumbel, axis=-1), "int32")


# -------------------------------------------------------------- loops -------
def _check_prompt(prompt, max_length):
    shape = check_shape("prompt", prompt, "[batch, prompt_length]", allowed_ranks=(2,))
    if not isinstance(max_length, int) or max_length <= shape[1]:
        raise ArgumentError(
            f"`max_length` must be an int > prompt length {shape[1]}; received "
            f"{max_length!r}.")
    return shape


def _set_column(tokens, index, values):
    column = ops.arange(tokens.shape[1])[None, :] == index
    return ops.where(column, values[:, None], tokens)


def generate(logits_fn, prompt, max_length, end_token_id=None, pad_token_id=0,
             cache=None, strategy="greedy", temperature=1.0, top_k=None,
             top_p=None, seed=0):
    """Greedy or sampled decoding after a prompt, static shapes.

    Args:
        logits_fn: `(tokens, index, cache) -> (logits, cache)`, see the module
            docstring; rows = batch.
        prompt: [batch, prompt_length] int, every row a full prompt.
        max_length: int, total length of the output.
        end_token_id: optional int; a row stops after producing it and is
            padded with `pad_token_id`.
        pad_token_id: int.
        cache: optional nest of [batch, ...] tensors for `logits_fn`.
        strategy: "greedy" or "sample".
        temperature, top_k, top_p, seed: sampling settings (see
            `sample_logits`).

    Returns:
        [batch, max_length] int32: the prompt followed by generated tokens.
    """
    batch, prompt_length = _check_prompt(prompt, max_length)
    if strategy not in ("greedy", "sample"):
        raise ArgumentError(f"`strategy` must be 'greedy' or 'sample'; received {strategy!r}.")
    prompt = ops.cast(prompt, "int32")
    tokens = ops.pad(prompt, ((0, 0), (0, max_length - prompt_length)),
                     constant_values=pad_token_id)
    done = ops.zeros((batch,), "bool")

    def cond(index, tokens, done, cache):
        return ops.logical_and(index < max_length,
                               ops.logical_not(ops.all(done)))

    has_cache = cache is not None

    def body(index, tokens, done, cache_state):
        logits, new_cache = logits_fn(tokens, index,
                                      cache_state if has_cache else None)
        if strategy == "greedy":
            next_token = ops.cast(ops.argmax(logits, axis=-1), "int32")
        else:
            next_token = sample_logits(logits, seed, index, temperature,
                                       top_k, top_p)
        next_token = ops.where(done, pad_token_id, next_token)
        tokens = _set_column(tokens, index, next_token)
        if end_token_id is not None:
            done = ops.logical_or(done, next_token == end_token_id)
        return index + 1, tokens, done, _cache_state(new_cache)

    state = (ops.convert_to_tensor(prompt_length, "int32"), tokens, done,
             _cache_state(cache))
    _, tokens, _, _ = ops.while_loop(cond, body, state)
    return tokens


def _cache_state(cache):
    # while_loop state cannot hold None on every backend: use a placeholder.
    return ops.zeros((1,), "float32") if cache is None else cache


def length_penalty(length, alpha):
    """GNMT length normalisation ((5 + length) / 6) ** alpha (Wu et al., 2016)."""
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def _reorder_cache(cache, origin, batch, beams):
    def gather(leaf):
        shape = tuple(leaf.shape)
        grouped = ops.reshape(leaf, (batch, beams) + shape[1:])
        index = ops.reshape(origin, (batch, beams) + (1,) * (len(shape) - 1))
        picked = ops.take_along_axis(grouped, index, axis=1)
        return ops.reshape(picked, shape)

    return keras.tree.map_structure(gather, cache)


def beam_search(logits_fn, prompt, max_length, beam_size, end_token_id=None,
                pad_token_id=0, length_penalty_alpha=0.0, cache=None):
    """Beam search with length penalty, EOS handling and a reordered cache.

    Each step extends every alive beam by every token, keeps the 2 *
    beam_size best extensions, moves those ending in `end_token_id` (and, at
    the last position, all of them) to the finished set, scored by
    log-probability / `length_penalty(generated_length, alpha)`, and keeps the
    beam_size best others alive. The search stops early once no alive beam can
    beat the worst finished one.

    Args:
        logits_fn: `(tokens, index, cache) -> (logits, cache)` with rows =
            batch * beam_size (beam-major within each example).
        prompt: [batch, prompt_length] int.
        max_length: int, total output length.
        beam_size: int >= 1.
        end_token_id: optional int.
        pad_token_id: int, fills positions after the end token.
        length_penalty_alpha: float, GNMT alpha (0 = raw log-probability).
        cache: optional nest of [batch, ...] tensors; it is tiled to
            [batch * beam_size, ...] and reordered with the beams.

    Returns:
        (sequences [batch, beam_size, max_length] int32,
         scores [batch, beam_size] float32), best first.
    """
    batch, prompt_length = _check_prompt(prompt, max_length)
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ArgumentError(f"`beam_size` must be an int >= 1; received {beam_size!r}.")
    beams = beam_size
    prompt = ops.cast(prompt, "int32")
    tokens = ops.pad(prompt, ((0, 0), (0, max_length - prompt_length)),
                     constant_values=pad_token_id)
    alive_seq = ops.broadcast_to(tokens[:, None, :], (batch, beams, max_length))
    # Only beam 0 starts alive, so the first step does not repeat itself.
    alive_logp = ops.broadcast_to(
        ops.where(ops.arange(beams) == 0, 0.0, _NEG_INF)[None], (batch, beams))
    finished_seq = alive_seq
    finished_score = ops.full((batch, beams), _NEG_INF, "float32")
    if cache is not None:
        cache = keras.tree.map_structure(
            lambda leaf: ops.reshape(
                ops.repeat(leaf[:, None], beams, axis=1),
                (batch * beams,) + tuple(leaf.shape)[1:]),
            cache)
    last = max_length - 1
    max_penalty = length_penalty(max_length - prompt_length, length_penalty_alpha)

    def cond(index, alive_seq, alive_logp, finished_seq, finished_score, cache):
        best_alive = ops.max(alive_logp, axis=1)
        generated = index - prompt_length + 1
        bound = ops.maximum(
            best_alive / length_penalty(generated, length_penalty_alpha),
            best_alive / max_penalty)
        worst_finished = ops.min(finished_score, axis=1)
        settled = ops.logical_or(worst_finished >= bound,
                                 best_alive == _NEG_INF)
        return ops.logical_and(index < max_length,
                               ops.logical_not(ops.all(settled)))

    has_cache = cache is not None

    def body(index, alive_seq, alive_logp, finished_seq, finished_score,
             cache_state):
        flat = ops.reshape(alive_seq, (batch * beams, max_length))
        logits, cache = logits_fn(flat, index,
                                  cache_state if has_cache else None)
        vocab = logits.shape[-1]
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        candidates = alive_logp[:, :, None] + ops.reshape(logp, (batch, beams, vocab))
        num_candidates = min(2 * beams, beams * vocab)
        cand_logp, flat_index = ops.top_k(
            ops.reshape(candidates, (batch, beams * vocab)), k=num_candidates)
        origin = ops.cast(flat_index // vocab, "int32")
        token = ops.cast(flat_index % vocab, "int32")
        cand_seq = ops.take_along_axis(alive_seq, origin[:, :, None], axis=1)
        column = ops.arange(max_length)[None, None, :] == index
        cand_seq = ops.where(column, token[:, :, None], cand_seq)
        ends = ops.zeros_like(token, dtype="bool") if end_token_id is None \
            else token == end_token_id
        ends = ops.logical_or(ends, index == last)
        ends = ops.logical_and(ends, cand_logp > _NEG_INF)
        # Finished: merge the new ones with the old, keep the best.
        generated = index - prompt_length + 1
        new_score = ops.where(
            ends, cand_logp / length_penalty(generated, length_penalty_alpha),
            _NEG_INF)
        all_score = ops.concatenate([finished_score, new_score], axis=1)
        all_seq = ops.concatenate([finished_seq, cand_seq], axis=1)
        finished_score, pick = ops.top_k(all_score, k=beams)
        finished_seq = ops.take_along_axis(all_seq, pick[:, :, None], axis=1)
        # Alive: the best candidates that did not end.
        alive_candidates = ops.where(ends, _NEG_INF, cand_logp)
        alive_logp, pick = ops.top_k(alive_candidates, k=beams)
        alive_seq = ops.take_along_axis(cand_seq, pick[:, :, None], axis=1)
        if has_cache:
            cache = _reorder_cache(
                cache, ops.take_along_axis(origin, pick, axis=1), batch, beams)
        return (index + 1, alive_seq, alive_logp, finished_seq, finished_score,
                _cache_state(cache))

    state = (ops.convert_to_tensor(prompt_length, "int32"), alive_seq,
             alive_logp, finished_seq, finished_score, _cache_state(cache))
    _, _, _, finished_seq, finished_score, _ = ops.while_loop(cond, body, state)
    return finished_seq, finished_score


def compile_decoding(fn, variables, jit_compile=True):
    """A decoding function compiled once per input shape.

    `fn(*arrays)` runs a model (whose weights are the Keras `variables`)
    inside `generate` or `beam_search`; the whole loop becomes one program
    (`jax.jit` with the weights as arguments on JAX, `tf.function` with
    `jit_compile=True` on TensorFlow), so a step costs no Python dispatch
    and XLA updates the loop's cache in place. `jit_compile=False` traces a
    plain TensorFlow graph instead, for a `fn` whose ops XLA cannot compile.
    """
    return compiled_with_variables(fn, variables, jit_compile)
