"""What a benchmark measures: modes, precisions, peers and their settings.

This module imports nothing heavy, so `zoo --help` stays quick; the names it
defines are the valid choices every other part of `benchmarks` checks
against.
"""

import dataclasses

#: `--mode` values; "both" measures inference then training; "generate"
#: the prefill and decode speed of causal LMs (`benchmarks/generation.py`).
MODES = ("infer", "train", "both", "generate")
#: `--precision` values: Keras dtype policies.
PRECISIONS = ("float32", "bfloat16", "mixed_float16", "mixed_bfloat16")
#: `--vs` values: the libraries whose equivalent models can be measured.
PEER_SOURCES = ("keras.applications", "keras_hub")
#: `--backends` values.
BACKENDS = ("tensorflow", "jax")
#: `--export` values: the `zoo.export` formats whose artifacts can be timed
#: (`zoo.serving.FORMATS`, repeated here so that this module stays light).
EXPORT_FORMATS = ("saved_model", "tflite", "onnx")

#: dtype the matrix units compute in, per precision (the peak's dtype).
COMPUTE_DTYPES = {
    "float32": "float32",
    "bfloat16": "bfloat16",
    "mixed_float16": "float16",
    "mixed_bfloat16": "bfloat16",
}


@dataclasses.dataclass
class BenchSettings:
    """How one set of models is measured.

    Attributes:
        mode: `"infer"`, `"train"`, `"both"` or `"generate"`.
        batch_size: int, samples per step; halved on out-of-memory.
        img_size: int, height and width of image inputs with no fixed size.
        seq_len: int, length of sequence inputs with no fixed length (the
            prompt's, for `generate`).
        new_tokens: int, tokens generated per prompt (`generate`).
        precision: a Keras dtype policy in `PRECISIONS`.
        jit: bool, or None for Keras' own default (`jit_compile="auto"`:
            XLA on JAX, and on TensorFlow only with an accelerator).
        warmup: int, untimed steps after the first (compiling) one, in
            every round.
        iters: int, timed steps per round.
        rounds: int, rounds of warmup and timed steps; a model's rounds
            alternate with those of its fused variant and peers, so load
            that drifts during a run affects them alike.
        num_classes: int, classes of classifier heads.
        peers: tuple of str from `PEER_SOURCES`, measured next to each model.
        fuse: bool, also measure inference of `model.fuse()` (batch norm
            folded into the convolutions).
        model_args: dict, extra arguments of `zoo.create_model`.
        exports: tuple of str from `EXPORT_FORMATS`: also export the model
            with `zoo.export` (uint8 images in, probabilities out, batch
            norms folded) and time inference of each artifact in its own
            runtime (`benchmarks.exports`).
        peak_size: int, side of the square matrices of the peak measurement.
        peers_only: bool, measure only the peers (the zoo model is built,
            since peers are built to match it, but not timed): what the
            Keras-defaults run of `zoo bench` does in its own process.
    """

    mode: str = "infer"
    batch_size: int = 32
    img_size: int = 224
    seq_len: int = 128
    new_tokens: int = 32
    precision: str = "float32"
    jit: object = None
    warmup: int = 3
    iters: int = 10
    rounds: int = 1
    num_classes: int = 1000
    peers: tuple = ()
    fuse: bool = False
    model_args: dict = dataclasses.field(default_factory=dict)
    exports: tuple = ()
    peak_size: int = 2048
    peers_only: bool = False

    def modes(self):
        """The modes to measure, in order: `("infer",)`, `("train",)` or
        both."""
        return ("infer", "train") if self.mode == "both" else (self.mode,)

    def validate(self):
        """Checks every value; raises `BenchError` naming the first bad one.

        Returns:
            self, so calls can be chained.
        """
        from benchmarks.errors import BenchError, check_choice

        check_choice("mode", self.mode, MODES)
        check_choice("precision", self.precision, PRECISIONS)
        self.peers = tuple(self.peers)
        for peer in self.peers:
            check_choice("peer", peer, PEER_SOURCES)
        self.exports = tuple(self.exports)
        for format in self.exports:
            check_choice("export format", format, EXPORT_FORMATS)
        positive = ("batch_size", "img_size", "seq_len", "new_tokens",
                    "iters", "rounds",
                    "num_classes", "peak_size")
        for name in positive + ("warmup",):
            value = getattr(self, name)
            low = 1 if name in positive else 0
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < low:
                raise BenchError(
                    f"{name} must be an integer >= {low}, got {value!r}."
                )
        if self.jit not in (None, True, False):
            raise BenchError(
                f"jit must be true, false or unset, got {self.jit!r}."
            )
        if not isinstance(self.fuse, bool):
            raise BenchError(f"fuse must be true or false, got {self.fuse!r}.")
        if not isinstance(self.model_args, dict):
            raise BenchError(
                f"model_args must be a mapping, got {self.model_args!r}."
            )
        return self

    def describe_model_args(self):
        """`model_args` as a short stable string: `"block_variant=v1"`."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.model_args.items()))
