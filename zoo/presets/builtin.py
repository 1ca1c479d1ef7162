"""Built-in presets: YAML files under `presets/models/`, data not code.

The format is `zoo.presets.schema`'s (one file per preset, with its `kind`,
architecture, weights and their hash and converter, preprocessing and
origin). More directories of preset files can be listed in
`$ZOO_PRESETS_PATH` (separated by `os.pathsep`); a file there overrides a
built-in one of the same name.

Nothing here imports Keras: `zoo presets` lists them at once.
"""

import fnmatch
import os
import sys
from pathlib import Path

import yaml

from zoo.errors import PresetError
from zoo.presets.schema import PresetInfo, parse_preset

__all__ = ["PresetInfo", "get_preset", "list_presets", "load_preset_file",
           "preset_names"]


def builtin_presets_dir():
    """The directory of the built-in preset YAML files."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "presets" / "models",
                      Path(sys.prefix) / "share" / "zoo" / "presets" / "models"):
        if candidate.is_dir():
            return candidate
    raise PresetError(
        "The built-in presets directory is missing from this installation "
        f"(looked in {here.parents[1] / 'presets' / 'models'})."
    )


def preset_dirs():
    """Every directory searched for preset files, built-in first."""
    dirs = [builtin_presets_dir()]
    for entry in os.environ.get("ZOO_PRESETS_PATH", "").split(os.pathsep):
        if entry:
            dirs.append(Path(entry).expanduser())
    return dirs


def load_preset_file(path):
    """Parses and validates one preset YAML file into a `PresetInfo`.

    Raises:
        PresetError: malformed YAML, an unknown or missing key; the message
            names the file and the key.
    """
    path = Path(path)
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise PresetError(f"{path} is not valid YAML: {e}") from None
    return parse_preset(data, path)


def _all_presets():
    presets = {}
    for directory in preset_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")):
            info = load_preset_file(path)
            presets[info.name] = info
    return presets


def list_presets(pattern="*"):
    """Built-in presets whose name matches an fnmatch `pattern`.

    Args:
        pattern: str or list of str (`"resnet*"`).

    Returns:
        list of `PresetInfo`, sorted by name; `str(info)` is a table row.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    from zoo.registry import natural_key

    return [
        info for name, info in sorted(
            _all_presets().items(), key=lambda item: natural_key(item[0]))
        if any(fnmatch.fnmatchcase(name, p) for p in patterns)
    ]


def get_preset(name):
    """The `PresetInfo` named `name`, or None."""
    return _all_presets().get(name)


def preset_names():
    """Names of every built-in preset."""
    return sorted(_all_presets())
