"""Handles to local files: the one place that knows every kind of handle."""

import dataclasses
import re
import urllib.parse
from pathlib import Path

from zoo.errors import UnknownPresetError, did_you_mean
from zoo.presets.builtin import get_preset, load_preset_file, preset_names


@dataclasses.dataclass(frozen=True)
class Resolved:
    """Where a handle's preset is on this machine.

    Attributes:
        handle: str, as given.
        info: `PresetInfo` for a preset file (built-in or a YAML path).
        path: pathlib.Path of a preset directory (fetched when remote).
        remote: bool, the directory came from the network (or its cache).
    """

    handle: str
    info: object = None
    path: object = None
    remote: bool = False


def _is_timm_tag(handle):
    """True for timm-style `architecture.tag` names such as `resnet50.a1_in1k`
    whose architecture a zoo family converts."""
    from zoo.convert.timm import architectures

    match = re.fullmatch(r"([a-z0-9_]+)\.([a-z0-9_]+)", handle)
    return bool(match) and match.group(1) in architectures()


def resolve(handle):
    """Turns a handle into a `Resolved` (see `zoo.from_preset`).

    Raises:
        UnknownPresetError: none of the known kinds of handle; the message
            lists the closest built-in names.
    """
    info = get_preset(handle)
    if info is not None:
        return Resolved(handle, info=info)
    scheme = urllib.parse.urlparse(handle).scheme
    if scheme in ("", "file"):
        local = Path(handle[len("file://"):] if scheme == "file" else handle)
        local = local.expanduser()
        if local.is_file() and local.suffix in (".yaml", ".yml"):
            return Resolved(handle, info=load_preset_file(local))
        if local.is_dir():
            return Resolved(handle, path=local)
        if _is_timm_tag(handle):
            return resolve(f"hf://timm/{handle}")
        raise UnknownPresetError(
            f"Unknown preset {handle!r}: not a built-in preset, preset file "
            f"or directory.{did_you_mean(handle, preset_names())} "
            "See zoo.list_presets().")
    from zoo.presets.sources import REMOTE_SCHEMES, fetch_preset_directory

    if scheme not in REMOTE_SCHEMES:
        raise UnknownPresetError(
            f"Unknown preset {handle!r}: scheme {scheme!r} is not one of "
            f"{list(REMOTE_SCHEMES) + ['file']}.")
    return Resolved(handle, path=fetch_preset_directory(handle), remote=True)
