"""Causal language modelling: fine-tune (or train) a decoder on text.

The Model Garden has no decoder task; the config follows its style
(`task.model`, `task.train_data`, `task.validation_data`, the shared
trainer):

```yaml
task:
  model:
    preset: smollm2_135m_instruct        # or name + arguments + tokenizer
    lora: {rank: 8}                      # 0: every weight trains
  train_data:
    input_path: finetune.jsonl           # or a .txt: one document per line
    file_type: jsonl                     # {"messages": [{role, content}...]}
    seq_length: 256
    global_batch_size: 8
```

Data:

- `file_type: text` (the default): every non-blank line is a document; the
  documents are tokenized, joined with the end-of-sequence token and cut
  into rows of `seq_length` tokens (packing), so no position is padding
  except at the very end.
- `tfds_name` (with `tfds_split`, `tfds_data_dir`): a prepared TensorFlow
  Datasets set (zoo never downloads); every example's `tfds_text_key`
  feature (default `text`, as in `wikipedia`, `c4`, `lm1b`,
  `tiny_shakespeare`) is a document, packed as text files are.
- `file_type: jsonl`: one chat per line, `{"messages": [...]}` rendered by
  the tokenizer's chat template; the loss counts the last assistant
  message only (the prompt's labels are ignored), one chat per row, padded
  (and truncated, counted in the log) to `seq_length`.

The labels are the inputs shifted by one, `IGNORE_LABEL` where nothing is
to be learned; the loss is the mean cross-entropy over the others, the
metric `accuracy` of the next token over them.
"""

import dataclasses
import json
import logging
from typing import List, Optional, Union

import numpy as np

from training.config.base import Config, ConfigError, config_field
from training.config.definitions import (
    DataConfig,
    ExperimentConfig,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
)
from training.registry import register_experiment, register_task
from training.tasks.base import Task

logger = logging.getLogger("zoo")

#: The LoRA factors of the best model, beside its (merged) preset.
LORA_FILE = "lora.npz"


@dataclasses.dataclass
class CausalLMDataConfig(DataConfig):
    """Text or chats for a causal LM.

    Attributes:
        seq_length: tokens per row.
        file_type: `"text"` (packed documents) or `"jsonl"` (chats); with
            `tfds_name` set, `"text"` or `"tfds"`.
        tfds_text_key: the TFDS feature holding a document's text.
    """

    input_path: Union[str, List[str]] = ""
    file_type: str = "text"
    global_batch_size: int = 8
    seq_length: int = 512
    tfds_text_key: str = "text"

    def validate(self, path=""):
        if self.file_type not in ("text", "jsonl", "tfds"):
            raise ConfigError(f"{path}.file_type: {self.file_type!r} is not "
                              "'text', 'jsonl' or 'tfds'.")
        if self.tfds_name and self.file_type == "jsonl":
            raise ConfigError(f"{path}: a TFDS set is read as text "
                              "documents (file_type 'text'), not as "
                              "'jsonl' chats.")
        if self.tfds_name and self.input_path:
            raise ConfigError(f"{path}: set one of input_path or tfds_name, "
                              "not both.")
        if self.seq_length < 2:
            raise ConfigError(f"{path}.seq_length must be at least 2, got "
                              f"{self.seq_length}.")


@dataclasses.dataclass
class LoRAConfig(Config):
    """`backbone.enable_lora`: `rank` 0 trains every weight."""

    rank: int = 0
    alpha: Optional[float] = None

    def validate(self, path=""):
        if self.rank < 0:
            raise ConfigError(f"{path}.rank must be >= 0, got {self.rank}.")


@dataclasses.dataclass
class TokenizerConfig(Config):
    """A byte-level BPE's files (`vocab.json`, `merges.txt`), for a model
    built by name."""

    vocabulary: str = ""
    merges: str = ""


@dataclasses.dataclass
class CausalLMModel(Config):
    """The decoder: a preset (weights and tokenizer), or a registered
    decoder by `name` with `arguments` and a `tokenizer`."""

    preset: str = ""
    name: str = ""
    arguments: dict = config_field(dict)
    tokenizer: TokenizerConfig = config_field(TokenizerConfig)
    lora: LoRAConfig = config_field(LoRAConfig)

    def validate(self, path=""):
        if self.preset and self.name:
            raise ConfigError(f"{path}: set one of preset (a causal LM "
                              "preset) or name (a registered decoder), not "
                              "both.")
        if self.name and not (self.tokenizer.vocabulary
                              and self.tokenizer.merges):
            raise ConfigError(f"{path}.tokenizer: a decoder built by name "
                              "needs vocabulary and merges files.")


@dataclasses.dataclass
class CausalLMConfig(TaskConfig):
    """The causal-LM task config."""

    model: CausalLMModel = config_field(CausalLMModel)
    train_data: CausalLMDataConfig = config_field(
        lambda: CausalLMDataConfig(is_training=True))
    validation_data: CausalLMDataConfig = config_field(
        lambda: CausalLMDataConfig(is_training=False, drop_remainder=False))
    init_checkpoint: str = ""
    init_checkpoint_modules: str = "all"


def pack_documents(documents, seq_length, end_token_id):
    """Token rows of documents joined by `end_token_id`, cut every
    `seq_length + 1` tokens (inputs and their shifted labels).

    Returns:
        `(token_ids, labels)` int32 `[rows, seq_length]`; the last row is
        padded with `end_token_id` inputs and `IGNORE_LABEL` labels.
    """
    from training.data.text import IGNORE_LABEL

    stream = []
    for ids in documents:
        stream.extend(ids)
        stream.append(end_token_id)
    span = seq_length + 1
    rows = max(1, -(-(len(stream) - 1) // seq_length))
    padded = np.full((rows * seq_length + 1,), -1, "int64")
    padded[:len(stream)] = stream
    windows = np.stack([padded[r * seq_length:r * seq_length + span]
                        for r in range(rows)])
    tokens = np.where(windows[:, :-1] < 0, end_token_id, windows[:, :-1])
    labels = np.where(windows[:, 1:] < 0, IGNORE_LABEL, windows[:, 1:])
    return tokens.astype("int32"), labels.astype("int32")


def chat_rows(chats, tokenizer, seq_length, pad_token_id):
    """One row per chat: the rendered conversation, labels only on the
    last assistant message (and the end of its turn).

    Returns:
        `(token_ids, labels, truncated)`.
    """
    from training.data.text import IGNORE_LABEL

    tokens = np.full((len(chats), seq_length), pad_token_id, "int32")
    labels = np.full((len(chats), seq_length), IGNORE_LABEL, "int32")
    truncated = 0
    for row, messages in enumerate(chats):
        prompt = tokenizer.encode(tokenizer.apply_chat_template(
            messages[:-1], add_generation_prompt=True))
        ids = tokenizer.encode(tokenizer.apply_chat_template(
            messages, add_generation_prompt=False))
        if len(ids) > seq_length + 1:
            truncated += 1
            ids = ids[:seq_length + 1]
        inputs, targets = ids[:-1], ids[1:]
        tokens[row, :len(inputs)] = inputs
        answer = np.asarray(targets, "int32")
        answer[:max(len(prompt) - 1, 0)] = IGNORE_LABEL
        labels[row, :len(answer)] = answer
    return tokens, labels, truncated


def tfds_documents(data_config, where):
    """The `tfds_text_key` strings of a prepared TFDS split (at most
    `num_examples` of them when that is positive).

    Raises:
        ConfigError: the set is not prepared, or has no such feature.
    """
    from training.data.readers import tfds_split

    dataset = tfds_split(data_config, as_supervised=False)
    key = data_config.tfds_text_key
    if key not in dataset.element_spec:
        raise ConfigError(
            f"{where}.tfds_text_key: TFDS set {data_config.tfds_name!r} has "
            f"no feature {key!r} (it has {sorted(dataset.element_spec)}).")
    if data_config.num_examples > 0:
        dataset = dataset.take(data_config.num_examples)
    texts = []
    for value in dataset.map(lambda example: example[key]).as_numpy_iterator():
        text = value.decode("utf-8").strip()
        if text:
            texts.append(text)
    return texts


@register_task(CausalLMConfig)
class CausalLMTask(Task):
    """Builds the `CausalLM` (LoRA when asked), the packed or chat rows and
    the next-token loss and accuracy."""

    def __init__(self, params):
        super().__init__(params)
        self._tokenizer = None
        self._rows = {}

    def _load_model(self):
        import zoo

        m = self.params.model
        if not (m.preset or m.name):
            raise ConfigError("task.model: set preset (a causal LM preset) "
                              "or name (a registered decoder).")
        if m.preset:
            model = zoo.from_preset(m.preset)
        else:
            model = zoo.create_model(m.name, vocabulary=m.tokenizer.vocabulary,
                                     merges=m.tokenizer.merges, **m.arguments)
        if not isinstance(model, zoo.CausalLM):
            raise ConfigError(f"task.model: {m.preset or m.name!r} is not a "
                              "causal LM.")
        if model.tokenizer is None:
            raise ConfigError(f"task.model: {m.preset or m.name!r} has no "
                              "tokenizer.")
        return model

    @property
    def tokenizer(self):
        """The model's tokenizer (loaded once)."""
        if self._tokenizer is None:
            self._tokenizer = self._load_model().tokenizer
        return self._tokenizer

    def build_model(self):
        model = self._load_model()
        self._tokenizer = model.tokenizer
        lora = self.params.model.lora
        if lora.rank:
            added = model.backbone.enable_lora(lora.rank,
                                               lora_alpha=lora.alpha)
            logger.info("LoRA rank %d: %d trainable parameters.", lora.rank,
                        added)
        for data in (self.params.train_data, self.params.validation_data):
            limit = model.backbone.max_sequence_length
            if data.input_path and data.seq_length > limit:
                raise ConfigError(
                    f"seq_length={data.seq_length} exceeds the model's "
                    f"{limit} positions.")
        return model

    def _where(self, data_config):
        return ("task.validation_data"
                if data_config is self.params.validation_data
                else "task.train_data")

    def rows(self, data_config):
        """`(token_ids, labels)` of a data config, built once."""
        key = (self._where(data_config), repr(data_config.as_dict()))
        if key not in self._rows:
            self._rows[key] = self._build_rows(data_config)
        return self._rows[key]

    def _build_rows(self, data_config):
        from training.data.text import list_input_files, read_text_lines
        from zoo.errors import DataFormatError

        tokenizer = self.tokenizer
        end = tokenizer.eos_token_id
        if end is None:
            raise ConfigError("The tokenizer has no end-of-sequence token.")
        where = self._where(data_config)
        if data_config.tfds_name:
            return pack_documents(
                [tokenizer.encode(t) for t in tfds_documents(data_config,
                                                             where)],
                data_config.seq_length, end)
        if data_config.file_type == "text":
            lines = read_text_lines(data_config, where)
            return pack_documents([tokenizer.encode(t) for t in lines.texts],
                                  data_config.seq_length, end)
        chats = []
        for path in list_input_files(data_config, where):
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        messages = json.loads(line)["messages"]
                    except (ValueError, KeyError, TypeError) as error:
                        raise DataFormatError(
                            f"{path}:{number}: not a JSON object with "
                            f"'messages' ({error}).") from None
                    if not messages or messages[-1].get("role") != (
                            "assistant"):
                        raise DataFormatError(
                            f"{path}:{number}: the last message is not the "
                            "assistant's (the answer to learn).")
                    chats.append(messages)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
            else end
        tokens, labels, truncated = chat_rows(chats, tokenizer,
                                              data_config.seq_length, pad)
        if truncated:
            logger.warning("%s: %d of %d chats are longer than seq_length=%d"
                           " and were truncated.", where, truncated,
                           len(chats), data_config.seq_length)
        return tokens, labels

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        from training.data.readers import finish_pipeline
        from training.data.text import (
            batch_size_per_process,
            gather,
            index_batches,
            shard_indices,
        )

        tokens, labels = self.rows(data_config)
        batch = batch_size_per_process(data_config, num_shards,
                                       self._where(data_config))
        is_training = bool(data_config.is_training)
        dataset = index_batches(
            shard_indices(len(tokens), num_shards, shard_index), batch,
            is_training=is_training,
            seed=seed if data_config.seed is None else data_config.seed,
            start_step=start_step,
            drop_remainder=data_config.drop_remainder or is_training)
        # Packed rows and padded chats attend every position (a chat's
        # padding comes after its last token and is never a label).
        arrays = {"token_ids": tokens, "padding_mask": np.ones_like(tokens),
                  "labels": labels}

        def load(number, indices):
            rows = gather(arrays, indices)
            return ({"token_ids": rows["token_ids"],
                     "padding_mask": rows["padding_mask"]}, rows["labels"])

        return finish_pipeline(dataset.map(load), data_config)

    def write_export(self, model, preset_dir):
        """The best model's preset, LoRA merged into the kernels (a plain
        decoder that serves like the adapted one), its tokenizer in
        `assets/`; the LoRA factors alone go to `lora.npz` beside it."""
        import os

        if not any(getattr(layer, "lora_enabled", False)
                   for layer in model.backbone.lora_layers()):
            model.save_to_preset(preset_dir)
            return
        model.merge_lora().save_to_preset(preset_dir)
        path = os.path.join(os.path.dirname(preset_dir), LORA_FILE)
        tmp = path + ".tmp.npz"
        np.savez(tmp, **model.backbone.lora_state())
        os.replace(tmp, path)

    def build_losses(self):
        from training.tasks.nlp_common import masked_cross_entropy

        return masked_cross_entropy()

    def build_metrics(self):
        from training.tasks.nlp_common import MaskedAccuracy

        return [MaskedAccuracy(name="accuracy")]


@register_experiment("causal_lm")
def causal_lm():
    """Fine-tuning a causal LM: set `task.model` and the data.

    zoo's own defaults (the Model Garden has no decoder experiment): AdamW
    (weight decay 0.01, not on norms, biases or embeddings; global norm
    clipped to 1.0), learning rate 1e-4 decaying linearly to 0 over 1,000
    steps after 50 steps of linear warmup, rows of 512 tokens, batch 8,
    validation every 200 steps; the model with the lowest validation loss
    is exported to `<model_dir>/best/preset` (LoRA merged, `lora.npz`
    beside it).
    """
    config = ExperimentConfig(
        task=CausalLMConfig(),
        trainer=TrainerConfig(train_steps=1000, steps_per_loop=200,
                              summary_interval=200, checkpoint_interval=200,
                              validation_interval=200, validation_steps=-1,
                              best_checkpoint_export_subdir="best",
                              best_checkpoint_eval_metric="loss",
                              best_checkpoint_metric_comp="lower"),
        runtime=RuntimeConfig())
    config.override({"trainer.optimizer_config": {
        "optimizer": {"type": "adamw", "adamw": {
            "weight_decay_rate": 0.01,
            "exclude_from_weight_decay": ["norm", "bias", "embedding"]}},
        "learning_rate": {"type": "polynomial", "polynomial": {
            "initial_learning_rate": 1e-4, "end_learning_rate": 0.0,
            "decay_steps": 1000}},
        "warmup": {"type": "linear", "linear": {"warmup_steps": 50}}}})
    return config
