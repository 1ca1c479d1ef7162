"""Tagging (named entities, parts of speech): a label for every word.

Config field names follow the Model Garden's `official/nlp/tasks/tagging.py`
(`TaggingConfig` with `class_names`, the model's `head_dropout`) and its
`TaggingDataConfig` (`seq_length`). Data are CoNLL-style text files, a word
and its tag per line and a blank line between sentences
(`training.data.text.read_conll`):

```yaml
task:
  class_names: [O, B-PER, I-PER, B-LOC, I-LOC]
  train_data: {input_path: conll/train.txt, seq_length: 128, vocab_file: vocab.txt}
```

A word's label sits on its first word piece; the other pieces are ignored
by the loss and the metrics. Training reports `accuracy` (of first pieces);
evaluation scores words and entities over the whole validation set, as the
Model Garden does with seqeval: `accuracy` (words), and entity-level
`precision`, `recall` and `f1` (an entity counts when its type and both
ends are right; chunks as conlleval delimits them, for IOB1, IOB2 and
IOBES tags).
"""

import dataclasses
from typing import List, Optional, Union

import numpy as np

from training.config.base import Config, ConfigError, config_field
from training.config.definitions import TaskConfig
from training.data import text as text_data
from training.registry import register_experiment, register_task
from training.tasks.nlp_common import (
    EncoderConfig,
    MaskedAccuracy,
    TextDataConfig,
    TextTask,
    bert_experiment,
    check_file_type,
    masked_cross_entropy,
    predict_arrays,
    require_default,
    softmax_cross_entropy,
)



@dataclasses.dataclass
class TaggingDataConfig(TextDataConfig):
    """A CoNLL-style tagging data set.

    Attributes:
        tag_column: index of the tag among a line's whitespace-separated
            fields (default -1: the last; the word is always the first).
        lower_case: lower-case before WordPiece.
        include_sentence_id: the Model Garden's; accepted as false only.
    """

    input_path: Union[str, List[str]] = ""
    global_batch_size: int = 0
    is_training: Optional[bool] = True
    seq_length: int = 128
    tag_column: int = -1
    lower_case: bool = True
    include_sentence_id: bool = False

    def validate(self, path=""):
        super().validate(path)
        check_file_type(self, ("conll",), path)
        require_default(self, path, include_sentence_id=False)


@dataclasses.dataclass
class TaggingModel(Config):
    """The token classifier: encoder, dropout and a dense layer per token."""

    encoder: EncoderConfig = config_field(EncoderConfig)
    head_dropout: float = 0.1
    head_initializer_range: float = 0.02


@dataclasses.dataclass
class TaggingConfig(TaskConfig):
    """The tagging task config (the Model Garden's fields).

    `class_names`: the tags in id order (required).
    """

    init_checkpoint: str = ""
    init_checkpoint_modules: str = "backbone"
    hub_module_url: str = ""
    model: TaggingModel = config_field(TaggingModel)
    class_names: Optional[List[str]] = None
    train_data: TaggingDataConfig = config_field(
        lambda: TaggingDataConfig(is_training=True))
    validation_data: TaggingDataConfig = config_field(
        lambda: TaggingDataConfig(is_training=False, drop_remainder=False))

    def validate(self, path=""):
        super().validate(path)
        require_default(self, path, hub_module_url="")
        if self.class_names is not None and (
                len(set(self.class_names)) != len(self.class_names)):
            raise ConfigError(f"{path}.class_names has duplicates: "
                              f"{self.class_names}.")


# --- entity-level scoring ------------------------------------------------------------


def _split_tag(tag):
    if tag == "O" or not tag:
        return "O", ""
    if len(tag) > 1 and tag[1] in "-_" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "I", tag  # a bare type: the IO scheme


def _chunk_ends(previous, current, previous_type, current_type):
    if previous in ("E", "S"):
        return True
    if previous in ("B", "I") and current in ("B", "S", "O"):
        return True
    return previous != "O" and previous_type != current_type


def _chunk_starts(previous, current, previous_type, current_type):
    if current in ("B", "S"):
        return True
    if previous in ("E", "S", "O") and current in ("E", "I"):
        return True
    return current != "O" and previous_type != current_type


def entity_chunks(tags):
    """The entities of a tag sequence as `(type, first, last)` word indices.

    A chunk starts and ends by conlleval's rules (as seqeval applies them),
    so IOB1, IOB2 and IOBES tags all work: e.g. `[B-PER, I-PER, O, I-LOC]`
    gives `[("PER", 0, 1), ("LOC", 3, 3)]`.
    """
    chunks, start = [], None
    previous, previous_type = "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _split_tag(tag)
        if start is not None and _chunk_ends(previous, prefix, previous_type,
                                             kind):
            chunks.append((previous_type, start, i - 1))
            start = None
        if _chunk_starts(previous, prefix, previous_type, kind):
            start = i
        previous, previous_type = prefix, kind
    return chunks


def entity_scores(true_sentences, predicted_sentences):
    """Entity precision, recall, F1 and word accuracy over sentences.

    Args:
        true_sentences, predicted_sentences: lists of lists of tag names.

    Returns:
        dict `precision`, `recall`, `f1`, `accuracy`, each in [0, 1].
    """
    correct = found = expected = 0
    right = words = 0
    for truth, predicted in zip(true_sentences, predicted_sentences):
        true_chunks = set(entity_chunks(truth))
        predicted_chunks = set(entity_chunks(predicted))
        correct += len(true_chunks & predicted_chunks)
        found += len(predicted_chunks)
        expected += len(true_chunks)
        right += sum(t == p for t, p in zip(truth, predicted))
        words += len(truth)
    precision = correct / found if found else 0.0
    recall = correct / expected if expected else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall else 0.0)
    return {"precision": precision, "recall": recall, "f1": f1,
            "accuracy": right / words if words else 0.0}


@register_task(TaggingConfig)
class TaggingTask(TextTask):
    """Builds a `TokenClassifier`, CoNLL pipelines, loss and evaluation."""

    def _class_names(self):
        names = self.params.class_names
        if not names:
            raise ConfigError(
                "task.class_names is empty: list the tags in id order, e.g. "
                "[O, B-PER, I-PER, ...].")
        return list(names)

    def build_model(self):
        import zoo

        return zoo.TokenClassifier(self.build_encoder(),
                                   num_classes=len(self._class_names()),
                                   dropout=self.params.model.head_dropout,
                                   initializer_range=(
                                       self.params.model.head_initializer_range),
                                   dtype="float32")

    def features(self, data_config):
        """Packed arrays (`tagging_features`) of a data config, built once."""

        def build():
            sentences = text_data.read_conll(
                data_config, self._class_names(), self.data_path(data_config))
            return text_data.tagging_features(
                sentences, self.tokenizer, data_config.seq_length,
                data_config.on_overflow)

        return self.cached(data_config, build)

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        _, batch, data_seed = self.pipeline_options(data_config, seed,
                                                    num_shards)
        return text_data.feature_dataset(
            self.features(data_config), data_config, batch_size=batch,
            seed=data_seed, start_step=start_step, num_shards=num_shards,
            shard_index=shard_index)

    def build_losses(self):
        return masked_cross_entropy()

    def build_metrics(self):
        return [MaskedAccuracy(name="accuracy")]

    @property
    def evaluates_itself(self):
        """Always: entity F1 needs whole sentences."""
        return True

    def evaluate(self, model, data_config, *, steps=None):
        """Word accuracy and entity precision/recall/F1 of the kept words
        (words cut off by `seq_length` are not scored), and the loss."""
        arrays = self.features(data_config)
        _, batch, _ = self.pipeline_options(data_config, 0, 1)
        dataset = text_data.feature_dataset(
            arrays, data_config, batch_size=batch, seed=0, with_labels=False)
        logits = predict_arrays(model, dataset, steps)
        labels = arrays["labels"][:len(logits)]
        scored = labels != text_data.IGNORE_LABEL
        predicted = np.argmax(logits, axis=-1)
        names = self._class_names()
        truths, guesses = [], []
        for row in range(len(logits)):
            truths.append([names[i] for i in labels[row][scored[row]]])
            guesses.append([names[i] for i in predicted[row][scored[row]]])
        results = entity_scores(truths, guesses)
        results["loss"] = softmax_cross_entropy(logits[scored],
                                                labels[scored])
        return results


# --- registered experiments -----------------------------------------------------


@register_experiment("bert/tagging")
def bert_tagging():
    """BERT token tagging: the Model Garden's `bert/tagging`
    (`official/nlp/configs/finetuning_experiments.py`).

    AdamW (weight decay 0.01, global norm clipped to 1.0), learning rate
    8e-5 decaying linearly to 0 after a polynomial warmup; step counts,
    `class_names` and data come from the experiment's YAML file.
    """
    return bert_experiment(
        TaggingConfig(
            train_data=TaggingDataConfig(),
            validation_data=TaggingDataConfig(is_training=False,
                                              drop_remainder=False)),
        learning_rate=8e-5)
