"""Remote preset directories: fetched file by file into the cache.

A remote preset (`https://host/path/`, `hf://org/repo`, `gs://bucket/dir`)
is read as a directory. `config.json` comes first and says which format it is:

- a zoo (or keras-hub) preset: `metadata.json` follows and lists every other
  file with its sha256, which is verified;
- a keras-hub BERT / ALBERT preset (`config.json` registers
  `keras_hub>BertBackbone` or `keras_hub>AlbertBackbone`): its
  `model.weights.h5`, `tokenizer.json`, `preprocessor.json` and
  `assets/tokenizer/vocabulary.{txt,spm}`;
- a timm model repository (`config.json` has `"architecture"`):
  `model.safetensors` follows;
- a Hugging Face transformers BERT / ALBERT repository (`config.json` has
  `"model_type"`): `model.safetensors` and the tokenizer files follow
  (`vocab.txt` or `spiece.model`; `tokenizer_config.json` and
  sentence-transformers' `sentence_bert_config.json` when present).

Every file goes through `download.fetch`, so the second load of the same
preset makes no request at all.

`kaggle://owner/model/framework/variation[/version]` is handed to
`kagglehub`, which keeps its own cache.
"""

import os
from pathlib import Path

from zoo.errors import OfflineError, PresetError
from zoo.presets import download
from zoo.presets.directory import CONFIG_FILE, METADATA_FILE, read_json

TIMM_WEIGHTS_FILE = "model.safetensors"
HF_WEIGHTS_FILE = "model.safetensors"
HF_VOCABULARY_FILES = {"bert": "vocab.txt", "albert": "spiece.model"}
HF_OPTIONAL_FILES = ("tokenizer_config.json", "sentence_bert_config.json")
REMOTE_SCHEMES = ("http", "https", "hf", "gs", "ram", "kaggle")


def _join(base, name):
    return base.rstrip("/") + "/" + name


def fetch_preset_directory(handle):
    """Returns a local directory holding the remote preset `handle`."""
    if handle.startswith("kaggle://"):
        return _fetch_kaggle(handle)
    config_path = download.fetch(_join(handle, CONFIG_FILE))
    local = config_path.parent
    config = read_json(config_path)
    if "architecture" in config:
        download.fetch(_join(handle, TIMM_WEIGHTS_FILE))
        return local
    if "model_type" in config:
        download.fetch(_join(handle, HF_WEIGHTS_FILE))
        vocabulary = HF_VOCABULARY_FILES.get(config["model_type"])
        if vocabulary:
            download.fetch(_join(handle, vocabulary))
        for name in HF_OPTIONAL_FILES:
            try:
                download.fetch(_join(handle, name))
            except OfflineError:
                raise
            except (download.DownloadError, FileNotFoundError):
                pass  # optional: the repository does not have it
        return local
    metadata_path = download.fetch(_join(handle, METADATA_FILE))
    metadata = read_json(metadata_path)
    if str(config.get("registered_name", "")).startswith("keras_hub>"):
        _fetch_keras_hub_files(handle)
        return local
    files = metadata.get("files")
    if not isinstance(files, dict):
        raise PresetError(
            f"{_join(handle, METADATA_FILE)} lists no 'files'; a remote "
            "preset must be saved with zoo's save_to_preset."
        )
    for name, info in files.items():
        if name in (CONFIG_FILE, METADATA_FILE):
            continue
        digest = info.get("sha256") if isinstance(info, dict) else None
        download.fetch(
            _join(handle, name),
            file_hash=f"sha256:{digest}" if digest else None,
        )
    return local


def _fetch_keras_hub_files(handle):
    """The files of a keras-hub text preset (its metadata lists none)."""
    download.fetch(_join(handle, "model.weights.h5"))
    for name in ("tokenizer.json", "preprocessor.json"):
        try:
            download.fetch(_join(handle, name))
        except OfflineError:
            raise
        except (download.DownloadError, FileNotFoundError):
            pass
    for vocabulary in ("assets/tokenizer/vocabulary.txt",
                       "assets/tokenizer/vocabulary.spm"):
        try:
            download.fetch(_join(handle, vocabulary))
            break
        except OfflineError:
            raise
        except (download.DownloadError, FileNotFoundError):
            continue


def _fetch_kaggle(handle):
    slug = handle[len("kaggle://"):].strip("/")
    try:
        import kagglehub
    except ImportError:
        raise PresetError(
            f"{handle} needs the kagglehub package: pip install kagglehub."
        ) from None
    if download.is_offline():
        cache = Path(os.environ.get(
            "KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))
        cached = cache / "models" / slug
        if len(slug.split("/")) == 5 and (cached / CONFIG_FILE).is_file():
            return cached
        raise OfflineError(
            f"Offline and {handle} is not in kagglehub's cache at {cached} "
            "(offline loads need the version in the handle: "
            "kaggle://owner/model/framework/variation/version). Unset "
            "ZOO_OFFLINE, or pass a local preset directory."
        )
    return Path(kagglehub.model_download(slug))


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
    vocabulary = HF_VOCABULARY_FILES.get(model_type)
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
