"""BERT-base inference speed: zoo's BertEncoder against keras-hub's BertBackbone.

Random weights, sequence length 128, the same inputs for both, measured in
one process on the current Keras backend. Prints sequences per second and
the zoo / keras-hub ratio. Not a test: timings on a shared machine are
noisy, so compare the ratio, and rerun.

    KERAS_BACKEND=jax python benchmarks/bert.py --batch-size 8 --steps 10
    KERAS_BACKEND=tensorflow python benchmarks/bert.py
"""

import argparse
import time

import keras
import numpy as np


def _inputs(batch_size, length, vocabulary_size, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "token_ids": rng.integers(1000, vocabulary_size,
                                  (batch_size, length)).astype("int32"),
        "segment_ids": np.zeros((batch_size, length), "int32"),
        "padding_mask": np.ones((batch_size, length), "int32"),
    }


def sequences_per_second(model, inputs, steps, warmup=2):
    """Median-of-steps throughput of `model.predict_on_batch(inputs)`."""
    for _ in range(warmup):
        model.predict_on_batch(inputs)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.predict_on_batch(inputs)
        times.append(time.perf_counter() - start)
    return inputs["token_ids"].shape[0] / float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    import keras_hub

    import zoo

    zoo_model = zoo.create_model("bert_base_uncased")
    peer = keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
        intermediate_dim=3072, max_sequence_length=512)
    inputs = _inputs(args.batch_size, args.sequence_length, 30522)
    # Alternate the two so that load on a shared machine hits both alike.
    zoo_rates, peer_rates = [], []
    for _ in range(2):
        zoo_rates.append(sequences_per_second(zoo_model, inputs, args.steps))
        peer_rates.append(sequences_per_second(peer, inputs, args.steps))
    zoo_rate, peer_rate = max(zoo_rates), max(peer_rates)
    print(f"backend {keras.backend.backend()}, batch {args.batch_size}, "
          f"sequence length {args.sequence_length}")
    print(f"zoo BertEncoder       {zoo_rate:8.2f} sequences/s")
    print(f"keras-hub BertBackbone {peer_rate:8.2f} sequences/s")
    print(f"ratio zoo / keras-hub  {zoo_rate / peer_rate:8.2f}x")


if __name__ == "__main__":
    main()
