"""Masked-LM pretraining on raw text, with dynamic masking.

Config field names follow the Model Garden's `official/nlp/tasks/
masked_lm.py` (`MaskedLMConfig`, its `PretrainerConfig` model) and
`official/nlp/data/pretrain_text_dataloader.py`
(`BertPretrainTextDataConfig`: `seq_length`, `max_predictions_per_seq`,
`masking_rate`). Data are plain text files, one example per non-blank line,
tokenized and packed `[CLS] text [SEP]` in the input pipeline and masked
per batch (15% of the tokens; 80% `[MASK]`, 10% random, 10% unchanged:
`training.data.text.mask_tokens`), so every epoch sees new masks.

The model is `zoo.nlp.MaskedLM`: the encoder and BERT's masked-LM head with
the output embedding tied to the input one. Metric: `masked_lm_accuracy`
(the Model Garden's name) over the masked positions. Next-sentence
prediction is not part of it (`cls_heads` must be empty,
`use_next_sentence_label` false): RoBERTa (Liu et al. 2019) showed it can
go without loss.
"""

import dataclasses
from typing import List, Optional, Union

from training.config.base import Config, ConfigError, config_field
from training.config.definitions import RuntimeConfig, TaskConfig
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
    require_default,
)



@dataclasses.dataclass
class PretrainTextDataConfig(TextDataConfig):
    """Raw text for masked-LM pretraining.

    Attributes:
        max_predictions_per_seq: masked positions per example (the width of
            `mask_positions`).
        masking_rate: fraction of the tokens chosen (BERT: 0.15).
        lower_case: lower-case before WordPiece.
        on_overflow: default `truncate` (long lines are the rule in raw
            text).
        use_next_sentence_label, use_whole_word_masking, use_position_id,
        use_v2_feature_names, doc_batch_size: the Model Garden's; the
        first three are accepted as false only.
    """

    input_path: Union[str, List[str]] = ""
    global_batch_size: int = 512
    is_training: Optional[bool] = True
    seq_length: int = 512
    max_predictions_per_seq: int = 76
    masking_rate: float = 0.15
    lower_case: bool = True
    on_overflow: str = "truncate"
    use_next_sentence_label: bool = False
    use_whole_word_masking: bool = False
    use_position_id: bool = False
    use_v2_feature_names: bool = False
    doc_batch_size: int = 8

    def validate(self, path=""):
        super().validate(path)
        check_file_type(self, ("text",), path)
        if self.use_next_sentence_label:
            raise ConfigError(
                f"{path}.use_next_sentence_label=true: next-sentence "
                "prediction is not supported; set it to false (and "
                "task.model.cls_heads: []).")
        require_default(self, path, use_whole_word_masking=False,
                        use_position_id=False)
        if not 0.0 < self.masking_rate < 1.0:
            raise ConfigError(f"{path}.masking_rate must be in (0, 1), got "
                              f"{self.masking_rate}.")
        if self.max_predictions_per_seq < 1:
            raise ConfigError(f"{path}.max_predictions_per_seq must be "
                              "positive.")


@dataclasses.dataclass
class PretrainerModel(Config):
    """The Model Garden's `PretrainerConfig`: the encoder and the masked-LM
    head's settings.

    `mlm_activation` and `mlm_initializer_range` must equal the encoder's
    (`zoo.nlp.MaskedLM` takes them from it); `cls_heads` must be empty.
    """

    encoder: EncoderConfig = config_field(EncoderConfig)
    cls_heads: List[dict] = config_field(list)
    mlm_activation: str = "gelu"
    mlm_initializer_range: float = 0.02
    mlm_output_weights_use_proj: bool = False

    def validate(self, path=""):
        if self.cls_heads:
            raise ConfigError(
                f"{path}.cls_heads: classification heads (next-sentence "
                "prediction) are not supported; set cls_heads: [].")
        require_default(self, path, mlm_output_weights_use_proj=False)


@dataclasses.dataclass
class MaskedLMConfig(TaskConfig):
    """The masked-LM task config (the Model Garden's fields)."""

    init_checkpoint: str = ""
    init_checkpoint_modules: str = "backbone"
    model: PretrainerModel = config_field(PretrainerModel)
    scale_loss: bool = False
    train_data: PretrainTextDataConfig = config_field(
        lambda: PretrainTextDataConfig(is_training=True))
    validation_data: PretrainTextDataConfig = config_field(
        lambda: PretrainTextDataConfig(is_training=False,
                                       drop_remainder=False))


@register_task(MaskedLMConfig)
class MaskedLMTask(TextTask):
    """Builds a `MaskedLM`, the masked text pipelines, loss and metric."""

    def build_model(self):
        import zoo

        encoder = self.build_encoder()
        m = self.params.model
        if m.mlm_activation != encoder.activation:
            raise ConfigError(
                f"task.model.mlm_activation={m.mlm_activation!r} differs from"
                f" the encoder's activation {encoder.activation!r}; the "
                "masked-LM head uses the encoder's: set them equal.")
        if abs(m.mlm_initializer_range - encoder.initializer_range) > 1e-12:
            raise ConfigError(
                f"task.model.mlm_initializer_range={m.mlm_initializer_range}"
                f" differs from the encoder's initializer_range "
                f"{encoder.initializer_range}; set them equal.")
        return zoo.MaskedLM(encoder, dtype="float32")

    def lines(self, data_config):
        """The text lines of a data config, read (and checked) once."""

        def read():
            lines = text_data.read_text_lines(data_config,
                                              self.data_path(data_config))
            text_data.check_lengths([lines.texts], lines.locations,
                                    self.tokenizer, data_config.seq_length,
                                    data_config.on_overflow, what="line")
            return lines

        return self.cached(data_config, read)

    def build_inputs(self, data_config, *, seed=0, start_step=0,
                     num_shards=1, shard_index=0, counter=None):
        _, batch, data_seed = self.pipeline_options(data_config, seed,
                                                    num_shards)
        return text_data.pretraining_dataset(
            self.lines(data_config), self.preprocessor(data_config),
            data_config, batch_size=batch, seed=data_seed,
            start_step=start_step, num_shards=num_shards,
            shard_index=shard_index)

    def build_losses(self):
        return masked_cross_entropy()

    def build_metrics(self):
        return [MaskedAccuracy(name="masked_lm_accuracy")]


# --- registered experiments -----------------------------------------------------


@register_experiment("bert/pretraining")
def bert_pretraining():
    """BERT masked-LM pretraining: the Model Garden's `bert/pretraining`
    (`official/nlp/configs/pretraining_experiments.py`).

    XLA on; AdamW (weight decay 0.01, global norm clipped to 1.0),
    learning rate 1e-4 decaying linearly to 0 over 1,000,000 steps after a
    polynomial warmup (10,000 steps in `wiki_books_pretrain.yaml`); batch
    512 of 512 tokens with 76 predictions each. Unlike the Model Garden's,
    without next-sentence prediction (see the module docstring). Set the
    data paths and the vocabulary.
    """
    return bert_experiment(
        MaskedLMConfig(
            train_data=PretrainTextDataConfig(),
            validation_data=PretrainTextDataConfig(is_training=False)),
        learning_rate=1e-4,
        runtime=RuntimeConfig(enable_xla=True),
        train_steps=1_000_000)
