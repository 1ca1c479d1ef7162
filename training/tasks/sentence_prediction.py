"""Sentence (pair) prediction: GLUE-style classification and regression.

Config field names follow the Model Garden's
`official/nlp/tasks/sentence_prediction.py` (`SentencePredictionConfig`:
`model.num_classes`, `metric_type`, `init_checkpoint`) and
`official/nlp/data/sentence_prediction_dataloader.py` (`seq_length`,
`label_type`, `label_field`, `text_fields`), so its GLUE YAML files parse.
Data are GLUE's tab-separated files:

```yaml
task:
  model: {num_classes: 2, encoder: {type: preset, preset: {handle: all_minilm_l6_v2}}}
  metric_type: accuracy       # or f1, matthews_corrcoef (CoLA), pearson_spearman_corr (STS-B)
  train_data: {input_path: SST-2/train.tsv, text_fields: [sentence], label_field: label, seq_length: 128}
  validation_data: {input_path: SST-2/dev.tsv, text_fields: [sentence], label_field: label, seq_length: 128}
```

`num_classes: 1` is regression (mean squared error). Metrics, as the Model
Garden names them: `cls_accuracy` (classification) or `mean_squared_error`
(regression) from Keras during training and evaluation; with `metric_type`
`f1`, `matthews_corrcoef` or `pearson_spearman_corr` the task scores the
whole validation set itself (scikit-learn's `f1_score` and
`matthews_corrcoef`, the mean of SciPy's Pearson and Spearman
correlations, as the Model Garden does) and adds that metric.
"""

import dataclasses
from typing import List, Optional, Union

import keras
import numpy as np

from training.config.base import Config, ConfigError, config_field
from training.config.definitions import TaskConfig
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

METRIC_TYPES = ("accuracy", "f1", "matthews_corrcoef",
                "pearson_spearman_corr")



@dataclasses.dataclass
class SentencePredictionDataConfig(TextDataConfig):
    """A GLUE-style TSV data set.

    Attributes:
        text_fields: one or two text columns, by header name or 0-based
            index (pairs are packed `[CLS] a [SEP] b [SEP]`).
        label_field: the label column, by name or index.
        label_names: the class labels as written in the file, in id order;
            default `"0"`, `"1"`, ... (GLUE's); ignored for regression.
        label_type: `"int"` (classes) or `"float"` (regression).
        skip_header: the first line is a header.
        lower_case: lower-case before WordPiece (uncased vocabularies).
        include_example_id, label_name, preprocessing_hub_module_url: the
            Model Garden's, accepted with their defaults only.
    """

    input_path: Union[str, List[str]] = ""
    global_batch_size: int = 32
    is_training: Optional[bool] = True
    seq_length: int = 128
    text_fields: Optional[List[Union[str, int]]] = config_field(
        lambda: ["sentence"])
    label_field: Union[str, int] = "label"
    label_names: Optional[List[str]] = None
    label_type: str = "int"
    skip_header: bool = True
    lower_case: bool = True
    include_example_id: bool = False
    label_name: Optional[List[str]] = None
    preprocessing_hub_module_url: str = ""

    def validate(self, path=""):
        super().validate(path)
        check_file_type(self, ("tsv",), path)
        if self.label_type not in ("int", "float"):
            raise ConfigError(f"{path}.label_type: {self.label_type!r} is not"
                              " 'int' or 'float'.")
        require_default(self, path, include_example_id=False,
                        label_name=None, preprocessing_hub_module_url="")


@dataclasses.dataclass
class SentencePredictionModel(Config):
    """The classifier: an encoder, dropout and a dense layer
    (`zoo.nlp.TextClassifier`).

    `use_encoder_pooler` (the Model Garden's, default false): false pools
    the first token in the head with a new tanh layer, as the Model
    Garden's `ClassificationHead`; true reads the encoder's pooled output
    (BERT's original head).
    """

    num_classes: int = 0
    use_encoder_pooler: bool = False
    head_dropout: float = 0.1
    encoder: EncoderConfig = config_field(EncoderConfig)


@dataclasses.dataclass
class SentencePredictionConfig(TaskConfig):
    """The sentence prediction task config (the Model Garden's fields).

    `init_checkpoint` loads the encoder by default
    (`init_checkpoint_modules: backbone`), as the Model Garden's does.
    """

    init_checkpoint: str = ""
    init_checkpoint_modules: str = "backbone"
    init_cls_pooler: bool = False
    hub_module_url: str = ""
    metric_type: str = "accuracy"
    model: SentencePredictionModel = config_field(SentencePredictionModel)
    train_data: SentencePredictionDataConfig = config_field(
        lambda: SentencePredictionDataConfig(is_training=True))
    validation_data: SentencePredictionDataConfig = config_field(
        lambda: SentencePredictionDataConfig(is_training=False,
                                             drop_remainder=False))

    def validate(self, path=""):
        super().validate(path)
        require_default(self, path, hub_module_url="", init_cls_pooler=False)
        if self.metric_type not in METRIC_TYPES:
            raise ConfigError(
                f"{path}.metric_type: {self.metric_type!r} is not one of "
                f"{list(METRIC_TYPES)}.")


def pearson_spearman(predictions, labels):
    """Mean of the Pearson and Spearman correlations (GLUE's STS-B score)."""
    from scipy import stats

    predictions = np.reshape(predictions, -1)
    labels = np.reshape(labels, -1)
    return float((stats.pearsonr(predictions, labels)[0]
                  + stats.spearmanr(predictions, labels)[0]) / 2)


@register_task(SentencePredictionConfig)
class SentencePredictionTask(TextTask):
    """Builds a `TextClassifier`, its TSV pipelines, loss and metrics."""

    @property
    def regression(self):
        """True for `num_classes: 1`."""
        return self.params.model.num_classes == 1

    def _check(self):
        p = self.params
        if p.model.num_classes < 1:
            raise ConfigError(
                "task.model.num_classes must be positive (1 for regression),"
                f" got {p.model.num_classes}.")
        if self.regression and p.metric_type in ("f1", "matthews_corrcoef"):
            raise ConfigError(
                f"task.metric_type={p.metric_type!r} needs classes, but "
                "num_classes=1 is regression; use pearson_spearman_corr.")
        if not self.regression and p.metric_type == "pearson_spearman_corr":
            raise ConfigError(
                "task.metric_type='pearson_spearman_corr' scores regression;"
                f" num_classes={p.model.num_classes} is classification.")
        for data in (p.train_data, p.validation_data):
            if data.label_type == "float" and not self.regression:
                raise ConfigError(
                    f"{self.data_path(data)}.label_type='float' needs "
                    "task.model.num_classes=1 (regression).")

    def build_model(self):
        import zoo

        self._check()
        model = self.params.model
        return zoo.TextClassifier(self.build_encoder(),
                                  num_classes=model.num_classes,
                                  dropout=model.head_dropout,
                                  use_encoder_pooler=model.use_encoder_pooler,
                                  dtype="float32")

    def examples(self, data_config):
        """The examples of a data config, read (and length-checked) once."""

        def read():
            where = self.data_path(data_config)
            examples = text_data.read_sentence_examples(
                data_config, num_classes=self.params.model.num_classes,
                where=where)
            text_data.check_lengths(list(examples.texts), examples.locations,
                                    self.tokenizer, data_config.seq_length,
                                    data_config.on_overflow)
            return examples

        self._check()
        return self.cached(data_config, read)

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        _, batch, data_seed = self.pipeline_options(data_config, seed,
                                                    num_shards)
        return text_data.sentence_dataset(
            self.examples(data_config), self.preprocessor(data_config),
            data_config, batch_size=batch, seed=data_seed,
            start_step=start_step, num_shards=num_shards,
            shard_index=shard_index)

    def build_losses(self):
        if self.regression:
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def build_metrics(self):
        if self.regression:
            return [keras.metrics.MeanSquaredError(name="mean_squared_error")]
        return [keras.metrics.SparseCategoricalAccuracy(name="cls_accuracy")]

    @property
    def evaluates_itself(self):
        """For `metric_type` other than `accuracy`: the whole-set metrics."""
        return self.params.metric_type != "accuracy"

    def evaluate(self, model, data_config, *, steps=None):
        """Loss, the Keras metric and `metric_type` over the validation set.

        Returns:
            dict with `loss`, `cls_accuracy` or `mean_squared_error`, and
            `f1` / `matthews_corrcoef` / `pearson_spearman_corr`.
        """
        from sklearn import metrics

        examples = self.examples(data_config)
        _, batch, _ = self.pipeline_options(data_config, 0, 1)
        dataset = text_data.sentence_dataset(
            examples, self.preprocessor(data_config), data_config,
            batch_size=batch, seed=0, with_labels=False)
        outputs = predict_arrays(model, dataset, steps)
        labels = examples.labels[:len(outputs)]
        if self.regression:
            scores = outputs[:, 0]
            error = float(np.mean((scores - labels) ** 2))
            return {"loss": error, "mean_squared_error": error,
                    "pearson_spearman_corr": pearson_spearman(scores,
                                                              labels)}
        predicted = np.argmax(outputs, axis=-1)
        results = {"loss": softmax_cross_entropy(outputs, labels),
                   "cls_accuracy": float(np.mean(predicted == labels))}
        if self.params.metric_type == "f1":
            results["f1"] = float(metrics.f1_score(labels, predicted))
        elif self.params.metric_type == "matthews_corrcoef":
            results["matthews_corrcoef"] = float(
                metrics.matthews_corrcoef(labels, predicted))
        return results


# --- registered experiments -----------------------------------------------------


@register_experiment("bert/sentence_prediction")
def bert_sentence_prediction():
    """BERT fine-tuning on a GLUE-style task: the Model Garden's
    `bert/sentence_prediction` (`official/nlp/configs/
    finetuning_experiments.py`).

    AdamW (weight decay 0.01, global norm clipped to 1.0), learning rate
    3e-5 decaying linearly to 0 after a polynomial warmup; the step counts,
    `num_classes` and data come from the experiment's YAML file
    (`glue_mnli_matched.yaml`: 36,813 steps, 3,681 of warmup).
    """
    return bert_experiment(
        SentencePredictionConfig(
            train_data=SentencePredictionDataConfig(),
            validation_data=SentencePredictionDataConfig(
                is_training=False, drop_remainder=False)),
        learning_rate=3e-5)
