"""Remote preset directories: fetched file by file into the cache.

A remote preset (`https://host/path/`, `hf://org/repo`, `gs://bucket/dir`)
is read as a directory. `config.json` comes first and says which format it
is (`zoo.presets.formats`); the format names the files that follow (zoo
presets list theirs, with sha256, in `metadata.json`, which is verified).
Every file goes through `download.fetch`, so the second load of the same
preset makes no request at all.

`kaggle://owner/model/framework/variation[/version]` is handed to
`kagglehub`, which keeps its own cache.
"""

import os
from pathlib import Path

from zoo.errors import OfflineError, PresetError
from zoo.presets import download
from zoo.presets.directory import CONFIG_FILE, read_json

REMOTE_SCHEMES = ("http", "https", "hf", "gs", "ram", "kaggle")


def _join(base, name):
    return base.rstrip("/") + "/" + name


def fetch_preset_directory(handle):
    """Returns a local directory holding the remote preset `handle`."""
    from zoo.presets.formats import detect_format

    if handle.startswith("kaggle://"):
        return _fetch_kaggle(handle)
    config_path = download.fetch(_join(handle, CONFIG_FILE))
    config = read_json(config_path)

    def fetch(name, file_hash=None, optional=False):
        try:
            return download.fetch(_join(handle, name), file_hash=file_hash)
        except OfflineError:
            raise
        except (download.DownloadError, FileNotFoundError):
            if optional:
                return None
            raise

    detect_format(config, _join(handle, CONFIG_FILE)).fetch(handle, config,
                                                            fetch)
    return config_path.parent


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


