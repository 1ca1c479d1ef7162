"""Preset directory formats: one module each, detected in one place.

A preset directory's `config.json` says which format it is; each format
module registers a `PresetFormat` that recognises its config, names the
files a remote copy needs, and builds the model:

| module           | `config.json` has                         |
|------------------|-------------------------------------------|
| `zoo.py`         | `registered_name: "zoo>..."` (save_to_preset) |
| `keras_hub.py`   | `registered_name: "keras_hub>..."`        |
| `huggingface.py` | `model_type` (transformers)               |
| `timm.py`        | `architecture` (timm model repositories)  |

Formats are found by importing every module of this package, so a new
one is a new file.
"""

import importlib
import pkgutil

from zoo.errors import PresetError

_FORMATS = {}


class PresetFormat:
    """One preset directory format.

    Class attributes:
        name: str, the format's name (in messages).
    """

    name = ""

    def detects(self, config):
        """Whether a parsed `config.json` is in this format."""
        raise NotImplementedError

    def fetch(self, handle, config, fetch):
        """Fetches the files a remote copy of this format needs.

        Args:
            handle: the remote directory's URI.
            config: its parsed `config.json`.
            fetch: `fetch(name, file_hash=None, optional=False)` -> local
                path (None for a missing optional file).
        """
        raise NotImplementedError

    def load(self, path, config, options):
        """Builds the model of a local preset directory.

        Args:
            path: pathlib.Path of the directory.
            config: its parsed `config.json`.
            options: `zoo.presets.loading.LoadOptions`.
        """
        raise NotImplementedError


def register_format(cls):
    """Registers a `PresetFormat` subclass (a class decorator)."""
    _FORMATS[cls.name] = cls()
    return cls


def formats():
    """`{name: PresetFormat}` of every format."""
    if not _FORMATS:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(_FORMATS)


def detect_format(config, where):
    """The `PresetFormat` whose config this is.

    Raises:
        PresetError: no format recognises it, naming what it holds.
    """
    for preset_format in formats().values():
        if preset_format.detects(config):
            return preset_format
    registered = config.get("registered_name") if isinstance(
        config, dict) else None
    raise PresetError(
        f"{where} describes {registered or 'an unknown model'!r}; zoo loads "
        f"presets in the formats {sorted(formats())} (see "
        "zoo.presets.formats).")


def load_directory(path, options):
    """Builds the model of a local preset directory, whatever its format."""
    from zoo.presets.directory import CONFIG_FILE, read_json

    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise PresetError(
            f"{path} is not a preset directory: it has no {CONFIG_FILE}.")
    config = read_json(config_path)
    return detect_format(config, config_path).load(path, config, options)
