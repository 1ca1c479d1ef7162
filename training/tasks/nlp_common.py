"""What the NLP tasks share: encoder configs, the tokenizer, data settings,
masked losses and metrics.

Config field names follow the Model Garden's `official/nlp/configs/
encoders.py` (`EncoderConfig`, a one-of with `bert` and `albert`) so its
YAML files parse; two more alternatives build any zoo encoder:

```yaml
task:
  model:
    encoder:
      type: bert                     # the Model Garden's BertEncoderConfig
      bert: {vocab_size: 30522, hidden_size: 768, num_layers: 12, ...}
    # or a registered zoo encoder with arguments
    encoder: {type: registered, registered: {name: bert_tiny_uncased,
                                             arguments: {dropout: 0.1}}}
    # or a preset: architecture, pretrained weights and tokenizer
    encoder: {type: preset, preset: {handle: all_minilm_l6_v2}}
```

The tokenizer comes from `vocab_file` in the data config (a WordPiece
`vocab.txt` or, with `tokenization: SentencePiece`, a SentencePiece model),
else from the preset encoder.
"""

import dataclasses

import keras
import numpy as np

from training.config.base import ConfigError
from training.config.definitions import (
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TrainerConfig,
)
from training.data.text import IGNORE_LABEL, check_overflow_mode
from training.models import EncoderConfig
from training.tasks.base import Task

__all__ = ["EncoderConfig", "TextDataConfig", "TextTask", "build_encoder"]



# --- the encoder ------------------------------------------------------------


def build_encoder(config, path="task.model.encoder"):
    """A zoo `TextEncoder` from an `EncoderConfig`.

    Returns:
        `(encoder, preprocessor)`: the preprocessor is the preset's for
        `type: preset` (None otherwise).

    Raises:
        ConfigError: no type, an unknown name, or a model that is not a text
            encoder.
    """
    from zoo.nlp.encoders.base import TextEncoder

    selected = config.get()
    if selected is None:
        raise ConfigError(f"{path}.type is not set; choose one of "
                          f"{sorted(config._registered())}.")
    encoder, preprocessor = selected.build_encoder(f"{path}.{config.type}")
    if not isinstance(encoder, TextEncoder):
        raise ConfigError(
            f"{path}: {type(encoder).__name__} is not a text encoder "
            "(BertEncoder, AlbertEncoder).")
    return encoder, preprocessor


# --- data settings shared by the NLP data configs -------------------------------


@dataclasses.dataclass
class TextDataConfig(DataConfig):
    """`DataConfig` plus tokenization and length settings.

    Attributes:
        seq_length: tokens per packed example, special tokens included; at
            most the encoder's `max_position_embeddings`.
        vocab_file: WordPiece `vocab.txt` or SentencePiece model; empty uses
            the preset encoder's tokenizer.
        tokenization: `"WordPiece"` or `"SentencePiece"`.
        on_overflow: texts longer than `seq_length`: `"truncate"`
            silently, `"warn"` (truncate, and warn once naming the first
            file and line) or `"error"` (stop, naming file and line).
    """

    seq_length: int = 128
    vocab_file: str = ""
    tokenization: str = "WordPiece"
    on_overflow: str = "warn"

    def validate(self, path=""):
        if self.tokenization not in ("WordPiece", "SentencePiece"):
            raise ConfigError(
                f"{path}.tokenization: {self.tokenization!r} is not "
                "'WordPiece' or 'SentencePiece'.")
        check_overflow_mode(self.on_overflow, path)
        if self.seq_length < 3:
            raise ConfigError(f"{path}.seq_length must be at least 3 "
                              f"([CLS] x [SEP]), got {self.seq_length}.")

    def lowercase(self):
        """Whether the tokenizer lower-cases (`lower_case` or the Model
        Garden's SQuAD name `do_lower_case`)."""
        if hasattr(self, "do_lower_case"):
            return self.do_lower_case
        return self.lower_case


def check_file_type(data_config, allowed, path):
    """Raises unless `file_type` is empty or one of `allowed`."""
    if data_config.file_type and data_config.file_type not in allowed:
        raise ConfigError(
            f"{path}.file_type: {data_config.file_type!r} is not supported "
            f"here; expected {' or '.join(repr(a) for a in allowed)} (or "
            "empty).")


def require_default(config, path, **defaults):
    """Raises for Model Garden fields set to values zoo does not support."""
    for name, default in defaults.items():
        value = getattr(config, name)
        if value != default:
            raise ConfigError(
                f"{path}.{name}={value!r} is not supported (only "
                f"{default!r}).")


# --- losses and metrics ------------------------------------------------------------


def masked_cross_entropy():
    """Sparse categorical cross-entropy over logits that skips labels equal to
    `IGNORE_LABEL` and averages over the others (the Model Garden's masked
    tagging and masked-LM loss)."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=IGNORE_LABEL)


@keras.saving.register_keras_serializable(package="zoo_training")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy of `argmax(logits)` over the positions whose label is not
    `IGNORE_LABEL` (-100).

    Args:
        name: str, the metric's name in the logs.
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        valid = keras.ops.not_equal(y_true, IGNORE_LABEL)
        predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1),
                                   "int32")
        correct = keras.ops.cast(keras.ops.equal(predicted, y_true),
                                 self.dtype)
        weight = keras.ops.cast(valid, self.dtype)
        if sample_weight is not None:
            weight = weight * keras.ops.cast(sample_weight, self.dtype)
        return super().update_state(correct, sample_weight=weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def predict_arrays(model, dataset, steps=None):
    """`model.predict` over a features-only dataset, as numpy (a dict of
    arrays for dict outputs)."""
    outputs = model.predict(dataset, steps=steps, verbose=0)
    if isinstance(outputs, dict):
        return {k: np.asarray(v) for k, v in outputs.items()}
    return np.asarray(outputs)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of integer `labels` under `logits` (numpy)."""
    logits = np.asarray(logits, "float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)
    return float(-picked.mean()) if picked.size else float("nan")


# --- the task base ---------------------------------------------------------------------


class TextTask(Task):
    """Base of the NLP tasks: the encoder, the tokenizer, the preprocessors.

    Subclasses build the head around `self.build_encoder()` and their data
    with `self.tokenizer` / `self.preprocessor(data_config)`.
    """

    def __init__(self, params):
        super().__init__(params)
        self._tokenizer = None
        self._preset_preprocessor = None
        self._cache = {}

    def data_path(self, data_config):
        """`"task.train_data"` or `"task.validation_data"`, for messages."""
        if data_config is self.params.validation_data:
            return "task.validation_data"
        if data_config is self.params.train_data:
            return "task.train_data"
        return "task.data"

    def build_encoder(self):
        """The configured encoder, checked against the tokenizer and the
        data configs' `seq_length`."""
        encoder, preprocessor = build_encoder(self.params.model.encoder)
        if preprocessor is not None:
            self._preset_preprocessor = preprocessor
        size = self.tokenizer.vocabulary_size()
        if size != encoder.vocabulary_size:
            raise ConfigError(
                f"The vocabulary ({self._vocabulary_source()}) has {size} "
                f"tokens but the encoder embeds {encoder.vocabulary_size}: "
                f"set task.model.encoder.{self.params.model.encoder.type}."
                f"vocab_size: {size}, or use the vocabulary the encoder was "
                "trained with.")
        for data_config in (self.params.train_data,
                            self.params.validation_data):
            if data_config.seq_length > encoder.max_sequence_length:
                raise ConfigError(
                    f"{self.data_path(data_config)}.seq_length="
                    f"{data_config.seq_length} exceeds the encoder's "
                    f"{encoder.max_sequence_length} positions "
                    "(max_position_embeddings); use seq_length <= "
                    f"{encoder.max_sequence_length}.")
        return encoder

    def _vocabulary_source(self):
        return getattr(self.tokenizer, "vocabulary_source", None) or (
            "the preset's tokenizer")

    @property
    def tokenizer(self):
        """The tokenizer: from `vocab_file`, else the preset encoder's."""
        if self._tokenizer is None:
            self._tokenizer = self._build_tokenizer()
        return self._tokenizer

    def _build_tokenizer(self):
        import zoo

        sources = [(self.data_path(d), d) for d in (
            self.params.train_data, self.params.validation_data)
            if d.vocab_file]
        files = {d.vocab_file for _, d in sources}
        if len(files) > 1:
            raise ConfigError(
                "task.train_data.vocab_file and task.validation_data."
                f"vocab_file differ ({sorted(files)}); both sets must be "
                "tokenized alike.")
        if sources:
            where, d = sources[0]
            try:
                if d.tokenization == "WordPiece":
                    return zoo.WordPieceTokenizer(d.vocab_file,
                                                  lowercase=d.lowercase())
                return zoo.SentencePieceTokenizer(
                    d.vocab_file, lowercase=d.lowercase(),
                    strip_accents=True)
            except FileNotFoundError:
                raise ConfigError(
                    f"{where}.vocab_file: {d.vocab_file} does not "
                    "exist.") from None
        encoder = self.params.model.encoder
        if encoder.type == "preset" and encoder.preset.handle:
            if self._preset_preprocessor is None:
                model = zoo.from_preset(encoder.preset.handle,
                                        load_weights=False)
                self._preset_preprocessor = getattr(model, "preprocessor",
                                                    None)
            if self._preset_preprocessor is not None:
                return self._preset_preprocessor.tokenizer
        raise ConfigError(
            "No vocabulary: set task.train_data.vocab_file (a WordPiece "
            "vocab.txt, or a SentencePiece model with tokenization: "
            "SentencePiece), or use a preset encoder (task.model.encoder."
            "type: preset), whose tokenizer comes with it.")

    def preprocessor(self, data_config):
        """A `TextPreprocessor` packing to `data_config.seq_length` (it
        truncates; `on_overflow` is applied when the files are read)."""
        import zoo

        return zoo.TextPreprocessor(self.tokenizer,
                                    sequence_length=data_config.seq_length,
                                    on_overflow="truncate")

    def export_preprocessor(self):
        """The validation data's `TextPreprocessor`: exported presets then
        take raw strings (`zoo.from_preset(export).predict(texts)`)."""
        preprocessor = self.preprocessor(self.params.validation_data)
        # The exporter attaches it to the model for a moment, and Keras
        # keeps tracking a layer once assigned; an unbuilt sublayer (the
        # keras-hub tokenizer inside) would then make every later
        # `predict` run an eager forward pass to "build" the model. These
        # layers have no weights: mark them built.
        for layer in preprocessor._flatten_layers():
            layer.built = True
        return preprocessor

    def cached(self, data_config, build):
        """`build()` once per data config contents (reading and packing a
        data set is done once per run, not at every evaluation)."""
        key = (self.data_path(data_config), repr(data_config.as_dict()))
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def pipeline_options(self, data_config, seed, num_shards):
        """`(where, batch size per process, data seed)` of a data config."""
        from training.data.text import batch_size_per_process

        where = self.data_path(data_config)
        batch = batch_size_per_process(data_config, num_shards, where)
        data_seed = seed if data_config.seed is None else data_config.seed
        return where, batch, data_seed


def bert_optimizer(initial_learning_rate):
    """The optimizer of the Model Garden's BERT experiments.

    As `official/nlp/configs/finetuning_experiments.py` and
    `pretraining_experiments.py` write it: AdamW with weight decay 0.01
    except on layer norms and biases (`['LayerNorm', 'layer_norm',
    'bias']`, matched as the Model Garden names its variables) and the
    global gradient norm clipped to 1.0 (its AdamW default); polynomial
    (linear) decay to 0 over `decay_steps` after a polynomial warmup, both
    left unset (`None`) for the experiment's YAML file (`decay_steps`
    falls back to `trainer.train_steps`).
    """
    return {
        "optimizer": {"type": "adamw", "adamw": {
            "weight_decay_rate": 0.01,
            "exclude_from_weight_decay": ["LayerNorm", "layer_norm",
                                          "bias"]}},
        "learning_rate": {"type": "polynomial", "polynomial": {
            "initial_learning_rate": initial_learning_rate,
            "end_learning_rate": 0.0}},
        "warmup": {"type": "polynomial"},
    }


def bert_experiment(task, *, learning_rate, runtime=None, **trainer):
    """The experiment config of a Model Garden BERT factory.

    Args:
        task: the task config.
        learning_rate: the initial learning rate of `bert_optimizer`.
        runtime: `RuntimeConfig`; the defaults when None.
        **trainer: `TrainerConfig` fields the factory sets.
    """
    config = ExperimentConfig(task=task, trainer=TrainerConfig(**trainer),
                              runtime=runtime or RuntimeConfig())
    config.override({"trainer.optimizer_config":
                     bert_optimizer(learning_rate)})
    return config
