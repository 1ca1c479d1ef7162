"""Generation speed of causal LMs (`zoo bench MODEL --mode generate`).

Two rows a model and library, in tokens per second:

- `prefill`: `generate` with one new token on `batch_size` prompts of
  `seq_len` random tokens, counted as `batch_size * seq_len` tokens (the
  prompt's forward pass, plus one decoding step);
- `decode`: `generate` with `new_tokens` new tokens, minus the prefill
  call's median time, counted as `batch_size * (new_tokens - 1)` tokens:
  the steps after the first.

zoo's model also runs `variant="uncached"` (every step recomputes the whole
sequence, `use_cache=False`; its ratio is against the cached decode) and
`variant="int8"` (a copy quantized with Keras' `model.quantize("int8")`).
The peer (keras-hub's causal LM of the same size, `benchmarks/peers/`)
generates greedily on the same prompts, stopping at no token, as zoo's
does. Every call is a compiled generation loop; calls of every candidate
are interleaved in `rounds`.
"""

import dataclasses
import logging
import statistics

import keras
import numpy as np

from benchmarks.errors import BenchError

logger = logging.getLogger("zoo")


@dataclasses.dataclass
class GenerationCandidate:
    """Prefill and full-generation calls of one model."""

    source: str
    variant: str
    built: str
    prefill: object
    generate: object
    params: int
    #: Whether its TensorFlow loop is XLA-compiled (zoo's always is).
    jit_compile: bool = True


def _prompts(vocabulary_size, batch_size, length, seed=0):
    rng = np.random.default_rng(seed)
    low = min(10, vocabulary_size - 1)
    return rng.integers(low, vocabulary_size, (batch_size, length)).astype(
        "int32")


def zoo_candidates(model, prompts, new_tokens, built, int8_model=None):
    """`GenerationCandidate`s of a zoo `CausalLM` (cached, uncached, and an
    int8 copy when given)."""
    rows = [list(map(int, p)) for p in prompts]

    def calls(lm, **options):
        def run(count):
            return lambda: lm.generate(rows, max_new_tokens=count,
                                       stop_token_ids=[], return_ids=True,
                                       **options)
        return run(1), run(new_tokens)

    out = [GenerationCandidate("zoo", "", built, *calls(model),
                               params=model.count_params())]
    out.append(GenerationCandidate("zoo", "uncached", built,
                                   *calls(model, use_cache=False),
                                   params=model.count_params()))
    if int8_model is not None:
        out.append(GenerationCandidate("zoo", "int8", built + ".quantize",
                                       *calls(int8_model),
                                       params=model.count_params()))
    return out


def keras_hub_candidate(peer, prompts, new_tokens, built):
    """A keras-hub causal LM (no preprocessor) generating greedily on the
    same prompts: inputs padded to the final length, the prompt marked in
    `padding_mask`."""
    peer.compile(sampler="greedy")
    batch, length = prompts.shape

    def inputs(count):
        ids = np.zeros((batch, length + count), "int32")
        ids[:, :length] = prompts
        mask = np.zeros_like(ids, dtype=bool)
        mask[:, :length] = True
        return {"token_ids": ids, "padding_mask": mask}

    short, full = inputs(1), inputs(new_tokens)
    return GenerationCandidate(
        "keras_hub", "", built,
        lambda: peer.generate(short, stop_token_ids=None),
        lambda: peer.generate(full, stop_token_ids=None),
        params=peer.count_params(),
        jit_compile=bool(getattr(peer, "jit_compile", False)))


def measure_generation(name, candidates, settings, progress=None):
    """Rows `prefill` and `decode` of every candidate (interleaved rounds).

    Raises:
        BenchError: `new_tokens` below 2 (nothing left to decode after the
            first token).
    """
    from benchmarks.runner import OpMeasurement, _timed_rounds
    from benchmarks.ops import OpCandidate

    new_tokens = settings.new_tokens
    if new_tokens < 2:
        raise BenchError("--new-tokens must be at least 2 for --mode "
                         f"generate, got {new_tokens}.")
    batch, length = settings.batch_size, settings.seq_len
    shape = f"{length}+{new_tokens}"
    pairs = []
    for c in candidates:
        prefill = OpMeasurement(OpCandidate(
            c.prefill, c.source, c.built, batch * length, shape), name=name,
            settings=settings)
        full = OpMeasurement(OpCandidate(
            c.generate, c.source, c.built, batch * (new_tokens - 1), shape),
            name=name, settings=settings)
        for m, mode in ((prefill, "prefill"), (full, "decode")):
            m.mode, m.variant = mode, c.variant  # what the progress shows
            m.prepare()
        pairs.append((c, prefill, full))
    _timed_rounds([m for _, p, f in pairs for m in (p, f)], settings,
                  progress)
    rows = []
    for c, prefill, full in pairs:
        prefill_row = prefill.row()
        decode_row = full.row()
        decode_s = statistics.median(full.times) - statistics.median(
            prefill.times)
        if decode_s <= 0:  # too few tokens to see past the prefill
            logger.warning("bench: %s %s decoding took no longer than its "
                           "prefill; raise --new-tokens.", name, c.source)
            decode_row.samples_per_s = float("nan")
        else:
            decode_row.samples_per_s = batch * (new_tokens - 1) / decode_s
        for row, mode in ((prefill_row, "prefill"), (decode_row, "decode")):
            row.mode, row.variant, row.params = mode, c.variant, c.params
            # One compiled loop: jax.jit on JAX; on TensorFlow zoo's is an
            # XLA-compiled tf.function, keras-hub's follows its compile().
            row.jit = keras.backend.backend() == "jax" or c.jit_compile
            row.batch_size = row.batch_size_requested = batch
            rows.append(row)
    return rows
