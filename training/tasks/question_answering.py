"""Span labeling on SQuAD v1.1: find the answer to a question in a context.

Config field names follow the Model Garden's
`official/nlp/tasks/question_answering.py` (`QuestionAnsweringConfig`:
`n_best_size`, `max_answer_length`) and
`official/nlp/data/question_answering_dataloader.py` (`QADataConfig`:
`seq_length`, `query_length`, `doc_stride`, `vocab_file`,
`do_lower_case`), so its `squad_v1.yaml` parses. Both training and
validation data are SQuAD v1.1 JSON files (`training/data/squad.py` turns
them into windows).

Training minimises the mean of the start and end cross-entropies (the Model
Garden's loss) and reports `start_position_accuracy` and
`end_position_accuracy`. Evaluation decodes the best span of every question
across its windows and scores the answer strings with the official SQuAD
v1.1 formulas (`zoo.nlp.metrics`): `exact_match` and `f1` in percent (as
the official script prints them), `final_f1` the same F1 as a fraction (the
Model Garden's name and scale, so `best_checkpoint_eval_metric: final_f1`
from its YAML works), and `loss`.
"""

import dataclasses
from typing import List, Optional, Union

import keras

from training.config.base import Config, ConfigError, config_field
from training.config.definitions import TaskConfig
from training.data import squad
from training.data import text as text_data
from training.registry import register_experiment, register_task
from training.tasks.nlp_common import (
    EncoderConfig,
    TextDataConfig,
    TextTask,
    bert_experiment,
    check_file_type,
    predict_arrays,
    require_default,
    softmax_cross_entropy,
)



@dataclasses.dataclass
class QADataConfig(TextDataConfig):
    """A SQuAD v1.1 JSON data set.

    Attributes:
        doc_stride: pieces between the starts of consecutive context
            windows when a context does not fit.
        query_length: most question pieces kept (longer questions are cut,
            see `on_overflow`).
        do_lower_case: lower-case before WordPiece.
        version_2_with_negative, xlnet_format: accepted as false only.
        input_preprocessed_data_path: accepted and unused (features are
            built in memory).
    """

    input_path: Union[str, List[str]] = ""
    global_batch_size: int = 48
    is_training: Optional[bool] = True
    seq_length: int = 384
    version_2_with_negative: bool = False
    input_preprocessed_data_path: str = ""
    doc_stride: int = 128
    query_length: int = 64
    do_lower_case: bool = True
    xlnet_format: bool = False

    def validate(self, path=""):
        super().validate(path)
        check_file_type(self, ("json",), path)
        require_default(self, path, version_2_with_negative=False,
                        xlnet_format=False)
        if self.doc_stride < 1 or self.query_length < 1:
            raise ConfigError(f"{path}: doc_stride and query_length must be "
                              "positive.")


@dataclasses.dataclass
class QuestionAnsweringModel(Config):
    """The span labeler's encoder (`zoo.nlp.SpanLabeler` adds the head)."""

    encoder: EncoderConfig = config_field(EncoderConfig)


@dataclasses.dataclass
class QuestionAnsweringConfig(TaskConfig):
    """The SQuAD task config (the Model Garden's fields).

    Attributes:
        n_best_size: start and end candidates per window when decoding.
        max_answer_length: longest answer, in pieces.
        null_score_diff_threshold: SQuAD v2.0's; accepted and unused.
    """

    init_checkpoint: str = ""
    init_checkpoint_modules: str = "backbone"
    hub_module_url: str = ""
    n_best_size: int = 20
    max_answer_length: int = 30
    null_score_diff_threshold: float = 0.0
    model: QuestionAnsweringModel = config_field(QuestionAnsweringModel)
    train_data: QADataConfig = config_field(lambda: QADataConfig(is_training=True))
    validation_data: QADataConfig = config_field(
        lambda: QADataConfig(is_training=False, drop_remainder=False))

    def validate(self, path=""):
        super().validate(path)
        require_default(self, path, hub_module_url="")
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ConfigError(f"{path}: n_best_size and max_answer_length "
                              "must be positive.")


@keras.saving.register_keras_serializable(package="zoo_training")
class HalfSparseCrossEntropy(keras.losses.Loss):
    """Half the sparse categorical cross-entropy of logits: the start and
    end losses of a span labeler then add up to their mean."""

    def call(self, y_true, y_pred):
        return 0.5 * keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=True)


@register_task(QuestionAnsweringConfig)
class QuestionAnsweringTask(TextTask):
    """Builds a `SpanLabeler`, SQuAD windows, the loss and the evaluation."""

    def build_model(self):
        import zoo

        return zoo.SpanLabeler(self.build_encoder(), dtype="float32")

    def features(self, data_config):
        """`(SquadFeatures, examples)` of a data config, built once."""

        def build():
            where = self.data_path(data_config)
            if data_config.query_length + 3 >= data_config.seq_length:
                raise ConfigError(
                    f"{where}: query_length={data_config.query_length} "
                    f"leaves no room for the context in seq_length="
                    f"{data_config.seq_length} (3 special tokens).")
            files = text_data.list_input_files(data_config, where)
            examples = squad.read_squad(
                files,
                split_punctuation=data_config.tokenization == "WordPiece")
            if data_config.num_examples > 0:
                examples = examples[:data_config.num_examples]
            return squad.squad_features(
                examples, self.tokenizer,
                seq_length=data_config.seq_length,
                query_length=data_config.query_length,
                doc_stride=data_config.doc_stride,
                on_overflow=data_config.on_overflow,
                is_training=bool(data_config.is_training))

        return self.cached(data_config, build)

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        _, batch, data_seed = self.pipeline_options(data_config, seed,
                                                    num_shards)
        features, _ = self.features(data_config)
        return text_data.feature_dataset(
            features.arrays(), data_config, batch_size=batch, seed=data_seed,
            start_step=start_step, num_shards=num_shards,
            shard_index=shard_index,
            label_key=["start_logits", "end_logits"])

    def build_losses(self):
        return {"start_logits": HalfSparseCrossEntropy(),
                "end_logits": HalfSparseCrossEntropy()}

    def build_metrics(self):
        return {
            "start_logits": [keras.metrics.SparseCategoricalAccuracy(
                name="accuracy")],
            "end_logits": [keras.metrics.SparseCategoricalAccuracy(
                name="accuracy")],
        }

    @property
    def evaluates_itself(self):
        """Always: exact match and F1 need every window of every question."""
        return True

    def evaluate(self, model, data_config, *, steps=None):
        """Decodes answers and scores them with the SQuAD v1.1 formulas.

        With `steps`, only the questions whose windows fall in the first
        `steps` batches are scored.

        Returns:
            dict with `exact_match` and `f1` (percent), `final_f1`
            (fraction) and `loss` (mean of start and end cross-entropy).
        """
        from zoo.nlp.metrics import squad_evaluate

        features, examples = self.features(data_config)
        _, batch, _ = self.pipeline_options(data_config, 0, 1)
        dataset = text_data.feature_dataset(
            features.arrays(), data_config, batch_size=batch, seed=0,
            label_key=["start_logits", "end_logits"], with_labels=False)
        outputs = predict_arrays(model, dataset, steps)
        start, end = outputs["start_logits"], outputs["end_logits"]
        count = len(start)
        index = features.example_index
        if count < len(features) and index[count] == index[count - 1]:
            # A question cut off in the middle of its windows is dropped.
            count = int((index[:count] < index[count - 1]).sum())
            start, end = start[:count], end[:count]
        answers = squad.predict_answers(
            examples, features, start, end,
            n_best_size=self.params.n_best_size,
            max_answer_length=self.params.max_answer_length)
        scores = squad_evaluate(squad.evaluation_set(examples, answers),
                                answers)
        loss = (softmax_cross_entropy(start, features.start_positions[:count])
                + softmax_cross_entropy(end,
                                        features.end_positions[:count])) / 2
        return {"loss": loss, "exact_match": scores["exact_match"],
                "f1": scores["f1"], "final_f1": scores["f1"] / 100.0}


# --- registered experiments -----------------------------------------------------


@register_experiment("bert/squad")
def bert_squad():
    """BERT on SQuAD: the Model Garden's `bert/squad`
    (`official/nlp/configs/finetuning_experiments.py`).

    AdamW (weight decay 0.01, global norm clipped to 1.0), learning rate
    8e-5 decaying linearly to 0 after a polynomial warmup, batch 48,
    384-piece windows 128 apart, 64-piece questions; step counts and
    best-model export come from `squad_v1.yaml` (3,699 steps, 370 of
    warmup, `final_f1`). Set the data paths, the vocabulary (or a preset
    encoder) and `init_checkpoint`.
    """
    return bert_experiment(
        QuestionAnsweringConfig(train_data=QADataConfig(),
                                validation_data=QADataConfig()),
        learning_rate=8e-5)
