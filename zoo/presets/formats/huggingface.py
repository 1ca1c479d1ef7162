"""Hugging Face transformers model directories: `config.json` (with its
`model_type`), `model.safetensors` and the tokenizer's files (`vocab.txt`
or `spiece.model`, `tokenizer_config.json`, sentence-transformers'
`sentence_bert_config.json`). The family's converter
(`zoo/convert/huggingface/`) builds the zoo model and reads the weights."""

from pathlib import Path

from zoo.errors import PresetError
from zoo.presets import loading
from zoo.presets.directory import read_json
from zoo.presets.formats import PresetFormat, register_format

WEIGHTS_FILE = "model.safetensors"
VOCABULARY_FILES = {"bert": "vocab.txt", "albert": "spiece.model"}
OPTIONAL_FILES = ("tokenizer_config.json", "sentence_bert_config.json",
                  "tokenizer.json")
#: model types that load as a `CausalLM` (with `tokenizer.json`'s BPE).
DECODERS = ("llama", "gpt2")


def decoder_tokenizer(path):
    """The `BytePairTokenizer` of a decoder directory's `tokenizer.json`
    (with `tokenizer_config.json`'s chat template and special tokens), or
    None without one.

    Raises:
        PresetError: a tokenizer that is not byte-level BPE.
    """
    from zoo.nlp.bpe import BytePairTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        return None
    data = read_json(path / "tokenizer.json")
    model = data.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in json_text(
            data.get("pre_tokenizer")):
        raise PresetError(
            f"{path / 'tokenizer.json'} is not a byte-level BPE tokenizer "
            "(the one zoo's decoders read).")
    vocab = dict(model["vocab"])
    for added in data.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    tokens = [None] * (max(vocab.values()) + 1)
    for token, index in vocab.items():
        tokens[index] = token
    tokens = [t if t is not None else f"<unused_{i}>"
              for i, t in enumerate(tokens)]
    merges = [m if isinstance(m, str) else " ".join(m)
              for m in model.get("merges", [])]
    config = {}
    if (path / "tokenizer_config.json").is_file():
        config = read_json(path / "tokenizer_config.json")

    def token_id(key):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return vocab.get(value) if value is not None else None

    digits = "individual_digits" in json_text(data.get("pre_tokenizer"))
    return BytePairTokenizer(
        tokens, merges,
        special_tokens=[a["content"] for a in data.get("added_tokens", [])],
        pre_tokenizer="smollm" if digits else "gpt2",
        bos_token_id=token_id("bos_token"), eos_token_id=token_id("eos_token"),
        pad_token_id=token_id("pad_token"),
        chat_template=config.get("chat_template"))


def json_text(value):
    """`value` as JSON text (to look for a pre-tokenizer's type)."""
    import json

    return json.dumps(value)


def huggingface_preprocessing(path, config):
    """The text preprocessing of a transformers model directory.

    Reads the vocabulary (`vocab.txt` for BERT, `spiece.model` for ALBERT),
    the lower-casing rule (`tokenizer_config.json`'s `do_lower_case`, else
    whether the directory or its `_name_or_path` says "uncased") and the
    sequence length (sentence-transformers' `max_seq_length`, else the
    tokenizer's `model_max_length`, never past the position embeddings).

    Returns:
        (preprocessing dict for `preprocessor_from_preset_config`, assets
        dict name -> path), or (None, None) when there is no vocabulary.
    """
    path = Path(path)
    model_type = config.get("model_type")
    vocabulary = VOCABULARY_FILES.get(model_type)
    if not vocabulary or not (path / vocabulary).is_file():
        return None, None
    tokenizer_config = {}
    if (path / "tokenizer_config.json").is_file():
        tokenizer_config = read_json(path / "tokenizer_config.json")
    positions = int(config.get("max_position_embeddings", 512))
    length = tokenizer_config.get("model_max_length", positions)
    if (path / "sentence_bert_config.json").is_file():
        length = read_json(path / "sentence_bert_config.json").get(
            "max_seq_length", length)
    length = min(int(length) if isinstance(length, (int, float)) and
                 length < 1e9 else positions, positions)
    if "do_lower_case" in tokenizer_config:
        lowercase = bool(tokenizer_config["do_lower_case"])
    else:
        name = (str(config.get("_name_or_path", "")) + " " + path.name)
        lowercase = model_type == "albert" or "uncased" in name.lower()
    preprocessing = {"vocabulary": vocabulary, "sequence_length": length,
                     "lowercase": lowercase}
    if model_type == "bert":
        preprocessing["tokenizer"] = "wordpiece"
        strip = tokenizer_config.get("strip_accents")
        if strip is not None:
            preprocessing["strip_accents"] = bool(strip)
        if "tokenize_chinese_chars" in tokenizer_config:
            preprocessing["split_on_cjk"] = bool(
                tokenizer_config["tokenize_chinese_chars"])
    else:
        preprocessing["tokenizer"] = "sentencepiece"
        preprocessing["strip_accents"] = not tokenizer_config.get(
            "keep_accents", False)
    return preprocessing, {vocabulary: path / vocabulary}


@register_format
class HuggingFaceFormat(PresetFormat):
    """`config.json` has a transformers `model_type`."""

    name = "huggingface"

    def detects(self, config):
        return "model_type" in config

    def fetch(self, handle, config, fetch):
        fetch(WEIGHTS_FILE)
        vocabulary = VOCABULARY_FILES.get(config["model_type"])
        if vocabulary:
            fetch(vocabulary)
        for name in OPTIONAL_FILES:
            fetch(name, optional=True)

    def load(self, path, config, options):
        from zoo.convert.huggingface import converter_for

        converter = converter_for(config)
        decoder = config.get("model_type") in DECODERS
        plan = loading.plan_model(
            options, default_task="causal_lm" if decoder else None,
            head_classes=None, source=str(path))
        try:
            backbone = converter.build_backbone(config,
                                                **plan.backbone_kwargs)
        except TypeError as e:
            raise PresetError(
                f"Cannot build the model of {path}: {e}") from None
        model = loading.assemble(plan, backbone)
        if options.load_weights:
            weights = path / WEIGHTS_FILE
            if not weights.is_file():
                raise PresetError(
                    f"{path} has no {WEIGHTS_FILE}; zoo reads transformers "
                    "weights in the safetensors format.")
            loading.load_converted(model, weights, "huggingface",
                                   include_head=False, source=str(path))
        if decoder:
            tokenizer = decoder_tokenizer(path)
            if tokenizer is not None and hasattr(model, "set_tokenizer"):
                model.set_tokenizer(tokenizer)
            return model
        preprocessing, assets = huggingface_preprocessing(path, config)
        if preprocessing is not None:
            loading.attach_text_preprocessor(
                model, loading.text_preprocessor(preprocessing, assets))
        loading.say_new_head(plan, model, str(path), None)
        return model
