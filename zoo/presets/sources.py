"""Remote preset directories: fetched file by file into the cache.

A remote preset (`https://host/path/`, `hf://org/repo`, `gs://bucket/dir`)
is read as a directory. `config.json` comes first and says which format it is:

- a zoo (or keras-hub) preset: `metadata.json` follows and lists every other
  file with its sha256, which is verified;
- a timm model repository (`config.json` has `"architecture"`):
  `model.safetensors` follows.

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
REMOTE_SCHEMES = ("http", "https", "hf", "gs", "kaggle")


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
    metadata_path = download.fetch(_join(handle, METADATA_FILE))
    metadata = read_json(metadata_path)
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
